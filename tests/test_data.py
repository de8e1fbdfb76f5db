"""Image I/O, validation, splits, aggregation and the format round trips."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ralib import anatomy
from ralib.data import load_dataset
from ralib.data.aggregate import aggregate
from ralib.data.formats import image_table, ra2dream
from ralib.data.io import read_film
from ralib.data.model import RADataset
from ralib.splits import check_patient_level, patient_split
from ralib.data.validate import DataValidationError, require_columns, validate
from ralib.synth import make_dataset

GRADIENT = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (30, 1))  # 30 x 40, brighter to the right

# ---------------------------------------------------------------------------------------------
# validation


def _tiny(tmp_path, grades=(0, 1, 2), ids=("a", "b", "c"), files=True):
    rows, scores = [], []
    for rid, g in zip(ids, grades):
        path = tmp_path / f"{rid}.png"
        if files:
            Image.fromarray((GRADIENT * 255).astype(np.uint8)).save(path)
        rows.append({"radiograph_id": rid, "patient_id": rid, "split": "train", "image_path": str(path), "score": 1.0})
        scores.append({"radiograph_id": rid, "hand": "LH", "scheme": "svdh", "site": "mcp_E__2", "kind": "erosion",
                       "reader_1": g, "grade": g})  # fmt: skip
    return RADataset("tiny", pd.DataFrame(rows), pd.DataFrame(scores))


def test_validation_strict_lists_every_problem(tmp_path):
    ds = _tiny(tmp_path, grades=(7, 1.5, "x"), ids=("a", "a", "c"))
    with pytest.raises(DataValidationError) as err:
        validate(ds)
    text = str(err.value)
    assert "duplicate radiograph id 'a'" in text
    assert "outside 0-5" in text and "not a whole grade" in text and "'x' is not a number" in text


def test_validation_lenient_skips_and_says_why(tmp_path):
    ds = _tiny(tmp_path, grades=(0, 9, 1))
    ds.scores.loc[len(ds.scores)] = {"radiograph_id": "ghost", "hand": "LH", "scheme": "svdh", "site": "mcp_E__2",
                                     "kind": "erosion", "reader_1": 0, "grade": 0}  # fmt: skip
    (tmp_path / "c.png").unlink()
    clean = validate(ds, strict=False)
    assert list(clean.radiographs.radiograph_id) == ["a", "b"]
    reasons = " | ".join(clean.skipped.reason)
    assert "label without image" in reasons and "outside 0-5" in reasons and "no image row" in reasons
    assert len(clean.skipped) == 3


def test_missing_column_suggests_the_close_one():
    with pytest.raises(DataValidationError, match=r"missing column 'score_avg' \(did you mean 'score_avr'\?\)"):
        require_columns(pd.DataFrame(columns=["filename", "score_avr"]), ["filename", "score_avg"], "t.csv")


# ---------------------------------------------------------------------------------------------
# splits and aggregation


def test_patient_split_keeps_patients_together_and_is_reproducible():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"patient_id": np.repeat([f"p{i}" for i in range(300)], 2), "score": rng.gamma(1, 30, 600)})
    a, b, c = patient_split(table, seed=1), patient_split(table, seed=1), patient_split(table, seed=2)
    check_patient_level(table, a)
    assert a.equals(b) and not a.equals(c)
    shares = a.value_counts(normalize=True)
    assert abs(shares["train"] - 2700 / 3818) < 0.01 and abs(shares["test"] - 358 / 3818) < 0.01
    with pytest.raises(ValueError, match="more than one split"):
        check_patient_level(table, pd.Series(np.tile(["train", "test"], 300)))


def test_aggregation_methods():
    grades = pd.DataFrame({"reader_1": [0, 2, 3, 1], "reader_2": [1, 2, 4, 2], "reader_3": [0, 3, np.nan, np.nan]})
    np.testing.assert_allclose(aggregate(grades, "mean"), [1 / 3, 7 / 3, 3.5, 1.5])
    np.testing.assert_allclose(aggregate(grades, "rounded_mean"), [0, 2, 4, 2])
    np.testing.assert_allclose(aggregate(grades, "majority"), [0, 2, 3, 1])  # ties go to the lower grade
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(grades, "median")


def test_majority_equals_the_most_frequent_grade_of_each_row_ties_low_and_nan_where_nobody_graded():
    rng = np.random.default_rng(0)
    grades = pd.DataFrame(rng.integers(0, 5, (500, 4)).astype(float), columns=[f"reader_{i}" for i in range(4)])
    grades = grades.mask(rng.random(grades.shape) < 0.3)
    grades.iloc[0] = np.nan

    def row_by_row(row):
        counts = row.dropna().value_counts()
        return np.nan if counts.empty else float(min(counts[counts == counts.max()].index))

    expected = grades.apply(row_by_row, axis=1)
    assert np.isnan(expected.iloc[0]) and expected.notna().sum() > 450
    pd.testing.assert_series_equal(aggregate(grades, "majority"), expected, check_names=False)


def test_dawid_skene_agrees_with_a_clear_majority_per_kind():
    grades = pd.DataFrame({"reader_1": [0, 2, 3] * 20, "reader_2": [0, 2, 3] * 20, "reader_3": [1, 2, 2] * 20})
    np.testing.assert_allclose(aggregate(grades, "dawid_skene"), [0, 2, 3] * 20)
    kinds = pd.Series(["erosion", "jsn", "jsn"] * 20)
    np.testing.assert_allclose(aggregate(grades, "dawid_skene", kinds), [0, 2, 3] * 20)


def _readers_with_known_confusions(n=3000, seed=0):
    """Five grades; one careful reader (90 % right) and two who report one grade too high half the time."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, n)
    careful = np.where(rng.random(n) < 0.9, truth, rng.integers(0, 5, n))
    high = [np.minimum(truth + (rng.random(n) < 0.5), 4) for _ in range(2)]
    return truth, np.stack([careful, *high], 1).astype(float)


