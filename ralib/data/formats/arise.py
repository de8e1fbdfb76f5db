"""ARISE / AIRI joint-level hand data set (RheumaVIT's data): three experts per joint, 42 boxes per film.

Layout::

    scores.csv            unnamed index (the joint id 0-41 within its image, the same id as in
                          bboxes.csv), patient_id, hand, joint, finger, disease (JSN / erosion),
                          score (may be empty: not scored), expert_id
    bboxes.csv            unnamed index (a running row number; modulo 42 it is the joint id),
                          patient_id, hand, joint, finger, xcenter, ycenter, dx, dy (pixels, dx / dy
                          the full width and height), 42 rows per image in a fixed order
    jpeg/{patient_id}.jpeg
    train_val_split.json  {"train": [ids], "val": [ids]}; ids in neither are test

Tools written for the real set merge the two tables on image and joint id and crop per split, so
the loader checks exactly that: every score's joint id lies in 0-41 and names the same hand and joint
as that id's box, each image has its 42 boxes, and the split file names only ids that exist, each
once. The exporter writes the same layout, and lists test films under ``"test"`` so that every id of
``scores.csv`` is in the split file (the real file has no test key because the challenge released
its test films without labels).

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
from ralib.data.export import export_folder
from ralib.data.io import read_radiograph
from ralib.data.model import SPLITS, RADataset, finish
from ralib.data.tables import read_csv, read_json
from ralib.data.validate import DataValidationError, Problem, raise_if_strict, require_columns, skipped_frame, validate

JOINTS_PER_IMAGE = 2 * len(anatomy.JOINT_NAMES)  # 42: the left hand's 21 boxes, then the right hand's

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


def load(root: str | Path, aggregation: str = "majority", strict: bool = True, check_images: str = "header") -> RADataset:
    """Load an ARISE folder; ``aggregation`` combines the experts (``dawid_skene`` as in RheumaVIT)."""
    root = Path(root)
    scores = read_csv(root / "scores.csv", text=["patient_id", "expert_id"], index_col=0)
    boxes = read_csv(root / "bboxes.csv", text=["patient_id"], index_col=0)
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

    boxes["joint_id"] = _joint_ids(boxes.index, "bboxes.csv") % JOINTS_PER_IMAGE
    scores["joint_id"] = _joint_ids(scores.index, "scores.csv")
    boxes, scores = boxes.reset_index(drop=True), scores.reset_index(drop=True)
    problems += _box_problems(boxes)
    bad_id, id_problems = _joint_id_problems(scores, boxes)
    problems += id_problems
    scores = scores[scores.score.notna() & ~bad_id]  # empty: the expert did not score that joint
    conflicting, duplicate_problems = _duplicate_problems(scores)
    problems += duplicate_problems
    scores = scores[~conflicting].drop_duplicates(["patient_id", "joint_id", "kind", "expert_id"])

    experts = sorted(scores.expert_id.astype(str).unique())
    scores["reader"] = scores.expert_id.astype(str).map({e: f"reader_{k + 1}" for k, e in enumerate(experts)})
    wide = scores.pivot_table(index=["patient_id", "joint_id", "hand_id", "box", "kind"], columns="reader",
                              values="score", aggfunc="first").reset_index()  # unique keys: checked above  # fmt: skip
    readers = [f"reader_{k + 1}" for k in range(len(experts))]
    wide = wide.reindex(columns=["patient_id", "joint_id", "hand_id", "box", "kind", *readers])
    boxes["x0"] = boxes.xcenter - boxes.dx / 2
    boxes["y0"] = boxes.ycenter - boxes.dy / 2
    boxes["x1"] = boxes.xcenter + boxes.dx / 2
    boxes["y1"] = boxes.ycenter + boxes.dy / 2
    wide = wide.merge(boxes.drop_duplicates(["patient_id", "joint_id"])[["patient_id", "joint_id", "x0", "y0", "x1", "y1"]],
                      on=["patient_id", "joint_id"], how="left")  # fmt: skip
    table = pd.DataFrame(
        {"radiograph_id": wide.patient_id.astype(str), "hand": wide.hand_id, "scheme": "box", "site": wide.box,
         "kind": wide.kind, **{r: wide[r] for r in readers}, "x0": wide.x0, "y0": wide.y0, "x1": wide.x1, "y1": wide.y1}
    )  # fmt: skip
    table["grade"] = aggregate(table[readers], aggregation, table.kind) if len(table) else np.nan
    ids = sorted(set(scores.patient_id.astype(str)) | set(boxes.patient_id.astype(str)), key=_numeric_first)
    split_of, split_problems = _read_split(root / "train_val_split.json", ids)
    problems += split_problems
    radiographs = pd.DataFrame({"radiograph_id": ids, "patient_id": ids, "hands": "both",
                                "image_path": [_image(root, i) for i in ids],
                                "split": [split_of.get(i, "test") for i in ids]})  # fmt: skip
    for path in sorted((root / "jpeg").glob("*")):
        if path.stem not in ids:
            problems.append(Problem("images", path.name, "image without labels"))
    dataset = RADataset("arise", finish(radiographs, "arise", root), table)
    dataset.skipped = skipped_frame(problems)
    raise_if_strict(f"ARISE {root}", problems, strict)
    return validate(dataset, strict=strict, images=check_images)


def _joint_ids(index: pd.Index, name: str) -> np.ndarray:
    ids = pd.to_numeric(pd.Series(index, index=index), errors="coerce")
    if ids.isna().any() or (ids % 1 != 0).any():
        raise DataValidationError(f"ARISE {name}", [f"its first (unnamed) column must hold integer joint ids; "
                                                    f"found {list(index[ids.isna() | (ids % 1 != 0)][:3])}"])  # fmt: skip
    return ids.astype(int).to_numpy()


def _box_problems(boxes: pd.DataFrame) -> list[Problem]:
    """Each image must have its 42 boxes, one per joint id, each naming the catalogue's joint of that id."""
    problems = []
    for pid, group in boxes.groupby("patient_id"):
        if sorted(group.joint_id) != list(range(JOINTS_PER_IMAGE)):
            problems.append(Problem("bboxes.csv", pid, f"{len(group)} boxes with joint ids {sorted(set(group.joint_id))[:5]}..., "
                                                       f"expected the {JOINTS_PER_IMAGE} ids 0-{JOINTS_PER_IMAGE - 1} once each"))  # fmt: skip
    return problems


