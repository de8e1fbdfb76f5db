"""The realism measures: the two-sample test tells what differs and not what does not, shapes align
whatever their position, size, rotation and side, and the damage tables read both layouts alike."""

import numpy as np
import pandas as pd
import pytest

from ralib import anatomy, realism
from ralib.synth import SynthConfig, load_tables, make_dataset


def test_two_sample_auc_is_near_chance_for_one_distribution_and_near_one_for_two():
    rng = np.random.default_rng(1)
    same = realism.two_sample_auc(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)))
    shifted = realism.two_sample_auc(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + [1.5, 0, 0, 0])
    assert 0.4 < same.auc < 0.6
    assert shifted.auc > 0.8
    assert len(shifted.fold_aucs) == 5 and shifted.n_synthetic == shifted.n_real == 300


def test_two_sample_auc_keeps_groups_together():
    """Twenty copies of each of 30 random rows: memorising a row gives nothing when its copies share a fold."""
    rng = np.random.default_rng(2)
    a, b = np.repeat(rng.normal(size=(30, 3)), 20, axis=0), np.repeat(rng.normal(size=(30, 3)), 20, axis=0)
    groups = np.repeat(np.arange(30), 20)
    together = realism.two_sample_auc(a, b, groups, groups)
    assert together.auc < 0.75
    assert together.n_synthetic == together.n_real == 600


def test_two_sample_auc_balances_the_samples_by_group():
    rng = np.random.default_rng(3)
    result = realism.two_sample_auc(rng.normal(size=(500, 2)), rng.normal(size=(100, 2)))
    assert result.n_synthetic == result.n_real == 100


def test_too_few_groups_is_an_error():
    with pytest.raises(ValueError, match="too few groups"):
        realism.two_sample_auc(np.zeros((3, 2)), np.ones((3, 2)))


def _template_points(names):
    lm = anatomy.template_landmarks("LH")
    index = {n: i for i, n in enumerate(anatomy.LANDMARKS)}
    return np.array([lm[index[realism.SYNTH_POINTS[n]]] for n in names])


def test_alignment_removes_position_size_rotation_and_side():
    names = realism.COMPARED_POINTS
    hand = _template_points(names)
    a = np.deg2rad(30)
    turned = hand @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T * 3.7 + [200, -50]
    mirrored = hand * [-1, 1] + [10, 10]  # a right hand
    aligned, _ = realism.align_shapes(np.stack([hand, turned, mirrored]), names)
    assert np.allclose(aligned[0], aligned[1], atol=1e-9) and np.allclose(aligned[0], aligned[2], atol=1e-9)
    mcp2, mcp5 = names.index("mcp_2"), names.index("mcp_5")
    assert np.isclose(np.linalg.norm(aligned[0, mcp2] - aligned[0, mcp5]), 1.0)


def test_a_second_set_aligns_to_the_first_sets_reference():
    names = realism.COMPARED_POINTS
    hand = _template_points(names)
    rng = np.random.default_rng(4)
    first = hand + rng.normal(0, 2, (20, *hand.shape))
    aligned_first, ref = realism.align_shapes(first, names)
    aligned_again, _ = realism.align_shapes(first * 2 + 5, names, reference=ref)
    assert np.allclose(aligned_first, aligned_again, atol=1e-6)


def test_geometry_statistics_measure_the_wrist_in_mcp_units():
    names = realism.COMPARED_POINTS
    hand = _template_points(names)
    aligned, _ = realism.align_shapes(np.stack([hand, hand]), names)
    stats = realism.geometry_statistics(aligned, names)
    width = np.linalg.norm(hand[names.index("wrist_radial")] - hand[names.index("wrist_ulnar")])
    unit = np.linalg.norm(hand[names.index("mcp_2")] - hand[names.index("mcp_5")])
    assert stats["wrist width"] == pytest.approx(width / unit)
    assert stats["IQR mcp_3"] == 0


