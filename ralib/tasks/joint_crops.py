"""Tasks on single joint crops of the crop cache (:mod:`ralib.patches.cache`).

``patch_abnormality``: the MIL paper's patch classifier for Scheme 2, normal against abnormal joint
patches, whose trunk becomes the bags' feature extractor. A patch is abnormal when any SvdH grade it
shows (erosion or JSN, by the label, or the truth on synthetic data) is at least 1.

Example:
    >>> task = patch_abnormality(cache, films)                   # doctest: +SKIP
    >>> task.classes, task.table.abnormal.mean()                 # doctest: +SKIP
    (('normal', 'abnormal'), 0.31)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ralib.tasks.whole_image import ImageTask

PATCH_CLASSES = ("normal", "abnormal")


def patch_abnormality(cache, films: pd.DataFrame, grade: str = "grade") -> ImageTask:
    """Normal / abnormal of every crop of ``cache`` whose film is in ``films`` (its ``split`` is the
    film's, so no film's joints cross splits); ``grade`` names the grades used (``grade``: the label,
    ``truth``: the noise-free grades of synthetic data)."""
    split = films.set_index(films.radiograph_id.astype(str)).split
    table = cache.table.assign(split=cache.table.radiograph_id.map(split))
    grades = [table[f"{kind}_{grade}"] for kind in ("erosion", "jsn") if f"{kind}_{grade}" in table]
    if not grades:
        raise ValueError(f"the crops carry no {grade!r} grades")
    table["abnormal"] = (pd.concat(grades, axis=1).fillna(0).max(axis=1) >= 1).astype(int)
    keep = table.split.notna().to_numpy()
    images = cache.images if keep.all() else cache.images[np.flatnonzero(keep)]
    return ImageTask("patch_abnormality", "classification", images, table[keep], "abnormal", PATCH_CLASSES, "binary")