def _joint_id_problems(scores: pd.DataFrame, boxes: pd.DataFrame) -> tuple[pd.Series, list[Problem]]:
    """Score rows whose joint id is outside 0-41 or names another joint than its box; one problem per image."""
    named = boxes.drop_duplicates(["patient_id", "joint_id"]).set_index(["patient_id", "joint_id"])[["hand_id", "box"]]
    key = pd.MultiIndex.from_arrays([scores.patient_id, scores.joint_id])
    box_hand, box_name_ = named.hand_id.reindex(key).to_numpy(), named.box.reindex(key).to_numpy()
    out_of_range = (scores.joint_id < 0) | (scores.joint_id >= JOINTS_PER_IMAGE)
    unboxed = ~out_of_range & pd.isna(box_name_)
    mismatch = ~out_of_range & ~unboxed & ((scores.hand_id.to_numpy() != box_hand) | (scores.box.to_numpy() != box_name_))
    problems = []
    for pid, rows in scores[out_of_range | unboxed | mismatch].groupby("patient_id"):
        n_range, n_box, n_mismatch = out_of_range[rows.index].sum(), unboxed[rows.index].sum(), mismatch[rows.index].sum()
        parts = []
        if n_range:
            parts.append(f"{n_range} rows carry joint ids outside 0-{JOINTS_PER_IMAGE - 1} (e.g. "
                         f"{sorted(set(rows.joint_id[out_of_range[rows.index]]))[:3]}): the first column must be the "
                         "per-image joint id of bboxes.csv, not a running row number")  # fmt: skip
        if n_box:
            parts.append(f"{n_box} rows name joint ids without a box in bboxes.csv")
        if n_mismatch:
            example = rows[mismatch[rows.index]].iloc[0]
            parts.append(f"{n_mismatch} rows name another joint than their id's box (id {example.joint_id}: "
                         f"{example.hand_id} {example.box} in scores.csv, "
                         f"{named.hand_id[(pid, example.joint_id)]} {named.box[(pid, example.joint_id)]} in bboxes.csv)")  # fmt: skip
        problems.append(Problem("scores.csv", pid, "; ".join(parts)))
    return pd.Series(out_of_range | unboxed | mismatch, index=scores.index), problems


