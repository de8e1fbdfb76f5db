"""Every notebook of notebooks/: clean when committed, and runs end to end with the smoke profile."""

import json

import nbformat
import pytest

from ralib.config import get_profile, notebooks_dir, project_root
from ralib.notebook_checks import notebook_problems
from ralib.run import discover, run_notebook

NOTEBOOKS = discover()
README = (project_root() / "README.md").read_text()

#: Metrics each notebook must report, with the value where the catalogue fixes it.
EXPECTED = {
    "00_svdh_primer": {
        "n_erosion_sites": 32,
        "n_jsn_sites": 30,
        "max_total_score": 280,
        "n_severity_classes": 10,
        "n_joint_boxes_per_hand": 21,
        "n_erosion_boxes_per_hand": 17,
        "n_jsn_boxes_per_hand": 19,
        "n_landmarks_per_hand": 37,
        "n_patches_per_hand": 25,
        "example_hand_stage": 2,
    },
    "01_synthetic_radiographs": {"n_images": get_profile("smoke").data.n_images},
    "02_data_analysis": {"dataset": "synthra", "radiographs": get_profile("smoke").data.n_images},
    "03_whole_image_cnn": {"dataset": "synthra", "image_size": get_profile("smoke").train.image_size},
    "04_transfer_learning_ensembles": {"dataset": "synthra"},
    "05_joint_localisation": {"dataset": "synthra", "coarse_size": get_profile("smoke").landmarks.coarse_size,
                              "ramh1200_round_trip": True},
    "07_mil_scheme2_joints": {"dataset": "synthra", "crop_size": get_profile("smoke").landmarks.crop_size},
    "08_joint_scorer_tinyvit": {"dataset": "synthra", "label": "dawid_skene", "rollout": True},
    "09_joint_scorer_deepra": {"dataset": "synthra", "label": "grade"},
    "10_explainability": {"dataset": "synthra", "films": get_profile("smoke").explain.films},
}

SMOKE = get_profile("smoke").train
SMOKE_SCORER = get_profile("smoke").scorer

