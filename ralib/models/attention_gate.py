"""DeepRA's joint model (Chaturvedi 2021, Fig. 2): an EfficientNet whose last feature map, batch-normalised,
is weighted by an attention gate before pooling, then dense layers give the region's joint scores.

The gate is a stack of 1 x 1 convolutions ending in a per-pixel sigmoid: a map ``a`` in [0, 1] of the
feature map's size. The features are multiplied by it and pooled as ``sum(a f) / sum(a)`` (the attention-
weighted mean; the paper's "rescaled" global pooling), so a region's score comes from where the gate looks.
Without the gate (``gate=False``, the paper's ablation) the features are average-pooled.

Example:
    >>> import torch
    >>> model = AttentionGatedRegressor("efficientnet_b0", num_outputs=2).eval()
    >>> scores, gate = model(torch.rand(2, 1, 64, 64)), model.attention(torch.rand(2, 1, 64, 64))
    >>> tuple(scores.shape), tuple(gate.shape)
    ((2, 2), (2, 1, 2, 2))
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from ralib.models.backbones import ExplainerTarget
from ralib.models.pretrained import timm_files, timm_options
from ralib.models.registry import register_model


class AttentionGatedRegressor(nn.Module):
    """A timm ``backbone`` (EfficientNet-B3 to B5 in the paper), an attention gate of 1 x 1 convolutions
    (``gate_widths`` wide, then one channel and a sigmoid) and dense layers (``dense`` wide) to
    ``num_outputs`` scores."""

    def __init__(self, backbone: str = "efficientnet_b0", num_outputs: int = 2, gate: bool = True,
                 gate_widths: tuple[int, ...] = (64, 16, 8), dense: int = 128, dropout: float = 0.25, in_chans: int = 1,
                 pretrained: str = "random"):  # fmt: skip
        super().__init__()
        self.backbone = timm.create_model(backbone, in_chans=in_chans, num_classes=0, global_pool="", **timm_options(backbone, pretrained))
        width = self.backbone.num_features
        self.norm = nn.BatchNorm2d(width)
        self.gate = None
        if gate:
            layers, previous = [], width
            for w in gate_widths:
                layers += [nn.Conv2d(previous, w, 1), nn.ReLU()]
                previous = w
            self.gate = nn.Sequential(*layers, nn.Conv2d(previous, 1, 1), nn.Sigmoid())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, dense), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(dense, num_outputs))  # fmt: skip

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.norm(self.backbone.forward_features(images))

    def explainer_target(self) -> ExplainerTarget:
        """The batch-normalised last feature map, which the gate weighs and the head pools."""
        return ExplainerTarget(self.norm)

    def attention(self, images: torch.Tensor) -> torch.Tensor:
        """The gate's map ``(B, 1, h, w)`` in [0, 1] over the last feature map (ones without a gate)."""
        features = self.features(images)
        if self.gate is None:
            return torch.ones_like(features[:, :1])
        return self.gate(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)
        if self.gate is None:
            pooled = features.mean((2, 3))
        else:
            gate = self.gate(features)
            pooled = (features * gate).sum((2, 3)) / gate.sum((2, 3)).clamp_min(1e-6)
        return self.head(pooled)


@register_model("attention_gated", freezing={"backbone": ("backbone",)}, sample_build={"num_outputs": 2},
                pretrained_files=timm_files("backbone", "efficientnet_b0"))  # fmt: skip
def _attention_gated(num_outputs: int, weights=None, pretrained: str = "random", backbone: str = "efficientnet_b0",
                     **kwargs) -> AttentionGatedRegressor:  # fmt: skip
    if weights is not None:
        raise ValueError("DeepRA's joint models start from their backbone's pretrained weights (pretrained=...), not from a file")
    return AttentionGatedRegressor(backbone, num_outputs, pretrained=pretrained, **kwargs)
