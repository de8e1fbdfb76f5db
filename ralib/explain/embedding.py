"""Penultimate features in two dimensions, as the 2024 diagnosis paper draws its classes with t-SNE.

Example:
    >>> xy = tsne(np.random.default_rng(0).normal(size=(12, 5)))
    >>> xy.shape
    (12, 2)
"""

from __future__ import annotations

import numpy as np
from sklearn.manifold import TSNE


def tsne(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 2-D t-SNE embedding of penultimate features (perplexity capped for small sets)."""
    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(np.asarray(features, np.float32))
