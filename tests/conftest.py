"""Shared fixtures: keep every test's data cache and runs inside its own temporary folder."""

import pytest


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path, monkeypatch):
    """Point RALIB_DATA and RALIB_RUNS at a temporary folder, never at the checkout."""
    monkeypatch.setenv("RALIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RALIB_RUNS", str(tmp_path / "runs"))
    return tmp_path
