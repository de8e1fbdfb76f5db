"""The renderer's physics: projections of known solids give their analytic path lengths, a healthy shaft's
cortex shows as bright lines along its edges, soft tissue has the depth profile it is given, and damage
at grade 0 changes nothing."""

import numpy as np
import pytest

from ralib import anatomy
from ralib.synth import render
from ralib.synth.skeleton import Damage, Pose, build_hand
from ralib.synth.world import palm_thickness


def _chord(radius: float, distance: np.ndarray) -> np.ndarray:
    return 2 * np.sqrt(np.clip(radius**2 - distance**2, 0, None))


def test_a_sphere_projects_to_its_chords_and_its_cortex_to_the_difference_of_two():
    r, cortex, n = 30.0, 4.0, 101
    centre = np.array([50.0, 50.0])
    distance = np.abs(np.arange(n) - 50.0)
    solid = np.zeros((n, n), np.float32)  # the same attenuation inside and out: the whole chord
    render.draw_ellipsoid(solid, centre, (r, r), 0.0, 2 * r, cortex, mu_cortex=1.0, mu_medulla=1.0)
    np.testing.assert_allclose(solid[50], _chord(r, distance), atol=1e-3)
    shell = np.zeros((n, n), np.float32)  # only the cortex: outer chord less the inner sphere's
    render.draw_ellipsoid(shell, centre, (r, r), 0.0, 2 * r, cortex, mu_cortex=1.0, mu_medulla=0.0)
    np.testing.assert_allclose(shell[50], _chord(r, distance) - _chord(r - cortex, distance), atol=1e-3)


def test_a_forearm_projects_to_the_chords_of_its_elliptic_cross_section():
    out = np.zeros((120, 200), np.float32)
    render.draw_capsule_thickness(out, np.array([20.0, 60]), np.array([180.0, 60]), 40, 40, half_depth=25)
    d = np.arange(0, 45, 5.0)
    expected = 2 * 25 * np.sqrt(np.clip(1 - (d / 40) ** 2, 0, None))
    np.testing.assert_allclose(out[(60 + d).astype(int), 100], expected, atol=1e-3)


def test_a_healthy_shaft_is_brighter_along_its_cortex_than_along_its_middle():
    img = np.zeros((80, 300), np.float32)
    render.draw_tube(img, np.array([20.0, 40]), np.array([280.0, 40]), (14.0, 12.0, 14.0), 3.0,
                     shape=render.BONE_SHAPES["metacarpal"])  # fmt: skip
    profile = img[:, 150]  # across the middle of the shaft
    inside = np.nonzero(profile > 0)[0]
    assert inside.min() == pytest.approx(40 - 12, abs=1) and inside.max() == pytest.approx(40 + 12, abs=1)
    peaks = [int(np.argmax(profile[:40])), 40 + int(np.argmax(profile[40:]))]
    assert all(abs(abs(p - 40) - 12) <= 4 for p in peaks), peaks  # within a cortex of the edges
    assert min(profile[p] for p in peaks) > 1.3 * profile[40]


def test_the_palm_is_thickest_in_its_middle_and_rounds_off_to_its_edges():
    mask = np.zeros((300, 300), np.uint8)
    mask[50:250, 50:250] = 1
    t = palm_thickness(mask, 0.5, np.random.default_rng(0))
    across = t[150, 40:150]
    assert t[0, 0] == 0 and across[:10].max() == 0
    assert np.all(np.diff(across[10:40]) >= 0)  # rising over the rim (10 mm at 0.5 mm a pixel)
    assert across[14] < 0.85 * across[60]  # 2 mm inside the edge it is still clearly thinner than inside
    assert 0.7 * 26 < t[150, 150] < 1.3 * 26


def test_damage_graded_0_leaves_the_hand_as_healthy():
    zeros = {f"mcp{f}": 0 for f in range(1, 6)} | {f"pip{f}": 0 for f in range(2, 6)} | {f"dip{f}": 0 for f in range(2, 6)}
    zeros |= {"ip": 0} | {s: 0 for s in anatomy.JSN_SITES if s.startswith("wrist")}
    healthy, graded = build_hand(Pose.mean(), Damage.none()), build_hand(Pose.mean(), Damage(jsn=zeros))
    np.testing.assert_array_equal(healthy.landmarks, graded.landmarks)
    for a, b in zip(healthy.long_bones, graded.long_bones, strict=True):
        np.testing.assert_array_equal(np.r_[a.p0, a.p1, a.half_widths], np.r_[b.p0, b.p1, b.half_widths])
    assert [c.centre.tolist() for c in healthy.carpals] == [c.centre.tolist() for c in graded.carpals]
    assert graded.fusions == []


def test_trabecular_texture_is_a_field_around_one_that_fades_where_pixels_outgrow_the_grain():
    rng = np.random.default_rng(0)
    fine, coarse = render.trabecular_texture((256, 256), 0.1, rng), render.trabecular_texture((256, 256), 1.0, rng)
    assert abs(fine.mean() - 1) < 0.02 and abs(coarse.mean() - 1) < 0.02
    assert fine.std() == pytest.approx(0.45, rel=0.05) and coarse.std() < 0.6 * fine.std()


@pytest.mark.parametrize("circled", [False, True])
def test_the_marker_changes_only_the_pixels_of_the_box_it_returns(circled):
    film = np.full((200, 300), 0.5, np.float32)
    x0, y0, x1, y1 = render.draw_marker(film, "R", (280, 100), 40.0, circled)
    changed = np.argwhere(film != 0.5)
    assert len(changed) and x1 <= 300  # clipped at the film's edge
    assert changed[:, 0].min() >= y0 and changed[:, 0].max() < y1 and changed[:, 1].min() >= x0 and changed[:, 1].max() < x1


def test_burned_in_text_changes_only_the_pixels_of_the_boxes_it_returns():
    film = np.full((400, 600), 0.3, np.float32)
    boxes = render.burn_in_text(film, 0.2, np.random.default_rng(3))
    inside = np.zeros(film.shape, bool)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = True
    assert boxes and (film != 0.3).any() and not (film != 0.3)[~inside].any()
