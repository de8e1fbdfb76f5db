"""Pretrained starts without a network: weight files written where the libraries cache them (the Hugging Face
cache's layout for timm, torch's hub folder for torchvision) or into a folder are found offline and loaded
into every family of model; a missing one stops the build with a message naming what to fetch."""

from pathlib import Path

import pytest
import timm
import torch
import torchvision
from huggingface_hub import constants as hub_constants
from safetensors.torch import save_file

from ralib.models import create_model
from ralib.models.detection import detector_file
from ralib.models.pretrained import MissingWeights, PretrainedFile, start_record, start_spec, timm_file, torchvision_file
from ralib.models.registry import pretrained_files


@pytest.fixture
def offline_caches(tmp_path, monkeypatch):
    """Empty Hugging Face and torch hub caches, and no network (``HF_HUB_OFFLINE=1``)."""
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch"))
    yield tmp_path
    torch.hub.set_dir(old)


def published_state(file: PretrainedFile) -> dict[str, torch.Tensor]:
    """Random weights in the shapes of the published file (3 channels, the published classes), all 0.01 apart
    from batch-norm statistics, so that a loaded tensor is recognisable."""
    if file.on_hugging_face:
        net = timm.create_model(file.name, pretrained=False, num_classes=timm.models.get_pretrained_cfg(file.name).num_classes)
    elif file.dataset == "COCO":
        net = torchvision.models.detection.retinanet_resnet50_fpn_v2(weights=None, weights_backbone=None)
    else:
        net = torchvision.models.get_model(file.name, weights=None, **({"aux_logits": True, "init_weights": True} if file.name == "googlenet" else {}))
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    return {k: torch.full_like(v, 0.01) if v.is_floating_point() and "running" not in k else v for k, v in state.items()}


def put_in_cache(file: PretrainedFile) -> None:
    """``file`` where its library caches it: ``models--<org>--<repo>/snapshots/<commit>/<filename>`` with
    ``refs/main`` naming the commit (Hugging Face), or ``<hub dir>/checkpoints/<filename>`` (torch)."""
    state = published_state(file)
    if file.on_hugging_face:
        repo = Path(hub_constants.HF_HUB_CACHE) / f"models--{file.hub.replace('/', '--')}"
        commit = "0" * 40
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        (repo / "snapshots" / commit).mkdir(parents=True)
        save_file(state, repo / "snapshots" / commit / file.filename)
    else:
        path = Path(torch.hub.get_dir()) / "checkpoints" / file.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)


# one model of every family: timm classifiers, torchvision classifiers, the smp U-Nets' timm encoders, the
# TinyViT scorer, the box regressor's EfficientNetV2, the gated EfficientNet, RetinaNet's ResNet (ImageNet)
# and its COCO detector; (name, outputs, options, a parameter name that the published file must fill)
FAMILIES = [
    ("resnet18", 1, {}, "layer1.0.conv1.weight"),
    ("googlenet", 3, {}, "net.inception3a.branch1.conv.weight"),
    ("landmark_unet", 4, {"encoder": "resnet18"}, "encoder.model.layer1.0.conv1.weight"),
    ("denoising_unet", 1, {"backbone": "resnet18"}, "encoder.model.layer1.0.conv1.weight"),
    ("idx_pool_scorer", 11, {"backbone": "tiny_vit_5m_224", "input_size": 64}, "backbone.stages.1.downsample.conv1.conv.weight"),
    ("box_regressor", 8, {"backbone": "tf_efficientnetv2_b0"}, "backbone.blocks.1.0.conv_exp.weight"),
    ("attention_gated", 2, {"backbone": "efficientnet_b0"}, "backbone.blocks.1.0.conv_pw.weight"),
    ("region_detector", 6, {"backbone": "resnet18", "image_size": 64}, "net.backbone.body.layer1.0.conv1.weight"),
    ("region_detector", 6, {"backbone": "resnet50", "image_size": 64}, "net.head.classification_head.conv.0.0.weight"),
]


