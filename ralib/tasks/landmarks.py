"""Landmark tasks: the 74 landmarks of a dual-hand film as heatmaps, on the whole film (coarse pass) and
on crops around each landmark at a finer scale (fine pass). The channels follow the hands' poses, not their
names (:mod:`ralib.landmarks.points`), so the model never has to read the "R"/"L" marker (the MIL paper's
symmetry confusion).

Training augments as the MIL paper's Scheme 2 does (small rotations, scaling, translation, flips,
intensity), and, for robustness, blanks one side of the film now and then (the hand there becomes
absent: empty heatmaps) and zooms onto the other, as a single-hand film shows it.

Example:
    >>> import numpy as np
    >>> crop, target = fine_crop(np.zeros((64, 64), np.uint8), np.array([32.0, 30.0]), 0, 16, np.array([32.0, 32.0]))
    >>> crop.shape, target.round(1).tolist()   # a 16-px window; the landmark 2 px above its centre
    ((16, 16), [7.5, 5.5])
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ralib.data.arrays import Letterboxed
from ralib.geometry import cut, to_crop
from ralib.landmarks.heatmaps import cross_entropy, decode_logits
from ralib.landmarks.points import K, LandmarkPredictions, fine_frame, landmark_report
from ralib.metrics import landmark_metrics
from ralib.tasks.base import Task











class HeatmapLoss(nn.Module):
    """:func:`ralib.landmarks.heatmaps.cross_entropy` as a module: logits (n, k, h, w) against points
    (n, k, 2) in the maps' pixels, NaN for absent landmarks."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = sigma

    def forward(self, logits: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, points, self.sigma)


def _affine(size: int, angle: float, scale: float, shift: tuple[float, float], centre: tuple[float, float] | None = None) -> np.ndarray:
    c = ((size - 1) / 2,) * 2 if centre is None else centre
    m = cv2.getRotationMatrix2D(c, angle, scale)
    m[:, 2] += shift
    return m


class CoarseFilms(Dataset):
    """Letterboxed films and their 74 landmarks in square pixels, augmented for training."""

    def __init__(self, images: np.ndarray, points: np.ndarray, mean: float, sd: float, augment: bool):
        self.images, self.points, self.mean, self.sd, self.augment = images, points, mean, sd, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = np.asarray(self.images[i], np.float32) / 255
        points = self.points[i].copy()
        if self.augment:
            image, points = augment_film(image, points)
        image = torch.from_numpy((image - self.mean) / self.sd)[None]
        return image, torch.from_numpy(points.astype(np.float32))


