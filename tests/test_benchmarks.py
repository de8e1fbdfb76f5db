"""The benchmark scripts run at the smoke size (their numbers are for the README, not asserted here)."""

import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def test_train_throughput_measures_every_network_of_the_profile(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from train_throughput import cases
    finally:
        sys.path.pop(0)
    from ralib.config import get_profile
    from ralib.train import TrainConfig
    from ralib.train.fit import save_checkpoint

    runs = tmp_path / "runs"  # one planted checkpoint with the throughput a run records
    save_checkpoint(runs / "07_x" / "checkpoints" / "m.pt", torch.nn.Linear(1, 1), TrainConfig("m", 1, 1),
                    extra={"throughput": {"samples_per_second": 12.5, "data_share": 0.25, "training_seconds": 8.0, "samples": 100}})
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--profile", "smoke", "--steps", "1",
                           "--runs", str(runs)], capture_output=True, text=True, timeout=600, env={"OMP_NUM_THREADS": "1", **_env()})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    rate = next(line for line in lines if line.startswith("fp32 matmul"))
    assert float(rate.split(": ")[1].split()[0]) > 0
    names = [c.name for c in cases(get_profile("smoke"))]
    rows = [line for line in lines if line.startswith("| 0")]
    assert [row.split(" | ")[1] for row in rows[: len(names)]] == names  # one row per network, in order
    for row in rows[: len(names)]:
        samples, share = row.removesuffix(" |").split(" | ")[5:7]
        assert float(samples) > 0 and share.endswith("%")
    assert rows[-1] == "| 07 | m | 12.5 | 25% | 8 |"


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}


def test_film_passes_times_a_pass_with_and_without_the_decoded_film_cache():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "film_passes.py"), "--profile", "smoke", "--films", "3"],
                          capture_output=True, text=True, timeout=600, env={"OMP_NUM_THREADS": "1", **_env()})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "ms per film" not in line]
    assert [row.split(" | ")[0][2:] for row in rows] == ["decode + stretch (before)", "first pass: decode, stretch, keep",
                                                         "later passes: read the kept film"]  # fmt: skip
    assert all(float(row.split(" | ")[1].rstrip(" |")) > 0 for row in rows)
