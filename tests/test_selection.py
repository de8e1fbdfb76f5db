"""Which weights a run keeps (lowest loss, best monitored measure, averaged tail) and probabilities corrected
for weighted draws."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from ralib.calibration import class_priors, prior_shift
from ralib.tasks import Task
from ralib.tasks.joint_grades import JointGradeTask, sampling_weights
from ralib.train import TrainConfig, fit, reuse_or_fit
from ralib.train.fit import average_states


class PlantedTask(Task):
    """A linear regression whose validation "score" is planted per epoch, so that the measure and the loss
    disagree about the best epoch."""

    name = "planted"
    monitor = ("score", True)
    num_outputs = 1

    def __init__(self, scores, n_val=6):
        self.scores, self.calls, self.n_val = list(scores), 0, n_val
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(24 + n_val, 3, generator=g), torch.randn(24 + n_val, generator=g)

    def dataset(self, split, augment="none"):
        part = slice(0, 24) if split == "train" else slice(24, None)
        return torch.utils.data.TensorDataset(self.x[part], self.y[part, None])

    def loss(self, name=None):
        return nn.MSELoss()

    def decode(self, outputs, split="test"):
        return outputs["outputs"][:, 0]

    def evaluate(self, predictions, split="test"):
        assert len(predictions) == self.n_val  # every validation item, not one batch
        score = self.scores[self.calls % len(self.scores)]
        self.calls += 1
        return {"score": score}

    def fingerprint(self):
        return repr(self.scores)


def linear(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def test_the_epoch_of_best_monitored_measure_is_kept_not_the_lowest_loss():
    task = PlantedTask([0.1, 0.9, 0.3, 0.2])
    config = TrainConfig("planted", epochs=4, batch_size=4, optimizer="adamw", lr=0.05, select="metric")
    fitted = fit(linear(), task, config, progress=False)
    assert fitted.best_epoch == 1 and fitted.history.valid_score.tolist() == [0.1, 0.9, 0.3, 0.2]
    # the weights kept are those after epoch 1: a two-epoch run (deterministic, constant rate) ends there
    two = fit(linear(), PlantedTask([0.0]), replace(config, epochs=2, select="loss"), progress=False)
    kept = fitted.model.state_dict()
    assert all(torch.allclose(two.last_state[k], kept[k]) for k in kept)
    assert not all(torch.allclose(fitted.last_state[k], kept[k]) for k in kept)


def test_lower_is_better_measures_and_the_history_survive_a_reload(tmp_path, monkeypatch):
    import importlib

    fit_module = importlib.import_module("ralib.train.fit")
    task = PlantedTask([5.0, 2.0, 4.0])
    task.monitor = ("score", False)
    config = TrainConfig("planted", epochs=3, batch_size=4, optimizer="adamw", lr=0.05, select="metric")
    monkeypatch.setattr(fit_module, "training_sources", lambda task, model: [])  # a model of the test's own
    monkeypatch.setattr(fit_module, "build_model", lambda config, n: linear())
    monkeypatch.setattr(fit_module, "load_checkpoint", lambda path: (linear(), torch.load(path, weights_only=True)["config"]))
    first = reuse_or_fit(config, task, tmp_path, progress=False)
    assert first.best_epoch == 1
    again = reuse_or_fit(config, task, tmp_path, progress=False)
    assert again.reused_from == first.checkpoint and again.history.equals(first.history)


def test_selecting_on_a_measure_needs_a_task_that_monitors_one():
    task = PlantedTask([1.0])
    task.monitor = None
    with pytest.raises(ValueError, match="monitored measure"):
        fit(linear(), task, TrainConfig("planted", 1, 4, select="metric"), progress=False)
    with pytest.raises(ValueError, match="select must be one of"):
        fit(linear(), task, TrainConfig("planted", 1, 4, select="best"), progress=False)


def test_averaging_two_known_states_gives_their_mean():
    a = {"w": torch.tensor([[1.0, 2.0]]), "bn.num_batches_tracked": torch.tensor(3)}
    b = {"w": torch.tensor([[3.0, 6.0]]), "bn.num_batches_tracked": torch.tensor(5)}
    mean = average_states([a, b])
    assert torch.equal(mean["w"], torch.tensor([[2.0, 4.0]])) and int(mean["bn.num_batches_tracked"]) == 5


def test_select_average_keeps_the_mean_of_the_last_epochs():
    config = TrainConfig("planted", epochs=3, batch_size=4, optimizer="adamw", lr=0.05)
    ends = [fit(linear(), PlantedTask([0.0]), replace(config, epochs=e), progress=False).last_state for e in (2, 3)]
    averaged = fit(linear(), PlantedTask([0.0]), replace(config, select="average", average_epochs=2), progress=False)
    expected = average_states(ends)
    assert all(torch.allclose(averaged.model.state_dict()[k], expected[k], atol=1e-6) for k in expected)
    assert averaged.best_epoch == 2


def test_prior_correction_recovers_the_true_class_frequencies():
    """A classifier trained on draws balanced over two classes (true frequencies 0.85 / 0.15) predicts about
    half of each; corrected for the draws, its mean probabilities are the data's frequencies again."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    y = (rng.random(20000) < 0.15).astype(int)
    x = rng.normal(y * 1.5, 1.0)[:, None]  # overlapping classes: the prior matters
    weights = 1.0 / np.bincount(y)[y]
    drawn = rng.choice(len(y), size=len(y), p=weights / weights.sum())
    model = LogisticRegression().fit(x[drawn], y[drawn])
    p = model.predict_proba(x)
    assert p[:, 1].mean() > 0.3  # trained under the balanced prior, it over-calls the rare class
    corrected = prior_shift(p, class_priors(y, 2, weights), class_priors(y, 2))
    assert corrected[:, 1].mean() == pytest.approx(0.15, abs=0.01)
    assert np.allclose(corrected.sum(1), 1)


