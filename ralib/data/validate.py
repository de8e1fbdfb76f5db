"""Checks on loaded data, with a report: strict by default, lenient on request.

Strict mode raises :class:`DataValidationError` listing every problem found (not just the first);
lenient mode drops the offending rows and records each in ``dataset.skipped`` with its reason, so
that nothing is lost silently.

Example:
    >>> import pandas as pd
    >>> require_columns(pd.DataFrame(columns=["Patient_ID", "score"]), ["Patient_ID", "scores"], "x.csv")
    Traceback (most recent call last):
    ...
    ralib.data.validate.DataValidationError: x.csv: 1 problem
      - missing column 'scores' (did you mean 'score'?)
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.data.io import ImageReadError, probe_image, read_radiograph
from ralib.data.model import RADataset


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data: which table, which row (id or index), why. A ``note`` (an
    identical duplicate row kept once) is listed in ``skipped`` but is no error in strict mode."""

    table: str
    row: str
    reason: str
    note: bool = False

    def __str__(self) -> str:
        return f"{self.table} row {self.row}: {self.reason}" if self.row else f"{self.table}: {self.reason}"


class DataValidationError(ValueError):
    """Raised in strict mode with the full list of problems."""

    def __init__(self, source: str, problems: list[Problem | str]):
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}"]
        lines += [f"  - {p}" for p in problems[:200]]
        if len(problems) > 200:
            lines.append(f"  ... and {len(problems) - 200} more")
        super().__init__("\n".join(lines))


def raise_if_strict(source: str, problems: list[Problem], strict: bool) -> None:
    """In strict mode, raise :class:`DataValidationError` when any problem is more than a note."""
    if strict and any(not p.note for p in problems):
        raise DataValidationError(source, [p for p in problems if not p.note])


def skipped_frame(problems: list[Problem]) -> pd.DataFrame:
    """Problems as the ``skipped`` table of a data set (table, row, reason)."""
    return pd.DataFrame([{"table": p.table, "row": p.row, "reason": p.reason} for p in problems],
                        columns=["table", "row", "reason"])  # fmt: skip


def require_columns(frame: pd.DataFrame, required: list[str], source: str) -> None:
    """Raise naming every missing column, with the closest existing name as a suggestion."""
    problems = []
    for column in required:
        if column not in frame.columns:
            close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"missing column {column!r}{hint}")
    if problems:
        raise DataValidationError(source, problems)


def grade_problems(values: pd.Series, kinds: pd.Series, column: str) -> pd.Series:
    """Per row: why a grade is invalid ('' when fine). Empty cells are allowed (not scored)."""
    numeric = pd.to_numeric(values, errors="coerce")
    top = np.where(kinds.to_numpy() == "erosion", anatomy.EROSION_MAX, anatomy.JSN_MAX)
    reasons = pd.Series("", index=values.index, dtype=object)
    unparsable = values.notna() & numeric.isna()
    reasons[unparsable] = [f"{column} {v!r} is not a number" for v in values[unparsable]]
    bad_range = numeric.notna() & ((numeric < 0) | (numeric > top))
    reasons[bad_range] = [f"{column} {v:g} outside 0-{t}" for v, t in zip(numeric[bad_range], top[bad_range.to_numpy()])]
    fractional = numeric.notna() & (numeric % 1 != 0) & (reasons == "")
    reasons[fractional] = [f"{column} {v:g} is not a whole grade" for v in numeric[fractional]]
    return reasons


#: how much of each image file :func:`validate` reads
IMAGE_CHECKS = ("none", "exists", "header", "decode")


