"""The generic training loop: fastai's ``Learner`` over any :class:`~ralib.tasks.Task`, the weights of
the best validation epoch kept, checkpoints that carry their configuration.

A :class:`TrainConfig` names everything a run depends on (the papers' settings are in
:mod:`ralib.train.recipes`); :func:`build_model` makes the model it names, seeded; :func:`fit` trains a
model already built on a task, as fastai's ``Learner`` does, and returns a :class:`Fitted` whose
predictions are the task's named outputs, decoded. :func:`load_checkpoint` rebuilds the model with
``weights_only=True``. :func:`reuse_or_fit` loads a run from its checkpoint when the same configuration
was already trained on the same data by the same code (in this notebook's folder or another's), so a
notebook that builds on another's models does not train them again. Training runs on the accelerator
(:mod:`ralib.models.device`) in the configured arithmetic (:data:`PRECISIONS`), within the process's
:class:`Limits` (a dry run's few batches, micro-batches), and records what a sample costs (:class:`FlopCount`).

Example:
    >>> cfg = TrainConfig("resnet34", epochs=1, batch_size=4)
    >>> cfg.optimizer, cfg.lr, cfg.label
    ('sgd', 0.001, 'resnet34 mse b4')
"""

from __future__ import annotations

import hashlib
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import fastai.callback.schedule  # noqa: F401  (adds Learner.fit_one_cycle)
import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.fp16 import MixedPrecision
from fastai.callback.tracker import TrackerCallback
from fastai.callback.training import GradientAccumulation, GradientClip
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.optimizer import OptimWrapper
from fastai.torch_core import default_device, find_bs, to_device, to_float
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torch.utils.flop_counter import FlopCounterMode

from ralib.integrity import record_path, seal
from ralib.models import create_model, freeze
from ralib.models.device import accelerator, loader_options, model_device, running_on
from ralib.models.pretrained import start_record
from ralib.models.registry import builder_module, pretrained_files
from ralib.models.weight_files import DamagedWeights, read_weights
from ralib.sources import module_sources
from ralib.tasks import Task

OPTIMISERS = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on. Build from a paper's recipe (:mod:`ralib.train.recipes`)
    and change fields with :func:`dataclasses.replace`."""

    model: str
    epochs: int
    batch_size: int
    loss: str = "mse"  # a loss the task offers (Task.loss), e.g. mse | smooth | cross_entropy
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 1e-3
    weight_decay: float = 1e-3
    momentum: float = 0.9  # SGD only
    augment: str = "none"  # one of the task's augmentations (Task.augmentations), applied to its training split
    freeze: str | None = None  # a scheme of ralib.models.FREEZE_SCHEMES
    weights: str | None = None  # a local file to start from
    pretrained: str = "random"  # where its networks start first: random | imagenet | a folder (ralib.models.pretrained)
    schedule: str = "constant"  # constant (the papers) | one_cycle (fastai's fit_one_cycle)
    seed: int = 0
    tag: str = ""  # shown in the label, e.g. "bone age"
    model_options: tuple[tuple[str, object], ...] = ()  # keyword arguments of the model's builder, e.g. (("encoder", "resnet18"),)
    clip: float | None = None  # clip the gradients' norm to this (RheumaVIT); None: no clipping
    select: str = "loss"  # the weights kept: loss | metric | average (see SELECTIONS)
    precision: str = "fp32"  # fp32 | bf16 | amp (see PRECISIONS; weights and optimiser stay fp32)
    channels_last: bool = False  # convolution weights (and so activations) in NHWC, which oneDNN runs faster on many CPUs
    average_epochs: int = 3  # select="average": the last this many epochs' weights averaged

    @property
    def label(self) -> str:
        parts = [self.model, self.loss if self.loss != "cross_entropy" else "ce", f"b{self.batch_size}"]
        parts += [f"freeze {self.freeze}"] if self.freeze else []
        parts += [] if self.pretrained == "random" else [self.pretrained if self.pretrained == "imagenet" else f"from {Path(self.pretrained).name}"]
        parts += [self.tag] if self.tag else []
        parts += [f"select {self.select}"] if self.select != "loss" else []
        return " ".join(parts)


class EpochToLoss(Callback):
    """Tell a loss that changes with the epoch (e.g. MSE, then DIoU: ``set_epoch``) which epoch it is;
    validation always uses its final form (``set_epoch(None)``), so that epochs stay comparable."""

    order = 0

    def before_train(self):
        self.learn.loss_func.set_epoch(self.epoch)

    def before_validate(self):
        self.learn.loss_func.set_epoch(None)


#: How :func:`fit` chooses the weights it returns (``TrainConfig.select``):
#: ``loss``: the epoch of lowest validation loss; ``metric``: the epoch of best validation value of the task's
#: :attr:`~ralib.tasks.Task.monitor` (the measure the notebook reports, over the whole validation split);
#: ``average``: the mean of the last ``average_epochs`` epochs' weights (stochastic weight averaging over the
#: schedule's tail, batch-norm statistics averaged too).
SELECTIONS = ("loss", "metric", "average")


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of several state dicts of one model (floating tensors; counters such as batch
    norm's ``num_batches_tracked`` are taken from the last).

    Example:
        >>> average_states([{"w": torch.tensor([0.0, 2.0])}, {"w": torch.tensor([2.0, 4.0])}])["w"].tolist()
        [1.0, 3.0]
    """
    if not states:
        raise ValueError("no states to average")
    return {k: (torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v.clone())
            for k, v in states[-1].items()}  # fmt: skip


