"""The one data model every loader produces and every model and notebook reads.

A :class:`RADataset` holds three tables:

``radiographs``: one row per image file.
    ``radiograph_id`` (unique), ``patient_id``, ``split`` (train / val / test, or empty when the
    source has none), ``image_path`` (absolute), ``hands`` (``both`` for a dual-hand film, ``LH`` or
    ``RH`` for a single hand), ``spacing_mm`` (NaN when unknown), ``age``, ``sex`` (F / M),
    ``score`` (the image-level label, total SvdH of the hands shown, NaN when unknown),
    ``score_reader_<k>`` (each image-level reader's total, where known), ``truth_total`` (synthetic
    data only), ``bone_age`` (months, bone-age data only), ``bits`` and ``photometric`` where the
    source states them, ``source`` (the format it came from).

``scores``: one row per radiograph x hand x scored site x disease.
    ``radiograph_id``, ``hand``, ``scheme`` (``svdh``: the SvdH sites, ``site`` like ``mcp_E__2``;
    ``box``: the 21 joint boxes, ``site`` like ``mcp2``), ``site``, ``kind`` (erosion / jsn),
    ``reader_<k>`` (each reader's grade, nullable), ``grade`` (the aggregated label), ``truth``
    (synthetic data only), and ``x0, y0, x1, y1`` (the joint's box in pixels, where known).

``landmarks``: one row per radiograph x hand x landmark (optional): ``x``, ``y`` in pixels.

Example:
    >>> ds = RADataset.empty("example")
    >>> list(ds.radiographs.columns)[:3]
    ['radiograph_id', 'patient_id', 'split']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ralib import anatomy

RADIOGRAPH_COLUMNS = [
    "radiograph_id", "patient_id", "split", "image_path", "hands", "spacing_mm", "age", "sex", "score", "source",
]  # fmt: skip
SCORE_COLUMNS = ["radiograph_id", "hand", "scheme", "site", "kind", "grade"]
LANDMARK_COLUMNS = ["radiograph_id", "hand", "landmark", "x", "y"]
SPLITS = ("train", "val", "test")


@dataclass
class RADataset:
    """Radiographs, their scores and landmarks, from any source; see the module docstring."""

    name: str
    radiographs: pd.DataFrame
    scores: pd.DataFrame
    landmarks: pd.DataFrame | None = None
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["table", "row", "reason"]))
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)  # e.g. RA2-DREAM's foot scores

    @classmethod
    def empty(cls, name: str) -> "RADataset":
        return cls(name, pd.DataFrame(columns=RADIOGRAPH_COLUMNS), pd.DataFrame(columns=SCORE_COLUMNS))

    @property
    def reader_columns(self) -> list[str]:
        """The per-reader grade columns of ``scores`` (``reader_1``, ...)."""
        return sorted(c for c in self.scores.columns if c.startswith("reader_"))

    def svdh_wide(self, column: str = "grade") -> pd.DataFrame:
        """SvdH site grades as one row per radiograph and RA2-DREAM-named columns (``LH_mcp_E__2``).

        Sites a radiograph does not show (the other hand of a single-hand film) are NaN.
        """
        svdh = self.scores[self.scores.scheme == "svdh"]
        wide = svdh.assign(col=svdh.hand + "_" + svdh.site).pivot_table(
            index="radiograph_id", columns="col", values=column, aggfunc="first"
        )
        return wide.reindex(columns=anatomy.svdh_site_ids())

    def split(self, name: str) -> "RADataset":
        """The radiographs of one split with their scores and landmarks."""
        keep = self.radiographs[self.radiographs.split == name]
        ids = set(keep.radiograph_id)
        landmarks = None if self.landmarks is None else self.landmarks[self.landmarks.radiograph_id.isin(ids)]
        return RADataset(f"{self.name}:{name}", keep.reset_index(drop=True),
                         self.scores[self.scores.radiograph_id.isin(ids)].reset_index(drop=True), landmarks)  # fmt: skip

    def summary(self) -> dict:
        """Counts a notebook prints first."""
        r = self.radiographs
        return {
            "radiographs": len(r),
            "patients": int(r.patient_id.nunique()),
            "splits": r.split.value_counts().to_dict(),
            "with_score": int(r.score.notna().sum()) if "score" in r else 0,
            "scores": len(self.scores),
            "skipped": len(self.skipped),
        }


def finish(radiographs: pd.DataFrame, source: str, root: Path) -> pd.DataFrame:
    """Give a loader's radiograph table every standard column, in order, with absolute paths."""
    r = radiographs.copy()
    for column in RADIOGRAPH_COLUMNS:
        if column not in r:
            r[column] = np.nan if column in ("spacing_mm", "age", "score") else ""
    r["source"] = source
    r["image_path"] = [str((Path(root) / p).resolve()) if p else "" for p in r.image_path]
    r["radiograph_id"] = r.radiograph_id.astype(str)
    r["patient_id"] = r.patient_id.astype(str)
    extra = [c for c in r.columns if c not in RADIOGRAPH_COLUMNS]
    return r[RADIOGRAPH_COLUMNS + extra].reset_index(drop=True)
