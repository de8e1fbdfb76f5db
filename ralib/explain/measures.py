"""Does a heatmap point at the damage? Measures of a film's heatmap against its true regions
(:mod:`ralib.explain.regions`), and their summary over films with film-level bootstrap intervals.

Per film: the share of the heat on each region, next to the region's share of the film (what heat spread
evenly would give); the pointing game (does the hottest pixel fall on a damaged site, and what share of
the ``k`` highest peaks do); and per scored joint box the mean heat inside it, from which the AUROC for
"this site is damaged" is taken over all boxes of all films (each film's heat sums to one, so the boxes of
different films compare). Films without damage have no pointing game.

Example:
    >>> labels = np.zeros((20, 20), np.uint8); labels[5:10, 5:10] = REGIONS.index("damaged site")
    >>> heat = np.zeros((20, 20)); heat[6:9, 6:9] = 1
    >>> m = film_measures(heat, labels)
    >>> m["heat: damaged site"], m["area: damaged site"], m["hit"], m["top-k on damage"]
    (1.0, 0.0625, True, 1.0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.feature import peak_local_max
from sklearn.metrics import roc_auc_score

from ralib.explain.regions import REGIONS


def film_measures(heat: np.ndarray, labels: np.ndarray, k: int = 3, min_distance: int = 20) -> dict[str, float | bool | None]:
    """Heat and area shares per region, the pointing game's hit and the share of the top-``k`` peaks (at
    least ``min_distance`` pixels apart) on damaged sites; ``hit`` None on a film without damage."""
    heat = np.clip(np.asarray(heat, np.float64), 0, None)
    if heat.shape != labels.shape:
        raise ValueError(f"heatmap {heat.shape} and regions {labels.shape} differ")
    total = heat.sum()
    counts = np.bincount(labels.ravel(), weights=heat.ravel(), minlength=len(REGIONS))
    areas = np.bincount(labels.ravel(), minlength=len(REGIONS)) / labels.size
    out: dict = {f"heat: {r}": round(float(c / total), 4) if total > 0 else None for r, c in zip(REGIONS, counts)}
    out |= {f"area: {r}": round(float(a), 4) for r, a in zip(REGIONS, areas)}
    damaged = labels == REGIONS.index("damaged site")
    if not damaged.any() or total <= 0:
        return out | {"hit": None, "top-k on damage": None}
    hottest = np.unravel_index(np.argmax(heat), heat.shape)
    peaks = peak_local_max(heat, min_distance=min_distance, num_peaks=k, exclude_border=False)
    if len(peaks) == 0:
        peaks = np.array([hottest])
    return out | {"hit": bool(damaged[hottest]), "top-k on damage": round(float(damaged[tuple(peaks.T)].mean()), 4)}


def box_heat(heat: np.ndarray, boxes: pd.DataFrame) -> np.ndarray:
    """The mean heat inside each box (``x0, y0, x1, y1`` in pixels of the heatmap's grid)."""
    h, w = heat.shape
    out = np.zeros(len(boxes))
    for i, b in enumerate(boxes.itertuples()):
        x0, y0 = max(int(np.floor(b.x0)), 0), max(int(np.floor(b.y0)), 0)
        x1, y1 = min(int(np.ceil(b.x1)), w), min(int(np.ceil(b.y1)), h)
        out[i] = heat[y0:y1, x0:x1].mean() if x1 > x0 and y1 > y0 else 0.0
    return out


def site_auroc(sites: pd.DataFrame) -> float | None:
    """AUROC of ``heat`` for ``damage > 0`` over the rows of ``sites`` (None without both classes)."""
    damaged = sites.damage.to_numpy() > 0
    if not len(sites) or damaged.all() or not damaged.any():
        return None
    return round(float(roc_auc_score(damaged, sites.heat.to_numpy(float))), 4)


def summarise(films: pd.DataFrame, sites: pd.DataFrame, n_resamples: int = 1000, level: float = 0.95,
              seed: int = 0) -> dict[str, float | None]:  # fmt: skip
    """One method's measures over films (rows of :func:`film_measures` with a ``radiograph_id``; ``sites``:
    rows of ``radiograph_id``, ``damage``, ``heat``): the mean of each, the site AUROC, and for each a
    percentile interval from resampling films (``<measure> low`` / ``high``).

    Example:
        >>> films = pd.DataFrame({"radiograph_id": ["a", "b"], "hit": [True, False]})
        >>> sites = pd.DataFrame({"radiograph_id": ["a", "a", "b", "b"], "damage": [2, 0, 1, 0], "heat": [.9, .1, .6, .3]})
        >>> s = summarise(films, sites, n_resamples=50)
        >>> s["hit"], s["site AUROC"]
        (0.5, 1.0)
    """
    columns = [c for c in films.columns if c != "radiograph_id"]
    values = films[columns].astype(float).to_numpy()  # (films, measures), NaN where a film has no value
    by_film = {rid: part for rid, part in sites.groupby("radiograph_id")}
    parts = [by_film.get(rid) for rid in films.radiograph_id]
    damage = [np.zeros(0) if p is None else p.damage.to_numpy(float) for p in parts]
    heat = [np.zeros(0) if p is None else p.heat.to_numpy(float) for p in parts]

    def statistics(chosen: np.ndarray) -> dict[str, float | None]:
        part = values[chosen]
        counted = (~np.isnan(part)).sum(0)
        means = np.nansum(part, 0) / np.maximum(counted, 1)
        out = {c: (float(m) if n else None) for c, m, n in zip(columns, means, counted)}
        chosen_sites = pd.DataFrame({"damage": np.concatenate([damage[i] for i in chosen]),
                                     "heat": np.concatenate([heat[i] for i in chosen])})  # fmt: skip
        return out | {"site AUROC": site_auroc(chosen_sites)}

    ids = np.arange(len(films))
    point = statistics(ids)
    rng = np.random.default_rng(seed)
    draws = [statistics(ids[rng.integers(0, len(ids), len(ids))]) for _ in range(n_resamples)]
    tail = (1 - level) / 2 * 100
    out: dict = {}
    for name, value in point.items():
        out[name] = None if value is None else round(value, 4)
        values = [d[name] for d in draws if d[name] is not None]
        low, high = np.percentile(values, [tail, 100 - tail]) if len(values) >= n_resamples / 2 else (None, None)
        out[f"{name} low"] = None if low is None else round(float(low), 4)
        out[f"{name} high"] = None if high is None else round(float(high), 4)
    return out
