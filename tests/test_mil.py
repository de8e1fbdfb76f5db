"""The gated attention MIL: permutation invariance, attention over real instances only, padding."""

import pytest
import torch

from ralib.models.mil import AttentionMIL, BagScorer


@pytest.fixture
def mil():
    torch.manual_seed(0)
    return AttentionMIL(in_dim=6, num_outputs=2).eval()


def test_the_output_does_not_depend_on_the_order_of_the_instances(mil):
    bag = torch.randn(1, 7, 6)
    order = torch.randperm(7)
    out, attention = mil(bag, return_attention=True)
    shuffled, shuffled_attention = mil(bag[:, order], return_attention=True)
    assert torch.allclose(out, shuffled, atol=1e-6)
    assert torch.allclose(attention[:, order], shuffled_attention, atol=1e-6)


def test_attention_sums_to_one_over_the_unmasked_instances_and_is_zero_on_padding(mil):
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]])
    _, attention = mil(torch.randn(3, 5, 6), mask, return_attention=True)
    assert torch.allclose(attention.sum(1), torch.ones(3))
    assert (attention[mask == 0] == 0).all() and (attention[mask == 1] > 0).all()
    assert attention[1, 0] == 1  # a bag of one instance attends to it alone


def test_padding_does_not_change_the_output(mil):
    bag = torch.randn(1, 4, 6)
    padded = torch.cat([bag, torch.randn(1, 3, 6) * 100], 1)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    assert torch.allclose(mil(bag), mil(padded, mask), atol=1e-6)


@pytest.mark.parametrize("bags, mask, expected", [
    ((2, 5, 1, 32, 32), None, (2, 1)),
    ((3, 4, 1, 32, 32), [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], (3, 1)),
])  # fmt: skip
def test_a_cnn_before_the_pool_scores_bags_of_images_and_skips_padding(bags, mask, expected):
    import timm

    torch.manual_seed(0)
    scorer = BagScorer(timm.create_model("resnet18", num_classes=0, in_chans=1, pretrained=False)).eval()
    x = torch.randn(bags)
    mask = None if mask is None else torch.tensor(mask)
    out, attention = scorer(x, mask, return_attention=True)
    assert tuple(out.shape) == expected and tuple(attention.shape) == bags[:2]
    if mask is not None:
        garbage = x.clone()
        garbage[mask == 0] = 1e3
        assert torch.allclose(scorer(garbage, mask), out, atol=1e-5)
        assert (scorer.instance_features(x, mask)[mask == 0] == 0).all()
    assert torch.allclose(scorer(x[:, :, 0], mask), scorer(x, mask), atol=1e-6)  # grey bags without a channel axis


def test_a_tuned_scorer_starts_from_the_trained_classifier_and_mil_without_changing_them():
    import timm

    torch.manual_seed(0)
    classifier = timm.create_model("resnet18", num_classes=3, in_chans=1, pretrained=False).eval()
    mil = AttentionMIL(classifier.num_features).eval()
    scorer = BagScorer.from_trained(classifier, mil).eval()
    bags = torch.randn(2, 4, 1, 32, 32)
    with torch.no_grad():
        features = classifier.forward_head(classifier.forward_features(bags.flatten(0, 1)), pre_logits=True).reshape(2, 4, -1)
        assert torch.allclose(scorer(bags), mil(features), atol=1e-5)
    assert classifier.num_classes == 3 and scorer.extractor is not classifier  # copies: the originals stay as they were
    next(scorer.mil.parameters()).data += 1
    assert not torch.equal(next(scorer.mil.parameters()), next(mil.parameters()))


def test_tile_bags_of_images_are_standardised_like_the_classifiers_inputs():
    import pandas as pd

    from ralib.tasks.bags import tile_bag_task

    films = pd.DataFrame({"radiograph_id": ["a", "b"], "split": ["train", "val"], "score": [0.0, 10.0]})
    tiles = pd.DataFrame({"radiograph_id": ["a", "a", "b"]})
    images = np.stack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30)])
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1]])  # tile 1 is a's most abnormal
    task = tile_bag_task(films, tiles, images, p, k=2, standardise=(20.0, 10.0))
    instances, mask, _ = task.dataset("train")[0]
    assert tuple(instances.shape) == (2, 4, 4) and instances[:, 0, 0].tolist() == [0.0, -1.0]
    assert mask.tolist() == [True, True] and task.dataset("val")[0][1].tolist() == [True, False]


# --- bags of joint crops ------------------------------------------------------------------------------

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ralib import anatomy  # noqa: E402


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """Twelve small SynthRA films, a third of them flipped."""
    from ralib.data import load_dataset
    from ralib.synth import SynthConfig, make_dataset

    folder = make_dataset(SynthConfig(n_images=12, image_size=384, p_flip=0.34, seed=3), tmp_path_factory.mktemp("mil"),
                          progress=False, workers=1)  # fmt: skip
    return load_dataset("synthra", folder)


