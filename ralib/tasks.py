"""Learning tasks: images, a target per image, a patient-level split, and how to score predictions.

One :class:`Task` per question the papers ask, built from a data set and its image array:

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
    >>> task = Task("demo", "regression", np.zeros((4, 8, 8), np.float16), table, "score")
    >>> task.encode(np.array([10.0])).round(3).tolist(), task.decode(np.array([[1.0]])).round(2).tolist()
    ([0.0], [20.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.data.analysis import hand_stages, image_labels
from ralib.data.loaders import ImageDataset
from ralib.data.model import RADataset
from ralib.data.splits import patient_split
from ralib.metrics import binary_metrics, class_metrics, multiclass_metrics, regression_metrics

STAGE_CLASSES = ("normal", "stage 1", "stage 2", "stage 3", "stage 4", "stage 5")


@dataclass
class Task:
    """Images (n, h, w) in 0-1 and a table with one row per image: ``split`` and the ``target`` column."""

    name: str
    kind: str  # "regression" or "classification"
    images: np.ndarray
    table: pd.DataFrame
    target: str
    classes: tuple[str, ...] = ()
    measure: str = "regression"  # regression | severity | binary | multiclass
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if len(self.images) != len(self.table):
            raise ValueError(f"{self.name}: {len(self.images)} images but {len(self.table)} table rows")
        self.table = self.table.reset_index(drop=True)
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

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Model outputs as predictions: scores in the target's unit, or class probabilities."""
        outputs = np.asarray(outputs, float)
        if self.kind == "regression":
            return outputs.reshape(len(outputs)) * self.target_sd + self.target_mean
        e = np.exp(outputs - outputs.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def dataset(self, split: str, augment: str = "none") -> ImageDataset:
        rows = self.rows(split)
        return ImageDataset(self.images[rows], self.encode(self.table[self.target].to_numpy()[rows]),
                            augment=augment if split == "train" else "none", mean=self.pixel_mean, sd=self.pixel_sd)  # fmt: skip

    def truth(self, split: str) -> np.ndarray:
        return self.table[self.target].to_numpy()[self.rows(split)]

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


def _with_split(table: pd.DataFrame, seed: int, stratify: str | None) -> pd.DataFrame:
    """Keep a source's split; where it has none, make a patient-level one (MIUA 2024 proportions)."""
    if table.split.isin(["train", "val", "test"]).all():
        return table
    table = table.copy()
    table["split"] = patient_split(table, seed=seed, stratify=stratify).to_numpy()
    return table


def svdh_regression(ds: RADataset, films: np.ndarray, seed: int = 0) -> Task:
    """Total SvdH of each film from the whole image (``films`` from :func:`ralib.data.arrays.film_array`)."""
    label, what = image_labels(ds)
    table = ds.radiographs.assign(score=label.reindex(ds.radiographs.radiograph_id).to_numpy())
    keep = table.score.notna().to_numpy()
    task = Task("svdh_regression", "regression", films[keep], _with_split(table[keep], seed, "score"), "score")
    task.notes.append(f"target: {what}; {int((~keep).sum())} films without one left out")
    return task


def severity(ds: RADataset, films: np.ndarray, seed: int = 0) -> Task:
    """The 10 SvdH severity classes of each film (:data:`ralib.anatomy.SEVERITY_LABELS`)."""
    task = svdh_regression(ds, films, seed)
    table = task.table.assign(severity=anatomy.severity_class(task.table.score.clip(0, 280).to_numpy()))
    return Task("severity", "classification", task.images, table, "severity", anatomy.SEVERITY_LABELS, "severity", task.notes)


def _with_stage(hand_table: pd.DataFrame, ds: RADataset) -> pd.DataFrame:
    table = hand_table.merge(hand_stages(ds), on=["radiograph_id", "hand"], how="left")
    table["score"] = table.stage  # stratify the split by stage when one must be made
    return table


def recognition(ds: RADataset, hands: np.ndarray, hand_table: pd.DataFrame, seed: int = 0) -> Task:
    """Normal (stage 0) against RA (stages 1-5), one hand at a time (``hand_array`` output)."""
    table = _with_stage(hand_table, ds)
    keep = table.stage.notna().to_numpy()
    table = _with_split(table[keep], seed, "score").assign(ra=lambda t: (t.stage > 0).astype(int))
    return Task("recognition", "classification", hands[keep], table, "ra", ("normal", "RA"), "binary")


def staging(ds: RADataset, hands: np.ndarray, hand_table: pd.DataFrame, seed: int = 0) -> Task:
    """Normal and RA stages 1-5, one hand at a time."""
    table = _with_stage(hand_table, ds)
    keep = table.stage.notna().to_numpy()
    table = _with_split(table[keep], seed, "score").assign(stage=lambda t: t.stage.astype(int))
    return Task("staging", "classification", hands[keep], table, "stage", STAGE_CLASSES, "multiclass")


def bone_age(ds: RADataset, hands: np.ndarray, seed: int = 0, val_fraction: float = 0.1) -> Task:
    """Bone age in months of children's hands; without a validation file, ``val_fraction`` of the
    training images is held out (the MIUA 2024 paper's 90/10 split)."""
    table = ds.radiographs[["radiograph_id", "patient_id", "split", "bone_age"]].copy()
    if not (table.split == "val").any():
        rng = np.random.default_rng(seed)
        table["split"] = np.where(rng.random(len(table)) < val_fraction, "val", "train")
    return Task("bone_age", "regression", hands, table, "bone_age")
