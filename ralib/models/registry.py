"""Models by name: one registry of builders, so that a notebook, a checkpoint and a test build any model
of the house the same way (timm's ``create_model`` pattern).

A builder takes ``num_outputs`` and ``weights`` (a local file or None) and keyword arguments of its own.
Names that are not registered fall through to timm, so every timm model is available on grey images.

Example:
    >>> create_model("alexnet", 6).get_classifier().out_features
    6
    >>> {"alexnet", "resnet34"} <= set(list_models())
    True
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from torch import nn

from ralib.models.backbones import MODEL_NAMES, timm_backbone, torchvision_backbone

Builder = Callable[..., nn.Module]

_BUILDERS: dict[str, Builder] = {
    "alexnet": partial(torchvision_backbone, "alexnet"),
    "googlenet": partial(torchvision_backbone, "googlenet"),
}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Register a builder under ``name`` (a decorator); a name taken twice is an error."""

    def add(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise ValueError(f"a model {name!r} is registered already")
        _BUILDERS[name] = builder
        return builder

    return add


def create_model(name: str, num_outputs: int, weights: str | Path | None = None, **kwargs) -> nn.Module:
    """The model registered as ``name`` (else timm's ``name`` on grey images) with ``num_outputs`` outputs,
    random or from a local ``weights`` file."""
    builder = _BUILDERS.get(name, partial(timm_backbone, name))
    return builder(num_outputs=num_outputs, weights=weights, **kwargs)


def builder_module(name: str) -> str:
    """The module whose code builds model ``name`` (``ralib.models.backbones`` for timm's names).

    Example:
        >>> builder_module("resnet34")
        'ralib.models.backbones'
    """
    builder = _BUILDERS.get(name)
    return "ralib.models.backbones" if builder is None else getattr(builder, "func", builder).__module__


def list_models() -> list[str]:
    """The registered models and the papers' timm backbones (any other timm name works too)."""
    return sorted(set(_BUILDERS) | set(MODEL_NAMES))
