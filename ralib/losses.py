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
