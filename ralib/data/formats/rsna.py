"""RSNA Pediatric Bone Age: single children's hands with a bone age in months (pretraining task).

Layout::

    boneage-training-dataset.csv                          id, boneage, male (True/False, TRUE/FALSE or 1/0)
    boneage-training-dataset/boneage-training-dataset/{id}.png
    Validation Dataset.csv                                Image ID, male, Bone Age (months)   (optional)

Validation images are looked for anywhere below the root as ``{Image ID}.png``.

Example:
    >>> parse_male(pd.Series(["True", "FALSE", "1", "0"])).tolist()
    [True, False, True, False]
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from ralib.data.export import export_folder
from ralib.data.model import RADataset, finish
from ralib.data.tables import read_csv
from ralib.data.validate import DataValidationError, Problem, require_columns, skipped_frame, validate

TRAIN_CSV = "boneage-training-dataset.csv"
TRAIN_IMAGES = Path("boneage-training-dataset") / "boneage-training-dataset"
VALIDATION_CSV = "Validation Dataset.csv"
MIN_MONTHS, MAX_MONTHS = 1, 228  # the RSNA set's bone-age range
_TRUE = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}


def parse_male(values: pd.Series) -> pd.Series:
    """True/False from the spellings the RSNA files use; anything else becomes NaN."""
    return values.astype(str).str.strip().str.lower().map(_TRUE)


def load(root: str | Path, strict: bool = True, check_images: str = "header") -> RADataset:
    """Load the training (split ``train``) and, if present, validation (split ``val``) files.

    Rows whose sex or bone age (1-228 months) cannot be read are an error in strict mode and are left
    out, listed in ``skipped``, in lenient mode.
    """
    root = Path(root)
    train = read_csv(root / TRAIN_CSV, text=["id"])
    require_columns(train, ["id", "boneage", "male"], TRAIN_CSV)
    frames = [pd.DataFrame({"id": train.id, "boneage": train.boneage, "male": train.male, "split": "train",
                            "file": [str(TRAIN_IMAGES / f"{i}.png") for i in train.id]})]  # fmt: skip
    if (root / VALIDATION_CSV).exists():
        val = read_csv(root / VALIDATION_CSV, text=["Image ID"])
        require_columns(val, ["Image ID", "male", "Bone Age (months)"], VALIDATION_CSV)
        found = {p.stem: p.relative_to(root) for p in root.rglob("*.png")}
        frames.append(pd.DataFrame({"id": val["Image ID"], "boneage": val["Bone Age (months)"], "male": val.male,
                                    "split": "val", "file": [str(found.get(str(i), f"{i}.png")) for i in val["Image ID"]]}))  # fmt: skip
    table = pd.concat(frames, ignore_index=True)
    male = parse_male(table.male)
    age = pd.to_numeric(table.boneage, errors="coerce")
    bad_sex = male.isna()
    bad_age = age.isna() | (age < MIN_MONTHS) | (age > MAX_MONTHS)
    problems = [Problem("csv", str(i), f"male value {v!r} is not True/False/1/0") for i, v in zip(table.id[bad_sex], table.male[bad_sex])]
    problems += [Problem("csv", str(i), f"bone age {v!r} is not {MIN_MONTHS}-{MAX_MONTHS} months")
                 for i, v in zip(table.id[bad_age], table.boneage[bad_age])]  # fmt: skip
    if problems and strict:
        raise DataValidationError(f"RSNA bone age {root}", problems)
    ok = ~bad_sex & ~bad_age
    radiographs = pd.DataFrame({"radiograph_id": table.id.astype(str), "patient_id": table.id.astype(str),
                                "split": table.split, "image_path": table.file, "hands": "LH",
                                "sex": male.map({True: "M", False: "F"}), "bone_age": age})[ok]  # fmt: skip
    dataset = RADataset("rsna", finish(radiographs, "rsna", root), pd.DataFrame(columns=["radiograph_id", "hand", "scheme", "site", "kind", "grade"]))
    dataset.skipped = skipped_frame(problems)
    return validate(dataset, strict=strict, images=check_images)


def export_children(folder: str | Path, target: str | Path, overwrite: bool = False) -> Path:
    """Lay out a SynthRA children's folder (``ChildConfig``) as the RSNA training set, in a new folder
    (``overwrite=True`` replaces an earlier export; see :func:`ralib.data.export.export_folder`)."""
    folder = Path(folder)
    table = read_csv(folder / "children.csv", text=["id"])
    with export_folder(target, "rsna", overwrite) as out:
        (out / TRAIN_IMAGES).mkdir(parents=True)
        for image_id, file in zip(table.id, table.file):
            shutil.copyfile(folder / file, out / TRAIN_IMAGES / f"{image_id}.png")
        spelled = table.male.map({True: "True", False: "False"})
        pd.DataFrame({"id": table.id, "boneage": table.boneage, "male": spelled}).to_csv(out / TRAIN_CSV, index=False)
    return Path(target)
