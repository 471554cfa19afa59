"""Train on synthetic, test on real (`verify --tstr TABLE.COLUMN`).

Can a model trained on the shadow database predict a column of the real one? A categorical naive
Bayes on the table's binned columns (source bins, Laplace smoothing) is trained on the target's
rows and tested on a held-out share of the real rows; the same model trained on the other real
rows is the reference, the synthetic majority class the floor. Small and dependency-free on
purpose: the point is the comparison, not the classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dbsynth.errors import UsageError
from dbsynth.schema.model import Schema
from dbsynth.verify.fidelity import TableData
from dbsynth.verify.marginals import stable_seed
from dbsynth.verify.results import TstrResult

TEST_SHARE = 0.3


def parse_target(spec: str, schema: Schema) -> tuple[str, str]:
    """"table.column" checked against the schema (UsageError naming what is wrong)."""
    table, sep, column = spec.rpartition(".")
    if not sep or not table or not column:
        raise UsageError(f"--tstr wants TABLE.COLUMN, got {spec!r}")
    if table not in schema.tables:
        raise UsageError(f"--tstr: no table {table!r} in the source schema")
    if column not in schema.tables[table].column_names:
        raise UsageError(f"--tstr: table {table!r} has no column {column!r}")
    return table, column


@dataclass
class NaiveBayes:
    """Categorical naive Bayes over integer codes, with add-one smoothing."""

    classes: int
    sizes: list[int]
    log_prior: np.ndarray | None = None
    log_likelihood: list[np.ndarray] | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> NaiveBayes:
        prior = np.bincount(y, minlength=self.classes) + 1.0
        self.log_prior = np.log(prior / prior.sum())
        self.log_likelihood = []
        for j, size in enumerate(self.sizes):
            counts = np.ones((self.classes, size))
            np.add.at(counts, (y, x[:, j]), 1.0)
            self.log_likelihood.append(np.log(counts / counts.sum(axis=1, keepdims=True)))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        assert self.log_prior is not None and self.log_likelihood is not None
        scores = np.tile(self.log_prior, (len(x), 1))
        for j, table in enumerate(self.log_likelihood):
            scores += table[:, x[:, j]].T
        return scores.argmax(axis=1)


def train_synthetic_test_real(data: TableData, column: str, seed: int = 0) -> TstrResult:
    """Accuracies on the same real test rows: trained on synthetic, on real, and the majority class."""
    if column not in data.binnings:
        raise UsageError(f"--tstr: {data.name}.{column} is not a compared column (keys and generated "
                         "columns such as names or free text are not modelled)")
    features = [c for c in data.columns if c != column]
    if not features:
        raise UsageError(f"--tstr: {data.name} has no other compared column to predict {column} from")
    sizes = [data.binnings[c].n_bins for c in features]
    classes = data.binnings[column].n_bins
    real_x = np.column_stack([data.source_codes[c] for c in features])
    real_y = data.source_codes[column]
    syn_x = np.column_stack([data.target_codes[c] for c in features])
    syn_y = data.target_codes[column]
    order = np.random.default_rng(stable_seed(seed, "tstr", data.name, column)).permutation(len(real_y))
    n_test = max(1, int(round(TEST_SHARE * len(real_y)))) if len(real_y) > 1 else len(real_y)
    test, train = order[:n_test], order[n_test:]

    def accuracy(x: np.ndarray, y: np.ndarray) -> float:
        if len(y) == 0 or n_test == 0:
            return 0.0
        model = NaiveBayes(classes, sizes).fit(x, y)
        return float(np.mean(model.predict(real_x[test]) == real_y[test]))

    majority = int(np.bincount(syn_y, minlength=classes).argmax()) if len(syn_y) else 0
    return TstrResult(
        table=data.name,
        column=column,
        features=tuple(features),
        classes=classes,
        train_rows_synthetic=len(syn_y),
        train_rows_real=len(train),
        test_rows_real=n_test,
        accuracy_tstr=accuracy(syn_x, syn_y),
        accuracy_trtr=accuracy(real_x[train], real_y[train]),
        accuracy_majority=float(np.mean(real_y[test] == majority)) if n_test else 0.0,
    )
