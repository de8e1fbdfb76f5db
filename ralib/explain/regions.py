"""What each pixel of a synthetic film shows, from the generator's truth: the map a heatmap is measured
against (:mod:`ralib.explain.measures`).

Six regions, each pixel in one (later ones drawn over earlier ones): ``background`` (off the hands and
forearms), ``other anatomy`` (hands and forearms outside every SvdH joint box: shafts, forearm, DIP joints,
soft tissue, all of which the SvdH score ignores), ``healthy site`` (a joint box holding SvdH sites whose
true erosion and JSN grades are all 0), ``damaged site`` (such a box with a true grade above 0), and the
``marker`` and burned-in ``text``. A real film has no such truth: asking for its regions is refused.

Example:
    >>> boxes = pd.DataFrame({"x0": [2.0], "y0": [2.0], "x1": [6.0], "y1": [6.0], "damage": [3]})
    >>> labels = paint_regions((10, 10), np.ones((10, 10), bool), boxes, marker_box="7 0 10 2", text_boxes="")
    >>> [int((labels == REGIONS.index(r)).sum()) for r in REGIONS]
    [0, 78, 0, 16, 6, 0]
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.data.model import RADataset

REGIONS = ("background", "other anatomy", "healthy site", "damaged site", "marker", "text")


def site_boxes(ds: RADataset, radiograph_id: str) -> pd.DataFrame:
    """The film's joint boxes that hold SvdH sites (``box`` scheme, :data:`ralib.anatomy.SVDH_JOINTS`: not the
    DIPs): hand, site, ``x0, y0, x1, y1`` and ``damage``, the sum of their true erosion and JSN grades."""
    if "truth" not in ds.scores:
        raise ValueError(f"{ds.name} has no true grades: heatmaps can be measured on synthetic films only")
    scores = ds.scores
    boxes = scores[(scores.scheme == "box") & (scores.radiograph_id == radiograph_id) & scores.site.isin(anatomy.SVDH_JOINTS)]
    if boxes.empty:
        raise ValueError(f"no joint boxes for {radiograph_id!r} in {ds.name}")
    return (boxes.groupby(["hand", "site"], sort=False)
            .agg(x0=("x0", "first"), y0=("y0", "first"), x1=("x1", "first"), y1=("y1", "first"),
                 damage=("truth", lambda t: int(t.fillna(0).sum())))
            .reset_index())  # fmt: skip


def _parse_boxes(text) -> list[tuple[int, int, int, int]]:
    """``"x0 y0 x1 y1;x0 y0 x1 y1"`` as boxes; empty or NaN as none."""
    if not isinstance(text, str) or not text.strip():
        return []
    return [tuple(int(float(v)) for v in part.split()) for part in text.split(";") if part.strip()]


def paint_regions(shape: tuple[int, int], foreground: np.ndarray, boxes: pd.DataFrame, marker_box: str = "",
                  text_boxes: str = "") -> np.ndarray:  # fmt: skip
    """Region labels (indices into :data:`REGIONS`, uint8) of a film of ``shape``: ``foreground`` (bool) the
    hands and forearms, ``boxes`` the scored joint boxes with their ``damage``, and the overlay boxes."""
    labels = np.where(np.asarray(foreground, bool), REGIONS.index("other anatomy"), REGIONS.index("background")).astype(np.uint8)
    for damaged in (False, True):  # a damaged box is drawn over a healthy neighbour it overlaps
        region = REGIONS.index("damaged site" if damaged else "healthy site")
        for b in boxes[(boxes.damage > 0) == damaged].itertuples():
            x0, y0 = int(np.floor(b.x0)), int(np.floor(b.y0))
            labels[max(y0, 0) : int(np.ceil(b.y1)), max(x0, 0) : int(np.ceil(b.x1))] = region
    for name, text in (("marker", marker_box), ("text", text_boxes)):
        for x0, y0, x1, y1 in _parse_boxes(text):
            labels[max(y0, 0) : y1, max(x0, 0) : x1] = REGIONS.index(name)
    return labels


def film_regions(ds: RADataset, radiograph_id: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Region labels over a synthetic film (its stored pixel grid) and its scored joint boxes
    (:func:`site_boxes`); refused for a film whose generator truth is not on disk."""
    row = ds.radiographs.set_index("radiograph_id").loc[radiograph_id]
    if not isinstance(row.get("mask_path"), str) or not row.mask_path:
        raise ValueError(f"{radiograph_id!r} has no foreground mask: regions need a synthetic film's truth")
    mask = cv2.imread(row.mask_path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileNotFoundError(f"cannot read {row.mask_path}")
    boxes = site_boxes(ds, radiograph_id)
    return paint_regions(mask.shape, mask > 0, boxes, row.get("marker_box", ""), row.get("text_boxes", "")), boxes
