"""RA2-DREAM: single-hand (and foot) JPEGs ``{Patient_ID}-{LH|RH|LF|RF}.jpg`` and ``training.csv``.

``training.csv`` has exactly 90 columns (4 overall, 62 hand sites, 24 foot sites) in the order of
:data:`COLUMNS`; grades may be written as integers or as floats such as ``2.0``. Each hand image
becomes one radiograph whose label is that hand's SvdH total; the feet are parsed and kept aside in
``dataset.extras["feet"]`` (foot erosion goes to 10 per site).

Example:
    >>> len(COLUMNS)
    90
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ralib import anatomy
from ralib.data.export import export_folder
from ralib.data.io import read_radiograph
from ralib.data.model import RADataset, finish
from ralib.data.tables import read_csv
from ralib.data.validate import DataValidationError, Problem, require_columns, skipped_frame, validate
from ralib.splits import patient_split

HAND_E = [f"{h}_{s}" for h in anatomy.HANDS for s in anatomy.EROSION_SITES]
HAND_J = [f"{h}_{s}" for h in anatomy.HANDS for s in anatomy.JSN_SITES]
FOOT_E = [f"{f}_mtp_E__{s}" for f in ("LF", "RF") for s in ("ip", "1", "2", "3", "4", "5")]
FOOT_J = (
    ["RF_mtp_J__ip"] + [f"LF_mtp_J__{i}" for i in range(1, 6)] + ["LF_mtp_J__ip"] + [f"RF_mtp_J__{i}" for i in range(1, 6)]
)  # the original's odd order
OVERALL = ["Overall_Tol", "Overall_erosion", "Overall_narrowing"]
COLUMNS = ["Patient_ID", *OVERALL, *HAND_E, *FOOT_E, *HAND_J, *FOOT_J]
IMAGE_PATTERN = re.compile(r"^(?P<pid>.+)-(?P<part>LH|RH|LF|RF)\.(jpe?g|png)$", re.IGNORECASE)


def load(root: str | Path, csv: str = "training.csv", seed: int = 0, strict: bool = True,
         image_dir: str | Path | None = None, check_images: str = "header", predictions: bool = False) -> RADataset:  # fmt: skip
    """Load an RA2-DREAM folder: ``training.csv`` plus the images anywhere below ``image_dir`` (default:
    ``root``).

    ``predictions=True`` reads a table of predictions in the same layout (:func:`write_predictions`, as
    the challenge took submissions): scores may be fractional, foot columns may be empty, and images are
    not needed (``check_images`` is then ``none``); images of patients it does not score are no problem.

    The challenge's labels carry no split: patients are split by :func:`~ralib.splits.patient_split`
    with ``seed`` (both hands of a patient on one side). Two files for one image (``UAB001-LH.jpg`` in
    ``train/`` and in ``old/``) are a problem: an error in strict mode, a listed skip in lenient mode.
    """
    root = Path(root)
    table = read_csv(root / csv, text=["Patient_ID"])
    require_columns(table, COLUMNS, str(root / csv))
    problems: list[Problem] = []
    if len(table.columns) != len(COLUMNS):
        extra = [c for c in table.columns if c not in COLUMNS]
        problems.append(Problem(csv, "", f"unexpected columns {extra}"))
    table["Patient_ID"] = table.Patient_ID.astype(str)
    for i in table.index[table.Patient_ID.duplicated(keep=False)]:
        problems.append(Problem(csv, table.Patient_ID[i], "duplicate Patient_ID"))

    grades = table[HAND_E + HAND_J + FOOT_E + FOOT_J].apply(pd.to_numeric, errors="coerce")
    for column in HAND_E + HAND_J + FOOT_E + FOOT_J:
        top = _top(column)
        values = grades[column]
        if predictions:  # any score in range; feet may be left out
            missing = values.isna() & (table[column].notna() | (column not in FOOT_E + FOOT_J))
            bad = missing | (values < 0) | (values > top)
        else:
            bad = values.isna() | (values < 0) | (values > top) | (values % 1 != 0)
        for i in table.index[bad]:
            what = "a score" if predictions else "a grade"
            problems.append(Problem(csv, table.Patient_ID[i], f"{column} = {table.loc[i, column]} is not {what} 0-{top}"))
    sums = {
        "Overall_erosion": grades[HAND_E + FOOT_E].sum(axis=1),
        "Overall_narrowing": grades[HAND_J + FOOT_J].sum(axis=1),
    }
    sums["Overall_Tol"] = sums["Overall_erosion"] + sums["Overall_narrowing"]
    for column, expected in sums.items():
        stated = pd.to_numeric(table[column], errors="coerce")
        for i in table.index[(stated - expected).abs() > 1e-6]:
            problems.append(Problem(csv, table.Patient_ID[i], f"{column} = {stated[i]:g} but the sites add up to {expected[i]:g}"))

    image_root = Path(image_dir) if image_dir else root
    check_images = "none" if predictions else check_images
    candidates = _find_images(image_root)
    ambiguous = {key: paths for key, paths in candidates.items() if len(paths) > 1}
    for (pid, part), paths in sorted(ambiguous.items()):
        problems.append(Problem("images", f"{pid}-{part}", f"{len(paths)} files for one image: {', '.join(paths)}"))
    images = {key: paths[0] for key, paths in candidates.items() if len(paths) == 1}
    rows, feet = [], []
    for i, pid in table.Patient_ID.items():
        for hand in anatomy.HANDS:
            path = images.pop((pid, hand), "")
            rows.append({"radiograph_id": f"{pid}-{hand}", "patient_id": pid, "image_path": path, "hands": hand,
                         "score": grades.loc[i, [c for c in HAND_E + HAND_J if c.startswith(hand)]].sum()})  # fmt: skip
        feet.append({"patient_id": pid, **{f: images.pop((pid, f), "") for f in ("LF", "RF")}})
    for (pid, part), path in images.items():
        if part in anatomy.HANDS and not predictions:  # predictions may score some of the films beside them
            problems.append(Problem("images", f"{pid}-{part}", f"image without labels: {path}"))
    bad_ids = {p.row for p in problems if p.table == csv}
    if problems and strict:
        raise DataValidationError(f"RA2-DREAM {root}", problems)

    scores = []
    for i, pid in table.Patient_ID.items():
        if pid in bad_ids:
            continue
        for column in HAND_E + HAND_J:
            hand, site = column.split("_", 1)
            scores.append({"radiograph_id": f"{pid}-{hand}", "hand": hand, "scheme": "svdh", "site": site,
                           "kind": "erosion" if "_E__" in site else "jsn", "grade": grades.loc[i, column]})  # fmt: skip
    radiographs = pd.DataFrame(rows)
    ambiguous_ids = {f"{pid}-{part}" for pid, part in ambiguous}
    radiographs = radiographs[~radiographs.patient_id.isin(bad_ids) & ~radiographs.radiograph_id.isin(ambiguous_ids)]
    radiographs["split"] = patient_split(radiographs, seed=seed)
    scores = pd.DataFrame(scores)
    scores = scores[scores.radiograph_id.isin(set(radiographs.radiograph_id))] if len(scores) else scores
    foot_table = pd.DataFrame(feet).merge(grades[FOOT_E + FOOT_J].assign(patient_id=table.Patient_ID), on="patient_id")
    dataset = RADataset("ra2dream", finish(radiographs, "ra2dream", image_root), scores, extras={"feet": foot_table})
    dataset.skipped = skipped_frame(problems)
    return validate(dataset, strict=strict, images=check_images)


def write_predictions(scores: pd.DataFrame, path: str | Path, column: str = "prediction", decimals: int = 4,
                      overwrite: bool = False) -> Path:  # fmt: skip
    """Predicted hand scores as an RA2-DREAM table (how the challenge took submissions), readable by
    :func:`load` with ``predictions=True``.

    ``scores`` has one row per patient, hand and SvdH site: ``patient_id``, ``hand`` (LH / RH), ``site``
    (``mcp_E__2`` ...) and the prediction in ``column``. Every column of ``training.csv`` is written in its
    order; the overall scores are the sums of the hand sites; the foot columns are present and empty
    (nothing is predicted for feet, and nothing is invented). Scores are rounded to ``decimals``.

    Refused, before anything is written: a prediction that is not finite or lies outside the site's grades
    (0-5 erosion, 0-4 narrowing: clip a regressor's outputs first), two predictions for one site, a missing
    site; an existing file at ``path`` unless ``overwrite`` (an earlier predictions table), and a label table
    (scored feet, or not in this layout) always.

    Example:
        >>> write_predictions(hand_scores, "predictions.csv")                              # doctest: +SKIP
    """
    path = Path(path)
    _refuse_to_overwrite(path, overwrite)
    keys = ["patient_id", "hand", "site"]
    twice = scores[scores.duplicated(keys, keep=False)]
    if len(twice):
        raise ValueError(f"two or more predictions for one site: {_rows(twice, keys)}")
    values = pd.to_numeric(scores[column], errors="coerce")
    top = (scores.hand + "_" + scores.site).map(_top).to_numpy()
    bad = ~np.isfinite(values) | (values < 0) | (values > top)
    if bad.any():
        raise ValueError(f"predictions must be finite and within the site's grades (0-{anatomy.EROSION_MAX} erosion, "
                         f"0-{anatomy.JSN_MAX} narrowing; clip them first): {_rows(scores[bad], [*keys, column])}")  # fmt: skip
    wide = scores.assign(col=scores.hand + "_" + scores.site).pivot_table(index="patient_id", columns="col", values=column,
                                                                          aggfunc="first", sort=False)  # fmt: skip
    missing = [c for c in HAND_E + HAND_J if c not in wide]
    incomplete = wide[[c for c in HAND_E + HAND_J if c in wide]].isna().any(axis=1)
    if missing or incomplete.any():
        raise ValueError(f"every hand site needs a prediction: missing columns {missing[:4]}, "
                         f"incomplete patients {list(wide.index[incomplete])[:4]}")  # fmt: skip
    table = wide[HAND_E + HAND_J].astype(float).round(decimals)
    table["Overall_erosion"] = table[HAND_E].sum(axis=1).round(decimals)
    table["Overall_narrowing"] = table[HAND_J].sum(axis=1).round(decimals)
    table["Overall_Tol"] = (table.Overall_erosion + table.Overall_narrowing).round(decimals)
    for foot in FOOT_E + FOOT_J:
        table[foot] = np.nan
    table = table.rename_axis("Patient_ID").reset_index()
    table[COLUMNS].to_csv(path, index=False)
    return path


def _top(column: str) -> int:
    """The highest grade of an RA2-DREAM column: 10 for a foot's erosion, 5 for a hand's, 4 for narrowing."""
    return 10 if column in FOOT_E else anatomy.EROSION_MAX if "_E__" in column else anatomy.JSN_MAX


def _refuse_to_overwrite(path: Path, overwrite: bool) -> None:
    """An error unless ``path`` is new, or an earlier predictions table (RA2-DREAM columns, feet empty) and ``overwrite``."""
    if not path.exists():
        return
    try:
        existing = pd.read_csv(path, nrows=1000)
        predictions = set(COLUMNS) <= set(existing.columns) and existing[FOOT_E + FOOT_J].isna().all().all()
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        predictions = False
    if not predictions:
        raise FileExistsError(f"{path} is a label table or another file, not a predictions table: predictions never "
                              f"replace it; write them to a new file")  # fmt: skip
    if not overwrite:
        raise FileExistsError(f"{path} exists (an earlier predictions table): pass overwrite=True to replace it")


def _rows(table: pd.DataFrame, columns: list[str], n: int = 4) -> str:
    """The first ``n`` rows of ``table`` as ``a / b / c`` text, and how many there are."""
    shown = "; ".join(" / ".join(str(v) for v in row) for row in table[columns].head(n).itertuples(index=False))
    return f"{shown}{' ...' if len(table) > n else ''} ({len(table)} rows)"


def _find_images(root: Path) -> dict[tuple[str, str], list[str]]:
    """Every file named like an RA2-DREAM image below ``root``: (patient, part) -> its paths."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(root.rglob("*")):
        m = IMAGE_PATTERN.match(path.name)
        if m and path.is_file():
            found.setdefault((m["pid"], m["part"].upper()), []).append(str(path.relative_to(root)))
    return found


def export(dataset: RADataset, target: str | Path, exif_every: int = 5, quality: int = 92, overwrite: bool = False) -> Path:
    """Write a dual-hand data set as RA2-DREAM into a new folder: one JPEG per hand cut at its hand box,
    ``training.csv``.

    Hand grades are the rounded mean of the readers (the challenge published one consensus grade);
    feet are written as 0 and have no images. Every ``exif_every``-th JPEG is stored rotated with an
    EXIF orientation tag that turns it back, as some real files are. ``target`` must be new or empty
    (``overwrite=True`` replaces an earlier export; see :func:`ralib.data.export.export_folder`).
    """
    with export_folder(target, "ra2dream", overwrite) as folder:
        _write(dataset, folder, exif_every, quality)
    return Path(target)


def export_ids(dataset: RADataset) -> dict[str, str]:
    """The ``Patient_ID`` :func:`export` gives each film of ``dataset``: ``UAB001``, ``UAB002`` ... in film order.

    Example:
        >>> from ralib.data.model import RADataset
        >>> ds = RADataset.empty("x"); ds.radiographs = pd.DataFrame({"radiograph_id": ["SYN7", "SYN2"]})
        >>> export_ids(ds)
        {'SYN7': 'UAB001', 'SYN2': 'UAB002'}
    """
    return {str(rid): f"UAB{n + 1:03d}" for n, rid in enumerate(dataset.radiographs.radiograph_id)}


def exported_boxes(dataset: RADataset, boxes: np.ndarray, hands: pd.DataFrame) -> dict[str, np.ndarray]:
    """Film-pixel boxes ``(n_hands, k, 4)`` of the hands in ``hands`` (``radiograph_id``, ``hand``) moved
    into the pixels of the hand JPEGs :func:`export` writes from ``dataset``: exported radiograph id
    (``UAB001-LH``, as :func:`load` names it) -> that hand's ``(k, 4)`` boxes. Hands of other films are left out.
    ``dataset`` must be the one exported, not a larger one: its film order names the patients."""
    ids, cut = export_ids(dataset), hand_boxes(dataset)
    out = {}
    for row, hand_boxes_ in zip(hands[["radiograph_id", "hand"]].astype(str).itertuples(index=False), np.asarray(boxes, float)):
        if row.radiograph_id in ids and (row.radiograph_id, row.hand) in cut:
            x0, y0 = (int(v) for v in cut[(row.radiograph_id, row.hand)][:2])
            out[f"{ids[row.radiograph_id]}-{row.hand}"] = hand_boxes_ - np.array([x0, y0, x0, y0], float)
    return out


def _write(dataset: RADataset, target: Path, exif_every: int, quality: int) -> None:
    (target / "train").mkdir()
    wide = np.floor(dataset.svdh_wide("grade") + 0.5)
    rows = []
    boxes = hand_boxes(dataset)
    ids = export_ids(dataset)
    for n, (_, r) in enumerate(dataset.radiographs.iterrows()):
        film = read_radiograph(r)
        pid = ids[str(r.radiograph_id)]
        for hand in anatomy.HANDS:
            x0, y0, x1, y1 = boxes[(r.radiograph_id, hand)]
            crop = film[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1]
            _save_jpeg(crop, target / "train" / f"{pid}-{hand}.jpg", rotate=(n * 2 + (hand == "RH")) % exif_every == 0, quality=quality)
        site = wide.loc[r.radiograph_id]
        row = {"Patient_ID": pid, **{c: int(site[c]) for c in HAND_E + HAND_J}, **{c: 0 for c in FOOT_E + FOOT_J}}
        row["Overall_erosion"] = sum(row[c] for c in HAND_E)
        row["Overall_narrowing"] = sum(row[c] for c in HAND_J)
        row["Overall_Tol"] = row["Overall_erosion"] + row["Overall_narrowing"]
        rows.append(row)
    pd.DataFrame(rows)[COLUMNS].to_csv(target / "training.csv", index=False)


def hand_boxes(dataset: RADataset) -> dict[tuple[str, str], tuple[float, float, float, float]]:
    """Each hand's box on its film, ``(radiograph_id, hand) -> (x0, y0, x1, y1)`` pixels: its landmarks'
    extent padded by 14 mm (40 px without a spacing). :func:`export` cuts each hand's JPEG at
    ``int(x0) ... int(x1)``, ``int(y0) ... int(y1)``, so a film position ``(x, y)`` lies at
    ``(x - int(x0), y - int(y0))`` in the exported image."""
    if dataset.landmarks is None:
        raise ValueError("exporting to RA2-DREAM needs hand positions (landmarks) to cut the hands apart")
    out = {}
    for (rid, hand), group in dataset.landmarks.groupby(["radiograph_id", "hand"]):
        pts = group[group.landmark != "forearm"]
        r = dataset.radiographs.set_index("radiograph_id").loc[rid]
        pad = 14 / r.spacing_mm if pd.notna(r.spacing_mm) else 40
        out[(rid, hand)] = (max(pts.x.min() - pad, 0), max(pts.y.min() - pad, 0), pts.x.max() + pad, pts.y.max() + pad)
    return out


def _save_jpeg(film: np.ndarray, path: Path, rotate: bool, quality: int) -> None:
    image = Image.fromarray(np.round(np.clip(film, 0, 1) * 255).astype(np.uint8))
    if rotate:  # store rotated 90 degrees counter-clockwise; orientation 6 tells viewers to turn it back
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6
        image.save(path, quality=quality, exif=exif)
    else:
        image.save(path, quality=quality)