#: Relations between a notebook's metrics that must hold whatever the numbers.
CHECKS = {
    "01_synthetic_radiographs": [
        lambda m: sum(m["split"].values()) == m["n_images"],
        lambda m: 0 < m["readers_on_dataset"]["pcc"] <= 1,
        lambda m: 0.9 < m["calibration"]["readers"]["pcc"] <= 1,
    ],
    "03_whole_image_cnn": [
        lambda m: sum(m["split"].values()) == get_profile("smoke").data.n_images,
        lambda m: len(m["regression"]) == len(SMOKE.regression) and len(m["classification"]) == len(SMOKE.classification),
        lambda m: all(r["rmse"] > 0 and r["mae"] <= r["rmse"] for r in m["regression"].values()),
        lambda m: m["best_regressor"] in m["regression"] and m["best_classifier"] in m["classification"],
        lambda m: set(m["staging"]) == {*SMOKE.hand_models, "predict the most frequent class"},
        lambda m: m["seam_correct"] > 0.9,
        lambda m: 0 <= m["regressor_as_classifier"]["accuracy"] <= 1,
    ],
    "04_transfer_learning_ensembles": [
        lambda m: set(m["pretraining"]) == {model for model, _ in SMOKE.transfer},
        # one scratch run per architecture plus one run per (architecture, freezing) pair
        lambda m: len(m["regression"]) == len({mo for mo, _ in SMOKE.transfer}) + len(SMOKE.transfer),
        lambda m: 1 <= len(m["stacking_members"]["regression"]) <= 3,
        lambda m: len(m["ensembles"]) == 3,
        lambda m: m["gradcam"]["regressor"] in m["regression"] and set(m["gradcam"]["regression_cases"]) <= {"TN", "TP", "FP", "FN"},
    ],
    "05_joint_localisation": [
        # both selections x both passes x both spacings x the five landmark groups
        lambda m: len(m["table1"]) == 2 * 2 * 2 * 5 and all(0 <= v["sdr_4"] <= v["sdr_10"] <= 100 for v in m["table1"].values()),
        lambda m: len(m["robustness"]) == 7,
        # the crop caches later notebooks read (07: patches; the RAM-H1200 layout); 08 and 09 cut their own boxes
        lambda m: set(m["caches"]) == {"patches true", "patches predicted", "ramh1200 true"},
        # every hand of every film is cut at its true landmarks
        lambda m: m["caches"]["patches true"]["crops"] == 2 * 25 * get_profile("smoke").data.n_images,
    ],
    "06_mil_scheme1_tiles": [
        lambda m: set(m["dice"]) == {"U-Net vs morphology masks", "U-Net vs true masks", "morphology vs true masks"},
        lambda m: all(0 <= v <= 1 for v in m["dice"].values()),
        # per tile model each K frozen, and the best K tuned
        lambda m: len(m["mil"]) == len(get_profile("smoke").mil.tile_k) * len(get_profile("smoke").mil.patch_models) + 1,
        lambda m: len(m["table2"]) == 2 * (len(m["mil"]) + 1) and m["best_scheme1"] in m["mil"],
        lambda m: all(0 <= v["mae"] <= v["rmse"] for v in m["table2"].values()),
        lambda m: set(m["cases"]) <= {"TN", "TP", "FP", "FN"} and m["tiles"]["per_film"] <= 100,
    ],
    "07_mil_scheme2_joints": [
        # per patch model: predicted landmarks with and without jitter, true landmarks
        lambda m: len(m["mil"]) == 3 * len(get_profile("smoke").mil.patch_models),
        # every MIL run, the ensemble and the whole-image model, against the label and the truth
        lambda m: len(m["table2"]) == 2 * (len(m["mil"]) + 2 + (m["scheme1"] is not None)) and m["best_scheme2"] in m["mil"],
        # notebook 06 ran before in the same run folder: Scheme 1 is in the table
        lambda m: m["scheme1"] is not None and f"label | {m['scheme1']}" in m["table2"],
        lambda m: all(0 <= v["mae"] <= v["rmse"] for v in m["table2"].values()),
        lambda m: all(v["low"] is None or v["low"] <= v["high"] for v in m["comparisons"].values()),
        lambda m: all(0 <= v["damaged_share"] <= 1 for v in m["attention"].values() if v["damaged_share"] is not None),
        lambda m: set(m["cases"]) <= {"TN", "TP", "FP", "FN"} and m["patch_size"] == get_profile("smoke").mil.patch_size,
        # the per-hand stage: five ordered thresholds; the MIL's stages, their ceiling and 03's CNNs on the same films
        lambda m: len(m["per_hand"]["stage_thresholds"]) == 5 and sorted(m["per_hand"]["stage_thresholds"]) == m["per_hand"]["stage_thresholds"],
        lambda m: {"label | per-hand MIL score", "label | the hand's label total (ceiling)",
                   *(f"label | 03 CNN: {model}" for model in SMOKE.hand_models)} <= set(m["per_hand"]["staging"]),
        lambda m: all(0 <= v["accuracy"] <= 1 for v in m["per_hand"]["staging"].values()),
    ],
    "08_joint_scorer_tinyvit": [
        # the regressor and the boxes of 05's localiser (and of the true landmarks) on the same test hands
        lambda m: len(m["boxes"]) == 3 and all(0 <= v["iou"] <= 1 and 0 <= v["localisation_accuracy"] <= 1 for v in m["boxes"].values()),
        # a shared model per backbone, erosion and JSN models per separate backbone, one per pretrained backbone
        lambda m: len(m["scorers"]) == len(SMOKE_SCORER.backbones) + 2 * len(SMOKE_SCORER.separate) + len(SMOKE_SCORER.pretrained),
        # the pretraining is measured beside doing nothing (whether it restores better: the unit test), its scorer has a row
        lambda m: all(v["l1_restored"] > 0 and v["l1_corrupted"] > 0 for v in m["pretraining"].values())
        and all(any(k.endswith(f"{b}, shared, pretrained") for k in m["table1"]) for b in SMOKE_SCORER.pretrained),
        # Table 1: every model against the label and the truth, and the average expert
        lambda m: any(k.startswith("average expert") for k in m["table1"]) and any(k.startswith("against the truth") for k in m["table1"]),
        lambda m: all(v["erosion accuracy_low"] <= v["erosion accuracy"] <= v["erosion accuracy_high"]
                      for k, v in m["table1"].items() if not k.startswith("average")),
        lambda m: set(m["regressed_boxes"]) == {"annotated boxes", "regressed boxes"},
        # the film total three ways (prior-corrected raw sum, raw as drawn, fitted line) against the label and the truth
        lambda m: {f"{t} | {w}" for t in ("label", "truth") for w in ("raw sum, prior-corrected", "raw sum, as drawn",
                                                                         "line fitted on validation")} == set(m["total"]),
        # every scorer was chosen on its validation accuracy and says how fast it trained
        lambda m: all(1 <= v["best_epoch"] <= v["epochs"] and v["samples_per_second"] > 0 for v in m["scorers"].values()),
    ],
    "09_joint_scorer_deepra": [
        # Table 1: AP of the six regions and their mean
        lambda m: len(m["table1"]) == 7 and all(0 <= v <= 1 for v in m["table1"].values()),
        # the detector, 05's localiser and the true landmarks against the annotated regions
        lambda m: len(m["regions"]) == 3 and all(0 <= v["iou"] <= 1 and 0 <= v["found"] <= 1 for v in m["regions"].values()),
        # the whole-hand model, then fingers and wrist without and with the gate
        lambda m: len(m["joint_models"]) == 5,
        # Table 3: baseline, three trained rows, the main model on annotated and on 05's landmark regions; label and truth
        lambda m: len(m["table3"]) == 12 and all(v["weighted rmse erosion"] > 0 and v["sites"] > 0 for v in m["table3"].values()),
        # RA2-DREAM: written in training.csv's order and read back to the written decimals
        lambda m: m["ra2dream"]["columns_in_order"] and m["ra2dream"]["largest_change"] < 1e-9 and m["ra2dream"]["sites_read_back"] > 0,
    ],
    "10_explainability": [
        # one row per model and method it has: the whole-film CNN, Scheme 2, RheumaVIT and DeepRA (its fingers and wrist models)
        lambda m: {key.split(" | ")[0] for key in m["table"]} == set(m["models"])
        and len(m["table"]) == sum(len(v["methods"]) for v in m["models"].values()),
        # where a row has heat, its shares over the six regions add up to one
        lambda m: all(abs(sum(v[k] for k in v if k.startswith("heat:") and not k.endswith((" low", " high"))) - 1) < 0.01
                      for v in m["table"].values() if v["heat: background"] is not None),
        lambda m: all(r["spearman"] is None or r["spearman"] != r["spearman"] or -1 <= r["spearman"] <= 1 for r in m["randomisation"]),
        # every method of the whole-film CNN compared with its shuffled-label copy; every randomised one has a verdict row
        lambda m: {k.split(" | ")[1] for k in m["sanity"] if k.startswith("whole-film ResNet-34 (03) | ")}
        == set(m["models"]["whole-film ResNet-34 (03)"]["methods"])
        and {(r["model"], r["method"]) for r in m["randomisation"]} <= {tuple(k.split(" | ")) for k in m["sanity"]},
        # the new films of REAL_FILMS_DIR (NEW_FILMS below): each scored by the whole-film CNN and both MILs, beside its label
        lambda m: len(m["real_films"]) == 2 and all(len(v) == 4 and v["label"] is not None for v in m["real_films"].values()),
    ],
}


