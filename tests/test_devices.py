"""Where and how far networks train: the device picked, data-loader workers, mixed precision, gradient
accumulation over micro-batches, the dry run's cut after a few batches, and the FLOPs that price a full run."""

import numpy as np
import pytest
import torch
from torch import nn

from ralib.config import get_profile
from ralib.models.device import accelerator, loader_options, model_device, running_on
from ralib.tasks.base import Task
from ralib.train import TrainConfig, fit, predict
from ralib.train.cost import gpu_estimate, training_costs
from ralib.train.fit import limit_training, precision_callbacks, run_fingerprint, training_limits


class Linear(Task):
    """y = x . w on 12 fixed samples of 5 features: no batch norm, no dropout, no augmentation."""

    name, num_outputs = "linear", 1

    def __init__(self, n: int = 12):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 5, generator=generator)
        self.y = self.x @ torch.arange(1.0, 6.0)

    def dataset(self, split, augment="none"):
        return torch.utils.data.TensorDataset(self.x, self.y[:, None])

    def loss(self, name=None):
        return nn.MSELoss()

    def decode(self, outputs, split="test"):
        return outputs["outputs"][:, 0]

    def evaluate(self, predictions, split="test"):
        return {"mse": float(np.mean((predictions - self.y.numpy()) ** 2))}

    def fingerprint(self):
        return "linear-task"


def train(config: TrainConfig, out_dir=None, **limits):
    previous = limit_training(**limits)
    try:
        torch.manual_seed(0)
        return fit(nn.Linear(5, 1), Linear(), config, out_dir, progress=False)
    finally:
        limit_training(previous.batches, previous.micro_batch)


def weights(fitted) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in fitted.model.parameters()])


SGD = TrainConfig("linear", epochs=3, batch_size=12, optimizer="sgd", lr=0.05)


def test_micro_batches_with_accumulated_gradients_train_what_whole_batches_train():
    whole, micro = train(SGD), train(SGD, micro_batch=3)
    assert torch.allclose(weights(whole), weights(micro), atol=1e-6)
    # without accumulation, four steps an epoch instead of one would have gone elsewhere
    stepped = train(TrainConfig("linear", epochs=3, batch_size=3, optimizer="sgd", lr=0.05))
    assert not torch.allclose(weights(whole), weights(stepped), atol=1e-3)
    assert whole.throughput["samples"] == micro.throughput["samples"] == 36


def test_the_dry_runs_cut_trains_its_batches_validates_once_and_keeps_the_configured_epochs():
    config = TrainConfig("linear", epochs=5, batch_size=4, optimizer="sgd", lr=0.05)
    cut = train(config, batches=1)
    assert cut.throughput["samples"] == 4 and len(cut.history) == 1 and np.isfinite(cut.history.valid_loss).all()
    assert cut.throughput["epochs_configured"] == 5 and cut.throughput["samples_per_epoch"] == 12
    assert len(train(config).history) == 5


def test_limits_enter_the_fingerprint_so_a_cut_run_is_never_reused_for_a_full_one():
    full = run_fingerprint(SGD, Linear())
    previous = limit_training(batches=2)
    try:
        cut = run_fingerprint(SGD, Linear())
        limit_training(micro_batch=4)
        micro = run_fingerprint(SGD, Linear())
        limit_training(micro_batch=12)  # no smaller than the batch: nothing changes
        same = run_fingerprint(SGD, Linear())
    finally:
        limit_training(previous.batches, previous.micro_batch)
    assert len({full, cut, micro}) == 3 and same == full


def test_the_flops_of_a_training_sample_are_counted_on_the_first_batch():
    fitted = train(SGD)
    # a 5 -> 1 linear layer: 2 x 5 multiply-adds forward, as many for the weights' gradient (the inputs need none)
    assert fitted.throughput["flops_per_sample"] == 4 * 5 * 1


def test_the_cost_of_a_full_run_is_read_from_the_checkpoints_and_scaled_to_its_films(tmp_path):
    train(TrainConfig("linear", epochs=100, batch_size=4), tmp_path, batches=1)
    costs = training_costs(tmp_path)
    measured = costs[["flops_per_sample", "samples_per_epoch", "epochs_configured", "samples_trained"]]
    assert measured.values.tolist() == [[20, 12, 100, 4]]
    dry, full = get_profile("paper-check"), get_profile("paper")
    estimate = gpu_estimate(tmp_path, dry, full)
    assert estimate["dry_run_training_flops"] == 20 * 4
    assert estimate["full_run_training_flops"] == pytest.approx(20 * 12 * 100 * full.data.n_images / dry.data.n_images)


