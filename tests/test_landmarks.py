"""Finding the joints: heatmaps, landmark measures, joint geometry, the landmark tasks and network."""

import cv2
import numpy as np
import pytest
import torch

from ralib import anatomy
from ralib.data import load_dataset
from ralib.data.arrays import letterbox, letterboxed_films, letterboxed_films_at
from ralib.data.io import read_radiograph
from ralib.geometry import BOX_MM, PATCH_MM, Frame, box_frames, cut, from_crop, patch_frames, to_crop, wrist_width_spacing
from ralib.landmarks.heatmaps import decode_logits, encode
from ralib.metrics import landmark_metrics, radial_errors_mm
from ralib.models import create_model
from ralib.synth import SynthConfig, make_dataset
from ralib.landmarks.points import K, LandmarkPredictions, film_landmarks, landmark_report, pose_channels, report_table
from ralib.tasks.landmarks import HeatmapLoss, LandmarkTask, augment_film


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """Twelve small SynthRA films, a third flipped, with both photometric interpretations."""
    config = SynthConfig(n_images=12, image_size=384, p_flip=0.34, seed=3)
    folder = make_dataset(config, tmp_path_factory.mktemp("lm"), progress=False, workers=1)
    return load_dataset("synthra", folder)


# --- heatmaps and measures -------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_heatmaps_decode_to_the_sub_pixel_positions_they_encode(sigma):
    rng = np.random.default_rng(0)
    points = torch.tensor(rng.uniform(4, 44, size=(3, 5, 2)), dtype=torch.float32)
    xy, present = decode_logits(torch.log(encode(points, (48, 48), sigma) + 1e-12) + 20)
    assert torch.allclose(xy, points, atol=0.02)
    assert bool((present > 0.99).all())
    assert not torch.allclose(torch.floor(xy), points, atol=0.02)  # the positions are not whole pixels


def test_logit_maps_decode_to_their_peaks_and_say_when_a_landmark_is_absent():
    from ralib.landmarks.heatmaps import cross_entropy, decode_logits

    points = torch.tensor([[[10.4, 7.7], [3.2, 20.9], [float("nan"), float("nan")]]])
    maps = encode(points.nan_to_num(0.0), (24, 32), 2.0)
    logits = torch.log(maps + 1e-12) + 20
    logits[0, 2] = -20  # nothing anywhere: the absence logit (0) wins
    xy, present = decode_logits(logits)
    assert torch.allclose(xy[0, :2], points[0, :2], atol=0.02)
    assert present[0, :2].min() > 0.99 and present[0, 2] < 0.01
    assert cross_entropy(logits, points, 2.0) < cross_entropy(torch.zeros_like(logits), points, 2.0)


def test_a_missing_landmark_gets_an_empty_heatmap():
    points = torch.tensor([[[10.0, 10.0], [float("nan"), float("nan")]]])
    maps = encode(points, (32, 32), 2.0)
    assert float(maps[0, 1].abs().max()) == 0 and float(maps[0, 0].max()) == pytest.approx(1)


def test_radial_errors_and_detection_rates_equal_hand_computed_values():
    true = np.zeros((2, 3, 2))
    pred = np.array([[[3, 4], [0, 1], [6, 8]], [[0, 0], [0, 30], [1, 0]]], float)  # 5, 1, 10 px; 0, 30, 1 px
    errors = radial_errors_mm(true, pred, np.array([0.5, 0.1]))
    assert np.allclose(errors, [[2.5, 0.5, 5.0], [0.0, 3.0, 0.1]])
    m = landmark_metrics(errors)
    assert m["mre"] == pytest.approx(np.mean([2.5, 0.5, 5.0, 0.0, 3.0, 0.1]), abs=1e-4)
    assert (m["sdr_2"], m["sdr_3"], m["sdr_4"], m["sdr_10"]) == pytest.approx((50.0, 83.3333, 83.3333, 100.0))
    assert landmark_metrics([np.nan, 1.0])["n"] == 1


