"""Whole-image tasks: one grey image and one target per item, a patient-level split, and how to score
predictions.

One :class:`ImageTask` per question the whole-image and per-hand papers ask, built from a data set and
its image array:

===================  ===========================================  ==============  =========================
builder              question                                     outputs         measured by
===================  ===========================================  ==============  =========================
``svdh_regression``  total SvdH of a dual-hand film (MIUA 2024)   1, z-scored     PCC / MAE / RMSE
``severity``         its 10 severity classes (MIUA 2024)          10 classes      (balanced) accuracy, ...
``recognition``      normal vs RA, per hand (diagnosis 2024)      2 classes       AUC, sensitivity, ...
``staging``          normal + RA stages 1-5, per hand             6 classes       one-vs-rest, macro
``bone_age``         bone age of a child's hand (pretraining)     1, z-scored     PCC / MAE / RMSE
===================  ===========================================  ==============  =========================

Example:
    >>> import numpy as np, pandas as pd
    >>> table = pd.DataFrame({"split": ["train", "train", "val", "test"], "score": [0.0, 20.0, 10.0, 5.0]})
    >>> task = ImageTask("demo", "regression", np.zeros((4, 8, 8), np.float16), table, "score")
    >>> task.encode(np.array([10.0])).round(3).tolist(), task.decode({"outputs": np.array([[1.0]])}).round(2).tolist()
    ([0.0], [20.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from ralib import anatomy
from ralib.data.analysis import hand_stages, image_labels
from ralib.data.io import probe_image
from ralib.data.loaders import AUGMENTATIONS, ImageDataset
from ralib.data.model import RADataset
from ralib.geometry import Placement
from ralib.losses import RegressionMSE, SmoothLoss
from ralib.metrics import binary_metrics, class_metrics, multiclass_metrics, regression_metrics
from ralib.models import penultimate
from ralib.splits import film_split
from ralib.tasks.base import Task, hash_task_data, placement_table

STAGE_CLASSES = ("normal", "stage 1", "stage 2", "stage 3", "stage 4", "stage 5")

#: losses a whole-image task trains with, by the name a recipe gives
LOSSES = {"mse": RegressionMSE, "smooth": SmoothLoss, "cross_entropy": nn.CrossEntropyLoss}


@dataclass
class ImageTask(Task):
    """Images (n, h, w) in 0-1 and a table with one row per image: ``split`` and the ``target`` column."""

    name: str
    kind: str  # "regression" or "classification"
    images: np.ndarray
    table: pd.DataFrame
    target: str
    classes: tuple[str, ...] = ()
    measure: str = "regression"  # regression | severity | binary | multiclass
    notes: list[str] = field(default_factory=list)
    record: dict | None = None  # a trained model's checkpoint record: its scaling is used, no training image is needed

    augmentations = tuple(AUGMENTATIONS)  # the papers' (ralib.data.loaders.AUGMENTATIONS)

    def __post_init__(self):
        if len(self.images) != len(self.table):
            raise ValueError(f"{self.name}: {len(self.images)} images but {len(self.table)} table rows")
        self.table = self.table.reset_index(drop=True)
        if self.record is not None:  # scoring new images with a trained model, as it saw its own
            self.target_mean, self.target_sd = float(self.record["target_mean"]), float(self.record["target_sd"])
            self.pixel_mean, self.pixel_sd = float(self.record["pixel_mean"]), float(self.record["pixel_sd"])
            return
        train = self.table[self.table.split == "train"]
        if not len(train):
            raise ValueError(f"{self.name}: no training images")
        y = train[self.target].to_numpy(float)
        self.target_mean, self.target_sd = float(y.mean()), float(y.std() or 1.0)
        pixels = self.images[self.table.index[self.table.split == "train"]].astype(np.float32)
        self.pixel_mean, self.pixel_sd = float(pixels.mean()), float(pixels.std() or 1.0)

    @property
    def num_outputs(self) -> int:
        return 1 if self.kind == "regression" else len(self.classes)

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Targets as the model learns them: z-scores for regression, class indices otherwise."""
        if self.kind == "regression":
            return ((np.asarray(y, float) - self.target_mean) / self.target_sd).astype(np.float32)
        return np.asarray(y, np.int64)

    def loss(self, name: str | None = None) -> nn.Module:
        """``mse`` (default for regression), ``smooth`` or ``cross_entropy`` (default for classification)."""
        name = name or ("mse" if self.kind == "regression" else "cross_entropy")
        if name not in LOSSES:
            raise ValueError(f"{self.name}: unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
        if (name == "cross_entropy") != (self.kind == "classification"):
            needs = "classification" if name == "cross_entropy" else "regression"
            raise ValueError(f"{self.name} is a {self.kind}: the loss {name} needs a {needs}")
        return LOSSES[name]()

    def forward(self, model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return image_outputs(model, images)

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> np.ndarray:
        """Model outputs as predictions: scores in the target's unit, or class probabilities."""
        outputs = np.asarray(outputs["outputs"], float)
        if self.kind == "regression":
            return outputs.reshape(len(outputs)) * self.target_sd + self.target_mean
        e = np.exp(outputs - outputs.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def dataset(self, split: str, augment: str = "none") -> ImageDataset:
        rows = self.rows(split)
        return ImageDataset(self.images[rows], self.encode(self.table[self.target].to_numpy()[rows]),
                            augment=self.augmentation(augment, split), mean=self.pixel_mean, sd=self.pixel_sd)  # fmt: skip

    def fingerprint(self) -> str:
        """A hash of the images, the targets, the split and what is asked of them."""
        settings = (self.name, self.kind, self.target, self.classes, self.measure)
        return hash_task_data(settings, (self.images,), self.table, ("split", self.target))

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "classes": list(self.classes),
                "target_mean": self.target_mean, "target_sd": self.target_sd,
                "pixel_mean": self.pixel_mean, "pixel_sd": self.pixel_sd, "input_size": int(self.images.shape[-1])}  # fmt: skip

    def truth(self, split: str) -> np.ndarray:
        return self.table[self.target].to_numpy()[self.rows(split)]

    def placements(self, split: str) -> pd.DataFrame:
        """Each image is the part of its film it shows (a hand's ``x0`` ... ``y1`` in the table), else the whole
        film (its size read from the file's header), stretched to the square input."""
        rows = self.table.iloc[self.rows(split)]
        size = self.images.shape[-1]
        if {"x0", "y0", "x1", "y1"} <= set(rows):
            boxes = rows[["x0", "y0", "x1", "y1"]].to_numpy(float)
        else:
            if "image_path" not in rows:
                raise ValueError(f"{self.name}: the table says neither what part of a film an image shows nor where the film is")
            boxes = np.array([(0, 0, w, h) for h, w in (probe_image(path) for path in rows.image_path)], float)
        return placement_table(rows.radiograph_id, np.arange(len(rows)), np.zeros(len(rows)), [Placement.box(*b, size) for b in boxes], size)

    def evaluate(self, predictions: np.ndarray, split: str = "test") -> dict:
        """The task's measures of decoded ``predictions`` for ``split`` against its targets."""
        true = self.truth(split)
        if self.measure == "regression":
            return regression_metrics(true, predictions)
        if self.measure == "severity":
            return class_metrics(true, np.asarray(predictions).argmax(1), len(self.classes))
        if self.measure == "binary":
            return binary_metrics(true, np.asarray(predictions)[:, 1])
        return multiclass_metrics(true, predictions)


def image_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """A backbone's ``outputs`` and penultimate ``features`` (for t-SNE) in one forward pass."""
    features = penultimate(model, images)
    return {"outputs": model.get_classifier()(features), "features": features}


def svdh_regression(ds: RADataset, films: np.ndarray, seed: int = 0) -> ImageTask:
    """Total SvdH of each film from the whole image (``films`` from :func:`ralib.data.arrays.film_array`)."""
    label, what = image_labels(ds)
    table = ds.radiographs.assign(score=label.reindex(ds.radiographs.radiograph_id).to_numpy())
    keep = table.score.notna().to_numpy()
    task = ImageTask("svdh_regression", "regression", films[keep], film_split(table[keep], seed, "score"), "score")
    task.notes.append(f"target: {what}; {int((~keep).sum())} films without one left out")
    return task


def severity(ds: RADataset, films: np.ndarray, seed: int = 0) -> ImageTask:
    """The 10 SvdH severity classes of each film (:data:`ralib.anatomy.SEVERITY_LABELS`)."""
    task = svdh_regression(ds, films, seed)
    table = task.table.assign(severity=anatomy.severity_class(task.table.score.clip(0, 280).to_numpy()))
    return ImageTask("severity", "classification", task.images, table, "severity", anatomy.SEVERITY_LABELS, "severity", task.notes)


def _with_stage(hand_table: pd.DataFrame, ds: RADataset) -> pd.DataFrame:
    table = hand_table.merge(hand_stages(ds), on=["radiograph_id", "hand"], how="left")
    table["score"] = table.stage  # stratify the split by stage when one must be made
    return table


def recognition(ds: RADataset, hands: np.ndarray, hand_table: pd.DataFrame, seed: int = 0) -> ImageTask:
    """Normal (stage 0) against RA (stages 1-5), one hand at a time (``hand_array`` output)."""
    table = _with_stage(hand_table, ds)
    keep = table.stage.notna().to_numpy()
    table = film_split(table[keep], seed, "score").assign(ra=lambda t: (t.stage > 0).astype(int))
    return ImageTask("recognition", "classification", hands[keep], table, "ra", ("normal", "RA"), "binary")


def staging(ds: RADataset, hands: np.ndarray, hand_table: pd.DataFrame, seed: int = 0) -> ImageTask:
    """Normal and RA stages 1-5, one hand at a time."""
    table = _with_stage(hand_table, ds)
    keep = table.stage.notna().to_numpy()
    table = film_split(table[keep], seed, "score").assign(stage=lambda t: t.stage.astype(int))
    return ImageTask("staging", "classification", hands[keep], table, "stage", STAGE_CLASSES, "multiclass")


def bone_age(ds: RADataset, hands: np.ndarray, seed: int = 0, val_fraction: float = 0.1) -> ImageTask:
    """Bone age in months of children's hands; without a validation file, ``val_fraction`` of the
    training images is held out (the MIUA 2024 paper's 90/10 split)."""
    table = ds.radiographs[["radiograph_id", "patient_id", "split", "bone_age"]].copy()
    if not (table.split == "val").any():
        rng = np.random.default_rng(seed)
        table["split"] = np.where(rng.random(len(table)) < val_fraction, "val", "train")
    return ImageTask("bone_age", "regression", hands, table, "bone_age")
