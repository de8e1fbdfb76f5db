"""The film's total SvdH from a bag of instance features, for the attention MIL (Scheme 1 tiles, Scheme 2
joint patches).

Items are ``(features (N, D), mask (N,), target)``; all bags of a task have the same ``N`` places (empty
ones masked), so torch's default collate stacks them. The features are computed once by a frozen extractor
(:func:`ralib.train.predict`); ``draws`` may hold further versions of them (e.g. crops cut at landmarks
moved by the localiser's own error), of which training takes one at random per film and epoch. The target
is z-scored with the training films' mean and SD, as in the MIL paper.

Example:
    >>> import numpy as np, pandas as pd
    >>> table = pd.DataFrame({"split": ["train", "train", "test"], "score": [0.0, 10.0, 5.0]})
    >>> task = BagTask(np.ones((3, 4, 2), np.float32), np.ones((3, 4), bool), table)
    >>> features, mask, target = task.dataset("test")[0]
    >>> tuple(features.shape), float(target), task.decode({"outputs": np.array([[1.0]])}).tolist()
    ((4, 2), 0.0, [10.0])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ralib.data.analysis import image_labels
from ralib.data.model import RADataset
from ralib.geometry import Placement
from ralib.losses import RegressionMSE
from ralib.metrics import regression_metrics
from ralib.patches.bags import gather, joint_bags
from ralib.patches.tiles import tile_bags
from ralib.splits import film_split
from ralib.tasks.base import Task, hash_task_data, placement_table


class BagDataset(Dataset):
    """Bags of one split; with ``draws``, item i takes draw j at random (torch's generator, so seeded);
    instances are standardised by ``mean`` and ``sd`` (e.g. the pixels of image instances)."""

    def __init__(self, features: np.ndarray, mask: np.ndarray, targets: np.ndarray, draws: np.ndarray | None = None,
                 mean: float = 0.0, sd: float = 1.0):  # fmt: skip
        self.features, self.mask, self.targets, self.draws = features, mask, targets, draws
        self.mean, self.sd = mean, sd

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        features = self.features[i]
        if self.draws is not None:
            j = int(torch.randint(len(self.draws) + 1, ()))
            features = features if j == 0 else self.draws[j - 1, i]
        instances = (torch.from_numpy(np.array(features, np.float32)) - self.mean) / self.sd
        return instances, torch.from_numpy(self.mask[i]), torch.tensor(self.targets[i])


class BagTask(Task):
    """One bag per film: ``features`` (n, N, D), ``mask`` (n, N) and a ``table`` row per film with its
    ``split`` and ``target``; optional ``draws`` (M, n, N, D) used for training only. Instances may be
    images instead of features, (n, N, H, W), for a CNN tuned with the MIL
    (:class:`~ralib.models.mil.BagScorer`); ``standardise`` then gives their pixels' mean and SD.
    ``augment="landmark_noise"`` trains on the ``draws`` (bags cut at jittered landmarks) where there are some."""

    augmentations = ("none", "landmark_noise")

    def __init__(self, features: np.ndarray, mask: np.ndarray, table: pd.DataFrame, target: str = "score",
                 draws: np.ndarray | None = None, name: str = "svdh_mil",
                 standardise: tuple[float, float] = (0.0, 1.0), instances: tuple[pd.DataFrame, np.ndarray] | None = None,
                 record: dict | None = None):  # fmt: skip
        if not (len(features) == len(mask) == len(table)):
            raise ValueError(f"{len(features)} bags, {len(mask)} masks, {len(table)} table rows")
        if draws is not None and draws.shape[1:] != features.shape:
            raise ValueError(f"draws of shape {draws.shape} for features of shape {features.shape}")
        if not mask.any(1).all():
            raise ValueError(f"{int((~mask.any(1)).sum())} bags without any instance")
        self.features, self.mask, self.draws = features, mask.astype(bool), draws
        self.table, self.target, self.name = table.reset_index(drop=True), target, name
        self.standardise = (float(standardise[0]), float(standardise[1]))
        if instances is not None and np.shape(instances[1]) != mask.shape:
            raise ValueError(f"instance rows of shape {np.shape(instances[1])} for bags of shape {mask.shape}")
        self.instances = instances  # (the crops' or tiles' table, each bag place's row in it, -1 empty)
        self.num_outputs = 1
        if record is not None:  # scoring new films with a trained MIL: its target scaling, no training bag needed
            self.target_mean, self.target_sd = float(record["target_mean"]), float(record["target_sd"])
            return
        y = self.table.loc[self.table.split == "train", target].to_numpy(float)
        if not len(y):
            raise ValueError("no training bags")
        self.target_mean, self.target_sd = float(y.mean()), float(y.std() or 1.0)

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def truth(self, split: str, column: str | None = None) -> np.ndarray:
        return self.table[column or self.target].to_numpy(float)[self.rows(split)]

    def dataset(self, split: str, augment: str = "none") -> BagDataset:
        rows = self.rows(split)
        z = ((self.truth(split) - self.target_mean) / self.target_sd).astype(np.float32)
        draws = self.draws[:, rows] if (self.augmentation(augment, split) != "none" and self.draws is not None) else None
        return BagDataset(self.features[rows], self.mask[rows], z, draws, *self.standardise)

    def loss(self, name: str | None = None) -> nn.Module:
        if name not in (None, "mse"):
            raise ValueError(f"{self.name}: the MIL paper trains with mse; got {name!r}")
        return RegressionMSE()

    def forward(self, model: nn.Module, features: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs, attention = model(features, mask, return_attention=True)
        return {"outputs": outputs, "attention": attention}

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> np.ndarray:
        return np.asarray(outputs["outputs"], float).reshape(-1) * self.target_sd + self.target_mean

    def evaluate(self, predictions: np.ndarray, split: str = "test", column: str | None = None) -> dict:
        """PCC / MAE / RMSE against the target (or another ``column`` of the table, e.g. ``truth_total``)."""
        return regression_metrics(self.truth(split, column), predictions)

    def placements(self, split: str) -> pd.DataFrame:
        """Where each instance of each bag lies on its film, from the placements its crop or tile table keeps."""
        if self.instances is None:
            raise NotImplementedError(f"{self.name}: made without its instances' table, so it cannot say where they lie")
        source, places = self.instances
        if "size" not in source:
            raise NotImplementedError(f"{self.name}: its instances' table says not how large they were cut (an older cache?)")
        items, slots = np.nonzero(places[self.rows(split)] >= 0)
        crops = source.iloc[places[self.rows(split)][items, slots]]
        return placement_table(crops.radiograph_id, items, slots, [Placement.from_columns(c) for _, c in crops.iterrows()], crops["size"])

    def fingerprint(self) -> str:
        scaled = (self.standardise,) if self.standardise != (0.0, 1.0) else ()
        arrays = (self.features, self.mask, *(() if self.draws is None else (self.draws,)))
        return hash_task_data((self.name, self.target, *scaled), arrays, self.table, ("split", self.target))

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "target_mean": self.target_mean, "target_sd": self.target_sd,
                "in_dim": int(self.features.shape[-1]), "standardise": list(self.standardise)}  # fmt: skip


def bag_name(classifier: str, *details: str) -> str:
    """A bag task's name in the MIL notebooks' tables: the instance classifier whose features fill the bags,
    then what else sets the bags apart.

    Example:
        >>> bag_name("resnet18", "K=40"), bag_name("resnet18", "predicted landmarks", "jittered")
        ('resnet18, K=40', 'resnet18, predicted landmarks, jittered')
    """
    return ", ".join((classifier, *details))


def checkpoint_tag(name: str) -> str:
    """The tag of the MIL checkpoint trained on the bag task ``name`` (:func:`bag_name`): one checkpoint per
    classifier, as the paper profile trains three on the same bags.

    Example:
        >>> checkpoint_tag(bag_name("resnet18", "K=40")), checkpoint_tag(bag_name("resnet18", "predicted landmarks", "jittered"))
        ('resnet18_K=40', 'resnet18_predicted_landmarks_jittered')
    """
    return name.replace(", ", "_").replace(" ", "_")


def mil_checkpoint_pattern(name: str, task: str = "svdh_mil") -> str:
    """A glob for the attention MIL checkpoint of bag task ``name`` in a run's ``checkpoints/``, whatever its
    loss and batch size (:meth:`ralib.train.TrainConfig.label`).

    Example:
        >>> mil_checkpoint_pattern(bag_name("resnet18", "K=40"))
        'attention_mil_*_resnet18_K=40_svdh_mil.pt'
    """
    return f"attention_mil_*_{checkpoint_tag(name)}_{task}.pt"


def film_table(ds: RADataset, seed: int = 0) -> pd.DataFrame:
    """One row per film with a label: ``radiograph_id``, ``patient_id``, ``split`` (:func:`ralib.splits.film_split`,
    as every whole-image task makes it, so the whole-image and MIL models meet on the same test films),
    ``score`` (the image-level label) and, where known, ``truth_total`` and each reader's total."""
    label, _ = image_labels(ds)
    table = ds.radiographs.assign(score=label.reindex(ds.radiographs.radiograph_id).to_numpy())
    table = table[table.score.notna()].reset_index(drop=True)
    table = film_split(table, seed, "score")
    keep = ["radiograph_id", "patient_id", "split", "score", "truth_total"] + [c for c in table if c.startswith("score_reader_")]
    return table[[c for c in keep if c in table]]


def targets_of(table: pd.DataFrame) -> dict[str, str]:
    """The columns of a :func:`film_table` a film total is scored against: the label, and the truth where the data
    set has it for every film (SynthRA).

    Example:
        >>> targets_of(pd.DataFrame({"score": [1.0], "truth_total": [2.0]})), targets_of(pd.DataFrame({"score": [1.0]}))
        ({'label': 'score', 'truth': 'truth_total'}, {'label': 'score'})
    """
    known = "truth_total" in table and table.truth_total.notna().all()
    return {"label": "score"} | ({"truth": "truth_total"} if known else {})


def joint_bag_task(films: pd.DataFrame, crops: pd.DataFrame, features: np.ndarray,
                   draws: list[tuple[pd.DataFrame, np.ndarray]] = (), name: str = "svdh_mil",
                   standardise: tuple[float, float] = (0.0, 1.0), record: dict | None = None) -> BagTask:  # fmt: skip
    """A :class:`BagTask` of one bag per film of ``films`` (:func:`film_table`) from the joint crops of a
    cache (its ``table`` and each crop's ``features``, or the crops themselves (m, H, W) with the pixel
    ``standardise`` of the classifier that reads them), in :func:`ralib.patches.bags.joint_bags` order;
    ``draws`` are further (table, features) pairs of the same crops cut elsewhere (e.g. jittered), used in
    training. Films without any crop are left out (a note says how many); ``record``: a trained MIL's, to
    score new films (:class:`BagTask`)."""
    ids = films.radiograph_id.astype(str).to_numpy()
    rows, mask = joint_bags(crops, ids)
    keep = mask.any(1)
    extra = []
    for table, values in draws:
        draw_rows, draw_mask = joint_bags(table, ids)
        if not np.array_equal(draw_mask, mask):
            raise ValueError("a draw holds other joints than the crops it varies")
        extra.append(gather(values, draw_rows)[keep])
    task = BagTask(gather(features, rows)[keep], mask[keep], films[keep], "score",
                   np.stack(extra) if extra else None, name, standardise, instances=(crops, rows[keep]), record=record)  # fmt: skip
    task.left_out = int((~keep).sum())
    return task


def tile_bag_task(films: pd.DataFrame, tiles: pd.DataFrame, values: np.ndarray, probabilities: np.ndarray, k: int,
                  name: str = "svdh_mil", standardise: tuple[float, float] = (0.0, 1.0), record: dict | None = None) -> BagTask:  # fmt: skip
    """A :class:`BagTask` of Scheme 1: for each film of ``films`` its ``k`` top tiles
    (:func:`ralib.patches.tiles.tile_bags` by the tile classifier's ``probabilities``), as their ``values``
    (one row per tile of ``tiles``: features (m, D), or the tiles themselves (m, H, W) for a tuned CNN).
    Films without tiles are left out (a note says how many); ``record``: a trained MIL's, to score new films."""
    rows, mask = tile_bags(tiles, probabilities, films.radiograph_id.astype(str).to_numpy(), k)
    keep = mask.any(1)
    task = BagTask(gather(values, rows)[keep], mask[keep], films[keep], "score", name=name, standardise=standardise,
                   instances=(tiles, rows[keep]), record=record)  # fmt: skip
    task.left_out = int((~keep).sum())
    return task

