"""The bad inputs a hostile but fair user tried on the loaders and exporters (README: "Bad inputs and
what each gets"). Each test failed before the fix it guards; image files themselves are in test_io.py."""

import json
import shutil

import pandas as pd
import pytest

from ralib.data import load_dataset
from ralib.data.arrays import hand_array
from ralib.data.export import MARKER
from ralib.data.formats import arise, image_table, ra2dream, rsna
from ralib.data.validate import DataValidationError

EXPORTERS = {"ra2dream": ra2dream.export, "arise": arise.export, "image_table": image_table.export}


# --- exporters never write into someone's data --------------------------------------------------


@pytest.mark.parametrize("fmt", EXPORTERS)
def test_exporters_refuse_a_folder_that_is_not_empty(fmt, synthetic, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "training.csv").write_text("a real table\n")
    (real / "scores.csv").write_text("a real table\n")
    with pytest.raises(FileExistsError, match="not empty: ralib exports only into a new or empty folder"):
        EXPORTERS[fmt](synthetic, real)
    with pytest.raises(FileExistsError, match="was not written by a ralib export"):
        EXPORTERS[fmt](synthetic, real, overwrite=True)
    assert sorted(p.name for p in real.iterdir()) == ["scores.csv", "training.csv"]
    assert (real / "scores.csv").read_text() == "a real table\n"


@pytest.mark.parametrize("fmt", EXPORTERS)
def test_an_export_is_replaced_only_when_asked(fmt, synthetic, tmp_path):
    target = EXPORTERS[fmt](synthetic, tmp_path / "out")
    assert json.loads((target / MARKER).read_text())["format"] == fmt
    with pytest.raises(FileExistsError, match="an earlier ralib export: pass overwrite=True"):
        EXPORTERS[fmt](synthetic, target)
    (target / "stray.txt").write_text("left by the first export's user")
    EXPORTERS[fmt](synthetic, target, overwrite=True)
    assert not (target / "stray.txt").exists()  # replaced, not mixed
    assert len(load_dataset(fmt, target).radiographs) == len(synthetic.radiographs) * (2 if fmt == "ra2dream" else 1)


