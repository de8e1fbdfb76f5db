"""SynthRA: determinism, label arithmetic, geometry under pose and flips, visible damage,
reader calibration and a cache that never trusts an interrupted write."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ralib import anatomy
from ralib.config import split_sizes
from ralib.synth import ChildConfig, SynthConfig, child_radiograph, load_tables, make_dataset, radiograph, read_image
from ralib.synth import dataset as ds
from ralib.synth import disease, readers
from ralib.synth.world import joint_closeup
from ralib.synth.skeleton import Damage, Pose

# ---------------------------------------------------------------------------------------------
# determinism


def test_same_seed_same_image_and_labels_different_seed_different_image():
    a, b, c = radiograph(3, 256), radiograph(3, 256), radiograph(4, 256)
    assert np.array_equal(a.image, b.image) and a.truth == b.truth
    assert all(np.array_equal(a.landmarks[h], b.landmarks[h]) for h in anatomy.HANDS)
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_make_dataset_same_bytes_in_parallel_and_serially(tmp_path):
    config = SynthConfig(n_images=6, image_size=128)
    one = make_dataset(config, tmp_path / "a", progress=False, workers=1)
    two = make_dataset(config, tmp_path / "b", progress=False, workers=2)
    assert _digest(one) == _digest(two)
    assert make_dataset(config, tmp_path / "a", progress=False) == one  # cached


# ---------------------------------------------------------------------------------------------
# labels


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    return make_dataset(SynthConfig(n_images=12, image_size=192), tmp_path_factory.mktemp("d"), progress=False)


def test_tables_have_the_catalogue_shape(small_set):
    t = load_tables(small_set)
    n = len(t["radiographs"])
    assert len(t["sites"]) == n * 62 and len(t["joints"]) == n * 42 and len(t["landmarks"]) == n * 74
    per_hand = t["sites"].groupby(["image_id", "hand", "kind"]).size()
    assert set(per_hand.xs("E", level="kind")) == {16} and set(per_hand.xs("J", level="kind")) == {15}


def test_totals_are_sums_and_grades_in_range(small_set):
    t = load_tables(small_set)
    r, s = t["radiographs"].set_index("image_id"), t["sites"]
    assert (s.groupby("image_id").truth.sum() == r.truth_total).all()
    assert (s[s.kind == "E"].groupby("image_id").truth.sum() == r.truth_erosion).all()
    assert (s.groupby("image_id").reader_1.sum() == r.reader_1_total).all()
    assert np.allclose((r.reader_1_total + r.reader_2_total) / 2, r.score_avg)
    assert (r[anatomy.svdh_site_ids()].sum(axis=1) == r.truth_total).all()
    top = np.where(s.kind == "E", 5, 4)
    for col in ("truth", "reader_1", "reader_2"):
        assert ((s[col] >= 0) & (s[col] <= top)).all()
    assert (r.severity_class == anatomy.severity_class(r.score_avg.to_numpy())).all()


def test_boxes_scored_where_the_catalogue_says(small_set):
    j = load_tables(small_set)["joints"]
    for joint in anatomy.JOINTS:
        rows = j[j.joint == joint.name]
        assert rows.erosion_truth.notna().all() == joint.erosion
        assert rows.jsn_truth.notna().all() == joint.jsn
        assert rows.erosion_expert_1.notna().all() == joint.erosion


def test_split_is_patient_level_in_real_proportions(small_set):
    r = load_tables(small_set)["radiographs"]
    expected = dict(zip(("train", "val", "test"), split_sizes(len(r))))
    counts = r.split.value_counts()
    assert all(abs(counts.get(name, 0) - n) <= 1 for name, n in expected.items()), counts.to_dict()
    assert r.groupby("patient_id").split.nunique().max() == 1


def test_stored_film_reads_back_bone_bright(small_set):
    r = load_tables(small_set)["radiographs"]
    for _, row in r.iterrows():
        film = read_image(small_set, row)
        assert film.shape == (row.height, row.width) and 0 <= film.min() and film.max() <= 1


# ---------------------------------------------------------------------------------------------
# geometry: landmarks sit on the rendered joints, under pose changes and flips


def _profile(film, centre, axis, half_len, step=0.5):
    ts = np.arange(-half_len, half_len + step, step)
    normal = np.array([-axis[1], axis[0]])
    values = []
    for t in ts:
        p = centre + t * axis
        samples = [film[int(round(q[1])), int(round(q[0]))] for q in (p + s * normal for s in (-1.5, 0, 1.5))]
        values.append(np.mean(samples))
    return ts, np.array(values)


@pytest.mark.parametrize("seed", range(6))
def test_landmarks_mark_joint_gaps_even_when_flipped(seed):
    sample = radiograph(seed, 1024, healthy_fraction=1.0, p_flip=0.5)
    film = sample.image.astype(float) / (2**sample.bits - 1)
    film = 1 - film if sample.inverted else film
    idx = {n: i for i, n in enumerate(anatomy.LANDMARKS)}
    k = 1 / sample.spacing_mm
    for hand in anatomy.HANDS:
        lm = sample.landmarks[hand]
        for joint, prox in (("mcp3", "mcb3"), ("pip3", "mcp3")):
            axis = lm[idx[joint]] - lm[idx[prox]]
            axis /= np.linalg.norm(axis)
            ts, v = _profile(film, lm[idx[joint]], axis, 6 * k)
            near = np.abs(ts) < 1.5 * k
            gap = v[near].min()
            bone_before = np.median(v[(ts > -5 * k) & (ts < -2.5 * k)])
            bone_after = np.median(v[(ts > 2.5 * k) & (ts < 5 * k)])
            assert gap < min(bone_before, bone_after) - 0.04, (hand, joint, sample.flipped)
    # the left hand is where the labels say
    left_x = sample.landmarks["LH"][:, 0].mean() < sample.landmarks["RH"][:, 0].mean()
    assert left_x == sample.left_hand_on_image_left == (not sample.flipped)


def test_boxes_contain_their_joint_landmarks():
    sample = radiograph(11, 512)
    for hand in anatomy.HANDS:
        centres = anatomy.centres_from_landmarks(sample.landmarks[hand], anatomy.JOINT_CENTRES)
        for (x0, y0, x1, y1), name in zip(sample.joint_boxes[hand], anatomy.JOINT_NAMES):
            cx, cy = centres[name]
            assert x0 < cx < x1 and y0 < cy < y1
        hx0, hy0, hx1, hy1 = sample.hand_boxes[hand]
        inside = sample.landmarks[hand][:-1]  # every landmark but the mid-forearm point
        xs, ys = inside[:, 0].clip(0, sample.image.shape[1] - 1), inside[:, 1].clip(0, sample.image.shape[0] - 1)
        assert (xs >= hx0).all() and (xs <= hx1).all() and (ys >= hy0).all()


# ---------------------------------------------------------------------------------------------
# damage is visible where a radiologist looks


def _gap_width_mm(joint, grade, spacing=0.05):
    film, axis = joint_closeup(joint, jsn=grade, spacing_mm=spacing, noise=False)
    centre = np.array(film.shape[::-1], float) / 2 - 0.5
    ts, v = _profile(film, centre, axis, 3 / spacing, step=1)
    bone = np.median(v)
    dark = v < bone - 0.5 * max(bone - v.min(), 0.1)  # the dip's full width at half its depth; none under 0.05
    return dark.sum() * spacing


@pytest.mark.parametrize("joint", ["mcp2", "pip3"])
def test_joint_space_narrows_with_jsn_grade(joint):
    widths = [_gap_width_mm(joint, g) for g in range(5)]
    assert all(a > b for a, b in zip(widths[:4], widths[1:4])), widths
    assert widths[4] < 0.1, widths  # ankylosis: no space left


@pytest.mark.parametrize("joint", ["mcp2", "pip3"])
def test_bone_lost_at_the_joint_margin_grows_with_erosion_grade(joint):
    """Erosions are ill-defined, so measure what they take: the film's loss of density against the same
    joint without erosion, summed over the close-up."""
    lost = []
    for g in range(6):
        per_seed = []
        for seed in range(3):
            healthy, _ = joint_closeup(joint, erosion=0, spacing_mm=0.1, seed=seed, noise=False)
            film, _ = joint_closeup(joint, erosion=g, spacing_mm=0.1, seed=seed, noise=False)
            per_seed.append(np.clip(healthy - film, 0, None).sum())
        lost.append(np.mean(per_seed))
    assert lost[0] == 0 and all(a < b for a, b in zip(lost, lost[1:])), lost


# ---------------------------------------------------------------------------------------------
# disease and readers


def test_cohort_severity_looks_like_the_image_level_data():
    rng = np.random.default_rng(0)
    totals = []
    for _ in range(1500):
        p = disease.sample_patient(rng)
        g = disease.sample_grades(p, rng)
        totals.append(sum(g[s] for s in disease.SVDH_IDS))
    summary = disease.severity_summary(np.array(totals))
    assert 8 <= summary["median"] <= 20
    assert 0.06 <= summary["share_above_70"] <= 0.15
    assert summary["max"] > 150


def test_the_ra2dream_cohort_is_milder_and_has_no_controls():
    """The two cohorts differ only in who the patients are: RA2-DREAM's severity (the site model's own
    fit, N(0, 1)) and no healthy controls, against the image-level cohort's worse severity and 8 % controls."""
    from ralib.synth.cohort import cohort_sites

    totals = {name: cohort_sites(800, name).groupby("image_id").truth.sum() for name in disease.COHORTS}
    assert totals["ra2dream"].median() < totals["image_level"].median()
    patients = [disease.sample_patient(np.random.default_rng(i), "ra2dream") for i in range(300)]
    assert not any(p.healthy for p in patients)
    with pytest.raises(ValueError, match="unknown cohort"):
        SynthConfig(cohort="ra2")


