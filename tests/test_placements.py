"""Every task says where its inputs lie on the films: resampling the film where a task's placement says
gives back the input the model sees (films resized, hands, tiles, joint crops turned to the standard pose,
the middle of box crops), flipped films included."""

import os

import cv2
import numpy as np
import pandas as pd
import pytest

from ralib.data.arrays import film_array, hand_array, stretched_film
from ralib.geometry import Placement


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """Twelve small SynthRA films, a third of them flipped, and a data folder of their own for the caches."""
    from ralib.data import load_dataset
    from ralib.synth import SynthConfig, make_dataset

    os.environ["RALIB_DATA"] = str(tmp_path_factory.mktemp("data"))
    folder = make_dataset(SynthConfig(n_images=12, image_size=384, p_flip=0.34, seed=3), tmp_path_factory.mktemp("films"),
                          progress=False, workers=1)  # fmt: skip
    yield load_dataset("synthra", folder)
    del os.environ["RALIB_DATA"]


@pytest.fixture(autouse=True)
def shared_data(films, monkeypatch):
    monkeypatch.setenv("RALIB_DATA", os.environ["RALIB_DATA"])  # the module's caches, not a folder per test


def resampled(ds, placements: pd.DataFrame, shape: tuple[int, int]) -> np.ndarray:
    """Each placed input cut from its film again: the film sampled at the placement."""
    film_of = {str(r.radiograph_id): r for _, r in ds.radiographs.iterrows()}
    out = []
    for _, row in placements.iterrows():
        film = stretched_film(film_of[row.radiograph_id])
        matrix = Placement.from_columns(row).matrix
        out.append(cv2.warpAffine(film, matrix, shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return np.array(out)


def assert_same(inputs: np.ndarray, again: np.ndarray, at_least: float = 0.95):
    """Each input correlates with its film resampled (both blurred a little: the caches resize with area
    averaging, the resampling here is bilinear), and better than with the film one input pixel off."""
    blur = lambda images: np.array([cv2.GaussianBlur(np.asarray(i, np.float32), (0, 0), 1.0) for i in images])  # noqa: E731
    inputs, again = blur(inputs), blur(again)
    r = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(inputs, again) if a.std() > 0.02]
    off = [np.corrcoef(a[2:, 2:].ravel(), b[:-2, :-2].ravel())[0, 1] for a, b in zip(inputs, again) if a.std() > 0.02]
    assert len(r) and min(r) > at_least, sorted(r)[:3]
    assert np.mean(r) > np.mean(off)


def test_whole_films_and_hands(films):
    from ralib import tasks

    images = film_array(films, 64, progress=False)
    task = tasks.svdh_regression(films, images)
    assert_same(images[task.rows("test")], resampled(films, task.placements("test"), (64, 64)))
    hands, table = hand_array(films, 64, progress=False)
    staging = tasks.staging(films, hands, table)
    placed = staging.placements("train")
    assert placed.radiograph_id.nunique() * 2 >= len(placed) > 0
    assert_same(hands[staging.rows("train")], resampled(films, placed, (64, 64)), at_least=0.85)  # the other hand is masked off


def test_joint_crops_in_bags_turned_to_the_standard_pose(films):
    from ralib.patches import crop_cache
    from ralib.tasks.bags import film_table, joint_bag_task

    cache = crop_cache(films, "patches", 32, progress=False)
    table = film_table(films)
    task = joint_bag_task(table, cache.table, np.zeros((len(cache.table), 2), np.float32))
    placed = task.placements("train")
    rows = task.instances[1][task.rows("train")][placed["item"], placed.instance]
    assert len(placed) == task.mask[task.rows("train")].sum()
    assert films.radiographs.flipped.any()
    assert_same(cache.images[rows] / 255, resampled(films, placed, (32, 32)))


def test_tiles_of_scheme_1(films):
    from ralib.patches.tiles import tile_cache
    from ralib.tasks.bags import film_table, tile_bag_task

    tiles = tile_cache(films, 16, progress=False)
    p = np.random.default_rng(0).random((len(tiles.table), 3))
    task = tile_bag_task(film_table(films), tiles.table, np.zeros((len(tiles.table), 2), np.float32), p, k=5)
    placed = task.placements("val")
    rows = task.instances[1][task.rows("val")][placed["item"], placed.instance]
    assert_same(tiles.images[rows] / 255, resampled(films, placed, (16, 16)), at_least=0.9)


def test_the_middle_of_box_crops_that_rheumavit_scores(films):
    from ralib.data.loaders import grown_centre
    from ralib.patches.box_crops import box_crop_cache, true_boxes
    from ralib.tasks.joint_grades import JointGradeTask

    cache = box_crop_cache(films, true_boxes(films), 48, progress=False)
    table = cache.table.merge(films.radiographs[["radiograph_id"]], on="radiograph_id")
    task = JointGradeTask(cache.images, table, label="truth", input_size=24)
    placed = task.placements("test")
    inputs = [grown_centre(cache.images[i] / 255, task.eval_growth, task.grow, 24) for i in task.rows("test")]
    assert_same(np.array(inputs), resampled(films, placed, (24, 24)), at_least=0.9)


# --- explain: one call for every model family, a heatmap on the film's own grid ---------------------------

import torch  # noqa: E402

from ralib.explain.explainers import explain, methods_for  # noqa: E402


def film_shape(ds, radiograph_id):
    return stretched_film(ds.radiographs.set_index("radiograph_id").loc[radiograph_id].to_dict() | {"radiograph_id": radiograph_id}).shape


def test_a_whole_image_cnn_is_explained_on_the_film_it_saw(films):
    from ralib import tasks
    from ralib.models import create_model

    task = tasks.svdh_regression(films, film_array(films, 64, progress=False))
    rid = task.table.radiograph_id.iloc[task.rows("test")[0]]
    torch.manual_seed(0)  # random weights for which Grad-CAM's ReLU leaves something (with others it may leave nothing)
    heat = explain(create_model("resnet34", 1), task, rid, "Grad-CAM", film_shape(films, rid))
    assert heat.values.shape == film_shape(films, rid) and heat.covered.all() and abs(heat.values.sum() - 1) < 1e-4
    assert heat.method == "Grad-CAM" and heat.seconds > 0
    with pytest.raises(ValueError, match="no 'rollout' map"):
        explain(create_model("resnet34", 1), task, rid, "rollout", film_shape(films, rid))


@pytest.mark.parametrize("method", ["rollout", "Grad-CAM"])
def test_a_joint_scorers_heat_stays_on_its_crops_weighted_by_the_damage_it_predicts(films, method):
    from ralib.models.joint_scorer import IdxPoolScorer
    from ralib.patches.box_crops import box_crop_cache, true_boxes
    from ralib.tasks.joint_grades import JointGradeTask

    cache = box_crop_cache(films, true_boxes(films), 64, progress=False)
    task = JointGradeTask(cache.images, cache.table, label="truth", input_size=64)  # TinyViT's last map 2 x 2
    torch.manual_seed(0)
    model = IdxPoolScorer("tiny_vit_5m_224", 11, input_size=64).eval()
    assert "rollout" in methods_for(model)
    rid = task.table.radiograph_id.iloc[task.rows("test")[0]]
    heat = explain(model, task, rid, method, film_shape(films, rid))
    assert abs(heat.values.sum() - 1) < 1e-4 and heat.values[~heat.covered].sum() == 0 and heat.covered.mean() < 0.6


def test_the_mil_attention_is_each_instances_share_of_the_films_heat(films):
    from ralib.models.mil import AttentionMIL
    from ralib.patches import crop_cache
    from ralib.tasks.bags import film_table, joint_bag_task

    cache = crop_cache(films, "patches", 32, progress=False)
    features = np.random.default_rng(0).normal(size=(len(cache.table), 8)).astype(np.float32)
    task = joint_bag_task(film_table(films), cache.table, features)
    model = AttentionMIL(8).eval()
    item = 0
    rid = task.table.radiograph_id.iloc[task.rows("test")[item]]
    features, mask, _ = task.dataset("test")[item]
    _, attention = model(features[None], mask[None], return_attention=True)
    heat = explain(model, task, rid, "attention", film_shape(films, rid))
    placed = task.placements("test").query("item == @item")
    share = attention[0].detach().numpy()[placed.instance]
    share = share / share.sum()
    for (_, row), w in zip(placed.iterrows(), share):  # each square holds at least its share (squares overlap)
        _, inside = Placement.from_columns(row).paste(np.ones((32, 32), np.float32), heat.values.shape)
        assert heat.values[inside].sum() >= w - 1e-3
    assert abs(heat.values.sum() - 1) < 1e-4


def test_a_bag_scorer_is_explained_through_its_instance_cnn(films):
    import timm

    from ralib.models.mil import BagScorer
    from ralib.patches.tiles import tile_cache
    from ralib.tasks.bags import film_table, tile_bag_task

    tiles = tile_cache(films, 64, progress=False)  # ResNet-18's last map 2 x 2: a CAM with something to show
    p = np.random.default_rng(0).random((len(tiles.table), 3))
    task = tile_bag_task(film_table(films), tiles.table, tiles.images, p, k=4)
    torch.manual_seed(0)  # random weights for which Grad-CAM's ReLU leaves something (with others it may leave nothing)
    model = BagScorer(timm.create_model("resnet18", num_classes=0, in_chans=1)).eval()
    rid = task.table.radiograph_id.iloc[task.rows("test")[0]]
    for method in ("attention", "Grad-CAM"):
        heat = explain(model, task, rid, method, film_shape(films, rid))
        assert abs(heat.values.sum() - 1) < 1e-4 and heat.values[~heat.covered].sum() == 0


@pytest.mark.parametrize("method", ["gate", "Grad-CAM"])
def test_deepras_gate_is_painted_back_on_the_region_it_scored(films, method):
    from ralib.models.attention_gate import AttentionGatedRegressor
    from ralib.patches.box_crops import box_crop_cache, true_boxes
    from ralib.tasks.region_scores import RegionScoreTask

    wrists = true_boxes(films).query("joint == 'wrist'")
    cache = box_crop_cache(films, wrists, 64, grow=1.0, variant="regions", progress=False)
    task = RegionScoreTask(cache.images, cache.table, films.scores, "wrist", "truth")
    torch.manual_seed(0)
    model = AttentionGatedRegressor("efficientnet_b0", num_outputs=12).eval()
    rid = task.table.radiograph_id.iloc[task.rows("test")[0]]
    heat = explain(model, task, rid, method, film_shape(films, rid))
    placed = task.placements("test").query("radiograph_id == @rid")
    assert len(placed) == 2 and heat.values[~heat.covered].sum() == 0
    assert abs(heat.values.sum() - 1) < 1e-4


def test_maps_of_several_methods_are_measured_against_each_films_true_regions(films):
    from ralib import tasks
    from ralib.explain.compare import measure_maps, results_table
    from ralib.explain.heatmap import Heatmap
    from ralib.explain.regions import film_regions
    from ralib.models import create_model

    task = tasks.svdh_regression(films, film_array(films, 64, progress=False))
    ids = task.table.radiograph_id.iloc[task.rows("train")[:3]].tolist()
    torch.manual_seed(0)
    model = create_model("resnet34", 1)

    def oracle(rid, method):  # all heat on the damaged sites: what a perfect map would show
        labels, _ = film_regions(films, rid)
        values = (labels == 3).astype(np.float32)
        return Heatmap(values / max(values.sum(), 1), np.ones(labels.shape, bool), method, "oracle", 0.0)

    explainers = {"ResNet-34": (lambda rid, m: explain(model, task, rid, m, film_shape(films, rid), "train"), ("Grad-CAM", "Eigen-CAM")),
                  "oracle": (oracle, ("truth",))}  # fmt: skip
    per_film, sites = measure_maps(explainers, films, ids, progress=False)
    assert len(per_film) == 3 * 3 and len(sites) == 3 * 3 * 34
    table = results_table(per_film, sites, n_resamples=50)
    assert list(table.index) == [("ResNet-34", "Grad-CAM"), ("ResNet-34", "Eigen-CAM"), ("oracle", "truth")]
    damaged = [rid for rid in ids if (film_regions(films, rid)[1].damage > 0).any()]
    oracle_row = table.loc[("oracle", "truth")]
    if damaged:
        assert oracle_row["hit"] == 1.0 and oracle_row["heat: damaged site"] == 1.0  # films without damage have no heat to share
    shares = table[[c for c in table if c.startswith("heat:") and not c.endswith(("low", "high"))]].astype(float)
    assert np.allclose(shares.loc[[("ResNet-34", "Grad-CAM")]].sum(1), 1, atol=1e-3)


def test_a_bag_scorer_offers_no_score_cam():
    import timm

    from ralib.models.mil import BagScorer

    methods = methods_for(BagScorer(timm.create_model("resnet18", num_classes=0, in_chans=1)))
    assert "Score-CAM" not in methods and {"attention", "Grad-CAM", "Grad-CAM++", "Eigen-CAM"} <= set(methods)
