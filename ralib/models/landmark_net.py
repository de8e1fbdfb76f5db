"""The landmark network: a U-Net with a timm encoder that turns a grey film into one heatmap per
landmark (74 on a dual-hand film: 37 for the hand on the image's left, then 37 for the one on its right).

A stand-in for the MIL paper's multiresolution Hybrid Transformer-CNN: a convolutional encoder-decoder
with skip connections, as the heatmap-regression localisers the paper builds on; the multiresolution
idea is kept by running it twice (:mod:`ralib.landmarks.localiser`): on the whole film, then on crops
around each estimate at a finer scale.

Example:
    >>> import torch
    >>> net = create_model("landmark_unet", 74, encoder="resnet18")
    >>> net(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 74, 64, 64])
"""

from __future__ import annotations

from pathlib import Path

import segmentation_models_pytorch as smp
from torch import nn

from ralib.models.pretrained import smp_encoder_options, timm_files
from ralib.models.registry import create_model, register_model  # noqa: F401  (create_model: the example)
from ralib.models.weight_files import read_weights


@register_model("landmark_unet", explained=False, sample_build={"num_outputs": 4}, pretrained_files=timm_files("encoder", "resnet18"))
def landmark_unet(num_outputs: int, weights: str | Path | None = None, pretrained: str = "random", encoder: str = "resnet18",
                  depth: int = 5, decoder_channels: tuple[int, ...] = (64, 32, 16, 16, 16)) -> nn.Module:  # fmt: skip
    """A U-Net (segmentation_models_pytorch) over the timm ``encoder`` with ``num_outputs`` heatmaps at
    the input's resolution; ``depth`` encoder stages (inputs must be a multiple of 2**depth pixels), one
    decoder block of ``decoder_channels`` each; the encoder from the start ``pretrained`` (timm's, through
    smp), or every layer from a local state dict / checkpoint of this repository. The narrow decoder keeps a CPU epoch short: most of the cost is at full resolution."""
    net = smp.Unet(encoder_name=f"tu-{encoder}", encoder_depth=depth, in_channels=1, classes=num_outputs,
                   decoder_channels=tuple(decoder_channels)[:depth], **smp_encoder_options(encoder, pretrained))  # fmt: skip
    if weights is not None:
        state = read_weights(weights)
        net.load_state_dict(state.get("state_dict", state))
    return net
