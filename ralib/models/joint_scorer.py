"""RheumaVIT's two models (Stolpovsky et al. 2023): a joint box regressor on hand images with coordinate
channels, and a joint scorer reading erosion and JSN grades off one crop through idx pooling.

- :class:`CoordChannels` appends two channels, x and y in [-1, 1] (CoordConv, Liu et al. 2018), so that a
  CNN knows where on the hand it looks.
- :class:`BoxRegressor`: a timm backbone (EfficientNetV2 in the paper) after the coordinate channels,
  predicting ``n_boxes`` boxes ``(x0, y0, x1, y1)`` in [0, 1] of the image (centre and size through a
  sigmoid, so that a box is never inverted, as the DIoU loss requires).
- :class:`IdxPoolScorer`: a timm backbone's last feature map, of which idx pooling keeps the top-left vector
  (the paper's stand-in for a class token: TinyViT has none), then a head of two linear layers (512 wide,
  BatchNorm, ReLU) giving the logits of every grade (6 erosion + 5 JSN by default); its ``weights`` may be a
  checkpoint of the first stage or of the denoising pretraining (:mod:`ralib.models.denoising`).

Example:
    >>> import torch
    >>> scorer = IdxPoolScorer("resnet18", num_outputs=11).eval()
    >>> tuple(scorer(torch.rand(2, 1, 64, 64)).shape)
    (2, 11)
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from ralib.models.backbones import ExplainerTarget, load_matching, nhwc_to_nchw
from ralib.models.denoising import ENCODER_PREFIX
from ralib.models.pretrained import timm_files, timm_options
from ralib.models.registry import register_model


class CoordChannels(nn.Module):
    """``(B, C, H, W)`` -> ``(B, C + 2, H, W)``: x (left -1 to right 1) and y (top -1 to bottom 1)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b, _, h, w = images.shape
        y, x = torch.meshgrid(torch.linspace(-1, 1, h, device=images.device), torch.linspace(-1, 1, w, device=images.device),
                              indexing="ij")  # fmt: skip
        grid = torch.stack([x, y]).to(images.dtype).expand(b, 2, h, w)
        return torch.cat([images, grid], dim=1)


class BoxRegressor(nn.Module):
    """``n_boxes`` boxes per image, ``(B, n_boxes, 4)`` as ``(x0, y0, x1, y1)`` in [0, 1] of the image.

    As in the paper, the last feature map is average-pooled to a small grid (``pool``; the paper's 8 x 8
    kernel turns its 16 x 8 map into 2 x 1), not to one vector, so that where a feature lies survives into
    the head: two linear layers (``hidden`` wide, ReLU)."""

    def __init__(self, backbone: str = "tf_efficientnetv2_b0", n_boxes: int = 21, in_chans: int = 1,
                 pool: tuple[int, int] = (2, 2), hidden: int = 512, pretrained: str = "random", **kwargs):  # fmt: skip
        super().__init__()
        self.n_boxes = n_boxes
        self.coords = CoordChannels()
        self.backbone = timm.create_model(backbone, in_chans=in_chans + 2, num_classes=0, global_pool="", **timm_options(backbone, pretrained), **kwargs)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        width = self.backbone.num_features * pool[0] * pool[1]
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 4 * n_boxes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.backbone.forward_features(self.coords(images)))
        centre_size = torch.sigmoid(self.head(features).reshape(-1, self.n_boxes, 4).float())
        centre, half = centre_size[..., :2], centre_size[..., 2:] / 2
        return torch.cat([centre - half, centre + half], dim=-1)


#: TinyViT's attention windows per stage (timm's ``tiny_vit_*_224``) and each stage's stride from the input
TINYVIT_WINDOWS, TINYVIT_STRIDES = (7, 7, 14, 7), (4, 8, 16, 32)


