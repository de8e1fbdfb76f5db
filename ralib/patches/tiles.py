"""Scheme 1 of the MIL paper: a film cut into square tiles, and the K tiles a MIL reads.

"Images are divided into non-overlapping square patches, each with a side length of 1/10 of the image's
longer dimension"; a weakly supervised classifier calls each tile normal, abnormal or background, and the
top K tiles are taken "in the order (abnormal, normal, background)", each group sorted by the probability of
being abnormal. Tiles on the film's right and bottom edges reach past it; what lies outside is background
(:func:`cut_tiles` fills it with the film's background level).

Example:
    >>> tiles = tile_grid(100, 45, fraction=0.1)
    >>> len(tiles), tiles[0].tolist(), tiles[-1].tolist()
    (50, [0, 0, 10], [90, 40, 10])
    >>> probabilities = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]])
    >>> top_k(probabilities, 3).tolist()   # classes: normal, abnormal, background
    [0, 3, 1]
"""

from __future__ import annotations

import hashlib
import json
import math

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ralib.config import data_dir
from ralib.data.arrays import source_key, stretched_film
from ralib.data.model import RADataset
from ralib.geometry import Placement
from ralib.patches.cache import CropCache, building, finish, ready

#: the tile classifier's classes, in its output order
TILE_CLASSES = ("normal", "abnormal", "background")


def tile_grid(height: int, width: int, fraction: float = 0.1) -> np.ndarray:
    """Tiles (n, 3) as ``(y0, x0, side)`` in rows then columns, ``side`` = ``fraction`` of the longer side
    (rounded up), covering the film once without overlap."""
    side = math.ceil(max(height, width) * fraction)
    ys, xs = range(0, height, side), range(0, width, side)
    return np.array([(y, x, side) for y in ys for x in xs], np.int64)


def cut_tiles(film: np.ndarray, tiles: np.ndarray, size: int, fill: float | None = None) -> np.ndarray:
    """The tiles of ``film`` resized to ``size`` pixels, (n, size, size) in the film's dtype; parts beyond
    the film are ``fill`` (default: the film's 1st percentile, its background)."""
    fill = float(np.percentile(film, 1)) if fill is None else fill
    side = int(tiles[0, 2]) if len(tiles) else 0
    padded = np.full((film.shape[0] + side, film.shape[1] + side), fill, film.dtype)
    padded[: film.shape[0], : film.shape[1]] = film
    return np.stack([cv2.resize(padded[y : y + s, x : x + s], (size, size), interpolation=cv2.INTER_AREA)
                     for y, x, s in tiles])  # fmt: skip


