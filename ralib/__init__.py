"""ralib: the helper package behind the numbered notebooks.

Every notebook starts with :func:`setup` and ends by writing its metrics through :class:`Run`.

Example:
    >>> import ralib
    >>> device = ralib.setup(seed=0, verbose=False)
    >>> device.type in ("cpu", "cuda")
    True
"""

from __future__ import annotations

import os
import platform
import random
from importlib import metadata

import numpy as np

from ralib.config import data_dir, get_profile, runs_dir
from ralib.tracking import Run, start_run

__version__ = "0.1.0"
__all__ = ["setup", "versions", "get_profile", "data_dir", "runs_dir", "Run", "start_run"]

_REPORTED_PACKAGES = ("torch", "torchvision", "timm", "fastai", "numpy", "pandas", "scikit-learn")


def versions() -> dict[str, str]:
    """Versions of Python, ralib and the packages whose behaviour shapes the results."""
    found = {"python": platform.python_version(), "ralib": __version__}
    for name in _REPORTED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def setup(seed: int = 0, threads: int | None = None, deterministic: bool = True, verbose: bool = True):
    """Seed everything, fix determinism and threads, pick the device, set plotting defaults.

    Args:
        seed: seeds Python's ``random``, NumPy's global generator and torch.
        threads: torch intra-op threads; default ``$RALIB_THREADS`` or every core.
        deterministic: ask torch for deterministic kernels (warns, not fails, where none exists).
        verbose: print versions, device and threads.

    Returns:
        ``torch.device("cuda")`` when a GPU is present (so the ``paper`` profile runs unchanged
        there), else ``torch.device("cpu")``.

    Example:
        >>> device = setup(0, verbose=False)
    """
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device

    threads = threads or int(os.environ.get("RALIB_THREADS", 0)) or os.cpu_count() or 1
    torch.set_num_threads(threads)

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    _plot_defaults()
    if verbose:
        print(" | ".join(f"{k} {v}" for k, v in versions().items()))
        print(f"device {device} | torch threads {threads} | seed {seed} | deterministic {deterministic}")
    return device


def _plot_defaults() -> None:
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid")
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 110,
            "savefig.bbox": "tight",
            "image.cmap": "gray",
            "axes.titlesize": "medium",
        }
    )
