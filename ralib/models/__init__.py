"""Models: a registry of builders (:mod:`ralib.models.registry`) over the papers' backbones
(:mod:`ralib.models.backbones`), the landmark U-Net (:mod:`ralib.models.landmark_net`), RheumaVIT's box regressor and joint
scorer (:mod:`ralib.models.joint_scorer`) with its denoising pretraining (:mod:`ralib.models.denoising`), and the gated
attention MIL (:mod:`ralib.models.mil`)."""

from ralib.models.backbones import FREEZE_SCHEMES, MODEL_NAMES, cam_layer, freeze, penultimate, unfreeze
from ralib.models.registry import create_model, list_models, register_model
from ralib.models import denoising, joint_scorer, landmark_net, mil  # noqa: F401  (register denoising_unet, idx_pool_scorer, box_regressor, landmark_unet, attention_mil)

__all__ = ["FREEZE_SCHEMES", "MODEL_NAMES", "cam_layer", "create_model", "freeze", "list_models", "penultimate",
           "register_model", "unfreeze"]
