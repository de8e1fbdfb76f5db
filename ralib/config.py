"""Profiles and paths: the only home of sizes in the repository.

Three named profiles size every notebook, and a fourth checks the third:

- ``smoke``: seconds per notebook, for the test suite;
- ``cpu``: a laptop, minutes per notebook, results worth reading;
- ``paper``: the papers' sizes, for a GPU;
- ``paper-check``: the paper profile's image sizes, models and batch sizes on a handful of films, two batches
  a training, from random weights (:func:`dry_run`): what shows on a CPU that ``paper`` starts and runs
  through, and what it will cost on a GPU.

Image sizes, data-set sizes, epochs, batch sizes and model lists live here and nowhere else;
notebooks read them through :func:`get_profile`.

Example:
    >>> from ralib.config import get_profile
    >>> get_profile("smoke").train.epochs
    1
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

PROFILE_NAMES = ("smoke", "cpu", "paper", "paper-check")

#: the starts a notebook's ``WEIGHTS`` names by a word (anything else is a folder): ralib.models.pretrained
WEIGHT_STARTS = ("random", "imagenet")

#: The real image-level data set's patient-level split (train / validation / test images).
REAL_SPLIT = (2700, 760, 358)


@dataclass(frozen=True)
class DataSizes:
    """How much synthetic data a profile generates, and at which resolution."""

    n_images: int  # dual-hand radiographs, split in the proportions of REAL_SPLIT
    image_size: int  # a dual-hand radiograph's detector resolution: pixels across a 43 cm cassette
    n_children: int  # single children's hands for the bone-age pretraining task
    child_image_size: int  # long side of a rendered child's hand, pixels
    n_reader_patients: int  # simulated patients (labels only) for measuring reader agreement


@dataclass(frozen=True)
class TrainSizes:
    """How long and how large models train, and which runs of the papers' grids a profile makes."""

    epochs: int  # whole-image models (MIUA 2024 grid)
    batch_size: int  # default batch size
    image_size: int  # model input for whole-image models (square), pixels
    hand_size: int  # model input for single-hand models (square), pixels
    hand_epochs: int  # per-hand models (2024 diagnosis paper)
    hand_batch_size: int
    pretrain_epochs: int  # bone-age pretraining on children's hands
    regression: tuple[tuple[str, str, int], ...]  # (model, loss, batch size) runs of notebook 03
    classification: tuple[tuple[str, int], ...]  # (model, batch size) runs of notebook 03
    hand_models: tuple[str, ...]  # per-hand recognition and staging models of notebook 03
    transfer: tuple[tuple[str, str], ...]  # (model, freezing scheme or "none") runs of notebook 04
    paper_recipe: bool = False  # the papers' optimisers (True) or ralib.train.recipes.fast (few epochs)


@dataclass(frozen=True)
class LandmarkSizes:
    """The landmark localiser (notebook 05) and the joint crops it feeds."""

    coarse_size: int  # the whole film letterboxed to a square of this many pixels (first pass; a multiple of 32)
    fine_film_size: int  # the film letterboxed for the second pass, pixels
    fine_crop: int  # second-pass window around each first-pass estimate, pixels of the fine film (a multiple of 16)
    encoder: str  # timm encoder of both U-Nets
    coarse_epochs: int
    fine_epochs: int
    batch_size: int  # whole films per batch (first pass)
    fine_batch_size: int  # crops per batch (second pass)
    fine_crops_per_film: int  # second-pass crops drawn per training film and epoch
    crop_size: int  # joint crops in the cache, pixels


@dataclass(frozen=True)
class MILSizes:
    """The attention MIL of the MIL paper (notebooks 06 and 07): patch classifiers as feature extractors,
    then gated attention pooling over each film's bag."""

    patch_models: tuple[str, ...]  # patch classifiers whose trunks extract the bags' features
    patch_size: int  # patches and tiles resized to this many pixels for the classifiers
    patch_balanced: bool  # classifier epochs draw every class equally often (a CPU-budget deviation)
    patch_epochs: int
    patch_batch_size: int
    mil_epochs: int
    mil_batch_size: int
    landmark_draws: int  # further crop sets of the training films cut at landmarks moved by the localiser's error
    segmentation_size: int  # films letterboxed to this many pixels for the foreground U-Net (a multiple of 32)
    segmentation_films: tuple[int, int]  # training and validation films of the foreground U-Net (tests on all test films)
    segmentation_epochs: int
    tile_k: tuple[int, ...]  # tiles per bag in Scheme 1
    finetune_epochs: int  # Scheme 1 with its tile classifier tuned together with the MIL
    finetune_batch_size: int  # bags per batch when tuning (each bag is K tiles through the CNN)


