"""The MIUA 2024 paper's tables for whole-image models (notebooks 03, 04): one row per fitted model, the
baselines beside it (the training mean, a ridge on thumbnails, the readers), the regression read as classes,
and the whole-image reference that 06 and 07 compare their MIL models with.

Example:
    >>> import numpy as np, pandas as pd
    >>> from ralib.tasks import ImageTask
    >>> table = pd.DataFrame({"split": ["train", "train", "test", "test"], "score": [0.0, 20.0, 5.0, 15.0]})
    >>> task = ImageTask("demo", "regression", np.zeros((4, 8, 8), np.float16), table, "score")
    >>> mean_baseline(task)["rmse"]
    5.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.data.arrays import film_array
from ralib.metrics import bootstrap_interval, class_metrics, regression_metrics
from ralib.tasks import ImageTask, svdh_regression
from ralib.train import predict, reuse_or_fit, whole_image_recipe


def results_table(fits: dict, task: ImageTask, split: str = "test") -> pd.DataFrame:
    """One row per fitted model: its configuration, best epoch, training time and the task's measures
    (for regression with a 95 % bootstrap interval of the PCC, ``pcc_low`` - ``pcc_high``)."""
    rows = []
    for label, fitted in fits.items():
        c = fitted.config
        row = {"run": label, "model": c.model, "loss": c.loss, "batch_size": c.batch_size, "freezing": c.freeze or "none",
               "start": c.tag or "scratch", "best_epoch": fitted.best_epoch + 1, "minutes": round(fitted.seconds / 60, 1),
               **_measures(fitted.evaluate(task, split))}  # fmt: skip
        if task.measure == "regression":  # small test sets: say how uncertain the correlation is
            row["pcc_low"], row["pcc_high"] = bootstrap_interval(task.truth(split), fitted.predict(task, split))
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["run", "model"])  # no fits: an empty table, not a column-less one


def _measures(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "n"}


def mean_baseline(task: ImageTask, split: str = "test") -> dict:
    """The measures of always predicting the training mean (regression) or the most frequent training
    class: what a model must beat to have learnt anything from the images."""
    train = task.table[task.table.split == "train"][task.target]
    n = len(task.rows(split))
    if task.kind == "regression":
        return regression_metrics(task.truth(split), np.full(n, train.mean()))
    probabilities = np.tile(np.bincount(train.astype(int), minlength=len(task.classes)) / len(train), (n, 1))
    return task.evaluate(probabilities, split)


def reader_reference(task: ImageTask, split: str = "test") -> dict[str, dict]:
    """How the simulated (or real) readers do on the same films: reader 2 against reader 1, and, for
    synthetic data, the label (mean of the readers) against the noise-free truth."""
    t = task.table.iloc[task.rows(split)]
    out = {}
    if {"score_reader_1", "score_reader_2"} <= set(t.columns) and t.score_reader_1.notna().all():
        if task.measure == "regression":
            out["reader 2 vs reader 1"] = regression_metrics(t.score_reader_1, t.score_reader_2)
        elif task.measure == "severity":
            out["reader 2 vs reader 1"] = class_metrics(anatomy.severity_class(t.score_reader_1.clip(0, 280).to_numpy()),
                                                        anatomy.severity_class(t.score_reader_2.clip(0, 280).to_numpy()), 10)  # fmt: skip
    if "truth_total" in t and t.truth_total.notna().all() and task.measure == "regression":
        out["label vs truth"] = regression_metrics(t.truth_total, t.score)
    return {k: _measures(v) for k, v in out.items()}


def against_truth(fits: dict, task: ImageTask, split: str = "test") -> pd.DataFrame:
    """Synthetic data only: each regressor's measures against the noise-free total instead of the label."""
    t = task.table.iloc[task.rows(split)]
    if "truth_total" not in t or t.truth_total.isna().any():
        return pd.DataFrame()
    return pd.DataFrame([{"run": k, **_measures(regression_metrics(t.truth_total, f.predict(task, split)))} for k, f in fits.items()])


