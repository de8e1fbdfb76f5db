"""RheumaVIT's localisation stage: the 21 joint boxes of a hand regressed from the hand's image (the film
split at the minimum-energy seam, :func:`ralib.data.arrays.hand_array`).

Boxes are ``(x0, y0, x1, y1)`` in [0, 1] of the hand image, in :data:`ralib.anatomy.JOINT_NAMES` order;
:func:`hand_joint_boxes` takes them from a data set's box annotations and :func:`film_boxes` puts predicted
ones back on the film. The loss is MSE for the first epochs, then DIoU (torchvision's), as the paper
trains; the measures are the mean IoU and the paper's localisation accuracy: a box counts when its centre
lies within the true box grown by half its width and height on every side.

Example:
    >>> import numpy as np
    >>> true = np.array([[[0.1, 0.1, 0.3, 0.3]]]); pred = true + [0.05, 0.0, 0.05, 0.0]
    >>> {k: round(v, 3) for k, v in box_metrics(pred, true).items() if k in ("iou", "localisation_accuracy")}
    {'iou': 0.6, 'localisation_accuracy': 1.0}
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset
from torchvision.ops import distance_box_iou_loss

from ralib import anatomy, geometry
from ralib.data.annotations import MissingAnnotations, annotations
from ralib.data.model import RADataset
from ralib.landmarks.points import film_landmarks
from ralib.patches.cache import block_hands, predicted_landmarks
from ralib.tasks.base import Task, hash_task_data

CORNERS = ("x0", "y0", "x1", "y1")


def hand_joint_boxes(ds: RADataset, hands: pd.DataFrame) -> np.ndarray:
    """``(n_hands, 21, 4)``: each hand's annotated joint boxes in [0, 1] of its image (``hands`` as
    :func:`ralib.data.arrays.hand_array` returns it, with the film box ``x0`` ... ``y1``); NaN where a box
    is not annotated."""
    s = ds.scores[(ds.scores.scheme == "box") & ds.scores.x0.notna()]
    s = s.drop_duplicates(["radiograph_id", "hand", "site"])
    lookup = {(str(r), h, site): box for r, h, site, *box in s[["radiograph_id", "hand", "site", *CORNERS]].itertuples(index=False)}
    out = np.full((len(hands), len(anatomy.JOINT_NAMES), 4), np.nan)
    for i, row in enumerate(hands.itertuples(index=False)):
        origin = np.array([row.x0, row.y0, row.x0, row.y0], float)
        extent = np.array([row.x1 - row.x0, row.y1 - row.y0] * 2, float)
        for j, joint in enumerate(anatomy.JOINT_NAMES):
            box = lookup.get((str(row.radiograph_id), row.hand, joint))
            if box is not None:
                out[i, j] = (np.asarray(box, float) - origin) / extent
    return out


def film_boxes(boxes: np.ndarray, hands: pd.DataFrame) -> np.ndarray:
    """Boxes in [0, 1] of each hand image ``(n_hands, k, 4)`` back in film pixels."""
    origin = hands[["x0", "y0", "x0", "y0"]].to_numpy(float)[:, None, :]
    extent = (hands[["x1", "y1", "x1", "y1"]].to_numpy(float) - hands[["x0", "y0", "x0", "y0"]].to_numpy(float))[:, None, :]
    return np.asarray(boxes, float) * extent + origin


def boxes_table(boxes: np.ndarray, hands: pd.DataFrame) -> pd.DataFrame:
    """Film-pixel boxes ``(n_hands, 21, 4)`` as a table: one row per radiograph, hand and joint, with
    ``x0`` ... ``y1`` (what :func:`ralib.patches.box_crops.box_crop_cache` cuts)."""
    n, k, _ = boxes.shape
    table = pd.DataFrame({"radiograph_id": np.repeat(hands.radiograph_id.astype(str).to_numpy(), k),
                          "hand": np.repeat(hands.hand.to_numpy(), k), "joint": np.tile(anatomy.JOINT_NAMES[:k], n)})  # fmt: skip
    return table.assign(**{c: boxes[..., j].reshape(-1) for j, c in enumerate(CORNERS)})


def limit_box_size(boxes: np.ndarray, max_side: float) -> np.ndarray:
    """Boxes ``(..., 4)`` shrunk about their centres so that no side exceeds ``max_side``: a regressor's
    box larger than any annotated one is a failure, and cutting four of its sides would cost minutes.

    Example:
        >>> limit_box_size(np.array([[0.0, 0.0, 100.0, 10.0]]), 40).tolist()
        [[30.0, 0.0, 70.0, 10.0]]
    """
    boxes = np.asarray(boxes, float)
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    half = np.minimum(boxes[..., 2:] - boxes[..., :2], max_side) / 2
    return np.concatenate([centre - half, centre + half], axis=-1)


def landmark_boxes(ds: RADataset, landmarks: np.ndarray, hands: pd.DataFrame) -> np.ndarray:
    """``(n_hands, 21, 4)`` film-pixel boxes from landmarks ``(n_films, 74, 2)`` (notebook 05's): an
    axis-aligned square of the joint's breadth (:data:`ralib.geometry.BOX_MM`) around the joint centre the
    landmarks give, for each hand of ``hands``; NaN where the hand's landmarks are missing."""
    k = len(anatomy.LANDMARKS)
    blocks = block_hands(ds)
    film_index = {str(r): i for i, r in enumerate(ds.radiographs.radiograph_id)}
    out = np.full((len(hands), len(anatomy.JOINT_NAMES), 4), np.nan)
    for n, row in enumerate(hands.itertuples(index=False)):
        i = film_index[str(row.radiograph_id)]
        block = [b for b in (0, 1) if blocks[i, b] == row.hand]
        xy = landmarks[i, block[0] * k : (block[0] + 1) * k] if block else None
        if xy is None or not np.isfinite(xy).all():
            continue
        spacing = ds.radiographs.spacing_mm.iloc[i]
        spacing = spacing if spacing == spacing else geometry.wrist_width_spacing(xy)
        for j, frame in enumerate(geometry.box_frames(xy, spacing)[joint] for joint in anatomy.JOINT_NAMES):
            out[n, j] = [*(frame.centre - frame.side_px / 2), *(frame.centre + frame.side_px / 2)]
    return out


def with_landmark_boxes(ds: RADataset, landmarks: np.ndarray) -> RADataset:
    """``ds`` with joint boxes where it has none (RA2-DREAM): each hand's 21 boxes from ``landmarks`` ``(n_films, 74,
    2)`` (a SynthRA-trained localiser's: :func:`landmark_boxes`), graded by pooling the hand's SvdH site grades into
    them by maximum (:func:`ralib.anatomy.pool_to_joints`), for every grade column the sites have (the readers, the
    label, the truth); NaN where SvdH grades no site of the joint (the DIPs). A hand without its landmarks or without
    every site grade gets no boxes.

    Example:
        >>> with_landmark_boxes(ds, predicted_landmarks(ds, localiser)).scores.scheme.unique()  # doctest: +SKIP
        array(['svdh', 'box'], dtype=object)
    """
    svdh = ds.scores[ds.scores.scheme == "svdh"]
    columns = [c for c in ("grade", *ds.reader_columns, "truth") if c in svdh and svdh[c].notna().any()]
    hands = pd.DataFrame([(str(r), h) for r, both in zip(ds.radiographs.radiograph_id, ds.radiographs.hands)
                          for h in (anatomy.HANDS if both == "both" else (both,))], columns=["radiograph_id", "hand"])  # fmt: skip
    boxes = landmark_boxes(ds, landmarks, hands)
    grades = {key: g.set_index("site") for key, g in svdh.astype({"radiograph_id": str}).groupby(["radiograph_id", "hand"])}
    rows = []
    for n, (rid, hand) in enumerate(hands.itertuples(index=False)):
        sites = grades.get((rid, hand))
        if sites is None or not np.isfinite(boxes[n]).all() or sites[columns].isna().any().any():
            continue
        pooled = {c: anatomy.pool_to_joints(sites[c].to_dict()) for c in columns}
        for j, joint in enumerate(anatomy.JOINT_NAMES):
            for kind in ("erosion", "jsn"):
                graded = {c: np.nan if pooled[c][joint][kind] is None else float(pooled[c][joint][kind]) for c in columns}
                rows.append({"radiograph_id": rid, "hand": hand, "scheme": "box", "site": joint, "kind": kind, **graded,
                             **dict(zip(CORNERS, boxes[n, j]))})  # fmt: skip
    scores = pd.concat([ds.scores, pd.DataFrame(rows)], ignore_index=True)
    return RADataset(ds.name, ds.radiographs, scores, ds.landmarks, ds.skipped, ds.extras)


def with_localiser_boxes(ds: RADataset, localiser, who: str) -> RADataset:
    """``ds`` itself when it has joint boxes; else, with a printed note, :func:`with_landmark_boxes` of the landmarks
    ``localiser`` (a :class:`~ralib.landmarks.localiser.Localiser`, trained on SynthRA) finds on its films, for
    ``who`` (a notebook's step). An error naming what to give when there is no localiser or no SvdH site grade to
    grade the boxes with.

    Example:
        >>> ds = with_localiser_boxes(ra2dream_set, Localiser.load("localiser.pt"), "notebook 09")  # doctest: +SKIP
        ra2dream has no joint boxes: ...
    """
    held = annotations(ds)
    if held["joint boxes"]:
        return ds
    if localiser is None or not held["SvdH site grades"]:
        raise MissingAnnotations(f"{ds.name} has no joint boxes, which {who} needs: give LOCALISER, a localiser.pt of "
                                 "notebook 05 (trained on SynthRA), and SvdH site grades to grade the boxes its landmarks imply")  # fmt: skip
    print(f"{ds.name} has no joint boxes: {who} uses those the landmarks of 05's localiser (trained on SynthRA) imply, "
          "graded by pooling their SvdH sites by maximum")  # fmt: skip
    return with_landmark_boxes(ds, predicted_landmarks(ds, localiser))


def implied_boxes(ds: RADataset, hands: pd.DataFrame, localiser=None) -> dict[str, np.ndarray]:
    """The joint boxes ``(n_hands, 21, 4)`` of ``hands`` that landmarks imply (:func:`landmark_boxes`): ``localiser``,
    those of the landmarks a :class:`~ralib.landmarks.localiser.Localiser` finds (when given); ``true``, those of
    the data set's own landmarks (when it has them, e.g. SynthRA's): the landmark routes notebooks 08 and 09 set
    beside their own box finders.

    Example:
        >>> sorted(implied_boxes(synthra_set, hands, Localiser.load("localiser.pt")))  # doctest: +SKIP
        ['localiser', 'true']
    """
    out = {}
    if localiser is not None:
        out["localiser"] = landmark_boxes(ds, predicted_landmarks(ds, localiser), hands)
    if ds.landmarks is not None and len(ds.landmarks):
        out["true"] = landmark_boxes(ds, film_landmarks(ds)[0], hands)
    return out


def box_iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of each box of ``a`` with the box at the same place in ``b`` (``(..., 4)`` corners)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    inter = w * h
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def localised(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """RheumaVIT's localisation: the predicted centre lies within the true box grown by half its width and
    height on every side."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    cx, cy = (pred[..., 0] + pred[..., 2]) / 2, (pred[..., 1] + pred[..., 3]) / 2
    w, h = true[..., 2] - true[..., 0], true[..., 3] - true[..., 1]
    return (np.abs(cx - (true[..., 0] + true[..., 2]) / 2) <= w) & (np.abs(cy - (true[..., 1] + true[..., 3]) / 2) <= h)


def box_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Mean IoU and localisation accuracy over the boxes ``true`` knows (NaN rows left out), and per joint."""
    known = np.isfinite(true).all(-1)
    iou, hit = box_iou_pairs(pred, true), localised(pred, true)
    out = {"iou": float(iou[known].mean()), "localisation_accuracy": float(hit[known].mean()), "boxes": int(known.sum())}
    if np.ndim(true) == 3 and true.shape[1] == len(anatomy.JOINT_NAMES):
        for j, joint in enumerate(anatomy.JOINT_NAMES):
            if known[:, j].any():
                out[f"iou {joint}"] = float(iou[known[:, j], j].mean())
                out[f"localisation_accuracy {joint}"] = float(hit[known[:, j], j].mean())
    return out


class BoxLoss(nn.Module):
    """MSE on the corners for the first ``mse_epochs`` epochs, then DIoU (torchvision's
    ``distance_box_iou_loss``); boxes the target leaves NaN do not count. The training loop tells it the
    epoch (:meth:`set_epoch`); ``None`` (validation, and the default) is DIoU, whatever the epoch."""

    def __init__(self, mse_epochs: int):
        super().__init__()
        self.mse_epochs, self.epoch = mse_epochs, None

    def set_epoch(self, epoch: int | None) -> None:
        self.epoch = epoch

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = pred.reshape(target.shape).float()
        known = torch.isfinite(target).all(-1)
        if not known.any():
            return pred.sum() * 0.0
        p, t = pred[known], target[known]
        if self.epoch is not None and self.epoch < self.mse_epochs:
            return nn.functional.mse_loss(p, t)
        return distance_box_iou_loss(p, t, reduction="mean")


class BoxDataset(Dataset):
    """Hand images (standardised) and their boxes; ``augment="boxes"`` flips left-right (the boxes with
    them) and scales the intensity by 0.9-1.1."""

    def __init__(self, images: np.ndarray, boxes: np.ndarray, augment: str = "none", mean: float = 0.0, sd: float = 1.0):
        if augment not in ("none", "boxes"):
            raise ValueError(f"unknown augmentation {augment!r} for boxes: none | boxes")
        self.images, self.boxes, self.augment, self.mean, self.sd = images, boxes.astype(np.float32), augment, mean, sd

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = (torch.from_numpy(np.asarray(self.images[i], np.float32))[None] - self.mean) / self.sd
        boxes = torch.from_numpy(self.boxes[i].copy())
        if self.augment == "boxes":
            if torch.rand(()) < 0.5:
                image = image.flip(-1)
                boxes = torch.stack([1 - boxes[:, 2], boxes[:, 1], 1 - boxes[:, 0], boxes[:, 3]], dim=1)
            image = image * (0.9 + 0.2 * torch.rand(()))
        return image, boxes


class BoxTask(Task):
    """Hand images ``(n, s, s)`` in 0-1, their boxes ``(n, 21, 4)`` in [0, 1] and a ``table`` row per hand
    with its ``split``; ``mse_epochs`` epochs of MSE before DIoU."""

    name = "joint_boxes"
    augmentations = ("none", "boxes")  # left-right flips, the boxes with the image (BoxDataset)

    def __init__(self, images: np.ndarray, boxes: np.ndarray, table: pd.DataFrame, mse_epochs: int = 1):
        if not (len(images) == len(boxes) == len(table)):
            raise ValueError(f"{len(images)} images, {len(boxes)} box sets, {len(table)} table rows")
        self.images, self.boxes, self.table, self.mse_epochs = images, boxes, table.reset_index(drop=True), mse_epochs
        train = self.rows("train")
        if not len(train):
            raise ValueError("no training hands")
        pixels = images[train].astype(np.float32)
        self.pixel_mean, self.pixel_sd = float(pixels.mean()), float(pixels.std() or 1.0)
        self.num_outputs = 4 * boxes.shape[1]

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def dataset(self, split: str, augment: str = "none") -> BoxDataset:
        rows = self.rows(split)
        return BoxDataset(self.images[rows], self.boxes[rows], self.augmentation(augment, split), self.pixel_mean, self.pixel_sd)

    def loss(self, name: str | None = None) -> nn.Module:
        if name not in (None, "box"):
            raise ValueError(f"{self.name}: the box regressor trains with the box loss (MSE, then DIoU); got {name!r}")
        return BoxLoss(self.mse_epochs)

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> np.ndarray:
        return np.asarray(outputs["outputs"], float).reshape(-1, self.boxes.shape[1], 4)

    def evaluate(self, predictions: np.ndarray, split: str = "test") -> dict:
        return box_metrics(predictions, self.boxes[self.rows(split)])

    def fingerprint(self) -> str:
        return hash_task_data((self.name, self.mse_epochs), (self.images, self.boxes), self.table)

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "pixel_mean": self.pixel_mean, "pixel_sd": self.pixel_sd,
                "input_size": int(self.images.shape[-1])}  # fmt: skip