@dataclass(frozen=True)
class ScorerSizes:
    """RheumaVIT (notebook 08): the joint box regressor on hand images and the erosion / JSN scorer on
    crops at the boxes."""

    box_image_size: int  # hand images of the box regressor, pixels (a multiple of 32)
    box_backbone: str  # timm backbone of the box regressor (EfficientNetV2 in the paper)
    box_epochs: int
    box_mse_epochs: int  # epochs of MSE before DIoU
    box_batch_size: int
    crop_size: int  # crops at joint boxes in the cache, four box sides wide, pixels
    input_size: int  # what the scorer sees: 1-4 box sides in training, 2.5 at evaluation, resized to this
    backbones: tuple[str, ...]  # scorer backbones, shared erosion + JSN head; the first is the main model
    separate: tuple[str, ...]  # backbones also trained as separate erosion and JSN models
    frozen_epochs: int  # first stage: the backbone frozen, lr 1e-3
    epochs: int  # second stage: all layers, lr 5e-5 (paper) or a one-cycle schedule (cpu)
    epoch_size: int  # crops drawn per epoch, weighted inverse to their grades' frequency
    batch_size: int
    val_films: int  # validation films the scorer is checked on after every epoch (0: all)
    pretrained: tuple[str, ...]  # backbones also trained (shared) from a denoising-pretrained encoder
    pretrain_epochs: int  # epochs of the denoising pretraining (epoch_size crops each)


@dataclass(frozen=True)
class DeepRASizes:
    """DeepRA (notebook 09): the RetinaNet finding a hand's thumb, fingers and wrist, and the attention-gated
    joint models on the crops of those regions."""

    detector_size: int  # hand images of the detector, pixels (a multiple of 32)
    detector_backbone: str  # torchvision ResNet under the RetinaNet's feature pyramid (ResNet-50 in the paper)
    detector_hands: tuple[int, int]  # training and validation hands of the detector (0: all; the paper: 341 and 57 films)
    detector_fpn: int  # channels of the detector's feature pyramid and head (256 in the paper)
    detector_epochs: int
    detector_batch_size: int
    finger_size: int  # thumb and finger crops, pixels (256 in the paper)
    wrist_size: int  # wrist crops, pixels (300 in the paper)
    hand_size: int  # whole-hand crops of the ablation without detection, pixels
    finger_backbone: str  # timm EfficientNet of the thumb and finger model (B3 in the paper)
    wrist_backbone: str  # timm EfficientNet of the wrist model (B5 in the paper)
    epochs: int
    batch_size: int
    #: Table 3's ablation rows also trained: ``whole hand`` (no detection, no gate) and ``no gate`` (detection alone)
    ablations: tuple[str, ...] = ("whole hand", "no gate")

    def __post_init__(self):
        if unknown := set(self.ablations) - {"whole hand", "no gate"}:
            raise ValueError(f"unknown DeepRA ablations {sorted(unknown)}; choose from 'whole hand', 'no gate'")


@dataclass(frozen=True)
class ExplainSizes:
    """Notebook 10: the maps of the trained models of 03-09 measured against the synthetic truth."""

    films: int  # test films every model's every map is measured on
    cam_methods: tuple[str, ...]  # of ralib.explain.CAM_METHODS, for a model that reads the film whole
    crop_cam_methods: tuple[str, ...]  # of them, for one that reads it as many crops (a pass of each per crop)
    slow_films: int  # of them, the films Score-CAM (one forward pass per channel) is measured on
    sanity_films: int  # films of the randomisation checks
    sanity_steps: int  # groups of layers randomised from the top, one map comparison after each
    shuffled_epochs: int  # the whole-image CNN trained on shuffled labels (the data randomisation test)


