"""Descriptive statistics of any data set in the data model, for the data-analysis notebook.

Example:
    >>> import pandas as pd
    >>> class_counts(pd.Series([0, 3, 28.5, 125.5])).tolist()
    [1, 1, 0, 0, 0, 1, 0, 0, 0, 1]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ralib import anatomy
from ralib.agreement import expert_agreement, reader_agreement
from ralib.data.io import read_radiograph
from ralib.data.model import RADataset


def class_counts(scores: pd.Series) -> pd.Series:
    """Radiographs per SvdH severity class (all ten, in order)."""
    classes = anatomy.severity_class(scores.dropna().clip(0, 280).to_numpy())
    return pd.Series(np.bincount(np.atleast_1d(classes), minlength=10), index=anatomy.SEVERITY_LABELS)


def hand_table(ds: RADataset, column: str = "grade") -> pd.DataFrame:
    """One row per radiograph and hand: erosion, JSN and total from its site grades (either scheme)."""
    scheme = "svdh" if (ds.scores.scheme == "svdh").any() else "box"
    s = ds.scores[ds.scores.scheme == scheme]
    table = s.pivot_table(index=["radiograph_id", "hand"], columns="kind", values=column, aggfunc="sum")
    table = table.reindex(columns=["erosion", "jsn"]).fillna(0)
    table["total"] = table.erosion + table.jsn
    table.attrs["scheme"] = scheme
    return table.reset_index()


def joint_prevalence(ds: RADataset, column: str = "grade") -> pd.Series:
    """Share of scored sites with any damage, pooled onto the 21 joint boxes (both hands)."""
    s = ds.scores[ds.scores[column].notna()]
    joint = [anatomy.SvdhSite(h, site).joint if scheme == "svdh" else site for h, site, scheme in zip(s.hand, s.site, s.scheme)]
    return (s[column] > 0).groupby(pd.Series(joint, index=s.index)).mean()


def left_right(ds: RADataset, column: str = "grade") -> pd.DataFrame:
    """Per patient: the left and the right hand's total (single-hand and dual-hand films alike)."""
    hands = hand_table(ds, column).merge(ds.radiographs[["radiograph_id", "patient_id"]], on="radiograph_id")
    return hands.pivot_table(index="patient_id", columns="hand", values="total", aggfunc="sum").dropna()


def split_balance(ds: RADataset) -> pd.DataFrame:
    """Per split: radiographs, patients, mean and median label, share female."""
    r = ds.radiographs
    label = r.score if r.score.notna().any() else r.get("bone_age", r.score)
    return r.assign(label=label, female=r.sex.eq("F")).groupby("split").agg(
        radiographs=("radiograph_id", "size"), patients=("patient_id", "nunique"),
        label_mean=("label", "mean"), label_median=("label", "median"), share_female=("female", "mean"),
    )  # fmt: skip


def labels_of(ds: RADataset, radiograph_id: str) -> tuple[dict, dict]:
    """Landmarks (hand -> (n, 2)) and joint boxes (hand -> (m, 4)) of one radiograph, where known."""
    landmarks, boxes = {}, {}
    if ds.landmarks is not None:
        for hand, group in ds.landmarks[ds.landmarks.radiograph_id == radiograph_id].groupby("hand"):
            landmarks[hand] = group[["x", "y"]].to_numpy(float)
    if "x0" in ds.scores:
        s = ds.scores[(ds.scores.radiograph_id == radiograph_id) & ds.scores.x0.notna()]
        for hand, group in s.drop_duplicates(["hand", "site"]).groupby("hand"):
            boxes[hand] = group[["x0", "y0", "x1", "y1"]].to_numpy(float)
    return landmarks, boxes


def image_labels(ds: RADataset) -> tuple[pd.Series, str]:
    """Per radiograph: the image-level label, or where a source has none the total of its site grades.

    Returns the labels and a short description of what they are.
    """
    label = ds.radiographs.set_index("radiograph_id").score
    if label.notna().any() or not len(ds.scores):
        return label, "image-level label"
    hands = hand_table(ds)
    return hands.groupby("radiograph_id").total.sum(), f"total of the {hands.attrs['scheme']} grades"


