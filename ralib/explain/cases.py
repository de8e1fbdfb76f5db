"""Which test films to show: the MIUA 2024 rules for a true/false positive/negative of each kind.

Example:
    >>> import numpy as np
    >>> cases = regression_cases(np.array([0, 3, 100, 120, 10]), np.array([1, 60, 95, 40, 12]))
    >>> {k: v["index"] for k, v in cases.items()}
    {'TN': 0, 'TP': 2, 'FP': 1, 'FN': 3}
"""

from __future__ import annotations

import numpy as np
import torch

from ralib.explain.cam import cam_maps


def regression_cases(true, pred, healthy_below: float = 5, severe_above: float = 200, small_error: float = 10,
                     large_error: float = 50) -> dict[str, dict]:  # fmt: skip
    """One example each of TN, TP, FP, FN by the MIUA 2024 rules (section 2.6).

    TN: healthy (score < ``healthy_below``) with |error| < ``small_error``; TP: severe (score >
    ``severe_above``) with |error| < ``small_error``; FP / FN: over- / under-estimated by more than
    ``large_error``. The paper's thresholds suit a score range reaching 280; where no case qualifies the
    rule is scaled to the data (severe: above the 90th, else 75th, else 50th percentile of the scores;
    large error: likewise of the absolute errors), and the threshold used is returned with each case.
    Within a rule the most extreme case is taken.
    """
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    error = pred - true
    small = np.abs(error) < small_error
    rules = {  # case: (qualifies given a threshold, the paper's threshold, what the threshold scales with, rank)
        "TN": (lambda t: (true < t) & small, healthy_below, None, np.abs(error)),
        "TP": (lambda t: (true > t) & small, severe_above, true, -true),
        "FP": (lambda t: error > t, large_error, np.abs(error), -error),
        "FN": (lambda t: -error > t, large_error, np.abs(error), error),
    }
    cases = {}
    for name, (qualifies, threshold, scale, rank) in rules.items():
        thresholds = [threshold] + ([] if scale is None else [min(threshold, float(np.quantile(scale, q))) for q in (0.9, 0.75, 0.5)])
        for t in thresholds:  # the paper's rule first, then scaled down to the data until a case qualifies
            ok = qualifies(t)
            if ok.any():
                i = int(np.flatnonzero(ok)[np.argmin(rank[ok])])
                cases[name] = {"index": i, "true": float(true[i]), "pred": float(pred[i]), "threshold": t}
                break
    return cases


def class_cases(true, pred) -> dict[str, dict]:
    """TN, TP, FP, FN for an ordinal classifier: TN the lowest class predicted right, TP the highest
    class predicted right, FP / FN the largest over- / under-estimate of the class."""
    true, pred = np.asarray(true, int), np.asarray(pred, int)
    right = true == pred
    rules = {
        "TN": (right, true),
        "TP": (right, -true),
        "FP": (pred > true, true - pred),
        "FN": (pred < true, pred - true),
    }
    cases = {}
    for name, (ok, rank) in rules.items():
        if ok.any():
            i = int(np.flatnonzero(ok)[np.argmin(rank[ok])])
            cases[name] = {"index": i, "true": int(true[i]), "pred": int(pred[i])}
    return cases


def case_maps(model: torch.nn.Module, task, cases: dict[str, dict], method: str = "Grad-CAM", split: str = "test",
              classify: bool = False) -> dict[str, np.ndarray]:  # fmt: skip
    """``method``'s map over the input of each case of :func:`regression_cases` / :func:`class_cases` (items
    of ``task``'s ``split``); ``classify``: explain the predicted class rather than the raw output."""
    dataset = task.dataset(split)
    maps = {}
    for kind, case in cases.items():
        image = dataset[case["index"]][0]
        maps[kind] = cam_maps(model, image[None], method, [case["pred"]] if classify else None)[0]
    return maps