class KeepBest(Callback):
    """Choose the weights :func:`fit` returns, by ``select`` (:data:`SELECTIONS`), and keep the weights of the
    last epoch beside them; for ``metric``, the monitored measure of every epoch is kept in ``metric_history``.

    (fastai's ``SaveModelCallback`` reloads with ``weights_only=False``; this keeps the weights in memory.)
    """

    order = TrackerCallback.order  # after the Recorder has the epoch's validation loss

    def __init__(self, task: Task | None = None, select: str = "loss", average_epochs: int = 3):
        if select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, not {select!r}")
        if select == "metric" and (task is None or task.monitor is None):
            raise ValueError(f"select='metric' needs a task with a monitored measure; {getattr(task, 'name', task)} has none")
        self.task, self.select, self.average_epochs = task, select, average_epochs
        self.best_state, self.best_epoch, self.last_state = None, -1, None
        self.metric_history: list[float] = []
        self._outputs: list[torch.Tensor] = []
        self._averaged: list[dict[str, torch.Tensor]] = []

    def before_fit(self):
        self.best = None

    def before_validate(self):
        self._outputs = []

    def after_batch(self):
        if not self.training and self.select == "metric" and type(self.task).forward is Task.forward:
            self._outputs.append(self.learn.pred.detach().cpu())

    def _state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in self.learn.model.state_dict().items()}  # not kept on the GPU

    def _validation_measure(self) -> float:
        if type(self.task).forward is Task.forward:  # the outputs fastai's validation pass just computed
            outputs = {"outputs": torch.cat(self._outputs).numpy()}
        else:
            valid = self.learn.dls.valid.dataset
            outputs = predict(self.learn.model, valid, self.task.forward, self.task.collate)
            self.learn.model.train()
        key, _ = self.task.monitor
        return float(self.task.evaluate(self.task.decode(outputs, "val"), "val")[key])

    def after_epoch(self):
        train_loss = float(self.recorder.values[-1][0])
        if not np.isfinite(train_loss):  # say so now, not as an empty prediction several cells later
            raise FloatingPointError(f"the training loss became {train_loss} in epoch {self.epoch + 1}"
                                     f" (model {type(self.learn.model).__name__}); try precision='fp32' or a lower lr")  # fmt: skip
        if self.select == "average":
            if self.epoch >= self.n_epoch - self.average_epochs:
                self._averaged.append(self._state())
            return
        if self.select == "metric":
            value = self._validation_measure()
            self.metric_history.append(value)
            better = self.best is None or (value > self.best if self.task.monitor[1] else value < self.best)
        else:
            value = float(self.recorder.values[-1][1])
            better = self.best is None or value < self.best
        if better and np.isfinite(value):
            self.best, self.best_epoch, self.best_state = value, self.epoch, self._state()

    def after_fit(self):
        self.last_state = self._state()
        if self.select == "average" and self._averaged:
            self.best_state, self.best_epoch = average_states(self._averaged), self.n_epoch - 1
        if self.best_state is not None:
            self.learn.model.load_state_dict(self.best_state)