@dataclass(frozen=True)
class Profile:
    """A named set of sizes; see the module docstring."""

    name: str
    description: str
    data: DataSizes
    train: TrainSizes
    landmarks: LandmarkSizes
    mil: MILSizes
    scorer: ScorerSizes
    deepra: DeepRASizes
    explain: ExplainSizes
    #: arithmetic of networks with dense convolutions or attention (ResNets, U-Nets, TinyViT, RetinaNet): bf16
    #: autocast where the machine runs it faster (``benchmarks/train_throughput.py``: 1.4-2.9x on this 2-core CPU),
    #: fp32 elsewhere; every network's weights in channels-last order (faster for nearly every network measured);
    #: see :meth:`speed` and docs/training.md
    precision: str = "fp32"
    channels_last: bool = False
    #: where trained networks start unless a notebook's WEIGHTS says otherwise: random | imagenet (the papers'
    #: starts; ralib.models.pretrained)
    weights: str = "random"
    #: every training of a dry run stops after this many batches and one validation (0: trains in full); the
    #: trainings keep the profile's epochs, so that their cost scales to the full run (ralib.train.cost)
    dry_batches: int = 0
    #: at most this many samples through a network at once, gradients accumulated over the batch (0: whole
    #: batches); ``$RALIB_MICRO_BATCH`` overrides it for a machine with less memory (ralib.train.fit.Limits)
    micro_batch: int = 0

    def speed(self, network: str = "") -> dict:
        """``TrainConfig`` fields for this profile's arithmetic when training ``network`` (a model or backbone
        name): fp32 for depthwise-separable networks (:data:`DEPTHWISE`), which bf16 does not speed up on the CPU.

        Example:
            >>> get_profile("cpu").speed("resnet34"), get_profile("cpu").speed("mobilenetv2_100")
            ({'precision': 'bf16', 'channels_last': True}, {'precision': 'fp32', 'channels_last': True})
        """
        depthwise = network.startswith(DEPTHWISE) and self.precision == "bf16"  # measured on the CPU; "amp" is for every network
        return {"precision": "fp32" if depthwise else self.precision, "channels_last": self.channels_last}


#: depthwise-separable families (MobileNetV2, EfficientNet-B*): bound by memory, not arithmetic, on the CPU;
#: EfficientNetV2's fused early stages are dense and gain from bf16 (benchmarks/train_throughput.py)
DEPTHWISE = ("mobilenet", "efficientnet_b", "tf_efficientnet_b")


_WHOLE_IMAGE = ("resnet50", "resnet34", "mobilenetv2_100")
_FREEZING = {"resnet50": ("RBs-1", "RBs-2"), "resnet34": ("RBs-1", "RBs-2"), "mobilenetv2_100": ("IRBs-2", "IRBs-3")}

