"""Films the localiser must not be fooled by: one hand missing, a single-hand film, a rotated film.
Each variant is made from a test film with known landmarks, so the localiser's answer can be checked:
which hands it says it found, and how far off the landmarks of those hands are.

Example:
    >>> film = np.zeros((40, 80), np.float32); film[5:35, 10:30] = 0.8; film[5:35, 50:70] = 0.8
    >>> xy = np.full((74, 2), 20.0); xy[37:] = [60.0, 20.0]
    >>> blanked, kept = one_hand_missing(film, xy, block=1)
    >>> float(blanked[:, 40:].max()), np.isnan(kept[37:]).all(), np.isfinite(kept[:37]).all()
    (0.0, np.True_, np.True_)
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from ralib.landmarks.points import K


def _midline(xy: np.ndarray) -> float:
    return float((np.nanmean(xy[:K, 0]) + np.nanmean(xy[K:, 0])) / 2)


def _background(film: np.ndarray) -> float:
    return float(np.percentile(film, 2))


def one_hand_missing(film: np.ndarray, xy: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """The film with the side of hand ``block`` (0: left-hand pose, 1: right-hand pose) replaced by bare
    background, and the landmarks that remain (NaN for the missing hand)."""
    film, xy = film.copy(), xy.copy()
    mid = int(round(_midline(xy)))
    gone_left = np.nanmean(xy[block * K : (block + 1) * K, 0]) < mid
    if gone_left:
        film[:, :mid] = _background(film)
    else:
        film[:, mid:] = _background(film)
    xy[block * K : (block + 1) * K] = np.nan
    return film, xy


def single_hand(film: np.ndarray, xy: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """The half of the film that holds hand ``block`` as a film of its own (a single-hand radiograph) and
    its landmarks in that film's pixels (NaN for the other hand)."""
    mid = int(round(_midline(xy)))
    left = np.nanmean(xy[block * K : (block + 1) * K, 0]) < mid
    out = np.full_like(xy, np.nan)
    out[block * K : (block + 1) * K] = xy[block * K : (block + 1) * K] - ([0, 0] if left else [mid, 0])
    return (film[:, :mid] if left else film[:, mid:]).copy(), out


def rotated(film: np.ndarray, xy: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The film turned by ``degrees`` (counter-clockwise as seen) about its centre on a canvas large
    enough to keep every corner, and its landmarks."""
    h, w = film.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c))
    m[:, 2] += [(nw - w) / 2, (nh - h) / 2]
    out = cv2.warpAffine(film.astype(np.float32), m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=_background(film))
    return out, xy @ m[:, :2].T + m[:, 2]


def scenarios(angles: tuple[float, ...] = (10.0, 20.0)) -> dict:
    """The variants tried, by name: a function of (film, landmarks) giving (film, landmarks)."""
    out = {"as is": lambda f, xy: (f, xy)}
    for block, pose in ((0, "left-hand pose"), (1, "right-hand pose")):
        out[f"{pose} missing"] = lambda f, xy, b=block: one_hand_missing(f, xy, b)
        out[f"single hand, {pose}"] = lambda f, xy, b=block: single_hand(f, xy, b)
    for a in angles:
        out[f"rotated {a:g} degrees"] = lambda f, xy, a=a: rotated(f, xy, a)
    return out


def robustness_table(localiser, films: list[np.ndarray], landmarks: np.ndarray, spacing_mm: np.ndarray,
                     angles: tuple[float, ...] = (10.0, 20.0)) -> pd.DataFrame:  # fmt: skip
    """Per scenario: how often both hands' presence is called right, and the radial error (mm) of the
    landmarks of hands that are there, with the localiser's full pipeline (:meth:`Localiser.locate`)."""
    rows = []
    for name, make in scenarios(angles).items():
        right, errors, wrong_hand = [], [], 0
        for film, xy, mm in zip(films, landmarks, spacing_mm):
            variant, truth = make(film, xy)
            predicted, presence = localiser.locate(variant)
            there = np.isfinite(truth).all(-1).reshape(2, K).all(-1)
            found = presence >= 0.5
            right.append(bool((found == there).all()))
            wrong_hand += int((found & ~there).any())
            e = np.linalg.norm(predicted - truth, axis=-1) * mm
            errors.append(e[np.isfinite(e)])
        e = np.concatenate(errors)
        rows.append({"scenario": name, "films": len(films), "presence right %": 100 * np.mean(right),
                     "films with a hand found that is not there": wrong_hand, "MRE mm": float(e.mean()),
                     "SDR 4 mm %": float(100 * np.mean(e <= 4)), "SDR 10 mm %": float(100 * np.mean(e <= 10))})  # fmt: skip
    return pd.DataFrame(rows).set_index("scenario").round(2)