def test_a_failed_export_leaves_nothing(synthetic, tmp_path):
    no_landmarks = type(synthetic)(synthetic.name, synthetic.radiographs, synthetic.scores, None)
    with pytest.raises(ValueError, match="needs hand positions"):
        ra2dream.export(no_landmarks, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_rsna_export_refuses_a_folder_that_is_not_empty(tmp_path):
    from ralib.synth import ChildConfig, make_dataset

    folder = make_dataset(ChildConfig(n_images=3, image_size=96), tmp_path / "c", progress=False, workers=1)
    (tmp_path / "rsna").mkdir()
    (tmp_path / "rsna" / "boneage-training-dataset.csv").write_text("id,boneage,male\n")
    with pytest.raises(FileExistsError):
        rsna.export_children(folder, tmp_path / "rsna")


# --- RA2-DREAM: one image, two files --------------------------------------------------------


def test_ra2dream_two_files_for_one_image(synthetic, tmp_path):
    root = ra2dream.export(synthetic, tmp_path / "ra2")
    (root / "old").mkdir()
    shutil.copy(root / "train" / "UAB001-LH.jpg", root / "old" / "UAB001-LH.jpg")
    with pytest.raises(DataValidationError, match=r"UAB001-LH: 2 files for one image: old/UAB001-LH.jpg, train/UAB001-LH.jpg"):
        load_dataset("ra2dream", root)
    lenient = load_dataset("ra2dream", root, strict=False)
    assert "UAB001-LH" not in set(lenient.radiographs.radiograph_id) and "UAB001-RH" in set(lenient.radiographs.radiograph_id)
    assert "UAB001-LH" not in set(lenient.scores.radiograph_id)
    assert lenient.skipped.reason.str.contains("2 files for one image").sum() == 1


# --- ARISE: the real layout, and the loader checks its ids -------------------------------------


def test_arise_export_is_the_real_layout(synthetic, tmp_path):
    root = arise.export(synthetic, tmp_path / "arise")
    scores, boxes = pd.read_csv(root / "scores.csv"), pd.read_csv(root / "bboxes.csv")
    # as the challenge's own tools do: merge on image and joint id (the boxes' running index modulo 42)
    boxes["joint_id"] = boxes.pop("Unnamed: 0") % 42
    scores = scores.rename(columns={"Unnamed: 0": "joint_id"})
    assert scores.joint_id.between(0, 41).all()
    merged = scores.drop(columns="finger").merge(boxes.drop(columns="finger"), on=["joint_id", "patient_id", "hand", "joint"])
    assert len(merged) == len(scores) == len(synthetic.radiographs) * 42 * 2 * 3
    split = json.loads((root / "train_val_split.json").read_text())
    assert sorted(i for ids in split.values() for i in ids) == sorted(scores.patient_id.unique())  # every id, once


def test_arise_loader_refuses_running_row_numbers_as_joint_ids(synthetic, tmp_path):
    root = arise.export(synthetic, tmp_path / "arise")
    scores = pd.read_csv(root / "scores.csv", index_col=0)
    scores.reset_index(drop=True).to_csv(root / "scores.csv")  # what the exporter used to write
    with pytest.raises(DataValidationError, match="joint ids outside 0-41 .* not a running row number"):
        load_dataset("arise", root)


def test_arise_conflicting_rows_are_never_kept_silently(synthetic, tmp_path):
    root = arise.export(synthetic, tmp_path / "arise")
    scores = pd.read_csv(root / "scores.csv", index_col=0)
    first = scores.iloc[[0]].copy()  # expert 1, erosion, left IP of the first image
    conflicting = first.assign(score=first.score + 1)
    pd.concat([conflicting, scores]).to_csv(root / "scores.csv")
    with pytest.raises(DataValidationError, match=r"2 rows with different grades"):
        load_dataset("arise", root)
    lenient = load_dataset("arise", root, strict=False)
    row = lenient.scores[(lenient.scores.radiograph_id == str(first.patient_id.iloc[0])) & (lenient.scores.hand == "LH")
                         & (lenient.scores.site == "ip") & (lenient.scores.kind == "erosion")]  # fmt: skip
    assert row.reader_1.isna().all() and row.reader_2.notna().all()  # that expert's grade is dropped, listed
    assert lenient.skipped.reason.str.contains("different grades").sum() == 1
    pd.concat([first, scores]).to_csv(root / "scores.csv")  # the same grade twice: kept once, noted
    noted = load_dataset("arise", root)
    assert noted.skipped.reason.str.contains("identical rows: kept once").sum() == 1


def test_arise_split_file_is_checked(synthetic, tmp_path):
    root = arise.export(synthetic, tmp_path / "arise")
    path = root / "train_val_split.json"
    split = json.loads(path.read_text())
    path.write_text(json.dumps({**split, "valid": [1000], "val": split["val"] + [split["train"][0], 99999]}))
    with pytest.raises(DataValidationError) as err:
        load_dataset("arise", root)
    text = str(err.value)
    assert "unknown split 'valid'" in text and "listed in both 'train' and 'val'" in text
    assert "99999: names an image that neither scores.csv nor bboxes.csv holds" in text
    path.write_text('{"train": [1000, 1007,]}')
    with pytest.raises(DataValidationError, match=r"train_val_split.json: 1 problem\n  - not valid JSON: .* line 1"):
        load_dataset("arise", root)


# --- lenient mode drops what it lists as skipped ------------------------------------------------


def test_rsna_out_of_range_bone_ages(tmp_path):
    from ralib.synth import ChildConfig, make_dataset

    folder = make_dataset(ChildConfig(n_images=4, image_size=96), tmp_path / "c", progress=False, workers=1)
    root = rsna.export_children(folder, tmp_path / "rsna")
    table = pd.read_csv(root / rsna.TRAIN_CSV)
    table.loc[0, "boneage"], table.loc[1, "boneage"] = 239, 0
    table.to_csv(root / rsna.TRAIN_CSV, index=False)
    with pytest.raises(DataValidationError, match=r"bone age 239(\.0)? is not 1-228 months"):
        load_dataset("rsna", root)
    lenient = load_dataset("rsna", root, strict=False)
    assert lenient.radiographs.bone_age.between(1, 228).all() and len(lenient.radiographs) == 2
    assert len(lenient.skipped) == 2


def test_image_table_one_film_in_two_rows(synthetic, tmp_path):
    root = image_table.export(synthetic, tmp_path / "t")
    table = pd.read_csv(root / "scores.csv")
    twin = table.iloc[[0]].assign(exam_number=999999, score_avg=table.score_avg[0] + 10)
    pd.concat([table, twin]).to_csv(root / "scores.csv", index=False)
    with pytest.raises(DataValidationError, match=r"DX100000.jpg: 2 rows name this film with different labels"):
        load_dataset("image_table", root)
    lenient = load_dataset("image_table", root, strict=False)
    assert "DX100000.jpg" not in {p.split("/")[-1] for p in lenient.radiographs.image_path}  # neither row: no leak
    assert len(lenient.radiographs) == len(table) - 1
    same = table.iloc[[0]].assign(exam_number=999999)
    pd.concat([table, same]).to_csv(root / "scores.csv", index=False)
    kept = load_dataset("image_table", root)
    assert len(kept.radiographs) == len(table) and kept.skipped.reason.str.contains("kept once").any()


def test_lenient_load_that_keeps_nothing_fails_with_the_reasons(synthetic, tmp_path):
    root = ra2dream.export(synthetic, tmp_path / "ra2")
    shutil.rmtree(root / "train")
    with pytest.raises(DataValidationError, match=r"no radiograph is left after skipping: 1 problem\n  - 12 x .*label without image"):
        load_dataset("ra2dream", root, strict=False)
    table = pd.read_csv(root / "training.csv")
    table["LH_mcp_E__2"] = 9  # every patient's row is wrong: the loader drops them all before validation
    table.to_csv(root / "training.csv", index=False)
    with pytest.raises(DataValidationError, match="no radiograph is left after skipping") as err:
        load_dataset("ra2dream", root, strict=False)
    assert any(line.startswith("  - 6 x ") and "LH_mcp_E__2 = 9" in line for line in str(err.value).splitlines())


# --- unreadable images fail at loading, not inside training -------------------------------------


def test_unreadable_images_are_found_at_loading(synthetic, tmp_path):
    root = ra2dream.export(synthetic, tmp_path / "ra2")
    (root / "train" / "UAB002-RH.jpg").write_bytes(b"not a jpeg")
    data = (root / "train" / "UAB003-LH.jpg").read_bytes()
    (root / "train" / "UAB003-LH.jpg").write_bytes(data[: len(data) // 3])  # header intact, pixels cut
    with pytest.raises(DataValidationError, match="UAB002-RH: unreadable image: .*not a readable image"):
        load_dataset("ra2dream", root)
    lenient = load_dataset("ra2dream", root, strict=False)
    assert len(lenient.radiographs) == 11  # the truncated file passes the header check...
    decoded = load_dataset("ra2dream", root, strict=False, check_images="decode")
    assert len(decoded.radiographs) == 10  # ...and is found when every film is decoded
    assert set(decoded.skipped.row) >= {"UAB002-RH", "UAB003-LH"}


# --- ids stay text; seeds and image folders reach the loaders ---------------------------------


def test_zero_padded_ids_stay_text(synthetic, tmp_path):
    root = ra2dream.export(synthetic, tmp_path / "ra2")
    table = pd.read_csv(root / "training.csv", dtype={"Patient_ID": str})
    for n, old in enumerate(table.Patient_ID):
        new = f"{n + 1:05d}"
        for hand in ("LH", "RH"):
            (root / "train" / f"{old}-{hand}.jpg").rename(root / "train" / f"{new}-{hand}.jpg")
        table.loc[n, "Patient_ID"] = new
    table.to_csv(root / "training.csv", index=False)
    ds = load_dataset("ra2dream", root)
    assert sorted(ds.radiographs.patient_id.unique())[:2] == ["00001", "00002"]
    t = image_table.export(synthetic, tmp_path / "t")
    scores = pd.read_csv(t / "scores.csv")
    scores["exam_number"] = [f"{i:06d}" for i in range(len(scores))]
    scores.to_csv(t / "scores.csv", index=False)
    assert load_dataset("image_table", t).radiographs.radiograph_id.iloc[0] == "000000"


def test_the_seed_reaches_the_ra2dream_split(tmp_path):
    from ralib.synth import SynthConfig, make_dataset

    many = load_dataset("synthra", make_dataset(SynthConfig(n_images=30, image_size=128), tmp_path / "s", progress=False))
    root = ra2dream.export(many, tmp_path / "ra2")
    splits = {seed: load_dataset("ra2dream", root, seed=seed).radiographs.split.tolist() for seed in (0, 1)}
    assert splits[0] != splits[1]
    assert splits[1] == ra2dream.load(root, seed=1).radiographs.split.tolist()


def test_a_table_beside_its_image_folder_just_works(synthetic, tmp_path):
    root = image_table.export(synthetic, tmp_path / "t")
    (root / "images").mkdir()
    for path in root.glob("*.jpg"):
        path.rename(root / "images" / path.name)
    (root / "scores.csv").rename(root / "labels.csv")
    for data_dir in (root / "labels.csv", root):  # the CSV, or the folder holding one CSV
        ds = load_dataset("image_table", data_dir, strict=False)
        assert len(ds.radiographs) == len(synthetic.radiographs) and not len(ds.skipped)
    elsewhere = tmp_path / "films"
    (root / "images").rename(elsewhere)
    ds = load_dataset("image_table", root / "labels.csv", image_dir=elsewhere)  # IMAGE_DIR in the notebooks
    assert len(ds.radiographs) == len(synthetic.radiographs)
    for folder in ("a", "b"):  # one name in two sub-folders, none where the table points
        (elsewhere / folder).mkdir()
        shutil.copy(elsewhere / "DX100001.jpg", elsewhere / folder / "DX100001.jpg")
    (elsewhere / "DX100001.jpg").unlink()
    with pytest.raises(DataValidationError, match="DX100001.jpg: 2 files of this name"):
        load_dataset("image_table", root / "labels.csv", image_dir=elsewhere)
    with pytest.raises(ValueError, match="image_dir .* applies to ra2dream and image_table"):
        load_dataset("arise", root, image_dir=elsewhere)


# --- tables that are not what they seem -------------------------------------------------------


def test_semicolon_separated_table_names_its_delimiter(synthetic, tmp_path):
    root = ra2dream.export(synthetic, tmp_path / "ra2")
    table = pd.read_csv(root / "training.csv")
    table.to_csv(root / "training.csv", index=False, sep=";")
    with pytest.raises(DataValidationError) as err:
        load_dataset("ra2dream", root)
    assert "separated by ';', not by commas" in str(err.value) and "1 problem" in str(err.value)


def test_malformed_csv_names_the_file(synthetic, tmp_path):
    root = image_table.export(synthetic, tmp_path / "t")
    (root / "scores.csv").write_text('exam_number,filename,gender,age,score_avg\n1,"DX100000.jpg,F,50,3\n')
    with pytest.raises(DataValidationError, match=r"scores.csv: 1 problem\n  - not a readable CSV file"):
        load_dataset("image_table", root)


# --- caches never serve what the data no longer say -------------------------------------------


def test_hand_arrays_follow_a_changed_split_file(synthetic, tmp_path):
    root = arise.export(synthetic, tmp_path / "arise")
    before = hand_array(load_dataset("arise", root), 32, progress=False)[1]
    path = root / "train_val_split.json"
    split = json.loads(path.read_text())
    moved = split["train"][0]
    path.write_text(json.dumps({**split, "train": split["train"][1:], "val": split["val"] + [moved]}))
    after = hand_array(load_dataset("arise", root), 32, progress=False)[1]
    assert set(before.split[before.radiograph_id == str(moved)]) == {"train"}
    assert set(after.split[after.radiograph_id == str(moved)]) == {"val"}
