"""RheumaVIT's pieces: coordinate channels, box regression, soft grade targets, the masked focal loss,
idx pooling and attention rollout for windowed attention."""

import numpy as np
import pytest
import torch

from ralib.losses import JointGradeLoss, neighbour_smoothed, soft_focal_loss
from ralib.models.joint_scorer import BoxRegressor, CoordChannels, IdxPoolScorer, idx_pool
from ralib.rollout import downsample_matrix, rollout, tinyvit_attention, tinyvit_rollout, window_attention_matrix


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
        from ralib.rollout import _attention_probs

        v = attn.qkv(attn.norm(x)).view(3, n, attn.num_heads, -1)[..., 2 * attn.key_dim :].permute(0, 2, 1, 3)
        mine = attn.proj((_attention_probs(attn, x) @ v).transpose(1, 2).reshape(3, n, attn.out_dim))
        assert torch.allclose(mine, attn(x), atol=1e-5)
    maps = tinyvit_rollout(backbone, images)
    assert maps.shape == (2, 64, 64) and np.allclose(maps.sum((1, 2)), 1) and (maps >= 0).all()
    assert not np.allclose(maps[0], maps[1])  # each image its own map
