"""Where a notebook's results go: one folder per notebook and profile.

``runs/<profile>/<notebook>/`` holds the executed notebook (written by :mod:`ralib.run`),
``metrics.json`` (what the tests and the README's results table read), ``figures/`` and any
checkpoints.

Example:
    >>> import tempfile
    >>> run = start_run("00_example", profile="smoke", out_dir=tempfile.mkdtemp())
    >>> run.log(n_sites=62, pcc=0.97)
    >>> path = run.finish()
    >>> path.name
    'metrics.json'
"""

from __future__ import annotations

import json
import math
import re
import resource
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ralib.config import get_profile, runs_dir


def file_name(text: str) -> str:
    """``text`` as a file name: lower case, every run of other characters than letters, digits, ``-``, ``+``
    and ``.`` one underscore.

    Example:
        >>> file_name("cases, Scheme 2 MIL (07): through its patch CNN")
        'cases_scheme_2_mil_07_through_its_patch_cnn'
    """
    return re.sub(r"[^a-z0-9+.-]+", "_", text.lower()).strip("_")


class Run:
    """Collects the metrics and figures of one notebook run."""

    def __init__(self, notebook: str, profile: str, out_dir: str | Path | None = None, seed: int | None = None):
        get_profile(profile)  # fail early on a misspelt profile
        self.notebook = notebook
        self.profile = profile
        self.seed = seed
        self.dir = Path(out_dir) if out_dir else runs_dir(profile) / notebook
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics: dict[str, Any] = {}
        self.figures: list[str] = []
        self._started = time.time()

    @property
    def figures_dir(self) -> Path:
        path = self.dir / "figures"
        path.mkdir(exist_ok=True)
        return path

    def log(self, **metrics: Any) -> None:
        """Record metrics: numbers, strings, nested dicts or lists of them, and tables (a ``DataFrame`` becomes
        one dict per row, a ``Series`` one dict; a row named by a tuple is joined by ``" | "``, as
        :mod:`ralib.publish` reads it)."""
        self.metrics.update({key: _plain(value) for key, value in metrics.items()})

    def savefig(self, fig, name: str) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png`` and return the path; ``name`` may be any text
        (a model's name): it is made a file name first (:func:`file_name`)."""
        path = self.figures_dir / f"{file_name(name)}.png"
        fig.savefig(path)
        if path.name not in self.figures:
            self.figures.append(path.name)
        return path

    def finish(self) -> Path:
        """Write ``metrics.json`` and return its path."""
        record = {
            "notebook": self.notebook,
            "profile": self.profile,
            "seed": self.seed,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.time() - self._started, 1),
            "peak_memory_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),  # the kernel's largest RSS
            # the largest RSS of one of its finished worker processes (film generation, data-loader workers)
            "peak_worker_memory_gb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2),
            "figures": self.figures,
            "metrics": self.metrics,
        }
        path = self.dir / "metrics.json"
        path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
        return path


def start_run(notebook: str, profile: str, out_dir: str | Path | None = None, seed: int | None = None) -> Run:
    """Open the output folder of ``notebook`` under ``profile``; see :class:`Run`."""
    return Run(notebook, profile, out_dir, seed)


def training_record(fitted, full: bool = False) -> dict:
    """What a training cost, as ``run.log`` records it: its seconds and the epoch kept (counted from 1); with
    ``full`` also the epochs run and its throughput.

    Example:
        >>> from types import SimpleNamespace
        >>> training_record(SimpleNamespace(seconds=12.5, best_epoch=3, history=[{}] * 8, throughput={}), full=True)
        {'seconds': 12.5, 'best_epoch': 4, 'epochs': 8}
    """
    record = {"seconds": fitted.seconds, "best_epoch": fitted.best_epoch + 1}
    return record | ({"epochs": len(fitted.history), **fitted.throughput} if full else {})


def _row_name(key: Any) -> str:
    return " | ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _plain(value: Any) -> Any:
    """Turn NumPy and torch scalars and arrays, and pandas tables, into JSON values; NaN becomes None.

    Example:
        >>> table = pd.DataFrame({"pcc": [0.5, np.nan]}, index=pd.MultiIndex.from_tuples([("label", "a"), ("truth", "a")]))
        >>> _plain(table)
        {'label | a': {'pcc': 0.5}, 'truth | a': {'pcc': None}}
    """
    if isinstance(value, pd.DataFrame):
        return {_row_name(k): _plain(row) for k, row in value.to_dict("index").items()}
    if isinstance(value, pd.Series):
        return {_row_name(k): _plain(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return _plain(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