class BFloat16(Callback):
    """bfloat16 autocast of the forward pass and the loss on the model's device (fastai's ``MixedPrecision``
    autocasts on CUDA only); no gradient scaling is needed, bfloat16 has float32's range."""

    order = 10

    def before_batch(self):
        self._autocast = torch.autocast(model_device(self.learn.model).type, dtype=torch.bfloat16)
        self._autocast.__enter__()

    def after_pred(self):
        self.learn.pred = to_float(self.pred)

    def after_loss(self):
        self._autocast.__exit__(None, None, None)


#: ``TrainConfig.precision``: ``fp32``; ``bf16``, bfloat16 autocast on any device (:class:`BFloat16`); ``amp``, the
#: device's mixed precision: float16 autocast with loss scaling on CUDA (fastai's ``MixedPrecision``), bfloat16
#: autocast on MPS and the CPU
PRECISIONS = ("fp32", "bf16", "amp")


def precision_callbacks(precision: str, device: torch.device) -> list[Callback]:
    """The callbacks of ``precision`` (:data:`PRECISIONS`) on ``device``.

    Example:
        >>> [type(c).__name__ for c in precision_callbacks("amp", torch.device("cuda"))]
        ['MixedPrecision']
        >>> [type(c).__name__ for c in precision_callbacks("amp", torch.device("cpu"))]
        ['BFloat16']
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "fp32":
        return []
    return [MixedPrecision()] if precision == "amp" and device.type == "cuda" else [BFloat16()]


@dataclass(frozen=True)
class Limits:
    """How far every training of this process goes (:func:`limit_training`): ``batches`` batches of the first
    epoch, one validation, then stop (0: the configured epochs in full; the ``paper-check`` dry run uses 2), and
    at most ``micro_batch`` samples through the network at once, their gradients accumulated over the configured
    batch before each step (0: the whole batch at once). Batch norm then sees micro-batches: a small deviation,
    in the run's fingerprint, so that such a run is never reused for a whole-batch one."""

    batches: int = 0
    micro_batch: int = 0

    def step(self, batch_size: int) -> int:
        """Samples per forward pass for ``batch_size``.

        Example:
            >>> Limits(micro_batch=4).step(16), Limits(micro_batch=4).step(2), Limits().step(16)
            (4, 2, 16)
        """
        return min(batch_size, self.micro_batch) if self.micro_batch else batch_size

    def record(self, batch_size: int) -> dict:
        """What of these limits changes a run of ``batch_size`` (for its fingerprint): nothing without limits."""
        return ({"batches": self.batches} if self.batches else {}) | (
            {"micro_batch": self.step(batch_size)} if self.step(batch_size) < batch_size else {})


_limits = Limits()


def limit_training(batches: int = 0, micro_batch: int = 0) -> Limits:
    """Set the :class:`Limits` of every later training in this process (``ralib.setup`` sets a profile's) and
    return the previous ones.

    Example:
        >>> previous = limit_training(micro_batch=4)
        >>> training_limits().step(16)
        4
        >>> _ = limit_training(previous.batches, previous.micro_batch)
    """
    global _limits
    previous, _limits = _limits, Limits(int(batches), int(micro_batch))
    return previous


def training_limits() -> Limits:
    """The :class:`Limits` trainings run under now."""
    return _limits


class StopAfterOneEpoch(Callback):
    """The dry run (:class:`Limits`): the fit stops after its first epoch (of a few batches, which the training
    loader draws), recorded and its weights kept as after any epoch."""

    order = 100  # after the recorder and KeepBest have the epoch

    def after_epoch(self):
        raise CancelFitException


class FlopCount(Callback):
    """Floating-point operations of one training sample, forward and backward, counted by torch's
    ``FlopCounterMode`` over the first training batch (matrix products, convolutions and attention; the
    element-wise rest is left out, as FLOP counts usually do)."""

    order = -9  # just after StepTimer: the batch's forward and backward inside the count

    def before_fit(self):
        self.per_sample, self._mode = None, None

    def before_batch(self):
        if self.training and self.per_sample is None:
            self._mode = FlopCounterMode(display=False)
            self._mode.__enter__()

    def after_backward(self):
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self.per_sample = self._mode.get_total_flops() / max(1, int(find_bs(self.learn.yb)))
            self._mode = None

    def after_batch(self):  # a batch cancelled before its backward: no count from it
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None


