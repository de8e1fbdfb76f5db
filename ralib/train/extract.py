"""Features of a trained image model for images it was not trained on as a task: the MIL paper's
classifiers truncated before their head become feature extractors for bags of tiles or joint patches.

Example:
    >>> features = image_features(patch_classifier.model, cache.images, patch_task)   # doctest: +SKIP
    >>> features.shape                                                                 # doctest: +SKIP
    (30000, 1280)
"""

from __future__ import annotations

import numpy as np
from torch import nn

from ralib.data.loaders import ImageDataset
from ralib.tasks.whole_image import ImageTask, image_outputs
from ralib.train.fit import predict


def image_features(model: nn.Module, images: np.ndarray, task: ImageTask, batch_size: int = 256) -> np.ndarray:
    """The penultimate features (n, D) of ``images`` (in the unit ``task`` was trained on: uint8 crops or
    0-1 films), normalised as ``task`` normalises its inputs."""
    dataset = ImageDataset(images, np.zeros(len(images)), mean=task.pixel_mean, sd=task.pixel_sd)
    return predict(model, dataset, image_outputs, batch_size=batch_size)["features"]
