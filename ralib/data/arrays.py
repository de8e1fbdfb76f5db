"""Model-ready image arrays: every film of a data set read once, normalised, resized and cached.

Reading a 16-bit 1024-px PNG takes longer than a training step on its 192-px version, so the
whole-image and per-hand models read their inputs from an ``(n, size, size)`` float16 array in 0-1
that is built once per data set and size and kept under ``<RALIB_DATA>/arrays/``. The cache key
covers the image files (path, size, modification time), the size and this module's preprocessing,
so a changed film or method never reuses a stale array.

Preprocessing follows the papers: each film is read with bone bright (:func:`read_radiograph`),
its intensities stretched between the 0.5th and 99.5th percentiles (films differ in bit depth and
exposure), and resized to a square (the MIUA 2024 and 2024 diagnosis papers both resize to a
square without keeping the aspect ratio).

Example:
    >>> import numpy as np
    >>> film = np.linspace(0, 0.25, 100, dtype=np.float32).reshape(10, 10)
    >>> out = to_square(film, 4)
    >>> out.shape, bool(0 <= out.min() and out.max() <= 1)
    ((4, 4), True)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ralib.config import data_dir
from ralib.data.io import read_radiograph
from ralib.data.model import RADataset
from ralib.integrity import intact, load_intact, seal
from ralib.preprocess import hand_images, split_hands

ARRAY_VERSION = 2  # bump when the preprocessing below changes (2: films stretched in steps of 1/65535, stretched_film)

#: decoded films are kept under ``<RALIB_DATA>/films/`` up to this many GB (``$RALIB_FILM_CACHE_GB``; 0 keeps none)
FILM_CACHE_GB = 16.0
_FILM_STEPS = 65535  # a stretched film is stored as uint16: steps of 1/65535, far below what any array cut from it keeps
_film_cache_bytes: dict[Path, int] = {}  # per folder: what it held when this process first looked, plus what it wrote since


def stretch(film: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Film intensities mapped from their ``low``-``high`` percentiles to 0-1."""
    lo, hi = np.percentile(film, [low, high])
    return np.clip((film - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def stretched_film(row) -> np.ndarray:
    """The film of one row of a data set's ``radiographs`` table, read (:func:`read_radiograph`) and stretched to 0-1
    (:func:`stretch`) in steps of 1/65535, as float32.

    Every notebook cuts its own arrays (squares, hands, crops, tiles) from the same films, so a film is decoded once and
    kept as uint16 under ``<RALIB_DATA>/films/`` (keyed by the file's path, size, modification time and how it is read),
    up to :data:`FILM_CACHE_GB`; later passes read that array instead of decoding and stretching the image file again
    (about 100 ms a 1750-px film on the build machine). Cached or not, the values are the same.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp()); os.environ["RALIB_DATA"] = str(folder / "data")
        >>> _ = cv2.imwrite(str(folder / "film.png"), np.arange(64 * 48, dtype=np.uint16).reshape(64, 48))
        >>> film = stretched_film({"image_path": str(folder / "film.png")})
        >>> film.dtype, film.shape, float(film.min()), float(film.max())
        (dtype('float32'), (64, 48), 0.0, 1.0)
        >>> sorted(kept.suffix for kept in (folder / "data" / "films").iterdir())  # read from here next time, if intact
        ['.npy', '.sealed']
    """
    path = _film_cache_path(row)
    steps = load_intact(path) if path is not None else None  # a damaged file is moved aside and decoded again
    if steps is None:
        steps = np.round(stretch(read_radiograph(row)) * _FILM_STEPS).astype(np.uint16)
        if path is not None:
            _keep_film(path, steps)
    return np.multiply(steps, np.float32(1 / _FILM_STEPS), dtype=np.float32)


def _film_cache_path(row) -> Path | None:
    image = Path(row["image_path"])
    try:
        stat = image.stat()
    except OSError:
        return None  # read_radiograph names the missing file
    read_as = [str(row.get(c, "")) for c in ("bits", "photometric")]
    text = json.dumps([ARRAY_VERSION, str(image.resolve()), stat.st_size, stat.st_mtime_ns, read_as])
    return data_dir() / "films" / f"{image.stem}-{hashlib.sha1(text.encode()).hexdigest()[:16]}.npy"


def _keep_film(path: Path, steps: np.ndarray) -> None:
    """Store a decoded film unless the folder would grow beyond :data:`FILM_CACHE_GB`."""
    limit = float(os.environ.get("RALIB_FILM_CACHE_GB", FILM_CACHE_GB)) * 1e9
    folder = path.parent
    if folder not in _film_cache_bytes:
        _film_cache_bytes[folder] = sum(f.stat().st_size for f in folder.glob("*.npy")) if folder.exists() else 0
    if _film_cache_bytes[folder] + steps.nbytes > limit:
        return
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(partial, steps)
    os.replace(partial, path)
    seal(path)
    _film_cache_bytes[folder] += steps.nbytes


def to_square(film: np.ndarray, size: int) -> np.ndarray:
    """A stretched film resized to ``size`` x ``size`` (area interpolation)."""
    return cv2.resize(stretch(film), (size, size), interpolation=cv2.INTER_AREA)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Images (n, h, w) resized to ``size`` x ``size`` pixels (area interpolation), in their dtype.

    Example:
        >>> resize_images(np.zeros((3, 96, 96), np.uint8), 64).shape
        (3, 64, 64)
    """
    if images.shape[1:] == (size, size):
        return np.asarray(images)
    out = np.empty((len(images), size, size), images.dtype)
    for i, image in enumerate(images):
        out[i] = cv2.resize(np.asarray(image), (size, size), interpolation=cv2.INTER_AREA)
    return out


def film_array(ds: RADataset, size: int, progress: bool = True, cache: bool = True) -> np.ndarray:
    """Every radiograph of ``ds`` as one square image, in the order of ``ds.radiographs``.

    Example:
        >>> films = film_array(ds, 192)        # doctest: +SKIP
        >>> films.shape                        # doctest: +SKIP
        (600, 192, 192)
    """
    rows = ds.radiographs

    def build() -> np.ndarray:
        out = np.zeros((len(rows), size, size), np.float16)
        for i, (_, row) in enumerate(tqdm(rows.iterrows(), total=len(rows), desc=f"films at {size} px", disable=not progress)):
            out[i] = cv2.resize(stretched_film(row), (size, size), interpolation=cv2.INTER_AREA)
        return out

    return _cached("films", rows, size, build, cache)[0]


def hand_array(ds: RADataset, size: int, progress: bool = True, cache: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Every hand of ``ds`` as one square image, with a table saying whose hand each one is.

    Dual-hand films are split by the minimum-energy seam (:func:`ralib.preprocess.split_hands`) and
    each side is named by :func:`hand_sides`; single-hand films are used whole. The table has
    ``radiograph_id``, ``patient_id``, ``split``, ``hand`` (LH/RH), the part of the film the image shows
    (``x0``, ``y0``, ``x1``, ``y1`` in film pixels, end exclusive; the image stretches it to a square) and,
    where joint boxes or landmarks are known, ``seam_correct``: whether all of that hand's box centres
    (else landmarks) lie on its side of the seam. Only the images and the seam check are cached; patients and splits are taken
    from ``ds`` on every call, so a changed split is never served stale.
    """
    rows = ds.radiographs
    sides = hand_sides(ds) if (rows.hands == "both").any() else None
    truth = _hand_points(ds)

    def build() -> tuple[np.ndarray, pd.DataFrame]:
        images, table = [], []
        for _, row in tqdm(rows.iterrows(), total=len(rows), desc=f"hands at {size} px", disable=not progress):
            film = stretched_film(row)
            if row.hands in ("LH", "RH"):
                crops = {row.hands: (film, None, (0, 0, film.shape[1], film.shape[0]))}
            else:
                split = split_hands(film)
                image_left, image_right = hand_images(film, split, fill=0.0)
                left = (image_left, "left", split.left_box)
                right = (image_right, "right", split.right_box)
                left_on_left = sides[row.radiograph_id] == "image_left"
                crops = {"LH": left if left_on_left else right, "RH": right if left_on_left else left}
            for hand, (crop, side, box) in crops.items():
                points = truth.get((row.radiograph_id, hand))
                correct = np.nan if side is None or points is None else float(all(split.side_of(x, y) == side for x, y in points))
                images.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float16))
                table.append({"radiograph_id": row.radiograph_id, "hand": hand, "seam_correct": correct,
                              **dict(zip(("x0", "y0", "x1", "y1"), map(int, box)))})  # fmt: skip
        return np.stack(images), pd.DataFrame(table)

    inputs = {"layout": "with the film box", "sides": None if sides is None else sides.reindex(rows.radiograph_id).tolist(),
              "points": sorted((k[0], k[1], [(round(x, 1), round(y, 1)) for x, y in v]) for k, v in truth.items())}  # fmt: skip
    images, table = _cached("hands", rows, size, build, cache, inputs)
    owners = rows[["radiograph_id", "patient_id", "split"]].astype({"radiograph_id": str})
    table = table.astype({"radiograph_id": str}).merge(owners, on="radiograph_id", how="left", validate="many_to_one")
    return images, table[["radiograph_id", "patient_id", "split", "hand", "x0", "y0", "x1", "y1", "seam_correct"]]


