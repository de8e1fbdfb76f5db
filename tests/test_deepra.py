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
    # in film coordinates: within the part of the film each hand image shows
    from ralib.tasks.joint_boxes import film_boxes

    hands = pd.DataFrame({"x0": [1000.0] * 4, "y0": [200.0] * 4, "x1": [1960.0] * 4, "y1": [2120.0] * 4})
    on_film = film_boxes(found[..., 0, :4], hands)[scored[..., 0]]
    assert (on_film[:, [0, 2]] >= 1000 - 10).all() and (on_film[:, [0, 2]] <= 1960 + 10).all() and (on_film[:, [1, 3]] >= 200 - 20).all()


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


def _thumb_and_wrist_scores():
    """Two films, left hands only: film a damaged at the thumb, film b without damage."""
    rows = []
    for rid, ip, mcp in (("a", 2.0, 1.0), ("b", 0.0, 0.0)):
        for site in anatomy.EROSION_SITES + anatomy.JSN_SITES:
            grade = {"mcp_E__ip": ip, "mcp_J__1": mcp}.get(site, 0.0)
            rows.append({"radiograph_id": rid, "hand": "LH", "scheme": "svdh", "site": site, "kind": "", "grade": grade,
                         "truth": grade + 0.5})  # fmt: skip
    return pd.DataFrame(rows)


def test_region_targets_follow_each_regions_sites_with_nan_where_svdh_scores_none():
    from ralib.tasks.region_scores import JOINT_MODELS, OUTPUTS, RegionScoreTask

    scores = _thumb_and_wrist_scores()
    table = pd.DataFrame({"radiograph_id": ["a", "a", "b"], "hand": "LH", "joint": ["thumb", "wrist", "index"], "split": "train"})
    task = RegionScoreTask(np.zeros((3, 8, 8), np.uint8), table, scores, "fingers")
    assert task.num_outputs == len(OUTPUTS["fingers"]) == 4
    assert task.targets[0].tolist()[:2] == [2.0, 0.0] and np.isnan(task.targets[0, 2]) and task.targets[0, 3] == 1.0
    assert np.isnan(task.targets[1]).all()  # the wrist crop is not the finger model's
    assert task.rows("train").tolist() == [0, 2]
    truth = RegionScoreTask(np.zeros((3, 8, 8), np.uint8), table, scores, "fingers", label="truth")
    assert truth.targets[0, 0] == 2.5
    wrist = RegionScoreTask(np.zeros((3, 8, 8), np.uint8), table, scores, "wrist")
    assert wrist.num_outputs == 12 and wrist.rows("train").tolist() == [1]
    assert len(JOINT_MODELS["hand"]["hand"]) == len(anatomy.EROSION_SITES) + len(anatomy.JSN_SITES)
    assert task.name != wrist.name  # one checkpoint per joint model


def test_an_epoch_holds_every_damaged_crop_once_and_as_many_undamaged_ones():
    from ralib.tasks.region_scores import RegionScoreDataset

    targets = np.zeros((10, 2))
    targets[[1, 4], 0] = [1.0, 3.0]
    targets[7, 1] = np.nan
    images = np.arange(10, dtype=np.uint8)[:, None, None].repeat(4, 1).repeat(4, 2)
    data = RegionScoreDataset(images, targets, balance=True)
    assert len(data) == 4
    seen = [int(round(float(data[i][0][0, 0, 0]) * 255)) for i in range(len(data))]
    assert seen[:2] == [1, 4] and all(s not in (1, 4) for s in seen[2:])
    assert len(RegionScoreDataset(images, targets, balance=False)) == 10


def test_the_masked_mse_ignores_unscored_outputs_and_a_batch_without_any():
    from ralib.losses import MaskedMSE

    pred = torch.tensor([[1.0, 9.0], [3.0, 9.0]], requires_grad=True)
    target = torch.tensor([[0.0, float("nan")], [1.0, float("nan")]])
    loss = MaskedMSE()(pred, target)
    assert loss.item() == pytest.approx((1 + 4) / 2)
    loss.backward()
    assert pred.grad[:, 1].abs().sum() == 0
    assert float(MaskedMSE()(pred, torch.full((2, 2), float("nan")))) == 0.0