def _u(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


def augment_film(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One random training view of a letterboxed film and its (74, 2) points (torch's generator, so a
    seeded run repeats): one side blanked (20 %), in place as a dual-hand film missing a hand, or
    zoomed onto the other hand as a single-hand film (half of those each), a horizontal flip (50 %),
    rotation +-25 degrees, scale 0.9-1.1, shift +-5 %, intensity x 0.9-1.1."""
    size = image.shape[0]
    points = points.copy()
    centre = None
    zoom = 1.0
    present = [np.isfinite(points[b * K : (b + 1) * K]).all() for b in (0, 1)]
    if all(present) and torch.rand(()) < 0.2:
        gone = int(torch.rand(()) < 0.5)
        mid = (np.nanmean(points[:K, 0]) + np.nanmean(points[K:, 0])) / 2
        background = float(np.percentile(image[image > 0], 5)) if (image > 0).any() else 0.0
        left_block = 0 if np.nanmean(points[:K, 0]) < np.nanmean(points[K:, 0]) else 1
        if gone == left_block:
            image[:, : int(mid)] = np.where(image[:, : int(mid)] > 0, background, 0)
        else:
            image[:, int(mid) :] = np.where(image[:, int(mid) :] > 0, background, 0)
        points[gone * K : (gone + 1) * K] = np.nan
        if torch.rand(()) < 0.5:  # a single-hand film: the kept hand centred and larger
            kept = points[(1 - gone) * K : (2 - gone) * K]
            centre = tuple(kept.mean(0))
            zoom = _u(1.0, 1.6)
    if torch.rand(()) < 0.5:
        image = image[:, ::-1].copy()
        points[:, 0] = size - 1 - points[:, 0]
        points = np.concatenate([points[K:], points[:K]])
    shift = (_u(-0.05, 0.05) * size, _u(-0.05, 0.05) * size)
    m = _affine(size, _u(-25, 25), zoom * _u(0.9, 1.1), shift, centre)
    if centre is not None:  # bring the kept hand to the middle as a single-hand film has it
        m[:, 2] += np.array([(size - 1) / 2, (size - 1) / 2]) - np.array(centre)
    image = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
    points = points @ m[:, :2].T + m[:, 2]
    return image * _u(0.9, 1.1), points


class LandmarkTask(Task):
    """The coarse pass: 74 heatmaps on the whole letterboxed film.

    ``boxed`` holds the films as the model sees them (:func:`ralib.data.arrays.letterboxed_films`);
    ``points`` the true landmarks in film pixels (:func:`film_landmarks`), ``table`` the films' rows
    (``split``, ``spacing_mm``, ``flipped``, ``photometric`` where known).
    """

    name = "landmarks"
    augmentations = ("none", "landmarks")  # affine moves of film and points together, intensity (CoarseFilms)

    def __init__(self, boxed: Letterboxed, points: np.ndarray, table: pd.DataFrame, sigma: float = 2.0):
        if not (len(boxed.images) == len(points) == len(table)):
            raise ValueError(f"{len(boxed.images)} films, {len(points)} landmark sets, {len(table)} rows")
        self.boxed, self.points, self.table, self.sigma = boxed, points, table.reset_index(drop=True), sigma
        self.square = np.stack([boxed.to_square(i, points[i]) for i in range(len(points))])
        train = self.rows("train")
        if not len(train):
            raise ValueError("no training films")
        sample = np.asarray(boxed.images[train[:: max(1, len(train) // 64)]], np.float32) / 255
        self.pixel_mean, self.pixel_sd = float(sample.mean()), float(sample.std() or 1.0)
        self.num_outputs = 2 * K

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def dataset(self, split: str, augment: str = "none") -> CoarseFilms:
        rows = self.rows(split)
        return CoarseFilms(_Rows(self.boxed.images, rows), self.square[rows], self.pixel_mean, self.pixel_sd,
                           self.augmentation(augment, split) != "none")  # fmt: skip

    def loss(self, name: str | None = None) -> nn.Module:
        return HeatmapLoss(self.sigma)

    def forward(self, model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
        xy, present = decode_logits(model(images))
        return {"outputs": xy, "peak": present}

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> LandmarkPredictions:
        """Decoded square-pixel points of ``split``'s films mapped back to film pixels."""
        rows = self.rows(split)
        xy = np.stack([self.boxed.to_film(i, p) for i, p in zip(rows, outputs["outputs"])])
        return LandmarkPredictions(xy, np.asarray(outputs["peak"]))

    def evaluate(self, predictions: LandmarkPredictions, split: str = "test") -> dict:
        return landmark_report(self.points[self.rows(split)], predictions, self.table.iloc[self.rows(split)])

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "pixel_mean": self.pixel_mean,
                "pixel_sd": self.pixel_sd, "sigma": self.sigma, "input_size": int(self.boxed.images.shape[-1])}  # fmt: skip


class _Rows:
    """Rows of a (memory-mapped) array, read only when indexed."""

    def __init__(self, array: np.ndarray, rows: np.ndarray):
        self.array, self.rows = array, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.array[self.rows[i]]










class FineCrops(Dataset):
    """Crops of the fine letterboxed films around each landmark, displaced as the coarse pass errs, for
    the fine pass: item ``(crop (1, c, c), target (x, y, k))`` with ``k`` the landmark's name index (0-36);
    crops of the right-hand-pose block are mirrored so that every crop shows a left-hand pose."""

    def __init__(self, images: np.ndarray, points: np.ndarray, crop: int, jitter_px: float, per_film: int,
                 mean: float, sd: float, augment: bool):  # fmt: skip
        self.images, self.points, self.crop, self.jitter = images, points, crop, jitter_px
        self.per_film, self.mean, self.sd, self.augment = per_film, mean, sd, augment
        self.present = [np.flatnonzero(np.isfinite(p).all(-1)) for p in points]

    def __len__(self) -> int:
        return len(self.images) * self.per_film

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = j // self.per_film
        present = self.present[i]
        if self.augment:
            c = int(present[int(torch.randint(len(present), ()))])
            offset = torch.randn(2).numpy() * self.jitter
        else:  # a fixed landmark and displacement per item, so validation repeats
            rng = np.random.default_rng(j)
            c = int(present[rng.integers(len(present))])
            offset = rng.normal(size=2) * self.jitter
        offset = np.clip(offset, -0.3 * self.crop, 0.3 * self.crop)  # the landmark stays well inside the window
        crop, target = fine_crop(self.images[i], self.points[i, c], c, self.crop, self.points[i, c] + offset)
        if self.augment:
            crop = crop * _u(0.9, 1.1)
        return torch.from_numpy((crop - self.mean) / self.sd)[None], torch.tensor([*target, c % K], dtype=torch.float32)




def fine_crop(image: np.ndarray, true_xy: np.ndarray, channel: int, crop: int, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fine window around ``centre`` (fine-film pixels) and where ``true_xy`` falls in it."""
    frame = fine_frame(centre, channel, crop)
    return cut(np.asarray(image, np.float32) / 255, frame, crop), to_crop(frame, crop, true_xy)[0]


class ChannelHeatmapLoss(nn.Module):
    """The fine pass's loss: each crop's one landmark channel against its Gaussian (:class:`HeatmapLoss`)."""

    def __init__(self, sigma: float):
        super().__init__()
        self.inner = HeatmapLoss(sigma)

    def forward(self, heatmaps: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        k = target[:, 2].long()
        chosen = heatmaps[torch.arange(len(k), device=k.device), k][:, None]
        return self.inner(chosen, target[:, None, :2])


class FineLandmarkTask(Task):
    """The fine pass: one U-Net over crops of the finer film, 37 channels (one per landmark name); each
    crop is read at its landmark's channel."""

    name = "landmarks_fine"
    augmentations = ("none", "landmarks")  # jittered crops, intensity (FineCrops)

    def __init__(self, boxed: Letterboxed, points: np.ndarray, table: pd.DataFrame, crop: int, jitter_mm: float,
                 per_film: int, sigma: float = 2.0):  # fmt: skip
        self.boxed, self.table, self.crop, self.per_film, self.sigma = boxed, table.reset_index(drop=True), crop, per_film, sigma
        self.square = np.stack([boxed.to_square(i, points[i]) for i in range(len(points))])
        spacing = table.spacing_mm.to_numpy(float) / boxed.placement.sx.to_numpy(float)  # mm per fine pixel
        self.mm_per_px = float(np.nanmedian(spacing))
        self.jitter_px = float(jitter_mm / self.mm_per_px)
        train = self.rows("train")
        sample = np.asarray(boxed.images[train[:: max(1, len(train) // 32)]], np.float32) / 255
        sample = sample[sample > 0]
        self.pixel_mean, self.pixel_sd = float(sample.mean()), float(sample.std() or 1.0)
        self.num_outputs = K

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def dataset(self, split: str, augment: str = "none") -> FineCrops:
        rows = self.rows(split)
        per_film = self.per_film if split == "train" else max(2, self.per_film // 4)
        return FineCrops(_Rows(self.boxed.images, rows), self.square[rows], self.crop, self.jitter_px, per_film,
                         self.pixel_mean, self.pixel_sd, self.augmentation(augment, split) != "none")  # fmt: skip

    def loss(self, name: str | None = None) -> nn.Module:
        return ChannelHeatmapLoss(self.sigma)

    def forward(self, model: nn.Module, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        xy, present = decode_logits(model(crops))
        return {"outputs": xy, "peak": present}

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> np.ndarray:
        """Each crop's own landmark, (n, 2) crop pixels."""
        k = self._targets(split)[:, 2].astype(int)
        return np.asarray(outputs["outputs"])[np.arange(len(k)), k]

    def evaluate(self, predictions: np.ndarray, split: str = "test") -> dict:
        """Radial error on the split's crops, in mm of the fine film (the whole-film measures come from
        the localiser, :mod:`ralib.landmarks.localiser`)."""
        error_px = np.linalg.norm(predictions - self._targets(split)[:, :2], axis=-1)
        return landmark_metrics(error_px * self.mm_per_px)

    def _targets(self, split: str) -> np.ndarray:
        data = self.dataset(split)
        return np.stack([data[j][1].numpy() for j in range(len(data))])

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "pixel_mean": self.pixel_mean,
                "pixel_sd": self.pixel_sd, "sigma": self.sigma, "crop": self.crop,
                "input_size": int(self.boxed.images.shape[-1])}  # fmt: skip
