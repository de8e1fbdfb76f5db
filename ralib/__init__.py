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


def setup(seed: int = 0, profile: str | None = None, threads: int | None = None, deterministic: bool = True,
          verbose: bool = True):  # fmt: skip
    """Seed everything, fix determinism and threads, pick the device, set the profile's training limits and
    plotting defaults.

    Args:
        seed: seeds Python's ``random``, NumPy's global generator and torch.
        profile: a profile name: its limits hold for every training of the process (the ``paper-check`` dry
            run's cut after two batches; a micro-batch, ``$RALIB_MICRO_BATCH`` overriding it; see
            :class:`ralib.train.fit.Limits`); None: no limits.
        threads: torch intra-op threads; default ``$RALIB_THREADS`` or every core.
        deterministic: ask torch for deterministic kernels (warns, not fails, where none exists).
        verbose: print versions, device, threads and limits.

    Returns:
        The device networks train on (:func:`ralib.models.device.accelerator`: CUDA, else Apple's MPS, else the
        CPU; ``$RALIB_DEVICE`` overrides), so that the ``paper`` profile runs unchanged on a GPU.

    Example:
        >>> device = setup(0, "smoke", verbose=False)
    """
    import torch

    from ralib.models.device import accelerator
    from ralib.train.fit import limit_training

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device

    threads = threads or int(os.environ.get("RALIB_THREADS", 0)) or os.cpu_count() or 1
    torch.set_num_threads(threads)

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic

    device = accelerator()
    sizes = get_profile(profile) if profile else None
    micro_batch = int(os.environ.get("RALIB_MICRO_BATCH") or (sizes.micro_batch if sizes else 0))
    limit_training(sizes.dry_batches if sizes else 0, micro_batch)
    _plot_defaults()
    if verbose:
        print(" | ".join(f"{k} {v}" for k, v in versions().items()))
        print(f"device {device} | torch threads {threads} | seed {seed} | deterministic {deterministic}")
        if sizes and (sizes.dry_batches or micro_batch):
            print(f"every training: {f'{sizes.dry_batches} batches, then stop' if sizes.dry_batches else 'in full'}"
                  f"{f'; at most {micro_batch} samples a pass, gradients accumulated' if micro_batch else ''}")
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
