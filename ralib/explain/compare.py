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

from ralib.data.io import probe_image
from ralib.data.model import RADataset
from ralib.data.analysis import image_labels
from ralib.explain.explainers import explain
from ralib.explain.heatmap import Heatmap
from ralib.explain.measures import box_heat, film_measures, summarise
from ralib.explain.regions import film_regions
from ralib.explain.sanity import cascading_randomisation, map_similarity, passes
from ralib.train.fit import predict

#: what the results table shows of each measure, in this order
HEADLINE = ("heat: damaged site", "heat: healthy site", "heat: other anatomy", "heat: background", "heat: marker", "heat: text",
            "hit", "top-k on damage", "site AUROC", "seconds")  # fmt: skip


def measure_heatmap(heat: Heatmap, labels: np.ndarray, boxes: pd.DataFrame, k: int = 3) -> tuple[dict, pd.DataFrame]:
    """One film's measures (:func:`~ralib.explain.measures.film_measures`; peaks at least half a joint box
    apart) and its SvdH boxes with the mean heat inside each."""
    apart = max(2, int(0.5 * np.median(np.minimum(boxes.x1 - boxes.x0, boxes.y1 - boxes.y0))))
    row = film_measures(heat.values, labels, k=k, min_distance=apart) | {"seconds": heat.seconds}
    return row, boxes.assign(heat=box_heat(heat.values, boxes))


def film_rows(ds: RADataset) -> dict[str, str]:
    """Each film of ``ds`` as a figure's row names it (its id and its image-level label) -> its id.

    Example:
        >>> from types import SimpleNamespace
        >>> ds = SimpleNamespace(radiographs=pd.DataFrame({"radiograph_id": ["130193", "429934"], "score": [0.0, 125.5]}), scores=[])
        >>> film_rows(ds)
        {'130193 (SvdH 0)': '130193', '429934 (SvdH 125.5)': '429934'}
    """
    labels = image_labels(ds)[0]
    return {f"{rid} (SvdH {labels.get(rid, float('nan')):g})": rid for rid in ds.radiographs.radiograph_id.astype(str)}


def predicted_totals(trained: dict, ds: RADataset) -> pd.DataFrame:
    """One row per film of ``ds``: its image-level label and the total each film-level model predicts from its
    own inputs (:class:`~ralib.explain.trained.Trained`, one column per checkpoint: two views of one model,
    e.g. a MIL and the same MIL behind its CNN, predict the same). Joint-level scorers (several inputs a film)
    are left out: their film totals are the aggregations of notebooks 08 and 09."""
    table = pd.DataFrame({"label": image_labels(ds)[0]})
    seen = set()
    for name, t in trained.items():
        rows = t.task.rows(t.split)
        ids = t.task.table.radiograph_id.astype(str).to_numpy()[rows]
        if t.checkpoint in seen or len(set(ids)) < len(ids):
            continue
        seen.add(t.checkpoint)
        table[name] = pd.Series(t.task.decode(predict(t.model, t.task.dataset(t.split), t.task.forward), t.split), index=ids)
    table.index.name = "radiograph_id"
    return table


def film_shapes(ds: RADataset, film_ids) -> dict[str, tuple[int, int]]:
    """Each film's pixel grid ``(height, width)``, read from its file's header."""
    paths = ds.radiographs.set_index(ds.radiographs.radiograph_id.astype(str)).image_path
    return {str(rid): probe_image(paths[str(rid)]) for rid in film_ids}


def explainers_of(trained: dict, shapes: dict[str, tuple[int, int]]) -> dict[str, tuple[Callable[[str, str], Heatmap], tuple[str, ...]]]:
    """:func:`measure_maps`' explainers from :class:`~ralib.explain.trained.Trained` models: each one's
    :func:`~ralib.explain.explainers.explain` on the films of ``shapes``, and its methods."""
    def one(t):
        return lambda rid, method: explain(t.model, t.task, rid, method, shapes[str(rid)], t.split)

    return {name: (one(t), t.methods) for name, t in trained.items()}


def maps_of(explainers: dict[str, tuple[Callable[[str, str], Heatmap], tuple[str, ...]]], films: dict[str, str]
            ) -> dict[str, dict[tuple[str, str], Heatmap]]:  # fmt: skip
    """Every method's map of every film, per model: ``films`` maps a row's name (``"TP 000123"``) to its
    radiograph id; the result maps each model's name to ``{(row, method): Heatmap}``, what
    :func:`ralib.plots.heatmap_grid` draws as one figure."""
    return {name: {(row, method): explain_one(rid, method) for row, rid in films.items() for method in methods}
            for name, (explain_one, methods) in explainers.items()}