# --- geometry -------------------------------------------------------------------------------------


def test_every_recipe_has_a_size_for_each_of_its_squares():
    assert set(PATCH_MM) == set(anatomy.PATCHES) and len(PATCH_MM) == 25
    assert set(BOX_MM) == set(anatomy.JOINT_NAMES) and len(BOX_MM) == 21


def test_cut_and_its_coordinates_agree_for_rotated_and_mirrored_squares():
    film = np.zeros((200, 200), np.float32)
    film[118:123, 58:63] = 1  # a bright dot around (60, 120)
    for up in ([0.0, -1.0], [0.6, -0.8], [-0.8, -0.6]):
        for mirrored in (False, True):
            frame = Frame(np.array([70.0, 110.0]), np.array(up), 20.0, 60.0, mirrored)
            crop = cut(film, frame, 60)
            vv, uu = np.mgrid[:60, :60]
            u, v = (crop * uu).sum() / crop.sum(), (crop * vv).sum() / crop.sum()  # the dot's centroid in the crop
            assert np.allclose(to_crop(frame, 60, [[60.0, 120.0]])[0], [u, v], atol=0.3)
            assert np.allclose(from_crop(frame, 60, [[u, v]])[0], [60, 120], atol=0.3)
            assert frame.contains([60.0, 120.0]) and not frame.contains([150.0, 150.0])


def _true_box_centres(ds, rid, hand):
    s = ds.scores[(ds.scores.radiograph_id == rid) & (ds.scores.hand == hand) & (ds.scores.scheme == "box")]
    s = s.drop_duplicates("site").set_index("site")
    return {j: np.array([(s.x0[j] + s.x1[j]) / 2, (s.y0[j] + s.y1[j]) / 2]) for j in s.index}


def test_boxes_and_patches_from_true_landmarks_hold_the_true_joints_on_flipped_and_monochrome1_films(films):
    r = films.radiographs
    assert r.flipped.astype(bool).any() and (r.photometric == "MONOCHROME1").any()  # the cases this test is for
    size = 64
    for _, row in r.iterrows():
        for hand in anatomy.HANDS:
            lm = films.landmarks[(films.landmarks.radiograph_id == row.radiograph_id) & (films.landmarks.hand == hand)]
            xy = lm.set_index("landmark").loc[list(anatomy.LANDMARKS), ["x", "y"]].to_numpy(float)
            truth = _true_box_centres(films, row.radiograph_id, hand)
            boxes, patches = box_frames(xy, row.spacing_mm), patch_frames(xy, row.spacing_mm)
            for joint, centre in truth.items():
                assert boxes[joint].contains(centre), (row.radiograph_id, hand, joint)
                if joint in patches:
                    assert patches[joint].contains(centre), (row.radiograph_id, hand, joint)
            # every crop shows a left hand seen posteroanteriorly: the middle finger lies left of the index
            mcp3 = xy[anatomy.LANDMARKS.index("mcp3")]
            assert to_crop(patches["mcp2"], size, mcp3)[0, 0] < (size - 1) / 2, (row.radiograph_id, hand, bool(row.flipped))


def test_the_wrist_width_rule_scales_the_styloid_distance_to_50_mm():
    xy = anatomy.template_landmarks("RH") * 4.0
    assert wrist_width_spacing(xy) * np.linalg.norm(xy[anatomy.LANDMARKS.index("radial_styloid")] - xy[anatomy.LANDMARKS.index("ulnar_styloid")]) == pytest.approx(50)


# --- letterboxing and the landmark task -----------------------------------------------------------


