"""Training through fastai's ``Learner``, with the papers' recipes and checkpoints that carry their
configuration.

A :class:`TrainConfig` names everything a run depends on; :func:`fit` trains it on a
:class:`~ralib.tasks.Task`, keeps the weights of the epoch with the lowest validation loss (the
papers select their models on validation), saves them with the configuration, and returns a
:class:`Fitted` that predicts. :func:`load_checkpoint` rebuilds the model with ``weights_only=True``.

Example:
    >>> cfg = TrainConfig.miua2024("resnet34", epochs=1, batch_size=4)
    >>> cfg.optimizer, cfg.lr, cfg.label
    ('sgd', 0.001, 'resnet34 mse b4')
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import fastai.callback.schedule  # noqa: F401  (adds Learner.fit_one_cycle)
from fastai.callback.tracker import TrackerCallback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.optimizer import OptimWrapper
from torch import nn
from torch.utils.data import DataLoader

from ralib.losses import RegressionMSE, SmoothLoss
from ralib.models import create_model, freeze, penultimate
from ralib.tasks import Task

LOSSES = {"mse": RegressionMSE, "smooth": SmoothLoss, "cross_entropy": nn.CrossEntropyLoss}
OPTIMISERS = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on. Build from a paper's recipe with
    :meth:`miua2024` or :meth:`diagnosis2024` and change fields with :func:`dataclasses.replace`."""

    model: str
    epochs: int
    batch_size: int
    loss: str = "mse"  # mse | smooth | cross_entropy
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 1e-3
    weight_decay: float = 1e-3
    momentum: float = 0.9  # SGD only
    augment: str = "miua2024"
    freeze: str | None = None  # a scheme of ralib.models.FREEZE_SCHEMES
    weights: str | None = None  # a local file to start from
    schedule: str = "constant"  # constant (the papers) | one_cycle (fastai's fit_one_cycle)
    seed: int = 0
    tag: str = ""  # shown in the label, e.g. "bone age"

    @classmethod
    def miua2024(cls, model: str, epochs: int, batch_size: int, loss: str = "mse", **changes) -> "TrainConfig":
        """MIUA 2024, section 2.8: SGD, lr 1e-3, weight decay 1e-3, momentum 0.9, its augmentation."""
        return cls(model, epochs, batch_size, loss, "sgd", 1e-3, 1e-3, 0.9, "miua2024", **changes)

    @classmethod
    def diagnosis2024(cls, model: str, epochs: int, batch_size: int, **changes) -> "TrainConfig":
        """The 2024 diagnosis paper: AdamW, lr 1e-5, weight decay 1e-2, cross-entropy, its augmentation."""
        return cls(model, epochs, batch_size, "cross_entropy", "adamw", 1e-5, 1e-2, 0.0, "diagnosis2024", **changes)

    @classmethod
    def fast(cls, model: str, epochs: int, batch_size: int, loss: str = "mse", **changes) -> "TrainConfig":
        """CPU budget: AdamW, one-cycle schedule peaking at lr 1e-3, weight decay 1e-2.

        A deviation from both papers, for profiles that train a few epochs on a laptop: their constant
        small learning rates (SGD 1e-3, AdamW 1e-5) need the ~100 epochs they ran. The augmentation
        stays the MIUA 2024 one unless ``augment=`` says otherwise.
        """
        changes = {"augment": "miua2024", **changes}
        return cls(model, epochs, batch_size, loss, "adamw", 1e-3, 1e-2, 0.0, schedule="one_cycle", **changes)

    @property
    def label(self) -> str:
        parts = [self.model, self.loss if self.loss != "cross_entropy" else "ce", f"b{self.batch_size}"]
        parts += [f"freeze {self.freeze}"] if self.freeze else []
        parts += [self.tag] if self.tag else []
        return " ".join(parts)


