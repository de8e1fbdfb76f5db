"""Result tables and the references beside them."""

import numpy as np
import pandas as pd

import pytest
import torch

from ralib.results import (across_seeds, average_expert, grade_rows, joined_models, mean_baseline, regression_as_classes,
                           thumbnail_ridge, verdict)
from ralib.models import create_model
from ralib.results.whole_image import lowest_validation_rmse
from ralib.tasks import ImageTask


def _task(images, scores, splits):
    return ImageTask("demo", "regression", images, pd.DataFrame({"split": splits, "score": scores}), "score")


def test_thumbnail_ridge_finds_a_brightness_signal_the_mean_cannot():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 100, 120)
    images = (rng.uniform(0, 0.1, (120, 16, 16)) + scores[:, None, None] / 200).astype(np.float16)
    task = _task(images, scores, ["train"] * 80 + ["test"] * 40)
    ridge, mean = thumbnail_ridge(task, size=8), mean_baseline(task)
    assert ridge["pcc"] > 0.95 and ridge["rmse"] < mean["rmse"] / 3


def constant(value: float) -> torch.nn.Module:
    """A ResNet-18 regressor that predicts ``value`` (in the task's standardised unit) for every film."""
    model = create_model("resnet18", 1)
    head = model.get_classifier()
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.constant_(head.bias, value)
    return model.eval()


def test_the_whole_image_run_of_lowest_validation_rmse_is_chosen_not_the_first_or_the_test_best():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(50, 10, 20), [50.0, 52.0], [200.0, 210.0]]  # train, val near the mean, test far above it
    task = _task(np.zeros((24, 8, 8), np.float16), scores, ["train"] * 20 + ["val"] * 2 + ["test"] * 2)
    models = {"far": constant(8.0), "at the mean": constant(0.0), "above": constant(1.0)}
    assert lowest_validation_rmse(models, task) == "at the mean"


def test_mean_baseline_of_a_classification_predicts_the_majority():
    table = pd.DataFrame({"split": ["train"] * 5 + ["test"] * 3, "stage": [1, 1, 1, 0, 2, 1, 0, 2]})
    task = ImageTask("demo", "classification", np.zeros((8, 4, 4), np.float16), table, "stage", ("a", "b", "c"), "multiclass")
    assert mean_baseline(task)["accuracy"] == round(1 / 3, 4)


def test_verdict_names_the_runs_that_beat_the_baseline():
    table = pd.DataFrame({"run": ["a", "b"], "rmse": [10.0, 30.0]})
    assert verdict(table, {"rmse": 20.0}).endswith(": a")
    assert verdict(table, {"rmse": 5.0}).startswith("No run")


def test_regression_as_classes_uses_the_severity_bounds():
    task = _task(np.zeros((4, 4, 4), np.float16), [0.0, 100.0, 1.0, 50.0], ["train", "train", "test", "test"])
    perfect = regression_as_classes(task, np.array([1.5, 60.0]))
    assert perfect["accuracy"] == 1.0


def test_across_seeds_lines_up_runs_and_keeps_the_missing_ones_missing():
    def record(seed, runs):
        return {"seed": seed, "metrics": {"regression": runs}}

    records = [record(0, {"a": {"pcc": 0.6, "rmse": 26.0}, "b": {"pcc": 0.1, "rmse": 33.0}}),
               record(1, {"a": {"pcc": 0.4, "rmse": 28.0}}),  # run b failed for this seed
               record(2, {"a": {"pcc": 0.5, "rmse": 27.0}, "b": {"pcc": -0.1, "rmse": 34.0}})]  # fmt: skip
    table = across_seeds(records, "regression")
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "pcc mean"] == pytest.approx(0.5) and table.loc["a", "rmse max"] == 28.0
    assert np.isnan(table.loc["b", "pcc seed 1"]) and table.loc["b", "pcc mean"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="another seed"):
        across_seeds([records[0], records[0]], "regression")


