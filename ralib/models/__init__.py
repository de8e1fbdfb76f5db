"""Models: a registry of builders (:mod:`ralib.models.registry`) over the papers' backbones
(:mod:`ralib.models.backbones`), the landmark U-Net (:mod:`ralib.models.landmark_net`), RheumaVIT's box regressor and joint
scorer (:mod:`ralib.models.joint_scorer`) with its denoising pretraining (:mod:`ralib.models.denoising`), the gated
attention MIL (:mod:`ralib.models.mil`), and DeepRA's region detector (:mod:`ralib.models.detection`) and attention-gated
joint model (:mod:`ralib.models.attention_gate`); where they run: :mod:`ralib.models.device`."""

from ralib.models.backbones import FREEZE_SCHEMES, MODEL_NAMES, ExplainerTarget, explainer_target, freeze, penultimate, unfreeze
from ralib.models.registry import create_model, list_models, register_model
from ralib.models import attention_gate, denoising, detection, joint_scorer, landmark_net, mil  # noqa: F401  (register their models)

__all__ = ["FREEZE_SCHEMES", "MODEL_NAMES", "ExplainerTarget", "create_model", "explainer_target", "freeze", "list_models", "penultimate",
           "register_model", "unfreeze"]
