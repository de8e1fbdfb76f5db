"""Landmark tasks: the 74 landmarks of a dual-hand film as heatmaps, on the whole film (coarse pass) and
on crops around each landmark at a finer scale (fine pass).

Channels follow the hands' **poses**, not their names: channels 0-36 hold the hand that looks like a
left hand seen posteroanteriorly (thumb towards the film's middle when it lies on the image's left),
37-73 the other. On an unflipped film that is the left hand on the image's left; on a flipped film the
mirrored right hand in the same place, which looks the same. The model never has to read the "R"/"L"
marker (the MIL paper's symmetry confusion); which hand is which is then the film's ``left_hand_side``.

Training augments as the MIL paper's Scheme 2 does (small rotations, scaling, translation, flips,
intensity), and, for robustness, blanks one side of the film now and then (the hand there becomes
absent: empty heatmaps) and zooms onto the other, as a single-hand film shows it.

Example:
    >>> import numpy as np
    >>> from ralib import anatomy
    >>> hands = {"LH": anatomy.template_landmarks("LH") + [100, 300], "RH": anatomy.template_landmarks("RH") + [300, 300]}
    >>> pose_channels(hands)[:, 0].round().tolist()[::37]   # the left hand's tip2 first, the right hand's second
    [140.0, 260.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ralib import anatomy
from ralib.data.arrays import Letterboxed
from ralib.data.model import RADataset
from ralib.geometry import Frame, cut, is_right_hand_pose, to_crop, wrist_width_spacing
from ralib.landmarks.heatmaps import cross_entropy, decode_logits
from ralib.metrics import landmark_metrics, radial_errors_mm
from ralib.tasks.base import Task

K = len(anatomy.LANDMARKS)  # 37 per hand
GROUP_INDEX = {g: [anatomy.LANDMARKS.index(n) for n in names] for g, names in anatomy.LANDMARK_GROUPS.items()}


def pose_blocks(hands: dict[str, np.ndarray]) -> dict[str, int]:
    """Which channel block (0: left-hand pose, 1: right-hand pose) each hand's (37, 2) landmarks go to;
    hands without landmarks are left out, two hands of one pose are told apart by which lies further left."""
    found = {h: np.asarray(xy, float) for h, xy in hands.items() if xy is not None and np.isfinite(xy).all()}
    blocks = {h: int(is_right_hand_pose(xy)) for h, xy in found.items()}
    if len(found) == 2 and len(set(blocks.values())) == 1:
        order = sorted(found, key=lambda h: found[h][:, 0].mean())
        blocks = {order[0]: 0, order[1]: 1}
    return blocks


def pose_channels(hands: dict[str, np.ndarray]) -> np.ndarray:
    """The (74, 2) channel layout of one film from its hands' (37, 2) landmarks (NaN where a hand is
    missing), by :func:`pose_blocks`."""
    out = np.full((2 * K, 2), np.nan)
    for hand, block in pose_blocks(hands).items():
        out[block * K : (block + 1) * K] = hands[hand]
    return out


def film_landmarks(ds: RADataset) -> tuple[np.ndarray, np.ndarray]:
    """True landmarks of every film of ``ds`` in :func:`pose_channels` layout, (n, 74, 2) film pixels,
    and which hand (LH / RH, "" when absent) each block holds, (n, 2)."""
    if ds.landmarks is None or not len(ds.landmarks):
        raise ValueError(f"{ds.name} has no landmarks to train or evaluate a localiser with")
    grouped = {key: g.set_index("landmark")[["x", "y"]] for key, g in ds.landmarks.groupby(["radiograph_id", "hand"])}
    points, names = np.full((len(ds.radiographs), 2 * K, 2), np.nan), np.full((len(ds.radiographs), 2), "", object)
    for i, rid in enumerate(ds.radiographs.radiograph_id):
        hands = {h: grouped[rid, h].reindex(list(anatomy.LANDMARKS)).to_numpy(float) for h in anatomy.HANDS if (rid, h) in grouped}
        for hand, block in pose_blocks(hands).items():
            points[i, block * K : (block + 1) * K] = hands[hand]
            names[i, block] = hand
    return points, names


@dataclass
class LandmarkPredictions:
    """Predicted landmarks of some films: ``xy`` (n, 74, 2) film pixels, each landmark's probability of
    being on the film ``peak`` (n, 74) and each hand block's presence score ``presence`` (n, 2): the mean
    of its 37 landmarks'."""

    xy: np.ndarray
    peak: np.ndarray

    @property
    def presence(self) -> np.ndarray:
        return self.peak.reshape(len(self.peak), 2, K).mean(-1)

    def found(self, threshold: float = 0.5) -> np.ndarray:
        """(n, 2) whether each hand block is on the film."""
        return self.presence >= threshold


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
                           augment != "none" and split == "train")  # fmt: skip

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
        return {"task": self.name, "num_outputs": self.num_outputs, "pixel_mean": self.pixel_mean,
                "pixel_sd": self.pixel_sd, "sigma": self.sigma, "input_size": int(self.boxed.images.shape[-1])}  # fmt: skip


