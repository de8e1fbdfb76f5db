"""RheumaVIT's pieces: coordinate channels, box regression, soft grade targets, the masked focal loss,
idx pooling and attention rollout for windowed attention."""

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from ralib import anatomy
from ralib.losses import JointGradeLoss, neighbour_smoothed, soft_focal_loss
from ralib.models.joint_scorer import BoxRegressor, CoordChannels, IdxPoolScorer, idx_pool
from ralib.explain.rollout import downsample_matrix, rollout, tinyvit_attention, tinyvit_rollout, window_attention_matrix


def test_coord_channels_add_x_and_y_from_minus_one_to_one():
    images = torch.rand(2, 1, 5, 7)
    out = CoordChannels()(images)
    assert out.shape == (2, 3, 5, 7) and torch.equal(out[:, :1], images)
    x, y = out[0, 1], out[0, 2]
    assert x.min() == -1 and x.max() == 1 and y.min() == -1 and y.max() == 1
    assert torch.equal(x[0], x[4]) and x[0, 0] < x[0, 6]  # x grows to the right, the same on every row
    assert torch.equal(y[:, 0], y[:, 6]) and y[0, 0] < y[4, 0]  # y grows downwards


def test_the_box_regressor_returns_boxes_that_are_never_inverted():
    model = BoxRegressor("resnet18", n_boxes=21).eval()
    boxes = model(torch.rand(2, 1, 64, 64))
    assert boxes.shape == (2, 21, 4)
    assert (boxes[..., 2] >= boxes[..., 0]).all() and (boxes[..., 3] >= boxes[..., 1]).all()


def test_soft_targets_sum_to_one_and_put_one_minus_p_between_two_neighbours():
    soft = neighbour_smoothed(torch.arange(6), 6, p=0.4)
    assert torch.allclose(soft.sum(1), torch.ones(6))
    assert soft[3].tolist() == pytest.approx([0, 0, 0.2, 0.6, 0.2, 0])  # two neighbours: 1 - p on the grade
    assert soft[0].tolist() == pytest.approx([0.8, 0.2, 0, 0, 0, 0])  # one neighbour: 1 - p / 2
    assert soft[5].tolist() == pytest.approx([0, 0, 0, 0, 0.2, 0.8])
    with pytest.raises(ValueError, match="0-5"):
        neighbour_smoothed(torch.tensor([6]), 6)


def test_focal_loss_on_a_one_hot_target_is_the_textbook_focal_loss():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    q = torch.softmax(logits, 1)[0, 0]
    expected = -((1 - q) ** 2) * torch.log(q)
    assert soft_focal_loss(logits, torch.tensor([[1.0, 0.0, 0.0]])).item() == pytest.approx(expected.item())
    # a confident right answer costs less than an unsure one, a wrong one most
    sure, unsure, wrong = (soft_focal_loss(torch.tensor([l]), torch.tensor([[1.0, 0, 0]])).item()
                           for l in ([5.0, 0, 0], [0.5, 0, 0], [0, 5.0, 0]))  # fmt: skip
    assert sure < unsure < wrong


def test_the_masked_loss_ignores_joints_without_that_site():
    loss = JointGradeLoss((6, 5))
    logits = torch.randn(3, 11, requires_grad=True)
    targets = torch.tensor([[2, -1], [-1, 3], [0, 1]])  # joint 0 has no JSN site, joint 1 no erosion site
    loss(logits, targets).backward()
    assert logits.grad[0, 6:].abs().sum() == 0 and logits.grad[1, :6].abs().sum() == 0
    assert logits.grad[0, :6].abs().sum() > 0 and logits.grad[2].abs().min() > 0
    moved = logits.detach().clone()
    moved[0, 6:] += 10.0  # what joint 0 says about JSN does not matter
    assert loss(moved, targets).item() == pytest.approx(loss(logits.detach(), targets).item())
    nothing = JointGradeLoss((6, 5))(logits, torch.full((3, 2), -1))
    assert nothing.item() == 0 and nothing.requires_grad  # a batch without sites still backpropagates
    with pytest.raises(ValueError, match="heads"):
        loss(torch.zeros(3, 10), targets)