def test_a_labels_only_cohort_has_the_data_sets_site_table(small_set):
    from ralib.synth.cohort import cohort_sites

    sites = cohort_sites(4, "image_level")
    assert list(sites.columns) == list(load_tables(small_set)["sites"].columns)
    assert len(sites) == 4 * len(anatomy.svdh_sites()) and sites.image_id.nunique() == 4
    top = sites.hand + "_" + sites.site
    assert (sites.truth <= top.map({s.id: s.max_grade for s in anatomy.svdh_sites()})).all()


def test_dip_joints_are_spared_compared_with_mcps():
    rng = np.random.default_rng(1)
    dip, mcp = [], []
    for _ in range(800):
        g = disease.sample_grades(disease.sample_patient(rng), rng)
        dip.append(np.mean([g[f"LH_dip_E__{f}"] > 0 for f in (2, 3, 4, 5)]))
        mcp.append(np.mean([g[f"LH_mcp_E__{f}"] > 0 for f in (2, 3, 4, 5)]))
    assert np.mean(dip) < 0.5 * np.mean(mcp)


def test_reader_calibration_near_published_agreement():
    report = readers.calibration_report(n_patients=400, seed=0)
    assert 0.95 <= report["readers"]["pcc"] <= 0.98
    assert 9 <= report["readers"]["mae"] <= 15
    assert 15 <= report["readers"]["rmse"] <= 22
    assert 0.74 <= report["erosion_experts"]["accuracy"] <= 0.84
    assert 0.72 <= report["jsn_experts"]["accuracy"] <= 0.82


