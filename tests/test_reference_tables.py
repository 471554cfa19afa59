"""Reference tables: `plan` suggests the lookups, never the tables of people, and makes nothing
public by itself; `--public` accepts the suggestion or names tables; a public table is copied
verbatim and the ledger charges nothing for it."""

from __future__ import annotations

import json
import sqlite3

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dbsynth.cli import app
from dbsynth.connect import source_engine
from dbsynth.errors import UsageError
from dbsynth.pipeline import RunOptions, load_spec, run
from dbsynth.reference import explain_reference, reference_tables, resolve_public
from dbsynth.schema.introspect import introspect
from test_bad_input import assert_one_clear_line, dbsynth

PEOPLE_CHINOOK = {"customer", "employee", "invoice", "invoice_line", "track", "playlist_track"}
PEOPLE_NORTHWIND = {"customers", "employees", "orders", "order_details", "customer_customer_demo",
                    "customer_demographics", "employee_territories", "suppliers", "shippers", "products"}


def _schema(dsn: str):
    return introspect(source_engine(dsn))


def _snake(name: str) -> str:
    # SQLite Chinook spells MediaType, PostgreSQL Chinook media_type: compare in one spelling.
    return "".join("_" + ch.lower() if ch.isupper() and i else ch.lower() for i, ch in enumerate(name))


@pytest.mark.parametrize("fixture", ["chinook_sqlite", "chinook_pg"])
def test_chinook_suggestion_holds_the_lookups_and_none_of_the_people(fixture, request):
    schema = _schema(request.getfixturevalue(fixture))
    suggested = {_snake(t) for t in reference_tables(schema)}
    assert {"genre", "media_type"} <= suggested
    assert not suggested & PEOPLE_CHINOOK
    verdicts = explain_reference(schema)
    assert all(v.reason for v in verdicts.values())
    assert explain_reference(schema) == verdicts  # deterministic
    by_snake = {_snake(t): v for t, v in verdicts.items()}
    assert "people" in by_snake["customer"].reason  # a reason per table, in words
    assert "UnitPrice" in by_snake["track"].reason or "unit_price" in by_snake["track"].reason


def test_northwind_suggestion_holds_the_lookups_and_none_of_the_people(northwind_pg):
    schema = _schema(northwind_pg)
    suggested = set(reference_tables(schema))
    assert {"categories", "region", "territories"} <= suggested
    assert not suggested & PEOPLE_NORTHWIND
    verdicts = explain_reference(schema)
    assert "phone" in verdicts["shippers"].reason  # a company's phone is still a phone: kept private
    assert "not referenced" in verdicts["us_states"].reason or "references it" in verdicts["us_states"].reason


def _sqlite_schema(tmp_path, ddl: str):
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(ddl)
    return _schema(f"sqlite:///{path}")


def test_a_lookup_that_points_at_people_or_is_named_for_them_is_not_suggested(tmp_path):
    schema = _sqlite_schema(tmp_path, """
        CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE colour (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE tag (id INTEGER PRIMARY KEY, label TEXT, made_by INTEGER REFERENCES person(id));
        CREATE TABLE item (id INTEGER PRIMARY KEY, colour_id INTEGER REFERENCES colour(id),
                           tag_id INTEGER REFERENCES tag(id), person_id INTEGER REFERENCES person(id));
        CREATE TABLE unused (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE node (id INTEGER PRIMARY KEY, name TEXT, parent INTEGER REFERENCES node(id), kind INTEGER);
        CREATE TABLE node_use (id INTEGER PRIMARY KEY, node_id INTEGER REFERENCES node(id));
        CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT, b_id INTEGER REFERENCES b(id));
        CREATE TABLE b (id INTEGER PRIMARY KEY, name TEXT, a_id INTEGER REFERENCES a(id));
    """)
    verdicts = explain_reference(schema)
    # A bare `name` is a label: colour is a lookup. person is named for people, whatever its columns.
    assert verdicts["colour"].reference and "colour" in reference_tables(schema)
    assert not verdicts["person"].reference and "people" in verdicts["person"].reason
    # tag has no personal column but points at person: it says who made what, not a vocabulary.
    assert not verdicts["tag"].reference and "person" in verdicts["tag"].reason
    assert not verdicts["unused"].reference  # nothing looks it up
    assert not verdicts["node"].reference and "kind" in verdicts["node"].reason  # a number outside the keys
    # An FK cycle between two label tables: each points only at reference data.
    assert verdicts["a"].reference and verdicts["b"].reference