def test_predictions_are_clipped_to_each_sites_range_and_listed_per_site():
    from ralib.tasks.region_scores import RegionScoreTask

    scores = _thumb_and_wrist_scores()
    table = pd.DataFrame({"radiograph_id": ["a", "b"], "hand": "LH", "joint": ["thumb", "thumb"], "split": ["train", "test"]})
    task = RegionScoreTask(np.zeros((2, 8, 8), np.uint8), table, scores, "fingers")
    decoded = task.decode({"outputs": np.array([[7.0, -1.0, 7.0, 7.0]])})
    assert decoded.tolist() == [[5.0, 0.0, 4.0, 4.0]]
    sites = task.site_table(decoded, "test")
    assert sites.site.tolist() == ["mcp_E__ip", "mcp_E__1", "mcp_J__1"]  # the thumb IP has no narrowing site
    assert sites.kind.tolist() == ["erosion", "erosion", "narrowing"] and sites.radiograph_id.tolist() == ["b"] * 3
    m = task.evaluate(decoded, "test")
    assert m["rmse narrowing"] == pytest.approx(4.0) and m["rmse erosion"] == pytest.approx(np.sqrt((25 + 0) / 2))


def test_challenge_measures_equal_hand_computed_values():
    from ralib.results import challenge_measures, distribution_baseline, fill_missing_sites, reference_sites

    scores = _thumb_and_wrist_scores()
    films = pd.DataFrame({"radiograph_id": ["a", "b"], "patient_id": ["pa", "pb"]})
    reference = reference_sites(scores, films)
    assert len(reference) == 2 * 31 and set(reference.kind) == {"erosion", "narrowing"} and reference.patient_id.iloc[0] == "pa"
    predicted = reference[["radiograph_id", "hand", "site"]].assign(prediction=reference.grade)
    predicted.loc[(predicted.radiograph_id == "a") & (predicted.site == "mcp_J__1"), "prediction"] = 3.0  # off by 2
    m = challenge_measures(predicted, reference)
    # narrowing: 30 sites, grades 1 (one site, error 2) and 0 (29 sites, exact): weights 1 and 1/29
    assert m["weighted rmse narrowing"] == pytest.approx(np.sqrt((1 * 4) / (1 + 29 / 29)))
    assert m["rmse narrowing"] == pytest.approx(np.sqrt(4 / 30)) and m["weighted rmse erosion"] == 0.0
    # overall: a 3 (label) against 5, b 0 against 0; both in severity class 0: plain mean of 2 and 0
    assert m["weighted absolute error overall"] == pytest.approx(1.0) and m["patients"] == 2
    partial = predicted.iloc[1:]
    with pytest.raises(ValueError, match="1 sites have no prediction"):
        challenge_measures(partial, reference)
    assert fill_missing_sites(predicted, reference, pd.Series(dtype=float))[1] == 0  # nothing to fill
    filled, n = fill_missing_sites(partial, reference, reference.groupby("site").grade.mean())
    assert n == 1 and filled.prediction.iloc[0] == pytest.approx(reference.groupby("site").grade.mean()[reference.site.iloc[0]])
    baseline = distribution_baseline(reference, reference, seed=0)  # each site drawn from its own grades only
    varied = baseline.site.isin(["mcp_E__ip", "mcp_J__1"])
    assert len(baseline) == len(reference) and (baseline.prediction[~varied] == 0).all()
    assert set(baseline.prediction[baseline.site == "mcp_E__ip"]) <= {0.0, 2.0}


def test_a_region_outside_its_hand_image_is_missing_not_an_empty_box():
    joints = np.full((1, len(anatomy.JOINT_NAMES), 4), np.nan)
    joints[0, anatomy.JOINT_NAMES.index("ip")] = [1.1, 0.2, 1.3, 0.3]  # beyond the image's right edge
    assert np.isnan(region_boxes(joints)[0, 0]).all()


def test_region_boxes_go_between_hand_image_and_film_and_into_a_crop_table():
    from ralib.tasks.detection import image_boxes, region_overlap, region_table
    from ralib.tasks.joint_boxes import film_boxes

    hands = pd.DataFrame({"radiograph_id": ["f", "f"], "hand": ["LH", "RH"], "x0": [0, 500], "y0": [10, 10], "x1": [500, 1000],
                          "y1": [1010, 1010]})  # fmt: skip
    boxes = np.random.default_rng(0).uniform(0, 0.5, (2, len(REGIONS), 4))
    boxes[..., 2:] += 0.5
    boxes[1, 3] = np.nan
    film = film_boxes(boxes, hands)
    assert np.allclose(image_boxes(film, hands), boxes, equal_nan=True) and film[1, 0, 0] >= 500
    table = region_table(film, hands)
    assert len(table) == 2 * len(REGIONS) - 1 and table.joint.iloc[:2].tolist() == ["thumb", "index"]
    assert "ring" not in table.joint[table.hand == "RH"].tolist()
    m = region_overlap(boxes, np.where(np.isnan(boxes), np.nan, boxes))
    assert m["iou"] == pytest.approx(1.0) and m["found"] == 1.0 and m["regions"] == 2 * len(REGIONS) - 1