def test_scoring_table_gives_each_model_its_measures_and_an_interval_around_its_pcc():
    from ralib.results import scoring_table

    rng = np.random.default_rng(0)
    true = rng.uniform(0, 100, 60)
    table = scoring_table(true, {"close": true + rng.normal(0, 5, 60), "off": true + 10})
    assert list(table.index) == ["close", "off"]
    assert table.loc["off", "mae"] == pytest.approx(10) and table.loc["off", "rmse"] == pytest.approx(10)
    close = table.loc["close"]
    assert close.pcc_low <= close.pcc <= close.pcc_high <= 1 and close.pcc > 0.95


def test_paired_comparisons_establish_a_real_difference_and_not_a_tie():
    from ralib.results import paired_comparisons

    rng = np.random.default_rng(1)
    true = rng.uniform(0, 100, 80)
    noise = rng.normal(0, 10, 80)
    preds = {"good": true + noise / 5, "bad": true + noise, "bad again": true + noise[::-1]}
    t = paired_comparisons(true, preds, {"good - bad": ("good", "bad"), "bad - bad": ("bad", "bad again")}, ("rmse",))
    assert t.loc[("good - bad", "rmse"), "high"] < 0
    assert t.loc[("bad - bad", "rmse"), "low"] < 0 < t.loc[("bad - bad", "rmse"), "high"]


def test_instance_squares_place_joint_crops_by_their_scale_and_leave_empty_places_out():
    import pandas as pd

    from ralib.explain.attention import instance_squares

    crops = pd.DataFrame({"cx": [100.0, 300.0], "cy": [50.0, 60.0], "mm_per_px": [0.25, 0.5]})
    centres, sides = instance_squares(crops, np.array([1, -1, 0]), spacing_mm=0.1, crop_size=96)
    assert centres[0].tolist() == [300.0, 60.0] and sides[0] == pytest.approx(480) and sides[2] == pytest.approx(240)
    assert np.isnan(centres[1]).all() and np.isnan(sides[1])
    with pytest.raises(ValueError, match="crop_size"):
        instance_squares(crops, np.array([0]), spacing_mm=0.1)


# --- RheumaVIT's Table 1 ----------------------------------------------------------------------------------


def test_joined_models_put_separate_erosion_and_jsn_models_in_one_row_and_refuse_a_half():
    rows = joined_models(["vit, shared", "cnn, separate erosion", "cnn, separate JSN"])
    assert rows == {"vit, shared": {"erosion": "vit, shared", "jsn": "vit, shared"},
                    "cnn, separate": {"erosion": "cnn, separate erosion", "jsn": "cnn, separate JSN"}}  # fmt: skip
    with pytest.raises(ValueError, match="without every head"):
        joined_models(["cnn, separate erosion"])


def test_grade_rows_score_only_joints_with_the_site_and_weight_every_grade_alike():
    truth = {"erosion": np.array([0, 0, 0, 0, 3, -1, -1]), "jsn": np.array([0, 0, 0, 0, 3, 2, 2])}
    always_zero = {"erosion": np.zeros(7, int), "jsn": np.zeros(7, int)}
    films = ["a", "a", "b", "b", "c", "c", "d"]
    rows = grade_rows(truth, {"zero": always_zero, "exact": truth}, films, n_resamples=50)
    # 4 of 5 scored erosions right, but class-weighted: grade 0 all right, grade 3 all wrong -> 0.5
    assert rows["zero"]["erosion n"] == 5 and rows["zero"]["erosion accuracy"] == pytest.approx(0.5)
    assert rows["zero"]["erosion mae"] == pytest.approx((0 + 3) / 2)
    assert rows["zero"]["jsn accuracy"] == pytest.approx(1 / 3) and rows["zero"]["jsn n"] == 7
    assert rows["exact"]["erosion accuracy"] == 1.0 and rows["exact"]["jsn mae"] == 0.0
    low, high = rows["zero"]["jsn accuracy_low"], rows["zero"]["jsn accuracy_high"]
    assert low <= rows["zero"]["jsn accuracy"] <= high and low < high