_PROFILES = {
    "smoke": Profile(
        name="smoke",
        description="seconds per notebook: tiny data and models, for the test suite",
        data=DataSizes(n_images=40, image_size=256, n_children=24, child_image_size=128, n_reader_patients=300),
        train=TrainSizes(
            epochs=1, batch_size=4, image_size=64, hand_size=64, hand_epochs=1, hand_batch_size=8, pretrain_epochs=1,
            regression=(("mobilenetv2_100", "mse", 4), ("mobilenetv2_100", "smooth", 4), ("resnet34", "mse", 4)),
            classification=(("mobilenetv2_100", 4), ("resnet34", 4)),
            hand_models=("alexnet", "efficientnet_b2"),
            transfer=(("resnet34", "none"), ("resnet34", "RBs-2"), ("mobilenetv2_100", "IRBs-3")),
        ),
        landmarks=LandmarkSizes(coarse_size=64, fine_film_size=256, fine_crop=32, encoder="resnet18", coarse_epochs=1,
                                fine_epochs=1, batch_size=4, fine_batch_size=32, fine_crops_per_film=8, crop_size=32),
        mil=MILSizes(patch_models=("mobilenetv2_100",), patch_size=32, patch_balanced=True, patch_epochs=1,
                     patch_batch_size=32, mil_epochs=2, mil_batch_size=4, landmark_draws=1, segmentation_size=64,
                     segmentation_films=(8, 4), segmentation_epochs=1, tile_k=(30, 40, 50), finetune_epochs=1,
                     finetune_batch_size=2),
        scorer=ScorerSizes(box_image_size=64, box_backbone="resnet18", box_epochs=2, box_mse_epochs=1, box_batch_size=8,
                           crop_size=48, input_size=32, backbones=("tiny_vit_5m_224", "resnet18"), separate=("resnet18",),
                           frozen_epochs=1, epochs=1, epoch_size=32, batch_size=16, val_films=4, pretrained=("resnet18",),
                           pretrain_epochs=1),
        deepra=DeepRASizes(detector_size=64, detector_backbone="resnet18", detector_hands=(0, 0), detector_fpn=64, detector_epochs=1,
                           detector_batch_size=4, finger_size=32, wrist_size=32, hand_size=48, finger_backbone="efficientnet_b0",
                           wrist_backbone="efficientnet_b0", epochs=1, batch_size=16),
        explain=ExplainSizes(films=4, cam_methods=("Grad-CAM", "Eigen-CAM"), crop_cam_methods=("Grad-CAM", "Eigen-CAM"), slow_films=1, sanity_films=1, sanity_steps=2, shuffled_epochs=1),
        precision="bf16", channels_last=True,  # as the cpu profile, so that the suite runs its arithmetic
    ),
    "cpu": Profile(
        name="cpu",
        description="a 2-core laptop: minutes per notebook, a documented subset of the papers' grid",
        data=DataSizes(n_images=600, image_size=1750, n_children=400, child_image_size=256, n_reader_patients=2000),
        train=TrainSizes(
            epochs=8, batch_size=16, image_size=128, hand_size=112, hand_epochs=6, hand_batch_size=32,
            pretrain_epochs=8,
            # ResNet-34 alone: MobileNetV2 stayed at PCC -0.18 to 0.19 (MSE or smooth loss) over its runs in two seeds and
            # two worlds, below ResNet-34 in every one, and no model learned the severity class (README, 03)
            regression=(("resnet34", "mse", 16),),
            classification=(("resnet34", 16),),
            # no per-hand models (5 min): none beat the majority class in either seed of either world
            # (recognition AUC 0.51-0.70, every hand called RA; AlexNet, GoogLeNet, EfficientNet-B2; README, 03)
            hand_models=(),
            # from bone age, ResNet-34 alone: MobileNetV2 from bone age stayed at PCC 0.01 (0.13 on the earlier children)
            transfer=(("resnet34", "RBs-2"),),
        ),
        landmarks=LandmarkSizes(coarse_size=128, fine_film_size=768, fine_crop=48, encoder="resnet18", coarse_epochs=16,
                                fine_epochs=6, batch_size=8, fine_batch_size=64, fine_crops_per_film=16, crop_size=96),
        mil=MILSizes(patch_models=("mobilenetv2_100",), patch_size=64, patch_balanced=True, patch_epochs=4,
                     patch_batch_size=64, mil_epochs=100, mil_batch_size=16, landmark_draws=2, segmentation_size=256,
                     segmentation_films=(80, 20), segmentation_epochs=6, finetune_epochs=1, finetune_batch_size=4,
                     # K = 40 alone: K = 30, 40, 50 gave PCC -0.31, 0.23, 0.11, their intervals overlapping (README, 06)
                     tile_k=(40,)),
        scorer=ScorerSizes(box_image_size=192, box_backbone="tf_efficientnetv2_b0", box_epochs=10, box_mse_epochs=2,
                           box_batch_size=16, crop_size=128, input_size=64,
                           # TinyViT alone: ResNet-18 beside it, 6 min, was not ordered against it by a run (README, 08)
                           backbones=("tiny_vit_5m_224",), separate=(), frozen_epochs=1, epochs=16, epoch_size=2500, batch_size=32,
                           val_films=0, pretrained=(), pretrain_epochs=3),
        deepra=DeepRASizes(detector_size=128, detector_backbone="resnet18", detector_hands=(341, 57), detector_fpn=128, detector_epochs=20,
                           detector_batch_size=8, finger_size=96, wrist_size=128, hand_size=128, finger_backbone="efficientnet_b0",
                           wrist_backbone="efficientnet_b0", epochs=8, batch_size=32,  # 3 epochs: PCC 0.62, 8: 0.73 (deepra_budget)
                           # no ablation rows (14 min): the whole-hand model stayed at the baseline's PCC (0.19 against 0.24),
                           # the gate made no difference (0.68 with it, 0.72 without, intervals overlapping; README, 09)
                           ablations=()),
        # Score-CAM, one forward pass per channel of every crop, took 8-19 s a film on the joint models (2.8 s on the
        # whole film): 9 of 10's 17 minutes at the cpu profile (2026-12-07); kept for the whole-film CNN only
        explain=ExplainSizes(films=40, cam_methods=("Grad-CAM", "Grad-CAM++", "Score-CAM", "Eigen-CAM"),
                             crop_cam_methods=("Grad-CAM", "Grad-CAM++", "Eigen-CAM"), slow_films=6, sanity_films=4,
                             sanity_steps=4, shuffled_epochs=4),
        precision="bf16", channels_last=True,
    ),
    "paper": Profile(
        name="paper",
        description="the papers' sizes, for a GPU",
        data=DataSizes(
            n_images=3818, image_size=2800, n_children=14036, child_image_size=512, n_reader_patients=10000
        ),
        train=TrainSizes(
            epochs=100, batch_size=4, image_size=1024, hand_size=224, hand_epochs=100, hand_batch_size=64,
            pretrain_epochs=50,
            regression=tuple((m, loss, b) for m in _WHOLE_IMAGE for loss, b in (("smooth", 4), ("mse", 4), ("mse", 16))),
            classification=tuple((m, b) for m in _WHOLE_IMAGE for b in (4, 16)),
            hand_models=("alexnet", "vgg16", "googlenet", "resnet50", "efficientnet_b2"),
            transfer=tuple((m, scheme) for m in _WHOLE_IMAGE for scheme in ("none", *_FREEZING[m])),
            paper_recipe=True,
        ),
        landmarks=LandmarkSizes(coarse_size=512, fine_film_size=2048, fine_crop=128, encoder="resnet34", coarse_epochs=300,
                                fine_epochs=100, batch_size=4, fine_batch_size=64, fine_crops_per_film=74, crop_size=224),
        mil=MILSizes(patch_models=_WHOLE_IMAGE, patch_size=224, patch_balanced=False, patch_epochs=100,
                     patch_batch_size=16, mil_epochs=100, mil_batch_size=16, landmark_draws=10, segmentation_size=512,
                     segmentation_films=(143, 44), segmentation_epochs=100, tile_k=(30, 40, 50), finetune_epochs=100,
                     finetune_batch_size=4),
        scorer=ScorerSizes(box_image_size=512, box_backbone="tf_efficientnetv2_l", box_epochs=150, box_mse_epochs=50,
                           box_batch_size=16, crop_size=384, input_size=224,
                           backbones=("tiny_vit_21m_224", "vgg16", "efficientnet_b0", "swin_tiny_patch4_window7_224", "mobilevit_s"),
                           separate=("tiny_vit_21m_224",), frozen_epochs=50, epochs=100, epoch_size=20000, batch_size=32,
                           val_films=0, pretrained=("tiny_vit_21m_224",), pretrain_epochs=100),
        deepra=DeepRASizes(detector_size=1024, detector_backbone="resnet50", detector_hands=(341, 57), detector_fpn=256, detector_epochs=50,
                           detector_batch_size=8, finger_size=256, wrist_size=300, hand_size=512, finger_backbone="efficientnet_b3",
                           wrist_backbone="efficientnet_b5", epochs=200, batch_size=32),
        explain=ExplainSizes(films=358, cam_methods=("Grad-CAM", "Grad-CAM++", "Score-CAM", "Eigen-CAM"),
                             crop_cam_methods=("Grad-CAM", "Grad-CAM++", "Score-CAM", "Eigen-CAM"), slow_films=358, sanity_films=20,
                             sanity_steps=8, shuffled_epochs=30),
        # mixed precision: float16 with loss scaling on CUDA, bfloat16 elsewhere (ralib.train.fit.PRECISIONS)
        precision="amp", channels_last=True, weights="imagenet",
    ),
}