def test_letterboxing_keeps_the_aspect_and_maps_points_both_ways(films, isolated_paths):
    boxed = letterboxed_films(films, 96, progress=False)
    assert boxed.images.shape == (len(films.radiographs), 96, 96) and boxed.images.dtype == np.uint8
    assert isinstance(boxed.images, np.memmap)
    again = letterboxed_films(films, 96, progress=False)
    assert np.array_equal(np.asarray(again.images), np.asarray(boxed.images))
    row = films.radiographs.iloc[0]
    film = read_radiograph(row)
    _, (sx, sy, ox, oy) = letterbox(film, 96)
    assert sx == pytest.approx(sy, rel=0.02)
    pts = np.array([[0.0, 0.0], [film.shape[1] - 1.0, film.shape[0] - 1.0]])
    assert np.allclose(boxed.to_film(0, boxed.to_square(0, pts)), pts)


def test_several_sizes_in_one_pass_equal_one_size_at_a_time(films, tmp_path, monkeypatch):
    monkeypatch.setenv("RALIB_DATA", str(tmp_path / "together"))
    together = letterboxed_films_at(films, (48, 80), progress=False)
    monkeypatch.setenv("RALIB_DATA", str(tmp_path / "apart"))
    apart = [letterboxed_films(films, size, progress=False) for size in (48, 80)]
    for a, b in zip(together, apart):
        assert np.array_equal(np.asarray(a.images), np.asarray(b.images)) and a.placement.equals(b.placement)


def test_channels_follow_the_hands_poses_so_flipped_films_look_alike(films):
    points, names = film_landmarks(films)
    assert points.shape == (len(films.radiographs), 2 * K, 2) and np.isfinite(points).all()
    flipped = films.radiographs.flipped.astype(bool).to_numpy()
    # the left-hand pose block lies on the image's left whether or not the film is flipped ...
    assert (points[:, :K, 0].mean(1) < points[:, K:, 0].mean(1)).all()
    # ... and holds the left hand on unflipped films, the right hand on flipped ones
    assert (names[~flipped, 0] == "LH").all() and (names[flipped, 0] == "RH").all()
    one = pose_channels({"LH": None, "RH": anatomy.template_landmarks("RH")})
    assert np.isnan(one[:K]).all() and np.isfinite(one[K:]).all()


def test_augmented_points_follow_the_augmented_image():
    torch.manual_seed(0)
    size = 128
    points = np.full((2 * K, 2), np.nan)
    points[:K] = anatomy.template_landmarks("LH") / 6 + [35, 90]
    points[K:] = anatomy.template_landmarks("RH") / 6 + [93, 90]
    image = np.zeros((size, size), np.float32)
    for x, y in points:
        image[int(round(y)), int(round(x))] = 1.0
    blanked = 0
    for _ in range(40):
        out, moved = augment_film(image.copy(), points)
        for x, y in moved[np.isfinite(moved).all(-1)]:
            if 2 <= x < size - 2 and 2 <= y < size - 2:
                assert out[int(round(y)) - 2 : int(round(y)) + 3, int(round(x)) - 2 : int(round(x)) + 3].max() > 0.05
        blanked += int(np.isnan(moved).any())
    assert 0 < blanked < 40  # one hand is sometimes taken away, never always


def test_presence_is_read_from_the_peaks_of_each_hands_channels():
    peak = np.concatenate([np.full(K, 0.9), np.full(K, 0.05)])[None]
    predictions = LandmarkPredictions(np.zeros((1, 2 * K, 2)), peak)
    assert predictions.found().tolist() == [[True, False]]