def test_average_expert_compares_each_expert_with_the_others_and_needs_three():
    table = pd.DataFrame({"erosion_site": ["ip"] * 6 + [""], "jsn_site": ["ip"] * 7,
                          "erosion_reader_1": [0, 1, 2, 0, 1, 2, 9], "erosion_reader_2": [0, 1, 2, 0, 1, 2, 9],
                          "erosion_reader_3": [1, 2, 3, 1, 2, 3, 9],  # always one grade higher
                          "jsn_reader_1": [0, 1, 2, 0, 1, 2, 1], "jsn_reader_2": [0, 1, 2, 0, 1, 2, 1]})  # fmt: skip
    row = average_expert(table)
    assert set(row) == {"erosion accuracy", "erosion mae"}  # two JSN readers: no average expert
    # readers 1 and 2 each meet floor((own + 1 + own) / 2) = own: right; reader 3 meets the others' grade: one off
    assert row["erosion accuracy"] == pytest.approx(2 / 3) and row["erosion mae"] == pytest.approx(1 / 3)


def test_publish_writes_the_tables_of_two_runs_between_the_markers_and_nothing_else(tmp_path):
    import json

    from ralib.publish import main, publish

    runs = tmp_path / "runs"
    for notebook, metrics in (("06_a", {"table2": {"MIL": {"pcc": 0.8, "pcc_low": 0.7, "pcc_high": 0.9, "rmse": 16.84},
                                                   "CNN": {"pcc": 0.36, "pcc_low": None, "pcc_high": None, "rmse": 26.2},
                                                   "tiles": {"pcc": -0.31, "pcc_low": -0.54, "pcc_high": -0.04, "rmse": 28.2}}}),
                              ("07_b", {"total": {"label": {"raw sum": {"rmse": 17.0, "n": 56}, "a | b": {"rmse": 1.0, "n": 2}}}})):  # fmt: skip
        (runs / notebook).mkdir(parents=True)
        (runs / notebook / "metrics.json").write_text(json.dumps({"finished": "T", "seed": 1, "metrics": metrics}))
    before, middle, after = "# Title\n\nText before.\n", "\nText between, kept.\n", "\nText after.\n"
    readme = tmp_path / "README.md"
    readme.write_text(before + '<!-- publish 06_a table2 columns="pcc,rmse" digits=1 -->\nold table\n<!-- /publish -->\n' + middle
                      + "<!-- publish 07_b total.label digits=0 -->\n<!-- /publish -->" + after)  # fmt: skip
    assert publish(readme, runs) == 2
    text = readme.read_text()
    assert text.startswith(before) and text.endswith(after) and middle in text and "old table" not in text
    assert "| MIL | 0.8 (0.7-0.9) | 16.8 |\n| CNN | 0.4 | 26.2 |\n| tiles | -0.3 (-0.5 to -0.0) | 28.2 |" in text
    assert "| row | rmse | n |\n|---|---|---|\n| raw sum | 17 | 56 |\n| a \\| b | 1 | 2 |" in text  # a pipe in a name escaped
    assert "From `07_b/metrics.json` (`total.label`), run finished T, seed 1." in text
    main([str(runs), str(readme)])  # again, through the command: the same text
    assert readme.read_text() == text


def test_publish_seeds_writes_each_seed_the_mean_and_range_and_a_dash_where_a_seed_lacks_the_row(tmp_path):
    import json

    from ralib.publish import publish

    for folder, seed, rows in (("cpu", 0, {"label | MIL": {"pcc": 0.69, "rmse": 20.0}, "label | CNN": {"pcc": 0.35, "rmse": 26.0}}),
                               ("cpu-seed1", 1, {"label | MIL": {"pcc": 0.57, "rmse": 23.0}, "truth | MIL": {"pcc": 0.6, "rmse": 22.0},
                                                "label | new": {"pcc": 0.4, "rmse": 24.0}}),
                               ("cpu-seed2", 2, {"label | MIL": {"pcc": 0.81, "rmse": 17.0}, "label | CNN": {"pcc": -0.05, "rmse": 29.0}})):  # fmt: skip
        (tmp_path / folder / "06_a").mkdir(parents=True)
        (tmp_path / folder / "06_a" / "metrics.json").write_text(json.dumps({"seed": seed, "metrics": {"table2": rows}}))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- publish seeds 06_a table2 folders=cpu,cpu-seed1,cpu-seed2 measures=pcc rows=label -->\n<!-- /publish -->\n")
    assert publish(readme, tmp_path / "cpu") == 1
    text = readme.read_text()
    assert "| row | pcc, seeds 0 / 1 / 2 | pcc, mean (range) |" in text
    assert "| label \\| MIL | 0.69 / 0.57 / 0.81 | 0.69 (0.57-0.81) |" in text
    assert "| label \\| CNN | 0.35 / - / -0.05 | 0.15 (-0.05 to 0.35) |" in text and "truth" not in text  # rows=label
    assert "| label \\| new | - / 0.40 / - | 0.40 (one seed) |" in text  # no range from a single run
    readme.write_text("<!-- publish seeds 06_a table2 folders=cpu,cpu-seed1 -->\n<!-- /publish -->\n")
    with pytest.raises(ValueError, match="measures"):
        publish(readme, tmp_path / "cpu")
    readme.write_text("<!-- publish seeds 06_a table2 folders=cpu,cpu measures=pcc -->\n<!-- /publish -->\n")
    with pytest.raises(ValueError, match="another seed"):
        publish(readme, tmp_path / "cpu")


