"""What a full run will ask of a GPU, from its dry run: every training of the dry run records the FLOPs of one
training sample (forward and backward, counted by :func:`~ralib.train.fit.fit` on its first batch), its
samples per epoch and the epochs it was configured for (a dry run keeps the full profile's and stops after two
batches, :func:`ralib.config.dry_run`); scaled by the full profile's films over the dry run's, their sum is the
full run's training arithmetic, and divided by a sustained throughput, its GPU time.

The throughput is borrowed, not measured (no GPU here): :data:`SUSTAINED_TFLOPS` is what NVIDIA's tuned
ResNet-50 v1.5 sustains on one A100 80GB in mixed precision (2,470 images/s at 224 px, NVIDIA
DeepLearningExamples, pytorch-21.03 container; 24.3 GFLOPs a training image by this counting, measured here:
60 TFLOP/s). This repository's loaders are plainer than NVIDIA's (no DALI), so read the estimate as the least
time a full run takes on such a GPU. Inference (predictions, the localiser over every film, the explanations)
and data loading are left out; so is anything a notebook computes outside :func:`~ralib.train.fit.fit`.

Example:
    >>> row = {"flops_per_sample": 1e12, "samples_per_epoch": 10, "epochs_configured": 100}
    >>> full_run_flops([row], scale=100.0)
    1e+17
    >>> round(gpu_hours(1e17), 2)
    0.46
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ralib.config import Profile
from ralib.models.weight_files import DamagedWeights
from ralib.train.fit import checkpoint_record

#: sustained mixed-precision TFLOP/s of the GPU: a tuned ResNet-50 on one A100 (see the module docstring)
SUSTAINED_TFLOPS = 60.0


def training_costs(folder: str | Path) -> pd.DataFrame:
    """One row per training checkpoint under ``folder`` that records its cost: the run's label, FLOPs per
    sample, samples per epoch, epochs configured, samples it trained and its seconds here."""
    rows = []
    for path in sorted(Path(folder).rglob("*.pt")):
        try:
            record = checkpoint_record(path)
        except (DamagedWeights, KeyError, TypeError):  # not a training checkpoint (e.g. a localiser bundle)
            continue
        throughput = record.get("throughput") or {}
        if throughput.get("flops_per_sample") is None:
            continue
        rows.append({"checkpoint": path.name, "flops_per_sample": throughput["flops_per_sample"],
                     "samples_per_epoch": throughput["samples_per_epoch"], "epochs_configured": throughput["epochs_configured"],
                     "samples_trained": throughput.get("samples"), "seconds": throughput.get("training_seconds")})  # fmt: skip
    return pd.DataFrame(rows, columns=["checkpoint", "flops_per_sample", "samples_per_epoch", "epochs_configured",
                                       "samples_trained", "seconds"])  # fmt: skip


def full_run_flops(costs, scale: float) -> float:
    """The training arithmetic of the full run: every training's FLOPs per sample x its samples per epoch x
    ``scale`` (the full profile's films over the dry run's) x its configured epochs."""
    rows = costs.to_dict("records") if isinstance(costs, pd.DataFrame) else costs
    return float(sum(r["flops_per_sample"] * r["samples_per_epoch"] * scale * r["epochs_configured"] for r in rows))


def gpu_hours(flops: float, tflops: float = SUSTAINED_TFLOPS) -> float:
    """Hours of ``flops`` at ``tflops`` sustained."""
    return flops / (tflops * 1e12) / 3600


def gpu_estimate(folder: str | Path, dry: Profile, full: Profile, tflops: float = SUSTAINED_TFLOPS) -> dict:
    """The estimate of the full run of the notebook whose dry run (``dry``, e.g. ``paper-check``) wrote
    ``folder``: its trainings, their FLOPs here and in the full run (``full``, e.g. ``paper``), and the full
    run's GPU hours at ``tflops``; an empty estimate for a notebook that trained nothing."""
    costs = training_costs(folder)
    scale = full.data.n_images / dry.data.n_images
    flops = full_run_flops(costs, scale)
    return {"trainings": len(costs), "dry_run_training_flops": float((costs.flops_per_sample * costs.samples_trained).sum()),
            "full_run_training_flops": flops, "full_run_gpu_hours": round(gpu_hours(flops, tflops), 2),
            "assumed_sustained_tflops": tflops}  # fmt: skip
