"""The papers' evaluation measures, each a function of true and predicted values.

Example:
    >>> regression_metrics([0, 10, 20], [1, 9, 23])["mae"]
    1.6667
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import pearsonr
from sklearn import metrics as skm

from ralib.agreement import class_weighted_accuracy, class_weighted_mae


def _round(value: float, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def regression_metrics(true, pred) -> dict[str, float | None]:
    """PCC, MAE and RMSE (the MIUA 2024 paper's eqs. 3-5); PCC is None when either side is constant."""
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    constant = len(true) < 2 or np.ptp(true) == 0 or np.ptp(pred) == 0
    pcc = np.nan if constant else pearsonr(true, pred).statistic
    return {
        "pcc": _round(pcc),
        "mae": _round(np.mean(np.abs(true - pred))),
        "rmse": _round(np.sqrt(np.mean((true - pred) ** 2))),
        "n": len(true),
    }


def class_metrics(true, pred, n_classes: int) -> dict[str, float | None]:
    """Accuracy and balanced accuracy, and PCC / MAE / RMSE on the class index (MIUA 2024, Table 2)."""
    true, pred = np.asarray(true, int), np.asarray(pred, int)
    ordinal = regression_metrics(true, pred)
    present = np.unique(true)
    recall = [np.mean(pred[true == k] == k) for k in present]  # balanced accuracy over classes present
    return {"accuracy": _round(np.mean(true == pred)), "balanced_accuracy": _round(np.mean(recall)),
            **{k: ordinal[k] for k in ("pcc", "mae", "rmse")}, "n": len(true)}  # fmt: skip


def binary_metrics(true, probability, threshold: float = 0.5) -> dict[str, float | None]:
    """AUC, accuracy, sensitivity, specificity and F1 with RA as the positive class (the 2024 diagnosis
    paper's eqs. 1-4). AUC is None when the test set holds one class only."""
    true = np.asarray(true, int)
    probability = np.asarray(probability, float)
    pred = (probability >= threshold).astype(int)
    tp, tn = np.sum((pred == 1) & (true == 1)), np.sum((pred == 0) & (true == 0))
    fp, fn = np.sum((pred == 1) & (true == 0)), np.sum((pred == 0) & (true == 1))
    both = len(np.unique(true)) == 2
    return {
        "auc": _round(skm.roc_auc_score(true, probability)) if both else None,
        "accuracy": _round((tp + tn) / len(true)),
        "sensitivity": _round(tp / (tp + fn)) if tp + fn else None,
        "specificity": _round(tn / (tn + fp)) if tn + fp else None,
        "f1": _round(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else None,
        "n": len(true),
    }


def multiclass_metrics(true, probabilities) -> dict[str, float | None]:
    """Staging: the binary measures one class against the rest, macro-averaged over the classes present
    in ``true`` (AUC one-vs-rest), and the plain accuracy of the most probable class."""
    true = np.asarray(true, int)
    probabilities = np.asarray(probabilities, float)
    pred = probabilities.argmax(1)
    per_class = []
    for k in np.unique(true):
        one = binary_metrics(true == k, probabilities[:, k])
        one["f1"] = _round(skm.f1_score(true == k, pred == k, zero_division=0))
        one["sensitivity"] = _round(np.mean(pred[true == k] == k))
        one["specificity"] = _round(np.mean(pred[true != k] != k)) if np.any(true != k) else None
        per_class.append(one)
    frame = pd.DataFrame(per_class)
    return {"auc": _round(frame.auc.astype(float).mean()), "accuracy": _round(np.mean(pred == true)),
            **{k: _round(frame[k].astype(float).mean()) for k in ("sensitivity", "specificity", "f1")},
            "n": len(true)}  # fmt: skip


def decile_table(true, pred) -> pd.DataFrame:
    """Mean and SD of true and predicted scores in deciles of the true score (the paper's Fig. 2)."""
    frame = pd.DataFrame({"true": np.asarray(true, float), "pred": np.asarray(pred, float)})
    frame["decile"] = pd.qcut(frame.true.rank(method="first"), min(10, len(frame)), labels=False)
    return frame.groupby("decile").agg(true_mean=("true", "mean"), true_sd=("true", "std"),
                                       pred_mean=("pred", "mean"), pred_sd=("pred", "std"), n=("true", "size"))  # fmt: skip


def bootstrap_interval(true, pred, measure: str = "pcc", n_resamples: int = 1000, level: float = 0.95,
                       seed: int = 0) -> tuple[float | None, float | None]:  # fmt: skip
    """Percentile bootstrap interval of a :func:`regression_metrics` measure over resampled cases.

    Example:
        >>> lo, hi = bootstrap_interval(range(50), [x + (x % 7) for x in range(50)])
        >>> 0.9 < lo < hi <= 1
        True
    """
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        i = rng.integers(0, len(true), len(true))
        value = regression_metrics(true[i], pred[i])[measure]
        if value is not None:
            values.append(value)
    if len(values) < n_resamples / 2:
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return _round(low), _round(high)


def paired_bootstrap(true, pred_a, pred_b, measure: str = "pcc", n_resamples: int = 1000, level: float = 0.95,
                     seed: int = 0) -> dict[str, float | None]:  # fmt: skip
    """How much better ``pred_a`` is than ``pred_b`` by a :func:`regression_metrics` measure, on the same
    resampled cases: the difference (a - b) and its percentile interval. An interval that excludes 0
    says the ordering is established on these cases.

    Example:
        >>> x = np.arange(60.0)
        >>> d = paired_bootstrap(x, x + np.sin(x), x + 8 * np.sin(x), "rmse")
        >>> d["difference"] < d["high"] < 0
        True
    """
    true, a, b = (np.asarray(v, float) for v in (true, pred_a, pred_b))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        i = rng.integers(0, len(true), len(true))
        va, vb = regression_metrics(true[i], a[i])[measure], regression_metrics(true[i], b[i])[measure]
        if va is not None and vb is not None:
            values.append(va - vb)
    whole = regression_metrics(true, a)[measure], regression_metrics(true, b)[measure]
    difference = None if None in whole else whole[0] - whole[1]
    if len(values) < n_resamples / 2:
        return {"difference": _round(difference), "low": None, "high": None}
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return {"difference": _round(difference), "low": _round(low), "high": _round(high)}


#: the MIL paper's successful-detection thresholds, mm
SDR_THRESHOLDS_MM = (2.0, 3.0, 4.0, 10.0)


def radial_errors_mm(true, pred, spacing_mm) -> np.ndarray:
    """Distance between true and predicted landmarks in mm: ``true``, ``pred`` (..., 2) in pixels,
    ``spacing_mm`` mm per pixel, a number or one per leading index (e.g. per film)."""
    d = np.linalg.norm(np.asarray(pred, float) - np.asarray(true, float), axis=-1)
    spacing = np.asarray(spacing_mm, float)
    return d * spacing.reshape(spacing.shape + (1,) * (d.ndim - spacing.ndim))


def landmark_metrics(errors_mm, thresholds=SDR_THRESHOLDS_MM) -> dict[str, float | None]:
    """Mean radial error (MRE, its SD) and the successful detection rate (SDR, %) within each
    threshold, over every finite error given (the MIL paper's Table 1).

    Example:
        >>> landmark_metrics([0.5, 1.5, 2.5, 12.0])
        {'mre': 4.125, 'mre_sd': 4.6013, 'sdr_2': 50.0, 'sdr_3': 75.0, 'sdr_4': 75.0, 'sdr_10': 75.0, 'n': 4}
    """
    e = np.asarray(errors_mm, float).ravel()
    e = e[np.isfinite(e)]
    out = {"mre": _round(e.mean()) if len(e) else None, "mre_sd": _round(e.std()) if len(e) else None}
    out |= {f"sdr_{t:g}": _round(100 * np.mean(e <= t)) if len(e) else None for t in thresholds}
    return out | {"n": len(e)}



def grade_agreement(true, pred, clusters, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, float | None]:
    """RheumaVIT's joint measures, class-weighted accuracy and class-weighted MAE (the mean over the true
    grades of each grade's accuracy or error), with percentile bootstrap intervals over resampled
    ``clusters`` (e.g. the films: a film's joints are not independent of one another).

    Example:
        >>> m = grade_agreement([0, 0, 1, 2, 2, 0], [0, 1, 1, 2, 0, 0], ["a", "a", "b", "b", "c", "c"], n_resamples=50)
        >>> round(m["accuracy"], 3), round(m["mae"], 3), m["n"]
        (0.722, 0.444, 6)
    """
    true, pred, clusters = np.asarray(true), np.asarray(pred), np.asarray(clusters)
    if not (len(true) == len(pred) == len(clusters)):
        raise ValueError(f"{len(true)} true grades, {len(pred)} predictions, {len(clusters)} clusters")
    names, index = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(index == k) for k in range(len(names))]
    rng = np.random.default_rng(seed)
    draws = {"accuracy": [], "mae": []}
    for _ in range(n_resamples):
        rows = np.concatenate([members[k] for k in rng.integers(0, len(names), len(names))])
        draws["accuracy"].append(class_weighted_accuracy(true[rows], pred[rows]))
        draws["mae"].append(class_weighted_mae(true[rows], pred[rows]))
    tail = (1 - level) / 2 * 100
    out = {"accuracy": class_weighted_accuracy(true, pred), "mae": class_weighted_mae(true, pred)}
    for measure, values in draws.items():
        out[f"{measure}_low"], out[f"{measure}_high"] = (float(v) for v in np.percentile(values, [tail, 100 - tail]))
    return out | {"n": len(true)}


def frequency_weights(labels) -> np.ndarray:
    """Per item ``1 / (items sharing its label)``, summing to the number of labels present: every label
    counts as much as any other, however rare (the RA2-DREAM measures' weighting, see :func:`weighted_rmse`).

    Example:
        >>> frequency_weights([0, 0, 0, 2]).tolist()
        [0.3333333333333333, 0.3333333333333333, 0.3333333333333333, 1.0]
    """
    labels = np.asarray(labels)
    _, index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return 1.0 / counts[index.reshape(-1)]


def weighted_rmse(true, pred, labels=None) -> float:
    """RMSE with each item weighted by :func:`frequency_weights` of its ``labels`` (default: the true
    score rounded): RA2-DREAM ranked joint predictions by a weighted RMSE whose weights it never
    published; these make a rare grade 4 count as much as the common grade 0, so that always predicting 0
    does not win.

    Example:
        >>> round(weighted_rmse([0, 0, 0, 4], [0, 0, 0, 0]), 3)  # plain RMSE: 2.0
        2.828
    """
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    w = frequency_weights(np.rint(true) if labels is None else labels)
    return float(np.sqrt(np.sum(w * (true - pred) ** 2) / np.sum(w)))


def weighted_absolute_error(true, pred, labels=None) -> float:
    """Mean absolute error weighted like :func:`weighted_rmse` (RA2-DREAM's measure of a patient's overall
    score; pass ``labels`` to weight by score bands, e.g. the severity classes, rather than exact totals).

    Example:
        >>> weighted_absolute_error([0, 0, 0, 4], [0, 0, 0, 0])  # plain MAE: 1.0
        2.0
    """
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    w = frequency_weights(np.rint(true) if labels is None else labels)
    return float(np.sum(w * np.abs(true - pred)) / np.sum(w))
