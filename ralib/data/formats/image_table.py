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

from ralib.data.export import export_folder
from ralib.data.io import read_radiograph
from ralib.data.model import RADataset, finish
from ralib.data.tables import read_csv
from ralib.data.validate import Problem, raise_if_strict, require_columns, skipped_frame, validate
from ralib.splits import patient_split


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
    check_images: str = "header",
) -> RADataset:
    """Load a score table; patients default to one per row, splits to a patient-level split by ``seed``.

    Images are looked up by the file names of ``filename_column`` (which may hold relative paths)
    in ``image_dir`` (default: the CSV's folder), and where they are not there, by name anywhere below
    it, so a ``labels.csv`` beside an ``images/`` folder just works; a name found twice is a problem.
    Two rows naming one film are a problem too: with different labels both are left out (in lenient
    mode; an error in strict mode), with the same label one is kept.
    """
    csv = Path(csv)
    root = Path(image_dir) if image_dir else csv.parent
    text = [c for c in (id_column, filename_column, patient_column, split_column) if c]
    table = read_csv(csv, text=text)
    wanted = [c for c in (id_column, filename_column, score_column, sex_column, age_column, patient_column, split_column) if c]
    require_columns(table, wanted, str(csv))
    problems: list[Problem] = []
    score = pd.to_numeric(table[score_column], errors="coerce")
    bad_rows = set(table.index[score.isna() | (score < 0) | (score > 280)])
    for i in sorted(bad_rows):
        problems.append(Problem(csv.name, str(table[id_column][i]), f"{score_column} {table[score_column][i]!r} is not a total score 0-280"))
    files = table[filename_column].astype(str)
    for name, rows in table.groupby(files).groups.items():
        if len(rows) < 2:
            continue
        labels = sorted(set(score[rows].astype(str)))
        if len(labels) > 1:
            bad_rows |= set(rows)
            problems.append(Problem(csv.name, name, f"{len(rows)} rows name this film with different labels {labels}: "
                                                    "left out (one film must not sit in two splits)"))  # fmt: skip
        else:
            bad_rows |= set(rows[1:])
            problems.append(Problem(csv.name, name, f"{len(rows)} identical rows name this film: kept once", note=True))
    paths, image_problems = _locate(root, files)
    problems += image_problems
    sex = table[sex_column].astype(str).str.upper().str[0].where(table[sex_column].notna()) if sex_column else np.nan
    radiographs = pd.DataFrame(
        {
            "radiograph_id": table[id_column].astype(str),
            "patient_id": table[patient_column].astype(str) if patient_column else table[id_column].astype(str),
            "image_path": paths,
            "hands": "both",
            "age": pd.to_numeric(table[age_column], errors="coerce") if age_column else np.nan,
            "sex": sex,
            "score": score,
        }
    )
    raise_if_strict(f"score table {csv}", problems, strict)
    radiographs = radiographs.drop(index=sorted(bad_rows))
    radiographs["split"] = table.loc[radiographs.index, split_column].astype(str) if split_column else patient_split(radiographs, seed=seed)
    empty_scores = pd.DataFrame(columns=["radiograph_id", "hand", "scheme", "site", "kind", "grade"])
    dataset = RADataset("image_table", finish(radiographs, "image_table", root), empty_scores)
    dataset.skipped = skipped_frame(problems)
    return validate(dataset, strict=strict, images=check_images)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".dcm", ".dicom", ".tif", ".tiff", ".jp2")


def _locate(root: Path, files: pd.Series) -> tuple[list[str], list[Problem]]:
    """Each listed file's path: ``root / name`` where it exists, else the one file of that name below
    ``root``; with the problems (a name found twice, images that no row names)."""
    by_name: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            by_name.setdefault(path.name, []).append(path)
    problems, paths, used = [], [], set()
    for name in files:
        direct = root / name
        if direct.is_file():
            found = [direct]
        else:
            found = by_name.get(Path(name).name, [])
        if len(found) > 1:
            problems.append(Problem("images", name, f"{len(found)} files of this name: "
                                                    f"{', '.join(str(p.relative_to(root)) for p in found)}"))  # fmt: skip
        paths.append(str(found[0]) if len(found) == 1 else str(direct))
        used.update(p.resolve() for p in found)
    folders = {p.parent for p in used}  # unlisted images count only beside listed ones
    for path in sorted(p for group in by_name.values() for p in group):
        if path.resolve() not in used and path.resolve().parent in folders:
            problems.append(Problem("images", str(path.relative_to(root)), "image without labels"))
    return paths, problems


def export(dataset: RADataset, target: str | Path, quality: int = 92, overwrite: bool = False) -> Path:
    """Write dual-hand films as RGB JPEGs (as the real subset ships them) and ``scores.csv`` into a new
    folder (``overwrite=True`` replaces an earlier export; see :func:`ralib.data.export.export_folder`)."""
    with export_folder(target, "image_table", overwrite) as folder:
        rows = []
        for n, (_, r) in enumerate(dataset.radiographs.iterrows()):
            film = read_radiograph(r)
            grey = np.round(np.clip(film, 0, 1) * 255).astype(np.uint8)
            exam = 100000 + n
            Image.fromarray(np.stack([grey] * 3, axis=-1)).save(folder / f"DX{exam}.jpg", quality=quality)
            rows.append({"exam_number": exam, "filename": f"DX{exam}.jpg", "gender": r.sex, "age": r.age, "score_avg": r.score})
        pd.DataFrame(rows).to_csv(folder / "scores.csv", index=False)
    return Path(target)
