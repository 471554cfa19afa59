"""`dbsynth introspect` sees every schema construct the writer must clone, on a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys

DDL = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE dept (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name varchar(30) NOT NULL UNIQUE,
                   head_id int, budget numeric(10,2) DEFAULT 0 CHECK (budget >= 0));
CREATE TABLE emp (id serial PRIMARY KEY, dept_id int NOT NULL REFERENCES dept(id) ON DELETE CASCADE,
                  boss_id int REFERENCES emp(id), feeling mood, email text NOT NULL);
ALTER TABLE dept ADD CONSTRAINT dept_head_fk FOREIGN KEY (head_id) REFERENCES emp(id);
CREATE INDEX emp_email_idx ON emp (email);
CREATE TABLE badge (emp_id int NOT NULL, kind varchar(10) NOT NULL CHECK (kind IN ('gold', 'silver')),
                    PRIMARY KEY (emp_id, kind), FOREIGN KEY (emp_id) REFERENCES emp(id));
COMMENT ON TABLE emp IS 'people';
"""


def test_introspect_reports_keys_constraints_enums_identity_and_the_fk_graph(pg_server, new_pg_db):
    dsn = new_pg_db()
    pg_server.psql(dsn.rsplit("/", 1)[1], DDL)
    res = subprocess.run([sys.executable, "-m", "dbsynth.cli", "introspect", dsn, "--json"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    dept, emp, badge = s["tables"]["dept"], s["tables"]["emp"], s["tables"]["badge"]
    assert s["cycles"] == [["dept", "emp"]]
    order = s["topological_order"]
    assert order.index("emp") < order.index("badge")
    assert {"name": "mood", "labels": ["sad", "ok", "happy"]} in s["enums"]
    assert any("emp_id_seq" in q for q in s["sequences"])
    col = {c["name"]: c for c in dept["columns"]}
    assert col["id"]["identity"] and not col["id"]["nullable"]
    assert col["budget"]["default"] and col["budget"]["precision"] == 10
    ecol = {c["name"]: c for c in emp["columns"]}
    assert ecol["id"]["identity"] and ecol["id"]["sequence"].endswith("emp_id_seq")
    assert ecol["feeling"]["enum"] == "mood" and ecol["feeling"]["enum_labels"] == ["sad", "ok", "happy"]
    assert emp["comment"] == "people"
    fks = {(tuple(f["columns"]), f["ref_table"]) for f in emp["foreign_keys"]}
    assert {(("dept_id",), "dept"), (("boss_id",), "emp")} <= fks
    assert next(f for f in emp["foreign_keys"] if f["ref_table"] == "dept")["on_delete"] == "CASCADE"
    assert dept["uniques"][0]["columns"] == ["name"]
    assert any("budget" in c["sqltext"] for c in dept["checks"])
    assert {"name": "emp_email_idx", "columns": ["email"], "unique": False} in emp["indexes"]
    assert badge["primary_key"] == ["emp_id", "kind"]
    # the human form names the cycle and the self reference
    text = subprocess.run([sys.executable, "-m", "dbsynth.cli", "introspect", dsn], capture_output=True, text=True)
    assert "FK cycles: dept ↔ emp" in text.stdout
    assert "emp(boss_id)->emp" in text.stdout
