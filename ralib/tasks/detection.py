"""DeepRA's detection stage: a hand's thumb, four fingers and wrist as six boxes, found by a RetinaNet
(:class:`ralib.models.detection.RegionDetector`) on the hand's image (the film split at the seam,
:func:`ralib.data.arrays.hand_array`).

The regions are not annotated in any public data set (DeepRA drew them by hand on 914 films); here each is
the union of its joints' annotated boxes (:data:`REGIONS`, boxes of :func:`ralib.tasks.joint_boxes.hand_joint_boxes`),
grown by ``margin`` of its size on every side. Measures: average precision per region and their mean at IoU
0.6, as the paper reports them (torchmetrics' COCO-style AP, 101-point interpolation), and how often the
best-scoring box of each region overlaps its region by IoU 0.6 or more (what a crop needs).

Example:
    >>> import numpy as np
    >>> joints = np.full((1, 21, 4), np.nan); joints[0, 0] = [0.1, 0.1, 0.2, 0.2]; joints[0, 9] = [0.2, 0.3, 0.3, 0.4]
    >>> region_boxes(joints, margin=0.0)[0, 0].round(2).tolist()  # the thumb: its IP and MCP joints
    [0.1, 0.1, 0.3, 0.4]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torchvision.ops import box_iou

from ralib import anatomy
from ralib.tasks.base import Task, hash_task_data
from ralib.tasks.joint_boxes import CORNERS, BoxDataset, box_iou_pairs

#: DeepRA's six regions and the joint boxes each one spans (fingers from DIP to MCP, the thumb IP and MCP,
#: the wrist its carpometacarpal, intercarpal, radiocarpal and ulnar boxes)
REGIONS = {"thumb": ("ip", "mcp1"), **{name: (f"dip{f}", f"pip{f}", f"mcp{f}") for f, name in zip(range(2, 6), ("index", "middle", "ring", "little"))},
           "wrist": ("cmc1", "cmc3", "cmc4", "cmc5", "wrist", "ulna", "radiocarpal")}  # fmt: skip


def region_boxes(joint_boxes: np.ndarray, margin: float = 0.15) -> np.ndarray:
    """``(n, 21, 4)`` joint boxes (:data:`ralib.anatomy.JOINT_NAMES` order, NaN: unknown) to ``(n, 6, 4)``
    region boxes (:data:`REGIONS` order): the union of the region's known joint boxes, grown by ``margin``
    of its width and height on every side and kept within [0, 1]; NaN where none of its joints is known or
    nothing of it lies within the image (a hand image cut at a wrong seam; an empty box has no loss)."""
    joint_boxes = np.asarray(joint_boxes, float)
    out = np.full((len(joint_boxes), len(REGIONS), 4), np.nan)
    for r, joints in enumerate(REGIONS.values()):
        members = joint_boxes[:, [anatomy.JOINT_NAMES.index(j) for j in joints]]
        known = np.isfinite(members).all(-1).any(-1)
        if not known.any():
            continue
        low, high = np.nanmin(members[known, :, :2], axis=1), np.nanmax(members[known, :, 2:], axis=1)
        grow = margin * (high - low)
        out[known, r] = np.clip(np.concatenate([low - grow, high + grow], axis=1), 0, 1)
    empty = (out[..., 2] <= out[..., 0]) | (out[..., 3] <= out[..., 1])  # a region outside its hand's image
    out[empty] = np.nan
    return out


def image_boxes(boxes: np.ndarray, hands: pd.DataFrame) -> np.ndarray:
    """Film-pixel boxes ``(n_hands, k, 4)`` in [0, 1] of each hand's image (``hands`` with the film box
    ``x0`` ... ``y1``, as :func:`ralib.data.arrays.hand_array` returns it): the inverse of
    :func:`ralib.tasks.joint_boxes.film_boxes`."""
    origin = hands[["x0", "y0", "x0", "y0"]].to_numpy(float)[:, None, :]
    extent = hands[["x1", "y1", "x1", "y1"]].to_numpy(float)[:, None, :] - origin
    return (np.asarray(boxes, float) - origin) / extent


def region_table(boxes: np.ndarray, hands: pd.DataFrame, names=tuple(REGIONS)) -> pd.DataFrame:
    """Film-pixel region boxes ``(n_hands, len(names), 4)`` as one row per hand and region (``radiograph_id``,
    ``hand``, ``joint``: the region's name, ``x0`` ... ``y1``), regions without a box left out: what
    :func:`ralib.patches.box_crops.box_crop_cache` cuts."""
    n, k, _ = boxes.shape
    table = pd.DataFrame({"radiograph_id": np.repeat(hands.radiograph_id.astype(str).to_numpy(), k),
                          "hand": np.repeat(hands.hand.to_numpy(), k), "joint": np.tile(list(names), n)})  # fmt: skip
    table = table.assign(**{c: np.asarray(boxes, float)[..., j].reshape(-1) for j, c in enumerate(CORNERS)})
    return table[np.isfinite(table[list(CORNERS)].to_numpy()).all(1)].reset_index(drop=True)


def region_overlap(pred: np.ndarray, true: np.ndarray, iou: float = 0.6) -> dict[str, float]:
    """How well boxes ``pred`` ``(n, 6, 4)`` (NaN: none) cover the regions ``true``: mean IoU and the share
    reaching ``iou`` (``found``), over all regions ``true`` knows and per region.

    Example:
        >>> true = np.array([[[0.0, 0.0, 1.0, 1.0]] * 6])
        >>> region_overlap(true * 0.5, true)["iou"], region_overlap(true * 0.5, true)["found"]
        (0.25, 0.0)
    """
    known = np.isfinite(true).all(-1)
    overlap = np.nan_to_num(box_iou_pairs(pred, true), nan=0.0)
    out = {"iou": float(overlap[known].mean()), "found": float((overlap[known] >= iou).mean())}
    for r, name in enumerate(REGIONS):
        out[f"iou {name}"] = float(overlap[known[:, r], r].mean())
        out[f"found {name}"] = float((overlap[known[:, r], r] >= iou).mean())
    return out | {"regions": int(known.sum())}


def pack_detections(detections: list[dict[str, torch.Tensor]], n_classes: int, k: int) -> torch.Tensor:
    """torchvision's detections as ``(B, n_classes, k, 5)``: per class its ``k`` best boxes ``(x0, y0, x1, y1,
    score)``, best first, NaN where there are fewer."""
    out = torch.full((len(detections), n_classes, k, 5), float("nan"))
    for b, d in enumerate(detections):
        d = {key: value.cpu() for key, value in d.items()}  # a detector run on the GPU
        for c in range(n_classes):
            mine = d["labels"] == c + 1
            scores, order = d["scores"][mine].sort(descending=True)
            chosen = order[:k]
            out[b, c, : len(chosen), :4] = d["boxes"][mine][chosen].float()
            out[b, c, : len(chosen), 4] = scores[:k].float()
    return out


def zoom_to_regions(image: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A random part of ``image`` ``(1, s, s)`` that still holds every known box ``(k, 4)`` (in [0, 1]; NaN:
    unknown), stretched back to ``s x s``, and the boxes moved with it: hands framed closer and in other
    proportions, as single-hand films are (RA2-DREAM's JPEGs are cut close around each hand)."""
    size = image.shape[-1]
    known = torch.isfinite(boxes).all(1)
    if not known.any():
        return image, boxes
    low, high = boxes[known, :2].amin(0).clamp(0, 1), boxes[known, 2:].amax(0).clamp(0, 1)
    u = torch.rand(4)
    x0, y0 = int(u[0] * low[0] * size), int(u[1] * low[1] * size)
    x1, y1 = size - int(u[2] * (1 - high[0]) * size), size - int(u[3] * (1 - high[1]) * size)
    crop = nn.functional.interpolate(image[None, :, y0:y1, x0:x1], size=(size, size), mode="bilinear", align_corners=False)[0]
    offset = torch.tensor([x0, y0, x0, y0], dtype=boxes.dtype) / size
    scale = torch.tensor([x1 - x0, y1 - y0, x1 - x0, y1 - y0], dtype=boxes.dtype) / size
    return crop, (boxes - offset) / scale


