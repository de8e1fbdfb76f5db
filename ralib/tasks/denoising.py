"""RheumaVIT's self-supervised pretraining task: restore joint crops corrupted by elastic deformation,
cut-out rectangles and Gaussian noise (L1), so that a backbone learns radiographs before it learns grades.

The crops are those the scorer trains on (:class:`ralib.tasks.joint_grades.JointGradeTask`: the middle
1-4 box sides in training, 2.5 at evaluation, ``input_size`` pixels, normalised by the training crops'
mean and SD); no grade is read. The corruption (:func:`corrupt`) works on the normalised crop:
torchvision's elastic deformation (its defaults, alpha 50 and sigma 5, scaled down on crops under 40
pixels), one or two rectangles set to the mean, and noise of ``noise_sd`` training-crop SDs. Validation
crops are corrupted the same way each epoch (seeded per crop), so that epochs compare;
:meth:`DenoisingTask.evaluate` reports the L1 of the restoration beside the L1 of the corrupted crop (what
"no restoration" scores).

Example:
    >>> import numpy as np, pandas as pd
    >>> task = DenoisingTask(np.zeros((4, 32, 32), np.uint8), pd.DataFrame({"split": ["train"] * 3 + ["val"]}), input_size=16)
    >>> corrupted, clean = task.dataset("val")[0]
    >>> tuple(corrupted.shape), tuple(clean.shape), bool((corrupted != clean).any())
    ((1, 16, 16), (1, 16, 16), True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset
from torchvision.transforms import v2

from ralib.tasks.base import Task, hash_task_data
from ralib.tasks.joint_grades import JointGradeDataset


def corrupt(image: torch.Tensor, noise_sd: float = 0.5) -> torch.Tensor:
    """``image`` ``(C, H, W)``, normalised, elastically deformed (torchvision), with one or two cut-out
    rectangles (2-8 % of the image each, set to 0, the mean) and Gaussian noise of ``noise_sd``; draws from
    torch's global random state.

    Example:
        >>> torch.manual_seed(0) and None
        >>> float((corrupt(torch.zeros(1, 32, 32), noise_sd=0.0) == 0).float().mean())
        1.0
    """
    sigma = min(5.0, image.shape[-1] / 8)  # torchvision's default smoothness, less on small crops (its kernel must fit)
    out = v2.ElasticTransform(alpha=10 * sigma, sigma=sigma)(image)
    for _ in range(1 + int(torch.randint(2, ()))):
        out = v2.RandomErasing(p=1.0, scale=(0.02, 0.08), value=0.0)(out)
    return out + noise_sd * torch.randn_like(out)


class DenoisingDataset(Dataset):
    """``(corrupted, clean)`` pairs from a dataset of ``(clean, target)`` crops; ``seeded``: crop ``i`` is
    corrupted the same way every time (validation)."""

    def __init__(self, crops: Dataset, noise_sd: float = 0.5, seeded: bool = False, seed: int = 0):
        self.crops, self.noise_sd, self.seeded, self.seed = crops, noise_sd, seeded, seed

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int):
        clean = self.crops[i][0]
        if not self.seeded:
            return corrupt(clean, self.noise_sd), clean
        with torch.random.fork_rng():
            torch.manual_seed(self.seed * 1_000_003 + i)
            return corrupt(clean, self.noise_sd), clean


class DenoisingTask(Task):
    """Joint crops ``(n, s, s)`` uint8 and a table with their ``split``: restore each corrupted crop (L1)."""

    name = "joint_denoising"
    num_outputs = 1  # channels restored
    augmentations = ("none", "joints")  # the scorer's: growth, flips, rotations, intensity (JointGradeDataset)

    def __init__(self, images: np.ndarray, table: pd.DataFrame, input_size: int = 96, grow: float = 4.0,
                 eval_growth: float = 2.5, epoch_size: int | None = None, noise_sd: float = 0.5):  # fmt: skip
        if len(images) != len(table):
            raise ValueError(f"{len(images)} crops but {len(table)} table rows")
        self.images, self.table = images, table.reset_index(drop=True)
        self.input_size, self.grow, self.eval_growth, self.epoch_size, self.noise_sd = input_size, grow, eval_growth, epoch_size, noise_sd
        train = self.rows("train")
        if not len(train):
            raise ValueError("no training crops")
        pixels = images[train[:: max(1, len(train) // 2000)]].astype(np.float32) / 255  # as JointGradeTask normalises
        self.pixel_mean, self.pixel_sd = float(pixels.mean()), float(pixels.std() or 1.0)

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def dataset(self, split: str, augment: str = "none") -> DenoisingDataset:
        rows = self.rows(split)
        training = self.augmentation(augment, split) != "none"
        growth = (1.0, self.grow) if training else (self.eval_growth, self.eval_growth)
        crops = JointGradeDataset(self.images[rows], np.zeros((len(rows), 0), np.int64), self.input_size, self.grow, growth,
                                  np.ones(len(rows)) if training else None, self.epoch_size, training,
                                  self.pixel_mean, self.pixel_sd)  # fmt: skip
        return DenoisingDataset(crops, self.noise_sd, seeded=not training)

    def loss(self, name: str | None = None) -> nn.Module:
        if name not in (None, "l1"):
            raise ValueError(f"{self.name}: RheumaVIT's pretraining restores with the L1 loss; got {name!r}")
        return nn.L1Loss()

    def forward(self, model: nn.Module, corrupted: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"outputs": model(corrupted), "corrupted": corrupted}

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> dict[str, np.ndarray]:
        """The restored crops and the corrupted ones they came from, ``(n, 1, s, s)`` each."""
        return {"restored": np.asarray(outputs["outputs"]), "corrupted": np.asarray(outputs["corrupted"])}

    def clean(self, split: str) -> np.ndarray:
        """The clean crops of ``split`` as the model sees them (evaluation growth, normalised)."""
        data = self.dataset(split)
        return np.stack([data.crops[i][0].numpy() for i in range(len(data))])

    def evaluate(self, predictions: dict[str, np.ndarray], split: str = "test") -> dict:
        """Mean absolute error of the restored crops and of the corrupted ones against the clean crops, in
        training-crop SDs."""
        clean = self.clean(split)
        return {"l1_restored": float(np.abs(predictions["restored"] - clean).mean()),
                "l1_corrupted": float(np.abs(predictions["corrupted"] - clean).mean()), "n": len(clean)}  # fmt: skip

    def fingerprint(self) -> str:
        settings = (self.name, self.input_size, self.grow, self.eval_growth, self.epoch_size, self.noise_sd)
        return hash_task_data(settings, (self.images,), self.table)

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "input_size": self.input_size, "grow": self.grow,
                "eval_growth": self.eval_growth, "pixel_mean": self.pixel_mean, "pixel_sd": self.pixel_sd}  # fmt: skip
