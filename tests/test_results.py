"""Result tables and the references beside them."""

import numpy as np
import pandas as pd

import pytest

from ralib.results import across_seeds, mean_baseline, regression_as_classes, thumbnail_ridge, verdict
from ralib.tasks import ImageTask


def _task(images, scores, splits):
    return ImageTask("demo", "regression", images, pd.DataFrame({"split": splits, "score": scores}), "score")


def test_thumbnail_ridge_finds_a_brightness_signal_the_mean_cannot():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 100, 120)
    images = (rng.uniform(0, 0.1, (120, 16, 16)) + scores[:, None, None] / 200).astype(np.float16)
    task = _task(images, scores, ["train"] * 80 + ["test"] * 40)
    ridge, mean = thumbnail_ridge(task, size=8), mean_baseline(task)
    assert ridge["pcc"] > 0.95 and ridge["rmse"] < mean["rmse"] / 3


def test_mean_baseline_of_a_classification_predicts_the_majority():
    table = pd.DataFrame({"split": ["train"] * 5 + ["test"] * 3, "stage": [1, 1, 1, 0, 2, 1, 0, 2]})
    task = ImageTask("demo", "classification", np.zeros((8, 4, 4), np.float16), table, "stage", ("a", "b", "c"), "multiclass")
    assert mean_baseline(task)["accuracy"] == round(1 / 3, 4)


def test_verdict_names_the_runs_that_beat_the_baseline():
    table = pd.DataFrame({"run": ["a", "b"], "rmse": [10.0, 30.0]})
    assert verdict(table, {"rmse": 20.0}).endswith(": a")
    assert verdict(table, {"rmse": 5.0}).startswith("No run")


def test_regression_as_classes_uses_the_severity_bounds():
    task = _task(np.zeros((4, 4, 4), np.float16), [0.0, 100.0, 1.0, 50.0], ["train", "train", "test", "test"])
    perfect = regression_as_classes(task, np.array([1.5, 60.0]))
    assert perfect["accuracy"] == 1.0


def test_across_seeds_lines_up_runs_and_keeps_the_missing_ones_missing():
    def record(seed, runs):
        return {"seed": seed, "metrics": {"regression": runs}}

    records = [record(0, {"a": {"pcc": 0.6, "rmse": 26.0}, "b": {"pcc": 0.1, "rmse": 33.0}}),
               record(1, {"a": {"pcc": 0.4, "rmse": 28.0}}),  # run b failed for this seed
               record(2, {"a": {"pcc": 0.5, "rmse": 27.0}, "b": {"pcc": -0.1, "rmse": 34.0}})]  # fmt: skip
    table = across_seeds(records, "regression")
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "pcc mean"] == pytest.approx(0.5) and table.loc["a", "rmse max"] == 28.0
    assert np.isnan(table.loc["b", "pcc seed 1"]) and table.loc["b", "pcc mean"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="another seed"):
        across_seeds([records[0], records[0]], "regression")
