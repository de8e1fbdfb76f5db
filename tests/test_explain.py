"""Grad-CAM, the paper's case selection and t-SNE."""

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from ralib import explain, plots
from ralib.config import get_profile
from ralib.data.arrays import _letterbox_stretched
from ralib.data.model import RADataset
from ralib.explain import measures, regions, sanity
from ralib.explain.compare import predicted_totals
from ralib.explain.trained import NEW, Trained, checkpoint, reads_crops, with_methods
from ralib.geometry import Frame, Placement, cut
from ralib.models import ExplainerTarget, create_model, explainer_target
from ralib.tasks import ImageTask
from ralib.tasks.bags import BagTask
from ralib.tasks.joint_grades import JointGradeTask


@pytest.mark.parametrize("name", ["resnet34", "mobilenetv2_100", "alexnet"])
def test_gradcam_gives_one_heatmap_per_image_in_0_1(name):
    model = create_model(name, 3).eval()
    images = torch.randn(2, 1, 64, 64)
    heat = explain.gradcam(model, images, classes=[0, 2])
    assert heat.shape == (2, 64, 64) and heat.min() >= 0 and heat.max() <= 1
    regressor = create_model(name, 1).eval()
    assert explain.gradcam(regressor, images).shape == (2, 64, 64)


def test_regression_cases_follow_the_papers_rules():
    true = np.array([2.0, 3.0, 250.0, 240.0, 100.0, 120.0])
    pred = np.array([4.0, 70.0, 245.0, 180.0, 160.0, 110.0])
    cases = explain.regression_cases(true, pred)
    assert cases["TN"]["index"] == 0  # healthy, error 2
    assert cases["TP"]["index"] == 2  # severe (> 200), error 5
    assert cases["FP"]["index"] == 1  # over by 67 (the largest over-estimate beyond 50)
    assert cases["FN"]["index"] == 3  # under by 60
    assert cases["TP"]["threshold"] == 200


def test_regression_cases_scale_the_rules_to_a_smaller_range():
    true = np.array([1.0, 50, 150, 160, 30])
    pred = np.array([2.0, 52, 146, 130, 45])
    cases = explain.regression_cases(true, pred)
    assert cases["TP"]["index"] == 2 and cases["TP"]["threshold"] < 200
    assert cases["FN"]["index"] == 3 and cases["FP"]["index"] == 4


def test_class_cases():
    cases = explain.class_cases([0, 3, 5, 2, 4], [0, 3, 5, 6, 1])
    assert {k: v["index"] for k, v in cases.items()} == {"TN": 0, "TP": 2, "FP": 3, "FN": 4}


def test_tsne_embeds_small_sets():
    xy = explain.tsne(np.random.default_rng(0).normal(size=(12, 5)))
    assert xy.shape == (12, 2) and np.isfinite(xy).all()


# --- maps that explain, measured against truth ----------------------------------------------------------

SQUARE = (slice(20, 36), slice(36, 52))  # rows, columns of the one square the toy model reads


