"""The joint-crop cache: every joint crop of a data set for one crop recipe, cut once at the film's own
resolution and kept on disk as a memory-mapped uint8 array with a table saying what each crop is.

One cache per data set x recipe (``patches``, ``boxes``, ``ramh1200``: :data:`ralib.geometry.RECIPES`)
x crop size x landmark source. The landmarks are either the true ones (``variant="true"``) or a
localiser's predictions (``variant="predicted"``): two variants of the same crops, so that a scorer
trained and tested on both separates localisation error from scoring error. The key covers the
films (path, size, modification time), the recipe and its sizes in mm, the crop size, this module's
version and, for predicted crops, the localiser's fingerprint: a new localiser makes new crops.

The table has one row per crop: ``crop`` (its index in the array), ``radiograph_id``, ``patient_id``,
``split``, ``hand`` (LH / RH), ``block`` (0: left-hand pose, 1: right-hand pose), ``joint``, ``flipped``,
``photometric``, the crop's centre on the film ``cx``, ``cy`` (px), ``mm_per_px``, its ``size`` and where its pixels lie on the
film, rotation and mirroring included (:data:`ralib.geometry.PLACEMENT_COLUMNS`); then per disease
(``erosion``, ``jsn``) the SvdH site it shows (``erosion_site``, empty where none) and its grades:
``erosion_truth`` (synthetic data), ``erosion_reader_<k>`` and ``erosion_grade`` (the label), where known.
Crops are written to a temporary folder and renamed when complete, so an interrupted build leaves
nothing that looks finished.

Example:
    >>> cache = crop_cache(ds, "patches", 96)                             # doctest: +SKIP
    >>> cache.images.shape, cache.table.joint.iloc[:3].tolist()           # doctest: +SKIP
    ((30000, 96, 96), ['ip', 'dip2', 'dip3'])
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ralib import anatomy, geometry
from ralib.config import data_dir
from ralib.data.arrays import letterboxed_films, source_key, stretched_film
from ralib.data.model import RADataset
from ralib.integrity import intact, load_intact, seal
from ralib.landmarks.points import film_landmarks

CACHE_VERSION = 2  # bump when the cutting below or the table changes (2: placements)
KINDS = {"E": "erosion", "J": "jsn"}
BASE_COLUMNS = ("radiograph_id", "patient_id", "split", "hand", "block", "joint", "flipped", "photometric", "cx", "cy",
                "mm_per_px", "size", *geometry.PLACEMENT_COLUMNS, "erosion_site", "jsn_site")  # fmt: skip


@dataclass
class CropCache:
    """A finished cache: ``images`` (n, size, size) uint8 memory-mapped, ``table`` one row per crop."""

    folder: Path
    images: np.ndarray
    table: pd.DataFrame
    meta: dict

    def crops(self, rows) -> np.ndarray:
        """Crops ``rows`` as float32 in 0-1."""
        return np.asarray(self.images[rows], np.float32) / 255

    @classmethod
    def open(cls, folder: str | Path) -> "CropCache":
        folder = Path(folder)
        meta = json.loads((folder / "COMPLETE").read_text())
        text = {c: str for c in ("radiograph_id", "patient_id", "hand", "joint", "erosion_site", "jsn_site")}
        table = pd.read_csv(folder / "crops.csv", dtype=text)
        for column in ("erosion_site", "jsn_site", "hand"):
            if column in table:
                table[column] = table[column].fillna("")
        return cls(folder, np.load(folder / "crops.npy", mmap_mode="r"), table, meta)


@contextmanager
def building(folders: list[Path]) -> Iterator[list[Path]]:
    """Temporary folders in which to build the caches ``folders``: each replaces its folder when the block
    ends without error, and all are removed otherwise, so an interrupted build leaves nothing that looks
    finished. Write ``crops.npy`` into each, then :func:`finish` it."""
    temporary = [folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}" for folder in folders]
    try:
        for tmp in temporary:
            tmp.mkdir(parents=True)
        yield temporary
        for tmp, folder in zip(temporary, folders):
            if folder.exists():  # a folder an older build left without COMPLETE
                shutil.rmtree(folder)
            os.replace(tmp, folder)
    finally:
        for tmp in temporary:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def finish(tmp: Path, table: pd.DataFrame, meta: dict) -> None:
    """Write a cache's table and its COMPLETE record (``meta``, the number of crops and the checksum of
    ``crops.npy``, :func:`ralib.integrity.seal`) into ``tmp``."""
    table.to_csv(tmp / "crops.csv", index=False)
    (tmp / "COMPLETE").write_text(json.dumps(meta | {"n": len(table), "crops": seal(tmp / "crops.npy", keep_beside=False)}))


def ready(folder: Path) -> bool:
    """Whether the cache ``folder`` is finished and intact: its COMPLETE record is there and ``crops.npy`` has the
    length and checksum it records. A damaged cache is moved aside (``<folder>.damaged``), named, and to be built
    again."""
    if not (folder / "COMPLETE").exists():
        return False
    return intact(folder / "crops.npy", json.loads((folder / "COMPLETE").read_text()).get("crops"), aside=folder)


def block_hands(ds: RADataset) -> np.ndarray:
    """Which hand (LH / RH) each pose block of every film is, (n, 2): from the true landmarks where known,
    else from ``left_hand_side`` (the left-hand pose lies on the image's left), else the unflipped
    convention (block 0 the left hand)."""
    if ds.landmarks is not None and len(ds.landmarks):
        return film_landmarks(ds)[1]
    side = ds.radiographs.get("left_hand_side", pd.Series("image_left", index=ds.radiographs.index))
    left = (side.fillna("image_left") != "image_right").to_numpy()
    return np.where(left[:, None], [["LH", "RH"]], [["RH", "LH"]]).astype(object)


def crop_cache(ds: RADataset, recipe: str, size: int, localiser=None, progress: bool = True) -> CropCache:
    """The cache of ``recipe``'s crops of every film of ``ds`` at ``size`` pixels: at the true landmarks, or
    at ``localiser``'s predictions (a :class:`ralib.landmarks.localiser.Localiser`, or any object with a
    ``fingerprint()`` and a ``landmarks(ds)`` method giving (n, 74, 2) film pixels, such as
    :class:`ralib.landmarks.noise.JitteredLandmarks`; its ``variant`` attribute names the variant,
    ``predicted`` by default); built on first use."""
    return crop_caches(ds, [(recipe, localiser)], size, progress)[0]


def crop_caches(ds: RADataset, requests: list[tuple[str, object]], size: int, progress: bool = True) -> list[CropCache]:
    """Several caches at once, ``requests`` of ``(recipe, localiser or None)``: the ones not built yet are
    cut in one pass over the films, each film read once (reading a full-resolution film costs more than
    cutting all its crops)."""
    todo, out = [], []
    for recipe, localiser in requests:
        if recipe not in geometry.RECIPES:
            raise ValueError(f"unknown crop recipe {recipe!r}; choose one of {', '.join(geometry.RECIPES)}")
        variant = "true" if localiser is None else getattr(localiser, "variant", "predicted")
        source = "truth" if localiser is None else localiser.fingerprint()
        sizes = {"patches": geometry.PATCH_MM, "boxes": geometry.BOX_MM, "ramh1200": geometry.RAMH1200_MM}[recipe]
        key = hashlib.sha1(json.dumps([CACHE_VERSION, recipe, size, sizes, source, source_key("crops", ds.radiographs, size)]).encode()).hexdigest()[:16]
        folder = data_dir() / "crops" / f"{ds.name}-{recipe}-{size}px-{variant}-{key}"
        out.append(folder)
        if not ready(folder):
            todo.append((recipe, localiser, folder, {"key": key, "recipe": recipe, "size": size, "variant": variant, "source": source}))
    if todo:
        landmarks: dict[str, np.ndarray] = {}
        for _, localiser, _, meta in todo:
            if meta["source"] not in landmarks:
                if localiser is None:
                    landmarks["truth"] = film_landmarks(ds)[0]
                elif hasattr(localiser, "landmarks"):
                    landmarks[meta["source"]] = localiser.landmarks(ds)
                else:
                    landmarks[meta["source"]] = predicted_landmarks(ds, localiser, progress)
        _build(ds, [(recipe, landmarks[meta["source"]], folder, meta) for recipe, _, folder, meta in todo], size,
               block_hands(ds), progress)  # fmt: skip
    return [CropCache.open(folder) for folder in out]


def predicted_landmarks(ds: RADataset, localiser, progress: bool = True) -> np.ndarray:
    """The localiser's landmarks of every film (n, 74, 2) film pixels, NaN for hands it calls absent;
    kept on disk beside the crop caches (keyed by the films and the localiser's fingerprint), so every
    notebook that crops with one localiser locates the films once."""
    key = hashlib.sha1(json.dumps([localiser.fingerprint(), source_key("landmarks", ds.radiographs, 0)]).encode()).hexdigest()[:16]
    path = data_dir() / "crops" / f"{ds.name}-landmarks-{key}.npy"
    located = load_intact(path)
    if located is not None:
        return located
    coarse = letterboxed_films(ds, localiser.coarse_size, progress)
    fine = letterboxed_films(ds, localiser.fine_size, progress) if localiser.fine is not None else None
    first, second = localiser.locate_boxed(coarse, fine, np.arange(len(ds.radiographs)), progress)
    best = second or first
    xy = best.xy.copy()
    absent = ~best.found()
    xy.reshape(len(xy), 2, -1, 2)[absent] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(partial, xy)
    os.replace(partial, path)
    seal(path)
    return xy


def _grades(ds: RADataset) -> dict[tuple[str, str, str], dict[str, float]]:
    """SvdH grades per (radiograph, hand, site): truth, each reader and the label, where known."""
    s = ds.scores[ds.scores.scheme == "svdh"]
    columns = [c for c in ("truth", *ds.reader_columns, "grade") if c in s]
    return {(r, h, site): dict(zip(columns, values)) for r, h, site, *values in
            s[["radiograph_id", "hand", "site", *columns]].itertuples(index=False)}  # fmt: skip


def _box_grades(ds: RADataset) -> dict[tuple[str, str, str, str], dict[str, float]]:
    s = ds.scores[ds.scores.scheme == "box"]
    columns = [c for c in ("truth", *ds.reader_columns, "grade") if c in s]
    return {(r, h, joint, kind): dict(zip(columns, values)) for r, h, joint, kind, *values in
            s[["radiograph_id", "hand", "site", "kind", *columns]].itertuples(index=False)}  # fmt: skip


def _sites(recipe: str, joint: str) -> dict[str, str]:
    """The SvdH site of each disease a crop shows ("" where none)."""
    if recipe == "boxes":
        return {"erosion": joint, "jsn": joint}  # graded by the joint-level experts under the box's own name
    sites = anatomy.PATCH_SITES[joint] if recipe == "patches" else anatomy.RAMH1200_JOINTS[joint][1]
    out = {"erosion": "", "jsn": ""}
    for site in sites:
        out[KINDS[site.split("__")[0][-1]]] = site
    return out


def _plan(ds: RADataset, recipe: str, size: int, landmarks: np.ndarray, hands: np.ndarray, svdh: dict, boxes: dict):
    """The rows of one cache's table and, per row, the film and the square to cut."""
    frames_of = geometry.RECIPES[recipe]
    k = len(anatomy.LANDMARKS)
    rows, jobs = [], []
    for i, row in enumerate(ds.radiographs.itertuples(index=False)):
        spacing = row.spacing_mm if row.spacing_mm == row.spacing_mm else None
        for block in (0, 1):
            xy = landmarks[i, block * k : (block + 1) * k]
            if not np.isfinite(xy).all():
                continue
            mm = spacing or geometry.wrist_width_spacing(xy)  # the MIL paper's rule where the film has none
            for joint, frame in frames_of(xy, mm).items():
                hand = hands[i, block] or ("LH", "RH")[block]
                entry = {"radiograph_id": str(row.radiograph_id), "patient_id": str(row.patient_id), "split": row.split,
                         "hand": hand, "block": block, "joint": joint, "flipped": bool(getattr(row, "flipped", False)),
                         "photometric": getattr(row, "photometric", ""), "cx": frame.centre[0], "cy": frame.centre[1],
                         "mm_per_px": frame.side_mm / size, "size": size, **geometry.Placement.from_frame(frame, size).columns()}  # fmt: skip
                for kind, site in _sites(recipe, joint).items():
                    entry[f"{kind}_site"] = site
                    found = boxes.get((str(row.radiograph_id), hand, site, kind)) if recipe == "boxes" else svdh.get((str(row.radiograph_id), hand, site))
                    for column, value in (found or {}).items():
                        entry[f"{kind}_{column}"] = value
                rows.append(entry)
                jobs.append((i, frame))
    return rows, jobs


def _build(ds: RADataset, caches: list[tuple[str, np.ndarray, Path, dict]], size: int, hands: np.ndarray, progress: bool) -> None:
    """Cut every cache of ``caches`` (recipe, landmarks, folder, meta) in one pass over the films."""
    svdh, boxes = _grades(ds), _box_grades(ds)
    plans = [_plan(ds, recipe, size, landmarks, hands, svdh, boxes) for recipe, landmarks, _, _ in caches]
    with building([folder for _, _, folder, _ in caches]) as temporary:
        arrays = [np.lib.format.open_memmap(tmp / "crops.npy", mode="w+", dtype=np.uint8, shape=(len(jobs), size, size))
                  for tmp, (_, jobs) in zip(temporary, plans)]  # fmt: skip
        by_film: dict[int, list[tuple[int, int, geometry.Frame]]] = {}
        for c, (_, jobs) in enumerate(plans):
            for n, (i, frame) in enumerate(jobs):
                by_film.setdefault(i, []).append((c, n, frame))
        names = ", ".join(f"{recipe} ({meta['variant']})" for recipe, _, _, meta in caches)
        for i in tqdm(sorted(by_film), desc=f"crops at {size} px: {names}", disable=not progress):
            film = stretched_film(ds.radiographs.iloc[i])
            for c, n, frame in by_film[i]:
                arrays[c][n] = np.round(np.clip(geometry.cut(film, frame, size), 0, 1) * 255).astype(np.uint8)
        for array in arrays:
            array.flush()
        arrays.clear()  # close the memory maps before the folders move
        for tmp, (rows, _), (_, _, _, meta) in zip(temporary, plans, caches):
            table = pd.DataFrame(rows, columns=list(dict.fromkeys([*BASE_COLUMNS, *(k for r in rows for k in r)])))
            table.insert(0, "crop", range(len(table)))
            finish(tmp, table, meta)