def hand_sides(ds: RADataset) -> pd.Series:
    """Per radiograph, on which side of the image the left hand lies: ``image_left`` / ``image_right``.

    From the ``left_hand_side`` column where a source gives it, else from where the left and right
    hands' landmarks or joint boxes lie. Raises, naming the films, when neither is known.
    """
    r = ds.radiographs.set_index("radiograph_id")
    if "left_hand_side" in r and r.left_hand_side.isin(["image_left", "image_right"]).all():
        return r.left_hand_side
    mean_x = {key: np.mean([p[0] for p in points]) for key, points in _hand_points(ds).items()}
    sides = {}
    for rid in r.index:
        if (rid, "LH") in mean_x and (rid, "RH") in mean_x:
            sides[rid] = "image_left" if mean_x[rid, "LH"] < mean_x[rid, "RH"] else "image_right"
    missing = [rid for rid in r.index[r.hands == "both"] if rid not in sides]
    if missing:
        raise ValueError(f"cannot tell which side holds the left hand for {len(missing)} dual-hand films "
                         f"(e.g. {missing[:3]}): add a 'left_hand_side' column (image_left / image_right)")  # fmt: skip
    return pd.Series(sides, name="left_hand_side")


def _hand_points(ds: RADataset) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Known points of each hand: joint box centres, else landmarks."""
    s = ds.scores
    if "x0" in s and s.x0.notna().any():
        boxes = s[s.x0.notna()].drop_duplicates(["radiograph_id", "hand", "site"])
        cx, cy = (boxes.x0 + boxes.x1) / 2, (boxes.y0 + boxes.y1) / 2
        frame = pd.DataFrame({"radiograph_id": boxes.radiograph_id, "hand": boxes.hand, "x": cx, "y": cy})
    elif ds.landmarks is not None and len(ds.landmarks):
        frame = ds.landmarks
    else:
        return {}
    return {key: list(zip(g.x, g.y)) for key, g in frame.groupby(["radiograph_id", "hand"])}


def _cached(kind: str, rows: pd.DataFrame, size: int, build, cache: bool, inputs: dict | None = None):
    """Load ``kind`` arrays for these films and size from the cache, or build and store them.

    The key covers everything the build reads: each file (path, size, modification time), how it is
    read (``bits``, ``photometric``, ``hands``), the size, this module's preprocessing version and
    ``inputs`` (e.g. which side holds the left hand).
    """
    if not cache:
        out = build()
        return out if isinstance(out, tuple) else (out,)
    key = source_key(kind, rows, size, inputs)
    folder = data_dir() / "arrays"
    folder.mkdir(parents=True, exist_ok=True)
    npy, csv = folder / f"{kind}-{size}px-{key}.npy", folder / f"{kind}-{size}px-{key}.csv"
    if kind == "films" or csv.exists():
        images = load_intact(npy)
        if images is not None:
            return (images,) if kind == "films" else (images, pd.read_csv(csv, dtype={"radiograph_id": str}))
    out = build()
    images, table = (out, None) if kind == "films" else out
    tmp = npy.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, images)
    if table is not None:
        table.to_csv(csv, index=False)
    os.replace(tmp, npy)
    seal(npy)
    return (images,) if table is None else (images, table)


@dataclass
class Letterboxed:
    """Films resized into ``size`` x ``size`` squares with their aspect ratio kept (the rest zero), as a
    memory-mapped uint8 array ``images`` (n, size, size) in ``ds.radiographs`` order, and per film the
    scale (``sx``, ``sy``: square pixels per film pixel) and offset (``ox``, ``oy``) of the placement."""

    images: np.ndarray
    placement: pd.DataFrame  # radiograph_id, sx, sy, ox, oy

    def to_square(self, i: int, xy: np.ndarray) -> np.ndarray:
        """Film pixel coordinates of film ``i`` in square pixel coordinates (pixel centres as OpenCV)."""
        p = self.placement.iloc[i]
        return (np.asarray(xy, float) + 0.5) * [p.sx, p.sy] - 0.5 + [p.ox, p.oy]

    def to_film(self, i: int, xy: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_square`."""
        p = self.placement.iloc[i]
        return (np.asarray(xy, float) + 0.5 - [p.ox, p.oy]) / [p.sx, p.sy] - 0.5