def test_a_dry_runs_report_adds_the_estimate_to_the_notebooks_metrics(tmp_path):
    import json

    from ralib.run import dry_run_report
    from ralib.tracking import start_run

    train(TrainConfig("linear", epochs=100, batch_size=4), tmp_path, batches=1)
    start_run("99_example", "paper-check", tmp_path).finish()
    line = dry_run_report(tmp_path, "paper-check")
    estimate = json.loads((tmp_path / "metrics.json").read_text())["gpu_estimate"]
    assert estimate["trainings"] == 1 and estimate["full_run_training_flops"] > estimate["dry_run_training_flops"] == 80
    assert "1 trainings" in line and "GPU hours" in line


def test_data_loader_workers_train_what_the_main_process_trains(monkeypatch):
    import sys

    loop = sys.modules["ralib.train.fit"]  # the module (ralib.train.fit is also the name of its function)

    alone = train(SGD)
    monkeypatch.setenv("RALIB_WORKERS", "2")
    assert loader_options(torch.device("cpu")) == {"num_workers": 2, "persistent_workers": True}
    workers, loader = [], loop.DataLoader
    def counting(*args, **kwargs):
        workers.append(kwargs.get("num_workers", 0))
        return loader(*args, **kwargs)

    monkeypatch.setattr(loop, "DataLoader", counting)
    train(SGD)
    assert workers[0] == 2  # the training loader of fit has them
    # the same samples, not to the last bit (most likely their order: persistent workers seed the shuffling otherwise)
    assert torch.allclose(weights(train(SGD)), weights(alone), atol=1e-5)


def test_the_device_is_picked_or_named_and_a_missing_one_is_refused(monkeypatch):
    monkeypatch.setenv("RALIB_DEVICE", "cpu")
    assert accelerator().type == "cpu" and loader_options(accelerator()) == {}
    monkeypatch.setenv("RALIB_DEVICE", "tpu")
    with pytest.raises(ValueError, match="RALIB_DEVICE must be one of"):
        accelerator()
    if not torch.cuda.is_available():
        monkeypatch.setenv("RALIB_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="no CUDA device"):
            accelerator()
    monkeypatch.delenv("RALIB_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert accelerator().type == "cuda" and loader_options(torch.device("cuda"))["pin_memory"]


def test_a_model_runs_where_it_is_sent_and_comes_back_to_the_cpu_after_training_and_prediction():
    fitted = train(SGD)
    assert model_device(fitted.model).type == "cpu"
    outputs = predict(fitted.model, Linear().dataset("val"))["outputs"]
    assert outputs.shape == (12, 1) and model_device(fitted.model).type == "cpu"


class Moves(nn.Linear):
    """A layer that records where it is sent instead of going (no second device here)."""

    def to(self, *args, **kwargs):
        self.moves = [*getattr(self, "moves", []), str(args[0])]
        return self


def test_a_pass_on_the_accelerator_takes_a_cpu_model_there_and_back_even_when_it_fails():
    model = Moves(2, 1)
    with pytest.raises(RuntimeError, match="a failing pass"), running_on(model, torch.device("cuda")) as device:
        assert device.type == "cuda"
        raise RuntimeError("a failing pass")
    assert model.moves == ["cuda", "cpu"]


def test_mixed_precision_is_float16_with_loss_scaling_on_cuda_and_bfloat16_elsewhere():
    assert [type(c).__name__ for c in precision_callbacks("amp", torch.device("cuda"))] == ["MixedPrecision"]
    assert [type(c).__name__ for c in precision_callbacks("amp", torch.device("mps"))] == ["BFloat16"]
    assert precision_callbacks("fp32", torch.device("cuda")) == []
    with pytest.raises(ValueError, match="precision must be one of"):
        precision_callbacks("fp8", torch.device("cpu"))
    fitted = train(TrainConfig("linear", epochs=2, batch_size=4, optimizer="sgd", lr=0.05, precision="amp"))
    assert np.isfinite(fitted.history.train_loss).all()  # bfloat16 autocast on this CPU
    assert training_limits().batches == 0  # every test put the limits back


class OutOfMemory(nn.Linear):
    """A layer that runs out of device memory on any batch larger than two samples."""

    def forward(self, x):
        if len(x) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().forward(x)


def test_running_out_of_device_memory_says_how_to_fit_the_batch_and_micro_batches_do():
    config = TrainConfig("linear", epochs=1, batch_size=4, optimizer="sgd", lr=0.05)
    with pytest.raises(torch.OutOfMemoryError, match="set RALIB_MICRO_BATCH=2 .* batch of 4"):
        fit(OutOfMemory(5, 1), Linear(), config, progress=False)
    previous = limit_training(micro_batch=2)
    try:
        assert np.isfinite(fit(OutOfMemory(5, 1), Linear(), config, progress=False).history.train_loss).all()
    finally:
        limit_training(previous.batches, previous.micro_batch)
