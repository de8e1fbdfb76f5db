"""Does the MIL attention fall on damaged joints? The attention over a film's joint patches set against
the joints' damage, which synthetic films know exactly.

Per film: the rank correlation (Spearman) of attention with damage over the film's patches, and the share
of attention on damaged patches next to the share of patches that are damaged (what attention spread
evenly would give). Films without damage (no damaged patch) or whose damage is the same everywhere have no
correlation and are left out of its mean; the shares are taken over films with at least one damaged patch.

Example:
    >>> attention = np.array([[0.7, 0.2, 0.1, 0.0]])
    >>> damage = np.array([[3.0, 1.0, 0.0, 0.0]])
    >>> r = attention_vs_damage(attention, damage, np.array([[True, True, True, False]]))
    >>> r["spearman"], r["attention_on_damaged"], r["damaged_share"]
    (1.0, 0.9, 0.6667)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ralib.patches.bags import gather


def patch_damage(crops: pd.DataFrame, rows: np.ndarray, grade: str = "truth") -> np.ndarray:
    """Damage of each bag place (n_films, places): the sum of the erosion and JSN grades its crop shows
    (``grade``: ``truth`` on synthetic data, ``grade`` for the label), 0 where a crop shows no site."""
    columns = [f"{kind}_{grade}" for kind in ("erosion", "jsn") if f"{kind}_{grade}" in crops]
    if not columns:
        raise ValueError(f"the crops carry no {grade!r} grades")
    per_crop = crops[columns].fillna(0).sum(axis=1).to_numpy(float)[:, None]
    return gather(per_crop, rows)[..., 0]


def attention_vs_damage(attention: np.ndarray, damage: np.ndarray, mask: np.ndarray) -> dict[str, float | int | None]:
    """Mean per-film Spearman of attention with damage, and attention on damaged patches against their share."""
    rhos, on_damaged, share = [], [], []
    for a, d, m in zip(attention, damage, mask.astype(bool)):
        a, d = a[m], d[m]
        if np.ptp(d) > 0:
            rhos.append(spearmanr(a, d).statistic)
        if (d > 0).any():
            on_damaged.append(a[d > 0].sum() / a.sum())
            share.append((d > 0).mean())
    mean = lambda v: round(float(np.mean(v)), 4) if v else None  # noqa: E731
    return {"spearman": mean(rhos), "attention_on_damaged": mean(on_damaged), "damaged_share": mean(share),
            "films_with_damage": len(on_damaged)}  # fmt: skip


def instance_squares(crops: pd.DataFrame, rows: np.ndarray, spacing_mm: float, crop_size: int | None = None):
    """Where a film's bag places lie on it, for drawing attention back: centres (N, 2) and sides (N,) in
    film pixels, NaN for empty places (``rows`` -1). Joint crops: centre ``cx``, ``cy``, side ``crop_size``
    crop pixels of ``mm_per_px``; tiles: their ``x0``, ``y0`` and ``side``.

    Example:
        >>> tiles = pd.DataFrame({"x0": [0, 10], "y0": [0, 0], "side": [10, 10]})
        >>> centres, sides = instance_squares(tiles, np.array([1, -1]), spacing_mm=0.2)
        >>> centres[0].tolist(), sides.tolist()[0], bool(np.isnan(sides[1]))
        ([15.0, 5.0], 10.0, True)
    """
    rows = np.asarray(rows)
    if "side" in crops:
        side = crops.side.to_numpy(float)
        centre = np.c_[crops.x0.to_numpy(float) + side / 2, crops.y0.to_numpy(float) + side / 2]
    else:
        if crop_size is None:
            raise ValueError("joint crops need the crop_size they were cut at")
        side = crops.mm_per_px.to_numpy(float) * crop_size / spacing_mm
        centre = crops[["cx", "cy"]].to_numpy(float)
    present = rows >= 0
    centres = np.where(present[:, None], centre[np.maximum(rows, 0)], np.nan)
    return centres, np.where(present, side[np.maximum(rows, 0)], np.nan)