def tinyvit_windows(input_size: int, windows: tuple[int, ...] = TINYVIT_WINDOWS) -> tuple[int, ...]:
    """TinyViT's windows for ``input_size``-pixel inputs: per stage the largest window up to the paper's that
    tiles the stage's feature map without padding. At 224 px these are the paper's own; at 64 px timm would pad
    the 4 x 4 and 2 x 2 maps of stages 3 and 4 to 14 x 14 and 7 x 7 windows, and about 70 % of the arithmetic
    would be spent on padding. (The first stage is convolutional: its window is never used.)

    Example:
        >>> tinyvit_windows(224), tinyvit_windows(64)
        ((7, 7, 14, 7), (4, 4, 4, 2))
    """
    out = []
    for window, stride in zip(windows, TINYVIT_STRIDES):
        side = max(1, input_size // stride)
        out.append(max(d for d in range(1, min(window, side) + 1) if side % d == 0))
    return tuple(out)


def idx_pool(features: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """The top-left vector of a feature map: ``(B, C, H, W)`` (or ``(B, H, W, C)``) -> ``(B, C)``."""
    return features[:, 0, 0, :] if channels_last else features[:, :, 0, 0]


class IdxPoolScorer(nn.Module):
    """A timm backbone's feature map, idx pooling and RheumaVIT's head (``hidden`` wide, BatchNorm, ReLU). Given
    the ``input_size`` it will see, a TinyViT gets windows that tile its feature maps (:func:`tinyvit_windows`)."""

    def __init__(self, backbone: str = "tiny_vit_5m_224", num_outputs: int = 11, hidden: int = 512, in_chans: int = 1,
                 input_size: int | None = None, pretrained: str = "random", **kwargs):  # fmt: skip
        super().__init__()
        if input_size and backbone.startswith("tiny_vit"):
            kwargs = {"window_sizes": tinyvit_windows(input_size), **kwargs}
        self.backbone = timm.create_model(backbone, in_chans=in_chans, num_classes=0, **timm_options(backbone, pretrained), **kwargs)
        if hasattr(self.backbone, "head"):  # never run (the scorer reads forward_features), yet TinyViT's holds a norm
            self.backbone.head = nn.Identity()
        self.channels_last = getattr(self.backbone, "output_fmt", "NCHW") == "NHWC"  # e.g. Swin
        width = self.backbone.num_features
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, num_outputs))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return idx_pool(self.backbone.forward_features(images), self.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def explainer_target(self) -> ExplainerTarget:
        """The backbone's last stage (timm's ``feature_info``), whose top-left vector idx pooling reads."""
        layer = self.backbone.get_submodule(self.backbone.feature_info[-1]["module"])
        return ExplainerTarget(layer, nhwc_to_nchw if self.channels_last else None)


@register_model("idx_pool_scorer", freezing={"backbone": ("backbone",)}, sample_build={"num_outputs": 11, "input_size": 64},
                pretrained_files=timm_files("backbone", "tiny_vit_5m_224"))  # fmt: skip
def _idx_pool_scorer(num_outputs: int, weights=None, pretrained: str = "random", backbone: str = "tiny_vit_5m_224", **kwargs) -> IdxPoolScorer:
    model = IdxPoolScorer(backbone, num_outputs, pretrained=pretrained, **kwargs)
    if weights is not None:
        load_matching(model, weights, prefixes=("backbone.",), renames={ENCODER_PREFIX: "backbone."})
    return model


@register_model("box_regressor", freezing={"backbone": ("backbone",)}, explained=False, sample_build={"num_outputs": 8},
                pretrained_files=timm_files("backbone", "tf_efficientnetv2_b0"))  # fmt: skip
def _box_regressor(num_outputs: int, weights=None, pretrained: str = "random", backbone: str = "tf_efficientnetv2_b0", **kwargs) -> BoxRegressor:
    if num_outputs % 4:
        raise ValueError(f"a box regressor predicts 4 numbers per box, not {num_outputs} in all")
    if weights is not None:
        raise ValueError("the box regressor starts from its backbone's pretrained weights (pretrained=...), not from a file")
    return BoxRegressor(backbone, num_outputs // 4, pretrained=pretrained, **kwargs)
