"""RheumaVIT's self-supervised pretraining model: a timm backbone as the encoder of a small U-Net that
restores corrupted images (section 3.4 of the paper; its decoder is not given, so ours is a light one).

The encoder is the same timm model the joint scorer uses (:class:`ralib.models.joint_scorer.IdxPoolScorer`
builds it with the same arguments), so its weights carry over by name (``backbone.*``) into the scorer
(``weights=`` a checkpoint of this model). The decoder is a feature pyramid with skip connections: each of
the encoder's maps (``forward_intermediates``, deepest first) is projected to ``width`` channels, added to
the upsampled coarser map and refined by a 3 x 3 convolution; the finest map is upsampled to the image and
projected to its channels.

Example:
    >>> import torch
    >>> model = DenoisingUNet("resnet18").eval()
    >>> tuple(model(torch.rand(2, 1, 64, 64)).shape)
    (2, 1, 64, 64)
"""

from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import nn

from ralib.models.registry import register_model


class DenoisingUNet(nn.Module):
    """A timm ``backbone`` (as :class:`~ralib.models.joint_scorer.IdxPoolScorer` has it) and a decoder
    restoring an image of ``in_chans`` channels at the input's size."""

    def __init__(self, backbone: str = "tiny_vit_5m_224", in_chans: int = 1, width: int = 32, **kwargs):
        super().__init__()
        self.backbone = timm.create_model(backbone, pretrained=False, in_chans=in_chans, num_classes=0, **kwargs)
        channels = [info["num_chs"] for info in self.backbone.feature_info]
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in channels)
        self.refine = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()) for _ in channels
        )
        self.out = nn.Conv2d(width, in_chans, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.backbone.forward_intermediates(images, intermediates_only=True)
        decoded = None
        for feature, lateral, refine in zip(maps[::-1], self.lateral[::-1], self.refine[::-1]):
            skip = lateral(feature)
            if decoded is not None:
                skip = skip + F.interpolate(decoded, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            decoded = refine(skip)
        return self.out(F.interpolate(decoded, size=images.shape[-2:], mode="bilinear", align_corners=False))


@register_model("denoising_unet")
def _denoising_unet(num_outputs: int = 1, weights=None, backbone: str = "tiny_vit_5m_224", **kwargs) -> DenoisingUNet:
    if weights is not None:
        raise ValueError("the denoising U-Net is the pretraining: it starts from random weights")
    return DenoisingUNet(backbone, in_chans=num_outputs, **kwargs)
