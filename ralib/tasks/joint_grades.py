"""RheumaVIT's scoring stage: a joint's erosion (0-5) and JSN (0-4) grades from one crop at its box.

The crops come from :func:`ralib.patches.box_crops.box_crop_cache`, cut four box sides wide; a training
crop shows the middle ``g`` box sides, ``g`` drawn anew each time between 1 and 4, and an evaluation crop
2.5 (:func:`ralib.data.loaders.grown_centre`), resized to ``input_size``. Training batches are drawn
with weights inverse to the frequency of the crop's grades (per head, averaged over the heads the joint is
scored for), an epoch of ``epoch_size`` draws. One model scores every head of ``heads`` (shared) or one
(separate models); a joint without a site of a head is masked out of that head's loss
(:class:`ralib.losses.JointGradeLoss`: focal loss on targets smoothed to the neighbouring grades).

Targets are the ``label`` of each head: ``grade`` (the data set's aggregate of its experts), ``truth``
(synthetic data), ``reader_<k>``, or an aggregate made here (:func:`add_aggregates`: ``dawid_skene``,
``majority``, ``rounded_mean``).

Example:
    >>> import numpy as np, pandas as pd
    >>> table = pd.DataFrame({"split": ["train", "train", "val"], "erosion_site": ["ip", "", "ip"],
    ...                       "jsn_site": ["ip", "cmc3", "ip"], "erosion_grade": [1, None, 0], "jsn_grade": [0, 2, 1]})
    >>> task = JointGradeTask(np.zeros((3, 16, 16), np.uint8), table, input_size=8)
    >>> task.targets.tolist(), task.num_outputs
    ([[1, 0], [-1, 2], [0, 1]], 11)
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ralib import anatomy
from ralib.agreement import class_weighted_accuracy, class_weighted_mae
from ralib.calibration import class_priors, prior_shift
from ralib.data.aggregate import aggregate
from ralib.data.loaders import centre_box, grown_centre
from ralib.geometry import Placement
from ralib.losses import JointGradeLoss
from ralib.tasks.base import Task, hash_task_data, placement_table

#: grades per head: erosion 0-5, JSN 0-4
HEADS = {"erosion": anatomy.EROSION_MAX + 1, "jsn": anatomy.JSN_MAX + 1}


#: the joint groups of RheumaVIT's per-group results
JOINT_GROUPS = {"ip": "IP / DIP", **{f"dip{f}": "IP / DIP" for f in (2, 3, 4, 5)}, **{f"pip{f}": "PIP" for f in (2, 3, 4, 5)},
                **{f"mcp{f}": "MCP" for f in (1, 2, 3, 4, 5)}, **{f"cmc{f}": "CMC" for f in (1, 3, 4, 5)},
                "wrist": "wrist", "ulna": "wrist", "radiocarpal": "wrist"}  # fmt: skip

#: SvdH sites each joint box pools, per head: how much a box's grade counts in a film's SvdH total
SITES_PER_BOX = {kind: {j.name: len(getattr(j, f"{kind}_sites")) for j in anatomy.JOINTS} for kind in HEADS}


def assembled_totals(table: pd.DataFrame, probabilities: np.ndarray, heads: tuple[str, ...] = tuple(HEADS)) -> pd.Series:
    """Each film's SvdH total assembled from its joints: per crop (rows of ``table``: ``radiograph_id``,
    ``joint``) and head, the expected grade under ``probabilities`` (:meth:`JointGradeTask.decode`) times
    the number of SvdH sites that joint box pools (:data:`SITES_PER_BOX`; DIP joints count nothing), summed
    per film.

    Example:
        >>> table = pd.DataFrame({"radiograph_id": ["a", "a"], "joint": ["mcp2", "dip2"]})
        >>> p = np.zeros((2, 11)); p[:, 2] = 1; p[:, 6 + 1] = 1  # erosion 2, JSN 1 on both joints
        >>> assembled_totals(table, p).to_dict()
        {'a': 3.0}
    """
    start, total = 0, np.zeros(len(table))
    for kind in heads:
        part = probabilities[:, start : start + HEADS[kind]]
        weights = table.joint.map(SITES_PER_BOX[kind]).fillna(0).to_numpy(float)
        total += weights * (part @ np.arange(HEADS[kind]))
        start += HEADS[kind]
    return pd.Series(total, index=table.radiograph_id.astype(str).to_numpy()).groupby(level=0).sum()


def add_aggregates(table: pd.DataFrame, methods=("dawid_skene", "majority", "rounded_mean")) -> pd.DataFrame:
    """The experts' grades of each head (``<kind>_reader_<k>``) combined by each of ``methods``
    (:func:`ralib.data.aggregate.aggregate`) into ``<kind>_<method>``, over the crops that have that site."""
    table = table.copy()
    for kind in HEADS:
        readers = sorted(c for c in table if c.startswith(f"{kind}_reader_"))
        scored = (table[f"{kind}_site"] != "").to_numpy() & table[readers].notna().any(axis=1).to_numpy() if readers else None
        for method in methods:
            table[f"{kind}_{method}"] = np.nan
            if readers and scored.any():
                grades = table.loc[scored, readers].rename(columns=lambda c: c.removeprefix(f"{kind}_"))
                table.loc[scored, f"{kind}_{method}"] = aggregate(grades, method).to_numpy()
    return table


def split_grade_table(table: pd.DataFrame, films: pd.DataFrame, val_films: int | None = None) -> pd.DataFrame:
    """A crop cache's ``table`` ready for :class:`JointGradeTask`: the experts' aggregates added
    (:func:`add_aggregates`) and each crop given its film's ``split`` from ``films`` (so that no film's
    joints cross splits); crops of films without a split, and of validation films beyond the first
    ``val_films`` (sorted by id; None: all), are ``unused``.

    Example:
        >>> crops = pd.DataFrame({"radiograph_id": ["a", "b", "c", "d"], "erosion_site": ["ip"] * 4, "jsn_site": ["ip"] * 4})
        >>> films = pd.DataFrame({"radiograph_id": ["a", "b", "c"], "split": ["train", "val", "val"]})
        >>> split_grade_table(crops, films, val_films=1).split.tolist()
        ['train', 'val', 'unused', 'unused']
    """
    table = add_aggregates(table).drop(columns="split", errors="ignore")
    split = films.set_index(films.radiograph_id.astype(str)).split
    table["split"] = table.radiograph_id.astype(str).map(split).fillna("unused").to_numpy()
    val = sorted(table.radiograph_id[table.split == "val"].astype(str).unique())
    beyond = (table.split == "val") & ~table.radiograph_id.astype(str).isin(val[: val_films or len(val)])
    table.loc[beyond, "split"] = "unused"
    return table


def sampling_weights(targets: np.ndarray) -> np.ndarray:
    """Per crop, the mean over its scored heads of 1 / (how often its grade occurs in that head)."""
    weights = np.zeros(len(targets))
    heads_scored = np.zeros(len(targets))
    for k in range(targets.shape[1]):
        scored = targets[:, k] >= 0
        counts = np.bincount(targets[scored, k])
        weights[scored] += 1.0 / counts[targets[scored, k]]
        heads_scored += scored
    return np.where(heads_scored > 0, weights / np.maximum(heads_scored, 1), 0.0)


class JointGradeDataset(Dataset):
    """Crops ``(n, s, s)`` uint8 and their targets ``(n, heads)``; with ``weights``, an epoch of
    ``epoch_size`` crops drawn with those weights (torch's generator, so seeded) and a random growth
    between ``growth`` 's bounds; otherwise every crop once at ``growth[0]``."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, input_size: int, grow: float, growth: tuple[float, float],
                 weights: np.ndarray | None = None, epoch_size: int | None = None, augment: bool = False,
                 mean: float = 0.0, sd: float = 1.0):  # fmt: skip
        self.images, self.targets, self.input_size, self.grow, self.growth = images, targets, input_size, grow, growth
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.epoch_size = epoch_size or len(images)
        self.augment, self.mean, self.sd = augment, mean, sd

    def __len__(self) -> int:
        return self.epoch_size if self.weights is not None else len(self.images)

    def __getitem__(self, i: int):
        if self.weights is not None:
            i = int(torch.multinomial(self.weights, 1))
        low, high = self.growth
        growth = low + (high - low) * float(torch.rand(())) if high > low else low
        crop = grown_centre(np.asarray(self.images[i], np.float32) / 255, growth, self.grow, self.input_size)
        image = torch.from_numpy(crop)[None]
        if self.augment:  # RheumaVIT: flips, rotations by 90 degrees, intensity
            if torch.rand(()) < 0.5:
                image = image.flip(-1)
            image = torch.rot90(image, int(torch.randint(4, ())), dims=(-2, -1)) * (0.9 + 0.2 * torch.rand(()))
        return (image - self.mean) / self.sd, torch.from_numpy(self.targets[i])


