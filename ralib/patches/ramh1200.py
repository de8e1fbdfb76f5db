"""The per-joint crop layout of the public RAM-H1200 benchmark, read into and written from the joint-crop
cache, so that the joint-level models train and test on it unchanged.

Layout (``../shared/design/DATA_FORMATS.md``, as its repository's ``datasets/scorecls.py`` reads it)::

    {split}/_annotation_be_scores.json    {"<hand image name>": {"BE_R": 0, "BE_U": 1, ...}, ...}
    {split}/_annotation_jsn_scores.json   {"<hand image name>": {"JSN_MCP-T": 2, ...}, ...}
    {split}/{case}/{joint}.bmp            case = the hand image name's stem; one crop per joint

Joint codes are :data:`ralib.anatomy.RAMH1200_JOINTS`. Which hand a case is, is not in the layout. Grades
are integers there: writing rounds a label half up (SynthRA's image-level label is the mean of two
readers).

Example:
    >>> write_ramh1200(crop_cache(ds, "ramh1200", 96), "exports/ramh1200")     # doctest: +SKIP
    >>> read_ramh1200("exports/ramh1200", size=96).table.joint.nunique()       # doctest: +SKIP
    22
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from ralib import anatomy
from ralib.config import data_dir
from ralib.patches.cache import KINDS, CropCache, building, finish, ready

PREFIX = {"erosion": "BE", "jsn": "JSN"}
FILES = {"erosion": "_annotation_be_scores.json", "jsn": "_annotation_jsn_scores.json"}
VERSION = 1


def _site_of(code: str, kind: str) -> str:
    for site in anatomy.RAMH1200_JOINTS[code][1]:
        if KINDS[site.split("__")[0][-1]] == kind:
            return site
    return ""


def write_ramh1200(cache: CropCache, folder: str | Path, grades: str = "grade", splits: tuple[str, ...] | None = None) -> Path:
    """Write a ``ramh1200``-recipe cache in the benchmark's layout, graded by column ``<kind>_<grades>``
    (``grade``: the label; ``truth``; ``reader_1`` ...), the ``splits`` given (default all). Cases are
    ``<radiograph_id>_<hand>``."""
    if cache.meta.get("recipe") != "ramh1200":
        raise ValueError(f"the RAM-H1200 layout holds its own 22 joints: build the cache with recipe 'ramh1200', not {cache.meta.get('recipe')!r}")
    folder = Path(folder)
    t = cache.table if splits is None else cache.table[cache.table.split.isin(splits)]
    for split, part in t.groupby("split"):
        scores = {kind: {} for kind in PREFIX}
        for row in part.itertuples(index=False):
            case = f"{row.radiograph_id}_{row.hand}"
            (folder / split / case).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(cache.images[row.crop])).save(folder / split / case / f"{row.joint}.bmp")
            for kind in PREFIX:
                value = getattr(row, f"{kind}_{grades}", None)
                if getattr(row, f"{kind}_site") and value is not None and value == value:
                    scores[kind].setdefault(f"{case}.png", {})[f"{PREFIX[kind]}_{row.joint}"] = int(np.floor(float(value) + 0.5))
        for kind, table in scores.items():
            (folder / split / FILES[kind]).write_text(json.dumps(table, indent=1, sort_keys=True))
    return folder


def read_ramh1200(folder: str | Path, size: int, progress: bool = True) -> CropCache:
    """The benchmark's crops resized to ``size`` pixels as a crop cache (built once under
    ``<RALIB_DATA>/crops/``), with ``erosion_grade`` / ``jsn_grade`` from its annotations."""
    folder = Path(folder)
    splits = [s for s in ("train", "val", "test") if (folder / s).is_dir()]
    if not splits:
        raise FileNotFoundError(f"{folder}: no train / val / test folders of the RAM-H1200 layout")
    files = sorted(p for s in splits for p in (folder / s).glob("*/*.bmp"))
    if not files:
        raise FileNotFoundError(f"{folder}: no <case>/<joint>.bmp crops")
    stamp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha1(json.dumps([VERSION, size, stamp]).encode()).hexdigest()[:16]
    out = data_dir() / "crops" / f"ramh1200-{size}px-{key}"
    if ready(out):
        return CropCache.open(out)
    annotations = {(s, kind): _by_case(folder / s / FILES[kind]) for s in splits for kind in PREFIX}
    unknown = sorted({p.stem for p in files} - set(anatomy.RAMH1200_JOINTS))
    if unknown:
        raise ValueError(f"{folder}: crops of unknown joints {unknown[:5]}; RAM-H1200 has {', '.join(anatomy.RAMH1200_JOINTS)}")
    rows = []
    with building([out]) as (tmp,):
        images = np.lib.format.open_memmap(tmp / "crops.npy", mode="w+", dtype=np.uint8, shape=(len(files), size, size))
        for n, path in enumerate(tqdm(files, desc="RAM-H1200 crops", disable=not progress)):
            split, case, joint = path.parent.parent.name, path.parent.name, path.stem
            image = np.asarray(Image.open(path).convert("L"))
            if image.shape != (size, size):
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            images[n] = image
            row = {"crop": n, "radiograph_id": case, "patient_id": case, "split": split, "hand": "", "joint": joint}
            for kind in PREFIX:
                grades = annotations[split, kind].get(case, {})
                row[f"{kind}_site"] = _site_of(joint, kind)
                value = grades.get(f"{PREFIX[kind]}_{joint}")
                row[f"{kind}_grade"] = np.nan if value is None else float(value)
            rows.append(row)
        images.flush()
        del images
        finish(tmp, pd.DataFrame(rows), {"key": key, "recipe": "ramh1200", "size": size, "variant": "ramh1200", "source": str(folder)})
    return CropCache.open(out)


def _by_case(path: Path) -> dict[str, dict]:
    """An annotation file's grades by case (the files key hand image names, ``<case>.<ext>``)."""
    if not path.exists():
        return {}
    return {Path(name).stem: grades for name, grades in json.loads(path.read_text()).items()}