def validate(dataset: RADataset, strict: bool = True, images: str = "header") -> RADataset:
    """Check a loaded data set; strict: raise with every problem; lenient: drop and record them.

    Checks: duplicate radiograph ids, image files (``images``: ``"exists"``; ``"header"``, the default,
    also opens each header, which is cheap; ``"decode"`` reads every film, which also finds truncated
    files; ``"none"``), scores for unknown radiographs, unknown sites, out-of-range / non-integer /
    unparsable reader grades, radiographs with no label at all. A lenient check that would keep no
    radiograph at all raises instead, with the reasons counted.
    """
    if images not in IMAGE_CHECKS:
        raise ValueError(f"images={images!r}: choose one of {', '.join(IMAGE_CHECKS)}")
    r, s = dataset.radiographs, dataset.scores
    if not len(r):
        _refuse_empty(dataset, r, [])
        return dataset
    bad_rad: dict[int, str] = {}
    duplicated = r.radiograph_id.duplicated(keep=False)
    for i in r.index[duplicated]:
        bad_rad[i] = f"duplicate radiograph id {r.radiograph_id[i]!r}"
    if images != "none":
        for i, why in _image_problems(r, images).items():
            bad_rad.setdefault(i, why)
    labelled = set(s.radiograph_id)
    has_label = r.radiograph_id.isin(labelled) | r.get("score", pd.Series(np.nan, index=r.index)).notna()
    if "bone_age" in r:
        has_label |= r.bone_age.notna()
    for i in r.index[~has_label]:
        bad_rad.setdefault(i, "image without labels")

    bad_score: dict[int, str] = {}
    known_ids = set(r.radiograph_id)
    unknown = ~s.radiograph_id.isin(known_ids)
    for i in s.index[unknown]:
        bad_score[i] = f"scores for radiograph {s.radiograph_id[i]!r}, which has no image row"
    valid_sites = {"svdh": set(anatomy.EROSION_SITES + anatomy.JSN_SITES), "box": set(anatomy.JOINT_NAMES)}
    for i, scheme, site in zip(s.index, s.scheme, s.site):
        if site not in valid_sites.get(scheme, set()):
            bad_score.setdefault(i, f"unknown {scheme} site {site!r}")
    for column in [c for c in s.columns if c.startswith("reader_")] + ["grade"]:
        if column not in s:
            continue
        reasons = grade_problems(s[column], s.kind, column)
        if column == "grade":  # aggregated labels may be means: only range and parsing matter
            reasons = reasons.where(~reasons.str.contains("whole grade"), "")
        for i in reasons.index[reasons != ""]:
            bad_score.setdefault(i, reasons[i])

    problems = [Problem("radiographs", str(r.radiograph_id[i]), why) for i, why in bad_rad.items()]
    problems += [Problem("scores", f"{s.radiograph_id[i]}/{s.hand[i]}/{s.site[i]}/{s.kind[i]}", why) for i, why in bad_score.items()]
    if not problems:
        _refuse_empty(dataset, r, [])
        return dataset
    if strict:
        raise DataValidationError(f"data set {dataset.name!r}", problems)
    dropped_ids = set(r.radiograph_id[list(bad_rad)])
    keep_r = r.drop(index=list(bad_rad))
    _refuse_empty(dataset, keep_r, problems)
    keep_s = s.drop(index=list(bad_score))
    keep_s = keep_s[~keep_s.radiograph_id.isin(dropped_ids - set(keep_r.radiograph_id))]
    skipped = pd.concat([dataset.skipped, skipped_frame(problems)], ignore_index=True)
    landmarks = dataset.landmarks
    if landmarks is not None:
        landmarks = landmarks[landmarks.radiograph_id.isin(set(keep_r.radiograph_id))]
    return RADataset(dataset.name, keep_r.reset_index(drop=True), keep_s.reset_index(drop=True), landmarks,
                     skipped, dataset.extras)  # fmt: skip


def _refuse_empty(dataset: RADataset, kept: pd.DataFrame, problems: list[Problem]) -> None:
    """A lenient load that keeps no radiograph of a source that had some is an error, not a result."""
    if len(kept) or not (len(dataset.radiographs) or len(dataset.skipped)):
        return
    earlier = [Problem(t, str(row), why) for t, row, why in dataset.skipped[["table", "row", "reason"]].itertuples(index=False)]
    raise DataValidationError(f"data set {dataset.name!r}: no radiograph is left after skipping", reason_counts(earlier + problems))


def reason_counts(problems: list[Problem]) -> list[str]:
    """Problems grouped by reason (numbers and names stripped), most frequent first, with an example."""
    groups: dict[str, list[Problem]] = {}
    for p in problems:
        groups.setdefault(_reason_kind(p.reason), []).append(p)
    ranked = sorted(groups.values(), key=len, reverse=True)
    return [f"{len(g)} x {g[0]}" for g in ranked]


def _reason_kind(reason: str) -> str:
    return re.sub(r"'[^']*'|\S*[/\\]\S*|\d+(\.\d+)?", "_", reason)


def _image_problems(radiographs: pd.DataFrame, how: str) -> dict:
    """Per row index: why its image cannot be used (rows without a problem are absent)."""
    problems = {}
    for i, row in radiographs.iterrows():
        path = row.image_path
        if not path or not Path(path).exists():
            problems[i] = f"label without image: {path or '(no file name)'} not found"
            continue
        try:
            if how == "header":
                probe_image(path)
            elif how == "decode":
                read_radiograph(row)
        except ImageReadError as exc:
            problems[i] = f"unreadable image: {exc}"
    return problems