def test_idx_pooling_picks_the_top_left_vector():
    features = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    assert torch.equal(idx_pool(features), features[:, :, 0, 0])
    assert torch.equal(idx_pool(features.permute(0, 2, 3, 1), channels_last=True), features[:, :, 0, 0])
    scorer = IdxPoolScorer("tiny_vit_5m_224", num_outputs=11).eval()
    images = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(scorer.features(images), scorer.backbone.forward_features(images)[:, :, 0, 0])
        assert scorer(images).shape == (2, 11)


def test_rollout_of_uniform_attention_is_uniform_and_of_identity_attention_is_the_pooled_tokens_field():
    h = w = 4
    uniform = torch.full((h * w, h * w), 1 / (h * w))
    steps = [("attention", uniform), ("downsample", downsample_matrix(h, w)), ("attention", torch.eye(4))]
    field = rollout(steps, residual=0.0)
    assert field.shape == (4, 16) and torch.allclose(field.sum(1), torch.ones(4))
    assert torch.allclose(field[0], torch.full((16,), 1 / 16))
    identity = rollout([("attention", torch.eye(16)), ("downsample", downsample_matrix(h, w))])
    # the top-left output token of a 3x3 stride-2 convolution (padding 1) sees the input's top-left 2 x 2
    assert identity[0].reshape(4, 4)[:2, :2].flatten().tolist() == [0.25] * 4 and identity[0].sum() == pytest.approx(1)


def test_window_attention_keeps_attention_inside_windows_and_drops_padding():
    probs = torch.full((4, 2, 9, 9), 1 / 9)  # a 5 x 5 grid in windows of 3, padded to 6 x 6: four windows
    matrix = window_attention_matrix(probs, 5, 5, 3)
    assert matrix.shape == (25, 25) and torch.allclose(matrix.sum(1), torch.ones(25))
    assert matrix[0].reshape(5, 5)[:3, :3].sum() == pytest.approx(1)  # token (0, 0) sees its window only
    assert matrix[24].reshape(5, 5)[3:, 3:].flatten().tolist() == pytest.approx([0.25] * 4)  # 4 real keys of 9
    with pytest.raises(ValueError, match="windows of"):
        window_attention_matrix(probs[:3], 5, 5, 3)


def test_tinyvit_attention_is_captured_exactly_and_rolled_out_to_a_map_per_image():
    torch.manual_seed(0)
    backbone = IdxPoolScorer("tiny_vit_5m_224", num_outputs=11).backbone.eval()
    images = torch.rand(2, 1, 64, 64)
    records = tinyvit_attention(backbone, images)
    blocks = [r for r in records if "probs" in r]
    assert blocks and any("downsample" in r for r in records)
    for r in blocks:
        assert torch.allclose(r["probs"].sum(-1), torch.ones(()), atol=1e-5)
    # the captured attention reproduces the layer's own output (timm's unfused path: attn @ v, then proj)
    block = next(b for s in backbone.stages for b in getattr(s, "blocks", []) if hasattr(b, "attn"))
    attn, captured = block.attn, blocks[0]
    n = captured["window"] ** 2
    x = torch.randn(3, n, attn.norm.normalized_shape[0])
    with torch.no_grad():
        from ralib.explain.rollout import _attention_probs

        v = attn.qkv(attn.norm(x)).view(3, n, attn.num_heads, -1)[..., 2 * attn.key_dim :].permute(0, 2, 1, 3)
        mine = attn.proj((_attention_probs(attn, x) @ v).transpose(1, 2).reshape(3, n, attn.out_dim))
        assert torch.allclose(mine, attn(x), atol=1e-5)
    maps = tinyvit_rollout(backbone, images)
    assert maps.shape == (2, 64, 64) and np.allclose(maps.sum((1, 2)), 1) and (maps >= 0).all()
    assert not np.allclose(maps[0], maps[1])  # each image its own map