def test_public_accepts_the_suggestion_and_names_and_refuses_unknown_tables(chinook_sqlite):
    schema = _schema(chinook_sqlite)
    suggested = set(reference_tables(schema))
    assert resolve_public(schema, ["suggested"]) == suggested
    assert resolve_public(schema, ["suggested,PlaylistTrack"]) == suggested | {"PlaylistTrack"}
    assert resolve_public(schema, ["genre", "mediatype"]) == {"Genre", "MediaType"}  # case-insensitive when unique
    with pytest.raises(UsageError, match="no table named 'Genra'.*'Genre'") as exc:
        resolve_public(schema, ["suggested,Genra"])
    assert exc.value.exit_code == 2
    with pytest.raises(UsageError, match="--public needs"):
        resolve_public(schema, [" , "])


def test_public_tables_own_nothing_and_a_spec_file_is_not_overridden(chinook_sqlite, tmp_path):
    schema = _schema(chinook_sqlite)
    spec = load_spec(schema, None, ("suggested",))
    public = {t for t, ts in spec.tables.items() if not ts.private}
    assert public == set(reference_tables(schema))
    for name, ts in spec.tables.items():
        owner = next((fk for fk in schema.tables[name].foreign_keys if fk.key == ts.owner), None)
        assert owner is None or owner.ref_table not in public, (name, ts.owner)
    spec.save(tmp_path / "spec.yaml")
    with pytest.raises(UsageError, match="--public cannot be combined with --spec"):
        load_spec(schema, str(tmp_path / "spec.yaml"), ("suggested",))
    # The CLI refuses the combination before connecting (exit 2).
    res = CliRunner().invoke(app, ["run", chinook_sqlite, f"sqlite:///{tmp_path / 't.db'}", "-e", "1",
                                   "--spec", str(tmp_path / "spec.yaml"), "--public", "suggested"])
    assert res.exit_code == 2 and "--public cannot be combined with --spec" in res.output


def test_plan_shows_the_suggestion_and_makes_nothing_public_until_accepted(chinook_sqlite):
    runner = CliRunner()
    plain = runner.invoke(app, ["plan", chinook_sqlite])
    assert plain.exit_code == 0, plain.output
    assert "# suggested public" in plain.output and "--public suggested" in plain.output
    assert "private: false" not in plain.output
    plain_json = json.loads(runner.invoke(app, ["plan", chinook_sqlite, "--json"]).output)
    assert all(ts["private"] for ts in plain_json["tables"].values())
    assert {s["table"] for s in plain_json["suggested_public"]} >= {"Genre", "MediaType"}
    assert all(s["reason"] for s in plain_json["suggested_public"])
    accepted = runner.invoke(app, ["plan", chinook_sqlite, "--public", "suggested"])
    assert "# suggested public" not in accepted.output  # nothing left to suggest


def test_plan_public_suggested_json_marks_exactly_the_suggestion_public(chinook_pg):
    res = dbsynth("plan", chinook_pg, "--public", "suggested", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    public = {t for t, ts in data["tables"].items() if not ts["private"]}
    assert public == {s["table"] for s in data["suggested_public"]}
    assert {"genre", "media_type"} <= public and not public & PEOPLE_CHINOOK


def test_a_misspelt_public_table_exits_2_with_one_line(chinook_sqlite):
    assert_one_clear_line(dbsynth("plan", chinook_sqlite, "--public", "suggested,genra"), 2, "'genra'", "Genre")


def test_run_public_suggested_copies_the_lookups_verbatim_and_charges_nothing_for_them(chinook_sqlite, tmp_path):
    target = f"sqlite:///{tmp_path / 'shadow.db'}"
    result = run(RunOptions(chinook_sqlite, target, 1.0, seed=1, public=("suggested",)))
    lookups = set(reference_tables(_schema(chinook_sqlite)))
    assert {"Genre", "MediaType"} <= lookups
    with sa.create_engine(chinook_sqlite).connect() as src, sa.create_engine(target).connect() as tgt:
        for name in lookups:
            query = sa.text(f'SELECT * FROM "{name}" ORDER BY 1')
            assert tgt.execute(query).all() == src.execute(query).all(), name  # all 25 genres, not a DP handful
    charged = {c["table"] for c in result.ledger["charges"]}
    assert charged and not charged & lookups
    assert result.ledger["epsilon"] <= 1.0