class SquareReader(torch.nn.Module):
    """A CNN whose output depends on one square of its 64 x 64 input only: the input is cut to the square
    before bias-free convolutions, so every activation outside it (beyond the receptive field) is zero."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1, bias=False), torch.nn.ReLU(),
                                            torch.nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.nn.ReLU())  # fmt: skip
        self.head = torch.nn.Linear(8, 1)
        self.register_buffer("window", torch.zeros(1, 1, 64, 64))
        self.window[(0, 0, *SQUARE)] = 1

    def forward(self, x):
        return self.head(self.features(x * self.window).mean((2, 3)))

    def explainer_target(self):
        return ExplainerTarget(self.features)


@pytest.mark.parametrize("method", list(explain.CAM_METHODS))
def test_every_cam_method_puts_the_heat_where_the_model_reads(method):
    maps = explain.cam_maps(SquareReader(), torch.rand(3, 1, 64, 64) + 0.5, method)
    inside = np.zeros((64, 64), bool)
    inside[SQUARE[0].start - 2 : SQUARE[0].stop + 2, SQUARE[1].start - 2 : SQUARE[1].stop + 2] = True  # two 3 x 3 convolutions blur the edge by 2 px
    shares = [m[inside].sum() / m.sum() for m in maps]
    assert min(shares) > 0.8, shares


@pytest.mark.parametrize("method", list(explain.CAM_METHODS))
def test_cam_maps_go_through_in_groups_of_bounded_size_and_match_one_pass(method, monkeypatch):
    """Score-CAM holds each channel's map of all its images at input size (the paper profile's crops passed
    24 GB in one call): images go through a group at a time, and each map depends on its own image only."""
    images = torch.rand(5, 1, 64, 64) + 0.5
    monkeypatch.setattr(explain.cam, "PASS_PIXELS", 10**9)
    whole = explain.cam_maps(SquareReader(), images, method)
    sizes = []
    cam_class = explain.CAM_METHODS[method]
    original = cam_class.__call__
    monkeypatch.setattr(cam_class, "__call__", lambda self, input_tensor, **kw: sizes.append(len(input_tensor)) or original(self, input_tensor, **kw))
    monkeypatch.setattr(explain.cam, "PASS_PIXELS", 2 * 64 * 64)
    grouped = explain.cam_maps(SquareReader(), images, method)
    assert sizes == ([1] * 5 if method == "Score-CAM" else [2, 2, 1])
    np.testing.assert_allclose(grouped, whole, atol=1e-5)


def test_every_registered_model_with_a_feature_map_declares_where_cams_read():
    for name, kwargs in [("idx_pool_scorer", {"input_size": 64}), ("attention_gated", {}), ("resnet34", {}),
                         ("mobilenetv2_100", {}), ("googlenet", {}), ("idx_pool_scorer", {"backbone": "resnet18"})]:  # fmt: skip
        model = create_model(name, 2, **kwargs).eval()
        layer, reshape = explainer_target(model)
        seen = []
        handle = layer.register_forward_hook(lambda m, i, o: seen.append(o))
        model(torch.rand(1, 1, 64, 64))
        handle.remove()
        out = seen[0] if reshape is None else reshape(seen[0])
        assert out.ndim == 4 and out.shape[-1] >= 1, name
        assert explain.cam_maps(model, torch.rand(1, 1, 64, 64), target=explain.ExpectedGrade([(0, 2)])).shape == (1, 64, 64)
    with pytest.raises(ValueError, match="declares no explainer target"):
        explainer_target(create_model("region_detector", 6, image_size=64))


def test_measures_of_a_map_all_on_one_damaged_site():
    boxes = pd.DataFrame({"hand": ["LH", "LH", "RH"], "site": ["mcp2", "mcp3", "mcp2"], "x0": [10.0, 40, 70],
                          "y0": [10.0, 10, 10], "x1": [20.0, 50, 80], "y1": [20.0, 20, 20], "damage": [2, 0, 0]})  # fmt: skip
    labels = regions.paint_regions((40, 100), np.ones((40, 100), bool), boxes, marker_box="90 30 100 40")
    heat = np.zeros((40, 100))
    heat[12:18, 12:18] = 1.0
    m = measures.film_measures(heat, labels, k=1)
    assert m["heat: damaged site"] == 1.0 and m["hit"] is True and m["top-k on damage"] == 1.0
    assert m["area: damaged site"] == 0.025 and m["area: marker"] == 0.025 and m["heat: healthy site"] == 0.0
    sites = boxes.assign(radiograph_id="a", heat=measures.box_heat(heat, boxes))
    assert measures.site_auroc(sites) == 1.0
    s = measures.summarise(pd.DataFrame([m]).assign(radiograph_id="a"), sites, n_resamples=20)
    assert s["site AUROC"] == 1.0 and s["heat: damaged site"] == 1.0 and s["hit"] == 1.0
    on_marker = np.zeros((40, 100))
    on_marker[35, 95] = 1.0
    m = measures.film_measures(on_marker, labels)
    assert m["heat: marker"] == 1.0 and m["hit"] is False


def test_a_film_without_damage_plays_no_pointing_game():
    labels = np.full((10, 10), regions.REGIONS.index("healthy site"), np.uint8)
    m = measures.film_measures(np.ones((10, 10)), labels)
    assert m["hit"] is None and m["heat: healthy site"] == 1.0


def test_an_edge_detector_fails_the_randomisation_check_and_grad_cam_passes():
    # six images, drawn the same each time: an untrained network's Grad-CAM of one image is often all zero (a
    # ReLU of a negative weighted sum), which ranks nothing, and with two unseeded images 1 run in 6 had none to compare
    images = torch.rand(6, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    images[:, :, 20:40, 20:40] += 1
    edges = lambda model, x: np.abs(np.gradient(x[:, 0].numpy(), axis=-1))  # noqa: E731
    assert not sanity.passes(sanity.cascading_randomisation(SquareReader(), edges, images))
    model = create_model("resnet34", 1).eval()
    table = sanity.cascading_randomisation(model, lambda m, x: explain.cam_maps(m, x, "Grad-CAM"), images, steps=3)
    assert len(table) == 3 and table.layers.iloc[-1] == len(sanity.randomisable_layers(model))
    assert sanity.passes(table), table


def test_a_map_pasted_back_from_a_flipped_letterboxed_film_lands_on_the_original_pixels():
    film = np.zeros((60, 100), np.float32)
    film[10:20, 70:80] = 1  # a bright square on the film as stored
    flipped = film[:, ::-1]
    square, (sx, sy, ox, oy) = _letterbox(flipped, 50)
    placement = Placement.letterbox(sx, sy, ox, oy).after_flip(film.shape[1])
    heat = explain.on_film([square], [placement], film.shape)
    assert heat.values[10:20, 70:80].sum() > 0.9 and heat.covered.all()


def test_a_map_over_a_crop_turned_to_the_standard_pose_lands_where_the_crop_was_cut():
    film = np.zeros((100, 100), np.float32)
    film[30:36, 60:66] = 1
    frame = Frame(np.array([62.0, 40.0]), np.array([0.6, -0.8]), 20.0, 30.0, mirrored=True)
    crop = cut(film, frame, 32)
    heat = explain.on_film([crop], [Placement.from_frame(frame, 32)], film.shape)
    assert heat.values[29:37, 59:67].sum() > 0.9


def test_regions_of_a_real_film_are_refused():
    with pytest.raises(ValueError, match="synthetic"):
        regions.site_boxes(RADataset.empty("real"), "x")


def _letterbox(film, size):
    return _letterbox_stretched(film, size)


def test_regions_of_a_synthetic_film_come_from_its_generator(synthetic):
    for rid in synthetic.radiographs.radiograph_id:
        labels, boxes = regions.film_regions(synthetic, rid)
        row = synthetic.radiographs.set_index("radiograph_id").loc[rid]
        film = cv2.imread(row.image_path, cv2.IMREAD_UNCHANGED)
        assert labels.shape == film.shape and len(boxes) == 2 * 17  # the SvdH joint boxes of both hands
        assert (labels == regions.REGIONS.index("marker")).any()
        assert (labels == regions.REGIONS.index("damaged site")).any() == (boxes.damage > 0).any()
        assert (labels == regions.REGIONS.index("text")).any() == bool(row.text_boxes)


def test_the_heatmap_grid_draws_every_film_through_every_method_and_computes_nothing():
    films = {"a": np.zeros((20, 30)), "b": np.ones((20, 30))}
    heat = explain.Heatmap(np.full((20, 30), 1 / 600, np.float32), np.ones((20, 30), bool), "Grad-CAM")
    maps = {(f, m): heat for f in films for m in ("Grad-CAM", "rollout")}
    fig = plots.heatmap_grid(films, maps, {"a": [(1, 1, 5, 5)]}, note="no truth on real films")
    assert len([ax for ax in fig.axes if ax.images]) == 4 and len(fig.axes[0].patches) == 1 and fig.texts


def test_a_missing_or_ambiguous_checkpoint_names_the_run_to_do_first(tmp_path):
    run = tmp_path / "08_joint_scorer_tinyvit"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="found none; run 08_joint_scorer_tinyvit first"):
        checkpoint(run, "idx_pool_scorer_*.pt")
    for name in ("idx_pool_scorer_a.pt", "idx_pool_scorer_b.pt"):
        (run / "checkpoints" / name).touch()
    with pytest.raises(FileNotFoundError, match="idx_pool_scorer_a.pt, idx_pool_scorer_b.pt"):
        checkpoint(run, "idx_pool_scorer_*.pt")
    assert checkpoint(run, "idx_pool_scorer_a.pt").name == "idx_pool_scorer_a.pt"


def test_new_films_are_scored_with_the_checkpoints_scaling_and_no_training_film():
    films = pd.DataFrame({"radiograph_id": ["a", "b"], "split": NEW, "score": [0.0, 125.5]})
    features, mask = np.ones((2, 3, 4), np.float32), np.array([[True, True, False], [True, False, False]])
    with pytest.raises(ValueError, match="no training bags"):
        BagTask(features, mask, films)
    bags = BagTask(features, mask, films, record={"target_mean": 10.0, "target_sd": 2.0})
    assert bags.decode({"outputs": np.array([[0.0], [1.0]])}).tolist() == [10.0, 12.0]
    with pytest.raises(ValueError, match="no training images"):
        ImageTask("svdh_regression", "regression", np.zeros((2, 8, 8), np.float32), films, "score")
    record = {"target_mean": 20.0, "target_sd": 4.0, "pixel_mean": 0.5, "pixel_sd": 0.25}
    task = ImageTask("svdh_regression", "regression", np.zeros((2, 32, 32), np.float32), films, "score", record=record)
    constant = create_model("resnet18", 1).eval()
    torch.nn.init.zeros_(constant.get_classifier().weight), torch.nn.init.constant_(constant.get_classifier().bias, 1.5)  # z = 1.5
    whole = Trained(constant, task, ("Grad-CAM",), Path("whole.pt"), NEW)
    ds = SimpleNamespace(radiographs=films[["radiograph_id", "score"]], scores=[])
    totals = predicted_totals({"whole": whole, "the same, another view": whole}, ds)
    assert list(totals.columns) == ["label", "whole"]  # one column per checkpoint
    assert totals.loc["b", "label"] == 125.5 and totals.whole.tolist() == pytest.approx([26.0, 26.0])  # 20 + 1.5 * 4
    crops = pd.DataFrame({"radiograph_id": ["a", "a"], "split": NEW, "erosion_site": ["mcp2", ""], "jsn_site": ["mcp2", "mcp2"]})
    with pytest.raises(ValueError, match="no erosion_dawid_skene column"):
        JointGradeTask(np.zeros((2, 16, 16), np.uint8), crops, label="dawid_skene")
    scoring = JointGradeTask(np.zeros((2, 16, 16), np.uint8), crops, label="dawid_skene", input_size=8, pixel_stats=(0.25, 0.5))
    assert (scoring.targets == -1).all() and (scoring.pixel_mean, scoring.pixel_sd) == (0.25, 0.5) and len(scoring.rows(NEW)) == 2


def test_a_model_reading_many_crops_a_film_keeps_only_the_crop_cam_methods():
    sizes = get_profile("cpu").explain
    every = ("Grad-CAM", "Grad-CAM++", "Score-CAM", "Eigen-CAM", "rollout")
    film = SimpleNamespace(table=pd.DataFrame({"radiograph_id": ["a", "b"]}), rows=lambda split: np.array([0, 1]))
    crops = SimpleNamespace(table=pd.DataFrame({"radiograph_id": ["a", "a", "b"]}), rows=lambda split: np.array([0, 1, 2]))
    whole, joints = Trained(None, film, every, Path("w.pt")), Trained(None, crops, every, Path("j.pt"))
    assert not reads_crops(whole) and reads_crops(joints)
    assert "Score-CAM" in with_methods(whole, sizes).methods and "Score-CAM" not in with_methods(joints, sizes).methods
    assert with_methods(joints, sizes).methods[-1] == "rollout" and whole.methods == every  # its own map kept; a copy


def test_the_shuffled_labels_copy_trains_the_references_architecture_from_the_references_start(tmp_path):
    from ralib.explain.sanity import shuffled_copy_config
    from ralib.train import TrainConfig, recipes, save_checkpoint

    configs = {}
    for start in ("random", "imagenet"):
        reference = TrainConfig("resnet34", 8, 16, pretrained=start, precision="bf16", channels_last=True)
        configs[start] = shuffled_copy_config(save_checkpoint(tmp_path / f"{start}.pt", torch.nn.Linear(1, 1), reference), 4, seed=2)
    assert configs["random"] == recipes.fast("resnet34", 4, 16, seed=2, tag="shuffled labels")  # what 10 trained before
    assert configs["imagenet"].pretrained == "imagenet" and configs["imagenet"].label == "resnet34 mse b16 imagenet shuffled labels"
