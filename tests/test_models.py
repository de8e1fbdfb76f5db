"""The model registry and backbones: every backbone builds and trains, freezing freezes, local weights load."""

import pytest
import timm
import torch
import torchvision

from ralib.models import MODEL_NAMES, create_model, explainer_target, freeze, list_models, penultimate, register_model, unfreeze
from ralib.models.registry import model_card


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_builds_from_its_card_and_trains_one_step(name):
    """Forward and backward on the card's sample: every trainable parameter gets a gradient and the step moves
    the weights; the CAM layer a card declares runs in that forward (one that declares none is refused); each
    freezing scheme freezes what it names."""
    torch.manual_seed(0)
    card = model_card(name)
    model, inputs = card.sample()
    if card.explained:
        layer, reshape = explainer_target(model)
        seen = []
        layer.register_forward_hook(lambda module, args, out: seen.append((reshape or (lambda x: x))(out)))
    else:
        with pytest.raises(ValueError, match="explainer target"):
            explainer_target(model)
    before = {k: v.clone() for k, v in model.state_dict().items() if v.dtype.is_floating_point}
    model(*inputs).float().pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k in before)
    if card.explained:
        assert seen and seen[0].ndim == 4, "the explainer target did not give a (B, C, h, w) map"
    for scheme, modules in card.freezing.items():
        fresh, _ = card.sample()
        assert freeze(fresh, scheme) == list(modules)
        frozen = [p for m in modules for p in fresh.get_submodule(m).parameters()]
        assert frozen and not any(p.requires_grad for p in frozen), scheme


@pytest.mark.parametrize("name", list(MODEL_NAMES))
def test_the_papers_backbones_give_penultimate_features(name):
    model = create_model(name, num_outputs=3).eval()
    assert penultimate(model, torch.randn(2, 1, 64, 64)).shape[0] == 2


def test_the_registry_lists_the_papers_backbones_and_refuses_a_name_twice():
    assert set(MODEL_NAMES) <= set(list_models())
    with pytest.raises(ValueError, match="registered already"):
        register_model("alexnet")(lambda num_outputs, weights=None: torch.nn.Identity())


def test_a_registered_builder_is_what_create_model_builds(monkeypatch):
    from ralib.models import registry

    monkeypatch.setitem(registry._CARDS, "tiny", registry.ModelCard(lambda num_outputs, weights=None, pretrained="random", width=3: torch.nn.Linear(width, num_outputs)))
    model = create_model("tiny", 5, width=4)
    assert (model.in_features, model.out_features) == (4, 5)
    assert "tiny" in list_models()


def _train_step(model):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    model(torch.randn(4, 1, 64, 64)).pow(2).mean().backward()
    opt.step()


@pytest.mark.parametrize("name, scheme, frozen, trained", [
    ("resnet34", "RBs-1", ["conv1", "layer1"], ["layer2", "fc"]),
    ("resnet34", "RBs-2", ["conv1", "layer1", "layer2"], ["layer3", "fc"]),
    ("mobilenetv2_100", "IRBs-2", ["conv_stem", "blocks.1"], ["blocks.2", "classifier"]),
    ("mobilenetv2_100", "IRBs-3", ["conv_stem", "blocks.2"], ["blocks.3", "classifier"]),
])  # fmt: skip
def test_freezing_keeps_frozen_weights_and_statistics_and_unfreezing_releases_them(name, scheme, frozen, trained):
    model = create_model(name, 1)
    freeze(model, scheme)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train_step(model)
    after = model.state_dict()
    for prefix in frozen:  # weights and batch-norm running statistics alike
        keys = [k for k in before if k.startswith(prefix + ".")]
        assert keys and all(torch.equal(before[k], after[k]) for k in keys), prefix
    for prefix in trained:
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix + ".")), prefix
    unfreeze(model, scheme)
    assert all(p.requires_grad for p in model.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train_step(model)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items() if k.startswith(frozen[-1] + "."))


def test_unknown_freezing_scheme_names_the_choices():
    with pytest.raises(ValueError, match="RBs-1"):
        freeze(create_model("resnet34", 1), "IRBs-2")


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("resnet_9000", 1)


def test_imagenet_style_state_dict_loads_from_a_local_file(tmp_path):
    """A 3-channel, 1000-class checkpoint (as ImageNet weights are) starts a grey, 1-output model."""
    source = timm.create_model("resnet34", pretrained=False)
    path = tmp_path / "resnet34_imagenet.pth"
    torch.save(source.state_dict(), path)
    model = create_model("resnet34", 1, weights=path)
    assert torch.allclose(model.conv1.weight, source.conv1.weight.sum(1, keepdim=True))  # timm adapts the stem
    assert torch.equal(model.layer3[0].conv1.weight, source.layer3[0].conv1.weight)
    assert model.fc.out_features == 1 and model.fc.weight.abs().max() < 0.1  # a fresh small head


def test_torchvision_state_dict_loads_from_a_local_file(tmp_path):
    source = torchvision.models.alexnet(weights=None)
    path = tmp_path / "alexnet.pth"
    torch.save(source.state_dict(), path)
    model = create_model("alexnet", 2, weights=path)
    assert torch.equal(model.net.features[0].weight, source.features[0].weight)
    assert torch.equal(model.net.classifier[1].weight, source.classifier[1].weight)


def test_fresh_heads_are_small_for_every_model():
    """timm initialises MobileNet/EfficientNet single-output heads at +-1, which made SGD diverge."""
    for name in ("mobilenetv2_100", "efficientnet_b2", "resnet34", "alexnet"):
        model = create_model(name, 1)
        head = model.head if name == "alexnet" else model.get_classifier()
        assert head.weight.std() < 0.02 and not head.bias.any(), name


def test_load_matching_takes_names_with_or_without_a_prefix_and_refuses_a_foreign_file(tmp_path):
    from ralib.models.backbones import load_matching
    from ralib.models.joint_scorer import IdxPoolScorer

    encoder = timm.create_model("resnet18", pretrained=False, in_chans=1, num_classes=0)  # pretrained alone
    torch.save(encoder.state_dict(), tmp_path / "encoder.pt")
    scorer = IdxPoolScorer("resnet18", num_outputs=11)
    loaded = load_matching(scorer, tmp_path / "encoder.pt", prefixes=("backbone.",))
    assert "backbone.conv1.weight" in loaded and not any(name.startswith("head.") for name in loaded)
    assert torch.equal(scorer.backbone.layer4[1].conv2.weight, encoder.layer4[1].conv2.weight)
    torch.save({"net.features.0.weight": torch.zeros(64, 3, 11, 11)}, tmp_path / "wrapped.pt")
    net = torchvision.models.alexnet(weights=None)
    assert load_matching(net, tmp_path / "wrapped.pt", prefixes=("net.",)) == ["features.0.weight"]
    assert not net.features[0].weight.any()
    torch.save({"other.weight": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="no tensor matches"):
        load_matching(scorer, tmp_path / "foreign.pt")
