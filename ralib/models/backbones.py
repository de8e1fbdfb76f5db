"""The backbones of the whole-image and per-hand papers, all taking grey images.

Names are timm's (``resnet50``, ``resnet34``, ``mobilenetv2_100``, ``vgg16``, ``efficientnet_b2``, ...)
plus ``alexnet`` and ``googlenet``, which timm lacks and torchvision provides (registered here in
:mod:`ralib.models.registry`). Every model takes a 1-channel image and has timm's interface:
``forward_features``, ``forward_head(x, pre_logits=True)`` for the penultimate features a t-SNE plot
needs, and ``get_classifier()`` for the last layer.

Weights start as ``pretrained`` says (random, the published ImageNet weights or a folder of them:
:mod:`ralib.models.pretrained`), or from ``weights``, a local file: a checkpoint of this repository (e.g. the
bone-age pretraining of notebook 04) or a state dict. timm adapts the first convolution to one channel and
drops a classifier whose size differs.

Example:
    >>> import torch
    >>> model = timm_backbone("resnet34", num_outputs=1)
    >>> model(torch.randn(2, 1, 64, 64)).shape
    torch.Size([2, 1])
    >>> model.freezing_groups = FREEZE_SCHEMES["resnet"]  # what ralib.models.create_model("resnet34", 1) declares
    >>> freeze(model, "RBs-1")
    ['conv1', 'bn1', 'layer1']
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import timm
import torch
import torchvision
from torch import nn

from ralib.models.pretrained import timm_options, torchvision_file, torchvision_state
from ralib.models.weight_files import read_weights

#: The backbones the papers use, by their papers' names.
MODEL_NAMES = {
    "resnet50": "ResNet-50",
    "resnet34": "ResNet-34",
    "mobilenetv2_100": "MobileNetV2",
    "alexnet": "AlexNet",
    "vgg16": "VGG16",
    "googlenet": "GoogLeNet",
    "efficientnet_b2": "EfficientNet-B2",
}

#: Layer-freezing schemes of the MIUA 2024 paper: modules frozen, up to and including a stack.
#: ResNets: RBs-k freezes the stem and the first k stacks of residual blocks. MobileNetV2: IRBs-k
#: freezes the stem and the first k stacks of inverted residual blocks (timm's ``blocks.0`` is the
#: first stack, the expansion-1 block of the MobileNetV2 paper's table 2).
FREEZE_SCHEMES = {
    "resnet": {"RBs-1": ["conv1", "bn1", "layer1"], "RBs-2": ["conv1", "bn1", "layer1", "layer2"]},
    "mobilenetv2": {
        "IRBs-2": ["conv_stem", "bn1", "blocks.0", "blocks.1"],
        "IRBs-3": ["conv_stem", "bn1", "blocks.0", "blocks.1", "blocks.2"],
    },
}

class TorchvisionClassifier(nn.Module):
    """A torchvision classifier behind timm's interface, fed the grey image on three channels."""

    def __init__(self, name: str, num_outputs: int):
        super().__init__()
        if name == "alexnet":
            net = torchvision.models.alexnet(weights=None)
            self.num_features = net.classifier[-1].in_features
            net.classifier[-1] = nn.Identity()
        elif name == "googlenet":
            net = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
            self.num_features = net.fc.in_features
            net.fc = nn.Identity()
        else:
            raise ValueError(f"no torchvision model {name!r}")
        self.name = name
        self.net = net  # ends in its penultimate features
        self.head = nn.Linear(self.num_features, num_outputs)

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.expand(-1, 3, -1, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def explainer_target(self) -> "ExplainerTarget":
        """The last convolutional stage: AlexNet's last feature layer, GoogLeNet's ``inception5b``."""
        return ExplainerTarget(self.net.features[-1] if self.name == "alexnet" else self.net.inception5b)


def torchvision_backbone(name: str, num_outputs: int, weights: str | Path | None = None,
                         pretrained: str = "random") -> TorchvisionClassifier:  # fmt: skip
    """AlexNet or GoogLeNet (torchvision) with ``num_outputs`` outputs, from the start ``pretrained`` (its ImageNet
    classifier left out) or a local state dict ``weights``."""
    model = TorchvisionClassifier(name, num_outputs)
    _reset_head(model.head)
    if pretrained != "random":
        load_matching(model.net, torchvision_state(torchvision_file(name), pretrained))
    if weights is not None:
        load_matching(model.net, weights, prefixes=("net.",))
    return model


def timm_backbone(name: str, num_outputs: int, weights: str | Path | None = None, pretrained: str = "random",
                  **kwargs) -> nn.Module:  # fmt: skip
    """A timm model on grey images with ``num_outputs`` outputs, from the start ``pretrained`` or a local
    ``weights`` file (a plain state dict or a checkpoint of :func:`ralib.train.save_checkpoint`, which then
    holds every layer). Extra ``kwargs`` go to ``timm.create_model`` (e.g. ``drop_rate``).
    """
    if name not in timm.list_models():
        raise ValueError(f"unknown model {name!r}; the papers use {', '.join(MODEL_NAMES)}")
    if weights is None:
        model = timm.create_model(name, num_classes=num_outputs, in_chans=1, **timm_options(name, pretrained), **kwargs)
        _reset_head(model.get_classifier())
        return model
    source = _source_shape(weights)
    overlay = dict(file=str(weights), **source)
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, num_classes=num_outputs,
                              in_chans=1, **kwargs)  # fmt: skip
    if source.get("num_classes", 1000) != num_outputs:  # timm dropped the checkpoint's head
        _reset_head(model.get_classifier())
    return model


