"""Hand geometry against real annotated hands: the 13 real landmarks, SynthRA's counterparts, Procrustes
alignment, shape statistics and the two-sample tests on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ralib.realism.two_sample import real_against_real, two_sample_auc


#: the 13 annotated points per hand of the real landmark set, thumb IP first, wrist points last
REAL_POINTS = ("ip_1", "pip_2", "pip_3", "pip_4", "pip_5", "mcp_1", "mcp_2", "mcp_3", "mcp_4", "mcp_5",
               "wrist_radial", "wrist_mid", "wrist_ulnar")  # fmt: skip
#: SynthRA's landmark for each real point. The real ``wrist_mid`` lies on the forearm's axis about a third
#: of the wrist width proximal of the line through the radial and ulnar points; SynthRA has no point there,
#: so it is left out of the comparison rather than matched to a point it is not.
SYNTH_POINTS = {
    "ip_1": "ip1", **{f"pip_{f}": f"pip{f}" for f in (2, 3, 4, 5)}, **{f"mcp_{f}": f"mcp{f}" for f in (1, 2, 3, 4, 5)},
    "wrist_radial": "radial_styloid", "wrist_ulnar": "ulnar_styloid",
}  # fmt: skip
#: the points compared by default (every real point with a SynthRA counterpart) and the fingers alone
COMPARED_POINTS = tuple(p for p in REAL_POINTS if p in SYNTH_POINTS)
FINGER_POINTS = COMPARED_POINTS[:10]


@dataclass
class Shapes:
    """Hands as point sets: ``points`` ``(n, k, 2)`` in image or aligned coordinates, one patient per hand."""

    points: np.ndarray
    patients: np.ndarray
    names: tuple[str, ...]


def real_hand_shapes(path: str | Path, source: str = "ra2dream", names: tuple[str, ...] = COMPARED_POINTS) -> Shapes:
    """The annotated hands of ``real_hand_landmarks.csv`` (adults: ``source="ra2dream"``), as pixel points.

    Example (a path to the shared evidence; not run here):
        >>> real_hand_shapes("../shared/data/real_hand_landmarks.csv").points.shape  # doctest: +SKIP
        (360, 12, 2)
    """
    table = pd.read_csv(path, dtype={"patient_id": str, "image_id": str})
    missing = [f"{n}_{a}" for n in names for a in "xy" if f"{n}_{a}" not in table.columns]
    if missing:
        raise ValueError(f"{path}: no columns {missing[:4]}{'...' if len(missing) > 4 else ''}; "
                         f"expected the real landmark layout ({', '.join(REAL_POINTS)} as <name>_x, <name>_y)")  # fmt: skip
    table = table[table.source == source]
    if table.empty:
        raise ValueError(f"{path}: no hands with source={source!r}")
    points = np.stack([table[[f"{n}_x", f"{n}_y"]].to_numpy(float) for n in names], axis=1)
    return Shapes(points, table.patient_id.to_numpy(), names)


def synthetic_hand_shapes(landmarks: pd.DataFrame, names: tuple[str, ...] = COMPARED_POINTS) -> Shapes:
    """SynthRA's hands (``landmarks.csv`` of a SynthRA folder) at the real set's points, as pixel points.

    Example:
        >>> from ralib import anatomy
        >>> rows = [{"image_id": "a", "hand": "LH", "landmark": n, "x": i, "y": 2 * i}
        ...         for i, n in enumerate(anatomy.LANDMARKS)]
        >>> synthetic_hand_shapes(pd.DataFrame(rows)).points.shape
        (1, 12, 2)
    """
    wide = landmarks.pivot_table(index=["image_id", "hand"], columns="landmark", values=["x", "y"])
    cols = [SYNTH_POINTS[n] for n in names]
    points = np.stack([wide["x"][cols].to_numpy(float), wide["y"][cols].to_numpy(float)], axis=-1)
    return Shapes(points, wide.index.get_level_values("image_id").to_numpy(), names)


def align_shapes(points: np.ndarray, names: tuple[str, ...], reference: np.ndarray | None = None,
                 iterations: int = 5) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Mirror every hand to a left hand (thumb towards +x) and fit it to ``reference`` by a similarity
    transform (a generalised Procrustes fit to the set's own mean when ``reference`` is None).

    Returns the aligned points ``(n, k, 2)`` in units of the reference's MCP2-MCP5 distance and the
    reference itself (unit centroid size), so that a second set can be aligned to the first one's
    reference.

    Example:
        >>> names = ("a", "mcp_1", "mcp_2", "mcp_5")
        >>> hand = np.array([[0.0, 0], [3, 1], [1, 2], [-2, 2]])
        >>> turned = hand @ np.array([[0, -1], [1, 0]]) * 5 + 7
        >>> aligned, ref = align_shapes(np.stack([hand, turned]), names)
        >>> bool(np.allclose(aligned[0], aligned[1]))
        True
    """
    points = np.array(points, dtype=float)
    thumb, little = names.index("mcp_1"), names.index("mcp_5")
    a, b = points[:, names.index("mcp_2")] - points[:, little], points[:, thumb] - points[:, little]
    normal = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    # a left hand on a PA film, y down: going from MCP5 to MCP2 the thumb lies on the far side (cross < 0)
    mirror = normal > 0
    points[mirror, :, 0] *= -1
    centred = points - points.mean(axis=1, keepdims=True)
    centred /= np.linalg.norm(centred, axis=(1, 2), keepdims=True)
    own = reference is None
    ref = centred[0] if own else reference
    for _ in range(iterations if own else 1):
        aligned = np.stack([_fit(shape, ref) for shape in centred])
        if not own:
            break
        ref = aligned.mean(axis=0)
        ref /= np.linalg.norm(ref)
    unit = np.linalg.norm(ref[names.index("mcp_2")] - ref[little])
    return aligned / unit, ref