def test_dawid_skene_recovers_the_truth_better_than_majority_from_readers_with_known_confusions():
    from ralib.data.aggregate import dawid_skene

    truth, grades = _readers_with_known_confusions()
    posterior, confusion, prior = dawid_skene(grades, n_classes=5)
    majority = aggregate(pd.DataFrame(grades), "majority").to_numpy()
    ds = posterior.argmax(1)
    assert np.mean(ds == truth) > np.mean(majority == truth) + 0.1  # the two lenient readers outvote the careful one
    assert np.mean(ds == truth) > 0.85
    # the estimated confusions: the careful reader's diagonal near 0.92, the lenient ones' near 0.5 below the top grade
    assert np.diag(confusion[0]).mean() == pytest.approx(0.92, abs=0.05)
    assert np.diag(confusion[1])[:4].mean() == pytest.approx(0.5, abs=0.07)
    assert prior == pytest.approx(np.full(5, 0.2), abs=0.03) and np.allclose(posterior.sum(1), 1)


def test_dawid_skene_skips_missing_grades_and_refuses_bad_ones():
    from ralib.data.aggregate import dawid_skene

    truth, grades = _readers_with_known_confusions(600, seed=1)
    grades[::3, 1] = np.nan  # reader 2 did not grade a third of the items
    assert np.mean(dawid_skene(grades)[0].argmax(1) == truth) > 0.8
    with pytest.raises(ValueError, match="at least one"):
        dawid_skene(np.array([[np.nan, np.nan], [1, 1]]))
    with pytest.raises(ValueError, match="whole numbers"):
        dawid_skene(np.array([[0.5, 1], [1, 1]]))
    with pytest.raises(ValueError, match="classes"):
        dawid_skene(np.array([[3, 1], [1, 1]]), n_classes=3)


def test_dawid_skene_matches_crowd_kit_where_it_is_installed():
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    from ralib.data.aggregate import dawid_skene

    truth, grades = _readers_with_known_confusions(1000, seed=2)
    long = pd.DataFrame([(i, w, int(g)) for i, row in enumerate(grades) for w, g in enumerate(row)], columns=["task", "worker", "label"])
    theirs = crowdkit.DawidSkene(n_iter=100).fit_predict(long).sort_index().to_numpy()
    assert np.mean(dawid_skene(grades)[0].argmax(1) == theirs) > 0.98


