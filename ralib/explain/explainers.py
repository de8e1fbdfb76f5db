"""One call for every model: ``explain(model, task, radiograph_id, method, film_shape)`` returns a
:class:`~ralib.explain.heatmap.Heatmap` on the film's own pixel grid, whatever the model saw.

The inputs of a film are the task's items whose placements (:meth:`ralib.tasks.Task.placements`) name it.
One small adapter per model family says which methods it has, what a map explains, and how much of the
film's heat each input carries:

- a CNN on whole films or hands (``03``, ``04``): the CAM methods of :mod:`ralib.explain.cam` on the raw
  output (a regressor) or the predicted class (a classifier); each input the same share;
- RheumaVIT's joint scorer (``08``, :class:`~ralib.models.joint_scorer.IdxPoolScorer`): the CAM methods on
  the crop's expected grade (:class:`~ralib.explain.cam.ExpectedGrade`), and attention ``rollout`` for a
  TinyViT; each crop weighted by the damage the scorer predicts there;
- DeepRA's joint model (``09``, :class:`~ralib.models.attention_gate.AttentionGatedRegressor`): the CAM
  methods on the sum of the region's scores, and its attention ``gate``; each region weighted by its
  predicted score;
- the attention MIL (``06``, ``07``): ``attention``, each instance's square filled evenly and weighted by its
  attention; a :class:`~ralib.models.mil.BagScorer` (a CNN before the pool, over bags of images) also has the
  CAM methods through its instance CNN (not Score-CAM, which masks each input image, not each instance), each
  instance's map weighted by its attention.

Example:
    >>> heat = explain(model, task, "SYN00412", "Grad-CAM", film.shape)     # doctest: +SKIP
    >>> heat.values.sum(), heat.method                                      # doctest: +SKIP
    (1.0, 'Grad-CAM')
"""

from __future__ import annotations

import time
from typing import Callable

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ralib.explain.cam import CAM_METHODS, ExpectedGrade, cam_maps
from ralib.explain.heatmap import Heatmap, on_film
from ralib.explain.rollout import tinyvit_rollout
from ralib.geometry import Placement
from ralib.models.attention_gate import AttentionGatedRegressor
from ralib.models.joint_scorer import IdxPoolScorer
from ralib.models.mil import AttentionMIL, BagScorer
from ralib.tasks.joint_grades import HEADS

#: an adapter: (model, task, split, the film's placement rows, method) -> (maps over the inputs, weights)
Adapter = Callable[[nn.Module, object, str, pd.DataFrame, str], tuple[list[np.ndarray], np.ndarray]]
_ADAPTERS: dict[type, tuple[tuple[str, ...], Adapter]] = {}


def adapter(model_type: type, methods: tuple[str, ...]):
    """Register the adapter of a model family and the methods it offers."""

    def register(function: Adapter) -> Adapter:
        _ADAPTERS[model_type] = (methods, function)
        return function

    return register


def _family(model: nn.Module) -> tuple[tuple[str, ...], Adapter]:
    for kind in type(model).__mro__:  # the most specific registered family; any other module is a plain CNN
        if kind in _ADAPTERS:
            return _ADAPTERS[kind]
    return _ADAPTERS[nn.Module]


def methods_for(model: nn.Module) -> tuple[str, ...]:
    """The methods :func:`explain` offers for ``model`` (rollout only for a TinyViT scorer).

    Example:
        >>> from ralib.models.mil import AttentionMIL
        >>> methods_for(AttentionMIL(8))
        ('attention',)
    """
    methods = _family(model)[0]
    if isinstance(model, IdxPoolScorer) and not hasattr(model.backbone, "stages"):
        methods = tuple(m for m in methods if m != "rollout")
    return methods


def explain(model: nn.Module, task, radiograph_id: str, method: str, film_shape: tuple[int, int], split: str = "test") -> Heatmap:
    """``method``'s map of ``model`` over film ``radiograph_id`` of ``task``'s ``split``, on a film of
    ``film_shape`` pixels; refused for a method the model's family does not have."""
    if method not in methods_for(model):
        raise ValueError(f"{type(model).__name__} has no {method!r} map; it has {', '.join(methods_for(model))}")
    placed = _once(task, split, "placements", lambda: task.placements(split))
    mine = placed[placed.radiograph_id == str(radiograph_id)]
    if mine.empty:
        raise ValueError(f"film {radiograph_id!r} has no inputs in the {split} split of {getattr(task, 'name', task)}")
    start = time.perf_counter()
    model.eval()
    maps, weights = _family(model)[1](model, task, split, mine, method)
    maps = [_at(m, int(size)) for m, size in zip(maps, mine["size"])]  # e.g. a classifier's input resized from the crop
    heat = on_film(maps, [Placement.from_columns(row) for _, row in mine.iterrows()], tuple(film_shape), weights)
    return heat.named(method, type(model).__name__, time.perf_counter() - start)


