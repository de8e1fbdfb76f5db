"""A trained model on images it was not trained on as a task: the MIL paper's classifiers truncated before
their head become feature extractors for bags of tiles or joint patches (:func:`image_features`), and the
foreground U-Net segments every film (:func:`segment`).

Example:
    >>> features = image_features(patch_classifier.model, cache.images, patch_task)   # doctest: +SKIP
    >>> features.shape                                                                 # doctest: +SKIP
    (30000, 1280)
"""

from __future__ import annotations

import numpy as np
from torch import nn
from torch.utils.data import Subset

from ralib.data.arrays import resize_images
from ralib.data.loaders import ImageDataset
from ralib.tasks.segmentation import ForegroundTask, postprocess
from ralib.tasks.whole_image import ImageTask, image_outputs
from ralib.train.fit import predict


def image_outputs_of(model: nn.Module, images: np.ndarray, task: ImageTask, only: np.ndarray | None = None,
                     batch_size: int = 256) -> dict[str, np.ndarray]:  # fmt: skip
    """The penultimate ``features`` (n, D) and the task's ``predictions`` (decoded outputs, e.g. class
    probabilities) of ``images`` (in the unit ``task`` was trained on: uint8 crops or 0-1 films), resized to
    the task's image size and normalised as ``task`` normalises its inputs, in one pass. ``only``: the rows
    to compute (e.g. crops of the training films), the others left zero."""
    rows = np.arange(len(images)) if only is None else np.asarray(only)
    chosen = resize_images(np.asarray(images[rows]), task.images.shape[-1])
    dataset = ImageDataset(chosen, np.zeros(len(chosen)), mean=task.pixel_mean, sd=task.pixel_sd)
    computed = predict(model, dataset, image_outputs, batch_size=batch_size)
    computed = {"features": computed["features"], "predictions": task.decode(computed)}
    if only is None:
        return computed
    out = {}
    for name, values in computed.items():
        out[name] = np.zeros((len(images), *values.shape[1:]), values.dtype)
        out[name][rows] = values
    return out


def image_features(model: nn.Module, images: np.ndarray, task: ImageTask, only: np.ndarray | None = None,
                   batch_size: int = 256) -> np.ndarray:  # fmt: skip
    """The penultimate features (n, D) of ``images`` (:func:`image_outputs_of`)."""
    return image_outputs_of(model, images, task, only, batch_size)["features"]


def segment(model: nn.Module, task: ForegroundTask, films: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Post-processed foreground masks (n, s, s) bool of any letterboxed ``films`` by a U-Net trained on
    ``task``, a few films at a time (the probabilities are float32)."""
    data = task.inputs(films)
    masks = np.zeros(films.shape, bool)
    for start in range(0, len(films), 64):
        chunk = Subset(data, range(start, min(start + 64, len(films))))
        probability = task.decode(predict(model, chunk, batch_size=batch_size))
        masks[start : start + len(probability)] = [postprocess(p) for p in probability]
    return masks