def new_films(root):
    """Two synthetic films exported as a real score table (JPEGs and a CSV, no annotations): what a user's
    own films look like to notebook 10's ``REAL_FILMS_DIR``."""
    from ralib.data import load_dataset
    from ralib.data.formats import image_table
    from ralib.synth import SynthConfig, make_dataset

    folder = root / "new_films"
    if not folder.exists():
        ds = load_dataset("synthra", make_dataset(SynthConfig(n_images=2, image_size=512, seed=7), root / "new_films_synthra", progress=False))
        image_table.export(ds, folder)
    return {"REAL_FILMS_DIR": str(folder)}


#: parameters a notebook's smoke run is given, made in the run folder's root
PARAMETERS = {"10_explainability": new_films}


def test_notebooks_exist():
    assert NOTEBOOKS, "no numbered notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean(path):
    assert notebook_problems(path, README) == []


#: notebooks that read another's outputs (its localiser, its checkpoints) from the same run folder
NEEDS = {"07_mil_scheme2_joints": ["03_whole_image_cnn", "05_joint_localisation", "06_mil_scheme1_tiles"],
         "08_joint_scorer_tinyvit": ["05_joint_localisation"], "09_joint_scorer_deepra": ["05_joint_localisation"],
         "10_explainability": ["03_whole_image_cnn", "05_joint_localisation", "06_mil_scheme1_tiles", "07_mil_scheme2_joints",
                               "08_joint_scorer_tinyvit",
                               "09_joint_scorer_deepra"]}


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """One run folder for the session's notebooks, as `make run` has one; ``done`` names those run there."""
    return {"root": tmp_path_factory.mktemp("runs"), "done": set()}


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_smoke_profile(path, smoke_runs):
    for needed in NEEDS.get(path.stem, []):
        if needed not in smoke_runs["done"]:  # e.g. this notebook selected alone with -k
            assert run_notebook(notebooks_dir() / f"{needed}.ipynb", "smoke", out_root=smoke_runs["root"], cell_timeout=600).ok
            smoke_runs["done"].add(needed)
    params = PARAMETERS[path.stem](smoke_runs["root"]) if path.stem in PARAMETERS else {}
    result = run_notebook(path, "smoke", params, out_root=smoke_runs["root"], cell_timeout=600)
    smoke_runs["done"].add(path.stem)
    assert result.ok, result.error
    record = json.loads(result.metrics_path.read_text())
    assert record["profile"] == "smoke" and record["notebook"] == path.stem
    assert record["metrics"], "the notebook logged no metrics"
    for key, value in EXPECTED.get(path.stem, {}).items():
        assert record["metrics"][key] == value, key
    for i, check in enumerate(CHECKS.get(path.stem, [])):
        assert check(record["metrics"]), f"check {i} of {path.stem} failed"
    for figure in record["figures"]:
        assert (result.metrics_path.parent / "figures" / figure).stat().st_size > 1000