class StepTimer(Callback):
    """Where a run's training time goes: seconds spent waiting for batches (loading, augmenting, collating)
    and computing them (forward, backward, step), and the samples trained per second, over every training
    batch; kept by :func:`fit` as ``Fitted.throughput`` and in the checkpoint."""

    order = -10  # first at every event: the batch is timed from its arrival to the end of its step

    def before_fit(self):
        self.data_seconds, self.compute_seconds, self.samples = 0.0, 0.0, 0

    def before_train(self):
        self._mark = time.perf_counter()

    def before_batch(self):
        if self.training:
            now = time.perf_counter()
            self.data_seconds += now - self._mark
            self._mark = now

    def after_batch(self):
        if self.training:
            now = time.perf_counter()
            self.compute_seconds += now - self._mark
            self.samples += int(find_bs(self.learn.yb))
            self._mark = now

    @property
    def summary(self) -> dict:
        total = self.data_seconds + self.compute_seconds
        return {"samples_per_second": round(self.samples / total, 2) if total else None,
                "data_share": round(self.data_seconds / total, 4) if total else None,
                "training_seconds": round(total, 1), "samples": self.samples}  # fmt: skip


@dataclass
class Fitted:
    """A trained model with its configuration, loss curves and checkpoint."""

    config: TrainConfig
    task: str
    model: nn.Module
    history: pd.DataFrame  # epoch, train_loss, valid_loss (and valid_<measure> when chosen by it)
    best_epoch: int  # the epoch whose weights ``model`` holds (select="average": the last of those averaged)
    seconds: float
    checkpoint: Path | None = None
    last_state: dict | None = field(default=None, repr=False)  # the weights after the last epoch
    reused_from: Path | None = None  # the checkpoint it was loaded from, when reuse_or_fit did not train it
    throughput: dict = field(default_factory=dict)  # StepTimer.summary of its training batches
    cache: dict = field(default_factory=dict, repr=False)

    def outputs(self, task: Task, split: str) -> dict[str, np.ndarray]:
        """The model's named outputs for every item of ``split`` of ``task`` (cached per task and split):
        ``outputs``, and ``features``, ``attention`` ... where the task's forward gives them."""
        key = (id(task), split)  # the cache holds the task too, so its id cannot be reused by another
        if key not in self.cache:
            self.cache[key] = (task, predict(self.model, task.dataset(split), task.forward, task.collate))
        return self.cache[key][1]

    def predict(self, task: Task, split: str = "test") -> np.ndarray:
        """The task's predictions, e.g. scores in the target's unit or class probabilities."""
        return task.decode(self.outputs(task, split), split)

    def evaluate(self, task: Task, split: str = "test") -> dict:
        return task.evaluate(self.predict(task, split), split)

    def last_epoch_model(self, num_outputs: int) -> nn.Module:
        """The model as it was after the last epoch (``model`` holds the best validation epoch's weights)."""
        model = create_model(self.config.model, num_outputs, **dict(self.config.model_options))
        freeze(model, self.config.freeze)
        model.load_state_dict(self.last_state)
        return (model.to(memory_format=torch.channels_last) if self.config.channels_last else model).eval()


def build_model(config: TrainConfig, num_outputs: int) -> nn.Module:
    """The model ``config`` names, from its weights file if any and frozen by its scheme; torch's
    generator is seeded with ``config.seed`` first, so the initial weights, and the augmentation
    :func:`fit` then draws from the same generator, repeat exactly.

    Example:
        >>> build_model(TrainConfig("resnet34", 1, 4, freeze="RBs-1"), 1).layer1[0].conv1.weight.requires_grad
        False
    """
    torch.manual_seed(config.seed)
    model = create_model(config.model, num_outputs, weights=config.weights, pretrained=config.pretrained, **dict(config.model_options))
    freeze(model, config.freeze)
    return model


