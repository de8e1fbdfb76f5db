"""RheumaVIT's self-supervised pretraining model: the scorer's timm backbone as the encoder of a U-Net that
restores corrupted images (section 3.4 of the paper), built by segmentation_models_pytorch (``tu-`` encoders
are timm's ``features_only`` models).

The encoder is the timm model the joint scorer uses (:class:`ralib.models.joint_scorer.IdxPoolScorer`), so
its weights carry over by name into the scorer: ``encoder.model.*`` here is ``backbone.*`` there
(``weights=`` a checkpoint of this model; :data:`ENCODER_PREFIX`). The decoder is lighter than smp's default
(:data:`DECODER_CHANNELS`), for a CPU.

Example:
    >>> import torch
    >>> model = denoising_unet(1, backbone="resnet18").eval()
    >>> tuple(model(torch.rand(2, 1, 64, 64)).shape)
    (2, 1, 64, 64)
"""

from __future__ import annotations

import segmentation_models_pytorch as smp
from torch import nn

from ralib.models.pretrained import smp_encoder_options, timm_files
from ralib.models.registry import register_model

#: where smp keeps a ``tu-`` encoder's timm model: its weights' names start with this
ENCODER_PREFIX = "encoder.model."

#: the decoder's widths, deepest first (smp's default: 256, 128, 64, 32, 16)
DECODER_CHANNELS = (128, 64, 32, 16, 16)


@register_model("denoising_unet", explained=False, sample_build={"num_outputs": 1}, pretrained_files=timm_files("backbone", "tiny_vit_5m_224"))
def denoising_unet(num_outputs: int = 1, weights=None, pretrained: str = "random", backbone: str = "tiny_vit_5m_224", **kwargs) -> nn.Module:
    """A U-Net (smp) around the timm ``backbone`` (from the start ``pretrained``), restoring ``num_outputs``
    channels from as many."""
    if weights is not None:
        raise ValueError("the denoising U-Net is the pretraining: its encoder starts from pretrained=..., not from a file")
    return smp.Unet(f"tu-{backbone}", in_channels=num_outputs, classes=num_outputs, decoder_channels=DECODER_CHANNELS,
                    **smp_encoder_options(backbone, pretrained), **kwargs)  # fmt: skip