def _fit(shape: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rotate and scale a centred shape onto a centred reference (least squares, no reflection)."""
    u, _, vt = np.linalg.svd(shape.T @ ref)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    turned = shape @ rot
    return turned * (np.sum(turned * ref) / np.sum(turned * turned))





def geometry_statistics(aligned: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """Shape facts in units of the MCP2-MCP5 distance: wrist width, the breadth of the finger fan, and the
    spread (interquartile range, averaged over x and y) of every point.

    Example:
        >>> names = ("mcp_1", "mcp_2", "mcp_5", "wrist_radial", "wrist_ulnar")
        >>> hand = np.array([[[3.0, 1], [1, 0], [-1, 0], [1, 3], [-1, 3]]] * 2)
        >>> geometry_statistics(hand, names)["wrist width"]
        1.0
    """
    at = {n: aligned[:, i] for i, n in enumerate(names)}
    unit = np.linalg.norm(at["mcp_2"] - at["mcp_5"], axis=1)
    stats = {}
    if "wrist_radial" in at and "wrist_ulnar" in at:
        stats["wrist width"] = float(np.median(np.linalg.norm(at["wrist_radial"] - at["wrist_ulnar"], axis=1) / unit))
    for a, b, label in (("mcp_2", "pip_2", "proximal phalanx 2"), ("mcp_3", "pip_3", "proximal phalanx 3"),
                        ("mcp_5", "pip_5", "proximal phalanx 5"), ("mcp_1", "ip_1", "thumb proximal phalanx"),
                        ("pip_2", "pip_5", "PIP2-PIP5 distance")):  # fmt: skip
        if a in at and b in at:
            stats[label] = float(np.median(np.linalg.norm(at[a] - at[b], axis=1) / unit))
    q75, q25 = np.percentile(aligned, [75, 25], axis=0)
    for i, n in enumerate(names):
        stats[f"IQR {n}"] = float((q75[i] - q25[i]).mean())
    return stats


def geometry_report(synthetic: Shapes, real: Shapes, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two-sample tests on aligned hand shapes (all compared points, fingers alone) and the statistics
    behind them, real against synthetic.

    Returns ``(tests, statistics)``: one row per test (synthetic vs real, and real vs real halves), one
    row per statistic with the real and synthetic values and their ratio.
    """
    tests = []
    finger = [i for i, n in enumerate(real.names) if n in FINGER_POINTS]
    for label, cols in (("landmarks: all compared points", list(range(len(real.names)))), ("landmarks: fingers and thumb", finger)):
        names = tuple(real.names[i] for i in cols)  # each set aligned on its own points
        flat_r, ref = align_shapes(real.points[:, cols], names)
        flat_s, _ = align_shapes(synthetic.points[:, cols], names, reference=ref)
        flat_r, flat_s = flat_r.reshape(len(flat_r), -1), flat_s.reshape(len(flat_s), -1)
        tests.append({"test": label, "against": "real", **two_sample_auc(flat_s, flat_r, synthetic.patients, real.patients, seed=seed).as_row()})
        tests.append({"test": label, "against": "real (other half)", **real_against_real(flat_r, real.patients, seed=seed).as_row()})
    real_aligned, ref = align_shapes(real.points, real.names)
    synth_aligned, _ = align_shapes(synthetic.points, synthetic.names, reference=ref)
    stats_r = geometry_statistics(real_aligned, real.names)
    stats_s = geometry_statistics(synth_aligned, synthetic.names)
    stats = pd.DataFrame({"real": stats_r, "synthetic": stats_s})
    stats["synthetic / real"] = stats.synthetic / stats.real
    return pd.DataFrame(tests), stats.round(3)
