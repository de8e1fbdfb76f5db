"""Models: a registry of builders (:mod:`ralib.models.registry`) over the papers' backbones
(:mod:`ralib.models.backbones`)."""

from ralib.models.backbones import FREEZE_SCHEMES, MODEL_NAMES, cam_layer, freeze, penultimate, unfreeze
from ralib.models.registry import create_model, list_models, register_model
from ralib.models import landmark_net  # noqa: F401  (registers landmark_unet)

__all__ = ["FREEZE_SCHEMES", "MODEL_NAMES", "cam_layer", "create_model", "freeze", "list_models", "penultimate",
           "register_model", "unfreeze"]
