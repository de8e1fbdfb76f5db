"""Agreement between readers: the papers' reader-agreement figures, used by the synthetic readers'
calibration and by any data set that records more than one reader.

A module of its own (not ``metrics``) because the generator's cache key covers every ``ralib`` module
``synth`` imports: a change to the model metrics must not regenerate SynthRA.

Example:
    >>> import numpy as np
    >>> reader_agreement(np.array([0, 10, 20.0]), np.array([2, 10, 18.0]))["mae"]
    1.3333333333333333
    >>> class_weighted_accuracy(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]))
    0.8333333333333333
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def reader_agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """PCC, MAE and RMSE between two readers' totals (the papers' reader-agreement figures)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return {
        "pcc": float(stats.pearsonr(a, b)[0]),
        "mae": float(np.mean(np.abs(a - b))),
        "rmse": float(np.sqrt(np.mean((a - b) ** 2))),
    }


def class_weighted_accuracy(reference: np.ndarray, grades: np.ndarray) -> float:
    """Mean over the reference's classes of the share graded the same (balanced accuracy)."""
    reference, grades = np.asarray(reference), np.asarray(grades)
    return float(np.mean([np.mean(grades[reference == c] == c) for c in np.unique(reference)]))


def class_weighted_mae(reference: np.ndarray, grades: np.ndarray) -> float:
    """Mean over the reference's classes of the mean absolute error."""
    reference, grades = np.asarray(reference), np.asarray(grades)
    return float(np.mean([np.mean(np.abs(grades[reference == c] - c)) for c in np.unique(reference)]))


def expert_agreement(grades: np.ndarray) -> dict[str, float]:
    """One expert against the other two ("1 vs 2"), averaged over the experts.

    ``grades``: ``(n_experts, n_joints)``. The other two are combined by their rounded-down mean
    (Dawid-Skene needs more readers than two); accuracy and MAE are class-weighted as in RheumaVIT.
    """
    grades = np.asarray(grades)
    acc, mae = [], []
    for e in range(len(grades)):
        others = np.delete(grades, e, axis=0)
        reference = np.floor(others.mean(axis=0)).astype(int)
        acc.append(class_weighted_accuracy(reference, grades[e]))
        mae.append(class_weighted_mae(reference, grades[e]))
    return {"accuracy": float(np.mean(acc)), "mae": float(np.mean(mae))}
