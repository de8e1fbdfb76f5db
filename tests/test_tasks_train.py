"""Tasks, image arrays and training through fastai, on a small SynthRA set."""

import numpy as np
import pytest
import torch

from ralib import tasks
from ralib.data import load_dataset
from ralib.data.analysis import hand_stages
from ralib.data.arrays import film_array, hand_array, hand_sides
from ralib.synth import SynthConfig, make_dataset
from ralib.train import build_model, fit, load_checkpoint, predict, recipes, reuse_or_fit


def train(task, config, out_dir=None):
    return fit(build_model(config, task.num_outputs), task, config, out_dir, progress=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = make_dataset(SynthConfig(n_images=30, image_size=256), tmp_path_factory.mktemp("synth"), progress=False, workers=1)
    return load_dataset("synthra", folder)


@pytest.fixture
def films(small):
    return film_array(small, 32, progress=False)


def test_film_array_is_cached_and_in_0_1(small, isolated_paths):
    first = film_array(small, 32, progress=False)
    assert first.shape == (30, 32, 32) and 0 <= first.min() and first.max() <= 1
    cached = list((isolated_paths / "data" / "arrays").glob("films-32px-*.npy"))
    assert len(cached) == 1
    assert np.array_equal(film_array(small, 32, progress=False), first)
    film_array(small, 24, progress=False)
    assert len(list((isolated_paths / "data" / "arrays").glob("films-*.npy"))) == 2


def test_the_cached_decoded_arrays_give_the_batches_that_decoding_on_the_fly_gives(small, isolated_paths):
    """Training reads films and hands decoded, stretched and resized once (memory-mapped ``.npy``), never per
    epoch: a batch from the cache equals one decoded from the image files anew."""
    from torch.utils.data import DataLoader

    from ralib.data.loaders import ImageDataset

    for make in (film_array, lambda ds, size, **kw: hand_array(ds, size, **kw)[0]):
        cached, fresh = make(small, 24, progress=False), make(small, 24, progress=False, cache=False)
        assert np.array_equal(make(small, 24, progress=False), cached)  # read back from the file
        batches = [next(iter(DataLoader(ImageDataset(a, np.zeros(len(a), np.float32)), batch_size=8))) for a in (cached, fresh)]
        assert torch.equal(batches[0][0], batches[1][0])


def test_hand_array_splits_every_film_and_the_seam_is_checked(small):
    hands, table = hand_array(small, 32, progress=False)
    assert hands.shape == (60, 32, 32) and set(table.hand) == {"LH", "RH"}
    assert table.seam_correct.mean() > 0.9


def test_hand_sides_from_landmarks_when_no_column(small):
    without = small.radiographs.drop(columns="left_hand_side")
    ds = type(small)(small.name, without, small.scores, small.landmarks)
    inferred = hand_sides(ds)
    assert (inferred == small.radiographs.set_index("radiograph_id").left_hand_side.reindex(inferred.index)).all()
    blind = type(small)(small.name, without, small.scores[small.scores.scheme == "svdh"].drop(columns=["x0", "y0", "x1", "y1"]), None)
    with pytest.raises(ValueError, match="left_hand_side"):
        hand_sides(blind)


def test_hand_stages_follow_the_rule(small):
    stages = hand_stages(small)
    assert len(stages) == 60 and stages.stage.between(0, 5).all()
    one = stages.iloc[0]
    s = small.scores
    s = s[(s.scheme == "svdh") & (s.radiograph_id == one.radiograph_id) & (s.hand == one.hand)]
    worst_erosion = np.floor(s[s.kind == "erosion"].grade.max() + 0.5)
    from ralib.anatomy import STAGE_FROM_EROSION
    assert one.stage >= STAGE_FROM_EROSION[int(worst_erosion)]


def test_tasks_share_one_patient_level_split(small, films):
    svdh, sev = tasks.svdh_regression(small, films), tasks.severity(small, films)
    assert (svdh.table.split == sev.table.split).all()
    assert sev.table.severity.between(0, 9).all() and sev.num_outputs == 10
    hands, table = hand_array(small, 32, progress=False)
    rec = tasks.recognition(small, hands, table)
    assert rec.table.groupby("patient_id").split.nunique().max() == 1
    assert ((rec.table.stage > 0).astype(int) == rec.table.ra).all()
    z = svdh.encode(svdh.truth("train"))
    assert abs(z.mean()) < 1e-5 and np.allclose(svdh.decode({"outputs": z[:, None]}), svdh.truth("train"), atol=1e-3)


def test_a_split_is_made_when_the_source_has_none(small, films):
    ds = type(small)(small.name, small.radiographs.assign(split=""), small.scores, small.landmarks)
    task = tasks.svdh_regression(ds, films)
    assert set(task.table.split) == {"train", "val", "test"}


def test_fit_keeps_the_best_epoch_and_the_checkpoint_reloads(small, films, tmp_path):
    task = tasks.svdh_regression(small, films)
    fitted = train(task, recipes.fast("resnet34", 3, 4), tmp_path)
    assert fitted.best_epoch == int(fitted.history.valid_loss.idxmin())
    outputs = predict(fitted.model, task.dataset("val"), task.forward)["outputs"]
    val_mse = np.mean((outputs[:, 0] - task.encode(task.truth("val"))) ** 2)
    assert val_mse == pytest.approx(fitted.history.valid_loss.min(), rel=1e-3)
    model, config = load_checkpoint(fitted.checkpoint)
    assert config["model"] == "resnet34" and config["target_sd"] == pytest.approx(task.target_sd)
    again = predict(model, task.dataset("val"), task.forward)["outputs"]
    assert np.allclose(again, outputs, atol=1e-5)
    last = fitted.last_epoch_model(task.num_outputs).state_dict()
    assert all(torch.equal(v, fitted.last_state[k]) for k, v in last.items())
    if fitted.best_epoch != 2:  # the model kept is the best epoch's, not the last one's
        assert not all(torch.equal(v, fitted.model.state_dict()[k]) for k, v in last.items())


def test_predictions_are_cached_per_task_not_only_per_split(small, films):
    task = tasks.svdh_regression(small, films)
    config = recipes.fast("mobilenetv2_100", 1, 4)
    fitted = fit(build_model(config, 1), task, config, progress=False)
    mirrored = tasks.svdh_regression(small, films[:, :, ::-1].copy())  # other images, the same films and split
    first, other = fitted.predict(task, "val"), fitted.predict(mirrored, "val")
    assert not np.array_equal(first, other)  # a second task's split is predicted, not served from the first's
    assert np.array_equal(fitted.predict(task, "val"), first)


def test_a_run_already_trained_on_the_same_data_is_reused_and_only_then(small, films, tmp_path):
    from dataclasses import replace

    task = tasks.svdh_regression(small, films)
    config = recipes.fast("mobilenetv2_100", 1, 4)
    first = reuse_or_fit(config, task, tmp_path / "03", progress=False)
    assert first.reused_from is None and first.checkpoint.is_file()
    again = reuse_or_fit(config, task, tmp_path / "04", look_in=[tmp_path / "03"], progress=False)
    assert again.reused_from == first.checkpoint and again.best_epoch == first.best_epoch
    assert again.history.equals(first.history) and again.seconds == first.seconds
    assert np.array_equal(again.predict(task, "val"), first.predict(task, "val"))
    other_seed = reuse_or_fit(replace(config, seed=1), task, tmp_path / "04", look_in=[tmp_path / "03"], progress=False)
    assert other_seed.reused_from is None
    other_films = tasks.svdh_regression(small, films[:, ::-1].copy())  # the same targets on other images
    assert reuse_or_fit(config, other_films, tmp_path / "04", look_in=[tmp_path / "03"], progress=False).reused_from is None


def test_a_damaged_checkpoint_is_named_moved_aside_and_its_run_trained_again(small, films, tmp_path, capsys):
    from pathlib import Path

    from ralib.models.weight_files import DamagedWeights, read_weights
    from ralib.train.fit import checkpoint_path

    task, config = tasks.svdh_regression(small, films), recipes.fast("mobilenetv2_100", 1, 4)
    first = reuse_or_fit(config, task, tmp_path, progress=False)
    path = checkpoint_path(tmp_path, config, task)
    with open(path, "r+b") as f:  # zeros inside the weights, which torch itself would read without a word
        f.seek(path.stat().st_size // 2)
        f.write(bytes(4096))
    with pytest.raises(DamagedWeights, match=f"{path.name}: not a readable weights file \\(its checksum differs"):
        read_weights(path)
    again = reuse_or_fit(config, task, tmp_path, progress=False)
    assert again.reused_from is None and Path(f"{path}.damaged").exists()
    assert f"{path.name}: not a readable weights file (its checksum differs" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))
    path.with_name(path.name + ".sealed").unlink()
    path.write_bytes(path.read_bytes()[:100])  # truncated, without its record
    assert reuse_or_fit(config, task, tmp_path, progress=False).reused_from is None
    assert "not a readable weights file (RuntimeError: PytorchStreamReader" in capsys.readouterr().out