def whole_image_recipe(paper_recipe: bool):
    """The recipe a profile trains whole-image and bone-age models with: the MIUA 2024 one, or
    :meth:`TrainConfig.fast` on a CPU budget (``Profile.train.paper_recipe``)."""
    return TrainConfig.miua2024 if paper_recipe else TrainConfig.fast


def hand_config(model: str, epochs: int, batch_size: int, paper_recipe: bool, seed: int = 0) -> TrainConfig:
    """A per-hand classifier's configuration: the 2024 diagnosis paper's recipe, or the fast one with its
    augmentation and cross-entropy."""
    if paper_recipe:
        return TrainConfig.diagnosis2024(model, epochs, batch_size, seed=seed)
    return TrainConfig.fast(model, epochs, batch_size, loss="cross_entropy", augment="diagnosis2024", seed=seed)


def transfer_grid(runs, epochs: int, batch_size: int, loss: str, pretrained: dict[str, str], paper_recipe: bool,
                  seed: int = 0, imagenet_dir: str | None = None) -> list[TrainConfig]:  # fmt: skip
    """MIUA 2024's transfer-learning grid: each architecture from scratch, then from its bone-age
    checkpoint (``pretrained``) once per freezing scheme of ``runs`` (``(model, scheme or "none")``),
    and, given ``imagenet_dir`` holding ``<model>.pth``, from ImageNet weights.

    Example:
        >>> grid = transfer_grid([("resnet34", "none"), ("resnet34", "RBs-2")], 1, 4, "mse", {"resnet34": "r.pt"}, True)
        >>> [c.label for c in grid]
        ['resnet34 mse b4', 'resnet34 mse b4 bone age', 'resnet34 mse b4 freeze RBs-2 bone age']
    """
    recipe = whole_image_recipe(paper_recipe)
    models = list(dict.fromkeys(m for m, _ in runs))
    grid = [recipe(m, epochs, batch_size, loss=loss, seed=seed) for m in models]
    grid += [recipe(m, epochs, batch_size, loss=loss, seed=seed, weights=pretrained[m],
                    freeze=None if scheme == "none" else scheme, tag="bone age") for m, scheme in runs]  # fmt: skip
    if imagenet_dir:
        grid += [recipe(m, epochs, batch_size, loss=loss, seed=seed, weights=f"{imagenet_dir}/{m}.pth", tag="ImageNet")
                 for m in models]  # fmt: skip
    return grid


class KeepBest(TrackerCallback):
    """Remember the weights of the epoch with the lowest validation loss and restore them after fit.

    (fastai's ``SaveModelCallback`` reloads with ``weights_only=False``; this keeps them in memory.)
    """

    def __init__(self):
        super().__init__(monitor="valid_loss")
        self.best_state, self.best_epoch = None, -1

    def after_epoch(self):
        super().after_epoch()
        if self.new_best:
            self.best_state = {k: v.detach().clone() for k, v in self.learn.model.state_dict().items()}
            self.best_epoch = self.epoch

    def after_fit(self):
        if self.best_state is not None:
            self.learn.model.load_state_dict(self.best_state)


