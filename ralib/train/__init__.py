"""Training: the generic loop (:mod:`ralib.train.fit`) and the papers' recipes (:mod:`ralib.train.recipes`).

Example:
    >>> config = recipes.fast("resnet34", epochs=1, batch_size=4)
    >>> config.schedule, config.label
    ('one_cycle', 'resnet34 mse b4')
"""

from ralib.train import recipes
from ralib.train.fit import (Fitted, KeepBest, TrainConfig, build_model, fit, load_checkpoint, predict, reuse_or_fit,
                             save_checkpoint)
from ralib.train.recipes import hand_config, transfer_grid, whole_image_recipe

__all__ = ["Fitted", "KeepBest", "TrainConfig", "build_model", "fit", "hand_config", "load_checkpoint", "predict", "reuse_or_fit",
           "recipes", "save_checkpoint", "transfer_grid", "whole_image_recipe"]