# ---------------------------------------------------------------------------------------------
# formats: load, export, load again


def test_synthra_loads_into_the_data_model(synthetic):
    s = synthetic.summary()
    assert s["radiographs"] == 6 and s["scores"] == 6 * (62 + 2 * 17 + 2 * 19)
    wide = synthetic.svdh_wide("truth")
    assert (wide.sum(axis=1).to_numpy() == synthetic.radiographs.set_index("radiograph_id").truth_total[wide.index]).all()


def test_dataset_split_keeps_scores_and_landmarks_with_their_films(synthetic):
    train = synthetic.split("train")
    ids = set(train.radiographs.radiograph_id)
    assert ids and ids < set(synthetic.radiographs.radiograph_id)
    assert set(train.scores.radiograph_id) == ids and set(train.landmarks.radiograph_id) == ids


def test_ra2dream_round_trip(synthetic, tmp_path):
    ra2dream.export(synthetic, tmp_path)
    table = pd.read_csv(tmp_path / "training.csv")
    assert list(table.columns) == ra2dream.COLUMNS and len(table.columns) == 90
    back = ra2dream.load(tmp_path)
    assert len(back.radiographs) == 12 and back.radiographs.patient_id.nunique() == 6
    check_patient_level(back.radiographs)
    expected = np.floor(synthetic.svdh_wide("grade").to_numpy() + 0.5)
    got = back.svdh_wide("grade")
    for hand in anatomy.HANDS:  # UAB00k is the k-th synthetic film, each hand its own image
        ids = anatomy.svdh_site_ids(hand)
        rows = np.stack([got.loc[f"UAB{i + 1:03d}-{hand}", ids].to_numpy(float) for i in range(6)])
        mask = [c in ids for c in anatomy.svdh_site_ids()]
        np.testing.assert_array_equal(rows, expected[:, mask])
    for path in back.radiographs.image_path:  # every crop, EXIF-rotated ones included, stands upright
        film = read_film(path)
        assert film.shape[0] > film.shape[1]


def test_ra2dream_quirks_and_errors(synthetic, tmp_path):
    ra2dream.export(synthetic, tmp_path)
    table = pd.read_csv(tmp_path / "training.csv")
    table[ra2dream.HAND_E] = table[ra2dream.HAND_E].astype(float)  # "2.0" as in derived files
    table.to_csv(tmp_path / "training.csv", index=False)
    assert len(ra2dream.load(tmp_path).radiographs) == 12
    table.loc[0, "LH_mcp_E__2"] = 7
    table.rename(columns={"RH_wrist_J__radcar": "RH_wrist_J__radcarp"}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataValidationError, match="did you mean 'RH_wrist_J__radcarp'"):
        ra2dream.load(tmp_path, csv="bad.csv")
    table.to_csv(tmp_path / "training.csv", index=False)
    with pytest.raises(DataValidationError) as err:
        ra2dream.load(tmp_path)
    assert "LH_mcp_E__2 = 7" in str(err.value) and "sites add up to" in str(err.value)
    lenient = ra2dream.load(tmp_path, strict=False)
    assert len(lenient.radiographs) == 10 and "LH_mcp_E__2 = 7" in " ".join(lenient.skipped.reason)


def test_image_table_round_trip(synthetic, tmp_path):
    image_table.export(synthetic, tmp_path)
    back = load_dataset("image_table", tmp_path)
    np.testing.assert_allclose(back.radiographs.score, synthetic.radiographs.score)
    assert set(back.radiographs.sex) <= {"F", "M"}
    assert read_film(back.radiographs.image_path[0]).ndim == 2  # RGB JPEG of a grey film
    (tmp_path / "DX999999.jpg").write_bytes((tmp_path / "DX100000.jpg").read_bytes())
    with pytest.raises(DataValidationError, match="DX999999.jpg.*image without labels"):
        load_dataset("image_table", tmp_path)


