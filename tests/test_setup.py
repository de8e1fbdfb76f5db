import random
from importlib import metadata

import numpy as np
import torch

import ralib


def _draws():
    return random.random(), np.random.rand(), torch.rand(3)


def test_same_seed_same_draws_different_seed_different_draws():
    ralib.setup(7, verbose=False)
    first = _draws()
    ralib.setup(7, verbose=False)
    again = _draws()
    ralib.setup(8, verbose=False)
    other = _draws()
    assert first[0] == again[0] and first[1] == again[1] and torch.equal(first[2], again[2])
    assert first[0] != other[0] and not torch.equal(first[2], other[2])


def test_setup_sets_threads_determinism_and_device():
    device = ralib.setup(0, threads=1, verbose=False)
    assert torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    ralib.setup(0, deterministic=False, verbose=False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_setup_prints_versions(capsys):
    ralib.setup(0, verbose=True)
    out = capsys.readouterr().out
    assert f"torch {metadata.version('torch')}" in out and ("device cpu" in out or "device cuda" in out)


def test_run_writes_metrics_and_figures(tmp_path):
    import json

    import matplotlib.pyplot as plt

    run = ralib.start_run("99_test", "smoke", tmp_path / "r", seed=3)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    run.savefig(fig, "line")
    run.log(pcc=np.float32(0.5), n=np.int64(4), table={"a": np.array([1.0, np.nan])})
    record = json.loads(run.finish().read_text())
    assert record["profile"] == "smoke" and record["seed"] == 3
    assert record["metrics"] == {"pcc": 0.5, "n": 4, "table": {"a": [1.0, None]}}
    assert (tmp_path / "r" / "figures" / "line.png").stat().st_size > 0
    assert record["figures"] == ["line.png"]
