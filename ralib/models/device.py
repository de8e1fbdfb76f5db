"""Where networks run: the accelerator picked (CUDA, then Apple's MPS, else the CPU), the data-loader workers
that pay on it, and a model taken there for a pass and brought back.

Models live on the CPU between passes (after :func:`~ralib.train.fit.fit`, after loading a checkpoint), so
that every function handing a model a tensor works on any machine; the heavy loops (training, :func:`predict
<ralib.train.fit.predict>`, the localiser's passes, the detector) take the model to the accelerator with
:func:`running_on`. ``$RALIB_DEVICE`` (``cpu``, ``cuda``, ``mps``) overrides the pick, ``$RALIB_WORKERS`` the
workers.

Example:
    >>> import os
    >>> os.environ["RALIB_DEVICE"] = "cpu"
    >>> accelerator(), loader_options(accelerator())
    (device(type='cpu'), {})
    >>> del os.environ["RALIB_DEVICE"]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

DEVICES = ("cpu", "cuda", "mps")


def accelerator() -> torch.device:
    """The device networks train and predict on: ``$RALIB_DEVICE`` if set, else CUDA, else MPS, else the CPU."""
    name = os.environ.get("RALIB_DEVICE", "").strip().lower()
    if name and name not in DEVICES:
        raise ValueError(f"RALIB_DEVICE must be one of {', '.join(DEVICES)}, not {name!r}")
    if not name:
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available() or name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"RALIB_DEVICE={name} but torch finds no {name.upper()} device on this machine")
    return torch.device(name)


def loader_options(device: torch.device) -> dict:
    """Keyword arguments of a training ``DataLoader`` on ``device``: on an accelerator, worker processes (one per
    core but one, at most 8: loading, augmenting and collating no longer wait for the step) and, on CUDA, pinned
    memory; on the CPU none (the workers would take the cores the step computes on). ``$RALIB_WORKERS`` sets the
    number of workers anywhere.

    Example:
        >>> loader_options(torch.device("cuda"))["pin_memory"]
        True
    """
    default = 0 if device.type == "cpu" else min(8, max(1, (os.cpu_count() or 2) - 1))
    workers = int(os.environ.get("RALIB_WORKERS", default))
    options = {"num_workers": workers, "persistent_workers": True} if workers else {}
    return options | ({"pin_memory": True} if device.type == "cuda" else {})


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (the CPU for a model without any).

    Example:
        >>> model_device(nn.Linear(2, 1))
        device(type='cpu')
    """
    tensor = next(model.parameters(), None)
    tensor = tensor if tensor is not None else next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@contextmanager
def running_on(model: nn.Module, device: torch.device | None = None) -> Iterator[torch.device]:
    """Run ``model`` on ``device`` (default :func:`accelerator`) inside the block and give the device its inputs
    must go to; a model on the CPU goes back there afterwards, one already elsewhere (training) stays.

    Example:
        >>> model = nn.Linear(2, 1)
        >>> with running_on(model, torch.device("cpu")) as device:
        ...     model(torch.ones(1, 2, device=device)).shape
        torch.Size([1, 1])
    """
    home = model_device(model)
    if home.type != "cpu":  # already on an accelerator: a pass inside training
        yield home
        return
    device = device or accelerator()
    model.to(device)
    try:
        yield device
    finally:
        model.to(home)