def fit(model: nn.Module, task: Task, config: TrainConfig, out_dir: str | Path | None = None,
        progress: bool = True) -> Fitted:  # fmt: skip
    """Train ``model`` on ``task`` as ``config`` says, with fastai; keep the best-validation weights and
    save them under ``out_dir``.

    Example:
        >>> config = recipes.miua2024("mobilenetv2_100", 8, 16)                          # doctest: +SKIP
        >>> fitted = fit(build_model(config, task.num_outputs), task, config, run.dir)   # doctest: +SKIP
        >>> fitted.evaluate(task, "test")["pcc"]                                         # doctest: +SKIP
    """
    loss = task.loss(config.loss)
    train, valid = task.dataset("train", config.augment), task.dataset("val")
    generator = torch.Generator().manual_seed(config.seed)
    device, limits = accelerator(), training_limits()
    default_device(device.type != "cpu")  # fastai takes the model, and each batch, to the accelerator (CUDA, else MPS)
    step, drawn = limits.step(config.batch_size), min(len(train), limits.batches * config.batch_size) or len(train)
    sampler = RandomSampler(train, num_samples=drawn, generator=generator)  # a dry run's few batches, else every item
    dls = DataLoaders(
        DataLoader(train, step, sampler=sampler, drop_last=drawn > step, generator=generator, collate_fn=task.collate,
                   **loader_options(device)),  # fmt: skip
        DataLoader(valid, max(config.batch_size, 32) if step == config.batch_size else step, collate_fn=task.collate),
    )
    opt = OPTIMISERS[config.optimizer]
    options = {"weight_decay": config.weight_decay, **({"momentum": config.momentum} if config.optimizer == "sgd" else {})}
    keep_best, timer, flops = KeepBest(task, config.select, config.average_epochs), StepTimer(), FlopCount()
    callbacks = [keep_best, timer, flops] + ([EpochToLoss()] if hasattr(loss, "set_epoch") else [])
    callbacks += [GradientClip(config.clip)] if config.clip else []
    callbacks += precision_callbacks(config.precision, device)
    callbacks += [GradientAccumulation(config.batch_size)] if step < config.batch_size else []
    callbacks += [StopAfterOneEpoch()] if limits.batches else []
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    learn = Learner(dls, model, loss_func=loss, opt_func=partial(OptimWrapper, opt=opt, **options), lr=config.lr,
                    cbs=callbacks)  # fmt: skip
    started = time.time()
    quiet = not progress
    try:
        with learn.no_bar() if quiet else nullcontext(), learn.no_logging() if quiet else nullcontext():
            if config.schedule == "one_cycle":
                learn.fit_one_cycle(config.epochs, config.lr)
            else:
                learn.fit(config.epochs, config.lr)
    except torch.OutOfMemoryError as error:  # say how to go on, not only that the device is full
        model.to("cpu")
        raise torch.OutOfMemoryError(
            f"{config.label} on {task.name} ran out of {device.type} memory at {step} samples a pass: set "
            f"RALIB_MICRO_BATCH={max(1, step // 2)} (or fewer) to put fewer through the network at once, the gradients "
            f"accumulated over the batch of {config.batch_size}; {error}") from error
    model.to("cpu")  # models live on the CPU between passes (ralib.models.device)
    history = pd.DataFrame([v[:2] for v in learn.recorder.values], columns=["train_loss", "valid_loss"])
    history.insert(0, "epoch", range(len(history)))
    if keep_best.metric_history:
        history[f"valid_{task.monitor[0]}"] = keep_best.metric_history
    fitted = Fitted(config, task.name, model, history, keep_best.best_epoch, round(time.time() - started, 1),
                    last_state=keep_best.last_state,
                    throughput=timer.summary | cost(flops.per_sample, len(train), config))  # fmt: skip
    if out_dir is not None:
        fitted.checkpoint = save_checkpoint(checkpoint_path(out_dir, config, task), model, config, task,
                                            {**_run_record(fitted), "fingerprint": run_fingerprint(config, task)})
    return fitted


def cost(flops_per_sample: float | None, samples_per_epoch: int, config: TrainConfig) -> dict:
    """What a training asks of the hardware, beside its measured speed: FLOPs per training sample (forward and
    backward), samples per epoch and the epochs configured (a dry run stops after its first; ``ralib.train.cost``
    scales these to the full run).

    Example:
        >>> cost(3e9, 100, TrainConfig("resnet34", 8, 4))
        {'flops_per_sample': 3000000000.0, 'samples_per_epoch': 100, 'epochs_configured': 8}
    """
    return {"flops_per_sample": None if flops_per_sample is None else float(flops_per_sample),
            "samples_per_epoch": int(samples_per_epoch), "epochs_configured": int(config.epochs)}  # fmt: skip


