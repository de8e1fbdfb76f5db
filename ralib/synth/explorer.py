"""An ipywidgets explorer of the synthetic world, for teaching.

Example (in JupyterLab):
    >>> from ralib.synth.explorer import film_explorer, joint_explorer
    >>> film_explorer()  # doctest: +SKIP
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from ralib import anatomy
from ralib.synth.world import joint_closeup, radiograph


def _film_of(sample) -> np.ndarray:
    image = sample.image.astype(np.float32) / (2**sample.bits - 1)
    return 1 - image if sample.inverted else image


def show_film(seed: int = 0, severity: float = 0.5, spread: float = 1.0, ulnar_deviation: float = 0.0,
              photons: float = 200000.0, contrast: float = 1.0, image_size: int = 512):  # fmt: skip
    """Render and show one radiograph with the given severity, pose and exposure; returns the sample."""
    sample = radiograph(
        seed, image_size, healthy_fraction=0.0, p_flip=0.0, severity=severity,
        pose={"spread": spread, "ulnar_deviation": ulnar_deviation},
        acquisition={"photons_per_mm2": photons, "contrast": contrast, "inverted": False},
    )  # fmt: skip
    total = sum(sample.truth[s] for s in anatomy.svdh_site_ids())
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.imshow(_film_of(sample), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"true total SvdH {total}")
    ax.axis("off")
    plt.show()
    return sample


def show_joint(joint: str = "mcp2", erosion: int = 0, jsn: int = 0, seed: int = 0):
    """Show one joint of an average hand at the chosen erosion and JSN grades."""
    image, _ = joint_closeup(joint, erosion=erosion, jsn=jsn, seed=seed)
    fig, ax = plt.subplots(figsize=(3.5, 3.5))
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{joint}: erosion {erosion}, JSN {jsn}")
    ax.axis("off")
    plt.show()


def film_explorer() -> widgets.Widget:
    """Sliders for severity, pose and exposure over :func:`show_film`."""
    return widgets.interactive(
        show_film,
        seed=widgets.IntSlider(0, 0, 50),
        severity=widgets.FloatSlider(0.5, min=-2, max=3, step=0.25),
        spread=widgets.FloatSlider(1.0, min=0.4, max=1.7, step=0.1),
        ulnar_deviation=widgets.FloatSlider(0.0, min=-5, max=40, step=5),
        photons=widgets.FloatLogSlider(200000, base=10, min=4, max=6),
        contrast=widgets.FloatSlider(1.0, min=0.6, max=1.4, step=0.05),
        image_size=widgets.fixed(512),
    )


def joint_explorer() -> widgets.Widget:
    """Dropdown and sliders over :func:`show_joint`."""
    joints = ["ip", *(f"mcp{f}" for f in range(1, 6)), *(f"pip{f}" for f in range(2, 6)), *(f"dip{f}" for f in range(2, 6))]
    return widgets.interactive(
        show_joint,
        joint=widgets.Dropdown(options=joints, value="mcp2"),
        erosion=widgets.IntSlider(0, 0, anatomy.EROSION_MAX),
        jsn=widgets.IntSlider(0, 0, anatomy.JSN_MAX),
        seed=widgets.IntSlider(0, 0, 20),
    )
