"""SynthRA's canonical folder (see :mod:`ralib.synth.dataset`) as a :class:`~ralib.data.model.RADataset`.

Image-level label: the mean of the two simulated readers (``score``), their totals in
``score_reader_1/2``, the noise-free total in ``truth_total``; what the generator knows of each film's
pixels in ``mask_path`` (the hands and forearms), ``marker_box`` and ``text_boxes`` (``"x0 y0 x1 y1"``, ``;``
between lines; see :mod:`ralib.synth.dataset`). Scores: the 62 SvdH sites (two readers,
their mean as ``grade``, the truth) and the 42 joint boxes (three experts, their majority as ``grade``,
the truth, the box).

Example:
    >>> import tempfile, os
    >>> from ralib.synth import SynthConfig, make_dataset
    >>> folder = make_dataset(SynthConfig(n_images=2, image_size=96), tempfile.mkdtemp(), progress=False, workers=1)
    >>> load(folder).summary()["radiographs"]
    2
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ralib.data.aggregate import aggregate
from ralib.data.model import RADataset, finish
from ralib.data.validate import validate
from ralib.synth.dataset import load_tables

KIND = {"E": "erosion", "J": "jsn"}


def load(folder: str | Path, strict: bool = True, box_aggregation: str = "majority", check_images: str = "header") -> RADataset:
    """Load a SynthRA folder; ``box_aggregation`` combines the three experts (see :func:`aggregate`)."""
    folder = Path(folder)
    t = load_tables(folder)
    r = t["radiographs"]
    radiographs = pd.DataFrame(
        {
            "radiograph_id": r.image_id,
            "patient_id": r.patient_id,
            "split": r.split,
            "image_path": r.file,
            "hands": "both",
            "spacing_mm": r.spacing_mm,
            "age": r.age,
            "sex": r.sex,
            "score": r.score_avg,
            "score_reader_1": r.reader_1_total,
            "score_reader_2": r.reader_2_total,
            "truth_total": r.truth_total,
            "bits": r.bits,
            "photometric": r.photometric,
            "flipped": r.flipped,
            "left_hand_side": r.left_hand_side,
            "healthy": r.healthy,
            "mask_path": [str((folder / f).resolve()) for f in r.mask_file],
            "marker_box": r.get("marker_box", ""),
            "text_boxes": r.get("text_boxes", pd.Series("", index=r.index)).fillna(""),
        }
    )
    sites = t["sites"]
    svdh = pd.DataFrame(
        {
            "radiograph_id": sites.image_id,
            "hand": sites.hand,
            "scheme": "svdh",
            "site": sites.site,
            "kind": sites.kind.map(KIND),
            "reader_1": sites.reader_1.astype("Int64"),
            "reader_2": sites.reader_2.astype("Int64"),
            "truth": sites.truth.astype("Int64"),
        }
    )
    svdh["grade"] = aggregate(svdh[["reader_1", "reader_2"]], "mean")
    j = t["joints"]
    boxes = []
    for kind in ("erosion", "jsn"):
        part = j[j[f"{kind}_truth"].notna()]
        frame = pd.DataFrame(
            {
                "radiograph_id": part.image_id,
                "hand": part.hand,
                "scheme": "box",
                "site": part.joint,
                "kind": kind,
                **{f"reader_{e}": part[f"{kind}_expert_{e}"].astype("Int64") for e in (1, 2, 3)},
                "truth": part[f"{kind}_truth"].astype("Int64"),
                "x0": part.x0, "y0": part.y0, "x1": part.x1, "y1": part.y1,
            }
        )  # fmt: skip
        frame["grade"] = aggregate(frame[["reader_1", "reader_2", "reader_3"]], box_aggregation, frame.kind)
        boxes.append(frame)
    scores = pd.concat([svdh, *boxes], ignore_index=True)
    landmarks = t["landmarks"].rename(columns={"image_id": "radiograph_id"})
    dataset = RADataset("synthra", finish(radiographs, "synthra", folder), scores, landmarks)
    return validate(dataset, strict=strict, images=check_images)