def _at(values: np.ndarray, size: int) -> np.ndarray:
    """A map over an input resized to the ``size`` x ``size`` grid its placement is defined on."""
    values = np.asarray(values, np.float32)
    return values if values.shape == (size, size) else cv2.resize(values, (size, size), interpolation=cv2.INTER_LINEAR)


#: what explain() needs of a task's split, made once per task: (task, split, what) -> (the task, the value)
_MADE: dict[tuple[int, str, str], tuple[object, object]] = {}


def _once(task, split: str, what: str, make: Callable[[], object]):
    """``make()`` the first time ``what`` of ``task``'s ``split`` is asked for (its placements, its dataset),
    kept with the task itself so that its id cannot be reused by another."""
    key = (id(task), split, what)
    if key not in _MADE:
        _MADE[key] = (task, make())
    return _MADE[key][1]


def _inputs(task, split: str, items) -> torch.Tensor:
    """The model inputs of ``items`` of ``task``'s ``split`` as one batch."""
    dataset = _once(task, split, "dataset", lambda: task.dataset(split))
    return torch.stack([torch.as_tensor(dataset[int(i)][0]) for i in items]).float()


@adapter(nn.Module, tuple(CAM_METHODS))
def _image_cnn(model, task, split, mine, method):
    inputs = _inputs(task, split, mine["item"])
    classify = getattr(task, "kind", "regression") == "classification"
    with torch.no_grad():
        classes = model(inputs).argmax(1).tolist() if classify else None
    return list(cam_maps(model, inputs, method, classes=classes)), np.ones(len(mine))


def _heads(task, outputs: int) -> list[tuple[int, int]]:
    """(start, grades) of each head of a joint scorer's outputs (its task's ``heads``, else one head)."""
    heads = getattr(task, "heads", None)
    if not heads:
        return [(0, outputs)]
    starts = np.cumsum([0] + [HEADS[k] for k in heads])
    return [(int(s), HEADS[k]) for s, k in zip(starts, heads)]


@adapter(IdxPoolScorer, (*CAM_METHODS, "rollout"))
def _joint_scorer(model, task, split, mine, method):
    inputs = _inputs(task, split, mine["item"])
    with torch.no_grad():
        outputs = model(inputs).float()
    target = ExpectedGrade(_heads(task, outputs.shape[1]))
    damage = np.array([float(target(o)) for o in outputs])
    if method == "rollout":
        maps = list(tinyvit_rollout(model.backbone, inputs))
    else:
        maps = list(cam_maps(model, inputs, method, target=target))
    return maps, damage


@adapter(AttentionGatedRegressor, (*CAM_METHODS, "gate"))
def _gated_regions(model, task, split, mine, method):
    inputs = _inputs(task, split, mine["item"])
    with torch.no_grad():
        scores = model(inputs).float().clamp_min(0).sum(1).numpy()
    if method == "gate":
        with torch.no_grad():
            gate = model.attention(inputs).float()
        maps = list(F.interpolate(gate, size=inputs.shape[-2:], mode="bilinear", align_corners=False)[:, 0].numpy())
    else:
        maps = list(cam_maps(model, inputs, method, target=lambda out: out.float().sum()))
    return maps, scores


@adapter(AttentionMIL, ("attention",))
def _mil(model, task, split, mine, method):
    (item,) = mine["item"].unique()
    features, mask, _ = _once(task, split, "dataset", lambda: task.dataset(split))[int(item)]
    with torch.no_grad():
        _, attention = model(features[None].float(), mask[None], return_attention=True)
    size = int(mine["size"].iloc[0])
    return [np.ones((size, size), np.float32)] * len(mine), attention[0].numpy()[mine.instance.to_numpy()]


@adapter(BagScorer, ("attention", *(m for m in CAM_METHODS if m != "Score-CAM")))  # Score-CAM masks the input per image, not per instance
def _bag_scorer(model, task, split, mine, method):
    (item,) = mine["item"].unique()
    bag, mask, _ = _once(task, split, "dataset", lambda: task.dataset(split))[int(item)]
    slots = mine.instance.to_numpy()
    with torch.no_grad():
        _, attention = model(bag[None].float(), mask[None], return_attention=True)
    weights = attention[0].numpy()[slots]
    if method == "attention":
        size = int(mine["size"].iloc[0])
        return [np.ones((size, size), np.float32)] * len(mine), weights
    instances = bag[slots].float()[None]  # the film's real instances as one bag: a map per instance
    return list(cam_maps(model, instances, method)), weights