def test_real_landmark_file_with_the_wrong_layout_names_what_is_missing(tmp_path):
    path = tmp_path / "landmarks.csv"
    pd.DataFrame({"source": ["ra2dream"], "patient_id": ["1"], "ip_1_x": [1.0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no columns"):
        realism.real_hand_shapes(path)


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    return make_dataset(SynthConfig(n_images=12, image_size=128), tmp_path_factory.mktemp("r"), progress=False, workers=1)


@pytest.fixture(scope="module")
def small_tables(small_folder):
    return load_tables(small_folder)


def test_synthetic_shapes_and_grades_have_the_real_layouts(small_tables):
    shapes = realism.synthetic_hand_shapes(small_tables["landmarks"])
    assert shapes.points.shape == (24, len(realism.COMPARED_POINTS), 2)
    truth = realism.synthetic_hand_grades(small_tables["sites"], readers=False)
    assert list(truth.columns) == list(realism.HAND_SITE_COLUMNS) and len(truth) == 12
    radiographs = small_tables["radiographs"].set_index("image_id")
    assert np.array_equal(truth.sum(axis=1).to_numpy(), radiographs.loc[truth.index, "truth_total"].to_numpy())


def test_grade_tables_of_one_cohort_are_near_chance_and_of_a_shifted_one_are_not():
    rng = np.random.default_rng(5)
    a, b = (rng.poisson(0.5, (200, 62)).astype(float) for _ in range(2))
    assert realism.two_sample_auc(a, b).auc < 0.65
    assert realism.two_sample_auc(a, b + 1).auc > 0.95


def test_site_prevalence_is_the_share_of_hands_graded_above_zero():
    g = pd.DataFrame(0.0, index=range(4), columns=list(realism.HAND_SITE_COLUMNS))
    g.loc[[0, 1, 2], "LH_mcp_E__2"] = [1, 3, 0]
    prevalence = realism.site_prevalence(g)
    assert prevalence["LH_mcp_E__2"] == 0.5 and prevalence.drop("LH_mcp_E__2").eq(0).all()


def test_damage_statistics_count_hands_and_patients_without_damage():
    g = pd.DataFrame(0.0, index=range(4), columns=list(realism.HAND_SITE_COLUMNS))
    g.loc[0, "LH_mcp_E__2"] = 2
    g.loc[1, "RH_mcp_J__3"] = 1
    stats = realism.damage_statistics(g)
    assert stats["hands without damage"] == 6 / 8
    assert stats["patients without damage"] == 2 / 4


@pytest.mark.parametrize("spacing", [0.1, 0.15, 0.45])
def test_crops_come_from_inside_the_body_at_the_common_scale(spacing):
    """Stripes 6 mm apart on a 120 mm disc: at 0.3 mm a pixel every crop shows a 20-px period, whatever
    the film's own spacing, and no crop reaches the dark background."""
    n = int(200 / spacing)
    ys, xs = np.mgrid[:n, :n] * spacing
    body = np.hypot(xs - 100, ys - 100) < 60
    film = np.where(body, 0.6 + 0.2 * np.sin(2 * np.pi * xs / 6.0), 0.05).astype(np.float32)
    crops = realism.film_crops(realism.Film(film, spacing, "f"), 10, np.random.default_rng(0))
    assert crops.shape == (10, realism.CROP_PX, realism.CROP_PX)
    assert (crops == 0).mean() < 0.08  # the stripes' troughs (1 px in 20); the background would add far more
    spectrum = np.abs(np.fft.rfft(crops.mean(axis=1) - crops.mean(axis=(1, 2))[:, None], axis=1)).mean(axis=0)
    assert np.argmax(spectrum) * 20 == pytest.approx(realism.CROP_PX, abs=4)


def test_a_body_smaller_than_a_crop_gives_no_crops():
    film = np.full((300, 300), 0.05, np.float32)
    film[100:140, 100:140] = 0.8  # 12 mm at 0.3 mm a pixel: no 19-mm crop fits
    assert len(realism.film_crops(realism.Film(film, 0.3, "f"), 5, np.random.default_rng(0))) == 0


def test_the_crop_test_tells_sharp_films_from_blurred_ones():
    import cv2

    rng = np.random.default_rng(6)

    def film(blur):
        texture = cv2.GaussianBlur(rng.random((400, 400)).astype(np.float32), (0, 0), 1.0 + blur)
        return realism.Film(0.3 + texture, 0.3, str(rng.integers(1e9)))

    against, chance = realism.crop_test([film(3) for _ in range(8)], [film(0) for _ in range(8)], per_film=10, inside_body=False)
    assert against.auc > 0.9
    assert chance is not None and chance.n_real == 40


def _evidence_from(tables, folder, tmp_path):
    """Real-looking evidence made from a synthetic set: landmarks and labels in the real layouts, films."""
    from ralib.synth.cohort import cohort_sites

    wide = tables["landmarks"].pivot_table(index=["image_id", "hand"], columns="landmark", values=["x", "y"])
    rows = []
    for (image_id, hand), r in wide.iterrows():
        row = {"source": "ra2dream", "patient_id": image_id, "image_id": f"{image_id}-{hand}", "hand": hand}
        for real, synth in realism.SYNTH_POINTS.items():
            row |= {f"{real}_x": r["x"][synth], f"{real}_y": r["y"][synth]}
        row |= {"wrist_mid_x": (r["x"]["radial_styloid"] + r["x"]["ulnar_styloid"]) / 2, "wrist_mid_y": r["y"]["forearm"]}
        rows.append(row)
    pd.DataFrame(rows).to_csv(tmp_path / "real_hand_landmarks.csv", index=False)
    sites = cohort_sites(40, "ra2dream", seed=9)
    grades = realism.synthetic_hand_grades(sites, readers=True).rename_axis("Patient_ID").reset_index()
    grades.to_csv(tmp_path / "real_ra2dream_scores.csv", index=False)
    films = realism.synthetic_films(folder, tables["radiographs"], 6, seed=3)
    return realism.Evidence(tmp_path / "real_hand_landmarks.csv", tmp_path / "real_ra2dream_scores.csv", films, None)


def test_the_report_runs_every_test_it_has_evidence_for_and_names_the_rest(small_folder, small_tables, tmp_path):
    folder = small_folder
    evidence = _evidence_from(small_tables, folder, tmp_path)
    result = realism.report(folder, small_tables, evidence, n_films=6, n_patients=40, repeats=2)
    tests = set(result.tests.test)
    assert {"landmarks: fingers and thumb", "RA2-DREAM cohort: site grades (reader labels)"} <= tests
    assert any(t.startswith("film crops") for t in tests) and not any(t.startswith("wrist crops") for t in tests)
    assert result.skipped == ["wrist crops (no real wrists)"]
    assert result.tests.AUC.between(0, 1).all()
    assert "Hand geometry" in result.markdown()
    nothing = realism.report(folder, small_tables, realism.Evidence())
    assert nothing.tests.empty and len(nothing.skipped) == 4


def test_evidence_from_a_missing_folder_is_empty(tmp_path):
    assert realism.Evidence.from_folder(tmp_path / "absent") == realism.Evidence()
    assert realism.Evidence.from_folder(None) == realism.Evidence()


def test_real_films_are_scored_as_the_whole_image_model_sees_them(tmp_path):
    """A regression checkpoint scores the films that have a score, after the whole-image preparation at the
    input size it was trained at, in the target's unit; other checkpoints are refused."""
    import torch

    from ralib.data.arrays import to_square
    from ralib.models import create_model
    from ralib.tasks import ImageTask
    from ralib.train import recipes, save_checkpoint

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"split": ["train"] * 6, "score": [0.0, 5, 10, 20, 40, 80]})
    task = ImageTask("svdh_regression", "regression", rng.random((6, 32, 32)).astype(np.float32), table, "score")
    torch.manual_seed(0)
    model = create_model("mobilenetv2_100", 1).eval()
    path = save_checkpoint(tmp_path / "regressor.pt", model, recipes.miua2024("mobilenetv2_100", 1, 2), task)
    films = [realism.Film(rng.random((90, 120)).astype(np.float32), 0.2, name) for name in ("a.jpg", "b.jpg", "c.jpg")]
    table = realism.score_real_films(path, films, {"a.jpg": 3.0, "c.jpg": 40.0}, input_size=64)  # it records 32: that wins
    assert list(table.film) == ["a.jpg", "c.jpg"] and list(table["readers' score"]) == [3.0, 40.0]
    with torch.no_grad():
        x = (torch.from_numpy(np.stack([to_square(films[0].image, 32)]))[:, None] - task.pixel_mean) / task.pixel_sd
        expected = model(x).item() * task.target_sd + task.target_mean
    assert table.model.iloc[0] == pytest.approx(expected, abs=0.06)
    assert (table["training mean"] == round(task.target_mean, 1)).all()
    classifier = ImageTask("severity", "classification", task.images, pd.DataFrame({"split": ["train"] * 6, "c": [0, 1] * 3}), "c", classes=("a", "b"))
    save_checkpoint(tmp_path / "classifier.pt", create_model("mobilenetv2_100", 2), recipes.miua2024("mobilenetv2_100", 1, 2), classifier)
    with pytest.raises(ValueError, match="svdh_regression"):
        realism.score_real_films(tmp_path / "classifier.pt", films, {"a.jpg": 3.0})
