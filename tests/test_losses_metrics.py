"""Losses, measures and stacking against values worked out by hand."""

import math

import numpy as np
import pytest
import torch

from ralib.losses import RegressionMSE, SmoothLoss, smooth_loss
from ralib.metrics import binary_metrics, class_metrics, decile_table, multiclass_metrics, regression_metrics
from ralib.stacking import StackedClassifier, StackedRegressor, pick_members


def test_smooth_loss_matches_hand_computation():
    pred, target = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.5, 2.0, 0.8])
    # differences 0.5, 2.0, -0.2 -> 0.6*0.25, 2.0 (|x| >= 1: |x| - 0), 0.6*0.04
    expected = math.sqrt((0.15 + 2.0 + 0.024) / 3)
    assert float(smooth_loss(pred, target)) == pytest.approx(expected, rel=1e-6)
    assert float(SmoothLoss(a=1.0, b=0.5, c=1.0)(pred, target)) == pytest.approx(math.sqrt((0.25 + 1.5 + 0.04) / 3), rel=1e-6)


def test_regression_mse_accepts_column_outputs():
    assert float(RegressionMSE()(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 0.0]))) == pytest.approx(5.0)


def test_regression_metrics():
    m = regression_metrics([0, 10, 20, 30], [2, 8, 25, 30])
    assert m["mae"] == pytest.approx((2 + 2 + 5 + 0) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((4 + 4 + 25) / 4), abs=1e-4)
    assert m["pcc"] == pytest.approx(np.corrcoef([0, 10, 20, 30], [2, 8, 25, 30])[0, 1], abs=1e-4)
    assert regression_metrics([1, 2], [3, 3])["pcc"] is None  # constant prediction


def test_class_metrics_balanced_accuracy():
    # class 0: 3 of 4 right, class 1: 0 of 1 right -> accuracy 3/5, balanced (0.75 + 0) / 2
    m = class_metrics([0, 0, 0, 0, 1], [0, 0, 0, 1, 0], n_classes=2)
    assert m["accuracy"] == pytest.approx(0.6) and m["balanced_accuracy"] == pytest.approx(0.375)


def test_binary_metrics_by_hand():
    true = [1, 1, 1, 0, 0]
    prob = [0.9, 0.8, 0.3, 0.6, 0.1]  # TP 2, FN 1, FP 1, TN 1
    m = binary_metrics(true, prob)
    assert (m["sensitivity"], m["specificity"]) == (pytest.approx(2 / 3, abs=1e-4), 0.5)
    assert m["f1"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["auc"] == pytest.approx(5 / 6, abs=1e-4)
    assert binary_metrics([1, 1], [0.2, 0.9])["auc"] is None


def test_multiclass_metrics_perfect_and_chance():
    true = np.array([0, 1, 2, 2])
    assert multiclass_metrics(true, np.eye(3)[true])["accuracy"] == 1.0
    assert multiclass_metrics(true, np.eye(3)[true])["auc"] == 1.0
    assert multiclass_metrics(true, np.full((4, 3), 1 / 3))["auc"] == 0.5


def test_decile_table_covers_every_case():
    d = decile_table(np.arange(100), np.arange(100) * 2)
    assert len(d) == 10 and d.n.sum() == 100 and d.pred_mean.iloc[-1] == pytest.approx(2 * d.true_mean.iloc[-1])


def test_regression_stacking_recovers_known_weights():
    rng = np.random.default_rng(1)
    preds = rng.normal(50, 20, size=(300, 3))
    target = preds @ np.array([0.6, 0.1, 0.3]) - 4 + rng.normal(0, 0.01, 300)
    stack = StackedRegressor().fit(preds, target)
    assert np.allclose(stack.weights, [0.6, 0.1, 0.3], atol=1e-3)
    assert np.allclose(stack.predict(preds), target, atol=0.1)


@pytest.mark.parametrize("principle", ["all", "single"])
def test_class_stacking_finds_the_informative_member(principle):
    rng = np.random.default_rng(2)
    n, k = 600, 4
    target = rng.integers(0, k, n)
    good = np.eye(k)[target] * 0.7 + 0.3 / k
    noise = rng.dirichlet(np.ones(k), size=(n, 2))
    probabilities = np.concatenate([good[:, None], noise], axis=1)  # (n, 3 members, k)
    stack = StackedClassifier(principle).fit(probabilities, target)
    assert np.mean(stack.predict(probabilities) == target) > 0.95
    if principle == "single":
        for model in stack.models:
            assert np.argmax(np.abs(model.coef_)) == 0


def test_unknown_stacking_principle():
    with pytest.raises(ValueError):
        StackedClassifier("some")


def test_pick_members_takes_the_best_of_each_architecture():
    import pandas as pd
    from types import SimpleNamespace as NS

    def fitted(model, loss):
        return NS(config=NS(model=model), history=pd.DataFrame({"valid_loss": [loss + 1, loss]}))

    fits = {"a1": fitted("a", 0.5), "a2": fitted("a", 0.2), "b1": fitted("b", 0.9), "c1": fitted("c", 0.4)}
    assert pick_members(fits) == ["a2", "c1", "b1"]
    assert pick_members({k: fits[k] for k in ("a1", "a2", "b1")}) == ["a2", "b1", "a1"]


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_more_cases():
    from ralib.metrics import bootstrap_interval

    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    y = x + rng.normal(size=400)
    pcc = regression_metrics(x, y)["pcc"]
    lo, hi = bootstrap_interval(x, y)
    assert lo < pcc < hi
    lo_small, hi_small = bootstrap_interval(x[:40], y[:40])
    assert hi_small - lo_small > hi - lo
    assert bootstrap_interval([1, 1, 1], [1, 2, 3]) == (None, None)  # constant truth: no PCC to resample


def test_the_paired_bootstrap_says_which_of_two_predictors_is_better_and_when_it_cannot_tell():
    from ralib.metrics import paired_bootstrap

    rng = np.random.default_rng(0)
    true = rng.uniform(0, 100, 80)
    good, bad = true + rng.normal(0, 5, 80), true + rng.normal(0, 25, 80)
    better = paired_bootstrap(true, good, bad, "rmse")
    assert better["low"] <= better["difference"] <= better["high"] < 0  # lower RMSE, established
    assert paired_bootstrap(true, good, bad, "pcc")["low"] > 0
    same = paired_bootstrap(true, good, good, "rmse")
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0}
    twins = paired_bootstrap(true, good, true + rng.normal(0, 5, 80), "rmse")
    assert twins["low"] < 0 < twins["high"]  # two equally good predictors: not established


def test_ra2dream_weighted_errors_equal_hand_computed_values():
    from ralib.metrics import weighted_absolute_error, weighted_rmse

    true, pred = [0, 0, 1, 3], [1, 0, 1, 1]
    # grade 0 twice (weight 1/2 each), grades 1 and 3 once (weight 1): squared errors 1, 0, 0, 4
    assert weighted_rmse(true, pred) == pytest.approx(np.sqrt((0.5 * 1 + 0.5 * 0 + 0 + 4) / 3))
    assert weighted_absolute_error(true, pred) == pytest.approx((0.5 * 1 + 0 + 0 + 2) / 3)
    # weighting by bands instead of exact values: all four in one band is the plain error
    assert weighted_absolute_error(true, pred, labels=[0, 0, 0, 0]) == pytest.approx(np.mean([1, 0, 0, 2]))
    assert weighted_rmse([2.4, 2.6], [2.4, 2.6]) == 0.0  # fractional totals round into their grade
