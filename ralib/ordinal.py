"""Ordered classes read off a continuous score, e.g. a hand's RA stage (0-5) off its predicted SvdH total.

:func:`fit_thresholds` learns one threshold per class boundary from labelled examples: a score above
``t_k`` says "class k or above". Each boundary is its own binary question (Frank & Hall 2001's split of
an ordinal problem), answered by a decision stump (scikit-learn's depth-1 tree: the threshold that best separates the two
sides by Gini impurity); the thresholds are then made non-decreasing, so that the classes keep
their order. :func:`classes_from_scores` applies them.

Example:
    >>> thresholds = fit_thresholds([0, 1, 4, 5, 9, 10], [0, 0, 1, 1, 2, 2])
    >>> thresholds.tolist(), classes_from_scores([-3, 4.6, 30], thresholds).tolist()
    ([2.5, 7.0], [0, 1, 2])
"""

from __future__ import annotations

import numpy as np
from sklearn.tree import DecisionTreeClassifier


def fit_thresholds(scores, classes, n_classes: int | None = None) -> np.ndarray:
    """The ``n_classes - 1`` thresholds (non-decreasing) that best read ``classes`` (0, 1, ...) off
    ``scores``; a boundary with examples on one side only goes to that side's end (-inf or +inf)."""
    scores, classes = np.asarray(scores, float).reshape(-1), np.asarray(classes).reshape(-1)
    if len(scores) != len(classes) or not len(scores):
        raise ValueError(f"{len(scores)} scores for {len(classes)} classes")
    if not (np.isfinite(scores).all() and np.isfinite(classes.astype(float)).all()):
        raise ValueError("scores and classes must be finite (drop the unlabelled examples first)")
    classes = classes.astype(int)
    n_classes = int(classes.max()) + 1 if n_classes is None else n_classes
    if classes.min() < 0 or classes.max() >= n_classes:
        raise ValueError(f"classes must lie in 0-{n_classes - 1}")
    thresholds = np.empty(n_classes - 1)
    for k in range(1, n_classes):
        above = classes >= k
        if above.all() or not above.any():
            thresholds[k - 1] = -np.inf if above.all() else np.inf
            continue
        stump = DecisionTreeClassifier(max_depth=1).fit(scores[:, None], above)
        split = stump.tree_.threshold[0]  # -2 when no split improves on predicting one side for all
        majority_above = above.mean() > 0.5
        thresholds[k - 1] = split if stump.tree_.node_count > 1 else (-np.inf if majority_above else np.inf)
    return np.maximum.accumulate(thresholds)


def classes_from_scores(scores, thresholds) -> np.ndarray:
    """The class of each score: how many thresholds it lies above."""
    scores = np.asarray(scores, float).reshape(-1)
    return (scores[:, None] > np.asarray(thresholds, float)[None, :]).sum(1)