def dry_run(profile: Profile, films: int = 40, batches: int = 2, micro_batch: int = 4) -> Profile:
    """``profile``'s image sizes, models, batch sizes and epochs on ``films`` films, every training stopped after
    ``batches`` batches and one validation (``dry_batches``), at most ``micro_batch`` samples through a network at
    once (what 24 GB hold of a ResNet-50 at 1,024 px), a few films through the explanations, from random weights:
    the ``paper-check`` dry run of the ``paper`` profile. The other counts of training items (children's hands,
    crops drawn per epoch, detector hands, foreground films) shrink with the films, so that one ratio scales every
    training's cost to the full run (:mod:`ralib.train.cost`); the landmark draws of the MIL bags are one. Score-CAM
    reads the films whole only: on the joint models it is one pass per channel and crop (about a minute a crop
    of the TinyViT scorer on this CPU, 42 a film), and its memory is one crop's a call (:func:`ralib.explain.cam.images_per_pass`).

    Example:
        >>> check = dry_run(_PROFILES["paper"])
        >>> check.train.image_size, check.train.epochs, check.scorer.backbones[0], check.data.image_size
        (1024, 100, 'tiny_vit_21m_224', 2800)
        >>> check.data.n_children, check.scorer.epoch_size, check.deepra.detector_hands, check.dry_batches
        (147, 210, (4, 1), 2)
        >>> check.explain.cam_methods[2], check.explain.crop_cam_methods
        ('Score-CAM', ('Grad-CAM', 'Grad-CAM++', 'Eigen-CAM'))
    """
    share = films / profile.data.n_images

    def part(n: int) -> int:
        return max(1, round(n * share))

    return replace(profile, name=f"{profile.name}-check", description=f"the {profile.name} profile's sizes on {films} films, "
                   f"{batches} batches a training", dry_batches=batches, micro_batch=micro_batch, weights="random",
                   data=replace(profile.data, n_images=films, n_children=part(profile.data.n_children), n_reader_patients=300),
                   mil=replace(profile.mil, segmentation_films=tuple(map(part, profile.mil.segmentation_films)),
                               landmark_draws=1),
                   scorer=replace(profile.scorer, epoch_size=part(profile.scorer.epoch_size), val_films=4),
                   deepra=replace(profile.deepra, detector_hands=tuple(map(part, profile.deepra.detector_hands))),
                   explain=replace(profile.explain, films=4, slow_films=2, sanity_films=2, sanity_steps=2,
                                   crop_cam_methods=tuple(m for m in profile.explain.crop_cam_methods if m != "Score-CAM")))  # fmt: skip