def test_arise_round_trip_and_vocabulary(synthetic, tmp_path):
    from ralib.data.formats import arise

    arise.export(synthetic, tmp_path)
    back = load_dataset("arise", tmp_path)
    key = ["hand", "site", "kind"]
    a = synthetic.scores[synthetic.scores.scheme == "box"].sort_values(["radiograph_id", *key])
    b = back.scores.sort_values(["radiograph_id", *key], key=lambda c: c.astype(int) if c.name == "radiograph_id" else c)
    readers = ["reader_1", "reader_2", "reader_3"]
    np.testing.assert_array_equal(a[readers].to_numpy(float), b[readers].to_numpy(float))
    np.testing.assert_allclose(a[["x0", "y0", "x1", "y1"]].to_numpy(float), b[["x0", "y0", "x1", "y1"]].to_numpy(float), atol=0.1)
    assert back.radiographs.split.value_counts().sum() == 6
    assert arise.box_name("Pip", "3.0") == "pip3" and arise.box_name("thumb", None) is None
    scores = pd.read_csv(tmp_path / "scores.csv", index_col=0)
    scores.loc[scores.index[0], "joint"] = "Knuckle"
    scores.to_csv(tmp_path / "scores.csv")
    with pytest.raises(DataValidationError, match="cannot map joint='Knuckle'"):
        load_dataset("arise", tmp_path)


def test_rsna_round_trip_with_real_spellings(tmp_path):
    from ralib.data.formats import rsna
    from ralib.synth import ChildConfig

    folder = make_dataset(ChildConfig(n_images=6, image_size=96), tmp_path / "c", progress=False, workers=1)
    root = rsna.export_children(folder, tmp_path / "rsna")
    back = load_dataset("rsna", root)
    original = pd.read_csv(folder / "children.csv")
    np.testing.assert_allclose(back.radiographs.bone_age, original.boneage)
    assert (back.radiographs.sex == original.male.map({True: "M", False: "F"})).all()
    table = pd.read_csv(root / rsna.TRAIN_CSV)
    table["male"] = ["TRUE", "FALSE", "1", "0", "True", "False"]
    table.to_csv(root / rsna.TRAIN_CSV, index=False)
    assert load_dataset("rsna", root).radiographs.sex.tolist() == ["M", "F", "M", "F", "M", "F"]
    table.loc[0, "male"] = "yes"
    table.to_csv(root / rsna.TRAIN_CSV, index=False)
    with pytest.raises(DataValidationError, match="male value 'yes'"):
        load_dataset("rsna", root)
    assert len(load_dataset("rsna", root, strict=False).radiographs) == 5


def test_ra2dream_predictions_are_written_in_the_challenge_order_and_load_back_unchanged(synthetic, tmp_path):
    ra2dream.export(synthetic, tmp_path / "export")
    labels = ra2dream.load(tmp_path / "export")
    rng = np.random.default_rng(0)
    hands = labels.scores.merge(labels.radiographs[["radiograph_id", "patient_id"]], on="radiograph_id")
    top = np.where(hands.kind == "erosion", anatomy.EROSION_MAX, anatomy.JSN_MAX)
    hands["prediction"] = np.clip(hands.grade + rng.normal(0, 0.7, len(hands)), 0, top)  # fractional, as a regressor's
    path = ra2dream.write_predictions(hands, tmp_path / "export" / "predictions.csv")
    table = pd.read_csv(path)
    assert list(table.columns) == ra2dream.COLUMNS
    assert table[ra2dream.FOOT_E + ra2dream.FOOT_J].isna().all().all()  # feet present and empty, not invented
    back = ra2dream.load(tmp_path / "export", csv="predictions.csv", predictions=True)
    merged = hands.merge(back.scores, on=["radiograph_id", "hand", "site"], suffixes=("", "_back"))
    assert len(merged) == len(hands) and np.allclose(merged.grade_back, merged.prediction.round(4), atol=1e-9)
    with pytest.raises(DataValidationError):  # a label table stays strict: fractions are not grades
        ra2dream.load(tmp_path / "export", csv="predictions.csv")
    with pytest.raises(ValueError, match="every hand site"):
        ra2dream.write_predictions(hands[hands.site != "mcp_E__2"], tmp_path / "incomplete.csv")
    some = hands[hands.patient_id == hands.patient_id.iloc[0]]  # one patient's films scored, beside all the others
    ra2dream.write_predictions(some, tmp_path / "export" / "one.csv")
    assert len(ra2dream.load(tmp_path / "export", csv="one.csv", predictions=True).radiographs) == 2
    with pytest.raises(DataValidationError, match="image without labels"):  # a label table still names them
        ra2dream.load(tmp_path / "export", csv="one.csv")


