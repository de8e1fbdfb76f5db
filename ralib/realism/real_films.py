"""Real films scored by a whole-image model trained on SynthRA: what the synthetic world teaches, tried on
real pixels. With the four scored films of the shared evidence this is an anecdote, not an accuracy.

Example (a checkpoint of ``03_whole_image_cnn``; not run here):
    >>> evidence = Evidence.from_folder("../shared/data")                               # doctest: +SKIP
    >>> score_real_films("runs/cpu/03_whole_image_cnn/checkpoints/resnet34_mse_b16_svdh_regression.pt",
    ...                  evidence.films, evidence.film_scores, input_size=128)          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ralib.config import runs_dir
from ralib.data.arrays import to_square
from ralib.data.loaders import ImageDataset
from ralib.realism.pixels import Film
from ralib.tasks.whole_image import image_outputs
from ralib.train import load_checkpoint, predict


def score_real_films(checkpoint: str | Path, films: list[Film], scores: dict[str, float],
                     input_size: int | None = None) -> pd.DataFrame:  # fmt: skip
    """The total SvdH a whole-image regression ``checkpoint`` predicts for every film in ``scores`` (film
    name -> the readers' score), beside the score and the prediction that knows nothing: the training
    set's mean. Films are prepared as the whole-image models' inputs are (stretched, squared to the input
    size the checkpoint records, or to ``input_size`` for older checkpoints that do not)."""
    model, config = load_checkpoint(checkpoint)
    if config.get("task") != "svdh_regression":
        raise ValueError(f"{checkpoint}: a {config.get('task')!r} checkpoint; scoring real films needs an svdh_regression one")
    size = config.get("input_size") or input_size  # what the model was trained at wins over a caller's guess
    if not size:
        raise ValueError(f"{checkpoint} does not record its input size: pass input_size (the profile's whole-image size)")
    scored = [f for f in films if f.group in scores]
    if not scored:
        raise ValueError("none of the films has a score")
    images = np.stack([to_square(f.image, int(size)) for f in scored])
    dataset = ImageDataset(images, np.zeros(len(images), np.float32), mean=config["pixel_mean"], sd=config["pixel_sd"])
    outputs = predict(model, dataset, image_outputs)["outputs"]
    predicted = outputs.reshape(len(outputs)) * config["target_sd"] + config["target_mean"]
    return pd.DataFrame({
        "film": [f.group for f in scored],
        "readers' score": [float(scores[f.group]) for f in scored],
        "model": np.round(predicted.astype(float), 1),
        "training mean": round(float(config["target_mean"]), 1),
    })  # fmt: skip


def latest_regression_checkpoint(profile: str) -> Path | None:
    """The newest total-score checkpoint the profile's notebooks saved (``runs/<profile>/*/checkpoints``),
    or None before any has been trained.

    Example:
        >>> latest_regression_checkpoint("cpu")      # doctest: +SKIP
        PosixPath('runs/cpu/03_whole_image_cnn/checkpoints/resnet34_mse_b16_svdh_regression.pt')
    """
    found = sorted(runs_dir(profile).glob("*/checkpoints/*svdh_regression.pt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def scoring_summary(table: pd.DataFrame) -> str:
    """The model's mean absolute error on the films against the training mean's.

    Example:
        >>> scoring_summary(pd.DataFrame({"readers' score": [0, 10], "model": [5, 5], "training mean": [20, 20]}))
        'mean absolute error 5.0 (model) against 15.0 (predicting the training mean), 2 films'
    """
    truth = table["readers' score"]
    model = (table["model"] - truth).abs().mean()
    mean = (table["training mean"] - truth).abs().mean()
    return f"mean absolute error {model:.1f} (model) against {mean:.1f} (predicting the training mean), {len(table)} films"
