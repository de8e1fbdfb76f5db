"""Loss functions the papers define that torch lacks.

Example:
    >>> import torch
    >>> round(float(smooth_loss(torch.tensor([0.0, 0.0]), torch.tensor([0.5, 2.0]))), 4)  # sqrt((0.6*0.25 + 2)/2)
    1.0368
"""

from __future__ import annotations

import torch
from torch import nn


def smooth_loss(pred: torch.Tensor, target: torch.Tensor, a: float = 0.6, b: float = 0.0, c: float = 1.0) -> torch.Tensor:
    """The "smooth loss" of Wang et al., used in the MIUA 2024 paper (its eqs. 1-2).

    ``sqrt(mean(smooth(target - pred)))`` with ``smooth(x) = a x**2`` where ``|x| < c``, else ``|x| - b``.
    The defaults are the paper's (a=0.6, b=0, c=1). Note that with these values the two pieces do not
    meet at ``|x| = c`` (0.6 against 1): the loss is the paper's, discontinuity included.
    """
    x = (target - pred.reshape(target.shape)).float()
    piecewise = torch.where(x.abs() < c, a * x**2, x.abs() - b)
    return torch.sqrt(piecewise.mean() + 1e-12)


class SmoothLoss(nn.Module):
    """:func:`smooth_loss` as a module for a training loop."""

    def __init__(self, a: float = 0.6, b: float = 0.0, c: float = 1.0):
        super().__init__()
        self.a, self.b, self.c = a, b, c

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return smooth_loss(pred, target, self.a, self.b, self.c)


class RegressionMSE(nn.Module):
    """Mean squared error between a ``(n, 1)`` output and a ``(n,)`` target."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(pred.reshape(target.shape).float(), target.float())


class MaskedMSE(nn.Module):
    """Mean squared error over the known entries of a ``(n, k)`` target (NaN: nothing to learn there, e.g.
    the thumb's IP joint, whose narrowing SvdH does not score).

    Example:
        >>> float(MaskedMSE()(torch.tensor([[1.0, 5.0]]), torch.tensor([[0.0, float("nan")]])))
        1.0
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        known = torch.isfinite(target)
        if not known.any():
            return pred.sum() * 0.0  # a batch with nothing scored: no gradient, no NaN
        return nn.functional.mse_loss(pred[known].float(), target[known].float())


def neighbour_smoothed(grades: torch.Tensor, n_classes: int, p: float = 0.4) -> torch.Tensor:
    """RheumaVIT's soft targets: ``p / 2`` on each neighbouring grade and the rest on the true one
    (``1 - p`` between two neighbours, ``1 - p / 2`` at either end of the scale); rows ``(n, n_classes)``.

    Example:
        >>> neighbour_smoothed(torch.tensor([0, 2]), 4).tolist()
        [[0.800000011920929, 0.20000000298023224, 0.0, 0.0], [0.0, 0.20000000298023224, 0.6000000238418579, 0.20000000298023224]]
    """
    grades = grades.long().reshape(-1)
    if grades.numel() and (grades.min() < 0 or grades.max() >= n_classes):
        raise ValueError(f"grades must lie in 0-{n_classes - 1}")
    eye = torch.eye(n_classes)
    below = torch.cat([torch.zeros(1, n_classes), eye[:-1]])  # row g: the grade below g, none for 0
    above = torch.cat([eye[1:], torch.zeros(1, n_classes)])
    neighbours = (below + above)[grades] * (p / 2)
    return neighbours + eye[grades] * (1 - neighbours.sum(1, keepdim=True))


def soft_focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0, alpha: float = 1.0) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) on soft targets, per row: ``-sum_c alpha (1 - q_c)^gamma t_c log q_c`` with
    ``q = softmax(logits)``; RheumaVIT's eq. 3 with the standard ``gamma = 2``. Returns ``(n,)``."""
    log_q = torch.log_softmax(logits.float(), dim=1)
    return -(alpha * (1 - log_q.exp()) ** gamma * targets * log_q).sum(1)


class JointGradeLoss(nn.Module):
    """Focal loss on neighbour-smoothed targets for one model scoring several grades per joint, e.g. 6
    erosion and 5 JSN logits: ``heads`` gives each grade's number of classes, in the logits' order, and
    ``targets`` ``(n, len(heads))`` the grades, -1 where the joint has no such site (left out of that head's
    mean). The heads' means are summed.

    Example:
        >>> loss = JointGradeLoss((6, 5))
        >>> logits = torch.zeros(2, 11)
        >>> float(loss(logits, torch.tensor([[1, -1], [-1, -1]]))) > 0, float(loss(logits, torch.full((2, 2), -1)))
        (True, 0.0)
    """

    def __init__(self, heads: tuple[int, ...] = (6, 5), p: float = 0.4, gamma: float = 2.0):
        super().__init__()
        self.heads, self.p, self.gamma = tuple(heads), p, gamma

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if logits.shape[1] != sum(self.heads) or targets.shape[1] != len(self.heads):
            raise ValueError(f"{logits.shape[1]} logits and {targets.shape[1]} targets for heads {self.heads}")
        total, start = logits.sum() * 0.0, 0  # zero, yet part of the graph when no joint has a site
        for k, n_classes in enumerate(self.heads):
            scored = targets[:, k] >= 0
            if scored.any():
                soft = neighbour_smoothed(targets[scored, k], n_classes, self.p).to(logits.device)
                total = total + soft_focal_loss(logits[scored, start : start + n_classes], soft, self.gamma).mean()
            start += n_classes
        return total
