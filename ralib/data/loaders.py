"""Torch adapters: image arrays and targets as datasets, with the papers' augmentations.

Example:
    >>> import numpy as np
    >>> data = ImageDataset(np.zeros((4, 32, 32), np.float16), np.arange(4.0), augment="miua2024")
    >>> image, target = data[1]
    >>> tuple(image.shape), float(target)
    ((1, 32, 32), 1.0)
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2


class RandomRot90(torch.nn.Module):
    """Rotate by a random multiple of 90 degrees (MIUA 2024: keeps every assessed structure in view)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.rot90(image, int(torch.randint(4, ())), dims=(-2, -1))


class RandomIntensity(torch.nn.Module):
    """Multiply intensities by a random factor in ``[low, high]``."""

    def __init__(self, low: float = 0.9, high: float = 1.1):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image * (self.low + (self.high - self.low) * torch.rand(()))


#: Training augmentations by paper; validation and test images are never augmented.
AUGMENTATIONS = {
    "none": lambda: v2.Identity(),
    # MIUA 2024, section 2.2: horizontal flip, intensity x 0.9-1.1, rotation by 0/90/180/270 degrees
    "miua2024": lambda: v2.Compose([v2.RandomHorizontalFlip(), RandomIntensity(0.9, 1.1), RandomRot90()]),
    # 2024 diagnosis paper: random rotation, translation, horizontal and vertical flips
    "diagnosis2024": lambda: v2.Compose([v2.RandomAffine(degrees=15, translate=(0.08, 0.08)),
                                         v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]),  # fmt: skip
}


class BalancedDataset(Dataset):
    """Every class equally often: an epoch of ``n_classes x`` (the smallest class's size) items, item i of
    class ``i % n_classes`` drawn at random (torch's generator, so seeded) from that class of ``dataset``;
    each epoch draws afresh, so the larger classes are sampled, not cut.

    Example:
        >>> data = BalancedDataset(torch.utils.data.TensorDataset(torch.arange(5.0)), np.array([0, 0, 0, 0, 1]))
        >>> len(data), float(data[1][0])
        (2, 4.0)
    """

    def __init__(self, dataset: Dataset, labels: np.ndarray):
        labels = np.asarray(labels)
        self.dataset = dataset
        self.members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        if len(self.members) < 2:
            raise ValueError("balancing needs at least two classes")
        self.per_class = min(len(m) for m in self.members)

    def __len__(self) -> int:
        return self.per_class * len(self.members)

    def __getitem__(self, i: int):
        members = self.members[i % len(self.members)]
        return self.dataset[int(members[int(torch.randint(len(members), ()))])]


class ImageDataset(Dataset):
    """Grey images in 0-1 ``(n, h, w)`` with one target each, standardised by ``mean`` and ``sd``.

    The paper standardises with the training set's intensity statistics; pass the same ``mean`` and
    ``sd`` to the validation and test sets.
    """

    def __init__(self, images: np.ndarray, targets: np.ndarray, augment: str = "none", mean: float = 0.5, sd: float = 0.25):
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        if augment not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {augment!r}; choose one of {', '.join(AUGMENTATIONS)}")
        self.images, self.targets = images, np.asarray(targets)
        self.transform = AUGMENTATIONS[augment]()
        self.mean, self.sd = float(mean), float(sd)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.from_numpy(np.asarray(self.images[i], np.float32))[None]
        image = (self.transform(image) - self.mean) / self.sd
        return image, torch.as_tensor(self.targets[i])


def centre_box(n: int, growth: float, grow: float) -> tuple[int, int]:
    """Where :func:`grown_centre` cuts: the first pixel and the side of the middle of an ``n``-pixel crop.

    Example:
        >>> centre_box(128, 2.5, 4.0)
        (24, 80)
    """
    if not 0 < growth <= grow:
        raise ValueError(f"growth {growth} outside (0, {grow}]")
    side = max(1, int(round(n * growth / grow)))
    return (n - side) // 2, side


def grown_centre(crop: np.ndarray, growth: float, grow: float, size: int) -> np.ndarray:
    """The middle of a crop cut ``grow`` times its box, ``growth`` times the box (1 to ``grow``), resized
    to ``size`` pixels.

    Example:
        >>> crop = np.zeros((8, 8), np.float32); crop[2:6, 2:6] = 1
        >>> grown_centre(crop, 2.0, 4.0, 4).tolist()[0]
        [1.0, 1.0, 1.0, 1.0]
    """
    start, side = centre_box(crop.shape[-1], growth, grow)
    middle = np.asarray(crop[start : start + side, start : start + side], np.float32)
    return cv2.resize(middle, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