class _Rows:
    """Rows of a (memory-mapped) array, read only when indexed."""

    def __init__(self, array: np.ndarray, rows: np.ndarray):
        self.array, self.rows = array, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.array[self.rows[i]]


def landmark_report(true: np.ndarray, predicted: LandmarkPredictions, table: pd.DataFrame) -> dict:
    """MRE / SDR per landmark group and overall, in mm by the films' true spacing and by the MIL paper's
    50 mm wrist-width rule (its own error made visible), for all films and for the flipped, MONOCHROME1
    and other ("clean") films apart; and how well the hands' presence was called."""
    present = np.isfinite(true).all(-1)  # (n, 74)
    spacing = table.spacing_mm.to_numpy(float) if "spacing_mm" in table else np.full(len(table), np.nan)
    rule = np.array([[_wrist_rule(t[b * K : (b + 1) * K]) for b in (0, 1)] for t in true])  # (n, 2)
    rule = np.repeat(rule, K, axis=1)  # per landmark: its hand's rule spacing
    errors = {"true spacing": radial_errors_mm(true, predicted.xy, spacing),
              "wrist rule": np.linalg.norm(predicted.xy - true, axis=-1) * rule}  # fmt: skip
    subsets = {"all": np.ones(len(table), bool)}
    flipped = table.flipped.astype(bool).to_numpy() if "flipped" in table else np.zeros(len(table), bool)
    mono1 = (table.photometric == "MONOCHROME1").to_numpy() if "photometric" in table else np.zeros(len(table), bool)
    subsets |= {"flipped": flipped, "MONOCHROME1": mono1, "clean": ~flipped & ~mono1}
    report = {}
    for unit, e in errors.items():
        for subset, films in subsets.items():
            if not films.any():
                continue
            for group, idx in {"all": list(range(K)), **GROUP_INDEX}.items():
                columns = [b * K + j for b in (0, 1) for j in idx]
                chosen = e[films][:, columns][present[films][:, columns]]
                report[f"{unit} | {subset} | {group}"] = landmark_metrics(chosen)
    found = predicted.found()
    report["presence"] = {"accuracy": float(np.mean(found == present.reshape(len(present), 2, K).all(-1))),
                          "hands": int(present.reshape(len(present), 2, K).all(-1).sum())}  # fmt: skip
    return report


def crop_containment(true: np.ndarray, predicted: np.ndarray, spacing_mm: np.ndarray, recipe: str = "patches") -> pd.DataFrame:
    """Per joint of a crop recipe, the share (%) of crops placed from ``predicted`` landmarks that contain
    the centre the ``true`` landmarks give that joint (both (n, 74, 2) film pixels), over hands present in
    both. The crop is the square of :mod:`ralib.geometry` at the film's spacing."""
    from ralib.geometry import RECIPES

    frames_of = RECIPES[recipe]
    hits: dict[str, list[bool]] = {}
    for t, p, mm in zip(true, predicted, spacing_mm):
        for b in (0, 1):
            tb, pb = t[b * K : (b + 1) * K], p[b * K : (b + 1) * K]
            if not (np.isfinite(tb).all() and np.isfinite(pb).all()):
                continue
            truth, placed = frames_of(tb, mm), frames_of(pb, mm)
            for joint, frame in placed.items():
                hits.setdefault(joint, []).append(frame.contains(truth[joint].centre))
    table = pd.DataFrame({"joint": list(hits), "crops": [len(v) for v in hits.values()],
                          "contain the joint centre %": [100 * np.mean(v) for v in hits.values()]})  # fmt: skip
    return table.set_index("joint")


def _wrist_rule(hand: np.ndarray) -> float:
    return wrist_width_spacing(hand) if np.isfinite(hand).all() else np.nan


def report_table(report: dict) -> pd.DataFrame:
    """:func:`landmark_report` as a table shaped like the MIL paper's Table 1 (rows: spacing, films,
    group)."""
    rows = [dict(zip(("spacing", "films", "group"), key.split(" | ")), **value) for key, value in report.items() if " | " in key]
    return pd.DataFrame(rows).set_index(["spacing", "films", "group"])


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


def fine_frame(centre: np.ndarray, channel: int, crop: int) -> Frame:
    """The fine pass's window: ``crop`` pixels square around ``centre``, mirrored for right-hand poses."""
    return Frame(np.asarray(centre, float), np.array([0.0, -1.0]), float(crop), float(crop), channel >= K)


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
        chosen = heatmaps[torch.arange(len(k)), k][:, None]
        return self.inner(chosen, target[:, None, :2])


class FineLandmarkTask(Task):
    """The fine pass: one U-Net over crops of the finer film, 37 channels (one per landmark name); each
    crop is read at its landmark's channel."""

    name = "landmarks_fine"

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
                         self.pixel_mean, self.pixel_sd, augment != "none" and split == "train")  # fmt: skip

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
        return {"task": self.name, "num_outputs": self.num_outputs, "pixel_mean": self.pixel_mean,
                "pixel_sd": self.pixel_sd, "sigma": self.sigma, "crop": self.crop,
                "input_size": int(self.boxed.images.shape[-1])}  # fmt: skip
