"""DeepRA's detector (Chaturvedi 2021): a torchvision RetinaNet finding a hand's thumb, four fingers and
wrist, on grey images, from random weights or, as the paper, pretrained ones (``pretrained``: torchvision's
COCO RetinaNet for a ResNet-50, its ImageNet ResNet for another; :mod:`ralib.models.pretrained`).

:class:`RegionDetector` wraps ``torchvision.models.detection.RetinaNet`` with a ResNet feature pyramid
(``resnet18`` on a CPU, ``resnet50`` as the paper) so that it trains in the house's loop: called with images
and their boxes it returns the detection loss (focal classification + box regression, torchvision's) in
training *and* evaluation mode, so that validation epochs have a loss too; :meth:`RegionDetector.detect`
returns torchvision's detections. Anchors follow the regions' shapes: fingers are three to four times
taller than wide (aspect ratios are height / width).

Example:
    >>> import torch
    >>> model = RegionDetector(n_classes=6, image_size=128).eval()
    >>> boxes = torch.tensor([[[10.0, 10.0, 40.0, 100.0]] * 6])
    >>> bool(model(torch.rand(1, 1, 128, 128), boxes) > 0), sorted(model.detect(torch.rand(1, 1, 128, 128))[0])
    (True, ['boxes', 'labels', 'scores'])
"""

from __future__ import annotations

from functools import partial

import torch
import torchvision
from torch import nn
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from ralib.models.backbones import load_matching
from ralib.models.pretrained import PretrainedFile, grey_state, torchvision_file, torchvision_state
from ralib.models.registry import register_model


class RegionDetector(nn.Module):
    """A RetinaNet for ``n_classes`` region classes (labels 1..n) on ``image_size`` grey images.

    ``boxes`` given to :meth:`forward` are ``(B, n_classes, 4)`` in pixels, box ``k`` of class ``k + 1``
    (one region of each class per image), NaN where a region is not annotated. Detections down to a score of
    ``score_thresh`` are kept (torchvision's 0.05 would leave an early model with none, and AP needs the
    low-scoring ones too)."""

    def __init__(self, n_classes: int = 6, image_size: int = 256, backbone: str = "resnet18", pixel_mean: float = 0.5,
                 pixel_sd: float = 0.25, detections_per_img: int = 60, score_thresh: float = 0.001, fpn_channels: int = 256,
                 pretrained: str = "random"):  # fmt: skip
        super().__init__()
        self.n_classes = n_classes
        resnet = getattr(torchvision.models, backbone)(weights=None)
        resnet.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)  # grey films
        widths = [resnet.layer2[-1].conv1.in_channels * k for k in (1, 2, 4)]  # C3-C5 (ResNet-18: 128, 256, 512)
        fpn = BackboneWithFPN(resnet, {"layer2": "0", "layer3": "1", "layer4": "2"}, widths, fpn_channels,
                              extra_blocks=LastLevelP6P7(fpn_channels, fpn_channels))  # fmt: skip
        smallest = max(8, image_size // 16)  # P3 anchors a sixteenth of the image, doubling per level
        sizes = tuple((s, int(s * 1.26), int(s * 1.59)) for s in (smallest * 2**k for k in range(5)))
        anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0, 3.5),) * 5)
        # group norm in the head (torchvision's RetinaNet v2): steadier from random weights than v1's plain convolutions
        head = RetinaNetHead(fpn_channels, anchors.num_anchors_per_location()[0], n_classes + 1, norm_layer=partial(nn.GroupNorm, 32))
        self.net = RetinaNet(fpn, n_classes + 1, min_size=image_size, max_size=image_size, image_mean=[pixel_mean],
                             image_std=[pixel_sd], anchor_generator=anchors, head=head, detections_per_img=detections_per_img,
                             score_thresh=score_thresh)  # fmt: skip
        if pretrained != "random":  # the layers whose names and shapes match: the classes and anchors differ
            file = detector_file(backbone)
            first = "backbone.body.conv1.weight" if file.dataset == "COCO" else "conv1.weight"
            load_matching(self.net, grey_state(torchvision_state(file, pretrained), first), prefixes=("backbone.body.",))

    @staticmethod
    def targets(boxes: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """``(B, k, 4)`` pixel boxes (NaN: absent) as torchvision's per-image targets, labels 1..k."""
        out = []
        for image_boxes in boxes:
            known = torch.isfinite(image_boxes).all(-1)
            labels = torch.arange(1, len(image_boxes) + 1, device=boxes.device)[known]
            out.append({"boxes": image_boxes[known].float(), "labels": labels})
        return out

    def forward(self, images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """The detection loss of ``images`` against ``boxes``: classification + box regression."""
        net = self.net
        transformed, targets = net.transform(list(images), self.targets(boxes))
        features = list(net.backbone(transformed.tensors).values())
        head_outputs = net.head(features)
        anchors = net.anchor_generator(transformed, features)
        losses = net.compute_loss(targets, head_outputs, anchors)
        return sum(losses.values())

    @torch.no_grad()
    def detect(self, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """torchvision's detections per image: ``boxes`` (pixels), ``scores``, ``labels`` (1..n_classes)."""
        was_training = self.net.training
        self.net.eval()
        try:
            return self.net(list(images))
        finally:
            self.net.train(was_training)


def detector_file(backbone: str = "resnet18") -> PretrainedFile:
    """The pretrained start of a detector on ``backbone``: torchvision's COCO RetinaNet (v2, whose head has group
    norm as ours) for ``resnet50``, the paper's; the ImageNet ResNet otherwise.

    Example:
        >>> detector_file("resnet50").dataset, detector_file("resnet18").dataset
        ('COCO', 'ImageNet')
    """
    return torchvision_file("retinanet_resnet50_fpn_v2") if backbone == "resnet50" else torchvision_file(backbone)


def _hands_with_regions(batch: int = 2, size: int = 64, regions: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Random grey hands and one pixel box per region class, the last image's last region not annotated."""
    corner = torch.rand(batch, regions, 2) * size / 2
    boxes = torch.cat([corner, corner + size / 4], dim=-1)
    boxes[-1, -1] = float("nan")
    return torch.rand(batch, 1, size, size), boxes


@register_model("region_detector", explained=False, sample_build={"num_outputs": 6, "image_size": 64, "fpn_channels": 32},
                sample_inputs=_hands_with_regions, pretrained_files=lambda backbone="resnet18", **options: (detector_file(backbone),))  # fmt: skip
def _region_detector(num_outputs: int, weights=None, pretrained: str = "random", **kwargs) -> RegionDetector:
    if weights is not None:
        raise ValueError("the region detector starts from pretrained=... (COCO or ImageNet), not from a file")
    return RegionDetector(n_classes=num_outputs, pretrained=pretrained, **kwargs)
