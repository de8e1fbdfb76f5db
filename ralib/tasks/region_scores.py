"""DeepRA's scoring stage: the SvdH erosion and narrowing scores of a region's joints, regressed from one
crop of the region (Chaturvedi 2021, section 4.3).

Each joint model of :data:`JOINT_MODELS` scores some regions and, per region, one SvdH site per output:
``fingers`` the thumb and the four fingers (erosion and narrowing of the distal and the proximal joint
scored: PIP and MCP, for the thumb IP and MCP; SvdH scores no narrowing at the thumb's IP), ``wrist`` the
wrist's six erosion and six narrowing sites, and ``hand`` every site of a hand from the whole hand (the
paper's ablation without detection). The crops (:func:`ralib.patches.box_crops.box_crop_cache` with
``grow=1``) are squares of each box's longer side around it, so that a finger keeps its shape (the paper
stretches every box to a square).

Training follows the paper: MSE over the scored outputs (:class:`ralib.losses.MaskedMSE`); every crop with
some damage once per epoch and as many crops without damage, drawn anew each epoch (the paper's balancing
of the 70 % of joints without damage); horizontal flips. Predictions are clipped to each site's range.

Example:
    >>> import numpy as np, pandas as pd
    >>> scores = pd.DataFrame({"radiograph_id": ["a", "a"], "hand": "LH", "scheme": "svdh", "site": ["mcp_E__ip", "mcp_J__1"],
    ...                        "grade": [2.0, 1.0]})
    >>> table = pd.DataFrame({"radiograph_id": ["a"], "hand": ["LH"], "joint": ["thumb"], "split": ["train"]})
    >>> RegionScoreTask(np.zeros((1, 8, 8), np.uint8), table, scores, "fingers").targets.tolist()
    [[2.0, nan, nan, 1.0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ralib import anatomy
from ralib.losses import MaskedMSE
from ralib.metrics import weighted_rmse
from ralib.geometry import PLACEMENT_COLUMNS, Placement
from ralib.tasks.base import Task, hash_task_data, placement_table

_FINGERS = dict(zip(range(2, 6), ("index", "middle", "ring", "little")))
_WRIST = tuple(s for s in anatomy.EROSION_SITES + anatomy.JSN_SITES if s.startswith("wrist_"))

#: per joint model: the regions it scores and each region's SvdH site per output (None: not scored there)
JOINT_MODELS: dict[str, dict[str, tuple[str | None, ...]]] = {
    "fingers": {"thumb": ("mcp_E__ip", "mcp_E__1", None, "mcp_J__1"),
                **{name: (f"pip_E__{f}", f"mcp_E__{f}", f"pip_J__{f}", f"mcp_J__{f}") for f, name in _FINGERS.items()}},
    "wrist": {"wrist": _WRIST},
    "hand": {"hand": anatomy.EROSION_SITES + anatomy.JSN_SITES},
}  # fmt: skip

#: what each output of a joint model is
OUTPUTS = {"fingers": ("erosion distal", "erosion proximal", "narrowing distal", "narrowing proximal"),
           "wrist": _WRIST, "hand": anatomy.EROSION_SITES + anatomy.JSN_SITES}  # fmt: skip


def site_kind(site: str) -> str:
    """``erosion`` or ``narrowing`` (the challenge's word for JSN) from an SvdH site id like ``mcp_E__2``."""
    return "erosion" if "_E__" in site else "narrowing"


def site_grades(scores: pd.DataFrame, column: str = "grade") -> pd.Series:
    """The SvdH site grades of ``scores`` (a data set's score table) indexed by ``radiograph_id``, ``hand``,
    ``site``."""
    s = scores[scores.scheme == "svdh"].drop_duplicates(["radiograph_id", "hand", "site"])
    return pd.Series(s[column].astype(float).to_numpy(), index=pd.MultiIndex.from_arrays(
        [s.radiograph_id.astype(str).to_numpy(), s.hand.to_numpy(), s.site.to_numpy()]))  # fmt: skip


def region_targets(table: pd.DataFrame, sites: dict[str, tuple[str | None, ...]], grades: pd.Series) -> np.ndarray:
    """``(n, k)``: per crop (``table`` rows: ``radiograph_id``, ``hand``, ``joint`` = the region) the grades of
    its region's ``sites``; NaN where the region has no such site, the crop's region is not in ``sites``, or
    the site is not graded."""
    k = len(next(iter(sites.values())))
    out = np.full((len(table), k), np.nan)
    for i, (rid, hand, region) in enumerate(table[["radiograph_id", "hand", "joint"]].astype({"radiograph_id": str}).itertuples(index=False)):
        for j, site in enumerate(sites.get(region, ())):
            if site is not None:
                out[i, j] = grades.get((rid, hand, site), np.nan)
    return out


class RegionScoreDataset(Dataset):
    """Crops ``(n, s, s)`` uint8 and their targets ``(n, k)`` (NaN: not scored). With ``balance``, an epoch
    is every crop with some damage once and as many crops without damage drawn at random (torch's
    generator, so seeded); ``flip`` mirrors a crop left-right at random."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, balance: bool = False, flip: bool = False,
                 mean: float = 0.0, sd: float = 1.0):  # fmt: skip
        self.images, self.targets, self.flip, self.mean, self.sd = images, targets.astype(np.float32), flip, mean, sd
        damaged = np.nan_to_num(targets, nan=0.0).max(axis=1) > 0
        self.damaged, self.healthy = np.flatnonzero(damaged), np.flatnonzero(~damaged)
        self.balance = balance and 0 < len(self.damaged) < len(self.healthy)

    def __len__(self) -> int:
        return 2 * len(self.damaged) if self.balance else len(self.images)

    def __getitem__(self, i: int):
        if self.balance:
            i = self.damaged[i] if i < len(self.damaged) else self.healthy[int(torch.randint(len(self.healthy), ()))]
        image = torch.from_numpy(np.asarray(self.images[i], np.float32) / 255)[None]
        if self.flip and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return (image - self.mean) / self.sd, torch.from_numpy(self.targets[i])


class RegionScoreTask(Task):
    """Region crops ``(n, s, s)`` uint8 with a ``table`` row each (``radiograph_id``, ``hand``, ``joint``: the
    region, ``split``) and a data set's ``scores``: the joint ``model`` of :data:`JOINT_MODELS` learns its
    regions' site grades from the ``label`` column (``grade``, ``truth``, ``reader_<k>``). Crops of other
    regions are not used. Crops are standardised by the training crops' pixel mean and SD, or by
    ``pixel_stats`` (to score new crops with a trained model: then no training crops are needed)."""

    name = "region_scores"
    augmentations = ("none", "flips")  # DeepRA's horizontal flips (training crops are class-balanced either way)

    def __init__(self, images: np.ndarray, table: pd.DataFrame, scores: pd.DataFrame, model: str, label: str = "grade",
                 pixel_stats: tuple[float, float] | None = None):  # fmt: skip
        if model not in JOINT_MODELS:
            raise ValueError(f"unknown joint model {model!r}; choose one of {', '.join(JOINT_MODELS)}")
        if len(images) != len(table):
            raise ValueError(f"{len(images)} crops but {len(table)} table rows")
        self.images, self.table, self.model, self.label = images, table.reset_index(drop=True), model, label
        self.name = f"region_scores_{model}"  # one checkpoint per joint model
        self.sites = JOINT_MODELS[model]
        self.targets = region_targets(self.table, self.sites, site_grades(scores, label))
        self.num_outputs = len(OUTPUTS[model])
        if pixel_stats is not None:  # a trained model's (its checkpoint's pixel_mean and pixel_sd): scoring only
            self.pixel_mean, self.pixel_sd = map(float, pixel_stats)
            return
        train = self.rows("train")
        if not len(train):
            raise ValueError(f"no training crops of the regions {', '.join(self.sites)}")
        sample = np.asarray(images[train[:: max(1, len(train) // 500)]], np.float32) / 255
        self.pixel_mean, self.pixel_sd = float(sample.mean()), float(sample.std() or 1.0)

    def rows(self, split: str) -> np.ndarray:
        """The crops of ``split`` whose region this model scores."""
        return np.flatnonzero((self.table.split == split).to_numpy() & self.table.joint.isin(self.sites).to_numpy())

    def dataset(self, split: str, augment: str = "none") -> RegionScoreDataset:
        rows, train = self.rows(split), split == "train"
        flip = self.augmentation(augment, split) == "flips"
        return RegionScoreDataset(self.images[rows], self.targets[rows], balance=train, flip=flip,
                                  mean=self.pixel_mean, sd=self.pixel_sd)  # fmt: skip

    def loss(self, name: str | None = None) -> nn.Module:
        if name not in (None, "mse"):
            raise ValueError(f"{self.name}: DeepRA trains on MSE; got {name!r}")
        return MaskedMSE()

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> np.ndarray:
        """``(n, k)`` scores of the crops of ``split``, clipped to each output's grade range."""
        highest = [anatomy.EROSION_MAX if o.startswith("erosion") or "_E__" in o else anatomy.JSN_MAX for o in OUTPUTS[self.model]]
        return np.clip(np.asarray(outputs["outputs"], float), 0, highest)

    def site_table(self, predictions: np.ndarray, split: str = "test") -> pd.DataFrame:
        """The predictions of ``split`` as one row per film, hand and scored site: ``radiograph_id``,
        ``hand``, ``region``, ``site``, ``kind`` (erosion / narrowing), ``prediction``."""
        rows = self.table.iloc[self.rows(split)]
        out = []
        for (rid, hand, region), scores in zip(rows[["radiograph_id", "hand", "joint"]].itertuples(index=False), predictions):
            out += [(str(rid), hand, region, site, site_kind(site), float(p)) for site, p in zip(self.sites[region], scores) if site]
        return pd.DataFrame(out, columns=["radiograph_id", "hand", "region", "site", "kind", "prediction"])

    def evaluate(self, predictions: np.ndarray, split: str = "test") -> dict:
        """RMSE and weighted RMSE (:func:`ralib.metrics.weighted_rmse`) per kind against the label."""
        table = self.site_table(predictions, split)
        table["label"] = self.site_table(self.targets[self.rows(split)], split).prediction
        out = {}
        for kind, part in table.dropna(subset="label").groupby("kind"):
            out[f"rmse {kind}"] = float(np.sqrt(np.mean((part.prediction - part.label) ** 2)))
            out[f"weighted rmse {kind}"] = weighted_rmse(part.label, part.prediction)
        return out | {"crops": len(predictions)}

    def placements(self, split: str) -> pd.DataFrame:
        """Each region crop as its crop cache cut it (the table's placement columns; the crop is the input)."""
        rows = self.table.iloc[self.rows(split)]
        if not set(PLACEMENT_COLUMNS) <= set(rows):
            raise NotImplementedError(f"{self.name}: the crops' table keeps no placements (an older crop cache?)")
        placements = [Placement.from_columns(r) for _, r in rows.iterrows()]
        return placement_table(rows.radiograph_id, np.arange(len(rows)), np.zeros(len(rows)), placements, self.images.shape[-1])

    def fingerprint(self) -> str:
        return hash_task_data((self.name, self.model, self.label), (self.images, self.targets), self.table, ("split", "joint"))

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "joint_model": self.model, "outputs": list(OUTPUTS[self.model]),
                "input_size": int(self.images.shape[-1]), "pixel_mean": self.pixel_mean, "pixel_sd": self.pixel_sd}  # fmt: skip

