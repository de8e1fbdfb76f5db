"""Models: one factory for every backbone the notebooks train (:mod:`ralib.models.factory`)."""

from ralib.models.factory import (
    FREEZE_SCHEMES,
    MODEL_NAMES,
    cam_layer,
    create_model,
    freeze,
    penultimate,
    unfreeze,
)

__all__ = ["FREEZE_SCHEMES", "MODEL_NAMES", "cam_layer", "create_model", "freeze", "penultimate", "unfreeze"]
