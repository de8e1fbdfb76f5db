"""Joint crops cut at joint boxes (RheumaVIT's scoring input): one square per box, centred on it, ``grow``
times its longer side, axis-aligned on the film, with the box-level grades of the joint-level experts.

The boxes are the annotated ones (:func:`true_boxes`) or a box regressor's (notebook 08): each set is a
variant of the same cache, so a scorer trained on one can be measured on the other. The cache is cut
``grow`` (4) times the box so that a scorer can see up to four box sides of context in training and 2.5
at evaluation (cutting the middle of a crop, :func:`ralib.data.loaders.grown_centre`). The table is that of
:mod:`ralib.patches.cache` (``radiograph_id`` ... ``joint``, ``cx``, ``cy``, ``mm_per_px``, the placement columns, and per
disease ``<kind>_site`` and its grades) plus the box (``x0`` ... ``y1``); a joint without an erosion (JSN)
site has an empty ``erosion_site`` (``jsn_site``) and no grades for it.

Example:
    >>> cache = box_crop_cache(ds, true_boxes(ds), 128)                   # doctest: +SKIP
    >>> cache.images.shape, cache.table.joint.iloc[:2].tolist()            # doctest: +SKIP
    ((25200, 128, 128), ['ip', 'dip2'])
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ralib import anatomy, geometry
from ralib.config import data_dir
from ralib.data.arrays import source_key, stretched_film
from ralib.data.model import RADataset
from ralib.patches.cache import CropCache, _box_grades, building, finish, ready

BOX_CROP_VERSION = 2  # bump when the cutting below or the table changes (2: placements)
CORNERS = ["x0", "y0", "x1", "y1"]


def true_boxes(ds: RADataset) -> pd.DataFrame:
    """The annotated joint boxes: ``radiograph_id``, ``hand``, ``joint``, ``x0`` ... ``y1`` (film px)."""
    s = ds.scores[(ds.scores.scheme == "box") & ds.scores.x0.notna()]
    boxes = s.drop_duplicates(["radiograph_id", "hand", "site"]).rename(columns={"site": "joint"})
    return boxes[["radiograph_id", "hand", "joint", *CORNERS]].astype({"radiograph_id": str}).reset_index(drop=True)


def box_crop_cache(ds: RADataset, boxes: pd.DataFrame, size: int, grow: float = 4.0, variant: str = "true",
                   progress: bool = True) -> CropCache:  # fmt: skip
    """The crops of ``boxes`` (one row per radiograph, hand and joint, corners in film pixels) at ``size``
    pixels, ``grow`` times each box's longer side; built on first use, keyed by the boxes themselves."""
    if not set(["radiograph_id", "hand", "joint", *CORNERS]) <= set(boxes):
        raise ValueError("boxes need radiograph_id, hand, joint and x0, y0, x1, y1")
    boxes = boxes.astype({"radiograph_id": str}).reset_index(drop=True)
    if not np.isfinite(boxes[CORNERS].to_numpy(float)).all():
        raise ValueError("boxes with missing corners: drop them first")
    digest = hashlib.sha1(pd.util.hash_pandas_object(boxes[["radiograph_id", "hand", "joint"]].assign(
        **{c: boxes[c].round(1) for c in CORNERS}), index=False).to_numpy().tobytes()).hexdigest()  # fmt: skip
    key = hashlib.sha1(json.dumps([BOX_CROP_VERSION, size, grow, digest, source_key("crops", ds.radiographs, size)]).encode()).hexdigest()[:16]
    folder = data_dir() / "crops" / f"{ds.name}-jointboxes-{size}px-{variant}-{key}"
    if not ready(folder):
        _build(ds, boxes, size, grow, folder, {"key": key, "recipe": "joint boxes", "size": size, "grow": grow,
                                               "variant": variant}, progress)  # fmt: skip
    return CropCache.open(folder)


def _build(ds: RADataset, boxes: pd.DataFrame, size: int, grow: float, folder, meta: dict, progress: bool) -> None:
    films = {str(r): i for i, r in enumerate(ds.radiographs.radiograph_id)}
    grades = _box_grades(ds)
    joint_of = {j.name: j for j in anatomy.JOINTS}
    rows, jobs = [], []
    for b in boxes.itertuples(index=False):
        i = films.get(b.radiograph_id)
        if i is None:
            raise ValueError(f"a box of film {b.radiograph_id}, which the data set does not hold")
        film_row = ds.radiographs.iloc[i]
        side_px = grow * max(b.x1 - b.x0, b.y1 - b.y0)
        spacing = film_row.spacing_mm if film_row.spacing_mm == film_row.spacing_mm else np.nan
        frame = geometry.Frame(np.array([(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2]), np.array([0.0, -1.0]),
                               side_px * spacing, side_px, False)  # fmt: skip
        entry = {"radiograph_id": b.radiograph_id, "patient_id": str(film_row.patient_id), "split": film_row.split,
                 "hand": b.hand, "joint": b.joint, "flipped": bool(getattr(film_row, "flipped", False)),
                 "photometric": getattr(film_row, "photometric", ""), "cx": frame.centre[0], "cy": frame.centre[1],
                 "mm_per_px": side_px * spacing / size, "size": size, **geometry.Placement.from_frame(frame, size).columns(),
                 **{c: getattr(b, c) for c in CORNERS}}  # fmt: skip
        joint = joint_of.get(b.joint)
        for kind in ("erosion", "jsn"):
            scored = joint is not None and getattr(joint, kind)
            entry[f"{kind}_site"] = b.joint if scored else ""
            for column, value in (grades.get((b.radiograph_id, b.hand, b.joint, kind)) or {}).items() if scored else ():
                entry[f"{kind}_{column}"] = value
        rows.append(entry)
        jobs.append((i, frame))
    with building([folder]) as (tmp,):
        array = np.lib.format.open_memmap(tmp / "crops.npy", mode="w+", dtype=np.uint8, shape=(len(jobs), size, size))
        by_film: dict[int, list[tuple[int, geometry.Frame]]] = {}
        for n, (i, frame) in enumerate(jobs):
            by_film.setdefault(i, []).append((n, frame))
        for i in tqdm(sorted(by_film), desc=f"joint-box crops at {size} px ({meta['variant']})", disable=not progress):
            film = stretched_film(ds.radiographs.iloc[i])
            for n, frame in by_film[i]:
                array[n] = np.round(np.clip(geometry.cut(film, frame, size), 0, 1) * 255).astype(np.uint8)
        array.flush()
        del array
        table = pd.DataFrame(rows)
        table.insert(0, "crop", range(len(table)))
        finish(tmp, table, meta)