def _duplicate_problems(scores: pd.DataFrame) -> tuple[pd.Series, list[Problem]]:
    """Rows scoring one joint twice for one expert: conflicting ones are dropped, identical ones kept once."""
    key = ["patient_id", "joint_id", "kind", "expert_id"]
    repeated = scores[scores.duplicated(key, keep=False)]
    conflicting = pd.Series(False, index=scores.index)
    problems = []
    for (pid, joint_id, kind, expert), rows in repeated.groupby(key):
        row = f"{pid}/{rows.hand_id.iloc[0]}/{rows.box.iloc[0]}/{kind}/expert {expert}"
        if rows.score.nunique() > 1:
            conflicting[rows.index] = True
            problems.append(Problem("scores.csv", row, f"{len(rows)} rows with different grades {sorted(rows.score)}: dropped"))
        else:
            problems.append(Problem("scores.csv", row, f"{len(rows)} identical rows: kept once", note=True))
    return conflicting, problems


def _read_split(path: Path, ids: list[str]) -> tuple[dict[str, str], list[Problem]]:
    """``{id: split}`` from ``train_val_split.json`` (ids in no list are test), with what is wrong in it."""
    if not path.exists():
        return {}, []
    content = read_json(path)
    if not isinstance(content, dict):
        return {}, [Problem(path.name, "", f"expected an object of id lists, found {type(content).__name__}")]
    problems, split_of = [], {}
    for name, members in content.items():
        if name not in SPLITS or not isinstance(members, list):
            problems.append(Problem(path.name, name, f"unknown split {name!r} (expected lists under {', '.join(SPLITS)})"))
            continue
        for member in members:
            pid = str(member)
            if pid in split_of and split_of[pid] != name:
                problems.append(Problem(path.name, pid, f"listed in both {split_of[pid]!r} and {name!r}"))
            split_of[pid] = name
    known = set(ids)
    for pid in sorted(set(split_of) - known, key=_numeric_first):
        problems.append(Problem(path.name, pid, "names an image that neither scores.csv nor bboxes.csv holds"))
    return split_of, problems


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


def export(dataset: RADataset, target: str | Path, quality: int = 92, overwrite: bool = False) -> Path:
    """Write a data set with box-level expert grades and boxes in the ARISE layout, into a new folder.

    ``target`` must be new or empty (``overwrite=True`` replaces an earlier export; see
    :func:`ralib.data.export.export_folder`).
    """
    with export_folder(target, "arise", overwrite) as folder:
        _write(dataset, folder, quality)
    return Path(target)


def _write(dataset: RADataset, target: Path, quality: int) -> None:
    (target / "jpeg").mkdir()
    box_scores = dataset.scores[dataset.scores.scheme == "box"]
    readers = dataset.reader_columns
    score_rows, box_rows, split = [], [], {name: [] for name in SPLITS}
    for n, (_, r) in enumerate(dataset.radiographs.iterrows()):
        pid = 1000 + 7 * n  # non-contiguous integers, as in the real data
        film = read_radiograph(r)
        Image.fromarray(np.round(np.clip(film, 0, 1) * 255).astype(np.uint8)).save(target / "jpeg" / f"{pid}.jpeg", quality=quality)
        split[r.split if r.split in SPLITS else "test"].append(pid)
        mine = box_scores[box_scores.radiograph_id == r.radiograph_id]
        joint_id = 0
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
                        score_rows.append({"joint_id": joint_id, "patient_id": pid, "hand": word, "joint": joint,
                                           "finger": finger, "disease": disease, "score": value, "expert_id": k + 1})  # fmt: skip
                joint_id += 1
    pd.DataFrame(score_rows).set_index("joint_id").rename_axis(None).to_csv(target / "scores.csv")
    pd.DataFrame(box_rows).to_csv(target / "bboxes.csv", float_format="%.1f")  # running index: joint id modulo 42
    (target / "train_val_split.json").write_text(json.dumps({k: v for k, v in split.items() if v or k != "test"}))
