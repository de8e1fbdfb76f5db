"""Landmarks moved by the localiser's own error, to cut training crops as the MIL paper does: "random
Gaussian noise, based on absolute radial distance, was added to the landmark predictions when cropping
patches in the training set, using landmark-wise mean radial error (MRE) as SD".

:func:`landmark_mre_mm` measures each landmark's MRE (e.g. on the validation films); :class:`JitteredLandmarks`
moves every landmark by a radial distance drawn from a Gaussian of that SD in a uniformly random direction,
and gives them to :func:`ralib.patches.crop_caches` in place of a localiser.

Example:
    >>> xy = np.zeros((2, 74, 2))
    >>> moved = JitteredLandmarks(xy, np.full(74, 2.0), spacing_mm=np.array([0.5, 0.5]), seed=1).landmarks()
    >>> moved.shape, bool((np.linalg.norm(moved, axis=-1) > 0).all())
    ((2, 74, 2), True)
"""

from __future__ import annotations

import hashlib

import numpy as np


def landmark_mre_mm(predicted: np.ndarray, true: np.ndarray, spacing_mm: np.ndarray, rows=None) -> np.ndarray:
    """Each landmark's mean radial error in mm (74,) over the films ``rows`` (all by default) where both
    the prediction and the truth exist; NaN for a landmark never found."""
    rows = np.arange(len(true)) if rows is None else np.asarray(rows)
    error = np.linalg.norm(predicted[rows] - true[rows], axis=-1) * np.asarray(spacing_mm, float)[rows, None]
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.where(np.isfinite(error), error, np.nan), axis=0)


class JitteredLandmarks:
    """Landmarks ``xy`` (n, 74, 2) film pixels, each moved by |N(0, sd)| mm in a random direction
    (``sd_mm`` per landmark, (74,); ``spacing_mm`` per film), the same for a given ``seed``. Stands in for
    a localiser in :func:`ralib.patches.crop_caches` (``fingerprint`` and ``landmarks``)."""

    variant = "jittered"

    def __init__(self, xy: np.ndarray, sd_mm: np.ndarray, spacing_mm: np.ndarray, seed: int = 0):
        self.xy, self.sd_mm, self.spacing_mm, self.seed = xy, np.nan_to_num(np.asarray(sd_mm, float)), np.asarray(spacing_mm, float), seed

    def landmarks(self, ds=None) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        radius = np.abs(rng.normal(0.0, 1.0, self.xy.shape[:2])) * self.sd_mm / self.spacing_mm[:, None]
        angle = rng.uniform(0, 2 * np.pi, self.xy.shape[:2])
        return self.xy + radius[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)

    def fingerprint(self) -> str:
        h = hashlib.sha256(np.ascontiguousarray(self.xy, np.float64).tobytes())
        h.update(self.sd_mm.tobytes() + self.spacing_mm.tobytes() + str(self.seed).encode())
        return "jitter-" + h.hexdigest()[:16]