# --- the hygiene check itself must catch what it promises to catch ---------------------------


@pytest.fixture
def clean_copy(tmp_path):
    src = notebooks_dir() / "00_svdh_primer.ipynb"
    dst = tmp_path / src.name
    dst.write_text(src.read_text())
    return dst


def _edit(path, change):
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def test_hygiene_passes_a_clean_copy(clean_copy):
    assert notebook_problems(clean_copy, README) == []


def test_hygiene_catches_outputs(clean_copy):
    def add_output(nb):
        code = next(c for c in nb.cells if c.cell_type == "code")
        code.outputs = [nbformat.v4.new_output("stream", text="hi")]
        code.execution_count = 1

    _edit(clean_copy, add_output)
    assert any("outputs" in p for p in notebook_problems(clean_copy, README))


def test_hygiene_catches_missing_parameters_tag(clean_copy):
    def untag(nb):
        for c in nb.cells:
            c.metadata.pop("tags", None)

    _edit(clean_copy, untag)
    assert any("parameters" in p for p in notebook_problems(clean_copy, README))


def test_hygiene_catches_wrong_kernel_and_unlisted_name(clean_copy, tmp_path):
    _edit(clean_copy, lambda nb: nb.metadata.kernelspec.update(name="conda-env-ra"))
    renamed = clean_copy.rename(tmp_path / "42_unlisted.ipynb")
    problems = notebook_problems(renamed, README)
    assert any("kernelspec" in p for p in problems)
    assert any("README" in p for p in problems)


def test_hygiene_catches_a_definition_and_a_long_cell(clean_copy):
    def plant(nb):
        nb.cells.append(nbformat.v4.new_code_cell("def helper(x):\n    return x\n\nhelper(1)"))
        nb.cells.append(nbformat.v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(30))))

    _edit(clean_copy, plant)
    problems = notebook_problems(clean_copy, README)
    assert any("defines helper" in p for p in problems)
    assert any("has 30 lines" in p for p in problems)


def test_hygiene_catches_long_cells_on_average(clean_copy):
    def lengthen(nb):
        for cell in nb.cells:
            if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
                cell.source = "\n".join(f"y{i} = {i}" for i in range(11))

    _edit(clean_copy, lengthen)
    assert any("on average" in p for p in notebook_problems(clean_copy, README))


