"""ARISE / AIRI joint-level hand data set (RheumaVIT's data): three experts per joint, 42 boxes per film.

Layout::

    scores.csv            unnamed index (joint id), patient_id, hand, joint, finger, disease (JSN / erosion),
                          score (may be empty: not scored), expert_id
    bboxes.csv            unnamed index, patient_id, hand, joint, finger, xcenter, ycenter, dx, dy (pixels,
                          dx / dy the full width and height), 42 rows per image in a fixed order
    jpeg/{patient_id}.jpeg
    train_val_split.json  {"train": [ids], "val": [ids]}; ids in neither are test

The vocabulary of ``joint`` / ``finger`` is not published, so the loader maps what it finds onto the
21-box catalogue through :data:`JOINT_ALIASES` and fails naming every value it cannot map.

Example:
    >>> box_name("PIP", 3.0), box_name("Wrist", None), box_name("cmc", "1")
    ('pip3', 'wrist', 'cmc1')
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ralib import anatomy
from ralib.data.aggregate import aggregate
from ralib.data.model import RADataset, finish
from ralib.data.validate import DataValidationError, Problem, require_columns, skipped_frame, validate

#: joint words (lower case) -> box name, or a prefix completed by the finger number
JOINT_ALIASES = {
    "ip": "ip", "dip": "dip", "pip": "pip", "mcp": "mcp", "cmc": "cmc",
    "wrist": "wrist", "intercarpal": "wrist", "carpal": "wrist",
    "ulna": "ulna", "ulnar": "ulna", "ulnar styloid": "ulna",
    "radiocarpal": "radiocarpal", "radius": "radiocarpal", "rc": "radiocarpal",
}  # fmt: skip
HAND_ALIASES = {"left": "LH", "l": "LH", "lh": "LH", "right": "RH", "r": "RH", "rh": "RH"}
DISEASES = {"erosion": "erosion", "jsn": "jsn"}
_FINGERED = ("dip", "pip", "mcp", "cmc")


def box_name(joint, finger) -> str | None:
    """The 21-box name of an ARISE (joint, finger) pair, or None when it cannot be mapped."""
    base = JOINT_ALIASES.get(str(joint).strip().lower())
    if base is None:
        return None
    if base not in _FINGERED:
        return base
    try:
        f = int(float(finger))
    except (TypeError, ValueError):
        return None
    name = f"{base}{f}"
    return name if name in anatomy.JOINT_NAMES else None


def _hand(value) -> str | None:
    return HAND_ALIASES.get(str(value).strip().lower())


def load(root: str | Path, aggregation: str = "majority", strict: bool = True) -> RADataset:
    """Load an ARISE folder; ``aggregation`` combines the experts (``dawid_skene`` as in RheumaVIT)."""
    root = Path(root)
    scores = pd.read_csv(root / "scores.csv", index_col=0)
    boxes = pd.read_csv(root / "bboxes.csv", index_col=0)
    require_columns(scores, ["patient_id", "hand", "joint", "finger", "disease", "score", "expert_id"], "scores.csv")
    require_columns(boxes, ["patient_id", "hand", "joint", "finger", "xcenter", "ycenter", "dx", "dy"], "bboxes.csv")
    problems: list[Problem] = []
    for name, table in (("scores.csv", scores), ("bboxes.csv", boxes)):
        table["box"] = [box_name(j, f) for j, f in zip(table.joint, table.finger)]
        table["hand_id"] = [_hand(h) for h in table.hand]
        for (j, f, h), _ in table[table.box.isna() | table.hand_id.isna()].groupby(["joint", "finger", "hand"], dropna=False):
            problems.append(Problem(name, "", f"cannot map joint={j!r}, finger={f!r}, hand={h!r} onto the 21-box catalogue"))
    scores["kind"] = scores.disease.astype(str).str.strip().str.lower().map(DISEASES)
    for value in scores.disease[scores.kind.isna()].unique():
        problems.append(Problem("scores.csv", "", f"unknown disease {value!r} (expected erosion or JSN)"))
    if problems:  # the vocabulary must be fixed before anything else makes sense
        raise DataValidationError(f"ARISE {root}", problems)

    scores = scores[scores.score.notna()]  # empty: the expert did not score that joint
    experts = sorted(scores.expert_id.astype(str).unique())
    scores["reader"] = scores.expert_id.astype(str).map({e: f"reader_{k + 1}" for k, e in enumerate(experts)})
    wide = scores.pivot_table(index=["patient_id", "hand_id", "box", "kind"], columns="reader", values="score",
                              aggfunc="first").reset_index()  # fmt: skip
    readers = [f"reader_{k + 1}" for k in range(len(experts))]
    wide = wide.reindex(columns=["patient_id", "hand_id", "box", "kind", *readers])
    boxes["x0"] = boxes.xcenter - boxes.dx / 2
    boxes["y0"] = boxes.ycenter - boxes.dy / 2
    boxes["x1"] = boxes.xcenter + boxes.dx / 2
    boxes["y1"] = boxes.ycenter + boxes.dy / 2
    wide = wide.merge(boxes[["patient_id", "hand_id", "box", "x0", "y0", "x1", "y1"]],
                      on=["patient_id", "hand_id", "box"], how="left")  # fmt: skip
    table = pd.DataFrame(
        {"radiograph_id": wide.patient_id.astype(str), "hand": wide.hand_id, "scheme": "box", "site": wide.box,
         "kind": wide.kind, **{r: wide[r] for r in readers}, "x0": wide.x0, "y0": wide.y0, "x1": wide.x1, "y1": wide.y1}
    )  # fmt: skip
    table["grade"] = aggregate(table[readers], aggregation, table.kind) if len(table) else np.nan
    split_file = root / "train_val_split.json"
    split = json.loads(split_file.read_text()) if split_file.exists() else {}
    split_of = {str(i): name for name in ("train", "val") for i in split.get(name, [])}
    ids = sorted(set(scores.patient_id.astype(str)) | set(boxes.patient_id.astype(str)), key=_numeric_first)
    radiographs = pd.DataFrame({"radiograph_id": ids, "patient_id": ids, "hands": "both",
                                "image_path": [_image(root, i) for i in ids],
                                "split": [split_of.get(i, "test") for i in ids]})  # fmt: skip
    for path in sorted((root / "jpeg").glob("*")):
        if path.stem not in ids:
            problems.append(Problem("images", path.name, "image without labels"))
    dataset = RADataset("arise", finish(radiographs, "arise", root), table)
    dataset.skipped = skipped_frame(problems)
    if problems and strict:
        raise DataValidationError(f"ARISE {root}", problems)
    return validate(dataset, strict=strict)


def _numeric_first(value: str):
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _image(root: Path, patient_id: str) -> str:
    for ext in (".jpeg", ".jpg", ".png"):
        if (root / "jpeg" / f"{patient_id}{ext}").exists():
            return f"jpeg/{patient_id}{ext}"
    return f"jpeg/{patient_id}.jpeg"


#: how the exporter writes the 21 boxes (ARISE-like words), in its fixed per-hand order
_EXPORT_WORDS = {
    "ip": ("IP", 1), **{f"dip{f}": ("DIP", f) for f in (2, 3, 4, 5)}, **{f"pip{f}": ("PIP", f) for f in (2, 3, 4, 5)},
    **{f"mcp{f}": ("MCP", f) for f in (1, 2, 3, 4, 5)}, **{f"cmc{f}": ("CMC", f) for f in (1, 3, 4, 5)},
    "wrist": ("Wrist", None), "ulna": ("Ulna", None), "radiocarpal": ("Radiocarpal", None),
}  # fmt: skip


def export(dataset: RADataset, target: str | Path, quality: int = 92) -> Path:
    """Write a data set with box-level expert grades and boxes in the ARISE layout."""
    from ralib.data.io import read_radiograph

    target = Path(target)
    (target / "jpeg").mkdir(parents=True, exist_ok=True)
    box_scores = dataset.scores[dataset.scores.scheme == "box"]
    readers = dataset.reader_columns
    score_rows, box_rows, split = [], [], {"train": [], "val": []}
    for n, (_, r) in enumerate(dataset.radiographs.iterrows()):
        pid = 1000 + 7 * n  # non-contiguous integers, as in the real data
        film = read_radiograph(r)
        Image.fromarray(np.round(np.clip(film, 0, 1) * 255).astype(np.uint8)).save(target / "jpeg" / f"{pid}.jpeg", quality=quality)
        if r.split in split:
            split[r.split].append(pid)
        mine = box_scores[box_scores.radiograph_id == r.radiograph_id]
        for hand, word in (("LH", "left"), ("RH", "right")):
            for name in anatomy.JOINT_NAMES:
                joint, finger = _EXPORT_WORDS[name]
                rows = mine[(mine.hand == hand) & (mine.site == name)]
                x0, y0, x1, y1 = rows[["x0", "y0", "x1", "y1"]].iloc[0]
                box_rows.append({"patient_id": pid, "hand": word, "joint": joint, "finger": finger,
                                 "xcenter": (x0 + x1) / 2, "ycenter": (y0 + y1) / 2, "dx": x1 - x0, "dy": y1 - y0})  # fmt: skip
                for kind, disease in (("erosion", "erosion"), ("jsn", "JSN")):
                    row = rows[rows.kind == kind]
                    for k, reader in enumerate(readers):
                        value = row[reader].iloc[0] if len(row) else np.nan
                        score_rows.append({"patient_id": pid, "hand": word, "joint": joint, "finger": finger,
                                           "disease": disease, "score": value, "expert_id": k + 1})  # fmt: skip
    pd.DataFrame(score_rows).to_csv(target / "scores.csv")
    pd.DataFrame(box_rows).to_csv(target / "bboxes.csv", float_format="%.1f")
    (target / "train_val_split.json").write_text(json.dumps(split))
    return target