def test_publish_names_what_is_missing_and_leaves_the_file_alone(tmp_path):
    from ralib.publish import publish

    readme = tmp_path / "README.md"
    readme.write_text("<!-- publish 09_none table -->\n<!-- /publish -->\n")
    with pytest.raises(FileNotFoundError, match="09_none"):
        publish(readme, tmp_path)
    assert readme.read_text() == "<!-- publish 09_none table -->\n<!-- /publish -->\n"


def test_publish_timings_lists_every_notebook_its_time_commit_and_failure_and_the_sum(tmp_path):
    import json

    from ralib.publish import publish

    for notebook, record in (("00_a", {"ok": True, "seconds": 540.4, "finished": "2026-12-03T09:00:00+00:00", "commit": "b245c92"}),
                             ("07_b", {"ok": False, "seconds": 61.0, "finished": "2026-12-03T10:30:59+00:00"})):  # fmt: skip
        (tmp_path / notebook).mkdir()
        (tmp_path / notebook / "run.json").write_text(json.dumps(record))
    readme = tmp_path / "README.md"
    readme.write_text("Times:\n<!-- publish timings -->\n<!-- /publish -->\nafter\n")
    assert publish(readme, tmp_path) == 1
    assert readme.read_text() == (
        "Times:\n<!-- publish timings -->\n| notebook | time | finished (UTC) | code |\n|---|---|---|---|\n"
        "| `00_a` | 9 min 0 s | 2026-12-03 09:00 | b245c92 |\n| `07_b` | 1 min 1 s (FAILED) | 2026-12-03 10:30 | - |\n\n"
        "<sub>2 notebooks, 10 min 1 s together; from `*/run.json` of the run folder.</sub>\n<!-- /publish -->\nafter\n")


def test_publish_slow_cells_names_each_cell_over_the_threshold_with_its_section_and_the_share_shown(tmp_path):
    import json

    from ralib.publish import publish

    cells = [{"cell_type": "markdown", "source": "# 08\n\n## 2. Scorers\n"},
             {"cell_type": "code", "source": "fits = train(a | b)\n", "metadata": {"papermill": {"duration": 949.2}}},
             {"cell_type": "code", "source": "plot()", "metadata": {"papermill": {"duration": 12.0}}},
             {"cell_type": "code", "source": "never_ran()", "metadata": {}}]  # fmt: skip
    (tmp_path / "07_b").mkdir()
    (tmp_path / "07_b" / "07_b.ipynb").write_text(json.dumps({"cells": cells}))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- publish slow-cells min_seconds=30 -->\n<!-- /publish -->\n")
    assert publish(readme, tmp_path) == 1
    text = readme.read_text()
    assert "| `07_b` | 2. Scorers | 1 | 15 min 49 s | `fits = train(a \\| b)` |\n\n" in text  # the section, the pipe escaped
    assert "plot()" not in text and "15 min 49 s of the 16 min 1 s the cells of 1 notebook took" in text


