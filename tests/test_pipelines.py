"""The notebooks' pipelines (ralib/pipelines/): their bookkeeping on planted inputs. The steps that train run
end to end in the notebooks' smoke runs (test_notebooks.py)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ralib import artefacts
from ralib.pipelines.deepra import DeepRA, RoundTrip
from ralib.pipelines.mil import MIL, Scheme2, Table2
from ralib.tasks.bags import targets_of
from ralib.tracking import start_run


def test_round_trip_metrics_keep_the_layout_the_docs_read():
    measures = pd.DataFrame({"pcc overall": [0.5, 0.4]}, index=["films as SynthRA stores them", "RA2-DREAM export, predictions read back"])
    regions = pd.DataFrame({"iou": [0.8, 0.7], "found": [0.9, 0.8], "regions": [10, 10]}, index=["films", "exported hand JPEGs"])
    metrics = RoundTrip({"columns_in_order": True}, regions, measures).metrics()
    assert metrics["RA2-DREAM export, predictions read back | pcc overall"] == 0.4
    assert metrics["export_regions"] == {"films": {"iou": 0.8, "found": 0.9}, "exported hand JPEGs": {"iou": 0.7, "found": 0.8}}
    assert metrics["columns_in_order"] is True


def test_run_log_writes_a_table_as_one_row_per_key(tmp_path):
    run = start_run("99_demo", "smoke", tmp_path)
    table = pd.DataFrame({"pcc": [0.5, np.nan]}, index=pd.MultiIndex.from_tuples([("label", "a"), ("truth", "a")]))
    run.log(table2=table, per_film=pd.Series({"a": np.float64(2.0)}))
    record = run.finish().read_text()
    assert '"label | a": {\n        "pcc": 0.5' in record and '"truth | a": {\n        "pcc": null' in record
    assert '"a": 2.0' in record


def test_crop_examples_take_one_test_films_left_hand_in_every_variant():
    def crops(film_ids):
        table = pd.DataFrame({"radiograph_id": film_ids, "hand": ["LH", "RH", "LH"], "joint": ["thumb", "thumb", "index"]})
        return np.arange(len(film_ids))[:, None, None] * np.ones((1, 2, 2)), table

    wrist = (np.zeros((1, 2, 2)), pd.DataFrame({"radiograph_id": ["f1"], "hand": ["LH"], "joint": ["wrist"]}))
    cut = {("detected", "fingers"): crops(["f0", "f1", "f1"]), ("annotated", "fingers"): crops(["f1", "f1", "f1"]),
           ("detected", "wrist"): wrist, ("annotated", "wrist"): wrist}
    images, titles, ncols = DeepRA.crop_examples(cut)
    assert titles == ["index, detected", "thumb, annotated", "index, annotated", "wrist, detected", "wrist, annotated"]
    assert ncols == 4 and len(images) == 5


def test_scheme2_pairs_add_scheme1_only_where_its_row_is_there():
    scheme2 = Scheme2(None, SimpleNamespace(mil=SimpleNamespace(patch_models=["resnet18"])), Path("."), films=pd.DataFrame(), weights="random")
    table2 = Table2(pd.DataFrame(), {"best": 0, "whole image: resnet34": 0, "resnet18, true landmarks": 0}, pd.DataFrame(), {}, "resnet34", {})
    pairs = scheme2.pairs(table2, "best")
    assert pairs["best Scheme 2 - whole image"] == ("best", "whole image: resnet34")
    assert not any("Scheme 1" in p for p in pairs)
    table2.predictions["Scheme 1: tiles"] = 0
    assert scheme2.pairs(table2, "best")["Scheme 1 - whole image"] == ("Scheme 1: tiles", "whole image: resnet34")


def test_mil_test_predictions_refuse_bag_tasks_on_different_films():
    def task(films):
        table = pd.DataFrame({"radiograph_id": films, "split": "test"})
        return SimpleNamespace(table=table, rows=lambda split: np.arange(len(films)))

    fitted = SimpleNamespace(predict=lambda task: np.zeros(len(task.table)))
    with pytest.raises(ValueError, match="different test films"):
        MIL.test_predictions({"a": fitted, "b": fitted}, {"a": task(["x", "y"]), "b": task(["x"])})
    table, predictions = MIL.test_predictions({"a": fitted}, {"a": task(["x", "y"])})
    assert list(table.radiograph_id) == ["x", "y"] and predictions["a"].shape == (2,)


def test_severity_read_off_a_score_counts_class_steps():
    table = pd.DataFrame({"score": [0.0, 100.0]})
    assert Scheme2.severity(table, np.array([0.0, 100.0])) == {"accuracy": 1.0, "class_mae": 0.0}
    assert Scheme2.severity(table, np.array([0.0, 0.0]))["accuracy"] == 0.5


def test_targets_leave_out_a_truth_some_films_lack():
    assert targets_of(pd.DataFrame({"score": [1.0, 2.0], "truth_total": [1.0, np.nan]})) == {"label": "score"}


def test_an_artefact_given_but_missing_is_an_error_that_names_it(tmp_path):
    for required in (True, False):  # a path the user typed is never left out quietly
        with pytest.raises(FileNotFoundError, match="nowhere.pt \\(given for the localiser.pt of 05_joint_localisation\\)"):
            artefacts.find(tmp_path / "08_x", "05_joint_localisation", "localiser.pt", given=tmp_path / "nowhere.pt", required=required)
    with pytest.raises(FileNotFoundError, match="run 05_joint_localisation first"):
        artefacts.find(tmp_path / "08_x", "05_joint_localisation", "localiser.pt")


def test_scheme2_without_a_localiser_says_which_notebook_makes_it():
    with pytest.raises(ValueError, match="05_joint_localisation"):
        Scheme2(None, None, Path("."), films=pd.DataFrame(), weights="random").crops()
