"""A heatmap on the original film's pixel grid, whatever the model saw.

Models see letterboxed films, hands, tiles, joint crops turned to a standard pose, detected regions; each
input has a :class:`~ralib.geometry.Placement` (input pixel to film pixel). :func:`on_film` pastes the maps
over a film's inputs back onto the film: each input's map is scaled to carry its ``weight`` in all (its
share of the film's heat: the attention of a MIL instance, the damage a joint scorer predicts for a crop),
and maps of overlapping inputs add up. A :class:`Heatmap` is what every explainer returns and every plot
and measure takes.

Example:
    >>> from ralib.geometry import Placement
    >>> tiles = [Placement.box(0, 0, 10, 10, 5), Placement.box(10, 0, 20, 10, 5)]
    >>> heat = on_film([np.ones((5, 5)), np.ones((5, 5))], tiles, (10, 20), weights=[3, 1])
    >>> round(float(heat.values[:, :10].sum()), 3), round(float(heat.values[:, 10:].sum()), 3), bool(heat.covered.all())
    (0.75, 0.25, True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ralib.geometry import Placement


@dataclass
class Heatmap:
    """``values`` (H, W) >= 0 on the film's grid, summing to one where any heat is (zero where the model
    looked at nothing), ``covered`` where the model's inputs lay, and what made it."""

    values: np.ndarray
    covered: np.ndarray
    method: str = ""
    model: str = ""
    seconds: float = 0.0  # time to compute it on this machine

    def __post_init__(self):
        if self.values.shape != self.covered.shape:
            raise ValueError(f"values {self.values.shape} and covered {self.covered.shape} differ")

    def named(self, method: str, model: str, seconds: float) -> "Heatmap":
        return replace(self, method=method, model=model, seconds=seconds)


def on_film(maps: Sequence[np.ndarray], placements: Sequence[Placement], film_shape: tuple[int, int],
            weights: Sequence[float] | None = None) -> Heatmap:  # fmt: skip
    """Maps over a film's inputs (each ``(h, w)``, >= 0) pasted at their ``placements`` on a film of
    ``film_shape``; each carries ``weights[i]`` of the total (equal shares if None), the whole sums to one."""
    if len(maps) != len(placements):
        raise ValueError(f"{len(maps)} maps for {len(placements)} placements")
    weights = np.ones(len(maps)) if weights is None else np.asarray(weights, float)
    if (weights < 0).any() or len(weights) != len(maps):
        raise ValueError("one non-negative weight per map")
    values = np.zeros(film_shape, np.float64)
    covered = np.zeros(film_shape, bool)
    for m, p, w in zip(maps, placements, weights):
        pasted, inside = p.paste(np.clip(np.asarray(m, np.float32), 0, None), film_shape)
        covered |= inside
        total = pasted.sum()
        if total > 0 and w > 0:
            values += w * pasted / total
    total = values.sum()
    return Heatmap((values / total if total > 0 else values).astype(np.float32), covered)