def foreground_share(mask: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """Share of each tile's area (the whole square, the part beyond the film counting as background) that
    ``mask`` calls foreground."""
    m = np.asarray(mask) > 0
    return np.array([m[y : y + s, x : x + s].sum() / (s * s) for y, x, s in tiles])


def weak_tile_labels(film_total: float, shares: np.ndarray, normal_below: float = 5, abnormal_from: float = 70,
                     background_at_most: float = 0.02) -> np.ndarray:  # fmt: skip
    """The paper's proxy labels of a film's tiles (indices into :data:`TILE_CLASSES`, -1 for unused):
    background where at most 2 % is foreground; otherwise normal for a film total below 5, abnormal from
    70, and unused in between."""
    labels = np.full(len(shares), -1)
    if film_total < normal_below:
        labels[:] = TILE_CLASSES.index("normal")
    elif film_total >= abnormal_from:
        labels[:] = TILE_CLASSES.index("abnormal")
    labels[np.asarray(shares) <= background_at_most] = TILE_CLASSES.index("background")
    return labels


def top_k(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` tiles a MIL reads from one film's (n, 3) class probabilities: tiles called
    abnormal, then normal, then background (by their most probable class), each group by decreasing
    probability of abnormal."""
    called = np.asarray(probabilities).argmax(1)
    rank = {TILE_CLASSES.index(c): r for r, c in enumerate(("abnormal", "normal", "background"))}
    order = sorted(range(len(called)), key=lambda i: (rank[int(called[i])], -probabilities[i, 1]))
    return np.array(order[:k], np.int64)


TILE_VERSION = 3  # bump when the cutting or the table changes (2: one row per tile, no gaps between films; 3: placements)


def tile_cache(ds: RADataset, size: int, fraction: float = 0.1, progress: bool = True) -> CropCache:
    """Every film's tiles (:func:`tile_grid`, :func:`cut_tiles`) at ``size`` pixels, cut once in one pass
    over the stretched films and kept as a :class:`~ralib.patches.cache.CropCache`: ``images`` (uint8,
    memory-mapped; row i is the tile of the table's row i) and a table of ``crop``, ``radiograph_id``,
    ``patient_id``, ``split``, ``tile`` (its index on the film), ``y0``, ``x0``, ``side`` (film pixels), ``size``
    (tile pixels) and the tile's :data:`~ralib.geometry.PLACEMENT_COLUMNS`.
    Built on first use; an interrupted build leaves nothing that looks finished.

    Example:
        >>> tiles = tile_cache(ds, 64)                                    # doctest: +SKIP
        >>> tiles.table.groupby("radiograph_id").size().max()             # doctest: +SKIP
        100
    """
    rows = ds.radiographs
    key = hashlib.sha1(json.dumps([TILE_VERSION, size, fraction, source_key("tiles", rows, size)]).encode()).hexdigest()[:16]
    folder = data_dir() / "crops" / f"{ds.name}-tiles-{size}px-{key}"
    if ready(folder):
        return CropCache.open(folder)
    most = len(rows) * math.ceil(1 / fraction) ** 2  # films have at most this many tiles
    with building([folder]) as (tmp,):
        cut = np.lib.format.open_memmap(tmp / "cut.npy", mode="w+", dtype=np.uint8, shape=(most, size, size))
        table = []
        for row in tqdm(list(rows.itertuples(index=False)), desc=f"tiles at {size} px", disable=not progress):
            film = stretched_film(row._asdict())
            tiles = tile_grid(*film.shape, fraction)
            n = len(table)
            cut[n : n + len(tiles)] = np.round(np.clip(cut_tiles(film, tiles, size), 0, 1) * 255)
            table += [{"crop": n + t, "radiograph_id": str(row.radiograph_id), "patient_id": str(row.patient_id),
                       "split": row.split, "tile": t, "y0": y, "x0": x, "side": s, "size": size,
                       **Placement.box(x, y, x + s, y + s, size).columns()} for t, (y, x, s) in enumerate(tiles)]  # fmt: skip
        images = np.lib.format.open_memmap(tmp / "crops.npy", mode="w+", dtype=np.uint8, shape=(len(table), size, size))
        for start in range(0, len(table), 4096):  # keep only the rows written
            images[start : start + 4096] = cut[start : min(start + 4096, len(table))]
        images.flush()
        del images, cut
        (tmp / "cut.npy").unlink()
        finish(tmp, pd.DataFrame(table), {"key": key, "recipe": "tiles", "size": size, "fraction": fraction})
    return CropCache.open(folder)


def foreground_shares(tiles: pd.DataFrame, masks: np.ndarray, placement: pd.DataFrame) -> np.ndarray:
    """Each tile's share of foreground (:func:`foreground_share`) read off letterboxed masks (n, s, s) of the
    films, placed as ``placement`` says (a :class:`~ralib.data.arrays.Letterboxed` placement, films in its
    order): the tiles are mapped into the square, where the letterbox border counts as background."""
    tiles = tiles.reset_index(drop=True)
    index = {rid: i for i, rid in enumerate(placement.radiograph_id.astype(str))}
    shares = np.zeros(len(tiles))
    for rid, group in tiles.groupby(tiles.radiograph_id.astype(str), sort=False):
        i = index[rid]
        p = placement.iloc[i]
        squares = np.c_[np.round(group.y0 * p.sy + p.oy), np.round(group.x0 * p.sx + p.ox), np.maximum(1, np.round(group.side * p.sx))]
        shares[group.index.to_numpy()] = foreground_share(masks[i], squares.astype(np.int64))
    return shares


def tile_bags(tiles: pd.DataFrame, probabilities: np.ndarray, radiograph_ids, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Scheme 1's bags: for each film of ``radiograph_ids``, the rows of ``tiles`` of its :func:`top_k` tiles
    by the tile classifier's ``probabilities`` (one row per tile), (n, k) with -1 where a film has fewer than
    ``k`` tiles, and the mask of real places."""
    rows = np.full((len(radiograph_ids), k), -1, np.int64)
    by_film = tiles.groupby(tiles.radiograph_id.astype(str), sort=False).indices
    for n, rid in enumerate(map(str, radiograph_ids)):
        members = by_film.get(rid, np.array([], np.int64))
        chosen = members[top_k(probabilities[members], k)] if len(members) else members
        rows[n, : len(chosen)] = chosen
    return rows, rows >= 0
