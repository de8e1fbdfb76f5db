"""Preprocessing shared by the models: splitting a dual-hand film into its two hands.

The split follows the RheumaVIT paper's idea: a minimum-energy seam from the top to the bottom of the
film through the dark gap between the hands. Energy is the film's brightness plus its Sobel edge
strength, so the seam avoids bone, soft tissue and edges; it is searched with ``skimage.graph.MCP``
(a minimum-cost path with down, down-left and down-right steps) in the central part of a downsampled
film and mapped back to full resolution.

Example:
    >>> import numpy as np
    >>> film = np.zeros((60, 80), np.float32); film[:, 10:30] = 0.8; film[:, 50:70] = 0.8
    >>> split = split_hands(film)
    >>> bool(30 <= split.seam_x.min() and split.seam_x.max() < 50)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.filters import sobel
from skimage.graph import MCP


@dataclass
class HandSplit:
    """Where a dual-hand film divides: the seam's column in every row, and the two sides' boxes."""

    seam_x: np.ndarray  # (height,) column of the seam per row
    left_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the image-left side (inclusive-exclusive)
    right_box: tuple[int, int, int, int]

    def side_of(self, x: float, y: float) -> str:
        """``"left"`` or ``"right"`` of the seam for a point in pixels."""
        row = int(np.clip(round(y), 0, len(self.seam_x) - 1))
        return "left" if x < self.seam_x[row] else "right"


CENTRE_PULL = 0.02  # energy per pixel of the seam at the edge of its band, growing with the square of the distance


def split_hands(film: np.ndarray, work_size: int = 256, band: float = 0.3) -> HandSplit:
    """Find the minimum-energy top-to-bottom seam between the two hands of a film (0-1, bone bright).

    Args:
        work_size: long side of the downsampled film the seam is searched on.
        band: the seam stays within ``band`` of the width on either side of the centre.
    """
    if film.ndim != 2:
        raise ValueError(f"split_hands expects a 2-D grey film, got shape {film.shape}")
    height, width = film.shape
    scale = work_size / max(height, width)
    small = cv2.resize(film.astype(np.float32), (max(int(width * scale), 8), max(int(height * scale), 8)),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    h, w = small.shape
    background = np.percentile(small, 5)
    energy = np.clip(small - background, 0, None) + 2 * sobel(small)
    # the hands lie either side of the middle: a mild pull towards it, so that where the thumbs touch the
    # seam crosses between them rather than through a finger at the far side
    energy = energy + CENTRE_PULL * ((np.arange(w) - w / 2) / (band * w))[None, :] ** 2
    lo, hi = int(w * (0.5 - band)), int(w * (0.5 + band)) + 1
    costs = np.full((h, w), np.inf)
    costs[:, lo:hi] = energy[:, lo:hi] + 1e-3  # a small cost per step keeps the seam short
    mcp = MCP(costs, offsets=[(1, -1), (1, 0), (1, 1)], fully_connected=False)
    cumulative, _ = mcp.find_costs(starts=[(0, x) for x in range(lo, hi)])
    end = (h - 1, lo + int(np.argmin(cumulative[h - 1, lo:hi])))
    path = np.array(mcp.traceback(end))  # (row, col) from top to bottom
    seam_small = np.full(h, np.nan)
    seam_small[path[:, 0]] = path[:, 1]
    seam_small = np.interp(np.arange(h), np.flatnonzero(~np.isnan(seam_small)), seam_small[~np.isnan(seam_small)])
    rows = (np.arange(height) + 0.5) * h / height - 0.5
    seam_x = np.interp(rows, np.arange(h), (seam_small + 0.5) / scale - 0.5)
    left_box = (0, 0, int(np.ceil(seam_x.max())), height)
    right_box = (int(np.floor(seam_x.min())), 0, width, height)
    return HandSplit(seam_x, left_box, right_box)


def hand_images(film: np.ndarray, split: HandSplit, fill: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The image-left and image-right hands, each cut to its side's box with the far side of the seam
    set to ``fill`` (default: the film's background level)."""
    fill = float(np.percentile(film, 5)) if fill is None else fill

    def side(box, keep_left: bool) -> np.ndarray:  # the box's pixels, those across the seam set to fill
        x0, y0, x1, y1 = box
        left_of_seam = np.arange(x0, x1)[None, :] < split.seam_x[y0:y1, None]
        return np.where(left_of_seam == keep_left, film[y0:y1, x0:x1], fill).astype(film.dtype, copy=False)

    return side(split.left_box, True), side(split.right_box, False)


def foreground_mask(film: np.ndarray, work_size: int = 512, min_area: float = 0.002) -> np.ndarray:
    """The MIL paper's morphology masks of hands and forearms (the targets its segmentation network learns
    from): the film blurred, thresholded by Otsu's method, opened (erosion, then dilation) to cut thin
    bright marks loose, and cleared of bright and dark areas smaller than ``min_area`` of the film;
    computed at ``work_size`` pixels and returned at the film's size as a boolean array.

    Example:
        >>> film = np.zeros((200, 300), np.float32); film[40:160, 60:240] = 0.7; film[5:8, 5:8] = 1.0
        >>> mask = foreground_mask(film)
        >>> bool(mask[100, 150]), bool(mask[6, 6]), bool(mask[100, 20])
        (True, False, False)
    """
    from skimage.filters import threshold_otsu

    scale = work_size / max(film.shape)
    small = cv2.resize(film.astype(np.float32), (max(1, round(film.shape[1] * scale)), max(1, round(film.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    blurred = cv2.GaussianBlur(small, (0, 0), 2.0)
    mask = blurred > threshold_otsu(blurred)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
    mask = remove_small_areas(mask, min_area)
    return cv2.resize(mask.astype(np.uint8), (film.shape[1], film.shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)


def remove_small_areas(mask: np.ndarray, min_area: float = 0.002) -> np.ndarray:
    """``mask`` without bright areas (objects) or dark areas (holes) smaller than ``min_area`` of its size.

    Example:
        >>> mask = np.zeros((100, 100), bool); mask[20:80, 20:80] = True; mask[2, 2] = True; mask[50, 50] = False
        >>> out = remove_small_areas(mask)
        >>> bool(out[2, 2]), bool(out[50, 50]), bool(out[30, 30])
        (False, True, True)
    """
    from skimage.morphology import remove_small_holes, remove_small_objects

    area = max(1, int(min_area * np.asarray(mask).size))
    return remove_small_holes(remove_small_objects(np.asarray(mask, bool), max_size=area), max_size=area)