@pytest.mark.parametrize("name, outputs, options, filled", FAMILIES, ids=lambda v: v if isinstance(v, str) else "")
def test_weights_in_the_hub_caches_load_offline_into_every_family(offline_caches, name, outputs, options, filled):
    for file in pretrained_files(name, **options):
        put_in_cache(file)
    torch.manual_seed(0)
    random = create_model(name, outputs, **options).eval()
    torch.manual_seed(0)
    pretrained = create_model(name, outputs, pretrained="imagenet", **options).eval()
    loaded = pretrained.state_dict()[filled]
    assert torch.equal(loaded, torch.full_like(loaded, 0.01))
    assert not torch.equal(random.state_dict()[filled], loaded)


def test_a_grey_first_convolution_sums_the_published_rgb_weights(offline_caches):
    for backbone, first in (("resnet18", "net.backbone.body.conv1.weight"), ("resnet50", "net.backbone.body.conv1.weight")):
        put_in_cache(detector_file(backbone))
        detector = create_model("region_detector", 6, pretrained="imagenet", backbone=backbone, image_size=64)
        weight = detector.state_dict()[first]
        assert weight.shape[1] == 1 and torch.allclose(weight, torch.full_like(weight, 0.03))


def test_weights_in_a_folder_are_found_by_the_networks_name(tmp_path, offline_caches):
    folder = tmp_path / "weights"
    folder.mkdir()
    save_file(published_state(timm_file("resnet18")), folder / "resnet18.safetensors")
    model = create_model("resnet18", 1, pretrained=str(folder))
    assert torch.equal(model.layer1[0].conv1.weight, torch.full_like(model.layer1[0].conv1.weight, 0.01))
    before = start_record(pretrained_files("resnet18"), str(folder))
    save_file({k: v * 2 for k, v in published_state(timm_file("resnet18")).items()}, folder / "resnet18.safetensors")
    assert start_record(pretrained_files("resnet18"), str(folder)) != before  # a replaced file is another start


def test_a_missing_file_is_named_with_where_to_get_it(tmp_path, offline_caches):
    with pytest.raises(MissingWeights, match=r"timm/tiny_vit_5m_224.dist_in22k.*model.safetensors") as offline:
        create_model("idx_pool_scorer", 11, pretrained="imagenet", backbone="tiny_vit_5m_224")
    assert "HF_HUB_OFFLINE" in str(offline.value)
    with pytest.raises(MissingWeights, match=r"retinanet_resnet50_fpn_v2_coco-5905b1c5.pth \(into .*torch/checkpoints\)"):
        create_model("region_detector", 6, pretrained="imagenet", backbone="resnet50")
    with pytest.raises(MissingWeights, match=r"googlenet \(ImageNet\).*googlenet.safetensors / googlenet.pth"):
        create_model("googlenet", 3, pretrained=str(tmp_path))


def test_a_model_without_a_pretrained_start_and_a_misspelt_start_are_refused():
    with pytest.raises(ValueError, match="attention_mil has no pretrained start"):
        create_model("attention_mil", 1, pretrained="imagenet", in_dim=8)
    with pytest.raises(ValueError, match="neither random, imagenet nor a folder"):
        start_spec("/no/such/folder")
    assert torchvision_file("retinanet_resnet50_fpn_v2").dataset == "COCO"


def test_a_notebook_setting_stops_before_training_when_a_start_is_missing(offline_caches):
    from ralib.config import get_profile
    from ralib.pipelines.deepra import DeepRA
    from ralib.pipelines.whole_image import WholeImage

    # the detector's ResNet-18 and the finger and wrist models' EfficientNet-B0, named once
    with pytest.raises(MissingWeights, match=r"(?s)2 pretrained file\(s\).*resnet18-f37072fd.pth.*timm/efficientnet_b0") as missing:
        DeepRA(None, get_profile("cpu"), Path("."), weights="imagenet")  # before its films are even read
    assert missing.value.args[0].count("\n  - ") == 2
    assert WholeImage(None, get_profile("cpu"), Path(".")).weights == "random"  # the profile's default
    assert get_profile("paper").weights == "imagenet"
    with pytest.raises(ValueError, match="neither random, imagenet nor a folder"):
        WholeImage(None, get_profile("cpu"), Path("."), weights="ImageNet-1k")