def checkpoint_path(out_dir: str | Path, config: TrainConfig, task: Task) -> Path:
    """Where :func:`fit` saves the run ``config`` names on ``task``: ``<out_dir>/checkpoints/<label>_<task>.pt``."""
    return Path(out_dir) / "checkpoints" / (config.label.replace(" ", "_") + f"_{task.name}.pt")


#: Code that makes, splits, stages or measures the data rather than training on it: its effect on a run
#: reaches the run through the task's data fingerprint (the arrays and the table themselves), so editing it
#: retrains nothing. What runs while a model trains stays followed: this loop, the models, the losses, the
#: task's module with its datasets, and the loaders and heatmap losses they call.
DATA_CODE = ("ralib.config", "ralib.data", "ralib.synth", "ralib.patches", "ralib.landmarks", "ralib.realism",
             "ralib.metrics", "ralib.agreement", "ralib.splits", "ralib.anatomy", "ralib.sources", "ralib.tracking",
             "ralib.explain", "ralib.plots", "ralib.results")  # fmt: skip
TRAINING_DATA_CODE = ("ralib.data.loaders", "ralib.landmarks.heatmaps")


def training_sources(task: Task, model: str | None = None) -> list[Path]:
    """The ``ralib`` files whose code runs while ``model`` trains on ``task`` (see :data:`DATA_CODE`): this
    loop, the task's module and the model's builder with what they import (None: every model module).

    Example:
        >>> names = {p.name for p in training_sources(task, "idx_pool_scorer")}     # doctest: +SKIP
        >>> "fit.py" in names, "joint_scorer.py" in names, "mil.py" in names, "aggregate.py" in names  # doctest: +SKIP
        (True, True, False, False)
    """
    modules = [__name__, type(task).__module__, "ralib.models.registry"]
    if model is None:
        return module_sources(modules + ["ralib.models"], exclude=("ralib",), exclude_under=DATA_CODE, keep=TRAINING_DATA_CODE)
    # the models package's __init__ imports every model: follow only the builder of this one
    return module_sources(modules + [builder_module(model)], exclude=("ralib", "ralib.models"), exclude_under=DATA_CODE,
                          keep=TRAINING_DATA_CODE)  # fmt: skip


def run_fingerprint(config: TrainConfig, task: Task) -> str | None:
    """What decides a trained model: the configuration (its starting weights by content, not path: the
    ``weights`` file and a folder's pretrained files), the
    task's data (:meth:`~ralib.tasks.Task.fingerprint`) and the code that runs while it trains
    (:func:`training_sources`); None for a task that does not fingerprint its data."""
    data = task.fingerprint()
    if data is None:
        return None
    h = hashlib.sha256()
    record = asdict(config)
    if config.weights:
        record["weights"] = hashlib.sha256(Path(config.weights).read_bytes()).hexdigest()
    if config.pretrained != "random":
        record["pretrained"] = start_record(pretrained_files(config.model, **dict(config.model_options)), config.pretrained)
    record |= training_limits().record(config.batch_size)
    h.update(repr(sorted(record.items())).encode() + data.encode())
    for path in training_sources(task, config.model):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def reuse_or_fit(config: TrainConfig, task: Task, out_dir: str | Path | None = None, look_in=(),
                 progress: bool = True) -> Fitted:  # fmt: skip
    """The run ``config`` names on ``task``: loaded from a checkpoint with the same
    :func:`run_fingerprint` in ``out_dir`` or one of the folders ``look_in`` (e.g. another notebook's run
    folder), else built (:func:`build_model`), trained (:func:`fit`) and saved. Training is deterministic,
    so a reused run predicts exactly what a new one would; its ``seconds`` are those of the original
    training and ``reused_from`` says where it came from. A task without a fingerprint is always trained.

    Example:
        >>> fitted = reuse_or_fit(config, task, run.dir, look_in=[run.dir.parent / "03_whole_image_cnn"])  # doctest: +SKIP
    """
    fingerprint = run_fingerprint(config, task)
    folders = [] if fingerprint is None else ([out_dir] if out_dir is not None else []) + [Path(f) for f in look_in]
    for folder in folders:
        path = checkpoint_path(folder, config, task)
        # the record first: a stale checkpoint under the same name may be of a model that no longer builds so
        if path.is_file() and _readable_record(path).get("fingerprint") == fingerprint:
            model, record = load_checkpoint(path)
            history = pd.DataFrame(record["history"], columns=record.get("history_columns", HISTORY_COLUMNS))
            return Fitted(config, task.name, model, history, record["best_epoch"], record["seconds"], path,
                          reused_from=path, throughput=record.get("throughput", {}))  # fmt: skip
    return fit(build_model(config, task.num_outputs), task, config, out_dir, progress)