@pytest.fixture(scope="module")
def cache(films, tmp_path_factory):
    import os

    os.environ["RALIB_DATA"] = str(tmp_path_factory.mktemp("data"))
    from ralib.patches import crop_cache

    try:
        return crop_cache(films, "patches", 24, progress=False)
    finally:
        del os.environ["RALIB_DATA"]


def test_bags_hold_each_films_joints_left_hand_first_in_patch_order_flipped_or_not(films, cache):
    from ralib.patches import bag_places, joint_bags

    ids = films.radiographs.radiograph_id.astype(str).tolist()
    rows, mask = joint_bags(cache.table, ids)
    assert rows.shape == (len(ids), 50) and mask.all()
    t = cache.table
    for i, film in enumerate(ids):
        crops = t.iloc[rows[i]]
        assert (crops.radiograph_id == film).all()
        assert list(zip(crops.hand, crops.joint)) == bag_places()
        assert list(crops.joint[:25]) == list(anatomy.PATCHES)
    flipped = films.radiographs.flipped.to_numpy(bool)
    assert flipped.any() and (~flipped).any()
    # on a flipped film the left hand lies on the image's right: the bag's order follows the hand, not the side
    left_x = np.array([t.cx.iloc[rows[i, :25]].mean() < t.cx.iloc[rows[i, 25:]].mean() for i in range(len(ids))])
    assert (left_x != flipped).all() or (left_x == flipped).all()
    assert len(set(left_x[flipped])) == 1 and left_x[flipped][0] != left_x[~flipped][0]


def test_a_hand_not_found_leaves_its_places_empty(cache, films):
    from ralib.patches import gather, joint_bags

    film = str(films.radiographs.radiograph_id.iloc[0])
    table = cache.table[~((cache.table.radiograph_id == film) & (cache.table.hand == "RH"))]
    rows, mask = joint_bags(table, [film])
    assert mask[0, :25].all() and not mask[0, 25:].any()
    values = np.arange(len(cache.table), dtype=float)[:, None] + 1
    assert (gather(values, rows)[0, 25:] == 0).all() and (gather(values, rows)[0, :25] > 0).all()
    with pytest.raises(ValueError, match="two crops"):
        joint_bags(cache.table.iloc[[0, 0]], [cache.table.radiograph_id.iloc[0]])


def test_jittered_crops_are_a_variant_of_the_same_joints_moved_by_the_noise(films, cache, tmp_path, monkeypatch):
    from ralib.landmarks.noise import JitteredLandmarks, landmark_mre_mm
    from ralib.patches import crop_caches
    from ralib.landmarks.points import film_landmarks

    monkeypatch.setenv("RALIB_DATA", str(tmp_path))
    xy = film_landmarks(films)[0]
    spacing = films.radiographs.spacing_mm.to_numpy(float)
    sd = np.full(74, 1.5)
    true, a, again, b = crop_caches(films, [("patches", None), ("patches", JitteredLandmarks(xy, sd, spacing, 0)),
                                           ("patches", JitteredLandmarks(xy, sd, spacing, 0)),
                                           ("patches", JitteredLandmarks(xy, sd, spacing, 1))], 24, progress=False)  # fmt: skip
    assert a.meta["variant"] == "jittered" and a.folder == again.folder != b.folder
    assert (a.table[["radiograph_id", "hand", "joint"]].values == true.table[["radiograph_id", "hand", "joint"]].values).all()
    moved_mm = np.hypot(a.table.cx - true.table.cx, a.table.cy - true.table.cy) * spacing.mean()
    assert 0.3 < np.median(moved_mm) < 3.0  # |N(0, 1.5 mm)| has a median of about 1 mm
    moved = JitteredLandmarks(xy, sd, spacing, 0).landmarks()
    # the mean of |N(0, sd)| is sd * sqrt(2 / pi), here over 74 landmarks of 24 hands
    assert np.nanmean(landmark_mre_mm(moved, xy, spacing)) == pytest.approx(1.5 * np.sqrt(2 / np.pi), rel=0.1)


def test_the_attention_mil_trains_on_bags_through_the_generic_loop(films, cache):
    from ralib.tasks.bags import film_table, joint_bag_task
    from ralib.train import build_model, fit, recipes

    table = film_table(films)
    assert set(table.split) <= {"train", "val", "test"} and table.score.notna().all()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(cache.table), 8)).astype(np.float32)
    task = joint_bag_task(table, cache.table, features, draws=[(cache.table, features + 1)])
    assert task.features.shape == (len(table), 50, 8) and task.draws.shape == (1, len(table), 50, 8)
    config = recipes.mil2025(8, 2, 4)
    fitted = fit(build_model(config, 1), task, config, progress=False)
    outputs = fitted.outputs(task, "val")
    assert outputs["attention"].shape == (len(task.rows("val")), 50)
    assert np.allclose(outputs["attention"].sum(1), 1, atol=1e-5)
    assert np.isfinite(fitted.predict(task, "val")).all()