def test_tinyvit_windows_tile_its_feature_maps_and_rollout_follows_them():
    from torch.utils.flop_counter import FlopCounterMode

    padded, tiled = (IdxPoolScorer("tiny_vit_5m_224", 11, input_size=size).eval() for size in (None, 64))
    windows = [b.window_size for s in tiled.backbone.stages for b in getattr(s, "blocks", []) if hasattr(b, "window_size")]
    assert sorted(set(windows), reverse=True) == [4, 2]  # 8 x 8 and 4 x 4 maps in windows of 4, the 2 x 2 map in one of 2
    images = torch.rand(2, 1, 64, 64)
    flops = {}
    for name, scorer in (("padded", padded), ("tiled", tiled)):
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            assert scorer(images).shape == (2, 11)
        flops[name] = counter.get_total_flops()
    assert flops["tiled"] < 0.4 * flops["padded"]  # most of the padded model's arithmetic is padding
    maps = tinyvit_rollout(tiled.backbone, images)
    assert maps.shape == (2, 64, 64) and np.allclose(maps.sum((1, 2)), 1)


# --- the box regression task --------------------------------------------------------------------------

from torchvision.ops import box_iou, distance_box_iou_loss  # noqa: E402

from ralib.tasks.joint_boxes import BoxLoss, BoxTask, box_iou_pairs, box_metrics, film_boxes, hand_joint_boxes, localised  # noqa: E402


def test_diou_after_the_mse_epochs_is_torchvisions_and_the_known_value():
    a, b = torch.tensor([[[0.0, 0.0, 2.0, 2.0]]]), torch.tensor([[[1.0, 1.0, 3.0, 3.0]]])
    loss = BoxLoss(mse_epochs=2)
    loss.set_epoch(1)
    assert loss(a, b).item() == pytest.approx(1.0)  # MSE of the corners: every corner 1 off
    loss.set_epoch(2)
    # 1 - IoU + squared centre distance / squared diagonal of the enclosing box: 1 - 1/7 + 2/18
    assert loss(a, b).item() == pytest.approx(1 - 1 / 7 + 2 / 18)
    assert loss(a, b).item() == pytest.approx(distance_box_iou_loss(a[0], b[0], reduction="mean").item())
    loss.set_epoch(None)  # validation: the final loss whatever the epoch
    assert loss(a, b).item() == pytest.approx(1 - 1 / 7 + 2 / 18)
    with_unknown = torch.cat([b, torch.full((1, 1, 4), float("nan"))], dim=1)
    assert loss(torch.cat([a, a], dim=1), with_unknown).item() == pytest.approx(1 - 1 / 7 + 2 / 18)


def test_pairwise_iou_and_the_localisation_rule():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 1, (2, 30, 2, 2))
    a, b = (np.concatenate([c.min(1), c.max(1)], axis=1) for c in corners)
    np.testing.assert_allclose(box_iou_pairs(a, b), np.diag(box_iou(torch.tensor(a), torch.tensor(b)).numpy()), atol=1e-9)
    true = np.array([0.4, 0.4, 0.6, 0.5])  # 0.2 wide, 0.1 high: centres within 0.2 across and 0.1 down count
    shifted = lambda dx, dy: true + [dx, dy, dx, dy]  # noqa: E731
    assert localised(shifted(0.19, 0.09), true) and not localised(shifted(0.21, 0.0), true) and not localised(shifted(0, 0.11), true)
    metrics = box_metrics(np.stack([true, shifted(0.3, 0)])[None], np.stack([true, true])[None])
    assert metrics["localisation_accuracy"] == 0.5 and metrics["iou"] == pytest.approx(0.5)