def _readable_record(path: Path) -> dict:
    """A checkpoint's record, or none for a damaged checkpoint, which is moved aside (``<name>.damaged``) with a
    message so that its run is trained again."""
    try:
        return checkpoint_record(path)
    except DamagedWeights as error:
        aside = path.with_name(path.name + ".damaged")
        path.replace(aside)
        record_path(path).unlink(missing_ok=True)
        print(f"{error.args[0].split('; it is')[0]}; moved aside as {aside.name}, trained again")
        return {}


HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss"]


def _run_record(fitted: Fitted) -> dict:
    history = [[int(row[0]), *map(float, row[1:])] for row in fitted.history.to_numpy()]
    return {"history": history, "history_columns": list(fitted.history.columns), "best_epoch": int(fitted.best_epoch),
            "seconds": float(fitted.seconds), "throughput": fitted.throughput}  # fmt: skip


def _plain_forward(model: nn.Module, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"outputs": model(*inputs)}


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, forward=_plain_forward, collate=None,
            batch_size: int = 32) -> dict[str, np.ndarray]:  # fmt: skip
    """Named outputs of ``model`` (eval mode) for every item of ``dataset``: ``forward(model, *inputs)``
    gives a dict of tensors per batch (a task's :meth:`~ralib.tasks.Task.forward`), concatenated here.

    Example:
        >>> data = torch.utils.data.TensorDataset(torch.ones(3, 2), torch.zeros(3))
        >>> predict(nn.Linear(2, 1), data)["outputs"].shape
        (3, 1)
    """
    model.eval()
    named: dict[str, list[np.ndarray]] = {}
    with running_on(model) as device:
        for *inputs, _ in DataLoader(dataset, batch_size, collate_fn=collate):
            for key, value in forward(model, *to_device(inputs, device)).items():
                named.setdefault(key, []).append(value.detach().cpu().numpy())
    return {key: np.concatenate(values) for key, values in named.items()}


def save_checkpoint(path: str | Path, model: nn.Module, config: TrainConfig, task: Task | None = None,
                    extra: dict | None = None) -> Path:  # fmt: skip
    """Save weights with the configuration, what the task says a checkpoint needs (e.g. its target
    scaling, :meth:`~ralib.tasks.Task.checkpoint_record`) and ``extra`` (e.g. the loss curves), as plain
    values; written to a temporary file first, so an interrupted save leaves no half checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**asdict(config), **(task.checkpoint_record() if task is not None else {}), **(extra or {})}
    partial_path = path.with_suffix(".partial")
    torch.save({"state_dict": model.state_dict(), "config": record}, partial_path)
    partial_path.replace(path)
    seal(path)  # its checksum beside it: a file damaged later is found (torch would read zeroed tensors silently)
    return path


def checkpoint_record(path: str | Path) -> dict:
    """The plain values :func:`save_checkpoint` stored beside the weights (configuration, task and run
    records, the run's fingerprint), read without building the model (the weights are memory-mapped)."""
    return read_weights(path, mmap=True)["config"]


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a model from :func:`save_checkpoint` (loaded with ``weights_only=True``)."""
    checkpoint = read_weights(path)
    config = checkpoint["config"]
    options = dict(tuple(pair) for pair in config.get("model_options", ()))
    model = create_model(config["model"], config["num_outputs"], **options)
    freeze(model, config.get("freeze"))  # frozen batch norms have other buffers than trainable ones
    model.load_state_dict(checkpoint["state_dict"])
    if config.get("channels_last"):  # the layout it trained in: a reloaded run predicts exactly what it did
        model = model.to(memory_format=torch.channels_last)
    return model.eval(), config
