"""Image-level score tables: any CSV of file names and total scores plus an image folder.

Defaults follow the published subset of the 3,818-image dual-hand data set
(``exam_number, filename, gender, age, score_avg``; ``filename`` like ``DX130193.jpg``; ``gender`` F/M;
``score_avg`` the mean of two readers, possibly ending in .5). Column names are arguments, so other
tables load too.

Example:
    >>> import inspect
    >>> inspect.signature(load).parameters["score_column"].default
    'score_avg'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ralib.data.model import RADataset, finish
from ralib.data.splits import patient_split
from ralib.data.validate import DataValidationError, Problem, require_columns, skipped_frame, validate


def load(
    csv: str | Path,
    image_dir: str | Path | None = None,
    id_column: str = "exam_number",
    filename_column: str = "filename",
    score_column: str = "score_avg",
    sex_column: str | None = "gender",
    age_column: str | None = "age",
    patient_column: str | None = None,
    split_column: str | None = None,
    seed: int = 0,
    strict: bool = True,
) -> RADataset:
    """Load a score table; patients default to one per row, splits to a patient-level split by ``seed``."""
    csv = Path(csv)
    image_dir = Path(image_dir) if image_dir else csv.parent
    table = pd.read_csv(csv)
    wanted = [c for c in (id_column, filename_column, score_column, sex_column, age_column, patient_column, split_column) if c]
    require_columns(table, wanted, str(csv))
    problems = []
    score = pd.to_numeric(table[score_column], errors="coerce")
    for i in table.index[score.isna() | (score < 0) | (score > 280)]:
        problems.append(Problem(csv.name, str(table[id_column][i]), f"{score_column} {table[score_column][i]!r} is not a total score 0-280"))
    sex = table[sex_column].astype(str).str.upper().str[0].where(table[sex_column].notna()) if sex_column else np.nan
    radiographs = pd.DataFrame(
        {
            "radiograph_id": table[id_column].astype(str),
            "patient_id": table[patient_column].astype(str) if patient_column else table[id_column].astype(str),
            "image_path": [str(image_dir / f) for f in table[filename_column].astype(str)],
            "hands": "both",
            "age": pd.to_numeric(table[age_column], errors="coerce") if age_column else np.nan,
            "sex": sex,
            "score": score,
        }
    )
    listed = set(table[filename_column].astype(str))
    for path in sorted(image_dir.glob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".dcm") and path.name not in listed:
            problems.append(Problem("images", path.name, "image without labels"))
    if problems and strict:
        raise DataValidationError(f"score table {csv}", problems)
    bad = {p.row for p in problems if p.table == csv.name}
    radiographs = radiographs[~radiographs.radiograph_id.isin(bad)]
    radiographs["split"] = table.loc[radiographs.index, split_column].astype(str) if split_column else patient_split(radiographs, seed=seed)
    dataset = RADataset("image_table", finish(radiographs, "image_table", image_dir), pd.DataFrame(columns=["radiograph_id", "hand", "scheme", "site", "kind", "grade"]))
    dataset.skipped = skipped_frame(problems)
    return validate(dataset, strict=strict)


def export(dataset: RADataset, target: str | Path, quality: int = 92) -> Path:
    """Write dual-hand films as RGB JPEGs (as the real subset ships them) and ``scores.csv``."""
    from ralib.data.io import read_radiograph

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, (_, r) in enumerate(dataset.radiographs.iterrows()):
        film = read_radiograph(r)
        grey = np.round(np.clip(film, 0, 1) * 255).astype(np.uint8)
        exam = 100000 + n
        Image.fromarray(np.stack([grey] * 3, axis=-1)).save(target / f"DX{exam}.jpg", quality=quality)
        rows.append({"exam_number": exam, "filename": f"DX{exam}.jpg", "gender": r.sex, "age": r.age, "score_avg": r.score})
    pd.DataFrame(rows).to_csv(target / "scores.csv", index=False)
    return target