# ---------------------------------------------------------------------------------------------
# the cache


def test_interrupted_write_is_not_reused(tmp_path, monkeypatch):
    config = SynthConfig(n_images=4, image_size=96)
    calls = {"n": 0}
    real = ds._render_one

    def dying(job):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("power cut")
        return real(job)

    monkeypatch.setattr(ds, "_render_one", dying)
    with pytest.raises(KeyboardInterrupt):
        make_dataset(config, tmp_path, progress=False, workers=1)
    assert not (tmp_path / "synthra" / config.folder_name()).exists()
    monkeypatch.setattr(ds, "_render_one", real)
    folder = make_dataset(config, tmp_path, progress=False, workers=1)
    assert len(load_tables(folder)["radiographs"]) == 4


def test_folder_without_marker_is_rebuilt(tmp_path):
    config = SynthConfig(n_images=2, image_size=96)
    fake = tmp_path / "synthra" / config.folder_name()
    fake.mkdir(parents=True)
    (fake / "radiographs.csv").write_text("broken")
    folder = make_dataset(config, tmp_path, progress=False, workers=1)
    assert json.loads((folder / "COMPLETE").read_text())["key"] == config.key()
    assert len(load_tables(folder)["radiographs"]) == 2


def test_the_cache_key_covers_all_the_code_that_decides_the_data():
    sources = {p.relative_to(Path(ds.__file__).parent.parent).as_posix() for p in ds.generator_sources()}
    assert "splits.py" in sources  # decides the stored split
    assert {"anatomy.py", "synth/world.py", "synth/readers.py", "synth/disease_params.csv"} <= sources
    assert "synth/hand_shape_params.csv" in sources  # the fitted finger shapes
    assert "config.py" not in sources  # its values enter the key through the config's fields
    assert not {"__init__.py", "sources.py", "train/fit.py"} & sources  # notebook set-up and this listing


