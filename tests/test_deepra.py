"""DeepRA's pieces: finger and wrist regions from the joint boxes, the RetinaNet detector in the house's loop."""

import numpy as np
import pandas as pd
import pytest
import torch

from ralib import anatomy
from ralib.models.detection import RegionDetector
from ralib.tasks.detection import REGIONS, RegionTask, pack_detections, region_boxes


def test_regions_are_the_union_of_their_joints_grown_by_the_margin_and_missing_where_no_joint_is_known():
    joints = np.full((2, len(anatomy.JOINT_NAMES), 4), np.nan)
    index = [anatomy.JOINT_NAMES.index(j) for j in ("dip2", "pip2", "mcp2")]
    joints[0, index] = [[0.40, 0.10, 0.50, 0.20], [0.42, 0.25, 0.52, 0.35], [0.41, 0.45, 0.55, 0.55]]
    boxes = region_boxes(joints, margin=0.1)
    assert boxes.shape == (2, len(REGIONS), 4) and list(REGIONS)[1] == "index"
    assert boxes[0, 1] == pytest.approx([0.40 - 0.015, 0.10 - 0.045, 0.55 + 0.015, 0.55 + 0.045])
    assert np.isnan(boxes[0, 0]).all() and np.isnan(boxes[1]).all()  # no thumb joint known; nothing on hand 2
    joints[0, anatomy.JOINT_NAMES.index("radiocarpal")] = [0.0, 0.9, 0.3, 1.0]
    assert region_boxes(joints, margin=0.5)[0, 5].tolist() == pytest.approx([0.0, 0.85, 0.45, 1.0])  # kept in the image


def test_detections_are_packed_per_class_best_first_with_nan_where_there_are_fewer():
    detections = [{"boxes": torch.tensor([[0, 0, 1, 1], [0, 0, 2, 2], [5, 5, 6, 6.0]]), "scores": torch.tensor([0.2, 0.9, 0.5]),
                   "labels": torch.tensor([1, 1, 3])}]  # fmt: skip
    packed = pack_detections(detections, n_classes=3, k=2)
    assert packed.shape == (1, 3, 2, 5)
    assert packed[0, 0, :, 4].tolist() == pytest.approx([0.9, 0.2]) and packed[0, 0, 0, 2] == 2
    assert torch.isnan(packed[0, 1]).all() and torch.isnan(packed[0, 2, 1]).all() and packed[0, 2, 0, 4] == pytest.approx(0.5)


def _planted_hands(n=12, size=96, seed=0):
    """Bright rectangles where the regions are, on a dark background: something to find."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size), np.float32)
    boxes = np.zeros((n, len(REGIONS), 4))
    for i in range(n):
        for r in range(len(REGIONS)):
            x0, y0 = rng.uniform(0.02, 0.7, 2)
            w, h = (0.12, 0.25) if r < 5 else (0.25, 0.2)
            boxes[i, r] = [x0, y0, x0 + w, y0 + h]
            images[i, int(y0 * size) : int((y0 + h) * size), int(x0 * size) : int((x0 + w) * size)] = 0.3 + 0.1 * r
    return images, boxes


def test_the_detector_trains_in_the_house_loop_and_returns_boxes_on_the_image():
    from ralib.train import build_model, fit
    from ralib.train.fit import TrainConfig

    images, boxes = _planted_hands()
    task = RegionTask(images, boxes, pd.DataFrame({"split": ["train"] * 8 + ["val"] * 4}), k=3)
    config = TrainConfig("region_detector", 2, 4, "detection", "adamw", 1e-3, 1e-4, 0.0, "boxes",
                         model_options=(("image_size", 96),))  # fmt: skip
    fitted = fit(build_model(config, task.num_outputs), task, config, progress=False)
    assert len(fitted.history) == 2 and np.isfinite(fitted.history.valid_loss).all()  # validation has a loss too
    found = fitted.predict(task, "val")
    assert found.shape == (4, len(REGIONS), 3, 5)
    scored = np.isfinite(found[..., 4])
    assert scored.any() and (found[..., :4][scored] >= -0.01).all() and (found[..., :4][scored] <= 1.01).all()
    m = task.evaluate(found, "val")
    assert set(m) >= {"map", "found", *(f"ap {r}" for r in REGIONS)} and 0 <= m["found"] <= 1


def test_ap_is_one_for_exact_boxes_and_zero_for_boxes_in_the_wrong_place():
    images, boxes = _planted_hands(4)
    task = RegionTask(images, boxes, pd.DataFrame({"split": ["train", "train", "test", "test"]}), k=2)
    exact = np.full((2, len(REGIONS), 2, 5), np.nan)
    exact[:, :, 0, :4], exact[:, :, 0, 4] = boxes[2:], 0.9
    m = task.evaluate(exact, "test")
    assert m["map"] == pytest.approx(1.0) and m["found"] == 1.0 and m["ap wrist"] == pytest.approx(1.0)
    shifted = exact.copy()
    shifted[..., 0] += 0.5
    shifted[..., 2] += 0.5
    assert task.evaluate(shifted, "test")["map"] == pytest.approx(0.0) and task.evaluate(shifted, "test")["found"] == 0.0


def test_the_detector_loss_is_finite_for_a_hand_missing_a_region():
    model = RegionDetector(n_classes=6, image_size=64)
    boxes = torch.tensor([[[5.0, 5.0, 20.0, 40.0]] * 5 + [[float("nan")] * 4]])
    assert torch.isfinite(model(torch.rand(1, 1, 64, 64), boxes))


def test_the_attention_gate_map_lies_in_0_1_at_the_feature_maps_size_and_weights_the_pooling():
    from ralib.models.attention_gate import AttentionGatedRegressor

    torch.manual_seed(0)
    model = AttentionGatedRegressor("efficientnet_b0", num_outputs=2).eval()
    images = torch.rand(3, 1, 96, 96)
    with torch.no_grad():
        features, gate = model.features(images), model.attention(images)
        assert gate.shape == (3, 1, *features.shape[-2:]) and float(gate.min()) >= 0 and float(gate.max()) <= 1
        # the pooled vector is the gate-weighted mean of the features: a gate of ones is the plain mean
        model.gate = torch.nn.Sequential(torch.nn.Conv2d(features.shape[1], 1, 1), torch.nn.Sigmoid())
        torch.nn.init.zeros_(model.gate[0].weight)
        torch.nn.init.constant_(model.gate[0].bias, 50.0)
        plain = AttentionGatedRegressor("efficientnet_b0", num_outputs=2, gate=False).eval()
        plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("gate")})
        assert torch.allclose(model(images), plain(images), atol=1e-5)
