"""Pixels against real films: crops at one physical scale from inside the body, simple texture features,
and the two-sample test on them with films kept together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.realism.two_sample import TwoSample, real_against_real, two_sample_auc
from ralib.synth import read_image

#: the common physical scale and size of the crops compared (64 px at 0.3 mm: 19 mm squares)
CROP_MM_PER_PX = 0.3
CROP_PX = 64


@dataclass
class Film:
    """One film for the pixel test: a grey image in 0-1 with bone bright, its pixel spacing, its group."""

    image: np.ndarray
    spacing_mm: float
    group: str


def foreground(film: np.ndarray) -> np.ndarray:
    """Where the body is: Otsu's threshold on the smoothed film, the same rule for real and synthetic films.

    Example:
        >>> film = np.zeros((40, 40), np.float32); film[10:30, 10:30] = 0.8
        >>> int(foreground(film).sum())
        400
    """
    import cv2
    from skimage.filters import threshold_otsu

    smooth = cv2.GaussianBlur(film.astype(np.float32), (0, 0), max(film.shape) / 400)
    return smooth > threshold_otsu(smooth)


def film_crops(film: Film, n: int, rng: np.random.Generator, mm_per_px: float = CROP_MM_PER_PX,
               size: int = CROP_PX, inside_body: bool = True, equalise: bool = False) -> np.ndarray:  # fmt: skip
    """Up to ``n`` crops ``(n, size, size)`` from inside the body (anywhere when ``inside_body`` is False, for
    films that are all body, such as wrist squares), after resampling the film to ``mm_per_px`` and
    stretching its body's 1st-99th intensity percentiles to 0-1 (so exposure and bit depth drop out).
    ``equalise`` replaces every body pixel by its rank among them instead: any monotone tone curve drops
    out too, and what is left to tell films apart is structure and texture."""
    import cv2

    factor = film.spacing_mm / mm_per_px
    image = cv2.resize(film.image.astype(np.float32), None, fx=factor, fy=factor,
                       interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)  # fmt: skip
    body = foreground(image)
    if not body.any():
        return np.zeros((0, size, size), np.float32)
    if equalise:
        ranks = np.sort(image[body])
        image = (np.searchsorted(ranks, image) / len(ranks)).astype(np.float32)
    else:
        low, high = np.percentile(image[body], [1, 99])
        image = np.clip((image - low) / max(high - low, 1e-6), 0, 1)
    if not inside_body:
        body = np.ones_like(body)
    kernel = np.ones((size, size), np.uint8)  # the whole crop in the body, none of it beyond the film's edge
    inside = cv2.erode(body.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    ys, xs = np.nonzero(inside)
    if len(ys) == 0:
        return np.zeros((0, size, size), np.float32)
    pick = rng.choice(len(ys), min(n, len(ys)), replace=False)
    half = size // 2
    return np.stack([image[y - half : y - half + size, x - half : x - half + size] for y, x in zip(ys[pick], xs[pick])])


def crop_features(crops: np.ndarray) -> np.ndarray:
    """Simple texture features per crop: a 16-bin intensity histogram, mean and SD, gradient magnitude
    (mean, SD, 90th percentile) and the variance of the Laplacian.

    Example:
        >>> crop_features(np.random.default_rng(0).random((3, 64, 64))).shape
        (3, 22)
    """
    import cv2

    rows = []
    for crop in crops.astype(np.float32):
        hist = np.histogram(crop, bins=16, range=(0, 1))[0] / crop.size
        gx, gy = cv2.Sobel(crop, cv2.CV_32F, 1, 0), cv2.Sobel(crop, cv2.CV_32F, 0, 1)
        grad = np.hypot(gx, gy)
        lap = cv2.Laplacian(crop, cv2.CV_32F)
        rows.append([*hist, crop.mean(), crop.std(), grad.mean(), grad.std(), np.percentile(grad, 90), lap.var()])
    return np.array(rows, dtype=float)


def crop_test(synthetic: list[Film], real: list[Film], per_film: int = 40, seed: int = 0,
              mm_per_px: float = CROP_MM_PER_PX, inside_body: bool = True,
              equalise: bool = False) -> tuple[TwoSample, TwoSample | None]:  # fmt: skip
    """Two-sample test on crops at one physical scale, films kept together; and real films against each
    other (half the real films against the other half), as the chance level of this sample (None with
    fewer than four real films). With a handful of films both are dominated by what makes each film
    unlike the others: read them with their fold range."""
    rng = np.random.default_rng(seed)

    def table(films):
        feats, groups = [], []
        for film in films:
            crops = film_crops(film, per_film, rng, mm_per_px, inside_body=inside_body, equalise=equalise)
            if len(crops):
                feats.append(crop_features(crops))
            groups += [film.group] * len(crops)
        if not feats:
            raise ValueError(f"no {CROP_PX}-px crops fit inside the body of any of {len(films)} films at {mm_per_px} mm a pixel")
        return np.concatenate(feats), np.array(groups)

    xs, gs = table(synthetic)
    xr, gr = table(real)
    folds = min(5, len(np.unique(gr)), len(np.unique(gs)))
    against_real = two_sample_auc(xs, xr, gs, gr, folds=folds, seed=seed)
    halves = min(5, len(np.unique(gr)) // 2)
    chance = real_against_real(xr, gr, folds=halves, seed=seed) if halves >= 2 else None
    return against_real, chance


def synthetic_films(folder: str | Path, radiographs: pd.DataFrame, n: int, seed: int = 0) -> list[Film]:
    """``n`` films of a SynthRA folder drawn at random (one patient each), bone bright, with their spacing."""
    rows = radiographs.sample(min(n, len(radiographs)), random_state=seed)
    return [Film(read_image(folder, r), float(r.spacing_mm), r.image_id) for _, r in rows.iterrows()]


def wrist_crop(film: Film, centre_px: np.ndarray, width_mm: float = 90.0) -> Film:
    """A square of ``width_mm`` around a wrist centre, as a film of its own (the real wrists' framing)."""
    half = int(round(width_mm / film.spacing_mm / 2))
    x, y = (int(round(c)) for c in centre_px)
    h, w = film.image.shape
    crop = film.image[max(y - half, 0) : min(y + half, h), max(x - half, 0) : min(x + half, w)]
    return Film(crop, film.spacing_mm, film.group)


def synthetic_wrists(folder: str | Path, tables: dict[str, pd.DataFrame], n: int, seed: int = 0,
                     width_mm: float = 90.0) -> list[Film]:  # fmt: skip
    """Wrist squares ``width_mm`` across (both hands) of ``n`` random SynthRA films, centred on the
    'radiocarpal' joint box: the real wrist squares (RAM-W600) are centred about the radiocarpal joint,
    with the metacarpal shafts at the top and a few centimetres of forearm below."""
    films = synthetic_films(folder, tables["radiographs"], n, seed)
    boxes = tables["joints"][tables["joints"].joint == "radiocarpal"].set_index(["image_id", "hand"])
    out = []
    for film in films:
        for hand in anatomy.HANDS:
            x0, y0, x1, y1 = boxes.loc[(film.group, hand), ["x0", "y0", "x1", "y1"]]
            out.append(wrist_crop(film, np.array([(x0 + x1) / 2, (y0 + y1) / 2]), width_mm))
    return out
