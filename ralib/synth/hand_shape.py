"""Where a synthetic hand's finger joints lie: a Student-t shape model fitted to real annotated hands.

The ten finger and thumb joints (thumb IP, PIP 2-5, MCP 1-5) of 360 adult RA hands (RA2-DREAM films,
``../shared/data/real_hand_landmarks.csv``) give a multivariate Student-t distribution in the skeleton's
template frame (centre, 20 x 20 scale matrix and degrees of freedom in ``hand_shape_params.csv``, made by
``scripts/calibrate_hand_shape.py``; heavier-tailed than a Gaussian, as real hands are). A sample is a
whole hand's joint layout at once, so that finger spread, flexion (a flexed finger is foreshortened on a
PA film), ulnar drift and proportions vary together as they do on real films, not as independent knobs.

Example:
    >>> import numpy as np
    >>> joints = sample_finger_joints(np.random.default_rng(0))
    >>> sorted(joints)[:3], joints["mcp3"].shape
    (['ip1', 'mcp1', 'mcp2'], (2,))
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

PARAMS_PATH = Path(__file__).with_name("hand_shape_params.csv")
#: the joints the model places, in the order of its coordinates
FINGER_JOINTS = ("ip1", "pip2", "pip3", "pip4", "pip5", "mcp1", "mcp2", "mcp3", "mcp4", "mcp5")


@lru_cache(maxsize=1)
def shape_model() -> tuple[np.ndarray, np.ndarray, float]:
    """The fitted centre ``(20,)`` (x, y per joint), the Cholesky factor ``(20, 20)`` of the scale matrix,
    and the degrees of freedom."""
    table = pd.read_csv(PARAMS_PATH, index_col="coordinate")
    centre = table["centre"].to_numpy(float)
    scale = table.drop(columns=["centre", "dof"]).to_numpy(float)
    return centre, np.linalg.cholesky(scale + 1e-6 * np.eye(len(scale))), float(table["dof"].iloc[0])


def mean_finger_joints() -> dict[str, np.ndarray]:
    """The model's centre: the typical hand (mm, template frame)."""
    centre, _, _ = shape_model()
    return {j: centre[2 * i : 2 * i + 2].copy() for i, j in enumerate(FINGER_JOINTS)}


def sample_finger_joints(rng: np.random.Generator, spread: float = 1.0) -> dict[str, np.ndarray]:
    """One hand's finger joints (mm, template frame, adult size) drawn from the model; ``spread`` scales
    the deviation from the mean (1: as real hands vary; 0: the mean hand).

    Example:
        >>> import numpy as np
        >>> bool(np.allclose(sample_finger_joints(np.random.default_rng(1), spread=0)["mcp3"], mean_finger_joints()["mcp3"]))
        True
    """
    centre, chol, dof = shape_model()
    z = rng.standard_normal(len(centre))
    draw = centre + spread * (chol @ z) / np.sqrt(rng.chisquare(dof) / dof)
    return {j: draw[2 * i : 2 * i + 2] for i, j in enumerate(FINGER_JOINTS)}
