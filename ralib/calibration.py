"""Class probabilities of a model trained on reweighted draws, corrected back to the data's own frequencies.

A classifier trained on batches drawn with weights (RheumaVIT draws each joint crop inverse to its grade's
frequency, so that rare high grades are seen) learns posteriors under the *sampled* class prior
``q(c) = sum_i w_i [y_i = c] / sum_i w_i``, not under the data's prior ``p(c)``. That is what a class-weighted
accuracy wants, but an expected grade (and so a film total summed from joints) runs high. Bayes' rule undoes
the shift (Saerens, Latinne and Decaestecker 2002): ``p(c | x) ∝ q(c | x) p(c) / q(c)``.

Example:
    >>> labels = np.array([0, 0, 0, 1])
    >>> q = class_priors(labels, 2, weights=1 / np.bincount(labels)[labels])  # balanced draws
    >>> p = class_priors(labels, 2)
    >>> q.tolist(), p.tolist()
    ([0.5, 0.5], [0.75, 0.25])
    >>> prior_shift(np.array([[0.5, 0.5]]), q, p).round(2).tolist()  # "undecided" under q is p itself
    [[0.75, 0.25]]
"""

from __future__ import annotations

import numpy as np


def class_priors(labels: np.ndarray, n_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """The share of each class among ``labels`` (whole numbers 0 .. ``n_classes`` - 1), each label counted with
    its draw ``weight`` (None: once): the class prior a model sees when items are drawn with those weights."""
    labels = np.asarray(labels, np.int64)
    if len(labels) == 0:
        raise ValueError("no labels to count")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}; got {labels.min()}..{labels.max()}")
    counts = np.bincount(labels, weights=None if weights is None else np.asarray(weights, float), minlength=n_classes)
    return counts / counts.sum()


def prior_shift(probabilities: np.ndarray, trained_prior: np.ndarray, target_prior: np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, classes)`` of a model trained under ``trained_prior``, as they are under
    ``target_prior``: each column times ``target / trained``, rows renormalised. A class the model never saw
    in training (trained prior 0) keeps probability 0."""
    trained, target = np.asarray(trained_prior, float), np.asarray(target_prior, float)
    ratio = np.divide(target, trained, out=np.zeros_like(target), where=trained > 0)
    shifted = np.asarray(probabilities, float) * ratio
    return shifted / np.maximum(shifted.sum(axis=1, keepdims=True), 1e-12)