def test_hand_boxes_follow_the_seam_split_and_go_back_onto_the_film(synthetic):
    from ralib.data.arrays import hand_array

    images, hands = hand_array(synthetic, 64, progress=False, cache=False)
    boxes = hand_joint_boxes(synthetic, hands)
    assert boxes.shape == (len(hands), 21, 4) and np.isfinite(boxes).all()
    centres = (boxes[..., :2] + boxes[..., 2:]) / 2
    assert ((centres > 0) & (centres < 1)).all()  # every joint lies inside its own hand's image
    s = synthetic.scores[(synthetic.scores.scheme == "box")].drop_duplicates(["radiograph_id", "hand", "site"]).set_index(["radiograph_id", "hand", "site"])
    back = film_boxes(boxes, hands)
    row = hands.iloc[3]
    expected = s.loc[(row.radiograph_id, row.hand, "mcp2"), ["x0", "y0", "x1", "y1"]].to_numpy(float)
    np.testing.assert_allclose(back[3, list(anatomy.JOINT_NAMES).index("mcp2")], expected, atol=1e-6)


def test_a_flipped_training_image_carries_its_boxes_along():
    images = np.zeros((1, 32, 32), np.float16)
    images[0, 4:8, 2:6] = 1.0  # a bright joint at x 2-6, y 4-8
    boxes = np.array([[[2 / 32, 4 / 32, 6 / 32, 8 / 32]]])
    task = BoxTask(images, boxes, pd.DataFrame({"split": ["train"]}))
    data = task.dataset("train", "boxes")
    torch.manual_seed(0)
    for _ in range(8):
        image, box = data[0]
        x0, y0, x1, y1 = (box[0] * 32).round().int().tolist()
        inside = image[0, y0:y1, x0:x1]
        assert (inside > inside.new_tensor(image[0].min().item())).all()  # the box still covers the bright joint


def test_the_box_regressor_trains_with_mse_first_then_diou(synthetic):
    from ralib.data.arrays import hand_array
    from ralib.train import build_model, fit
    from ralib.train.fit import TrainConfig

    images, hands = hand_array(synthetic, 64, progress=False, cache=False)
    hands = hands.assign(split=np.where(np.arange(len(hands)) < 8, "train", "val"))
    seen = []

    class Spy(BoxLoss):
        def set_epoch(self, epoch):
            seen.append(epoch)
            super().set_epoch(epoch)

    task = BoxTask(images, hand_joint_boxes(synthetic, hands), hands, mse_epochs=1)
    task.loss = lambda name=None: Spy(1)
    config = TrainConfig("box_regressor", 2, 4, "box", "adamw", 1e-3, 1e-2, 0.0, "boxes", clip=1.0,
                         model_options=(("backbone", "resnet18"),))  # fmt: skip
    fitted = fit(build_model(config, task.num_outputs), task, config, progress=False)
    assert seen == [0, None, 1, None]  # training epochs in turn, validation always the final loss
    boxes = fitted.predict(task, "val")
    assert boxes.shape == (4, 21, 4) and set(task.evaluate(boxes, "val")) >= {"iou", "localisation_accuracy"}
    assert len(fitted.history) == 2 and np.isfinite(fitted.history.valid_loss).all()


# --- crops at joint boxes ----------------------------------------------------------------------------


