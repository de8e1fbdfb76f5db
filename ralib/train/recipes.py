"""The papers' training settings as :class:`~ralib.train.fit.TrainConfig` builders, and the grids the
notebooks train.

========================  ===================================================================================
recipe                    settings
========================  ===================================================================================
``miua2024``              MIUA 2024, section 2.8: SGD, lr 1e-3, weight decay 1e-3, momentum 0.9, its augmentation
``diagnosis2024``         2024 diagnosis paper: AdamW, lr 1e-5, weight decay 1e-2, cross-entropy, its augmentation
``fast``                  CPU budget: AdamW, one-cycle to lr 1e-3, weight decay 1e-2 (a deviation, see below)
``landmarks``             heatmap localisers: AdamW, one-cycle to lr 2e-3, weight decay 1e-4, affine augmentation
``mil2025``               MIL paper, the attention MIL on bags: SGD, lr 1e-3, weight decay 1e-3, momentum 0.9, MSE
``rheumavit``             RheumaVIT's joint scorer: AdamW, weight decay 1e-2, gradient clipping, warm-up cosine, focal
                          loss; stage 1 the backbone frozen at lr 1e-3, stage 2 all layers at 5e-5
``rheumavit_boxes``       RheumaVIT's box regressor: AdamW, MSE then DIoU, warm-up cosine
``rheumavit_denoising``   RheumaVIT's pretraining: a U-Net around the scorer's backbone restores corrupted crops, L1
``deepra_detector``       DeepRA's region detector: RetinaNet, Adam at lr 1e-3, batch 8, flips and zooms
``deepra_joints``         DeepRA's joint models: attention-gated EfficientNet, Adam at lr 1e-3, MSE, horizontal flips
========================  ===================================================================================

Example:
    >>> cfg = miua2024("resnet34", epochs=1, batch_size=4)
    >>> cfg.optimizer, cfg.lr, cfg.label
    ('sgd', 0.001, 'resnet34 mse b4')
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from ralib.train.fit import TrainConfig

#: the optimisers the papers name, with their usual settings; a recipe changes what its paper says otherwise
SGD = {"optimizer": "sgd", "lr": 1e-3, "weight_decay": 1e-3, "momentum": 0.9}  # MIUA 2024 and the MIL paper
ADAMW = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-2, "momentum": 0.0}
ADAM = {**ADAMW, "weight_decay": 0.0}  # Adam: AdamW without weight decay (DeepRA)


def miua2024(model: str, epochs: int, batch_size: int, loss: str = "mse", **changes) -> TrainConfig:
    """MIUA 2024, section 2.8: SGD, lr 1e-3, weight decay 1e-3, momentum 0.9, its augmentation."""
    return TrainConfig(model, epochs, batch_size, **{**SGD, "loss": loss, "augment": "miua2024", **changes})


def diagnosis2024(model: str, epochs: int, batch_size: int, **changes) -> TrainConfig:
    """The 2024 diagnosis paper: AdamW, lr 1e-5, weight decay 1e-2, cross-entropy, its augmentation."""
    return TrainConfig(model, epochs, batch_size, **{**ADAMW, "lr": 1e-5, "loss": "cross_entropy", "augment": "diagnosis2024", **changes})


def fast(model: str, epochs: int, batch_size: int, loss: str = "mse", **changes) -> TrainConfig:
    """CPU budget: AdamW, one-cycle schedule peaking at lr 1e-3, weight decay 1e-2.

    A deviation from both papers, for profiles that train a few epochs on a laptop: their constant
    small learning rates (SGD 1e-3, AdamW 1e-5) need the ~100 epochs they ran. The augmentation
    stays the MIUA 2024 one unless ``augment=`` says otherwise.
    """
    return TrainConfig(model, epochs, batch_size, **{**ADAMW, "loss": loss, "augment": "miua2024", "schedule": "one_cycle", **changes})


def landmarks(model: str, epochs: int, batch_size: int, **changes) -> TrainConfig:
    """Heatmap localisers: AdamW with a one-cycle schedule to lr 2e-3 and weight decay 1e-4, the landmark
    tasks' own augmentation. The MIL paper trains its localiser with the HTC paper's setup for 300-600
    epochs on a GPU; on a CPU budget a one-cycle schedule gets far in tens of epochs."""
    return TrainConfig(model, epochs, batch_size, **{**ADAMW, "lr": 2e-3, "weight_decay": 1e-4, "loss": "heatmap", "augment": "landmarks",
                                                     "schedule": "one_cycle", **changes})  # fmt: skip


def mil2025(in_dim: int, epochs: int, batch_size: int, **changes) -> TrainConfig:
    """The MIL paper (section 2.4): its attention MIL over ``in_dim`` features trained with SGD, lr 1e-3,
    weight decay 1e-3, momentum 0.9 and MSE on the z-scored total; training bags take crops cut at
    jittered landmarks where the task holds such draws (``augment="landmark_noise"``)."""
    return TrainConfig("attention_mil", epochs, batch_size, **{**SGD, "loss": "mse", "augment": "landmark_noise",
                                                               "model_options": (("in_dim", int(in_dim)),), **changes})  # fmt: skip


def rheumavit(model: str, epochs: int, batch_size: int, stage: int, paper_recipe: bool = True, input_size: int | None = None,
              **changes) -> TrainConfig:  # fmt: skip
    """RheumaVIT's scorer (section 3.4): AdamW, weight decay 1e-2, gradient clipping (norm 1; the paper gives
    no value), a warm-up cosine schedule (fastai's one-cycle), the focal loss; ``stage`` 1 trains the head on
    a frozen backbone at lr 1e-3, stage 2 every layer at 5e-5. Without ``paper_recipe`` stage 2 also runs at
    1e-3: the cpu profile starts from random weights, which 5e-5 would barely move in a few epochs. The epoch
    kept is the one of best class-weighted accuracy on the validation films (``select="metric"``), the measure
    Table 1 reports: the focal loss on smoothed targets jumps between epochs and picked mid-schedule epochs.
    Given the ``input_size`` the crops are shown at, a TinyViT's windows tile its feature maps
    (:func:`ralib.models.joint_scorer.tinyvit_windows`)."""
    if stage not in (1, 2):
        raise ValueError(f"RheumaVIT trains in stages 1 and 2, not {stage}")
    lr = 1e-3 if stage == 1 or not paper_recipe else 5e-5
    changes = {**ADAMW, "lr": lr, "loss": "focal", "augment": "joints", "freeze": "backbone" if stage == 1 else None, "clip": 1.0,
               "schedule": "one_cycle",
               "select": "metric", "model_options": (("backbone", model),) + ((("input_size", int(input_size)),) if input_size else ()),
               "tag": f"{model} stage {stage}", **changes}  # fmt: skip
    return TrainConfig("idx_pool_scorer", epochs, batch_size, **changes)


def rheumavit_denoising(backbone: str, epochs: int, batch_size: int, **changes) -> TrainConfig:
    """RheumaVIT's self-supervised pretraining (section 3.4): ``backbone`` as the encoder of a U-Net restoring
    corrupted crops, L1; AdamW at lr 1e-3 (the paper gives no value), weight decay 1e-2, warm-up cosine,
    the scorer's flips and rotations. Its checkpoint is the scorer's ``weights`` (the encoder carries over)."""
    changes = {**ADAMW, "loss": "l1", "augment": "joints", "schedule": "one_cycle", "model_options": (("backbone", backbone),),
               "tag": f"{backbone} denoising", **changes}  # fmt: skip
    return TrainConfig("denoising_unet", epochs, batch_size, **changes)


def rheumavit_boxes(backbone: str, epochs: int, batch_size: int, **changes) -> TrainConfig:
    """RheumaVIT's box regressor (section 3.3): coordinate channels before ``backbone``, MSE on the corners
    for the task's first epochs, then DIoU; AdamW at lr 1e-3 with a warm-up cosine schedule, left-right flips."""
    changes = {**ADAMW, "loss": "box", "augment": "boxes", "schedule": "one_cycle", "model_options": (("backbone", backbone),),
               "tag": backbone, **changes}  # fmt: skip
    return TrainConfig("box_regressor", epochs, batch_size, **changes)


def deepra_detector(backbone: str, image_size: int, epochs: int, batch_size: int, paper_recipe: bool = True,
                    fpn_channels: int = 256, **changes) -> TrainConfig:  # fmt: skip
    """DeepRA's detector (section 4.2.1): a RetinaNet with a ``backbone`` feature pyramid on ``image_size``
    hand images (``fpn_channels`` wide: 256 in the paper), Adam (AdamW without weight decay) at lr 1e-3, every
    layer trainable, left-right flips, half the hands zoomed to a random part holding every region (so that a
    hand cut close, as RA2-DREAM's are, is no surprise), gradients clipped to norm 1 (the paper gives none). The
    paper lowers the rate tenfold when the validation mAP stalls for 4 epochs and stops after 5; here the
    epoch of lowest validation loss is kept, at a constant rate (``paper_recipe``) or, for a few CPU epochs,
    a one-cycle schedule to the same peak."""
    changes = {**ADAM, "loss": "detection", "augment": "regions", "schedule": "constant" if paper_recipe else "one_cycle",
               "model_options": (("backbone", backbone), ("image_size", int(image_size)), ("fpn_channels", int(fpn_channels))),
               "clip": 1.0, "tag": backbone, **changes}  # fmt: skip
    return TrainConfig("region_detector", epochs, batch_size, **changes)


def deepra_joints(backbone: str, epochs: int, batch_size: int, gate: bool = True, paper_recipe: bool = True, **changes) -> TrainConfig:
    """DeepRA's joint models (section 4.3.1): an EfficientNet ``backbone`` with the attention gate (or
    without: ``gate=False``, the ablation), Adam at lr 1e-3, MSE, horizontal flips, the epoch of lowest
    validation loss (the paper's least validation RMSE). The paper decays the rate by 0.2 when the validation
    RMSE stalls for 5 epochs over 200; a few CPU epochs use a one-cycle schedule to the same peak instead."""
    changes = {**ADAM, "loss": "mse", "augment": "flips", "schedule": "constant" if paper_recipe else "one_cycle",
               "model_options": (("backbone", backbone), ("gate", bool(gate))),
               "tag": f"{backbone}{'' if gate else ' no gate'}", **changes}  # fmt: skip
    return TrainConfig("attention_gated", epochs, batch_size, **changes)


def whole_image_recipe(paper_recipe: bool, speed: Callable[[str], dict] | None = None):
    """The recipe a profile trains whole-image and bone-age models with: :func:`miua2024`, or :func:`fast`
    on a CPU budget (``Profile.train.paper_recipe``); with ``speed`` (a profile's :meth:`~ralib.config.Profile.speed`)
    each model also gets the profile's arithmetic (bf16, channels-last), so that every notebook building a
    model of notebook 03 builds the same configuration and reuses its run.

    Example:
        >>> from ralib.config import get_profile
        >>> recipe = whole_image_recipe(False, get_profile("cpu").speed)
        >>> recipe.__name__, recipe("resnet34", 1, 4).precision, recipe("mobilenetv2_100", 1, 4).precision
        ('fast', 'bf16', 'fp32')
    """
    recipe = miua2024 if paper_recipe else fast
    if speed is None:
        return recipe

    @wraps(recipe)  # its name and docstring, which notebooks print
    def with_speed(model: str, *args, **changes) -> TrainConfig:
        return recipe(model, *args, **{**speed(model), **changes})

    return with_speed


def hand_config(model: str, epochs: int, batch_size: int, paper_recipe: bool, seed: int = 0,
                speed: Callable[[str], dict] | None = None, **changes) -> TrainConfig:  # fmt: skip
    """A per-hand classifier's configuration: the 2024 diagnosis paper's recipe, or the fast one with its
    augmentation and cross-entropy; ``speed`` as in :func:`whole_image_recipe`; other fields as ``changes``."""
    changes = {**(speed(model) if speed else {}), **changes}
    if paper_recipe:
        return diagnosis2024(model, epochs, batch_size, seed=seed, **changes)
    return fast(model, epochs, batch_size, loss="cross_entropy", augment="diagnosis2024", seed=seed, **changes)


def transfer_grid(runs, epochs: int, batch_size: int, loss: str, pretrained: dict[str, str], paper_recipe: bool,
                  seed: int = 0, start: str = "random", speed: Callable[[str], dict] | None = None) -> list[TrainConfig]:  # fmt: skip
    """MIUA 2024's transfer-learning grid: each architecture from scratch, then from its bone-age
    checkpoint (``pretrained``) once per freezing scheme of ``runs`` (``(model, scheme or "none")``),
    and, unless ``start`` is random, from the published weights (``"imagenet"`` or a folder of them,
    :mod:`ralib.models.pretrained`); ``speed`` as in :func:`whole_image_recipe`.

    Example:
        >>> grid = transfer_grid([("resnet34", "none"), ("resnet34", "RBs-2")], 1, 4, "mse", {"resnet34": "r.pt"}, True)
        >>> [c.label for c in grid]
        ['resnet34 mse b4', 'resnet34 mse b4 bone age', 'resnet34 mse b4 freeze RBs-2 bone age']
    """
    recipe = whole_image_recipe(paper_recipe, speed)
    models = list(dict.fromkeys(m for m, _ in runs))
    grid = [recipe(m, epochs, batch_size, loss=loss, seed=seed) for m in models]
    grid += [recipe(m, epochs, batch_size, loss=loss, seed=seed, weights=pretrained[m],
                    freeze=None if scheme == "none" else scheme, tag="bone age") for m, scheme in runs]  # fmt: skip
    if start != "random":
        grid += [recipe(m, epochs, batch_size, loss=loss, seed=seed, pretrained=start) for m in models]
    return grid
