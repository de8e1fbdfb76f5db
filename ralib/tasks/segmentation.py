"""Foreground segmentation of films (hands and forearms against background), the first step of the MIL
paper's Scheme 1: a tile with at most 2 % foreground is background.

The paper trains an nnU-Net on masks made by morphology (:func:`ralib.preprocess.foreground_mask`), then
removes small bright areas from its predictions. Here a U-Net with a timm encoder learns the same targets
from letterboxed films (:func:`ralib.data.arrays.letterboxed_films`); its masks are scored by Dice against
the morphology masks and, on synthetic films, against the true masks the generator wrote.

Example:
    >>> import numpy as np, pandas as pd
    >>> films = np.zeros((3, 32, 32), np.uint8); films[:, 8:24, 8:24] = 200
    >>> masks = films > 0
    >>> task = ForegroundTask(films, masks, pd.DataFrame({"split": ["train", "val", "test"]}))
    >>> image, mask = task.dataset("train", augment="flips")[0]
    >>> tuple(image.shape), tuple(mask.shape), round(dice(masks, masks), 3)
    ((1, 32, 32), (1, 32, 32), 1.0)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import segmentation_models_pytorch as smp
import torch
from torch import nn
from torch.utils.data import Dataset

from ralib.data.arrays import Letterboxed
from ralib.data.model import RADataset
from ralib.preprocess import foreground_mask, remove_small_areas
from ralib.tasks.base import Task, hash_task_data


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (or stacks of masks, pooled); 1.0 when both are empty."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def morphology_masks(films: np.ndarray) -> np.ndarray:
    """The paper's morphology masks (:func:`ralib.preprocess.foreground_mask`) of letterboxed films (n, s, s),
    computed at their own size; the letterbox's zero border is background."""
    return np.stack([foreground_mask(np.asarray(f, np.float32), work_size=f.shape[0]) for f in films])