def test_box_crops_show_their_box_in_the_middle_with_the_experts_grades(synthetic):
    from ralib.data.arrays import stretch
    from ralib.data.io import read_radiograph
    from ralib.data.loaders import grown_centre
    from ralib.patches.box_crops import box_crop_cache, true_boxes

    boxes = true_boxes(synthetic)
    assert len(boxes) == len(synthetic.radiographs) * 42
    cache = box_crop_cache(synthetic, boxes, 64, progress=False)
    t = cache.table
    assert cache.images.shape == (len(boxes), 64, 64) and list(t.joint) == list(boxes.joint)
    assert (t.loc[t.joint == "cmc3", "erosion_site"] == "").all() and (t.loc[t.joint == "ulna", "jsn_site"] == "").all()
    assert t.loc[t.erosion_site != "", "erosion_grade"].notna().all() and t.loc[t.jsn_site != "", "jsn_reader_3"].notna().all()
    assert t.loc[t.erosion_site == "", "erosion_grade"].isna().all()
    # a crop is the square of four box sides around the box's centre on the film; its middle quarter the box
    row = t.iloc[50]
    film = stretch(read_radiograph(synthetic.radiographs[synthetic.radiographs.radiograph_id.astype(str) == row.radiograph_id].iloc[0]))
    side = 4 * max(row.x1 - row.x0, row.y1 - row.y0)
    x0, y0 = int(round((row.x0 + row.x1 - side) / 2)), int(round((row.y0 + row.y1 - side) / 2))
    direct = cv2.resize(film[y0 : y0 + int(side), x0 : x0 + int(side)].astype(np.float32), (16, 16), interpolation=cv2.INTER_AREA)
    assert np.corrcoef(direct.ravel(), grown_centre(cache.crops(50), 4.0, 4.0, 16).ravel())[0, 1] > 0.95
    assert np.array_equal(grown_centre(cache.crops(50), 1.0, 4.0, 16), cv2.resize(cache.crops(50)[24:40, 24:40], (16, 16)))
    again = box_crop_cache(synthetic, boxes, 64, progress=False)
    moved = box_crop_cache(synthetic, boxes.assign(x0=boxes.x0 - 2, x1=boxes.x1 - 2), 64, variant="regressed", progress=False)
    assert again.folder == cache.folder != moved.folder and moved.meta["variant"] == "regressed"
    with pytest.raises(ValueError, match="missing corners"):
        box_crop_cache(synthetic, boxes.assign(x0=np.nan), 64, progress=False)


# --- the joint grade task ----------------------------------------------------------------------------

from ralib.tasks.joint_grades import JointGradeTask, add_aggregates, sampling_weights  # noqa: E402


def _grade_table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    erosion = rng.choice(6, n, p=[0.6, 0.2, 0.1, 0.05, 0.03, 0.02])
    table = pd.DataFrame({"split": np.where(np.arange(n) < 40, "train", np.where(np.arange(n) < 50, "val", "test")),
                          "erosion_site": np.where(np.arange(n) % 5 == 4, "", "mcp2"), "jsn_site": "mcp2",
                          "erosion_grade": erosion.astype(float), "jsn_grade": rng.integers(0, 5, n).astype(float)})  # fmt: skip
    table.loc[table.erosion_site == "", "erosion_grade"] = np.nan
    images = rng.integers(0, 255, (n, 32, 32)).astype(np.uint8)
    return images, table


def test_rare_grades_are_drawn_as_often_as_common_ones():
    images, table = _grade_table(400)
    task = JointGradeTask(images, table.assign(split="train"), heads=("erosion",), input_size=8, epoch_size=3000)
    weights = sampling_weights(task.targets)
    assert weights[task.targets[:, 0] == 5].min() > weights[task.targets[:, 0] == 0].max() and (weights[task.targets[:, 0] < 0] == 0).all()
    torch.manual_seed(0)
    data = task.dataset("train", "joints")
    drawn = np.bincount([int(data[i][1][0]) for i in range(len(data))], minlength=6)
    assert len(data) == 3000 and drawn.min() > 0.6 * drawn.max()  # balanced, where the data hold 60 % zeros