def test_a_patch_is_abnormal_when_any_grade_it_shows_is_at_least_one(films, cache):
    from ralib.tasks.bags import film_table
    from ralib.tasks.crops import patch_abnormality

    table = film_table(films)
    task = patch_abnormality(cache, table)
    t = task.table
    grades = t[["erosion_grade", "jsn_grade"]].fillna(0).max(axis=1)
    assert ((grades >= 1) == (t.abnormal == 1)).all() and 0 < t.abnormal.mean() < 1
    split = dict(zip(table.radiograph_id, table.split))
    assert (t.split == t.radiograph_id.map(split)).all()
    truth = patch_abnormality(cache, table, grade="truth").table
    assert (truth.abnormal == (truth[["erosion_truth", "jsn_truth"]].fillna(0).max(axis=1) >= 1)).all()


def test_balanced_patch_epochs_draw_both_classes_equally_and_resize(films, cache):
    from ralib.tasks.bags import film_table
    from ralib.tasks.crops import patch_abnormality

    task = patch_abnormality(cache, film_table(films), size=16, balanced=True)
    assert task.images.shape[1:] == (16, 16)
    plain = task.dataset("train")
    labels = task.table.abnormal.to_numpy()[task.rows("train")]
    assert len(plain) == 2 * min(np.bincount(labels))  # an epoch: the smaller class twice
    drawn = np.array([int(plain[i][1]) for i in range(len(plain))])
    assert (np.bincount(drawn) == min(np.bincount(labels))).all()
    assert len(task.dataset("val")) == len(task.rows("val"))  # validation is never resampled
    assert task.fingerprint() != patch_abnormality(cache, film_table(films), size=16).fingerprint()


def test_attention_on_damaged_joints_is_measured_against_an_even_spread(cache, films):
    from ralib.explain.attention import attention_vs_damage, patch_damage
    from ralib.patches import joint_bags

    ids = films.radiographs.radiograph_id.astype(str).tolist()
    rows, mask = joint_bags(cache.table, ids)
    damage = patch_damage(cache.table, rows, "truth")
    assert (damage >= 0).all() and damage.max() > 0
    even = attention_vs_damage(np.where(mask, 1 / mask.sum(1, keepdims=True), 0), damage, mask)
    assert even["attention_on_damaged"] == pytest.approx(even["damaged_share"], abs=1e-3)
    following = attention_vs_damage(damage / np.maximum(damage.sum(1, keepdims=True), 1e-9), damage, mask)
    assert following["attention_on_damaged"] == pytest.approx(1.0) and following["spearman"] > 0.5


def test_hand_bags_cut_each_films_bag_into_its_left_and_right_hand_with_the_hands_targets(films, cache):
    from ralib.tasks.bags import film_table, joint_bag_task
    from ralib.tasks.hand_bags import hand_bag_task, hand_targets

    table = film_table(films)
    crop_row = np.arange(len(cache.table), dtype=np.float32)[:, None]  # each instance says which crop it is
    film_task = joint_bag_task(table, cache.table, crop_row, draws=[(cache.table, crop_row + 0.5)])
    hands = hand_targets(films)
    # a film's label is the sum of its hands' labels; the stage follows the most severe joint
    assert np.allclose(hands.groupby("radiograph_id").score.sum().reindex(table.radiograph_id).to_numpy(), table.score)
    assert {"stage", "truth_total", "stage_truth"} <= set(hands) and hands.stage.between(0, 5).all()
    missing = hands.iloc[1:]  # the first film's left hand has no label: left out
    task = hand_bag_task(film_task, missing)
    assert task.left_out == 1 and len(task.table) == 2 * len(table) - 1
    assert task.features.shape[1:] == (25, 1) and task.draws.shape == (1, len(task.table), 25, 1)
    for i, row in enumerate(task.table.itertuples()):
        crops = cache.table.iloc[task.features[i, :, 0].astype(int)]
        assert (crops.radiograph_id.astype(str) == row.radiograph_id).all() and (crops.hand == row.hand).all()
        assert list(crops.joint) == list(anatomy.PATCHES)
        assert np.array_equal(task.draws[0, i], task.features[i] + 0.5)
        film = table[table.radiograph_id.astype(str) == row.radiograph_id].iloc[0]
        assert row.split == film.split and row.patient_id == film.patient_id
    assert np.array_equal(task.table.score, missing.set_index(["radiograph_id", "hand"]).score.loc[list(zip(task.table.radiograph_id, task.table.hand))])
    with pytest.raises(ValueError, match="twice"):
        hand_bag_task(film_task, pd.concat([hands, hands.iloc[:1]]))


def test_a_source_without_a_split_gets_one_split_for_whole_image_and_mil_models(films):
    import dataclasses

    from ralib.tasks import svdh_regression
    from ralib.tasks.bags import film_table

    unsplit = dataclasses.replace(films, radiographs=films.radiographs.assign(split=""))
    whole = svdh_regression(unsplit, np.zeros((len(films.radiographs), 4, 4), np.float32), seed=5)
    mil = film_table(unsplit, seed=5)
    by_film = dict(zip(whole.table.radiograph_id.astype(str), whole.table.split))
    assert set(mil.split) <= {"train", "val", "test"}
    assert (mil.radiograph_id.astype(str).map(by_film) == mil.split).all()
