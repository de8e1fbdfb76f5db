"""Shared fixtures: keep every test's data cache and runs inside its own temporary folder."""

import pytest

from ralib.data import load_dataset
from ralib.synth import SynthConfig, make_dataset


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path, monkeypatch):
    """Point RALIB_DATA and RALIB_RUNS at a temporary folder, never at the checkout."""
    monkeypatch.setenv("RALIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RALIB_RUNS", str(tmp_path / "runs"))
    return tmp_path


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """Six small SynthRA films in the data model: the source every exporter test starts from."""
    folder = make_dataset(SynthConfig(n_images=6, image_size=256), tmp_path_factory.mktemp("s"), progress=False)
    return load_dataset("synthra", folder)