def test_evaluation_crops_show_two_and_a_half_box_sides_and_the_measures_are_class_weighted():
    from ralib.data.loaders import grown_centre

    images, table = _grade_table()
    task = JointGradeTask(images, table, input_size=8)
    image, target = task.dataset("val")[0]
    row = task.rows("val")[0]
    expected = (grown_centre(images[row].astype(np.float32) / 255, 2.5, 4.0, 8) - task.pixel_mean) / task.pixel_sd
    assert np.allclose(image[0].numpy(), expected, atol=1e-5) and target.tolist() == task.targets[row].tolist()
    rows = task.rows("test")
    perfect = np.zeros((len(rows), 11))
    perfect[np.arange(len(rows)), np.maximum(task.targets[rows, 0], 0)] = 1
    perfect[np.arange(len(rows)), 6 + task.targets[rows, 1]] = 1
    measures = task.evaluate(perfect)
    assert measures["erosion_accuracy"] == 1 and measures["jsn_mae"] == 0 and measures["erosion_n"] == 8
    always_zero = np.zeros_like(perfect)
    always_zero[:, 0] = always_zero[:, 6] = 1
    present = np.unique(task.targets[rows, 1])
    assert task.evaluate(always_zero)["jsn_accuracy"] == pytest.approx(1 / len(present))  # one class right of those present


def test_expert_aggregates_are_added_per_head_over_the_scored_joints():
    table = pd.DataFrame({"erosion_site": ["ip", "ip", ""], "jsn_site": ["ip", "", "cmc3"],
                          "erosion_reader_1": [1, 2, np.nan], "erosion_reader_2": [1, 3, np.nan], "erosion_reader_3": [0, 3, np.nan],
                          "jsn_reader_1": [0, np.nan, 4], "jsn_reader_2": [1, np.nan, 4], "jsn_reader_3": [1, np.nan, 3]})  # fmt: skip
    out = add_aggregates(table, ("majority", "rounded_mean"))
    assert out.erosion_majority.tolist()[:2] == [1, 3] and np.isnan(out.erosion_majority[2])
    assert out.jsn_rounded_mean.tolist()[0] == 1 and np.isnan(out.jsn_majority[1]) and out.jsn_majority[2] == 4


def test_the_scorer_trains_in_two_stages_frozen_backbone_then_everything(tmp_path):
    from dataclasses import replace

    from ralib.train import build_model, fit
    from ralib.train.fit import TrainConfig

    images, table = _grade_table()
    task = JointGradeTask(images, table, input_size=32, epoch_size=16)
    first = TrainConfig("idx_pool_scorer", 1, 8, "focal", "adamw", 1e-3, 1e-2, 0.0, "joints", freeze="backbone", clip=1.0,
                        model_options=(("backbone", "resnet18"),))  # fmt: skip
    frozen = fit(build_model(first, task.num_outputs), task, first, tmp_path, progress=False)
    assert not any(p.requires_grad for p in frozen.model.backbone.parameters())
    second = replace(first, freeze=None, lr=5e-5, weights=str(frozen.checkpoint), tag="stage 2")
    model = build_model(second, task.num_outputs)
    assert torch.equal(model.head[0].weight, frozen.model.head[0].weight)  # the second stage starts where the first ended
    assert all(p.requires_grad for p in model.parameters())
    tuned = fit(model, task, second, tmp_path, progress=False)
    probabilities = tuned.predict(task, "test")
    assert probabilities.shape == (10, 11) and np.allclose(probabilities[:, :6].sum(1), 1)


def test_boxes_from_the_true_landmarks_find_the_annotated_joints(synthetic):
    from ralib.data.arrays import hand_array
    from ralib.tasks.joint_boxes import boxes_table, implied_boxes, landmark_boxes
    from ralib.landmarks.points import film_landmarks

    _, hands = hand_array(synthetic, 32, progress=False, cache=False)
    true = film_boxes(hand_joint_boxes(synthetic, hands), hands)
    from_landmarks = landmark_boxes(synthetic, film_landmarks(synthetic)[0], hands)
    assert from_landmarks.shape == true.shape and np.isfinite(from_landmarks).all()
    implied = implied_boxes(synthetic, hands)  # no localiser given: the true landmarks' boxes alone
    assert list(implied) == ["true"] and np.array_equal(implied["true"], from_landmarks)
    assert box_metrics(from_landmarks, true)["localisation_accuracy"] > 0.95
    table = boxes_table(true, hands)
    assert len(table) == len(hands) * 21 and list(table.joint[:2]) == ["ip", "dip2"]
    assert table[["x0", "y0", "x1", "y1"]].iloc[21].tolist() == true[1, 0].tolist()


