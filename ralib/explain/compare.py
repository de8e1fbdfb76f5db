"""Methods and models side by side: every map of every film measured against the film's true regions,
then one row per model and method with film-level bootstrap intervals and the time per film.

Example:
    >>> films, sites = measure_maps(explainers, ds, film_ids, film_shapes)     # doctest: +SKIP
    >>> results_table(films, sites).loc[("ResNet-34", "Grad-CAM"), "heat: damaged site"]   # doctest: +SKIP
    0.41
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ralib.data.model import RADataset
from ralib.explain.heatmap import Heatmap
from ralib.explain.measures import box_heat, film_measures, summarise
from ralib.explain.regions import film_regions

#: what the results table shows of each measure, in this order
HEADLINE = ("heat: damaged site", "heat: healthy site", "heat: other anatomy", "heat: background", "heat: marker", "heat: text",
            "hit", "top-k on damage", "site AUROC", "seconds")  # fmt: skip


def measure_heatmap(heat: Heatmap, labels: np.ndarray, boxes: pd.DataFrame, k: int = 3) -> tuple[dict, pd.DataFrame]:
    """One film's measures (:func:`~ralib.explain.measures.film_measures`; peaks at least half a joint box
    apart) and its SvdH boxes with the mean heat inside each."""
    apart = max(2, int(0.5 * np.median(np.minimum(boxes.x1 - boxes.x0, boxes.y1 - boxes.y0))))
    row = film_measures(heat.values, labels, k=k, min_distance=apart) | {"seconds": heat.seconds}
    return row, boxes.assign(heat=box_heat(heat.values, boxes))


def measure_maps(explainers: dict[str, tuple[Callable[[str, str], Heatmap], tuple[str, ...]]], ds: RADataset, film_ids,
                 progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Every method of every model on every film of ``film_ids``: ``explainers`` maps a model's name to a
    function ``(radiograph_id, method) -> Heatmap`` and its methods. Returns the film rows (``model``,
    ``method``, ``radiograph_id`` and the measures) and the site rows (the same keys, ``damage``, ``heat``)."""
    films, sites = [], []
    regions = {rid: film_regions(ds, rid) for rid in film_ids}
    jobs = [(name, method, rid) for name, (_, methods) in explainers.items() for method in methods for rid in film_ids]
    for name, method, rid in tqdm(jobs, desc="maps measured", disable=not progress):
        heat = explainers[name][0](rid, method)
        row, boxes = measure_heatmap(heat, *regions[rid])
        keys = {"model": name, "method": method, "radiograph_id": rid}
        films.append(keys | row)
        sites.append(boxes[["damage", "heat"]].assign(**keys))
    return pd.DataFrame(films), pd.concat(sites, ignore_index=True)


def results_table(films: pd.DataFrame, sites: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per model and method: each measure's mean over films with its bootstrap interval
    (:func:`~ralib.explain.measures.summarise`), the area of each region as the even-spread reference, and
    the mean seconds per film."""
    rows = {}
    measures = [c for c in films.columns if c.startswith(("heat:", "area:")) or c in ("hit", "top-k on damage", "seconds")]
    for (model, method), part in films.groupby(["model", "method"], sort=False):
        own = sites[(sites.model == model) & (sites.method == method)]
        rows[(model, method)] = summarise(part[["radiograph_id", *measures]], own, n_resamples, seed=seed)
    table = pd.DataFrame(rows).T
    table.index.names = ["model", "method"]
    return table
