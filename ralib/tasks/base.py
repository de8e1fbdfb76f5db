"""What every learning task gives the training loop: data per split, how to batch it, the loss, how to
turn a model's named outputs into predictions, and how to score them.

A task owns its targets and measures; a model owns only its forward pass. The generic
:func:`ralib.train.fit` and :func:`ralib.train.predict` talk to a task through this interface alone,
so whole images, landmark heatmaps, bags of joint patches and detection boxes train with one loop.

Datasets yield ``(*inputs, target)`` tuples; after ``collate`` a batch is ``(*inputs, target)`` too, and
fastai calls ``model(*inputs)`` in training. For prediction the task's :meth:`Task.forward` returns
named outputs (``outputs`` always; ``features``, ``attention``, ``heatmaps`` ... where a model has
them) and :meth:`Task.decode` turns them into the task's predictions.

Example:
    >>> import torch
    >>> class Double(Task):
    ...     name, num_outputs = "double", 1
    ...     def dataset(self, split, augment="none"):
    ...         x = torch.arange(4.0)[:, None]
    ...         return torch.utils.data.TensorDataset(x, 2 * x[:, 0])
    ...     def loss(self, name=None):
    ...         return torch.nn.MSELoss()
    ...     def decode(self, outputs, split="test"):
    ...         return outputs["outputs"][:, 0]
    ...     def evaluate(self, predictions, split="test"):
    ...         return {"n": len(predictions)}
    >>> batch = Double().collate([Double().dataset("train")[i] for i in range(2)])
    >>> [tuple(t.shape) for t in batch]
    [(2, 1), (2,)]
    >>> Double().checkpoint_record()
    {'task': 'double', 'num_outputs': 1}
    >>> Double().augmentation("flips", "train")
    Traceback (most recent call last):
    ...
    ValueError: double: unknown augmentation 'flips'; choose one of none
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from ralib.geometry import PLACEMENT_COLUMNS


class Task(ABC):
    """The interface between a kind of target and the training loop (see the module docstring)."""

    name: str
    #: the width of the model's output per item (its last layer), which the model is built with
    #: (:func:`ralib.train.reuse_or_fit`) and rebuilt with from a checkpoint (:func:`ralib.train.load_checkpoint`)
    num_outputs: int
    #: the values ``augment`` of :meth:`dataset` takes, each the task's own augmentation of its training items;
    #: "none" always (see :meth:`augmentation`)
    augmentations: tuple[str, ...] = ("none",)
    #: the measure that picks the checkpoint when a run selects on it (``TrainConfig.select="metric"``): a
    #: key of :meth:`evaluate` on the validation split and whether higher is better; None: the task has none
    monitor: tuple[str, bool] | None = None

    @abstractmethod
    def dataset(self, split: str, augment: str = "none") -> Dataset:
        """The items of ``split`` as ``(*inputs, target)``, augmented only where ``split`` is train."""

    def augmentation(self, augment: str, split: str) -> str:
        """What :meth:`dataset` applies: ``augment`` to the training split, "none" to the others; an augmentation
        the task does not offer (:attr:`augmentations`) is an error, not silently no augmentation."""
        if augment not in self.augmentations:
            raise ValueError(f"{self.name}: unknown augmentation {augment!r}; choose one of {', '.join(self.augmentations)}")
        return augment if split == "train" else "none"

    def collate(self, items: list) -> tuple:
        """Items to a batch (torch's default: stacks tensors)."""
        return default_collate(items)

    @abstractmethod
    def loss(self, name: str | None = None) -> nn.Module:
        """The training loss; ``name`` picks one where the task allows several (e.g. mse | smooth)."""

    def forward(self, model: nn.Module, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named outputs of ``model`` for one batch, in eval mode (default: ``{"outputs": model(...)}``)."""
        return {"outputs": model(*inputs)}

    @abstractmethod
    def decode(self, outputs: dict[str, np.ndarray], split: str = "test"):
        """Named outputs (arrays over every item of ``split``) as the task's predictions."""

    @abstractmethod
    def evaluate(self, predictions: np.ndarray, split: str = "test") -> dict:
        """The task's measures of decoded ``predictions`` for ``split``."""

    def placements(self, split: str) -> pd.DataFrame:
        """Where each input of ``split`` lies on its film: one row per item (its index in :meth:`dataset`) and
        instance (0 for an item of one image; a bag's place), with ``radiograph_id``, the input's ``size`` (pixels
        a side) and its :class:`~ralib.geometry.Placement` in :data:`~ralib.geometry.PLACEMENT_COLUMNS`. What lets a map over
        any input be put back on the film (:mod:`ralib.explain`)."""
        raise NotImplementedError(f"{type(self).__name__} does not say where its inputs lie on the films")

    def fingerprint(self) -> str | None:
        """A hash of everything the task trains and validates on (inputs, targets, split), so that a run
        can be reused only on the same data (:func:`ralib.train.reuse_or_fit`); None (the default): runs
        on this task are always trained anew."""
        return None

    def checkpoint_record(self) -> dict:
        """Plain values a checkpoint must carry to rebuild and use the model without the task: the task's name and
        :attr:`num_outputs` here; a task adds what its predictions need (e.g. its target scaling)."""
        return {"task": self.name, "num_outputs": int(self.num_outputs)}


def hash_task_data(settings: tuple, arrays: Sequence[np.ndarray] = (), table: pd.DataFrame | None = None,
                   columns: Sequence[str] = ("split",)) -> str:  # fmt: skip
    """A short hash of what a task trains on: its ``settings`` (by ``repr``), its ``arrays`` (read a few
    rows at a time, so that memory-mapped caches are never loaded whole) and ``columns`` of its ``table``
    (the split at least). What :meth:`Task.fingerprint` returns.

    Example:
        >>> table = pd.DataFrame({"split": ["train", "test"]})
        >>> a = hash_task_data(("task", 1), [np.zeros((2, 3))], table)
        >>> a == hash_task_data(("task", 1), [np.zeros((2, 3))], table), a == hash_task_data(("task", 2), [np.zeros((2, 3))], table)
        (True, False)
    """
    h = hashlib.sha256(repr(settings).encode())
    for array in arrays:
        rows = max(1, 2**26 // max(1, array[:1].nbytes))  # about 64 MB at a time
        for start in range(0, len(array), rows):
            h.update(np.ascontiguousarray(array[start : start + rows]).tobytes())
    if table is not None:
        h.update(pd.util.hash_pandas_object(table[list(columns)], index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def placement_table(radiograph_ids, items, instances, placements, sizes) -> pd.DataFrame:
    """The rows :meth:`Task.placements` returns, from parallel sequences (``placements``: ``Placement``s of
    inputs of ``sizes`` pixels a side, one number for all or one each).

    Example:
        >>> from ralib.geometry import Placement
        >>> t = placement_table(["a"], [0], [0], [Placement.box(0, 0, 10, 10, 5)], 5)
        >>> t.columns.tolist()[:4], float(t.p_xu[0])
        (['radiograph_id', 'item', 'instance', 'size'], 2.0)
    """
    matrices = np.array([np.asarray(p.matrix, float).ravel() for p in placements]).reshape(-1, 6)
    table = pd.DataFrame({"radiograph_id": pd.Series(radiograph_ids, dtype=str).to_numpy(), "item": np.asarray(items, int),
                          "instance": np.asarray(instances, int)})  # fmt: skip
    table["size"] = np.broadcast_to(np.asarray(sizes, int), len(table))
    return table.join(pd.DataFrame(matrices, columns=list(PLACEMENT_COLUMNS)))