def measure_maps(explainers: dict[str, tuple[Callable[[str, str], Heatmap], tuple[str, ...]]], ds: RADataset, film_ids,
                 progress: bool = True, fewer: dict[str, list] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Every method of every model on every film of ``film_ids`` (``fewer``: a method's own, shorter list,
    e.g. for a slow one): ``explainers`` maps a model's name to a function ``(radiograph_id, method) ->
    Heatmap`` and its methods. Returns the film rows (``model``, ``method``, ``radiograph_id`` and the
    measures) and the site rows (the same keys, ``damage``, ``heat``)."""
    films, sites = [], []
    fewer = fewer or {}
    regions = {rid: film_regions(ds, rid) for rid in film_ids}
    jobs = [(name, method, rid) for name, (_, methods) in explainers.items() for method in methods
            for rid in fewer.get(method, film_ids)]  # fmt: skip
    for name, method, rid in tqdm(jobs, desc="maps measured", disable=not progress):
        heat = explainers[name][0](rid, method)
        row, boxes = measure_heatmap(heat, *regions[rid])
        keys = {"model": name, "method": method, "radiograph_id": rid}
        films.append(keys | row)
        if heat.values.sum() > 0:  # a map with no heat ranks no joint (its AUROC would be a tie's 0.5)
            sites.append(boxes[["damage", "heat"]].assign(**keys))
    columns = ["damage", "heat", "model", "method", "radiograph_id"]
    return pd.DataFrame(films), pd.concat(sites, ignore_index=True) if sites else pd.DataFrame(columns=columns)


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


def randomisation_checks(trained: dict, film_ids, shapes: dict[str, tuple[int, int]], steps: int = 4,
                         methods: tuple[str, ...] | None = None, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Adebayo's cascading randomisation (:func:`~ralib.explain.sanity.cascading_randomisation`) of every
    model's every method (or those of ``methods`` it has) on the films ``film_ids``: one row per model, method
    and step, with ``passes`` on each row of the last step (rank correlation below 0.5 once all is random)."""
    rows = []
    for name, t in trained.items():
        for method in t.methods if methods is None else [m for m in t.methods if m in methods]:
            maps = lambda model, ids, m=method, t=t: [explain(model, t.task, rid, m, shapes[rid], t.split).values for rid in ids]  # noqa: E731
            table = cascading_randomisation(t.model, maps, list(film_ids), steps, seed)
            rows.append(table.assign(model=name, method=method, passes=[None] * (len(table) - 1) + [passes(table)]))
    return pd.concat(rows, ignore_index=True)[["model", "method", "layers", "down_to", "spearman", "passes"]]


def similarity_between(first, second, film_ids, shapes: dict[str, tuple[int, int]]) -> dict[str, float]:
    """Per method of ``first``, the mean rank correlation of its maps with ``second``'s on the films
    ``film_ids`` (:func:`~ralib.explain.sanity.map_similarity`): e.g. a model and its copy trained on
    shuffled labels, both :class:`~ralib.explain.trained.Trained` on the same task."""
    return {method: map_similarity([explain(first.model, first.task, rid, method, shapes[rid], first.split).values for rid in film_ids],
                                   [explain(second.model, second.task, rid, method, shapes[rid], second.split).values for rid in film_ids])
            for method in first.methods}  # fmt: skip


def sanity_table(randomised: pd.DataFrame, shuffled: dict[str, float] | None = None, shuffled_model: str | None = None) -> pd.DataFrame:
    """One row per model and method of :func:`randomisation_checks`: the rank correlation with the trained
    model's maps once every layer is random, whether that ``passes``, and for ``shuffled_model`` the rank
    correlation with its copy trained on shuffled labels (:func:`similarity_between`; NaN for the others; a
    method checked only that way gets a row of its own).

    Example:
        >>> steps = pd.DataFrame({"model": ["cnn", "cnn"], "method": ["Grad-CAM"] * 2, "layers": [1, 2],
        ...                       "down_to": ["fc", "conv1"], "spearman": [0.9, 0.1], "passes": [None, True]})
        >>> sanity_table(steps, {"Grad-CAM": 0.2}, "cnn").loc[("cnn", "Grad-CAM")].to_dict()
        {'all layers random': 0.1, 'passes': True, 'shuffled labels': 0.2}
        >>> sanity_table(steps, {"Grad-CAM": 0.2, "Score-CAM": 0.3}, "cnn").loc[("cnn", "Score-CAM"), "shuffled labels"]
        np.float64(0.3)
    """
    last = randomised.groupby(["model", "method"], sort=False).tail(1).set_index(["model", "method"])
    table = pd.DataFrame({"all layers random": last.spearman.astype(float), "passes": last.passes})
    keys = pd.MultiIndex.from_tuples([(shuffled_model, method) for method in shuffled or {}], names=["model", "method"])
    shuffled = pd.Series(list((shuffled or {}).values()), index=keys, dtype=float, name="shuffled labels")
    return pd.concat([table, shuffled], axis=1)


def as_metrics(table: pd.DataFrame) -> dict[str, dict]:
    """A table indexed by model and method as ``metrics.json`` keeps it (and ``ralib.publish`` reads it): one
    dict per ``"model | method"`` row, NaN as None.

    Example:
        >>> table = pd.DataFrame({"hit": [1.0, np.nan]}, index=pd.MultiIndex.from_tuples([("cnn", "Grad-CAM"), ("mil", "attention")]))
        >>> as_metrics(table)
        {'cnn | Grad-CAM': {'hit': 1.0}, 'mil | attention': {'hit': None}}
    """
    def plain(value):
        return None if pd.isna(value) else value.item() if isinstance(value, np.generic) else value

    return {" | ".join(map(str, key)) if isinstance(key, tuple) else str(key): {k: plain(v) for k, v in row.items()}
            for key, row in table.iterrows()}  # fmt: skip
