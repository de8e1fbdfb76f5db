import numpy as np
import pytest

from ralib import anatomy


def test_site_counts_per_hand_and_total_range():
    for hand in anatomy.HANDS:
        assert len(anatomy.svdh_sites(hand, "E")) == 16
        assert len(anatomy.svdh_sites(hand, "J")) == 15
    assert len(anatomy.svdh_sites()) == 62
    assert anatomy.max_total_score() == 280


def test_site_ids_follow_the_ra2dream_order():
    ids = anatomy.svdh_site_ids()
    assert ids[:2] == ["LH_mcp_E__ip", "LH_pip_E__2"]
    assert ids[16] == "RH_mcp_E__ip"
    assert ids[32] == "LH_pip_J__2" and ids[-1] == "RH_wrist_J__radcar"
    assert len(set(ids)) == 62


def test_every_site_pools_into_exactly_one_box_that_scores_its_disease():
    for site in anatomy.svdh_sites("LH"):
        joint = next(j for j in anatomy.JOINTS if j.name == site.joint)
        assert joint.erosion if site.kind == "E" else joint.jsn
    pooled = [s for j in anatomy.JOINTS for s in (*j.erosion_sites, *j.jsn_sites)]
    assert sorted(pooled) == sorted(anatomy.EROSION_SITES + anatomy.JSN_SITES)


def test_box_counts_match_the_joint_level_data_set():
    assert len(anatomy.JOINTS) == 21
    assert len(anatomy.EROSION_JOINTS) == 17
    assert len(anatomy.JSN_JOINTS) == 19
    assert {"cmc3", "cmc4", "cmc5", "radiocarpal"}.isdisjoint(anatomy.EROSION_JOINTS)
    assert {"ulna", "cmc1"}.isdisjoint(anatomy.JSN_JOINTS)


def test_pooling_takes_the_maximum_and_leaves_dips_unscored():
    grades = {s: 0 for s in anatomy.EROSION_SITES + anatomy.JSN_SITES}
    grades |= {"wrist_E__lunate": 2, "wrist_E__radius": 4, "wrist_J__mna": 1}
    pooled = anatomy.pool_to_joints(grades)
    assert pooled["wrist"] == {"erosion": 4, "jsn": 1}
    assert pooled["dip2"] == {"erosion": None, "jsn": None}
    assert pooled["ip"]["jsn"] is None


def test_landmarks_patches_and_template():
    assert len(anatomy.LANDMARKS) == 37 == len(set(anatomy.LANDMARKS))
    assert len(anatomy.PATCHES) == 25
    assert set(anatomy.TEMPLATE_LEFT_HAND_MM) == set(anatomy.LANDMARKS)
    for groups in (anatomy.PATCHES, anatomy.JOINT_CENTRES):
        assert all(set(m) <= set(anatomy.LANDMARKS) for m in groups.values())
    assert set(anatomy.JOINT_CENTRES) == set(anatomy.JOINT_NAMES)
    left, right = anatomy.template_landmarks("LH"), anatomy.template_landmarks("RH")
    np.testing.assert_allclose(right[:, 0], -left[:, 0])
    i = anatomy.LANDMARKS.index
    # a left hand on a PA film has its thumb on the image's right, fingers up
    assert left[i("ip1"), 0] > left[i("mcp5"), 0]
    assert left[i("tip3"), 1] < left[i("mcp3"), 1] < left[i("lunate"), 1]
    wrist = np.linalg.norm(left[i("radial_styloid")] - left[i("ulnar_styloid")])
    assert wrist == pytest.approx(50, abs=1)


@pytest.mark.parametrize(
    "total, label",
    [(0, "0-2"), (1.99, "0-2"), (2, "2-5"), (28.5, "20-30"), (45, "45-70"), (109.5, "70-110"), (110, "110-280"), (280, "110-280")],
)
def test_severity_class_lower_bound_inclusive(total, label):
    assert anatomy.SEVERITY_LABELS[anatomy.severity_class(total)] == label


def test_severity_class_rejects_out_of_range():
    with pytest.raises(ValueError):
        anatomy.severity_class([10, 281])
    with pytest.raises(ValueError):
        anatomy.severity_class(-1)


def test_stage_rule():
    assert anatomy.hand_stage([0] * 16, [0] * 15) == 0
    assert anatomy.hand_stage([0] * 16, [1] + [0] * 14) == 1
    assert anatomy.hand_stage([1] + [0] * 15, [0] * 15) == 2
    assert anatomy.hand_stage([3, 1], [2]) == 3
    assert anatomy.hand_stage([4], [3]) == 4
    assert anatomy.hand_stage([0], [4]) == 5
    assert anatomy.hand_stage([None, 2], [np.nan]) == 3
    grid = anatomy.joint_stage(np.arange(6)[:, None], np.arange(5)[None, :])
    assert grid.shape == (6, 5)
    assert (np.diff(grid, axis=0) >= 0).all() and (np.diff(grid, axis=1) >= 0).all()


def test_stage_rule_rejects_bad_grades():
    with pytest.raises(ValueError, match="maximum"):
        anatomy.hand_stage([6], [0])
    with pytest.raises(ValueError, match="whole numbers"):
        anatomy.hand_stage([1.5], [0])
