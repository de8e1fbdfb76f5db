"""Fit the synthetic hands' finger-joint shape model to real annotated hands.

Writes ``ralib/synth/hand_shape_params.csv`` (committed): a multivariate Student-t distribution (centre,
scale matrix, degrees of freedom) of the ten finger and thumb joints (thumb IP, PIP 2-5, MCP 1-5) of adult
RA hands, in the skeleton's template frame. Real hands are heavier-tailed than a Gaussian (a few flexed or
drifting fingers widen the covariance while most hands sit close together): a Gaussian with their
covariance is 10-30 % too spread in the middle; the t's degrees of freedom are chosen by likelihood. Run it
from the checkout with ``../shared`` beside it:

    .venv/bin/python scripts/calibrate_hand_shape.py ../shared/data/real_hand_landmarks.csv

The frame is the one :data:`ralib.anatomy.TEMPLATE_LEFT_HAND_MM` was built in: every hand mirrored to a
left hand, the origin at the annotated mid-wrist point, MCP3 straight above it (-y), millimetres at a
50 mm distance between the annotated radial and ulnar wrist points (the real films carry no spacing;
a patient's size is applied on top, as ``Pose.scale``); MCP3's x is 0 by construction and is left out
of the fit. The real data stay outside the repository; only the 20 centres, the 20 x 20 scale matrix and
the degrees of freedom go in.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ralib.synth.hand_shape import FINGER_JOINTS, PARAMS_PATH  # noqa: E402

REAL_NAME = {"ip1": "ip_1", **{f"pip{f}": f"pip_{f}" for f in (2, 3, 4, 5)}, **{f"mcp{f}": f"mcp_{f}" for f in (1, 2, 3, 4, 5)}}
WRIST_WIDTH_MM = 50.0


def template_frame(table: pd.DataFrame) -> np.ndarray:
    """The ten finger joints of every hand, ``(n, 10, 2)``, in the template frame (see the module docstring)."""
    def xy(name):
        return table[[f"{name}_x", f"{name}_y"]].to_numpy(float)

    joints = np.stack([xy(REAL_NAME[j]) for j in FINGER_JOINTS], axis=1)
    radial, mid, ulnar = xy("wrist_radial"), xy("wrist_mid"), xy("wrist_ulnar")
    # mirror right hands (and flipped left hands) to a left hand: thumb towards +x once MCP3 points up
    mirror = joints[:, FINGER_JOINTS.index("mcp1"), 0] < joints[:, FINGER_JOINTS.index("mcp5"), 0]
    for a in (joints[..., 0], radial[:, 0], mid[:, 0], ulnar[:, 0]):
        a[mirror] *= -1
    up = joints[:, FINGER_JOINTS.index("mcp3")] - mid
    angle = np.arctan2(up[:, 0], -up[:, 1])  # rotate by -angle to bring MCP3 straight up
    c, s = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)  # (n, 2, 2)
    scale = WRIST_WIDTH_MM / np.linalg.norm(radial - ulnar, axis=1)
    return np.einsum("nij,nkj->nki", rot, joints - mid[:, None]) * scale[:, None, None]


def fit_student_t(x: np.ndarray, dof: float, iterations: int = 300) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre, scale matrix and log-likelihood of a multivariate t with ``dof`` degrees of freedom (EM)."""
    n, p = x.shape
    centre, scale = x.mean(axis=0), np.cov(x, rowvar=False)

    def mahalanobis(centre, scale):
        d = x - centre
        return np.einsum("ij,jk,ik->i", d, np.linalg.inv(scale), d)

    for _ in range(iterations):
        weight = (dof + p) / (dof + mahalanobis(centre, scale))
        centre = (weight[:, None] * x).sum(axis=0) / weight.sum()
        d = x - centre
        scale = (weight[:, None] * d).T @ d / n
    m = mahalanobis(centre, scale)
    loglik = (special.gammaln((dof + p) / 2) - special.gammaln(dof / 2) - p / 2 * np.log(dof * np.pi)
              - 0.5 * np.linalg.slogdet(scale)[1] - (dof + p) / 2 * np.log1p(m / dof)).sum()  # fmt: skip
    return centre, scale, float(loglik)


def main(path: str) -> None:
    table = pd.read_csv(path, dtype={"patient_id": str, "image_id": str})
    table = table[table.source == "ra2dream"]
    joints = template_frame(table).reshape(len(table), -1)
    labels = [f"{j}_{a}" for j in FINGER_JOINTS for a in "xy"]
    free = [i for i, label in enumerate(labels) if label != "mcp3_x"]
    fits = {dof: fit_student_t(joints[:, free], dof) for dof in (2, 3, 4, 6, 8, 10, 12, 15, 20, 30, 50, 100)}
    dof = max(fits, key=lambda k: fits[k][2])
    centre, scale = np.zeros(len(labels)), np.zeros((len(labels), len(labels)))
    centre[free] = fits[dof][0]
    scale[np.ix_(free, free)] = fits[dof][1]
    out = pd.DataFrame(scale, index=labels, columns=labels)
    out.insert(0, "centre", centre)
    out.insert(1, "dof", float(dof))
    out.index.name = "coordinate"
    out.round(4).to_csv(PARAMS_PATH)
    print(f"{len(table)} hands from {table.patient_id.nunique()} patients -> {PARAMS_PATH}")
    print("log-likelihood by degrees of freedom:", {k: round(v[2], 1) for k, v in fits.items()}, "->", dof)
    print(pd.DataFrame({"centre": centre.round(1), "sd": np.sqrt(np.diag(np.cov(joints, rowvar=False))).round(2)}, index=labels).T.to_string())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[2] / "shared" / "data" / "real_hand_landmarks.csv"))