def test_ra2dream_predictions_never_replace_a_label_table_and_refuse_what_the_reader_would(synthetic, tmp_path):
    """The writer refuses, before writing, what the reader refuses: a label table under it, values outside the
    site's grades or not finite, two predictions for one site; an earlier predictions table only with overwrite."""
    ra2dream.export(synthetic, tmp_path / "export")
    labels = ra2dream.load(tmp_path / "export")
    hands = labels.scores.merge(labels.radiographs[["radiograph_id", "patient_id"]], on="radiograph_id")
    hands["prediction"] = hands.grade.astype(float)
    training = tmp_path / "export" / "training.csv"
    before = training.read_bytes()
    with pytest.raises(FileExistsError, match="label table"):
        ra2dream.write_predictions(hands, training, overwrite=True)
    assert training.read_bytes() == before
    path = ra2dream.write_predictions(hands, tmp_path / "predictions.csv")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ra2dream.write_predictions(hands, path)
    assert ra2dream.write_predictions(hands.assign(prediction=hands.prediction / 2), path, overwrite=True) == path
    for value in (-0.7, np.inf, 5.3 if hands.kind.iloc[0] == "erosion" else 4.3):
        wrong = hands.copy()
        wrong.loc[wrong.index[0], "prediction"] = value
        with pytest.raises(ValueError, match="within the site's grades"):
            ra2dream.write_predictions(wrong, tmp_path / "wrong.csv")
    with pytest.raises(ValueError, match="two or more predictions for one site"):
        ra2dream.write_predictions(pd.concat([hands, hands.iloc[:1].assign(prediction=0.0)]), tmp_path / "twice.csv")
    assert not (tmp_path / "wrong.csv").exists() and not (tmp_path / "twice.csv").exists()


def test_a_decoded_film_is_kept_once_read_back_unchanged_and_decoded_again_when_its_file_changes(synthetic, isolated_paths, monkeypatch):
    import os

    from ralib.data.arrays import stretch, stretched_film
    from ralib.data.io import read_radiograph
    from ralib.integrity import seal

    row = synthetic.radiographs.iloc[0]
    folder = isolated_paths / "data" / "films"
    fresh = stretched_film(row)
    kept = list(folder.glob("*.npy"))
    assert len(kept) == 1 and fresh.dtype == np.float32
    np.testing.assert_array_equal(stretched_film(row), fresh)  # read back: the same values as decoded
    assert np.abs(fresh - stretch(read_radiograph(row))).max() <= 0.5 / 65535 + 1e-7  # the film, in steps of 1/65535
    np.save(kept[0], np.zeros_like(np.load(kept[0])))
    seal(kept[0])  # (unsealed, it would be taken for damaged and decoded again)
    assert stretched_film(row).max() == 0  # later passes read the kept array, not the image file
    stat = os.stat(row.image_path)
    os.utime(row.image_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    np.testing.assert_array_equal(stretched_film(row), fresh)  # a changed file is decoded again
    assert len(list(folder.glob("*.npy"))) == 2
    monkeypatch.setenv("RALIB_FILM_CACHE_GB", "0")
    stretched_film(synthetic.radiographs.iloc[1])
    assert len(list(folder.glob("*.npy"))) == 2  # beyond the budget: decoded, not kept