def _reset_head(head: nn.Module) -> None:
    """A small random last layer. timm's MobileNet / EfficientNet initialise it uniformly in
    +-1/sqrt(outputs), i.e. +-1 for a single regression output: outputs of about 7 z-scores and
    gradients that make SGD diverge at the paper's learning rate. All models get the same head."""
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)


def _source_shape(weights: str | Path) -> dict:
    """What timm must know about a checkpoint to adapt it: its channels and outputs (ours record them;
    anything else is taken for an ImageNet checkpoint: 3 channels, 1000 classes)."""
    checkpoint = read_weights(weights)
    config = checkpoint.get("config", {}) if isinstance(checkpoint, dict) else {}
    if "num_outputs" in config:
        return {"num_classes": config["num_outputs"], "input_size": (1, 224, 224)}
    return {}


def load_matching(module: nn.Module, weights: str | Path | dict[str, torch.Tensor], prefixes: tuple[str, ...] = (),
                  renames: dict[str, str] | None = None) -> list[str]:  # fmt: skip
    """Load the tensors of a weights file whose names and shapes match ``module``; returns their names.

    ``weights`` is a file of a plain state dict or a checkpoint of :func:`ralib.train.save_checkpoint`, or a
    state dict in memory. A stored
    name matches as it is, with one of ``prefixes`` put in front, or with one taken off (e.g. ``net.`` of
    our torchvision wrapper, ``backbone.`` of a scorer loading an encoder pretrained alone), or with a stored
    prefix replaced as ``renames`` says (e.g. ``{"encoder.model.": "backbone."}``: a U-Net's encoder into a
    scorer's backbone). An error when nothing matches.

    Example:
        >>> load_matching(scorer, "encoder.pt", prefixes=("backbone.",))[:1]          # doctest: +SKIP
        ['backbone.conv1.weight']
    """
    state = weights if isinstance(weights, dict) else read_weights(weights)
    state = state.get("state_dict", state)
    own = module.state_dict()
    usable = {}
    for name, value in state.items():
        candidates = [name, *(p + name for p in prefixes), *(name.removeprefix(p) for p in prefixes if name.startswith(p))]
        candidates += [new + name.removeprefix(old) for old, new in (renames or {}).items() if name.startswith(old)]
        match = next((c for c in candidates if c in own and own[c].shape == value.shape), None)
        if match is not None:
            usable[match] = value
    if not usable:
        raise ValueError(f"{'the state dict' if isinstance(weights, dict) else weights}: no tensor matches the model's names and shapes")
    module.load_state_dict(usable, strict=False)
    return sorted(usable)


def freeze(model: nn.Module, scheme: str | None) -> list[str]:
    """Freeze the modules of one of the model's freezing schemes (``None``: train everything): those its
    registry card declares (``model.freezing_groups``, set by :func:`~ralib.models.create_model`; for the
    papers' backbones the schemes of :data:`FREEZE_SCHEMES`).

    Frozen parameters stop needing gradients and batch-norm layers become ``FrozenBatchNorm2d``, so
    their running statistics stay too (``timm.utils.freeze``). Returns the frozen module names.
    """
    if scheme is None:
        return []
    schemes = getattr(model, "freezing_groups", {})
    if scheme not in schemes:
        raise ValueError(f"no freezing scheme {scheme!r} for {type(model).__name__}; it has {sorted(schemes) or 'none'}")
    timm.utils.freeze(model, schemes[scheme])
    return schemes[scheme]


def unfreeze(model: nn.Module, scheme: str) -> None:
    """Undo :func:`freeze` for ``scheme``: parameters train and batch norm is ordinary again."""
    timm.utils.unfreeze(model, model.freezing_groups[scheme])


def penultimate(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The features the last layer reads (for t-SNE): ``forward_head(..., pre_logits=True)``."""
    return model.forward_head(model.forward_features(images), pre_logits=True)


class ExplainerTarget(NamedTuple):
    """Where a CAM method reads a model: the ``layer`` whose activations and gradients it weighs, and the
    ``reshape_transform`` that turns that layer's output into ``(B, C, h, w)`` (None when it already is;
    pytorch-grad-cam's argument of that name)."""

    layer: nn.Module
    reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None


def nhwc_to_nchw(x: torch.Tensor) -> torch.Tensor:
    """A ``(B, h, w, C)`` feature map (Swin, a TinyViT block) as ``(B, C, h, w)``, for CAM methods."""
    return x.permute(0, 3, 1, 2)


def explainer_target(model: nn.Module) -> ExplainerTarget:
    """The layer a CAM method reads: what the model declares (``model.explainer_target()``, every ``ralib``
    model with a feature map), else the last entry of timm's ``feature_info`` (the last stage: ``layer4`` of a
    ResNet, ``blocks.6`` of a MobileNetV2 or EfficientNet). A model that declares neither is refused.

    Example:
        >>> model = timm_backbone("resnet34", num_outputs=1)
        >>> explainer_target(model).layer is model.layer4
        True
    """
    if hasattr(model, "explainer_target"):
        return model.explainer_target()
    info = getattr(model, "feature_info", None)
    if info:
        return ExplainerTarget(model.get_submodule(info[-1]["module"]), nhwc_to_nchw if getattr(model, "output_fmt", "NCHW") == "NHWC" else None)
    raise ValueError(f"{type(model).__name__} declares no explainer target (an explainer_target() method or timm's feature_info)")
