"""Is a located hand a hand? Checks of one hand's 37 landmarks against the geometry of real hands, so that a
localiser's confident answer on a film turned sideways, or on something that is no hand, is flagged.

Every measure is scale-free, in units of the hand's axis (from the middle of the wrist, between the radial and
ulnar styloids, to the third MCP): the axis's tilt from the film's vertical (hand films are taken fingers up), how
far each PIP lies beyond its MCP along the axis, where the MCPs lie on it, the MCP span, the wrist's width and the
third proximal phalanx's length. The bounds lie well outside what 360 real annotated adult hands and 1,200
SynthRA hands show (docs/localisation.md): real tilts -27 to 19 degrees, PIP beyond MCP 0.10-0.74, MCP span
0.72-1.12, wrist width 0.55-0.85 axis lengths.

Example:
    >>> hand = anatomy.template_landmarks("LH")  # the schematic left hand, fingers up
    >>> implausible(hand)
    []
    >>> implausible(hand @ np.array([[0.0, -1.0], [1.0, 0.0]]))  # the film turned by 90 degrees
    ['the hand lies 91 degrees from the vertical (at most 45)']
"""

from __future__ import annotations

import numpy as np

from ralib import anatomy

#: (low, high) of each measure, in axis lengths (tilt in degrees)
BOUNDS = {
    "tilt": (-45.0, 45.0),
    "pip beyond mcp": (0.05, 1.2),
    "mcp along the axis": (0.4, 1.4),
    "mcp span": (0.4, 1.5),
    "wrist width": (0.3, 1.3),
    "proximal phalanx": (0.3, 1.1),
}

_I = {name: i for i, name in enumerate(anatomy.LANDMARKS)}


def hand_measures(hand: np.ndarray) -> dict[str, np.ndarray | float]:
    """The measures :data:`BOUNDS` bounds, of one hand's landmarks ``(37, 2)`` in film pixels (y down)."""
    wrist = (hand[_I["radial_styloid"]] + hand[_I["ulnar_styloid"]]) / 2
    axis = hand[_I["mcp3"]] - wrist
    length = float(np.linalg.norm(axis))
    if not length:
        return {"tilt": np.nan}
    unit = axis / length

    def along(name: str) -> float:
        return float((hand[_I[name]] - wrist) @ unit / length)

    fingers = (2, 3, 4, 5)
    return {
        "tilt": float(np.degrees(np.arctan2(unit[0], -unit[1]))),
        "pip beyond mcp": np.array([along(f"pip{f}") - along(f"mcp{f}") for f in fingers]),
        "mcp along the axis": np.array([along(f"mcp{f}") for f in fingers]),
        "mcp span": float(np.linalg.norm(hand[_I["mcp2"]] - hand[_I["mcp5"]]) / length),
        "wrist width": float(np.linalg.norm(hand[_I["radial_styloid"]] - hand[_I["ulnar_styloid"]]) / length),
        "proximal phalanx": float(np.linalg.norm(hand[_I["pip3"]] - hand[_I["mcp3"]]) / length),
    }


def implausible(hand: np.ndarray) -> list[str]:
    """Why one hand's landmarks ``(37, 2)`` are not a hand's (empty: plausible); NaN landmarks (no hand) are none."""
    if not np.isfinite(hand).all():
        return []
    measures = hand_measures(hand)
    if not np.isfinite(measures["tilt"]):
        return ["the wrist and the third MCP coincide"]
    reasons = []
    for name, (low, high) in BOUNDS.items():
        values = np.atleast_1d(measures[name])
        if name == "tilt" and not low <= values[0] <= high:
            reasons.append(f"the hand lies {abs(values[0]):.0f} degrees from the vertical (at most {high:.0f})")
        elif name != "tilt" and not ((values >= low) & (values <= high)).all():
            worst = values[np.argmax(np.maximum(low - values, values - high))]
            reasons.append(f"{name} {worst:.2f} axis lengths (real hands: {low}-{high})")
    return reasons