@dataclass
class Fitted:
    """A trained model with its configuration, loss curves and checkpoint."""

    config: TrainConfig
    task: str
    model: nn.Module
    history: pd.DataFrame  # epoch, train_loss, valid_loss
    best_epoch: int
    seconds: float
    checkpoint: Path | None = None
    cache: dict = field(default_factory=dict, repr=False)

    def outputs(self, task: Task, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs and penultimate features of every image of ``split`` (cached)."""
        if split not in self.cache:
            self.cache[split] = predict(self.model, task.dataset(split))
        return self.cache[split]

    def predict(self, task: Task, split: str = "test") -> np.ndarray:
        """Scores in the target's unit (regression) or class probabilities (classification)."""
        return task.decode(self.outputs(task, split)[0])

    def evaluate(self, task: Task, split: str = "test") -> dict:
        return task.evaluate(self.predict(task, split), split)


def fit(task: Task, config: TrainConfig, out_dir: str | Path | None = None, progress: bool = True) -> Fitted:
    """Train ``config`` on ``task`` with fastai; save the best-validation weights under ``out_dir``.

    Example:
        >>> fitted = fit(task, TrainConfig.miua2024("mobilenetv2_100", 8, 16), run.dir)   # doctest: +SKIP
        >>> fitted.evaluate(task, "test")["pcc"]                                           # doctest: +SKIP
    """
    if config.loss == "cross_entropy" and task.kind != "classification":
        raise ValueError(f"{config.label}: cross-entropy needs a classification task, {task.name} is a regression")
    torch.manual_seed(config.seed)
    model = create_model(config.model, task.num_outputs, weights=config.weights)
    freeze(model, config.freeze)
    train, valid = task.dataset("train", config.augment), task.dataset("val")
    generator = torch.Generator().manual_seed(config.seed)
    dls = DataLoaders(
        DataLoader(train, config.batch_size, shuffle=True, drop_last=len(train) > config.batch_size, generator=generator),
        DataLoader(valid, max(config.batch_size, 32)),
    )
    opt = OPTIMISERS[config.optimizer]
    options = {"weight_decay": config.weight_decay, **({"momentum": config.momentum} if config.optimizer == "sgd" else {})}
    keep_best = KeepBest()
    learn = Learner(dls, model, loss_func=LOSSES[config.loss](), opt_func=partial(OptimWrapper, opt=opt, **options),
                    lr=config.lr, cbs=[keep_best])  # fmt: skip
    started = time.time()
    quiet = not progress
    with learn.no_bar() if quiet else nullcontext(), learn.no_logging() if quiet else nullcontext():
        if config.schedule == "one_cycle":
            learn.fit_one_cycle(config.epochs, config.lr)
        else:
            learn.fit(config.epochs, config.lr)
    history = pd.DataFrame([v[:2] for v in learn.recorder.values], columns=["train_loss", "valid_loss"])
    history.insert(0, "epoch", range(len(history)))
    fitted = Fitted(config, task.name, model, history, keep_best.best_epoch, round(time.time() - started, 1))
    if out_dir is not None:
        name = config.label.replace(" ", "_") + f"_{task.name}.pt"
        fitted.checkpoint = save_checkpoint(Path(out_dir) / "checkpoints" / name, model, config, task)
    return fitted


@torch.no_grad()
def predict(model: nn.Module, dataset, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and penultimate features of ``model`` for every item of ``dataset`` (eval mode)."""
    model.eval()
    outputs, features = [], []
    last_layer = model.head if hasattr(model, "net") else model.get_classifier()  # torchvision wrapper or timm
    for images, _ in DataLoader(dataset, batch_size):
        f = penultimate(model, images)
        features.append(f.numpy())
        outputs.append(last_layer(f).numpy())  # the last layer on the penultimate features: one forward pass
    return np.concatenate(outputs), np.concatenate(features)


def save_checkpoint(path: str | Path, model: nn.Module, config: TrainConfig, task: Task | None = None) -> Path:
    """Save weights with the configuration (and the task's target scaling) as plain values."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**asdict(config)}
    if task is not None:
        record.update(task=task.name, num_outputs=task.num_outputs, classes=list(task.classes),
                      target_mean=task.target_mean, target_sd=task.target_sd,
                      pixel_mean=task.pixel_mean, pixel_sd=task.pixel_sd, input_size=int(task.images.shape[-1]))  # fmt: skip
    torch.save({"state_dict": model.state_dict(), "config": record}, path)
    return path


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a model from :func:`save_checkpoint` (loaded with ``weights_only=True``)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    config = checkpoint["config"]
    model = create_model(config["model"], config["num_outputs"])
    freeze(model, config.get("freeze"))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), config


__all__ = ["TrainConfig", "Fitted", "fit", "predict", "save_checkpoint", "load_checkpoint", "whole_image_recipe",
           "hand_config", "transfer_grid"]