def test_oversized_boxes_shrink_about_their_centres_and_others_stay():
    from ralib.tasks.joint_boxes import limit_box_size

    boxes = np.array([[10.0, 10.0, 30.0, 20.0], [0.0, 0.0, 500.0, 300.0]])
    limited = limit_box_size(boxes, 100)
    assert limited[0].tolist() == boxes[0].tolist()
    assert limited[1].tolist() == [200.0, 100.0, 300.0, 200.0]  # 100 x 100 about the centre (250, 150)


def test_the_grade_table_takes_each_films_split_and_keeps_only_the_first_validation_films():
    from ralib.tasks.joint_grades import split_grade_table

    crops = pd.DataFrame({"radiograph_id": ["a", "a", "b", "c", "d", "e"], "split": "stale", "erosion_site": "ip", "jsn_site": "ip",
                          **{f"erosion_reader_{k}": [0, 1, 2, 3, 4, 5] for k in (1, 2, 3)},
                          **{f"jsn_reader_{k}": [0, 1, 2, 3, 4, 4] for k in (1, 2, 3)}})  # fmt: skip
    films = pd.DataFrame({"radiograph_id": ["a", "b", "c", "d"], "split": ["train", "val", "val", "test"]})
    table = split_grade_table(crops, films, val_films=1)
    assert table.split.tolist() == ["train", "train", "val", "unused", "test", "unused"]  # c: 2nd val film; e: no split
    assert table.erosion_dawid_skene.tolist() == [0, 1, 2, 3, 4, 5]  # unanimous experts: every aggregate agrees
    assert split_grade_table(crops, films).split.tolist()[3] == "val"


def test_rollout_follows_planted_attention_through_the_blocks():
    h = w = 4
    to_right = torch.zeros(16, 16)  # block 1: every token attends only to its right neighbour (the last column to itself)
    for r in range(h):
        for c in range(w):
            to_right[r * w + c, r * w + min(c + 1, w - 1)] = 1
    to_five = torch.zeros(16, 16)
    to_five[:, 5] = 1  # block 2: every token attends only to token 5, i.e. (1, 1)
    field = rollout([("attention", to_right), ("attention", to_five)], residual=0.0)
    assert field[0].argmax() == 6 and field[0, 6] == 1  # (1, 1) drew on (1, 2)
    half = rollout([("attention", to_right), ("attention", to_five)], residual=0.5)[0].reshape(4, 4)
    # with the residual path, token 0 keeps a quarter of itself, a quarter of its neighbour, and half goes via token 5
    assert half[0, 0] == pytest.approx(0.25) and half[0, 1] == pytest.approx(0.25)
    assert half[1, 1] == pytest.approx(0.25) and half[1, 2] == pytest.approx(0.25)


# --- self-supervised pretraining: restoring corrupted crops --------------------------------------------


def test_corruption_deforms_cuts_out_and_adds_noise_and_repeats_for_a_validation_crop():
    from ralib.tasks.denoising import DenoisingTask, corrupt

    torch.manual_seed(0)
    ramp = torch.linspace(-1, 1, 32).expand(1, 32, 32).clone()
    quiet = corrupt(ramp, noise_sd=0.0)
    assert quiet.shape == ramp.shape and not torch.equal(quiet, ramp)
    assert (quiet == 0).sum() >= 0.02 * 32 * 32  # at least one rectangle set to the mean
    noisy = corrupt(torch.zeros(1, 32, 32), noise_sd=0.5)
    assert 0.35 < float(noisy[noisy != 0].std()) < 0.65
    images = np.random.default_rng(0).integers(0, 255, (6, 32, 32)).astype(np.uint8)
    task = DenoisingTask(images, pd.DataFrame({"split": ["train"] * 4 + ["val"] * 2}), input_size=16)
    val = task.dataset("val")
    assert torch.equal(val[1][0], val[1][0]) and not torch.equal(val[0][0], val[1][0])  # the same corruption each epoch
    train = task.dataset("train", augment="joints")
    assert not torch.equal(train[0][0], train[0][0])  # drawn anew


