"""Grad-CAM, the paper's case selection and t-SNE."""

import numpy as np
import pytest
import torch

from ralib import explain
from ralib.models import create_model


@pytest.mark.parametrize("name", ["resnet34", "mobilenetv2_100", "alexnet"])
def test_gradcam_gives_one_heatmap_per_image_in_0_1(name):
    model = create_model(name, 3).eval()
    images = torch.randn(2, 1, 64, 64)
    heat = explain.gradcam(model, images, classes=[0, 2])
    assert heat.shape == (2, 64, 64) and heat.min() >= 0 and heat.max() <= 1
    regressor = create_model(name, 1).eval()
    assert explain.gradcam(regressor, images).shape == (2, 64, 64)


def test_regression_cases_follow_the_papers_rules():
    true = np.array([2.0, 3.0, 250.0, 240.0, 100.0, 120.0])
    pred = np.array([4.0, 70.0, 245.0, 180.0, 160.0, 110.0])
    cases = explain.regression_cases(true, pred)
    assert cases["TN"]["index"] == 0  # healthy, error 2
    assert cases["TP"]["index"] == 2  # severe (> 200), error 5
    assert cases["FP"]["index"] == 1  # over by 67 (the largest over-estimate beyond 50)
    assert cases["FN"]["index"] == 3  # under by 60
    assert cases["TP"]["threshold"] == 200


def test_regression_cases_scale_the_rules_to_a_smaller_range():
    true = np.array([1.0, 50, 150, 160, 30])
    pred = np.array([2.0, 52, 146, 130, 45])
    cases = explain.regression_cases(true, pred)
    assert cases["TP"]["index"] == 2 and cases["TP"]["threshold"] < 200
    assert cases["FN"]["index"] == 3 and cases["FP"]["index"] == 4


def test_class_cases():
    cases = explain.class_cases([0, 3, 5, 2, 4], [0, 3, 5, 6, 1])
    assert {k: v["index"] for k, v in cases.items()} == {"TN": 0, "TP": 2, "FP": 3, "FN": 4}


def test_tsne_embeds_small_sets():
    xy = explain.tsne(np.random.default_rng(0).normal(size=(12, 5)))
    assert xy.shape == (12, 2) and np.isfinite(xy).all()
