"""Declared sensitivities hold: remove one unit from random databases, recompute every statistic.

Statistics are computed with the measure stage's own functions (bounding, encoders, degree
histograms, partition counts, quantile ranks); the removal of a unit is implemented here,
independently: a row and, recursively, every row it owns through owner edges.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from dbsynth.connect import source_engine
from dbsynth.measure.crossmemory import encode_tables, join_marginals
from dbsynth.measure.crossplan import default_marginals, edge_features, join_sensitivity
from dbsynth.measure.degrees import degree_histogram, excess, tail_bands
from dbsynth.measure.domains import public_encoder, sorted_numbers, value_counts, candidate_grid
from dbsynth.measure.encoders import CategoricalEncoder
from dbsynth.measure.read import read_table
from dbsynth.plan import make_spec
from dbsynth.privacy.units import Units, bound, fk_tuples
from dbsynth.schema.introspect import introspect

# person ← account ← item → product (reference), item has two private parents; person refers to
# person (self reference); audit has two owner candidates and a nullable reference.
DDL = """
CREATE TABLE person (id INTEGER PRIMARY KEY, email VARCHAR(40) NOT NULL, tier VARCHAR(5) NOT NULL,
                     age INTEGER, referrer INTEGER REFERENCES person(id));
CREATE TABLE product (id INTEGER PRIMARY KEY, kind VARCHAR(5) NOT NULL);
CREATE TABLE account (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES person(id),
                      plan VARCHAR(5) NOT NULL);
CREATE TABLE item (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES account(id),
                   product_id INTEGER NOT NULL REFERENCES product(id), qty INTEGER NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES item(id),
                    person_id INTEGER REFERENCES person(id), flag VARCHAR(3));