def true_masks(ds: RADataset, boxed: Letterboxed) -> np.ndarray | None:
    """The generator's true masks (``masks/<id>.png`` beside ``images/``, SynthRA's layout) letterboxed like
    the films of ``boxed``, (n, s, s) bool; None when a film has none (real data)."""
    size = boxed.images.shape[-1]
    out = np.zeros((len(ds.radiographs), size, size), bool)
    for i, row in enumerate(ds.radiographs.itertuples(index=False)):
        path = Path(row.image_path).parent.parent / "masks" / f"{row.radiograph_id}.png"
        if not path.is_file():
            return None
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        p = boxed.placement.iloc[i]
        w, h = round(mask.shape[1] * p.sx), round(mask.shape[0] * p.sy)
        small = cv2.resize((mask > 0).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
        out[i, int(p.oy) : int(p.oy) + h, int(p.ox) : int(p.ox) + w] = small[: size - int(p.oy), : size - int(p.ox)]
    return out


def segmentation_films(films: pd.DataFrame, n_train: int, n_val: int, seed: int = 0) -> pd.Series:
    """The few films a segmentation network develops on, as the paper's 143 / 44 / 24: ``n_train`` of the
    training and ``n_val`` of the validation films drawn at random, and every test film; their split,
    indexed by ``radiograph_id``.

    Example:
        >>> films = pd.DataFrame({"radiograph_id": list("abcdef"), "split": ["train"] * 3 + ["val", "test", "test"]})
        >>> segmentation_films(films, 2, 1).value_counts().sort_index().to_dict()
        {'test': 2, 'train': 2, 'val': 1}
    """
    rng = np.random.default_rng(seed)
    counts = {"train": n_train, "val": n_val}
    chosen = []
    for split, group in films.groupby("split", sort=False):
        n = min(counts.get(split, len(group)), len(group))
        chosen.append(group.iloc[np.sort(rng.permutation(len(group))[:n])])
    out = pd.concat(chosen)
    return pd.Series(out.split.to_numpy(), index=out.radiograph_id.astype(str).to_numpy(), name="split")


def postprocess(probability: np.ndarray, min_area: float = 0.002) -> np.ndarray:
    """A predicted mask as the paper post-processes it: thresholded at 0.5, bright (and dark) areas smaller
    than ``min_area`` of the image removed."""
    return remove_small_areas(np.asarray(probability) >= 0.5, min_area)


class _Films(Dataset):
    def __init__(self, films: np.ndarray, masks: np.ndarray, mean: float, sd: float, augment: bool):
        self.films, self.masks, self.mean, self.sd, self.augment = films, masks, mean, sd, augment

    def __len__(self) -> int:
        return len(self.films)

    def __getitem__(self, i: int):
        image = (torch.from_numpy(np.asarray(self.films[i], np.float32))[None] - self.mean) / self.sd
        mask = torch.from_numpy(np.asarray(self.masks[i], np.float32))[None]
        if self.augment:  # flips and quarter turns, the same for film and mask
            dims = [d for d, flip in ((1, torch.rand(()) < 0.5), (2, torch.rand(()) < 0.5)) if flip]
            turns = int(torch.randint(4, ()))
            image, mask = (torch.rot90(t.flip(dims) if dims else t, turns, (1, 2)) for t in (image, mask))
        return image, mask


class DiceBCE(nn.Module):
    """Binary cross-entropy plus soft Dice on logits (nnU-Net's loss)."""

    def __init__(self):
        super().__init__()
        self.bce, self.dice = nn.BCEWithLogitsLoss(), smp.losses.DiceLoss("binary", from_logits=True)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.bce(logits, target) + self.dice(logits, target)


class ForegroundTask(Task):
    """Letterboxed films (n, s, s) uint8 and their target masks (n, s, s), a ``table`` with ``split``."""

    name = "foreground"
    augmentations = ("none", "flips")  # flips and quarter turns, the same for film and mask

    def __init__(self, films: np.ndarray, masks: np.ndarray, table: pd.DataFrame):
        if not (len(films) == len(masks) == len(table)):
            raise ValueError(f"{len(films)} films, {len(masks)} masks, {len(table)} table rows")
        self.films, self.masks, self.table = films, np.asarray(masks, bool), table.reset_index(drop=True)
        train = self.rows("train")
        if not len(train):
            raise ValueError("no training films")
        pixels = np.asarray(films[train], np.float32)
        self.pixel_mean, self.pixel_sd = float(pixels.mean()), float(pixels.std() or 1.0)
        self.num_outputs = 1

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def dataset(self, split: str, augment: str = "none") -> Dataset:
        rows = self.rows(split)
        return _Films(self.films[rows], self.masks[rows], self.pixel_mean, self.pixel_sd, self.augmentation(augment, split) != "none")

    def loss(self, name: str | None = None) -> nn.Module:
        return DiceBCE()

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> np.ndarray:
        """Foreground probabilities (n, s, s)."""
        return 1 / (1 + np.exp(-np.asarray(outputs["outputs"], np.float32)[:, 0]))

    def evaluate(self, predictions: np.ndarray, split: str = "test", masks: np.ndarray | None = None) -> dict:
        """Mean per-film Dice of the post-processed masks against the targets (or other ``masks`` of the split)."""
        targets = self.masks[self.rows(split)] if masks is None else masks
        scores = [dice(postprocess(p), t) for p, t in zip(predictions, targets)]
        return {"dice": round(float(np.mean(scores)), 4), "dice_min": round(float(np.min(scores)), 4), "n": len(scores)}

    def inputs(self, films: np.ndarray) -> Dataset:
        """Any letterboxed ``films`` (the same size and unit) as the model reads them, for inference
        (:func:`ralib.train.extract.segment`)."""
        return _Films(films, np.zeros((len(films), 1, 1), bool), self.pixel_mean, self.pixel_sd, augment=False)

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "pixel_mean": self.pixel_mean, "pixel_sd": self.pixel_sd}

    def fingerprint(self) -> str:
        return hash_task_data((self.name,), (self.films, self.masks), self.table)