def test_assembled_totals_are_corrected_for_the_weighted_draws_and_fitted_only_beside():
    from ralib.results import assembled_total_predictions
    from ralib.tasks.joint_grades import JointGradeTask

    n_train = 8  # erosion 1 in a quarter of the training joints: drawn as often as erosion 0
    ids = [f"t{i}" for i in range(n_train)] + ["v1", "v2", "x"]
    table = pd.DataFrame({"radiograph_id": ids, "joint": ["mcp2"] * len(ids), "split": ["train"] * n_train + ["val", "val", "test"],
                          "erosion_site": ["mcp2"] * len(ids), "jsn_site": [""] * len(ids),
                          "erosion_grade": [0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1], "jsn_grade": [np.nan] * len(ids)})  # fmt: skip
    task = JointGradeTask(np.zeros((len(ids), 8, 8), np.uint8), table, input_size=8)
    undecided = np.zeros((1, 11))
    undecided[0, :2] = 0.5
    p = {"val": np.array([[1.0] + [0] * 10, [0, 1.0] + [0] * 9]), "test": undecided}
    films = pd.DataFrame({"radiograph_id": ["v1", "v2", "x"], "split": ["val", "val", "test"], "score": [1.0, 5.0, 3.0]})
    out, line = assembled_total_predictions(task, p, films)
    row = out.loc["x"]
    assert row["raw sum, as drawn"] == pytest.approx(0.5)  # undecided under balanced draws
    assert row["raw sum, prior-corrected"] == pytest.approx(0.25)  # the data's own 1 in 4
    assert line == pytest.approx({"slope": 4.0, "intercept": 1.0}) and row["line fitted on validation"] == pytest.approx(3.0)


def test_publish_keeps_a_block_whose_run_is_gone_when_asked_and_archive_lets_the_tables_be_written_again(tmp_path):
    import json

    from ralib.publish import main, publish

    runs = tmp_path / "runs" / "cpu"
    (runs / "02_a").mkdir(parents=True)
    (runs / "02_a" / "metrics.json").write_text(json.dumps({"finished": "T", "seed": 0, "metrics": {"fits": {"a": {"pcc": 0.5}}}}))
    (runs / "02_a" / "run.json").write_text(json.dumps({"ok": True, "seconds": 61.0, "finished": "T", "commit": "abc"}))
    gone = "<!-- publish 09_gone table -->\nthe table of a run no longer on disk\n<!-- /publish -->\n"
    readme = tmp_path / "README.md"
    readme.write_text("<!-- publish 02_a fits -->\n<!-- /publish -->\n" + gone)
    kept: list[str] = []
    assert publish(readme, runs, kept) == 1
    assert kept == ["09_gone table"] and readme.read_text().endswith(gone) and "| a | 0.50 |" in readme.read_text()
    results = tmp_path / "results" / "cpu"
    main([str(runs), "--archive", str(results)])  # no markdown: only the copy
    assert sorted(p.name for p in (results / "02_a").iterdir()) == ["metrics.json", "run.json"]
    readme.write_text("<!-- publish 02_a fits -->\n<!-- /publish -->\n<!-- publish timings -->\n<!-- /publish -->\n")
    (runs / "02_a" / "metrics.json").unlink()  # runs/ gone: the archive alone writes the same tables
    assert publish(readme, results) == 2 and "| a | 0.50 |" in readme.read_text() and "1 min 1 s" in readme.read_text()


def test_publish_reads_intervals_named_with_a_space_as_the_explainability_measures_name_them(tmp_path):
    import json

    from ralib.publish import publish

    (tmp_path / "09_a").mkdir()
    rows = {"cnn | Grad-CAM": {"heat: damaged site": 0.3, "heat: damaged site low": 0.2, "heat: damaged site high": 0.4, "seconds": 1.5}}
    (tmp_path / "09_a" / "metrics.json").write_text(json.dumps({"seed": 0, "metrics": {"table": rows}}))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- publish 09_a table -->\n<!-- /publish -->\n")
    assert publish(readme, tmp_path) == 1
    assert "| row | heat: damaged site | seconds |\n|---|---|---|\n| cnn \\| Grad-CAM | 0.30 (0.20-0.40) | 1.50 |" in readme.read_text()
