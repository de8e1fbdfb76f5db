"""Learning tasks: one module per kind of target, each a :class:`~ralib.tasks.base.Task` the generic
training loop (:mod:`ralib.train`) can fit.

==================  =============================================================================
module              tasks
==================  =============================================================================
``whole_image``     total SvdH, severity class, per-hand recognition and staging, bone age
``landmarks``       the 74 landmarks of a dual-hand film as heatmaps, coarse and fine
``crops``           single crops: normal / abnormal joint patches, weakly labelled tiles
``bags``            a film's total SvdH from a bag of instances (attention MIL)
``segmentation``    the foreground (hands and forearms) of a film
==================  =============================================================================
"""

from ralib.tasks.base import Task
from ralib.tasks.whole_image import (
    STAGE_CLASSES,
    ImageTask,
    bone_age,
    recognition,
    severity,
    staging,
    svdh_regression,
)

__all__ = ["STAGE_CLASSES", "ImageTask", "Task", "bone_age", "recognition", "severity", "staging", "svdh_regression"]