def letterbox(film: np.ndarray, size: int) -> tuple[np.ndarray, tuple[float, float, int, int]]:
    """A stretched film resized to fit ``size`` x ``size`` with its aspect ratio kept, centred on zeros;
    and its placement ``(sx, sy, ox, oy)``.

    Example:
        >>> square, (sx, sy, ox, oy) = letterbox(np.linspace(0, 1, 200, dtype=np.float32).reshape(10, 20), 8)
        >>> square.shape, (sx, sy, ox, oy)
        ((8, 8), (0.4, 0.4, 0, 2))
    """
    return _letterbox_stretched(stretch(film), size)


def _letterbox_stretched(film: np.ndarray, size: int) -> tuple[np.ndarray, tuple[float, float, int, int]]:
    h, w = film.shape
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    ox, oy = (size - nw) // 2, (size - nh) // 2
    out = np.zeros((size, size), np.float32)
    out[oy : oy + nh, ox : ox + nw] = cv2.resize(film, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, (nw / w, nh / h, ox, oy)


def letterboxed_films(ds: RADataset, size: int, progress: bool = True) -> Letterboxed:
    """Every film of ``ds`` letterboxed to ``size`` (:func:`letterbox`), built once and memory-mapped from
    ``<RALIB_DATA>/arrays/`` (the key covers the files, how they are read and this module's version).
    The array is written to a temporary file and renamed when complete, so an interrupted build never
    leaves a file that looks finished. :func:`letterboxed_films_at` builds several sizes in one pass.

    Example:
        >>> boxed = letterboxed_films(ds, 256)           # doctest: +SKIP
        >>> boxed.images.shape, boxed.images.dtype        # doctest: +SKIP
        ((600, 256, 256), dtype('uint8'))
    """
    return letterboxed_films_at(ds, (size,), progress)[0]


def letterboxed_films_at(ds: RADataset, sizes: tuple[int, ...], progress: bool = True) -> list[Letterboxed]:
    """:func:`letterboxed_films` at each of ``sizes``, the films read once for all the sizes not yet built.

    Example:
        >>> coarse, fine = letterboxed_films_at(ds, (128, 768))   # doctest: +SKIP
    """
    rows = ds.radiographs
    folder = data_dir() / "arrays"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for size in sizes:
        name = f"letterboxed-{size}px-{source_key('letterboxed', rows, size)}"
        paths[size] = (folder / f"{name}.npy", folder / f"{name}.csv")
    missing = [size for size, (npy, csv) in paths.items() if not (csv.exists() and intact(npy))]
    if missing:
        tmps = {size: paths[size][0].with_suffix(f".tmp{os.getpid()}.npy") for size in missing}
        outs = {size: np.lib.format.open_memmap(tmps[size], mode="w+", dtype=np.uint8, shape=(len(rows), size, size))
                for size in missing}  # fmt: skip
        placement = {size: [] for size in missing}
        desc = f"films letterboxed to {', '.join(map(str, missing))} px"
        for i, (_, row) in enumerate(tqdm(rows.iterrows(), total=len(rows), desc=desc, disable=not progress)):
            film = stretched_film(row)
            for size in missing:
                square, (sx, sy, ox, oy) = _letterbox_stretched(film, size)
                outs[size][i] = np.round(square * 255).astype(np.uint8)
                placement[size].append({"radiograph_id": str(row.radiograph_id), "sx": sx, "sy": sy, "ox": ox, "oy": oy})
        for size in missing:
            outs[size].flush()
            del outs[size]
            pd.DataFrame(placement[size]).to_csv(paths[size][1], index=False)
            os.replace(tmps[size], paths[size][0])
            seal(paths[size][0])
    return [Letterboxed(np.load(npy, mmap_mode="r"), pd.read_csv(csv, dtype={"radiograph_id": str}))
            for npy, csv in (paths[size] for size in sizes)]  # fmt: skip


def source_key(kind: str, rows: pd.DataFrame, size: int, inputs: dict | None = None) -> str:
    """A hash of everything an array of ``kind`` is built from: each file (path, size, modification
    time), how it is read (``bits``, ``photometric``, ``hands``), the size, this module's version."""
    read_as = [[str(row.get(c, "")) for c in ("bits", "photometric", "hands")] for _, row in rows.iterrows()]
    stamp = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in rows.image_path]
    text = json.dumps([kind, size, ARRAY_VERSION, stamp, read_as, inputs or {}], default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def input_pixel_mm(ds: RADataset, size: int, n: int = 20) -> float | None:
    """Median millimetres per pixel of the long side once a film is resized to ``size`` pixels (from the
    first ``n`` films with a known spacing); None when no spacing is known."""
    rows = ds.radiographs[ds.radiographs.spacing_mm.notna()].head(n)
    if not len(rows):
        return None
    return float(np.median([r.spacing_mm * max(read_radiograph(r).shape) / size for _, r in rows.iterrows()]))
