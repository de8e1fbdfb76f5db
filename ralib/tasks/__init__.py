"""Learning tasks: one module per kind of target, each a :class:`~ralib.tasks.base.Task` the generic
training loop (:mod:`ralib.train`) can fit.

==================  =============================================================================
module              tasks
==================  =============================================================================
``whole_image``     total SvdH, severity class, per-hand recognition and staging, bone age
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