def regression_as_classes(task: ImageTask, predictions: np.ndarray, split: str = "test") -> dict:
    """A regressor used as a severity classifier: its predicted score's class against the label's class
    (MIUA 2024, "regression to classification")."""
    true = anatomy.severity_class(task.truth(split).clip(0, 280))
    pred = anatomy.severity_class(np.clip(predictions, 0, 280))
    return _measures(class_metrics(true, pred, len(anatomy.SEVERITY_LABELS)))


def thumbnail_ridge(task: ImageTask, size: int = 24, split: str = "test") -> dict:
    """A non-deep reference for a regression task: ridge regression on ``size`` x ``size`` thumbnails
    (penalty chosen by cross-validation on the training images). If it beats the training mean while
    a CNN does not, the images carry signal the CNN failed to learn."""
    import cv2
    from sklearn.linear_model import RidgeCV

    def thumbs(rows):
        return np.stack([cv2.resize(task.images[i].astype(np.float32), (size, size), interpolation=cv2.INTER_AREA).ravel() for i in rows])

    train = task.rows("train")
    ridge = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(thumbs(train), task.truth("train"))
    return _measures(regression_metrics(task.truth(split), ridge.predict(thumbs(task.rows(split)))))


def verdict(table: pd.DataFrame, baseline: dict, measure: str = "rmse") -> str:
    """One sentence: which runs beat the baseline on ``measure`` (lower is better)."""
    better = table[table[measure] < baseline[measure]]
    if not len(better):
        return f"No run beats the baseline's test {measure.upper()} of {baseline[measure]:.2f}."
    return f"{len(better)} of {len(table)} runs beat the baseline's test {measure.upper()} of {baseline[measure]:.2f}: " + ", ".join(better.run)


def lowest_validation_rmse(models: dict, task: ImageTask):
    """The key of the model in ``models`` of lowest RMSE on ``task``'s validation films: how a whole-film
    regressor is chosen among 03's runs (their losses differ in scale, their validation losses do not compare).

    Example:
        >>> lowest_validation_rmse({"mse b4": mse_model, "smooth b16": smooth_model}, svdh)   # doctest: +SKIP
        'smooth b16'
    """
    def rmse(model) -> float:
        return task.evaluate(task.decode(predict(model, task.dataset("val"), task.forward, task.collate), "val"), "val")["rmse"]

    return min(models, key=lambda key: rmse(models[key]))


def whole_image_reference(ds, profile, run_dir, look_in=(), seed: int = 0, weights: str = "random") -> tuple[str, pd.Series, ImageTask, dict]:
    """Notebook 03's whole-image regressors of ``profile`` (from the start ``weights``) for a comparison on the same films: each loaded
    from a checkpoint in ``run_dir`` or ``look_in`` (e.g. 03's run folder) when trained with the same
    configuration, data and code, else trained again (:func:`ralib.train.reuse_or_fit`). Returns the best
    by validation RMSE (the losses differ in scale), its test predictions by ``radiograph_id``, the task
    (for :func:`reader_reference`) and every fitted run by label.

    Example:
        >>> name, test, svdh, fits = whole_image_reference(ds, profile, run.dir, [run.dir.parent / "03_whole_image_cnn"])  # doctest: +SKIP
    """
    svdh = svdh_regression(ds, film_array(ds, profile.train.image_size), seed=seed)
    recipe = whole_image_recipe(profile.train.paper_recipe, profile.speed)  # as notebook 03 builds them
    fits = {}
    for model, loss, batch in profile.train.regression:
        config = recipe(model, profile.train.epochs, batch, loss=loss, seed=seed, pretrained=weights)
        fits[config.label] = reuse_or_fit(config, svdh, run_dir, look_in=look_in, progress=False)
    best = lowest_validation_rmse({label: fit.model for label, fit in fits.items()}, svdh)
    test = pd.Series(fits[best].predict(svdh), index=svdh.table.radiograph_id.iloc[svdh.rows("test")].astype(str).to_numpy())
    return best, test, svdh, fits