"""


def random_database(path, rng) -> None:
    con = sqlite3.connect(path)
    con.executescript(DDL)
    n_person = int(rng.integers(3, 12))
    for i in range(1, n_person + 1):
        ref = int(rng.integers(1, i)) if i > 1 and rng.random() < 0.5 else None
        con.execute("INSERT INTO person VALUES (?,?,?,?,?)",
                    (i, f"p{i}@x", str(rng.choice(["a", "b", "c"])), int(rng.integers(18, 90)), ref))
    n_product = int(rng.integers(1, 5))
    con.executemany("INSERT INTO product VALUES (?,?)", [(i, str(rng.choice(["x", "y"]))) for i in range(1, n_product + 1)])
    # skewed fan-out so caps bind: some parents have many more children than the cap
    acc = 0
    for p in range(1, n_person + 1):
        for _ in range(int(rng.choice([0, 1, 2, 5, 12]))):
            acc += 1
            con.execute("INSERT INTO account VALUES (?,?,?)", (acc, p, str(rng.choice(["s", "m"]))))
    it = 0
    for a in range(1, acc + 1):
        for _ in range(int(rng.choice([0, 1, 3, 9]))):
            it += 1
            con.execute("INSERT INTO item VALUES (?,?,?,?)", (it, a, int(rng.integers(1, n_product + 1)), int(rng.integers(1, 5))))
    au = 0
    for i in range(1, it + 1):
        for _ in range(int(rng.choice([0, 1, 4]))):
            au += 1
            pid = int(rng.integers(1, n_person + 1)) if rng.random() < 0.6 else None
            con.execute("INSERT INTO audit VALUES (?,?,?,?)", (au, i, pid, str(rng.choice(["ok", "bad"]))))
    con.commit()
    con.close()


def remove_unit(frames: dict[str, pd.DataFrame], units: Units, table: str, row: int) -> dict[str, pd.DataFrame]:
    """D minus one row of `table` and everything it owns (recursively, through owner edges only)."""
    out = {t: f.copy() for t, f in frames.items()}
    doomed = {table: out[table].iloc[[row]]}
    out[table] = out[table].drop(out[table].index[row])
    queue = [table]
    while queue:
        parent = queue.pop()
        gone = doomed[parent]
        for child, fk in units.owner.items():
            if fk is None or fk.ref_table != parent:
                continue
            keys = set(fk_tuples(gone, fk.ref_columns).dropna())
            mask = fk_tuples(out[child], fk.columns).isin(keys).to_numpy()
            if mask.any():
                doomed[child] = out[child][mask]
                out[child] = out[child][~mask]
                queue.append(child)
    return {t: f.reset_index(drop=True) for t, f in out.items()}


def statistics(frames, schema, spec, units, encoders, secret) -> dict[str, tuple[np.ndarray, float, str]]:
    """Every statistic the plan measures, as (vector, declared sensitivity, norm)."""
    kept = bound(frames, schema, units, secret)
    rows = {t: frames[t][kept[t]].reset_index(drop=True) if t in kept else frames[t] for t in frames}
    stats: dict[str, tuple[np.ndarray, float, str]] = {}
    for name, table in schema.tables.items():
        d = units.sensitivity(name)
        r = rows[name]
        stats[f"{name}:count"] = (np.array([len(r)], dtype=float), d, "l1")
        codes = {c: enc.encode(r[c]) for c, enc in encoders[name].items()}
        sizes = {c: enc.size for c, enc in encoders[name].items()}
        cols = list(codes)
        for i, a in enumerate(cols):
            stats[f"{name}:{a}"] = (np.bincount(codes[a], minlength=sizes[a]).astype(float), d, "l1")
            for b in cols[i + 1:]:
                joint = codes[a] * sizes[b] + codes[b]
                stats[f"{name}:{a}x{b}"] = (np.bincount(joint, minlength=sizes[a] * sizes[b]).astype(float), d, "l1")
        for c in ("tier", "plan", "kind", "flag"):
            if c in r:
                vc = value_counts(r[c])
                keys = sorted({"a", "b", "c", "s", "m", "x", "y", "ok", "bad"})
                stats[f"{name}:partitions:{c}"] = (np.array([vc.get(k, 0) for k in keys], dtype=float), d, "l1")
        for c in ("age", "qty"):
            if c in r:
                grid = candidate_grid("int", -100, 100)
                below = np.searchsorted(sorted_numbers(r[c], "int"), grid, side="left").astype(float)
                stats[f"{name}:quantile-ranks:{c}"] = (below, d, "linf")
        for fk in table.foreign_keys:
            if all(table.column(c).nullable for c in fk.columns) and not units.is_owner_edge(fk):
                stats[f"nulls:{fk.key}"] = (np.array([float(r[list(fk.columns)].isna().any(axis=1).sum())]), d, "l1")
            # an owner edge counts all of a kept parent's children (the tail above the cap)
            children = frames[name] if units.is_owner_edge(fk) else r
            if fk.ref_table not in units.private:  # a public parent: its own count per parent row, Δ(T)
                per = fk_tuples(r, fk.columns).dropna().value_counts()
                keys = fk_tuples(rows[fk.ref_table], fk.ref_columns)
                stats[f"children:{fk.key}"] = (keys.map(per).fillna(0).to_numpy(dtype=float), d, "l1")
                continue
            hist = degree_histogram(children, rows[fk.ref_table], fk)
            stats[f"degree:{fk.key}"] = (hist, units.degree_sensitivity(fk), "l1")
            if units.is_owner_edge(fk):  # the children above the cap, summed (clipped per parent)
                per = fk_tuples(children, fk.columns).dropna().value_counts()
                deg = fk_tuples(rows[fk.ref_table], fk.ref_columns).map(per).fillna(0).astype(int)
                for lo, hi in tail_bands(units.caps[fk.key]):
                    over = excess(deg.value_counts().to_dict(), lo, hi)
                    stats[f"excess:{fk.key}:{lo}"] = (np.array([over], dtype=float),
                                                      units.excess_sensitivity(fk, lo, hi), "l1")
    # Cross-table marginals over each FK join (pgd linker): the default selection plus every
    # parent × child 2-way, owner features (grandparents, the child's owner) included. Counted by
    # the in-memory reference, which test_crosstable_pushdown holds equal to the SQL the stage runs.
    codes = encode_tables(frames, encoders)
    for fk in schema.edges():
        features = edge_features(fk, schema, units, encoders)
        pairs = [(p, c) for p in features for c in features
                 if features[p].side == "parent" and features[c].side == "child"]
        cliques = list(dict.fromkeys(default_marginals(features) + pairs))
        counts = join_marginals(frames, kept, schema, units, fk, features, cliques, codes, secret)
        for clique, vec in zip(cliques, counts):
            stats[f"cross:{fk.key}:{'x'.join(clique)}"] = (vec.ravel(), join_sensitivity(fk, units), "l1")
    return stats


@pytest.mark.parametrize("caps", [1, 2, 3])
def test_removing_one_unit_changes_every_statistic_by_at_most_its_declared_delta(tmp_path, caps):
    rng = np.random.default_rng(caps)
    worst: dict[str, float] = {}
    cross_worst: dict[str, float] = {}  # per FK edge: the largest change of a cross-table marginal / its Δ
    for trial in range(12):
        path = tmp_path / f"db{trial}.sqlite"
        random_database(path, rng)
        engine = source_engine(f"sqlite:///{path}")
        schema = introspect(engine)
        spec = make_spec(schema)
        # exercise both shapes: audit owned by item (a chain of three caps) and by nobody
        spec.tables["audit"].owner = "audit(item_id)->item" if trial % 2 == 0 else None
        spec.tables["product"].private = trial % 3 != 2  # sometimes a public parent (a catalogue)
        for ts in spec.tables.values():
            for f in ts.foreign_keys.values():
                f.cap = caps
        units = Units.from_spec(schema, spec)
        assert units.owner["account"].key == "account(person_id)->person"
        assert units.owner["item"].key == "item(account_id)->account"
        frames = {t: read_table(engine, schema, t) for t in schema.tables}
        encoders = {
            t: {c: CategoricalEncoder(sorted({str(v) for v in frames[t][c].dropna()}), True, True)
                for c in ("tier", "plan", "kind", "flag", "age", "qty") if c in frames[t]}
            for t in schema.tables
        }
        encoders["person"]["age"] = public_encoder(schema.tables["person"].column("age"),
                                                   spec.tables["person"].columns["age"].model_copy(update={"bounds": (18, 90), "domain": "schema"}))
        secret = bytes(rng.integers(0, 256, 32, dtype=np.uint8))
        before = statistics(frames, schema, spec, units, encoders, secret)
        for table in units.private:  # public rows are never removed: they are not anybody's
            n = len(frames[table])
            for row in rng.choice(n, size=min(n, 8), replace=False).tolist():
                after = statistics(remove_unit(frames, units, table, row), schema, spec, units, encoders, secret)
                for key, (vec, delta, norm) in before.items():
                    diff = np.abs(vec - after[key][0])
                    change = diff.max() if norm == "linf" else diff.sum()
                    family = key.split(":")[0] + ":" + key.split(":")[-1]
                    worst[family] = max(worst.get(family, 0.0), change / delta if delta else 0.0)
                    if key.startswith("cross:"):
                        edge = key.split(":")[1]
                        cross_worst[edge] = max(cross_worst.get(edge, 0.0), change / delta)
                    assert change <= delta + 1e-9, (
                        f"removing {table} row {row}: {key} changed by {change} > declared Δ {delta}"
                    )
    # the test must be able to fail: somewhere the change reaches the bound or comes close
    assert max(worst.values()) >= 0.5
    assert max(cross_worst.values()) >= 0.5, cross_worst


def test_sensitivity_formula_on_a_chain():
    """person → account → item with caps 3 and 4: a person owns ≤ 12 items; an account's freed
    slot under its person admits another account with 4 more (8); Δ(item) = 12."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/x.sqlite"
        random_database(path, np.random.default_rng(0))
        schema = introspect(source_engine(f"sqlite:///{path}"))
    spec = make_spec(schema)
    spec.tables["account"].foreign_keys["account(person_id)->person"].cap = 3
    spec.tables["item"].foreign_keys["item(account_id)->account"].cap = 4
    units = Units.from_spec(schema, spec)
    assert units.sensitivity("person") == 1
    assert units.sensitivity("account") == 3
    assert units.sensitivity("item") == 12
    spec.tables["account"].foreign_keys["account(person_id)->person"].cap = 1
    units = Units.from_spec(schema, spec)
    assert units.sensitivity("item") == 8  # the doubling at the account level dominates