def test_the_mid_forearm_point_scales_with_the_hand():
    from ralib.synth.skeleton import Pose, build_hand
    from ralib.synth.world import LANDMARK_INDEX

    def forearm_distance(scale):
        lm = build_hand(Pose(scale=scale), Damage.none()).landmarks
        return np.linalg.norm(lm[LANDMARK_INDEX["forearm"]] - lm[LANDMARK_INDEX["radius_center"]])

    assert forearm_distance(0.8) == pytest.approx(0.8 * forearm_distance(1.0), rel=1e-6)


def test_numpy_integer_seeds_make_the_same_data_set():
    assert SynthConfig(seed=np.int64(3), n_images=np.int32(5)).key() == SynthConfig(seed=3, n_images=5).key()
    assert ChildConfig(seed=np.int64(3)).key() == ChildConfig(seed=3).key()


_SCRIPT = """
import os, sys
os.environ["RALIB_DATA"] = sys.argv[1]
from ralib.synth import SynthConfig, make_dataset
{body}
"""


def test_a_script_without_main_guard_fails_fast_saying_what_to_add(tmp_path):
    script = tmp_path / "make.py"  # the README's snippet pasted into a file, as is
    script.write_text(_SCRIPT.format(body="make_dataset(SynthConfig(n_images=8, image_size=96), workers=2, progress=False)"))
    start = time.time()
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "data")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and time.time() - start < 60
    assert 'if __name__ == "__main__":' in done.stderr and "workers=1" in done.stderr


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_of_a_killed_parent_stop(tmp_path):
    script = tmp_path / "make.py"
    body = 'if __name__ == "__main__":\n    make_dataset(SynthConfig(n_images=400, image_size=320), workers=2, progress=False)'
    script.write_text(_SCRIPT.format(body=body))
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data")], stderr=subprocess.DEVNULL)
    images = lambda: list((tmp_path / "data" / "synthra").glob("*.partial-*/images/*.png"))  # noqa: E731
    deadline = time.time() + 90
    while len(images()) < 3 and time.time() < deadline and parent.poll() is None:
        time.sleep(0.2)
    workers = _children(parent.pid)
    assert len(images()) >= 3 and workers, "the workers never started writing"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    try:
        time.sleep(3)
        written = len(images())
        time.sleep(2)
        assert not [w for w in workers if _alive(w)], "workers outlived their parent"
        assert len(images()) == written, "orphaned workers kept writing"
    finally:
        for worker in workers:  # never leave them behind, even when the test fails
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)