class JointGradeTask(Task):
    """Joint crops and a table row per crop (``split``, ``<kind>_site`` and the ``<kind>_<label>`` grades).
    ``pixel_stats`` (a trained scorer's checkpoint's ``pixel_mean``, ``pixel_sd``) scores new crops: then no
    training crop and no grade is needed (a crop without its grade column is ungraded, -1)."""

    name = "joint_grades"
    monitor = ("accuracy", True)  # the mean over the heads of the class-weighted accuracy, as Table 1 reports
    augmentations = ("none", "joints")  # RheumaVIT's: growth, flips, quarter turns, intensity, balanced draws

    def __init__(self, images: np.ndarray, table: pd.DataFrame, heads: tuple[str, ...] = ("erosion", "jsn"),
                 label: str = "grade", input_size: int = 96, grow: float = 4.0, eval_growth: float = 2.5,
                 epoch_size: int | None = None, p: float = 0.4, pixel_stats: tuple[float, float] | None = None):  # fmt: skip
        if len(images) != len(table):
            raise ValueError(f"{len(images)} crops but {len(table)} table rows")
        unknown = set(heads) - set(HEADS)
        if unknown or not heads:
            raise ValueError(f"heads must come from {', '.join(HEADS)}; got {heads}")
        self.images, self.table, self.heads, self.label = images, table.reset_index(drop=True), tuple(heads), label
        self.name = "joint_grades" if set(heads) == set(HEADS) else "joint_grades_" + "_".join(heads)  # one checkpoint each
        self.input_size, self.grow, self.eval_growth, self.epoch_size, self.p = input_size, grow, eval_growth, epoch_size, p
        ungraded = np.full(len(self.table), -1, np.int64)
        self.targets = np.stack([ungraded if pixel_stats is not None and f"{kind}_{label}" not in self.table else self.grades(kind)
                                 for kind in self.heads], axis=1)  # fmt: skip
        self.num_outputs = sum(HEADS[k] for k in self.heads)
        if pixel_stats is not None:  # scoring with a trained scorer
            self.pixel_mean, self.pixel_sd = map(float, pixel_stats)
            return
        train = self.rows("train")
        if not len(train):
            raise ValueError("no training crops")
        pixels = images[train[:: max(1, len(train) // 2000)]].astype(np.float32) / 255
        self.pixel_mean, self.pixel_sd = float(pixels.mean()), float(pixels.std() or 1.0)

    def grades(self, kind: str, label: str | None = None) -> np.ndarray:
        """The ``label`` grades of one head per crop, -1 where the joint has no such site or no grade."""
        column = f"{kind}_{label or self.label}"
        if column not in self.table:
            raise ValueError(f"no {column} column: add it (add_aggregates) or choose another label")
        values = pd.to_numeric(self.table[column], errors="coerce").to_numpy(float)
        scored = (self.table[f"{kind}_site"].fillna("") != "").to_numpy() & np.isfinite(values)
        if np.any(values[scored] % 1):
            raise ValueError(f"{column}: grades must be whole numbers (aggregate the readers first)")
        return np.where(scored, np.nan_to_num(values), -1).astype(np.int64)

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def dataset(self, split: str, augment: str = "none") -> JointGradeDataset:
        rows = self.rows(split)
        training = self.augmentation(augment, split) != "none"
        weights = sampling_weights(self.targets[rows]) if training else None
        growth = (1.0, self.grow) if training else (self.eval_growth, self.eval_growth)
        return JointGradeDataset(self.images[rows], self.targets[rows], self.input_size, self.grow, growth, weights,
                                 self.epoch_size, training, self.pixel_mean, self.pixel_sd)  # fmt: skip

    def placements(self, split: str) -> pd.DataFrame:
        """Each evaluation input: the middle ``eval_growth`` box sides of its cached crop
        (:func:`~ralib.data.loaders.grown_centre`), resized to ``input_size``, on the film where the cache cut it."""
        rows = self.table.iloc[self.rows(split)]
        start, side = centre_box(self.images.shape[-1], self.eval_growth, self.grow)
        middle = Placement.box(start, start, start + side, start + side, self.input_size)
        placements = [Placement.from_columns(r).after(middle) for _, r in rows.iterrows()]
        return placement_table(rows.radiograph_id, np.arange(len(rows)), np.zeros(len(rows)), placements, self.input_size)

    def loss(self, name: str | None = None) -> nn.Module:
        if name not in (None, "focal"):
            raise ValueError(f"{self.name}: RheumaVIT trains with the focal loss on smoothed targets; got {name!r}")
        return JointGradeLoss(tuple(HEADS[k] for k in self.heads), self.p)

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> np.ndarray:
        """Per head, the probability of each grade (softmax), side by side: ``(n, num_outputs)``."""
        logits, out, start = np.asarray(outputs["outputs"], float), [], 0
        for kind in self.heads:
            part = logits[:, start : start + HEADS[kind]]
            e = np.exp(part - part.max(1, keepdims=True))
            out.append(e / e.sum(1, keepdims=True))
            start += HEADS[kind]
        return np.concatenate(out, axis=1)

    def head_probabilities(self, predictions: np.ndarray, kind: str) -> np.ndarray:
        start = sum(HEADS[k] for k in self.heads[: self.heads.index(kind)])
        return predictions[:, start : start + HEADS[kind]]

    def priors(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """One head's grade frequencies among the training crops: as training draws them (weighted,
        :func:`sampling_weights`) and as they are (both uniform where no training crop has the head's site)."""
        targets = self.targets[self.rows("train")]
        grades = targets[:, self.heads.index(kind)]
        scored = grades >= 0
        if not scored.any():
            return (np.full(HEADS[kind], 1 / HEADS[kind]),) * 2
        drawn = class_priors(grades[scored], HEADS[kind], sampling_weights(targets)[scored])
        return drawn, class_priors(grades[scored], HEADS[kind])

    def calibrated(self, predictions: np.ndarray) -> np.ndarray:
        """:meth:`decode`'s probabilities corrected for the weighted draws (:func:`ralib.calibration.prior_shift`
        from the drawn to the training crops' own grade frequencies): what an expected grade, and a total summed
        from joints, should use. The argmax of the uncorrected probabilities is what class-weighted accuracy wants.

        Example:
            >>> table = pd.DataFrame({"split": ["train"] * 4, "erosion_site": ["ip"] * 4, "jsn_site": ["ip"] * 4,
            ...                       "erosion_grade": [0, 0, 0, 1], "jsn_grade": [0, 0, 0, 1]})
            >>> task = JointGradeTask(np.zeros((4, 8, 8), np.uint8), table, input_size=8)
            >>> p = np.full((1, 11), 0.0); p[0, :2] = 0.5; p[0, 6:8] = 0.5  # undecided between grades 0 and 1
            >>> task.calibrated(p)[0, :2].round(2).tolist()  # erosion 1 is rare in the data, not in the draws
            [0.75, 0.25]
        """
        out, start = np.array(predictions, float), 0
        for kind in self.heads:
            drawn, actual = self.priors(kind)
            out[:, start : start + HEADS[kind]] = prior_shift(out[:, start : start + HEADS[kind]], drawn, actual)
            start += HEADS[kind]
        return out

    def evaluate(self, predictions: np.ndarray, split: str = "test", label: str | None = None) -> dict:
        """Per head, over the crops with that site: class-weighted accuracy and MAE (RheumaVIT's measures)
        and plain accuracy, against the task's label or another ``label`` (e.g. ``truth``); ``accuracy``: the
        heads' class-weighted accuracies averaged."""
        out = {}
        rows = self.rows(split)
        for kind in self.heads:
            true = self.grades(kind, label)[rows]
            pred = self.head_probabilities(predictions, kind).argmax(1)
            scored = true >= 0
            out[f"{kind}_accuracy"] = class_weighted_accuracy(true[scored], pred[scored])
            out[f"{kind}_mae"] = class_weighted_mae(true[scored], pred[scored])
            out[f"{kind}_plain_accuracy"] = float(np.mean(true[scored] == pred[scored]))
            out[f"{kind}_n"] = int(scored.sum())
        out["accuracy"] = float(np.mean([out[f"{kind}_accuracy"] for kind in self.heads]))
        return out

    def fingerprint(self) -> str:
        settings = (self.name, self.heads, self.label, self.input_size, self.grow, self.eval_growth, self.epoch_size, self.p)
        return hash_task_data(settings, (self.images, self.targets), self.table)

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "heads": list(self.heads), "label": self.label,
                "input_size": self.input_size, "grow": self.grow, "eval_growth": self.eval_growth,
                "pixel_mean": self.pixel_mean, "pixel_sd": self.pixel_sd}  # fmt: skip