def test_denoising_pretraining_restores_better_than_nothing_and_its_encoder_starts_the_scorer(tmp_path):
    from ralib.models import create_model
    from ralib.tasks.denoising import DenoisingTask
    from ralib.train import build_model, fit, recipes

    rng = np.random.default_rng(0)  # smooth blobs: something an encoder can learn to restore
    yy, xx = np.mgrid[:48, :48]
    images = np.stack([np.clip(255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s**2)), 0, 255)
                       for cx, cy, s in rng.uniform((12, 12, 5), (36, 36, 12), (40, 3))]).astype(np.uint8)  # fmt: skip
    task = DenoisingTask(images, pd.DataFrame({"split": ["train"] * 32 + ["val"] * 8}), input_size=32, epoch_size=256)
    config = recipes.rheumavit_denoising("resnet18", 3, 16)
    fitted = fit(build_model(config, task.num_outputs), task, config, tmp_path, progress=False)
    m = task.evaluate(fitted.predict(task, "val"), "val")
    assert m["n"] == 8 and m["l1_restored"] < 0.8 * m["l1_corrupted"]
    scorer = create_model("idx_pool_scorer", 11, weights=str(fitted.checkpoint), backbone="resnet18")
    encoder = fitted.model.encoder.model.state_dict()
    assert encoder and all(torch.equal(scorer.backbone.state_dict()[name], value) for name, value in encoder.items())
    assert scorer.head[0].weight.shape == (512, 512)  # the head starts fresh


def test_a_data_set_without_joint_boxes_gets_those_its_landmarks_imply_graded_by_their_sites(synthetic):
    from ralib import anatomy
    from ralib.data.annotations import MissingAnnotations
    from ralib.data.model import RADataset
    from ralib.landmarks.points import film_landmarks
    from ralib.tasks.joint_boxes import landmark_boxes, with_landmark_boxes, with_localiser_boxes

    s = synthetic.scores
    bare = RADataset("bare", synthetic.radiographs, s[s.scheme == "svdh"].drop(columns=["x0", "y0", "x1", "y1"]), None)
    with pytest.raises(MissingAnnotations, match="bare has no joint boxes, which notebook 09 needs: give LOCALISER"):
        with_localiser_boxes(bare, None, "notebook 09")
    landmarks = film_landmarks(synthetic)[0]
    boxed = with_landmark_boxes(bare, landmarks)
    rid = str(synthetic.radiographs.radiograph_id.iloc[0])
    rows = boxed.scores[(boxed.scores.scheme == "box") & (boxed.scores.radiograph_id == rid) & (boxed.scores.hand == "LH")]
    assert set(rows.site) == set(anatomy.JOINT_NAMES) and len(rows) == 2 * len(anatomy.JOINT_NAMES)
    sites = bare.scores[(bare.scores.radiograph_id == rid) & (bare.scores.hand == "LH")].set_index("site")
    pooled = anatomy.pool_to_joints(sites.grade.to_dict())
    for row in rows.itertuples():
        expected = pooled[row.site][row.kind]
        assert (pd.isna(row.grade) if expected is None else row.grade == expected), (row.site, row.kind)
    hands = pd.DataFrame({"radiograph_id": [rid], "hand": ["LH"]})
    box = landmark_boxes(bare, landmarks, hands)[0, anatomy.JOINT_NAMES.index("mcp2")]
    assert np.allclose(rows[rows.site == "mcp2"][["x0", "y0", "x1", "y1"]].to_numpy()[0], box)
    assert with_localiser_boxes(synthetic, None, "notebook 09") is synthetic  # boxes of its own: kept as they are