def test_boxes_moved_into_the_exported_ra2dream_images_point_at_the_same_pixels(synthetic, tmp_path):
    from ralib.data import load_dataset
    from ralib.data.formats import ra2dream
    from ralib.data.io import read_radiograph
    from ralib.patches.box_crops import true_boxes

    root = ra2dream.export(synthetic, tmp_path / "ra2", exif_every=3)  # some JPEGs stored rotated, turned back by EXIF
    exported = load_dataset("ra2dream", root)
    boxes = true_boxes(synthetic)
    hands = boxes[["radiograph_id", "hand"]].drop_duplicates().reset_index(drop=True)
    film_boxes_ = np.stack([boxes[(boxes.radiograph_id == r) & (boxes.hand == h)][["x0", "y0", "x1", "y1"]].to_numpy(float)[:3]
                            for r, h in hands.itertuples(index=False)])  # fmt: skip
    moved = ra2dream.exported_boxes(synthetic, film_boxes_, hands)
    assert len(moved) == len(hands) and all(k.startswith("UAB") for k in moved)
    films = synthetic.radiographs.set_index("radiograph_id")
    images = exported.radiographs.set_index("radiograph_id")
    for n, (rid, hand) in enumerate(hands.itertuples(index=False)):
        key = f"{ra2dream.export_ids(synthetic)[rid]}-{hand}"
        film, image = read_radiograph(films.loc[rid]), read_radiograph(images.loc[key])
        for (fx0, fy0, fx1, fy1), (ex0, ey0, ex1, ey1) in zip(film_boxes_[n], moved[key]):
            a = film[int(fy0) : int(fy1), int(fx0) : int(fx1)]
            b = image[int(ey0) : int(ey1), int(ex0) : int(ex1)]
            assert a.shape == b.shape and np.abs(a.astype(float) - b.astype(float)).mean() < 0.03  # JPEG, not exact


def test_a_zoomed_hand_keeps_every_region_on_the_same_pixels():
    from ralib.tasks.detection import RegionDataset, zoom_to_regions

    images, boxes = _planted_hands(3, size=96)
    ramp = (torch.arange(96.0) + 0.5) / 96  # a pixel's value is its position: where a box's centre came from
    for i in range(3):
        box = torch.from_numpy(boxes[i]).float()
        centre = (box[:, :2] + box[:, 2:]) / 2
        for axis, image in ((0, ramp[None, None, :].expand(1, 96, 96)), (1, ramp[None, :, None].expand(1, 96, 96))):
            torch.manual_seed(i)  # the same zoom for both ramps
            zoomed, moved = zoom_to_regions(image.clone(), box)
            assert zoomed.shape == (1, 96, 96) and (moved >= -1e-6).all() and (moved <= 1 + 1e-6).all()
            new_centre = ((moved[:, :2] + moved[:, 2:]) / 2 * 96).long().clamp(0, 95)
            seen = zoomed[0, new_centre[:, 1], new_centre[:, 0]]
            assert torch.allclose(seen, centre[:, axis], atol=0.03) and not torch.allclose(moved, box)
    data = RegionDataset(images, boxes, "regions")
    assert len(data[0]) == 3 and data[0][1].shape == (len(REGIONS), 4)
    with pytest.raises(ValueError, match="unknown augmentation"):
        RegionDataset(images, boxes, "rotate")


def test_the_gate_maps_skip_a_model_whose_test_crops_show_no_damaged_joint():
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from ralib import plots
    from ralib.pipelines.deepra import DeepRA

    healthy = SimpleNamespace(rows=lambda split: np.arange(3), targets=np.zeros((3, 4)))
    shown = DeepRA.gate_maps({"finger": (healthy, None)})  # the model is never asked: nothing to show
    assert shown == []
    plt.close(plots.gate_maps(shown))  # an empty figure saying why, not torch's error on an empty stack