class RegionDataset(BoxDataset):
    """Hand images ``(n, s, s)`` in 0-1 and their region boxes in [0, 1] as ``(image, boxes, boxes)``, the
    boxes in pixels (the detector normalises the image itself). ``augment="boxes"`` as
    :class:`~ralib.tasks.joint_boxes.BoxDataset` (left-right flips, intensity 0.9-1.1); ``"regions"`` also
    zooms half the images to a random part that holds every region (:func:`zoom_to_regions`)."""

    def __init__(self, images: np.ndarray, boxes: np.ndarray, augment: str = "none"):
        if augment not in ("none", "boxes", "regions"):
            raise ValueError(f"unknown augmentation {augment!r} for regions: none | boxes | regions")
        super().__init__(images, boxes, "none" if augment == "none" else "boxes")
        self.zoom = augment == "regions"

    def __getitem__(self, i: int):
        image, boxes = super().__getitem__(i)
        if self.zoom and torch.rand(()) < 0.5:
            image, boxes = zoom_to_regions(image, boxes)
        size = image.shape[-1]
        return image, boxes * size, boxes * size  # inputs (the detector needs the boxes for its loss), target


class RegionTask(Task):
    """Hand images ``(n, s, s)`` in 0-1, their region boxes ``(n, 6, 4)`` in [0, 1] and a ``table`` row per
    hand with its ``split``: find each region (its ``k`` best boxes per class are kept for AP)."""

    name = "hand_regions"
    augmentations = ("none", "boxes", "regions")  # boxes: left-right flips; regions: flips and zooms (RegionDataset)

    def __init__(self, images: np.ndarray, boxes: np.ndarray, table: pd.DataFrame, k: int = 5):
        if not (len(images) == len(boxes) == len(table)):
            raise ValueError(f"{len(images)} images, {len(boxes)} box sets, {len(table)} table rows")
        if boxes.shape[1:] != (len(REGIONS), 4):
            raise ValueError(f"region boxes must be (n, {len(REGIONS)}, 4), not {boxes.shape}")
        self.images, self.boxes, self.table, self.k = images, boxes, table.reset_index(drop=True), k
        self.num_outputs = len(REGIONS)  # the detector's classes
        if not len(self.rows("train")):
            raise ValueError("no training hands")

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.table.split.to_numpy() == split)

    def dataset(self, split: str, augment: str = "none") -> RegionDataset:
        rows = self.rows(split)
        return RegionDataset(self.images[rows], self.boxes[rows], self.augmentation(augment, split))

    def loss(self, name: str | None = None) -> nn.Module:
        if name not in (None, "detection"):
            raise ValueError(f"{self.name}: the detector computes its own loss (focal + box regression); got {name!r}")
        return _ModelLoss()

    def forward(self, model: nn.Module, images: torch.Tensor, boxes: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"outputs": pack_detections(model.detect(images), len(REGIONS), self.k)}

    def decode(self, outputs: dict[str, np.ndarray], split: str = "test") -> np.ndarray:
        """``(n, 6, k, 5)``: per hand and region the ``k`` best boxes in [0, 1] of the image and their scores."""
        out = np.asarray(outputs["outputs"], float).copy()
        out[..., :4] /= self.images.shape[-1]
        return out

    def evaluate(self, predictions: np.ndarray, split: str = "test", iou: float = 0.6) -> dict:
        """AP per region and mAP at IoU ``iou`` (torchmetrics, COCO-style), and the share of regions whose
        best box reaches that IoU (``found``)."""
        from torchmetrics.detection import MeanAveragePrecision

        true = self.boxes[self.rows(split)]
        metric = MeanAveragePrecision(box_format="xyxy", iou_thresholds=[iou], class_metrics=True)
        preds, targets, hits = [], [], []
        for p, t in zip(predictions, true):
            keep = np.isfinite(p[..., 4])
            classes = np.broadcast_to(np.arange(1, len(REGIONS) + 1)[:, None], keep.shape)
            preds.append({"boxes": torch.as_tensor(p[..., :4][keep]).float(), "scores": torch.as_tensor(p[..., 4][keep]).float(),
                          "labels": torch.as_tensor(classes[keep])})  # fmt: skip
            known = np.isfinite(t).all(-1)
            targets.append({"boxes": torch.as_tensor(t[known]).float(), "labels": torch.as_tensor(np.flatnonzero(known) + 1)})
            for c in np.flatnonzero(known):
                best = p[c, 0, :4]
                hits.append(bool(np.isfinite(best).all()) and float(box_iou(torch.as_tensor(best[None]), torch.as_tensor(t[c][None]))) >= iou)
        metric.update(preds, targets)
        result = metric.compute()
        per_class = dict(zip(np.atleast_1d(result["classes"].numpy()).tolist(), np.atleast_1d(result["map_per_class"].numpy()).tolist()))
        out = {"map": float(result["map"]), **{f"ap {name}": per_class.get(c + 1, float("nan")) for c, name in enumerate(REGIONS)}}
        out["found"] = float(np.mean(hits)) if hits else float("nan")
        return out | {"hands": len(true)}

    def fingerprint(self) -> str:
        return hash_task_data((self.name, self.k), (self.images, self.boxes), self.table)

    def checkpoint_record(self) -> dict:
        return {**super().checkpoint_record(), "regions": list(REGIONS), "input_size": int(self.images.shape[-1])}


class _ModelLoss(nn.Module):
    """The detector returns its loss itself: pass it on."""

    def forward(self, loss: torch.Tensor, *_targets) -> torch.Tensor:
        return loss