def test_the_landmark_network_has_74_channels_and_trains_one_step(films, isolated_paths):
    boxed = letterboxed_films(films, 64, progress=False)
    points, _ = film_landmarks(films)
    table = films.radiographs.assign(split=["train"] * 8 + ["val"] * 2 + ["test"] * 2)
    task = LandmarkTask(boxed, points, table, sigma=1.5)
    torch.manual_seed(0)
    net = create_model("landmark_unet", task.num_outputs, encoder="resnet18")
    images, target = next(iter(torch.utils.data.DataLoader(task.dataset("train", "landmarks"), 4)))
    out = net(images)
    assert out.shape == (4, 74, 64, 64)
    loss = task.loss()(out, target)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    named = task.forward(net.eval(), images)
    assert named["outputs"].shape == (4, 74, 2) and named["peak"].shape == (4, 74)
    on_film = task.decode({k: v.detach().numpy() for k, v in task.forward(net, images[:2]).items()}, "test")
    assert "true spacing | all | all" in task.evaluate(on_film, "test")  # what a selection by a landmark measure reads
    logits = torch.log(encode(target, (64, 64), 1.5) + 1e-12) + 10  # log-densities of the targets themselves
    assert HeatmapLoss(1.5)(logits, target) < 0.5 * HeatmapLoss(1.5)(torch.zeros_like(logits), target)


def test_the_landmark_report_has_the_papers_table_shape(films):
    points, _ = film_landmarks(films)
    noisy = LandmarkPredictions(points + 2.0, np.ones(points.shape[:2]))  # every landmark 2.83 px off
    report = landmark_report(points, noisy, films.radiographs)
    table = report_table(report)
    spacing = films.radiographs.spacing_mm.to_numpy()
    assert table.loc[("true spacing", "all", "all"), "mre"] == pytest.approx(np.sqrt(8) * spacing.mean(), rel=1e-3)
    assert {"flipped", "MONOCHROME1", "clean"} <= set(table.index.get_level_values("films"))
    assert set(table.index.get_level_values("group")) == {"all", "fingers", "thumb", "carpus", "wrist"}
    assert report["presence"]["accuracy"] == 1.0


# --- the joint-crop cache and the RAM-H1200 layout ----------------------------------------------


class ShiftedTruth:
    """A stand-in localiser: the true landmarks moved by ``shift`` pixels, named by ``tag``."""

    coarse_size, fine_size, fine = 32, 64, None

    def __init__(self, ds, shift, tag):
        self.points, self.shift, self.tag = film_landmarks(ds)[0], shift, tag

    def fingerprint(self):
        return self.tag

    def locate_boxed(self, coarse, fine, rows, progress=True):
        return LandmarkPredictions(self.points[rows] + self.shift, np.ones(self.points[rows].shape[:2])), None


def test_the_crop_cache_is_deterministic_and_holds_every_joint_with_its_grades(films, isolated_paths):
    from ralib.patches import crop_cache, crop_caches

    first = crop_cache(films, "patches", 32, progress=False)
    n = len(films.radiographs)
    assert first.images.shape == (n * 2 * 25, 32, 32) and isinstance(first.images, np.memmap)
    t = first.table
    assert (t.groupby(["radiograph_id", "hand"]).joint.apply(list) == [list(anatomy.PATCHES)] * (2 * n)).all()
    mcp2 = t[t.joint == "mcp2"].iloc[0]
    s = films.scores[(films.scores.radiograph_id == mcp2.radiograph_id) & (films.scores.hand == mcp2.hand)
                     & (films.scores.site == "mcp_E__2")].iloc[0]  # fmt: skip
    assert (mcp2.erosion_truth, mcp2.erosion_reader_1, mcp2.erosion_grade) == (s.truth, s.reader_1, s.grade)
    assert t[t.joint == "dip2"].erosion_site.eq("").all()
    import shutil

    shutil.rmtree(first.folder)
    again = crop_cache(films, "patches", 32, progress=False)
    assert np.array_equal(np.asarray(again.images), np.asarray(first.images))
    boxes = crop_cache(films, "boxes", 32, progress=False)
    assert boxes.table.groupby(["radiograph_id", "hand"]).size().eq(21).all()
    shutil.rmtree(boxes.folder), shutil.rmtree(again.folder)
    together = crop_caches(films, [("patches", None), ("boxes", None)], 32, progress=False)  # one pass over the films
    assert [np.array_equal(np.asarray(a.images), np.asarray(b.images)) for a, b in zip(together, (first, boxes))] == [True, True]
    assert boxes.table.erosion_truth.notna().sum() == 17 * 2 * n


