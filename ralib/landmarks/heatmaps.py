"""Landmarks as heatmaps and back: a Gaussian per landmark as the target, and a sub-pixel decoder.

Encoding draws an isotropic Gaussian of peak 1 at each landmark (kornia's ``render_gaussian2d``); a
missing landmark (NaN) gets an empty map. The localiser's maps are logits: each channel, with one extra
"absent" logit, is a distribution over the pixels and absence, trained by cross-entropy against the
normalised Gaussian (:func:`cross_entropy`). Decoding takes each map's arg-max and refines it by a local
fit of a parabola to the log-density around it (sub-pixel, and not pulled by a second blob elsewhere on
the map as a global soft-argmax is); the absence logit's share gives each landmark's probability of being
on the film, whose mean over a hand's 37 channels is the hand's presence score.

Example:
    >>> import torch
    >>> maps = encode(torch.tensor([[[10.3, 7.6], [float("nan"), 0.0]]]), (20, 24), sigma=1.5)
    >>> maps.shape, float(maps[0, 1].max())
    (torch.Size([1, 2, 20, 24]), 0.0)
    >>> xy, present = decode_logits(torch.log(maps + 1e-9) + 25)
    >>> [round(v, 2) for v in xy[0, 0].tolist()], round(float(present[0, 0]), 2)
    ([10.3, 7.6], 1.0)
"""

from __future__ import annotations

import torch
from kornia.geometry.subpix import render_gaussian2d


def encode(points: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """Gaussian heatmaps ``(n, k, h, w)`` of peak 1 for points ``(n, k, 2)`` (x, y in heatmap pixels,
    NaN where a landmark is absent)."""
    n, k, _ = points.shape
    h, w = size
    present = torch.isfinite(points).all(-1)
    mean = torch.where(present[..., None], points, torch.zeros_like(points)).float()
    std = torch.full_like(mean, float(sigma))
    maps = render_gaussian2d(mean.reshape(n * k, 2), std.reshape(n * k, 2), (h, w), normalized_coordinates=False)
    maps = maps.reshape(n, k, h, w)
    maps = maps / maps.amax((-2, -1), keepdim=True).clamp_min(1e-12)  # peak 1 (render_gaussian2d sums to 1)
    return maps * present[..., None, None]


def _refine(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Arg-max of each map of log-densities (n, h, w) refined by a parabola through the peak and its two
    neighbours in x and in y (exact for a Gaussian; within half a pixel of the arg-max); returns x, y."""
    n, h, w = logits.shape
    flat = logits.reshape(n, h * w)
    index = flat.argmax(-1)
    py, px = index // w, index % w

    def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        inside = (0 <= y) & (y < h) & (0 <= x) & (x < w)
        value = flat.gather(1, (y.clamp(0, h - 1) * w + x.clamp(0, w - 1))[:, None])[:, 0]
        return torch.where(inside, value, value - 1e3)  # beyond the border: far below the peak

    def offset(before: torch.Tensor, centre: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        curvature = before - 2 * centre + after
        step = 0.5 * (before - after) / torch.where(curvature < 0, curvature, -torch.ones_like(curvature))
        return torch.where(curvature < 0, step, torch.zeros_like(step)).clamp(-0.5, 0.5)

    centre = at(py, px)
    return px + offset(at(py, px - 1), centre, at(py, px + 1)), py + offset(at(py - 1, px), centre, at(py + 1, px))


def cross_entropy(logits: torch.Tensor, points: torch.Tensor, sigma: float) -> torch.Tensor:
    """The heatmap loss: each channel's map of logits, with one extra "not on this film" logit fixed at 0,
    is a distribution over the pixels and absence; its target is the Gaussian at the landmark
    (normalised), or absence for a missing landmark (NaN, or outside the map). Mean cross-entropy over
    channels.

    Unlike a mean squared error on the maps, which a net can bring near its floor by predicting empty maps
    (74 small blobs on a large square), every channel here must put its mass somewhere.

    Example:
        >>> pts = torch.tensor([[[5.0, 6.0], [float("nan"), 0.0]]])
        >>> good = torch.log(encode(pts, (12, 12), 1.0) + 1e-6)   # the target's own log-density; absent: -14
        >>> bool(cross_entropy(good, pts, 1.0) < cross_entropy(torch.zeros(1, 2, 12, 12), pts, 1.0))
        True
    """
    n, k, h, w = logits.shape
    inside = (points[..., 0] >= -0.5) & (points[..., 0] <= w - 0.5) & (points[..., 1] >= -0.5) & (points[..., 1] <= h - 0.5)
    points = torch.where(inside[..., None], points, torch.full_like(points, float("nan")))  # off the map: absent
    mass = encode(points, (h, w), sigma).reshape(n, k, h * w)
    total = mass.sum(-1, keepdim=True)
    present = total > 0
    target = torch.cat([torch.where(present, mass / total.clamp_min(1e-12), mass), (~present).float()], -1)
    flat = torch.cat([logits.reshape(n, k, h * w), logits.new_zeros(n, k, 1)], -1)
    return -(target * torch.log_softmax(flat.float(), -1)).sum(-1).mean()


def decode_logits(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel positions ``(n, k, 2)`` of maps trained with :func:`cross_entropy` (a parabola fitted to
    the logits, the log-density, around their arg-max) and each landmark's probability of being on the
    film ``(n, k)`` (one minus the absence logit's share).

    Example:
        >>> pts = torch.tensor([[[7.3, 4.6]]])
        >>> xy, present = decode_logits(torch.log(encode(pts, (16, 16), 1.5) + 1e-9) + 30)
        >>> [round(v, 2) for v in xy[0, 0].tolist()], round(float(present[0, 0]), 3)
        ([7.3, 4.6], 1.0)
    """
    n, k, h, w = logits.shape
    x, y = _refine(logits.reshape(n * k, h, w).float())
    flat = torch.cat([logits.reshape(n, k, h * w).float(), logits.new_zeros(n, k, 1).float()], -1)
    present = 1 - torch.softmax(flat, -1)[..., -1]
    return torch.stack([x, y], -1).reshape(n, k, 2), present
