"""Scheme 1's foreground segmentation: targets, true masks, augmentation, Dice, applying a model."""

import numpy as np
import pandas as pd
import pytest
import torch

from ralib.tasks.segmentation import ForegroundTask, dice, morphology_masks, postprocess, segmentation_films, true_masks
from ralib.train.extract import segment


def test_dice_is_one_for_equal_masks_and_falls_with_disagreement():
    a = np.zeros((10, 10), bool)
    a[:5] = True
    b = a.copy()
    b[:, :5] = False
    assert dice(a, a) == 1.0 and dice(a, b) == pytest.approx(2 * 25 / 75) and dice(~a & a, ~a & a) == 1.0


def test_augmented_films_and_masks_turn_together():
    films = np.zeros((4, 16, 16), np.uint8)
    films[:, 2:6, 3:12] = 200  # an asymmetric block
    task = ForegroundTask(films, films > 0, pd.DataFrame({"split": ["train", "train", "val", "test"]}))
    data = task.dataset("train", augment="flips")
    torch.manual_seed(0)
    for i in range(20):
        image, mask = data[i % 2]
        assert torch.equal(image[0] > image.min(), mask[0] > 0)


def test_the_morphology_masks_find_the_true_hands_of_letterboxed_synthetic_films(tmp_path, monkeypatch):
    from ralib.data import load_dataset
    from ralib.data.arrays import letterboxed_films
    from ralib.synth import SynthConfig, make_dataset

    monkeypatch.setenv("RALIB_DATA", str(tmp_path / "data"))
    ds = load_dataset("synthra", make_dataset(SynthConfig(n_images=4, image_size=384, seed=2), tmp_path, progress=False, workers=1))
    boxed = letterboxed_films(ds, 128, progress=False)
    truth = true_masks(ds, boxed)
    assert truth is not None and truth.shape == (4, 128, 128)
    morphology = morphology_masks(boxed.images)
    assert all(dice(m, t) > 0.85 for m, t in zip(morphology, truth))
    assert not truth[:, :2].any()  # the letterbox border above a landscape film is background
    films = pd.DataFrame({"radiograph_id": ds.radiographs.radiograph_id, "split": ["train", "train", "val", "test"]})
    split = segmentation_films(films, 1, 1)
    assert split.value_counts().to_dict() == {"train": 1, "val": 1, "test": 1}
    task = ForegroundTask(boxed.images[:3], morphology[:3], pd.DataFrame({"split": ["train", "val", "test"]}))
    from ralib.models import create_model

    masks = segment(create_model("landmark_unet", 1, encoder="resnet18"), task, boxed.images)
    assert masks.shape == boxed.images.shape and masks.dtype == bool


def test_postprocessing_removes_small_bright_specks():
    p = np.zeros((100, 100))
    p[20:80, 20:80] = 0.9
    p[2:4, 2:4] = 0.9
    mask = postprocess(p)
    assert mask[50, 50] and not mask[2, 2]
