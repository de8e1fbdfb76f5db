"""Ordered classes read off a score by fitted thresholds (a hand's stage off its predicted total)."""

import numpy as np
import pytest

from ralib.ordinal import classes_from_scores, fit_thresholds


def test_classes_separated_by_the_score_are_read_back_exactly():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, 300)
    scores = classes * 10 + rng.uniform(0, 9, 300)  # class k lies in [10 k, 10 k + 9)
    thresholds = fit_thresholds(scores, classes)
    assert len(thresholds) == 3 and np.all(np.diff(thresholds) >= 0)
    assert all(10 * k - 1 <= t <= 10 * k for k, t in zip((1, 2, 3), thresholds))
    assert np.array_equal(classes_from_scores(scores, thresholds), classes)


def test_overlapping_classes_keep_their_order_and_beat_a_single_class():
    rng = np.random.default_rng(1)
    classes = rng.integers(0, 3, 500)
    scores = classes + rng.normal(0, 0.8, 500)
    thresholds = fit_thresholds(scores, classes)
    read = classes_from_scores(scores, thresholds)
    assert np.all(np.diff(thresholds) >= 0) and np.mean(read == classes) > 0.55 > np.bincount(classes).max() / 500


def test_a_class_never_seen_in_training_is_never_read_and_bad_input_is_refused():
    thresholds = fit_thresholds([0.0, 1.0, 5.0, 6.0], [0, 0, 1, 1], n_classes=3)
    assert thresholds[0] == pytest.approx(3.0) and thresholds[1] == np.inf
    assert classes_from_scores([100.0], thresholds).tolist() == [1]
    assert fit_thresholds([1.0, 2.0], [2, 2], n_classes=3).tolist() == [-np.inf, -np.inf]
    with pytest.raises(ValueError, match="scores for"):
        fit_thresholds([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="lie in"):
        fit_thresholds([1.0, 2.0], [0, 3], n_classes=3)
    with pytest.raises(ValueError, match="finite"):
        fit_thresholds([1.0, np.nan], [0, 1])