def test_an_interrupted_build_leaves_nothing_half_done(films, isolated_paths, monkeypatch):
    from ralib import geometry
    from ralib.patches import crop_cache

    real_cut, calls = geometry.cut, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 20:
            raise KeyboardInterrupt
        return real_cut(*args, **kwargs)

    monkeypatch.setattr(geometry, "cut", failing)
    with pytest.raises(KeyboardInterrupt):
        crop_cache(films, "boxes", 24, progress=False)
    crops = isolated_paths / "data" / "crops"
    assert not [p for p in crops.iterdir()]  # neither a folder that looks finished nor a temporary one
    monkeypatch.setattr(geometry, "cut", real_cut)
    cache = crop_cache(films, "boxes", 24, progress=False)
    assert len(cache.table) == len(cache.images) == 2 * 21 * len(films.radiographs)


def test_predicted_crops_are_a_variant_rebuilt_when_the_localiser_changes(films, isolated_paths):
    from ralib.patches import crop_cache

    true = crop_cache(films, "patches", 32, progress=False)
    same = crop_cache(films, "patches", 32, localiser=ShiftedTruth(films, 0.0, "a"), progress=False)
    moved = crop_cache(films, "patches", 32, localiser=ShiftedTruth(films, 6.0, "b"), progress=False)
    assert len({true.folder, same.folder, moved.folder}) == 3
    assert same.meta["variant"] == "predicted" and true.meta["variant"] == "true"
    assert np.allclose(np.asarray(same.images, float), np.asarray(true.images, float), atol=1)
    assert not np.array_equal(np.asarray(moved.images), np.asarray(true.images))
    assert np.allclose(moved.table.cx - true.table.cx, 6.0)


def test_the_ramh1200_layout_round_trips_synthra_crops(films, isolated_paths, tmp_path):
    from ralib.patches import crop_cache, read_ramh1200, write_ramh1200

    cache = crop_cache(films, "ramh1200", 40, progress=False)
    assert cache.table.groupby(["radiograph_id", "hand"]).size().eq(22).all()
    folder = write_ramh1200(cache, tmp_path / "ramh")
    assert (folder / "train" / "_annotation_be_scores.json").exists()
    back = read_ramh1200(folder, 40, progress=False)
    key = ["split", "radiograph_id", "joint"]
    written = cache.table.assign(radiograph_id=cache.table.radiograph_id + "_" + cache.table.hand).sort_values(key)
    read = back.table.sort_values(key)
    assert len(read) == len(written)
    assert np.array_equal(np.asarray(back.images)[read.crop.to_numpy()], np.asarray(cache.images)[written.crop.to_numpy()])
    for kind in ("erosion", "jsn"):
        expected = np.floor(written[f"{kind}_grade"].to_numpy(float) + 0.5)
        assert np.array_equal(read[f"{kind}_grade"].to_numpy(float), expected, equal_nan=True)
        assert (read[f"{kind}_site"].to_numpy() == written[f"{kind}_site"].to_numpy()).all()
    with pytest.raises(ValueError, match="recipe 'ramh1200'"):
        write_ramh1200(crop_cache(films, "boxes", 16, progress=False), tmp_path / "no")


class FixedLocaliser:
    """A stand-in localiser: the template's left hand in the left-hand-pose block, the other hand absent."""

    def locate(self, film):
        xy = np.vstack([anatomy.template_landmarks("LH") * 2 + 300, np.zeros((37, 2))])
        return xy, np.array([0.9, 0.1])


