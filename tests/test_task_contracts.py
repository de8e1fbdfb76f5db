"""What every task promises the training loop: its ``num_outputs`` in the base checkpoint record, and only the
augmentations it declares (an unknown one is an error, not silently none). One small instance of every task
class of ``ralib.tasks``; a task class added without one here fails the completeness test."""

import importlib
import pkgutil

import numpy as np
import pandas as pd
import pytest

import ralib.tasks
from ralib.data.arrays import Letterboxed
from ralib.landmarks.points import K
from ralib.tasks import ImageTask, Task
from ralib.tasks.bags import BagTask
from ralib.tasks.crops import CropTask
from ralib.tasks.denoising import DenoisingTask
from ralib.tasks.detection import REGIONS, RegionTask
from ralib.tasks.joint_boxes import BoxTask
from ralib.tasks.joint_grades import JointGradeTask
from ralib.tasks.landmarks import FineLandmarkTask, LandmarkTask
from ralib.tasks.region_scores import RegionScoreTask
from ralib.tasks.segmentation import ForegroundTask

SPLITS = ["train", "train", "val", "test"]
TABLE = pd.DataFrame({"radiograph_id": ["a", "b", "c", "d"], "split": SPLITS, "score": [1.0, 3.0, 2.0, 0.0], "label": [0, 1, 0, 1]})


def _boxes(n_boxes):
    corner = np.random.default_rng(0).random((4, n_boxes, 2)) * 0.5
    return np.concatenate([corner, corner + 0.25], axis=-1)


def _letterboxed():
    images = np.random.default_rng(0).integers(1, 255, (4, 64, 64)).astype(np.uint8)
    placement = pd.DataFrame({"radiograph_id": TABLE.radiograph_id, "sx": 1.0, "sy": 1.0, "ox": 0.0, "oy": 0.0})
    points = np.random.default_rng(1).uniform(16, 48, (4, 2 * K, 2))
    return Letterboxed(images, placement), points, TABLE.assign(spacing_mm=0.5)


def _grades():
    table = TABLE.assign(erosion_site="mcp2", jsn_site="mcp2", erosion_grade=[0, 1, 0, 1], jsn_grade=[0, 1, 1, 0])
    return JointGradeTask(np.zeros((4, 16, 16), np.uint8), table, input_size=8)


def _region_scores():
    table = TABLE.assign(hand="LH", joint="wrist")
    scores = pd.DataFrame({"radiograph_id": TABLE.radiograph_id, "hand": "LH", "scheme": "svdh", "site": "lunate", "kind": "erosion",
                           "grade": [0, 2, 1, 0]})  # fmt: skip
    return RegionScoreTask(np.zeros((4, 8, 8), np.uint8), table, scores, "wrist")


TASKS = {
    ImageTask: lambda: ImageTask("demo", "regression", np.zeros((4, 8, 8), np.float32), TABLE, "score"),
    CropTask: lambda: CropTask("crops", "classification", np.zeros((4, 8, 8), np.float32), TABLE, "label", ("a", "b"), "binary"),
    BagTask: lambda: BagTask(np.zeros((4, 3, 2), np.float32), np.ones((4, 3), bool), TABLE),
    DenoisingTask: lambda: DenoisingTask(np.zeros((4, 16, 16), np.uint8), TABLE, input_size=8),
    RegionTask: lambda: RegionTask(np.zeros((4, 32, 32), np.float32), _boxes(len(REGIONS)), TABLE),
    BoxTask: lambda: BoxTask(np.zeros((4, 32, 32), np.float32), _boxes(21), TABLE),
    JointGradeTask: _grades,
    LandmarkTask: lambda: LandmarkTask(*_letterboxed()),
    FineLandmarkTask: lambda: FineLandmarkTask(*_letterboxed(), crop=16, jitter_mm=1.0, per_film=2),
    RegionScoreTask: _region_scores,
    ForegroundTask: lambda: ForegroundTask(np.zeros((4, 16, 16), np.uint8), np.ones((4, 16, 16), bool), TABLE),
}


def _task_classes() -> set[type]:
    for module in pkgutil.iter_modules(ralib.tasks.__path__):
        importlib.import_module(f"ralib.tasks.{module.name}")
    found, todo = set(), [Task]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("ralib.tasks") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_task_class_of_ralib_has_a_small_instance_here():
    assert _task_classes() == set(TASKS)


@pytest.mark.parametrize("kind", list(TASKS), ids=lambda kind: kind.__name__)
def test_a_task_refuses_an_augmentation_it_does_not_declare_and_takes_those_it_does(kind):
    task = TASKS[kind]()
    assert "none" in task.augmentations and len(task.augmentations) > 1, "every task augments its training items somehow"
    with pytest.raises(ValueError, match="unknown augmentation 'rotate_wildly'"):
        task.dataset("train", "rotate_wildly")
    for augment in task.augmentations:
        assert len(task.dataset("train", augment)) > 0
    assert task.augmentation(task.augmentations[-1], "val") == "none"  # validation is never augmented


@pytest.mark.parametrize("kind", list(TASKS), ids=lambda kind: kind.__name__)
def test_a_task_records_its_num_outputs_for_the_checkpoint(kind):
    task = TASKS[kind]()
    record = task.checkpoint_record()
    assert record["task"] == task.name and record["num_outputs"] == task.num_outputs > 0
