"""Class activation maps from pytorch-grad-cam, read where each model declares
(:func:`ralib.models.explainer_target`).

Four methods, one per idea: Grad-CAM (gradients averaged per channel), Grad-CAM++ (positive gradients,
weighted per pixel), Score-CAM (each channel's map used as a mask on the input, weighted by the score the
masked input gets: no gradients, one forward pass per channel) and Eigen-CAM (the first principal component
of the activations: no gradients and no target either, so it shows what the layer holds, not what the
output uses). Each returns maps over the input in 0-1 (pytorch-grad-cam's per-image min-max scaling).

What a map explains is its *target*, a function of one image's outputs: the raw output of a regressor
(``RawScoresOutputTarget``), one class of a classifier (``ClassifierOutputTarget``), or the expected grade
of a joint scorer whose outputs are the logits of several ordinal grades (:class:`ExpectedGrade`).

Example:
    >>> import timm, torch
    >>> model = timm.create_model("resnet18", num_classes=1, in_chans=1).eval()
    >>> cam_maps(model, torch.rand(2, 1, 64, 64), "Grad-CAM").shape
    (2, 64, 64)
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial
from typing import Callable, Sequence
from unittest import mock

import numpy as np
import torch
import tqdm
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget, RawScoresOutputTarget

from ralib.models import explainer_target

#: the CAM methods by the name tables and figures use
CAM_METHODS = {"Grad-CAM": GradCAM, "Grad-CAM++": GradCAMPlusPlus, "Score-CAM": ScoreCAM, "Eigen-CAM": EigenCAM}
#: methods that read no gradient
GRADIENT_FREE = ("Score-CAM", "Eigen-CAM")


class ExpectedGrade:
    """The expected grade summed over ordinal groups of logits: ``groups`` are ``(start, n_grades)`` of one
    image's outputs (RheumaVIT's scorer: erosion 0-5 at 0, JSN 0-4 at 6), each turned into probabilities and
    weighted by 0, 1, ..., n - 1. A differentiable target for the damage a joint scorer sees.

    Example:
        >>> ExpectedGrade([(0, 2), (2, 3)])(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0])).item()
        1.5
    """

    def __init__(self, groups: Sequence[tuple[int, int]]):
        self.groups = [(int(start), int(n)) for start, n in groups]

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        total = output.new_zeros(())
        for start, n in self.groups:
            p = output[..., start : start + n].float().softmax(-1)
            total = total + (p * torch.arange(n, dtype=p.dtype, device=p.device)).sum(-1)
        return total


def targets_for(n: int, classes: Sequence[int] | None = None, target: Callable | None = None) -> list[Callable]:
    """One target per image: ``target`` for each, else the class each map explains (``classes``), else the
    raw output (a regressor's score)."""
    if target is not None:
        return [target] * n
    if classes is not None:
        if len(classes) != n:
            raise ValueError(f"{len(classes)} classes for {n} images")
        return [ClassifierOutputTarget(int(c)) for c in classes]
    return [RawScoresOutputTarget()] * n


#: pixels one CAM pass takes at once: the gradient methods' images, Score-CAM's masked copies of one image
PASS_PIXELS = 32 * 224 * 224


def images_per_pass(method: str, image_shape: Sequence[int]) -> int:
    """Images of ``image_shape`` ``(..., h, w)`` one call of ``method`` takes: a gradient method as many as
    :data:`PASS_PIXELS` allow, Score-CAM one (it holds every channel's map of its images upsampled to the
    input three times over, the masked inputs among them: 6 GB for one 1,024-px film at 512 channels).

    Example:
        >>> images_per_pass("Grad-CAM", (1, 224, 224)), images_per_pass("Grad-CAM", (1, 1024, 1024)), images_per_pass("Score-CAM", (1, 64, 64))
        (32, 1, 1)
    """
    return 1 if method == "Score-CAM" else _fitting(image_shape)


def _fitting(image_shape: Sequence[int]) -> int:
    """Images of ``image_shape`` ``(..., h, w)`` in :data:`PASS_PIXELS`, at least one."""
    return max(1, PASS_PIXELS // (int(image_shape[-2]) * int(image_shape[-1])))


def cam_maps(model: torch.nn.Module, images: torch.Tensor, method: str = "Grad-CAM", classes: Sequence[int] | None = None,
             target: Callable | None = None) -> np.ndarray:  # fmt: skip
    """``method``'s maps ``(n, h, w)`` in 0-1 over ``images`` ``(n, C, h, w)`` for an eval-mode ``model``,
    read at its explainer target. ``classes`` / ``target``: what each map explains (:func:`targets_for`).
    The images go through in groups (:func:`images_per_pass`), so that memory does not grow with their
    number: each map depends on its own image only."""
    if method not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; choose from {', '.join(CAM_METHODS)}")
    layer, reshape = explainer_target(model)
    targets = targets_for(len(images), classes, target)
    step = images_per_pass(method, images.shape)
    was_training = model.training
    model.eval()
    try:
        quiet = mock.patch.object(tqdm, "tqdm", partial(tqdm.tqdm, disable=True))  # Score-CAM's bar per image
        with CAM_METHODS[method](model=model, target_layers=[layer], reshape_transform=reshape) as cam, \
                (quiet if method == "Score-CAM" else nullcontext()):
            cam.batch_size = _fitting(images.shape)  # Score-CAM's masked images per forward pass
            maps = [cam(input_tensor=images[i : i + step].float(), targets=targets[i : i + step]) for i in range(0, len(images), step)]
    finally:
        model.train(was_training)
    return np.nan_to_num(np.concatenate(maps).astype(np.float32))


def gradcam(model: torch.nn.Module, images: torch.Tensor, classes: Sequence[int] | None = None) -> np.ndarray:
    """Grad-CAM maps ``(n, h, w)`` in 0-1: ``classes`` the class each explains, None the raw output."""
    return cam_maps(model, images, "Grad-CAM", classes)
