"""The classifier two-sample test: can a boosted classifier tell synthetic rows from real ones?

Rows of one group (a patient, a film) stay in one fold; the larger sample is subsampled by group; the
same test between two random halves of the real set is the chance level of the sample.

Example:
    >>> rng = np.random.default_rng(0)
    >>> bool(two_sample_auc(rng.normal(size=(200, 3)), rng.normal(size=(200, 3))).auc < 0.65)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold



@dataclass
class TwoSample:
    """The result of a classifier two-sample test: out-of-fold AUC, its spread over folds, sizes."""

    auc: float
    fold_aucs: list[float]
    n_synthetic: int
    n_real: int

    def as_row(self) -> dict[str, float]:
        return {"AUC": round(self.auc, 3), "fold min": round(min(self.fold_aucs), 3),
                "fold max": round(max(self.fold_aucs), 3), "n synthetic": self.n_synthetic, "n real": self.n_real}  # fmt: skip


def pooled(results: list[TwoSample]) -> TwoSample:
    """Repeats of one test (other draws of the synthetic sample and of the crops) as one: the mean AUC, every
    fold's AUC for the range, the first repeat's sizes. With a handful of real films one draw says little.

    Example:
        >>> pooled([TwoSample(0.8, [0.7, 0.9], 10, 10), TwoSample(0.6, [0.5, 0.7], 10, 10)]).as_row()["AUC"]
        0.7
    """
    return TwoSample(float(np.mean([r.auc for r in results])), [a for r in results for a in r.fold_aucs],
                     results[0].n_synthetic, results[0].n_real)  # fmt: skip


def two_sample_auc(synthetic: np.ndarray, real: np.ndarray, groups_synthetic=None, groups_real=None,
                   folds: int = 5, seed: int = 0) -> TwoSample:  # fmt: skip
    """Out-of-fold AUC of a boosted classifier telling ``synthetic`` rows (0) from ``real`` rows (1).

    Rows of one group (a patient, a film) stay in one fold. The larger sample is subsampled by group
    to the smaller one's number of groups, so that neither side dominates the folds.
    """
    rng = np.random.default_rng(seed)
    synthetic, real = np.asarray(synthetic, float), np.asarray(real, float)
    gs = np.asarray(groups_synthetic if groups_synthetic is not None else np.arange(len(synthetic))).astype(str)
    gr = np.asarray(groups_real if groups_real is not None else np.arange(len(real))).astype(str)
    keep_s, keep_r = _balance(gs, gr, rng)
    x = np.concatenate([synthetic[keep_s], real[keep_r]])
    y = np.concatenate([np.zeros(keep_s.sum()), np.ones(keep_r.sum())])
    groups = np.concatenate([np.char.add("s", gs[keep_s]), np.char.add("r", gr[keep_r])])
    if min(len(np.unique(groups[y == 0])), len(np.unique(groups[y == 1]))) < folds:
        raise ValueError(f"too few groups for {folds}-fold cross-validation: "
                         f"{len(np.unique(gs))} synthetic, {len(np.unique(gr))} real")  # fmt: skip
    scores = np.zeros(len(y))
    fold_aucs = []
    for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(x, y, groups):
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
        fold_aucs.append(float(roc_auc_score(y[test], scores[test])))
    return TwoSample(float(roc_auc_score(y, scores)), fold_aucs, int(keep_s.sum()), int(keep_r.sum()))


def _balance(gs: np.ndarray, gr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    us, ur = np.unique(gs), np.unique(gr)
    n = min(len(us), len(ur))
    chosen_s = set(rng.choice(us, n, replace=False))
    chosen_r = set(rng.choice(ur, n, replace=False))
    return np.isin(gs, list(chosen_s)), np.isin(gr, list(chosen_r))


def real_against_real(real: np.ndarray, groups=None, folds: int = 5, seed: int = 0) -> TwoSample:
    """The same test between two random halves of the real set (by group): what chance gives."""
    real = np.asarray(real, float)
    groups = np.asarray(groups if groups is not None else np.arange(len(real))).astype(str)
    rng = np.random.default_rng(seed + 1)
    unique = rng.permutation(np.unique(groups))
    first = np.isin(groups, unique[: len(unique) // 2])
    return two_sample_auc(real[first], real[~first], groups[first], groups[~first], folds, seed)