#: every notebook that takes ``DATASET`` on every public layout it claims, at the smoke profile: "runs", or the words
#: of its refusal at its first cell (the table in the README; 10 reads SynthRA's truth and takes no real layout)
ON_LAYOUTS = {
    "02_data_analysis": {"ra2dream": "runs", "arise": "runs", "image_table": "runs"},
    "03_whole_image_cnn": {"ra2dream": "runs", "arise": "runs", "image_table": "runs"},
    "04_transfer_learning_ensembles": {"ra2dream": "runs", "arise": "runs", "image_table": "runs"},
    "05_joint_localisation": {layout: "has no landmarks, which notebook 05" for layout in ("ra2dream", "arise", "image_table")},
    "06_mil_scheme1_tiles": {"ra2dream": "runs", "arise": "runs", "image_table": "runs"},
    "07_mil_scheme2_joints": {"ra2dream": "runs", "arise": "has no SvdH site grades", "image_table": "has no SvdH site grades"},
    "08_joint_scorer_tinyvit": {"ra2dream": "runs", "arise": "runs", "image_table": "has no joint grades"},
    "09_joint_scorer_deepra": {"ra2dream": "runs", "arise": "has no SvdH site grades", "image_table": "has no SvdH site grades"},
}
#: what a user gives a notebook on a layout besides DATASET and DATA_DIR (``{localiser}``: 05's, trained on SynthRA)
LAYOUT_PARAMETERS = {("07_mil_scheme2_joints", "ra2dream"): {"LOCALISER": "{localiser}"},
                     ("08_joint_scorer_tinyvit", "ra2dream"): {"LOCALISER": "{localiser}", "LABEL": "grade"},
                     ("09_joint_scorer_deepra", "ra2dream"): {"LOCALISER": "{localiser}"}}


@pytest.fixture(scope="session")
def exported_layouts(tmp_path_factory, smoke_runs):
    """The smoke SynthRA set exported with ralib's exporters into each public layout, once for all the runs on it,
    and 05's localiser trained on SynthRA (from the session's smoke run folder)."""
    from ralib.data import load_dataset
    from ralib.data.formats import arise, image_table, ra2dream

    root = tmp_path_factory.mktemp("layouts")
    ds = load_dataset("synthra", None, profile="smoke")
    folders = {"ra2dream": ra2dream.export(ds, root / "ra2dream"), "arise": arise.export(ds, root / "arise"),
               "image_table": image_table.export(ds, root / "image_table") / "scores.csv"}
    if "05_joint_localisation" not in smoke_runs["done"]:
        assert run_notebook(notebooks_dir() / "05_joint_localisation.ipynb", "smoke", out_root=smoke_runs["root"], cell_timeout=600).ok
        smoke_runs["done"].add("05_joint_localisation")
    return {"folders": folders, "runs": root / "runs", "localiser": smoke_runs["root"] / "05_joint_localisation" / "localiser.pt"}


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook, layout", [(n, layout) for n, layouts in ON_LAYOUTS.items() for layout in layouts])
def test_every_notebook_runs_or_refuses_at_its_first_cell_on_every_layout(notebook, layout, exported_layouts):
    extra = {k: v.format(localiser=exported_layouts["localiser"]) for k, v in LAYOUT_PARAMETERS.get((notebook, layout), {}).items()}
    params = {"DATASET": layout, "DATA_DIR": str(exported_layouts["folders"][layout]), **extra}
    result = run_notebook(notebooks_dir() / f"{notebook}.ipynb", "smoke", params, out_root=exported_layouts["runs"] / layout,
                          cell_timeout=600)  # fmt: skip
    expected = ON_LAYOUTS[notebook][layout]
    if expected == "runs":
        assert result.ok, result.error
        metrics = json.loads(result.metrics_path.read_text())["metrics"]
        assert metrics["dataset"] == layout
        if notebook == "02_data_analysis":
            assert metrics["radiographs"] == (80 if layout == "ra2dream" else 40)  # RA2-DREAM: one image per hand
        if notebook == "02_data_analysis" and layout == "arise":  # three experts: their agreement is measured
            assert 0 < metrics["agreement"]["erosion_experts"]["accuracy"] <= 1
    else:  # refused by the notebook's setting, made in its first cells, before anything trains
        assert not result.ok and "raised MissingAnnotations" in result.error and expected in result.error, result.error