def test_a_folder_of_unlabelled_films_is_located_film_by_film(tmp_path, capsys):
    from ralib.landmarks.films import locate_films

    ramp = np.add.outer(np.arange(700) / 700, np.arange(600) / 600) * 120
    for name in ("b.png", "a.png"):
        cv2.imwrite(str(tmp_path / name), ramp.astype(np.uint8))
    cv2.imwrite(str(tmp_path / "c.tif"), ramp.astype(np.uint8))
    (tmp_path / "notes.txt").write_text("not a film")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    located = locate_films(FixedLocaliser(), tmp_path)
    assert [f.name for f in located] == ["a.png", "b.png", "c.tif"]  # the broken file left out, the others located
    assert "left out, not readable as a film: broken.jpg" in capsys.readouterr().out
    assert located[0].hands_found == ("left-hand pose",) and np.isnan(located[0].xy[37:]).all()
    assert len(located[0].frames) == 25 and located[0].image.shape == (700, 600)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no film"):
        locate_films(FixedLocaliser(), tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        locate_films(FixedLocaliser(), tmp_path / "missing")
    (tmp_path / "only_broken").mkdir()
    (tmp_path / "only_broken" / "x.png").write_bytes(b"nothing")
    with pytest.raises(ValueError, match="no film could be read"):
        locate_films(FixedLocaliser(), tmp_path / "only_broken")


def test_true_hands_are_plausible_and_turned_upside_down_scrambled_or_collapsed_ones_are_not(synthetic):
    from ralib.landmarks.plausibility import implausible

    hands = film_landmarks(synthetic)[0].reshape(-1, K, 2)
    hands = hands[np.isfinite(hands).all((1, 2))]
    assert len(hands) >= 10 and not any(implausible(hand) for hand in hands)
    hand, rng = hands[0], np.random.default_rng(0)
    assert "degrees from the vertical" in implausible(hand @ np.array([[0.0, -1.0], [1.0, 0.0]]))[0]  # turned sideways
    assert "degrees from the vertical" in implausible(hand * [1, -1])[0]  # upside down
    assert implausible(hand[rng.permutation(K)])  # the right points in the wrong places
    assert implausible(hand.mean(0) + rng.normal(0, 3, (K, 2)))  # a blob, as on an image without a hand
    assert implausible(np.full((K, 2), np.nan)) == []  # no hand found: nothing to flag


class TurnedLocaliser(FixedLocaliser):
    """A localiser that confidently finds a hand lying on its side."""

    def locate(self, film):
        xy, presence = super().locate(film)
        xy[:K] = (xy[:K] - 300) @ np.array([[0.0, -1.0], [1.0, 0.0]]) + 300
        return xy, presence


def test_a_hand_found_lying_on_its_side_is_flagged_and_cut_into_no_patches(tmp_path, capsys):
    from ralib.landmarks.films import locate_films

    cv2.imwrite(str(tmp_path / "turned.png"), np.add.outer(np.arange(700), np.arange(600)).astype(np.uint8))
    (film,) = locate_films(TurnedLocaliser(), tmp_path)
    assert list(film.flags) == ["left-hand pose"] and film.frames == [] and film.hands_found == ("left-hand pose",)
    assert "flagged, not a hand's geometry: turned.png, left-hand pose: the hand lies" in capsys.readouterr().out
    (upright,) = locate_films(FixedLocaliser(), tmp_path)
    assert upright.flags == {} and len(upright.frames) == 25


def test_a_saved_localiser_finds_to_the_last_bit_what_it_found_before_it_was_saved(tmp_path):
    """05's networks come out of training in channels-last order, 07-10 load them from the file: the same
    landmarks either way, so that a notebook run alone gives what it gives after 05 in one run."""
    from ralib.landmarks.localiser import Localiser
    from ralib.models import create_model

    torch.manual_seed(0)
    coarse = create_model("landmark_unet", 74, encoder="resnet18").eval().to(memory_format=torch.channels_last)
    trained = Localiser(coarse, None, 64, 64, 32, (0.5, 0.25), (0.5, 0.25), {"encoder": "resnet18"})
    films = np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8)
    before = trained.coarse_pass(films)
    after = Localiser.load(trained.save(tmp_path / "localiser.pt")).coarse_pass(films)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, after))
