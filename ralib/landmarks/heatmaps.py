"""Landmarks as heatmaps and back: a Gaussian per landmark as the target, and a sub-pixel decoder.

Encoding draws an isotropic Gaussian of peak 1 at each landmark (kornia's ``render_gaussian2d``); a
missing landmark (NaN) gets an empty map, so a hand that is not on the film has flat heatmaps. Decoding
takes each map's peak and refines it by a local fit of a Gaussian to the peak and its neighbours
(sub-pixel, and not pulled by a second blob elsewhere on the map as a global soft-argmax is). The peak's height is the landmark's confidence; its mean over a hand's 37 maps is the
hand's presence score.

Example:
    >>> import torch
    >>> maps = encode(torch.tensor([[[10.3, 7.6], [float("nan"), 0.0]]]), (20, 24), sigma=1.5)
    >>> maps.shape, float(maps[0, 1].max())
    (torch.Size([1, 2, 20, 24]), 0.0)
    >>> xy, peak = decode(maps)
    >>> [round(v, 2) for v in xy[0, 0].tolist()], round(float(peak[0, 0]), 2)
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


def decode(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel positions ``(n, k, 2)`` (x, y) and peak heights ``(n, k)`` of heatmaps ``(n, k, h, w)``:
    the arg-max refined by a parabola through the logarithm of the peak and its two neighbours in x and
    in y (exact for a Gaussian, within half a pixel of the arg-max by construction)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * k, h * w)
    peak, index = flat.max(-1)
    py, px = index // w, index % w

    def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        inside = (0 <= y) & (y < h) & (0 <= x) & (x < w)
        value = flat.gather(1, (y.clamp(0, h - 1) * w + x.clamp(0, w - 1))[:, None])[:, 0]
        return torch.log(torch.where(inside, value, value.new_zeros(())).clamp_min(1e-6))

    def offset(before: torch.Tensor, centre: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        curvature = before - 2 * centre + after
        step = 0.5 * (before - after) / torch.where(curvature < 0, curvature, -torch.ones_like(curvature))
        return torch.where(curvature < 0, step, torch.zeros_like(step)).clamp(-0.5, 0.5)

    centre = at(py, px)
    x = px + offset(at(py, px - 1), centre, at(py, px + 1))
    y = py + offset(at(py - 1, px), centre, at(py + 1, px))
    return torch.stack([x, y], -1).reshape(n, k, 2), peak.reshape(n, k)
