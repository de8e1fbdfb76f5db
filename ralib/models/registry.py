"""Models by name: one registry of builders, so that a notebook, a checkpoint and a test build any model
of the house the same way (timm's ``create_model`` pattern).

A builder takes ``num_outputs``, ``weights`` (a local file or None), ``pretrained`` (the start of its
pretrained networks: ``"random"``, ``"imagenet"`` or a folder, :mod:`ralib.models.pretrained`) and keyword
arguments of its own.
Each registered model declares, on its :class:`ModelCard`, what the rest of the house would otherwise have
to guess from its class or its layer names: the modules each of its freezing schemes freezes, whether it has
a layer for the CAM methods (:func:`ralib.models.explainer_target`), and a small build of it with a batch
its forward takes (what the tests train one step). Names that are not registered fall through to timm, so
every timm model is available on grey images (without freezing schemes).

Example:
    >>> create_model("alexnet", 6).get_classifier().out_features
    6
    >>> {"alexnet", "resnet34"} <= set(list_models()), model_card("resnet34").freezing["RBs-1"]
    (True, ('conv1', 'bn1', 'layer1'))
    >>> model, inputs = model_card("attention_mil").sample()
    >>> tuple(model(*inputs).shape)
    (2, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import nn

from ralib.models.backbones import FREEZE_SCHEMES, timm_backbone, torchvision_backbone
from ralib.models.pretrained import PretrainedFile, locate, timm_file, torchvision_file

Builder = Callable[..., nn.Module]


def grey_images(batch: int = 2, size: int = 64) -> tuple[torch.Tensor]:
    """A batch of ``batch`` random grey images ``(batch, 1, size, size)``: what most models here take."""
    return (torch.rand(batch, 1, size, size),)


@dataclass(frozen=True)
class ModelCard:
    """What a registered model declares beside its ``builder``.

    ``freezing``: its freezing schemes, each the names of the modules it freezes (:func:`ralib.models.freeze`);
    ``explained``: whether :func:`ralib.models.explainer_target` names a layer of it for the CAM methods (a
    classifier's or a scorer's last feature map; not a detector's, a U-Net's or an attention MIL's);
    ``sample_build``: ``num_outputs`` and builder options of a small one, ``sample_inputs``: a batch its forward
    takes (:meth:`sample`); ``pretrained_files``: given the builder's options, the published weight files its
    networks start from with ``pretrained="imagenet"`` (none: it has no pretrained start)."""

    builder: Builder
    freezing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    explained: bool = True
    sample_build: Mapping[str, object] = field(default_factory=lambda: {"num_outputs": 3})
    sample_inputs: Callable[[], tuple[torch.Tensor, ...]] = grey_images
    pretrained_files: Callable[..., tuple[PretrainedFile, ...]] = lambda **options: ()

    def sample(self) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        """A small model of this kind, random and in training mode, and a batch its forward takes."""
        return _with_card(self.builder(weights=None, pretrained="random", **self.sample_build), self), self.sample_inputs()


def _published(file: Callable[[str], PretrainedFile], name: str) -> Callable[..., tuple[PretrainedFile, ...]]:
    return lambda **options: (file(name),)


_CARDS: dict[str, ModelCard] = {
    **{name: ModelCard(partial(torchvision_backbone, name), pretrained_files=_published(torchvision_file, name))
       for name in ("alexnet", "googlenet")},
    **{name: ModelCard(partial(timm_backbone, name), freezing={k: tuple(v) for k, v in FREEZE_SCHEMES.get(family, {}).items()},
                       pretrained_files=_published(timm_file, name))
       for name, family in (("resnet34", "resnet"), ("resnet50", "resnet"), ("mobilenetv2_100", "mobilenetv2"),
                            ("vgg16", None), ("efficientnet_b2", None))},
}  # fmt: skip


def register_model(name: str, *, freezing: Mapping[str, tuple[str, ...]] | None = None, explained: bool = True,
                   sample_build: Mapping[str, object] | None = None,
                   sample_inputs: Callable[[], tuple[torch.Tensor, ...]] = grey_images,
                   pretrained_files: Callable[..., tuple[PretrainedFile, ...]] | None = None) -> Callable[[Builder], Builder]:  # fmt: skip
    """Register a builder under ``name`` with its :class:`ModelCard` (a decorator); a name taken twice is an error."""

    def add(builder: Builder) -> Builder:
        if name in _CARDS:
            raise ValueError(f"a model {name!r} is registered already")
        card = ModelCard(builder, {k: tuple(v) for k, v in (freezing or {}).items()}, explained, dict(sample_build or {"num_outputs": 3}),
                         sample_inputs, pretrained_files or ModelCard.pretrained_files)  # fmt: skip
        _CARDS[name] = card
        return builder

    return add


def model_card(name: str) -> ModelCard:
    """The card of the registered model ``name``; an unregistered (timm) name is an error.

    Example:
        >>> model_card("resnet_9000")
        Traceback (most recent call last):
        ...
        ValueError: no registered model 'resnet_9000'; the registered ones: alexnet, ...
    """
    if name not in _CARDS:
        raise ValueError(f"no registered model {name!r}; the registered ones: {', '.join(list_models())}")
    return _CARDS[name]


def create_model(name: str, num_outputs: int, weights: str | Path | None = None, pretrained: str = "random", **kwargs) -> nn.Module:
    """The model registered as ``name`` (else timm's ``name`` on grey images) with ``num_outputs`` outputs: its
    networks from the start ``pretrained`` (random, imagenet or a folder: :mod:`ralib.models.pretrained`), then
    a local ``weights`` file loaded over them if given; it carries its card's freezing schemes (``freezing_groups``)."""
    card = _CARDS.get(name)
    builder = card.builder if card else partial(timm_backbone, name)
    if pretrained != "random" and not pretrained_files(name, **kwargs):
        raise ValueError(f"{name} has no pretrained start (its networks are the house's own): give it pretrained='random'")
    return _with_card(builder(num_outputs=num_outputs, weights=weights, pretrained=pretrained, **kwargs), card)


def pretrained_files(name: str, **options) -> tuple[PretrainedFile, ...]:
    """The published weight files model ``name`` built with ``options`` starts from with ``pretrained="imagenet"``.

    Example:
        >>> [f.name for f in pretrained_files("idx_pool_scorer", backbone="tiny_vit_5m_224")], pretrained_files("attention_mil")
        (['tiny_vit_5m_224'], ())
    """
    card = _CARDS.get(name)
    return card.pretrained_files(**options) if card else (timm_file(name),)


def _with_card(model: nn.Module, card: ModelCard | None) -> nn.Module:
    model.freezing_groups = {scheme: list(modules) for scheme, modules in (card.freezing if card else {}).items()}
    return model


def check_pretrained(models: Iterable[tuple[str, Mapping[str, object]]], weights: str) -> None:
    """Every published file the ``models`` (name and builder options) start from with ``weights`` (``"imagenet"``
    or a folder) located, downloaded where it may be: one :class:`~ralib.models.pretrained.MissingWeights` names
    all that are missing, so that it is raised before anything trains.

    Example:
        >>> check_pretrained([("resnet34", {})], "/no/weights/here")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ralib.models.pretrained.MissingWeights: WEIGHTS='/no/weights/here': 1 pretrained file(s) not found in the folder /no/weights/here; ...
    """
    locate([f for name, options in models for f in pretrained_files(name, **options)], weights)


def builder_module(name: str) -> str:
    """The module whose code builds model ``name`` (``ralib.models.backbones`` for timm's names).

    Example:
        >>> builder_module("resnet34")
        'ralib.models.backbones'
    """
    card = _CARDS.get(name)
    return "ralib.models.backbones" if card is None else getattr(card.builder, "func", card.builder).__module__


def list_models() -> list[str]:
    """The registered models: the papers' backbones and the house's own (any other timm name works too)."""
    return sorted(_CARDS)