_PROFILES["paper-check"] = dry_run(_PROFILES["paper"])


def get_profile(name: str) -> Profile:
    """Return the profile called ``name`` (``smoke``, ``cpu``, ``paper`` or ``paper-check``).

    Example:
        >>> get_profile("cpu").data.image_size
        1750
    """
    try:
        return _PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}") from None


def split_sizes(n_images: int, proportions: tuple[int, ...] = REAL_SPLIT) -> tuple[int, ...]:
    """Split ``n_images`` in the given proportions, rounding so that the parts add up.

    Example:
        >>> split_sizes(3818)
        (2700, 760, 358)
    """
    total = sum(proportions)
    parts = [n_images * p // total for p in proportions]
    # hand the remainder to the largest fractional parts, in order
    remainders = sorted(range(len(parts)), key=lambda i: -(n_images * proportions[i] % total))
    for i in remainders[: n_images - sum(parts)]:
        parts[i] += 1
    return tuple(parts)


def project_root() -> Path:
    """The repository folder when ralib runs from a checkout, else the current folder."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def data_dir() -> Path:
    """Cache folder for generated and downloaded data: ``$RALIB_DATA``, default ``<root>/data``."""
    return Path(os.environ.get("RALIB_DATA") or project_root() / "data")


def runs_dir(profile: str) -> Path:
    """Executed notebooks, metrics and checkpoints of a profile: ``$RALIB_RUNS/<profile>``.

    ``RALIB_RUNS`` defaults to ``<root>/runs``.
    """
    get_profile(profile)  # validate the name
    return Path(os.environ.get("RALIB_RUNS") or project_root() / "runs") / profile


def notebooks_dir() -> Path:
    """The folder of numbered notebooks in the checkout."""
    return project_root() / "notebooks"