def test_a_stale_checkpoint_of_another_architecture_is_retrained_not_loaded(small, films, tmp_path):
    from ralib.train.fit import checkpoint_path, save_checkpoint

    task = tasks.svdh_regression(small, films)
    config = recipes.fast("mobilenetv2_100", 1, 4)
    stale = torch.nn.Linear(3, 1)  # what an earlier version of the code saved under this run's name
    save_checkpoint(checkpoint_path(tmp_path, config, task), stale, config, task, {"fingerprint": "an older one"})
    fitted = reuse_or_fit(config, task, tmp_path, progress=False)
    assert fitted.reused_from is None and fitted.predict(task, "val").shape == (len(task.rows("val")),)
    assert reuse_or_fit(config, task, tmp_path, progress=False).reused_from == fitted.checkpoint


def test_a_run_is_keyed_by_the_code_that_trains_not_the_code_that_made_or_measures_the_data():
    from pathlib import Path

    from ralib.tasks.bags import BagTask
    from ralib.tasks.landmarks import LandmarkTask
    from ralib.train.fit import training_sources

    def names(task_class):
        root = Path(tasks.__file__).parent.parent
        return {p.relative_to(root).as_posix() for p in training_sources(task_class.__new__(task_class))}

    image, bags, landmarks = names(tasks.ImageTask), names(BagTask), names(LandmarkTask)
    assert {"train/fit.py", "models/backbones.py", "losses.py", "data/loaders.py", "tasks/whole_image.py"} <= image
    assert "tasks/bags.py" in bags and "tasks/bags.py" not in image and "landmarks/heatmaps.py" in landmarks
    # given the model, only its builder's code: a new model module retrains nothing else
    scorer = {p.relative_to(Path(tasks.__file__).parent.parent).as_posix() for p in training_sources(BagTask.__new__(BagTask), "attention_mil")}
    assert {"models/mil.py", "models/registry.py", "models/backbones.py", "train/fit.py"} <= scorer
    assert not {"models/joint_scorer.py", "models/landmark_net.py", "models/__init__.py"} & scorer
    assert "models/joint_scorer.py" in image  # without a model: every model module
    # the data's own fingerprint covers these: editing them must not retrain every model
    made_or_measured = {"config.py", "data/aggregate.py", "data/arrays.py", "data/analysis.py", "synth/world.py", "splits.py", "anatomy.py",
                        "metrics.py", "patches/cache.py", "__init__.py"}
    assert not made_or_measured & (image | bags | landmarks)