def agreement(ds: RADataset) -> dict[str, dict[str, float]]:
    """Reader agreement the data support: image-level readers' totals (PCC / MAE / RMSE) where each
    reader's total is given, and joint-level experts 1-vs-2 (class-weighted accuracy / MAE) where three
    or more experts graded the boxes."""
    out = {}
    r = ds.radiographs
    if {"score_reader_1", "score_reader_2"} <= set(r.columns):
        out["image_readers"] = reader_agreement(r.score_reader_1, r.score_reader_2)
    box = ds.scores[ds.scores.scheme == "box"]
    experts = [c for c in ds.reader_columns if len(box) and box[c].notna().any()]
    if len(experts) >= 3:
        for kind in ("erosion", "jsn"):
            grades = box[box.kind == kind][experts].dropna().to_numpy(int).T
            out[f"{kind}_experts"] = expert_agreement(grades)
    return out


def hand_stages(ds: RADataset, column: str = "grade") -> pd.DataFrame:
    """Per radiograph and hand: its RA stage (0 normal, 1-5) by :func:`ralib.anatomy.hand_stage`.

    The stage is read from the SvdH site grades, the scheme real data sets share, so that synthetic and
    real labels are staged alike; grades averaged over readers are rounded half up first. Hands with
    no graded site are left out.
    """
    s = ds.scores[(ds.scores.scheme == "svdh") & ds.scores[column].notna()]
    if not len(s):
        raise ValueError(f"{ds.name}: no SvdH site grades in column {column!r} to stage hands from")
    grades = np.floor(s[column].astype(float) + 0.5)
    grouped = grades.groupby([s.radiograph_id, s.hand, s.kind]).apply(list).unstack("kind")
    stages = [anatomy.hand_stage(e if isinstance(e, list) else [], j if isinstance(j, list) else [])
              for e, j in zip(grouped.get("erosion", [None] * len(grouped)), grouped.get("jsn", [None] * len(grouped)))]  # fmt: skip
    return pd.DataFrame({"radiograph_id": grouped.index.get_level_values(0),
                         "hand": grouped.index.get_level_values(1), "stage": stages})  # fmt: skip


def paired_pcc(frame: pd.DataFrame, x: str, y: str) -> dict | None:
    """Columns ``x`` and ``y`` of ``frame`` with their PCC, or ``None`` where it cannot be told (a column
    missing, fewer than three rows, or a constant column).

    Example:
        >>> frame = pd.DataFrame({"LH": [1.0, 2.0, 4.0], "RH": [1.0, 3.0, 4.0]})
        >>> round(paired_pcc(frame, "LH", "RH")["pcc"], 3), paired_pcc(frame.head(2), "LH", "RH")
        (0.929, None)
    """
    if not ({x, y} <= set(frame.columns) and len(frame) > 2 and frame[[x, y]].std().min() > 0):
        return None
    return {"x": frame[x], "y": frame[y], "pcc": float(stats.pearsonr(frame[x], frame[y])[0])}


def paired_totals(ds: RADataset, hands: pd.DataFrame) -> dict[str, dict | None]:
    """Two ways damage spreads, as paired totals with their PCC (:func:`paired_pcc`): erosion against JSN
    per film, and each patient's left against right hand total (:func:`left_right`); ``hands`` as
    :func:`hand_table` gives it."""
    if not len(hands):
        return {"erosion against JSN": None, "left against right hand": None}
    per_film = hands.groupby("radiograph_id")[["erosion", "jsn"]].sum()
    return {"erosion against JSN": paired_pcc(per_film, "erosion", "jsn"), "left against right hand": paired_pcc(left_right(ds), "LH", "RH")}


def gallery(ds: RADataset, n: int = 4) -> list[tuple[np.ndarray, dict, dict, str]]:
    """``n`` films spread over the score's range (the first ``n`` where no film has a score), each with its
    landmarks and joint boxes (:func:`labels_of`) and a title, as :func:`ralib.plots.labelled_films` draws them."""
    r = ds.radiographs
    shown = r.sort_values("score").iloc[np.linspace(0, len(r) - 1, min(n, len(r))).round().astype(int)] if r.score.notna().any() else r.head(n)
    return [(read_radiograph(row), *labels_of(ds, row.radiograph_id),
             f"{row.radiograph_id}: score {row.score:g}" if pd.notna(row.score) else row.radiograph_id) for _, row in shown.iterrows()]  # fmt: skip
