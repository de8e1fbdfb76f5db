"""The sanity checks of Adebayo et al. (2018): a map that explains a model must change when the model does.

*Cascading randomisation* re-initialises the model's layers from the output back to the input, in
``steps`` groups, and after each group compares the new maps with the trained model's by rank correlation
(Spearman, per image, then averaged). *Data randomisation* compares the trained model's maps with those of
the same model trained on shuffled labels (:func:`map_similarity` on the two). A method whose maps stay
alike (mean rank correlation at or above ``threshold``) once every layer is random fails: it shows the
image (edges, bright bone), not the model. An edge detector, which ignores the model, fails by design.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Conv2d(2, 1, 3, padding=1))
    >>> edges = lambda m, x: np.abs(np.diff(x[:, 0].numpy(), axis=-1, prepend=0))
    >>> table = cascading_randomisation(model, edges, torch.rand(2, 1, 16, 16), steps=2)
    >>> table.spearman.tolist(), passes(table)
    ([1.0, 1.0], False)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from ralib.train import TrainConfig, recipes
from ralib.train.fit import checkpoint_record


def map_similarity(a, b, size: int = 64) -> float:
    """Mean Spearman rank correlation of two sequences of maps (pairs of equal shape, ``(h, w)`` each), each
    pair compared at about ``size`` x ``size`` (block means: rank correlation over millions of pixels costs
    much and adds nothing). A constant map (a CAM whose ReLU left nothing) ranks nothing: its pair is left
    out, and NaN is returned when no pair is left."""
    rhos = []
    for x, y in zip(a, b):
        x, y = _shrink(np.asarray(x, float), size).ravel(), _shrink(np.asarray(y, float), size).ravel()
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            rhos.append(spearmanr(x, y).statistic)
    return round(float(np.mean(rhos)), 4) if rhos else float("nan")


def _shrink(values: np.ndarray, size: int) -> np.ndarray:
    h, w = values.shape
    fy, fx = max(1, h // size), max(1, w // size)
    return values[: h // fy * fy, : w // fx * fx].reshape(h // fy, fy, w // fx, fx).mean((1, 3))


def randomisable_layers(model: torch.nn.Module) -> list[str]:
    """The names of the modules that hold parameters of their own and can re-initialise them, input first."""
    return [name for name, m in model.named_modules()
            if name and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]  # fmt: skip


def cascading_randomisation(model: torch.nn.Module, maps: Callable[[torch.nn.Module, object], list], images, steps: int = 4,
                            seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Rank correlation of ``maps(model, images)`` with the trained model's after randomising the layers of
    ``model`` (a copy) from the top down in ``steps`` groups; one row per step: ``layers`` randomised so far,
    the deepest ``down_to``, ``spearman``."""
    layers = randomisable_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no layers to randomise")
    reference = maps(model, images)
    randomised = copy.deepcopy(model)
    torch.manual_seed(seed)
    groups = np.array_split(np.array(layers[::-1], dtype=object), min(steps, len(layers)))
    rows, done = [], 0
    for group in groups:
        for name in group:
            randomised.get_submodule(name).reset_parameters()
        done += len(group)
        rows.append({"layers": done, "down_to": str(group[-1]), "spearman": map_similarity(reference, maps(randomised, images))})
    return pd.DataFrame(rows)


def passes(table: pd.DataFrame, threshold: float = 0.5) -> bool | None:
    """Whether a method's maps, once every layer is random (the last row), correlate below ``threshold``;
    None where there was nothing to compare (constant maps)."""
    last = table.spearman.iloc[-1]
    return None if np.isnan(last) else bool(last < threshold)


def shuffled_copy_config(reference_checkpoint: str | Path, epochs: int, batch_size: int = 16, seed: int = 0) -> TrainConfig:
    """How the data randomisation test's copy of a model trains: the reference checkpoint's architecture from
    the reference's start (random, ImageNet or a folder of weights: the maps of two models are compared, not of
    two starts), with the fast recipe for ``epochs``.

    Example:
        >>> shuffled_copy_config(checkpoint, 4).label                # doctest: +SKIP
        'resnet34 mse b16 imagenet shuffled labels'
    """
    record = checkpoint_record(reference_checkpoint)
    return recipes.fast(record["model"], epochs, batch_size, seed=seed, tag="shuffled labels", pretrained=record.get("pretrained", "random"),
                        model_options=tuple(tuple(pair) for pair in record.get("model_options", ())))  # fmt: skip


def with_shuffled_labels(task, seed: int = 0):
    """A copy of a whole-image ``task`` whose training targets are permuted among the training images (the
    data randomisation test's model learns from labels that carry nothing); validation and test untouched.

    Example:
        >>> from types import SimpleNamespace
        >>> task = SimpleNamespace(table=pd.DataFrame({"split": ["train"] * 4 + ["test"], "score": [0, 1, 2, 3, 9]}), target="score")
        >>> shuffled = with_shuffled_labels(task, seed=1)
        >>> sorted(shuffled.table.score[:4]) == [0, 1, 2, 3], shuffled.table.score[4], task.table.score.tolist()[:4]
        (True, np.int64(9), [0, 1, 2, 3])
    """
    shuffled = copy.copy(task)
    table = task.table.copy()
    train = np.flatnonzero(table.split.to_numpy() == "train")
    column = table.columns.get_loc(task.target)
    table.iloc[train, column] = table.iloc[train, column].to_numpy()[np.random.default_rng(seed).permutation(len(train))]
    shuffled.table = table
    if hasattr(shuffled, "name"):
        shuffled.name = f"{task.name}_shuffled_labels"
    return shuffled
