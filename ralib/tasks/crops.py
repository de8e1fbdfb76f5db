"""Tasks on single crops (joint patches of the crop cache, or tiles): the MIL paper's patch classifiers,
whose trunks become the bags' feature extractors.

``patch_abnormality``: Scheme 2's normal against abnormal joint patch. A patch is abnormal when any SvdH
grade it shows (erosion or JSN, by the label, or the truth on synthetic data) is at least 1.
``tile_classes``: Scheme 1's weakly supervised normal / abnormal / background tile, by the film's total
and the tile's foreground (:func:`ralib.patches.tiles.weak_tile_labels`).
:class:`CropTask` is an :class:`~ralib.tasks.whole_image.ImageTask` that may train on class-balanced
epochs (:class:`~ralib.data.loaders.BalancedDataset`): abnormal joints are a fifth of the patches, and a
CPU budget affords a few short epochs rather than many long ones.

Example:
    >>> task = patch_abnormality(cache, films, size=64, balanced=True)    # doctest: +SKIP
    >>> task.classes, task.table.abnormal.mean()                          # doctest: +SKIP
    (('normal', 'abnormal'), 0.2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from ralib.data.arrays import resize_images
from ralib.data.loaders import BalancedDataset
from ralib.patches.tiles import TILE_CLASSES, weak_tile_labels
from ralib.tasks.whole_image import ImageTask

PATCH_CLASSES = ("normal", "abnormal")


@dataclass
class CropTask(ImageTask):
    """An image classification whose training epochs may draw every class equally often (``balanced``)."""

    balanced: bool = False

    def dataset(self, split: str, augment: str = "none") -> Dataset:
        data = super().dataset(split, augment)
        if self.balanced and split == "train":
            return BalancedDataset(data, data.targets)
        return data

    def fingerprint(self) -> str:
        return super().fingerprint() + ("-balanced" if self.balanced else "")


def patch_abnormality(cache, films: pd.DataFrame, grade: str = "grade", size: int | None = None,
                      balanced: bool = False) -> CropTask:  # fmt: skip
    """Normal / abnormal of every crop of ``cache`` whose film is in ``films`` (its ``split`` is the
    film's, so no film's joints cross splits); ``grade`` names the grades used (``grade``: the label,
    ``truth``: the noise-free grades of synthetic data); ``size`` resizes the crops (None: as cut);
    ``balanced`` trains on class-balanced epochs."""
    split = films.set_index(films.radiograph_id.astype(str)).split
    table = cache.table.assign(split=cache.table.radiograph_id.map(split))
    grades = [table[f"{kind}_{grade}"] for kind in ("erosion", "jsn") if f"{kind}_{grade}" in table]
    if not grades:
        raise ValueError(f"the crops carry no {grade!r} grades")
    table["abnormal"] = (pd.concat(grades, axis=1).fillna(0).max(axis=1) >= 1).astype(int)
    keep = table.split.notna().to_numpy()
    images = cache.images if keep.all() else cache.images[np.flatnonzero(keep)]
    images = resize_images(images, size) if size else images
    return CropTask("patch_abnormality", "classification", images, table[keep], "abnormal", PATCH_CLASSES, "binary",
                    balanced=balanced)  # fmt: skip


def tile_classes(cache, films: pd.DataFrame, shares: np.ndarray, size: int | None = None, balanced: bool = False,
                 target: str = "score") -> CropTask:  # fmt: skip
    """The paper's weak tile labels (:data:`~ralib.patches.tiles.TILE_CLASSES`) for the tiles of ``cache``
    whose film is in ``films`` and has one (film ``target`` below 5: normal, from 70: abnormal; at most 2 %
    foreground by ``shares``, one per tile: background); the tiles of films in between are left out, as
    the paper develops its classifier on the clearly normal and clearly abnormal films only."""
    by_id = films.set_index(films.radiograph_id.astype(str))
    table = cache.table.assign(split=cache.table.radiograph_id.astype(str).map(by_id.split), share=shares)
    labels = np.full(len(table), -1)
    for rid, rows in table.groupby(table.radiograph_id.astype(str), sort=False).indices.items():
        if rid in by_id.index:
            labels[rows] = weak_tile_labels(float(by_id.at[rid, target]), table.share.to_numpy()[rows])
    table["tile_class"] = labels
    keep = np.flatnonzero((labels >= 0) & table.split.notna().to_numpy())
    images = resize_images(cache.images[keep], size) if size else cache.images[keep]
    return CropTask("tile_classes", "classification", images, table.iloc[keep], "tile_class", TILE_CLASSES, "multiclass",
                    balanced=balanced)  # fmt: skip

