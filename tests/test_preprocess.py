"""Splitting a dual-hand film into its two hands by a minimum-energy seam."""

import numpy as np
import pytest

from ralib import anatomy
from ralib.preprocess import hand_images, split_hands
from ralib.synth import radiograph


def _film(sample):
    film = sample.image.astype(np.float32) / (2**sample.bits - 1)
    return 1 - film if sample.inverted else film


def test_seam_separates_two_drawn_hands():
    film = np.full((120, 160), 0.05, np.float32)
    film[20:110, 15:60] = 0.7  # a "hand" on each side, the right one nearer the centre
    film[10:100, 85:140] = 0.7
    split = split_hands(film)
    assert (split.seam_x > 60).all() and (split.seam_x < 85).all()
    left, right = hand_images(film, split)
    assert left.shape[1] < 90 and np.isclose(left[:, 60:].max(initial=0.05), 0.05)


@pytest.mark.parametrize("seed", range(8))
def test_seam_separates_synthetic_hands_at_their_true_landmarks(seed):
    sample = radiograph(seed, 512)
    split = split_hands(_film(sample))
    height = sample.image.shape[0]
    left_hand = "LH" if sample.left_hand_on_image_left else "RH"
    wrong = total = 0
    for hand in anatomy.HANDS:
        expected = "left" if hand == left_hand else "right"
        for x, y in sample.landmarks[hand][:-1]:  # the mid-forearm point may lie off the film
            if 0 <= y < height:
                total += 1
                wrong += split.side_of(x, y) != expected
    assert wrong / total <= 0.02, f"{wrong} of {total} landmarks on the wrong side"


def test_split_needs_a_grey_film():
    with pytest.raises(ValueError, match="2-D grey film"):
        split_hands(np.zeros((10, 10, 3)))


@pytest.mark.parametrize("seed", range(3))
def test_the_morphology_mask_agrees_with_the_true_foreground(seed):
    from ralib.preprocess import foreground_mask

    sample = radiograph(seed, 512)
    mask, truth = foreground_mask(_film(sample)), sample.mask > 0
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert dice > 0.85, f"Dice {dice:.3f}"
    assert not mask[:5, :5].any()  # the film's corner is background