def test_the_same_run_twice_gives_the_same_weights_bit_for_bit(small, films):
    """What the README promises: on one machine, a seed fixes a run exactly; another seed changes it."""
    from dataclasses import replace

    task = tasks.svdh_regression(small, films)
    config = recipes.fast("resnet34", 2, 4)
    first, second = (train(task, config).model.state_dict() for _ in range(2))
    assert all(torch.equal(v, second[k]) for k, v in first.items())
    other = train(task, replace(config, seed=1)).model.state_dict()
    assert not all(torch.equal(v, other[k]) for k, v in first.items())


def test_fit_with_the_papers_recipes_and_frozen_layers(small, films):
    task = tasks.severity(small, films)
    config = recipes.miua2024("mobilenetv2_100", 1, 4, loss="cross_entropy", freeze="IRBs-2")
    fitted = train(task, config)
    assert not any(p.requires_grad for p in fitted.model.blocks[1].parameters())
    assert fitted.predict(task, "test").shape == (len(task.rows("test")), 10)
    hands, table = hand_array(small, 64, progress=False)  # AlexNet needs at least 63 px
    staging = tasks.staging(small, hands, table)
    fitted = train(staging, recipes.diagnosis2024("alexnet", 1, 8))
    assert np.allclose(fitted.predict(staging, "val").sum(1), 1)