def test_joint_grade_priors_follow_the_weighted_draws():
    grades = np.array([0, 0, 0, 0, 1, 2, 0, 1])
    table = pd.DataFrame({"split": ["train"] * 8, "erosion_site": ["ip"] * 8, "jsn_site": [""] * 8,
                          "erosion_grade": grades, "jsn_grade": [np.nan] * 8})  # fmt: skip
    task = JointGradeTask(np.zeros((8, 8, 8), np.uint8), table, input_size=8)
    drawn, actual = task.priors("erosion")
    assert np.allclose(actual[:3], [5 / 8, 2 / 8, 1 / 8]) and np.allclose(drawn[:3], 1 / 3)  # one head: inverse frequency
    w = sampling_weights(task.targets)
    assert np.allclose(w, 1 / np.bincount(grades)[grades])
    uniform = np.zeros((1, 11))
    uniform[0, :6] = uniform[0, 6:] = 1 / 6
    assert np.allclose(task.calibrated(uniform)[0, :3], actual[:3])  # undecided under the draws: the data's prior


def test_a_run_records_its_throughput_and_keeps_it_in_the_checkpoint(tmp_path):
    from ralib.train.fit import checkpoint_record, save_checkpoint, _run_record

    config = TrainConfig("planted", epochs=2, batch_size=4, optimizer="adamw", lr=0.05)
    fitted = fit(linear(), PlantedTask([0.0]), config, progress=False)
    t = fitted.throughput
    assert t["samples"] == 2 * 24 and t["samples_per_second"] > 0 and 0 <= t["data_share"] < 1
    path = save_checkpoint(tmp_path / "m.pt", fitted.model, config, None, _run_record(fitted))
    assert checkpoint_record(path)["throughput"] == t


def test_bfloat16_and_channels_last_train_to_the_same_place_roughly():
    """bf16 autocast and NHWC weights change the arithmetic, not the training: a small CNN ends close to fp32."""
    class Squares(PlantedTask):
        def __init__(self):
            super().__init__([0.0])
            g = torch.Generator().manual_seed(1)
            self.x, self.y = torch.randn(30, 1, 8, 8, generator=g), torch.randn(30, generator=g)

    def cnn():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 1))

    config = TrainConfig("planted", epochs=2, batch_size=6, optimizer="adamw", lr=1e-3)
    runs = {name: fit(cnn(), Squares(), replace(config, **change), progress=False)
            for name, change in {"fp32": {}, "bf16": {"precision": "bf16"}, "nhwc": {"channels_last": True}}.items()}
    losses = {name: f.history.valid_loss.to_numpy() for name, f in runs.items()}
    assert np.allclose(losses["nhwc"], losses["fp32"], rtol=1e-4)
    assert np.allclose(losses["bf16"], losses["fp32"], rtol=0.05) and not np.array_equal(losses["bf16"], losses["fp32"])
    assert runs["nhwc"].model[0].weight.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="precision"):
        fit(cnn(), Squares(), replace(config, precision="fp16"), progress=False)


def test_a_channels_last_run_reloads_in_its_layout_and_predicts_exactly_what_it_did(tmp_path):
    """From the base Task.checkpoint_record alone (the task's name and num_outputs) the model is rebuilt."""
    from ralib.train import build_model, load_checkpoint, predict
    from ralib.train.fit import _run_record, save_checkpoint

    class Images(PlantedTask):
        def __init__(self):
            super().__init__([0.0])
            g = torch.Generator().manual_seed(2)
            self.x, self.y = torch.randn(30, 1, 32, 32, generator=g), torch.randn(30, generator=g)

    task = Images()
    config = TrainConfig("resnet34", epochs=1, batch_size=6, optimizer="adamw", lr=1e-3, channels_last=True)
    fitted = fit(build_model(config, 1), task, config, progress=False)
    path = save_checkpoint(tmp_path / "m.pt", fitted.model, config, task, _run_record(fitted))
    model, _ = load_checkpoint(path)
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    before, after = (predict(m, task.dataset("val"))["outputs"] for m in (fitted.model, model))
    assert np.array_equal(before, after)


def test_a_training_loss_that_becomes_nan_stops_the_run_with_an_error():
    class Diverging(PlantedTask):
        def loss(self, name=None):
            return lambda pred, target: (pred - target).pow(2).mean() * float("nan")

    with pytest.raises(FloatingPointError, match="training loss became nan in epoch 1"):
        fit(linear(), Diverging([0.0]), TrainConfig("planted", 2, 4, optimizer="adamw"), progress=False)