def test_a_waiting_process_says_what_it_waits_for(tmp_path, capsys):
    import fcntl

    config = SynthConfig(n_images=2, image_size=96)
    (tmp_path / "synthra").mkdir()
    lock_path = tmp_path / "synthra" / f".{config.folder_name()}.lock"
    with open(lock_path, "w") as held:
        held.write("process 12345 on elsewhere")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        waiter = subprocess.Popen([sys.executable, "-c", _SCRIPT.format(body=(
            "make_dataset(SynthConfig(n_images=2, image_size=96), workers=1, progress=False)")), str(tmp_path)],
            stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(4)
        fcntl.flock(held, fcntl.LOCK_UN)
    _, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0 and "waiting for process 12345 on elsewhere, which is generating" in err


# ---------------------------------------------------------------------------------------------
# children


def test_children_mature_with_bone_age():
    young = child_radiograph(0, 256, bone_age_months=24)
    old = child_radiograph(0, 256, bone_age_months=200)
    # the same seed and film, older bones: more (and larger) ossified bone
    assert (old.image > 140).mean() > (young.image > 140).mean()


def test_children_dataset(tmp_path):
    folder = make_dataset(ChildConfig(n_images=5, image_size=96), tmp_path, progress=False, workers=1)
    table = pd.read_csv(folder / "children.csv")
    assert len(table) == 5 and table.boneage.between(1, 228).all()
    assert all((folder / f).exists() for f in table.file)


def test_the_hand_shape_model_reproduces_its_fitted_moments():
    """Sampled hands have the fitted centre and the covariance a Student-t with that scale implies."""
    from ralib.synth import hand_shape

    centre, chol, dof = hand_shape.shape_model()
    rng = np.random.default_rng(0)
    draws = np.array([np.concatenate([d[j] for j in hand_shape.FINGER_JOINTS])
                      for d in (hand_shape.sample_finger_joints(rng) for _ in range(20000))])  # fmt: skip
    implied = chol @ chol.T * dof / (dof - 2)
    sd = np.sqrt(np.diag(implied))
    assert np.all(np.abs(draws.mean(axis=0) - centre) < 0.05 * sd + 1e-3)
    assert np.allclose(np.cov(draws, rowvar=False), implied, atol=0.08 * sd.max() ** 2)
    template = {name: np.array(xy) for name, xy in anatomy.TEMPLATE_LEFT_HAND_MM.items()}
    typical = hand_shape.mean_finger_joints()
    assert all(np.linalg.norm(typical[j] - template[j]) < 3.0 for j in hand_shape.FINGER_JOINTS)


def test_sampled_hands_put_their_joints_where_the_shape_model_says():
    from ralib.synth.skeleton import build_hand

    pose = Pose.sample(np.random.default_rng(3))
    pose.ulnar_deviation[:] = 0
    pose.wrist_deviation = 0.0
    hand = build_hand(pose, Damage.none())
    index = {n: i for i, n in enumerate(anatomy.LANDMARKS)}
    for joint, xy in pose.joints.items():
        assert np.allclose(hand.landmarks[index[joint]], pose.scale * xy, atol=1e-6)


def test_reader_label_matching_recovers_the_share_of_each_grade():
    """The disease calibration's second stage: start from thresholds a unit too high and shift them
    until the simulated readers' labels have a target cohort's share of damage at every site."""
    import importlib.util

    from ralib.synth.cohort import cohort_sites

    spec = importlib.util.spec_from_file_location("calibrate", Path(__file__).parents[1] / "scripts" / "calibrate_disease_model.py")
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    types = list(anatomy.EROSION_SITES + anatomy.JSN_SITES)
    target = cohort_sites(300, "ra2dream", seed=5)
    label = np.floor((target.reader_1 + target.reader_2) / 2 + 0.5)
    grades = np.stack([np.stack([label[(target.hand == h) & (target.site == s)].to_numpy() for s in types], axis=1)
                       for h in anatomy.HANDS], axis=1).astype(int)  # fmt: skip
    start = {s: (lam, taus + 1.0) for s, (lam, taus) in ((s, disease.site_parameters()[f"LH_{s}"]) for s in types)}

    def prevalence_gap(params):
        sim = cohort_sites(300, "ra2dream", seed=6, params=disease.with_extra_sites(params))
        synth = np.floor((sim.reader_1 + sim.reader_2) / 2 + 0.5)
        shares = lambda g, t: t.assign(g=g > 0).groupby(["hand", "site"]).g.mean()  # noqa: E731
        return float((shares(synth, sim) - shares(label, target)).abs().mean())

    before = prevalence_gap({f"{h}_{s}": v for h in anatomy.HANDS for s, v in start.items()})
    matched = calibrate.match_reader_labels(grades, start, n_patients=300, iterations=4)
    after = prevalence_gap(matched)
    assert before > 0.06 and after < 0.03, (before, after)  # two samples of 300 differ by about 0.02


def test_films_are_framed_as_a_radiographer_frames_them():
    """At most 430 mm / image_size a pixel, collimation never over a finger, thumb or wrist landmark, and
    the archive's artefacts (grid, burned-in text, JPEG) each on some films but not all."""
    seen = []
    for seed in range(24):
        sample = radiograph(seed, 192)
        assert sample.spacing_mm <= 430 / 192 + 1e-9
        film = sample.image.astype(float) / (2**sample.bits - 1)
        film = 1 - film if sample.inverted else film
        left, top, right, bottom = (int(round(c / sample.spacing_mm)) for c in sample.meta["acquisition"]["collimation_mm"])
        if sample.flipped:
            left, right = right, left
        h, w = film.shape
        for xy in sample.landmarks.values():
            xs, ys = np.delete(xy, anatomy.LANDMARKS.index("forearm"), axis=0).T
            assert (xs >= left).all() and (xs < w - right).all() and (ys >= top).all() and (ys < h - bottom).all()
        seen += [a.split()[0] for a in sample.meta["artefacts"]]
    for artefact in ("grid", "text", "jpeg"):
        assert 0 < seen.count(artefact) < 24, (artefact, seen.count(artefact))