def test_bone_age_weights_start_a_scoring_model(small, films, tmp_path):
    from ralib.models import create_model

    task = tasks.svdh_regression(small, films)
    fitted = train(task, recipes.fast("resnet34", 1, 4), tmp_path)
    same = create_model("resnet34", 1, weights=fitted.checkpoint)
    other = create_model("resnet34", 10, weights=fitted.checkpoint)
    reference = fitted.model.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in same.state_dict().items())
    assert torch.equal(other.layer2[0].conv1.weight, reference["layer2.0.conv1.weight"])
    assert other.fc.out_features == 10


def test_cross_entropy_on_a_regression_is_refused(small, films):
    with pytest.raises(ValueError, match="classification"):
        train(tasks.svdh_regression(small, films), recipes.fast("resnet34", 1, 4, loss="cross_entropy"))


def test_transfer_grid_and_recipes_follow_the_profile():
    from ralib.train import hand_config, transfer_grid

    grid = transfer_grid([("mobilenetv2_100", "none"), ("mobilenetv2_100", "IRBs-3")], 2, 4, "mse",
                         {"mobilenetv2_100": "m.pt"}, paper_recipe=True, start="imagenet")  # fmt: skip
    assert [(c.weights, c.freeze, c.tag, c.pretrained) for c in grid] == [
        (None, None, "", "random"), ("m.pt", None, "bone age", "random"), ("m.pt", "IRBs-3", "bone age", "random"), (None, None, "", "imagenet")]
    assert grid[-1].label == "mobilenetv2_100 mse b4 imagenet"
    assert all(c.optimizer == "sgd" for c in grid)
    assert transfer_grid([("resnet34", "none")], 1, 4, "mse", {"resnet34": "r.pt"}, paper_recipe=False)[0].schedule == "one_cycle"
    assert hand_config("alexnet", 1, 8, True).lr == 1e-5 and hand_config("alexnet", 1, 8, False).augment == "diagnosis2024"


def test_case_maps_and_their_figure_have_one_per_case(small, films):
    from ralib import explain, plots

    task = tasks.svdh_regression(small, films)
    fitted = train(task, recipes.fast("resnet34", 1, 4))
    cases = explain.regression_cases(task.truth("test"), fitted.predict(task))
    maps = explain.case_maps(fitted.model, task, cases)
    assert set(maps) == set(cases) and all(m.shape == task.images.shape[1:] for m in maps.values())
    fig = plots.heatmap_cases(task, cases, maps)
    assert len([ax for ax in fig.axes if ax.images]) == len(cases) > 0


def test_a_task_made_from_a_checkpoint_record_scales_new_images_as_the_model_saw_its_own(small, films):
    task = tasks.svdh_regression(small, films)
    again = tasks.whole_image.ImageTask("svdh_regression", "regression", films[:2], task.table.iloc[:2].assign(split="test"), "score",
                                        record=task.checkpoint_record())  # fmt: skip
    assert (again.pixel_mean, again.pixel_sd, again.target_sd) == (task.pixel_mean, task.pixel_sd, task.target_sd)
    expected = (films[0].astype(np.float32) - task.pixel_mean) / task.pixel_sd
    assert np.allclose(again.dataset("test")[0][0].numpy()[0], expected, atol=1e-5)
