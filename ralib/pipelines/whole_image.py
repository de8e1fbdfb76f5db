"""Whole-image CNNs as notebooks 03 and 04 run them (the MIUA 2024 paper and the 2024 diagnosis paper): the total
SvdH score regressed and its severity class predicted from the whole film beside their baselines and the readers;
per-hand RA recognition and staging with their ROC curves, confusion matrices and t-SNE (:class:`WholeImage`);
transfer from bone age, stacking ensembles and Grad-CAM of the papers' cases (:class:`Transfer`). Each step is one call.

Example:
    >>> columns = REGRESSION_COLUMNS
    >>> columns[:3]
    ('pcc', 'pcc_low', 'pcc_high')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ralib import anatomy, explain, tasks
from ralib.data.annotations import missing_note
from ralib.data.arrays import film_array, hand_array, input_pixel_mm
from ralib.metrics import class_metrics, regression_metrics
from ralib.pipelines.setting import Setting
from ralib.results.whole_image import (
    against_truth,
    mean_baseline,
    reader_reference,
    regression_as_classes,
    results_table,
    thumbnail_ridge,
    verdict,
)
from ralib.stacking import StackedClassifier, StackedRegressor, member_outputs, pick_members
from ralib.train import hand_config, reuse_or_fit, transfer_grid, whole_image_recipe

#: the regression measures the run records, and the classification ones
REGRESSION_COLUMNS = ("pcc", "pcc_low", "pcc_high", "mae", "rmse", "best_epoch", "minutes")
CLASSIFICATION_COLUMNS = ("accuracy", "balanced_accuracy", "pcc", "mae", "rmse")
#: the per-hand measures of the diagnosis paper's tables
HAND_COLUMNS = ["auc", "accuracy", "sensitivity", "specificity", "f1"]


@dataclass
class WholeImage(Setting):
    """The whole-image steps on a data set (:class:`~ralib.pipelines.setting.Setting`: ``sizes`` is the
    profile's ``train``)."""

    WHO = "the whole-image CNNs (notebooks 03 and 04)"

    @property
    def recipe(self):
        """The profile's recipe, with its arithmetic (bf16 / channels-last where faster)."""
        return whole_image_recipe(self.sizes.paper_recipe, self.profile.speed)

    def networks(self) -> list[tuple[str, dict]]:
        sizes = self.sizes
        return [(m, {}) for m, *_ in sizes.regression + sizes.classification] + [(m, {}) for m in sizes.hand_models]

    def describe(self) -> str:
        sizes = self.sizes
        return (f"networks from {self.weights} weights; whole images at {sizes.image_size} px for {sizes.epochs} epochs, hands at {sizes.hand_size} px for "
                f"{sizes.hand_epochs} epochs, recipe: {self.recipe.__doc__.splitlines()[0]}")  # fmt: skip

    # --- whole films ---------------------------------------------------------------------------------------

    def film_tasks(self) -> tuple[np.ndarray, object, object, float | None]:
        """The films at ``image_size``, the SvdH regression and severity tasks on them (patient-level split),
        and the millimetres one input pixel spans."""
        films = film_array(self.ds, self.sizes.image_size)
        svdh = tasks.svdh_regression(self.ds, films, seed=self.seed)
        severity = tasks.severity(self.ds, films, seed=self.seed)
        print(*svdh.notes, sep="\n")
        pixel_mm = input_pixel_mm(self.ds, self.sizes.image_size)
        if pixel_mm:
            print(f"one input pixel spans {pixel_mm:.2f} mm of the film (joint spaces are 1-2 mm wide, early erosions 1-3 mm)")
        print(svdh.table.groupby("split").score.describe().round(1))
        return films, svdh, severity, pixel_mm

    @staticmethod
    def input_examples(films: np.ndarray, svdh, n: int = 4) -> tuple[list[np.ndarray], list[str]]:
        """``n`` films spread over the label's range, as the models see them, with their labels."""
        picked = np.argsort(svdh.table.score.to_numpy())[np.linspace(0, len(svdh.table) - 1, n).astype(int)]
        return [films[i].astype(np.float32) for i in picked], [f"label {svdh.table.score[i]:.1f}" for i in picked]

    def train(self, task, models) -> dict:
        """Every ``(model, loss, batch)`` (regression) or ``(model, batch)`` (classification) of the profile on ``task``."""
        fits = {}
        for model, *loss, batch in models:
            config = self.recipe(model, self.sizes.epochs, batch, loss=loss[0] if loss else "cross_entropy", seed=self.seed, pretrained=self.weights)
            fits[config.label] = reuse_or_fit(config, task, self.run_dir)
        return fits

    @staticmethod
    def regression_table(regressors: dict, svdh) -> tuple[pd.DataFrame, dict]:
        """The MIUA 2024 regression table: each run on the test films, and beside it the training mean, a ridge
        on 24-px thumbnails and the readers (a sentence says which runs beat the mean)."""
        regression = results_table(regressors, svdh)
        references = {"predict the training mean": mean_baseline(svdh), "ridge on 24-px thumbnails": thumbnail_ridge(svdh),
                      **reader_reference(svdh)}  # fmt: skip
        print(verdict(regression, references["predict the training mean"]))
        return regression, references

    @staticmethod
    def classification_table(classifiers: dict, severity, svdh, regressors: dict, best: str) -> tuple[pd.DataFrame, dict]:
        """The severity classification table: each run, the ``best`` regressor read as classes, the most
        frequent class and the readers."""
        classification = results_table(classifiers, severity)
        references = {f"regressor {best} as classifier": regression_as_classes(svdh, regressors[best].predict(svdh)),
                      "predict the most frequent class": mean_baseline(severity), **reader_reference(severity)}  # fmt: skip
        print(verdict(classification, references["predict the most frequent class"], "mae"))
        return classification, references

    @staticmethod
    def readers(task) -> dict:
        """The simulated readers on the test films (reader 2 against reader 1; the label against the truth)."""
        return reader_reference(task)

    @staticmethod
    def reader_scores(svdh) -> tuple | None:
        """The two readers' totals of the test films, where the data has them (a reference in the scatter)."""
        test = svdh.table.iloc[svdh.rows("test")]
        return (test.score_reader_1, test.score_reader_2) if "score_reader_1" in test else None

    @staticmethod
    def severity_confusions(classifier, classifier_name: str, severity, regressor, regressor_name: str, svdh) -> dict[str, tuple]:
        """The severity class of the test films from the classifier and from the regressor's score, each
        against the label's: ``{title: (true, predicted, classes)}``."""
        true = severity.truth("test")
        from_score = anatomy.severity_class(np.clip(regressor.predict(svdh), 0, 280))
        return {f"classifier {classifier_name}": (true, classifier.predict(severity).argmax(1), anatomy.SEVERITY_LABELS),
                f"regressor {regressor_name} as classifier": (true, from_score, anatomy.SEVERITY_LABELS)}

    @staticmethod
    def against_truth(regressors: dict, svdh) -> pd.DataFrame:
        """The same regressors against the noise-free total (synthetic data only)."""
        return against_truth(regressors, svdh)

    # --- per hand ------------------------------------------------------------------------------------------

    def hand_tasks(self) -> tuple[tuple, float | None]:
        """Every hand at ``hand_size`` (the films split at the minimum-energy seam), the recognition (RA or not)
        and staging tasks on them, and the share of hands cut with every joint on their side; no tasks (with a
        note) where the data set has no SvdH site grades to stage a hand from (ARISE, an image table)."""
        if note := missing_note(self.ds, "SvdH site grades", "the per-hand recognition and staging (a hand's stage is read off them)"):
            print(note)
            return (), None
        hands, table = hand_array(self.ds, self.sizes.hand_size)
        seam_ok = table.seam_correct.dropna()
        if len(seam_ok):
            print(f"seam split: {seam_ok.mean():.1%} of {len(seam_ok)} hands cut with every joint on their side")
        recognition = tasks.recognition(self.ds, hands, table, seed=self.seed)
        staging = tasks.staging(self.ds, hands, table, seed=self.seed)
        print(pd.crosstab(staging.table.stage.map(dict(enumerate(tasks.STAGE_CLASSES))), staging.table.split))
        return (recognition, staging), float(seam_ok.mean()) if len(seam_ok) else None

    def train_hands(self, *hand_tasks) -> dict[str, dict]:
        """Every ``hand_models`` network on each task: ``{task: {model: fitted}}`` (none in the cpu profile)."""
        fits = {task.name: {} for task in hand_tasks}
        for task in hand_tasks:
            for model in self.sizes.hand_models:
                config = hand_config(model, self.sizes.hand_epochs, self.sizes.hand_batch_size, self.sizes.paper_recipe, self.seed,
                                     self.profile.speed, pretrained=self.weights)  # fmt: skip
                fits[task.name][config.model] = reuse_or_fit(config, task, self.run_dir)
        return fits

    @staticmethod
    def hand_results(fits: dict[str, dict], *hand_tasks) -> dict[str, pd.DataFrame]:
        """The diagnosis paper's tables: each model on the test hands beside the most frequent class."""
        results = {}
        for task in hand_tasks:
            results[task.name] = results_table(fits[task.name], task).set_index("model").reindex(columns=HAND_COLUMNS)
            results[task.name].loc["predict the most frequent class"] = {k: v for k, v in mean_baseline(task).items() if k != "n"}
        return results

    @staticmethod
    def roc_curves(fits: dict[str, dict], *hand_tasks) -> dict[str, dict]:
        """ROC inputs ``{"<task>, <split>": {model: (true, score)}}`` on the training and test hands; staging
        as RA (any stage) against normal from the normal-class probability, as in the paper's ROC panels."""
        curves = {}
        for task in hand_tasks:
            for split in ("train", "test"):
                panel = {}
                for model, fitted in fits[task.name].items():
                    p, true = fitted.predict(task, split), task.truth(split)
                    panel[model] = (true > 0, 1 - p[:, 0]) if task.name == "staging" else (true, p[:, 1])
                curves[f"{task.name}, {split}"] = panel
        return curves

    @staticmethod
    def confusions(fits: dict[str, dict], *hand_tasks) -> dict[str, tuple]:
        """``{"<task>: <model>": (true, predicted, classes)}`` on the test hands."""
        return {f"{task.name}: {model}": (task.truth("test"), fitted.predict(task).argmax(1), task.classes)
                for task in hand_tasks for model, fitted in fits[task.name].items()}  # fmt: skip

    def embeddings(self, fits: dict[str, dict], *hand_tasks) -> dict[str, tuple]:
        """``{"<task>: <model>": (t-SNE of the test hands' features, true class, classes)}``."""
        return {f"{task.name}: {model}": (explain.tsne(fitted.outputs(task, "test")["features"], self.seed), task.truth("test"), task.classes)
                for task in hand_tasks for model, fitted in fits[task.name].items()}  # fmt: skip


@dataclass
class Transfer(WholeImage):
    """Notebook 04 (the MIUA 2024 paper's transfer learning and stacking): each architecture pretrained on bone
    age (from the start ``weights``), then tuned on the SvdH tasks from scratch, from bone age under each freezing
    scheme, and from ImageNet unless ``weights`` is random; stacking ensembles of the best members; Grad-CAM of the
    papers' cases."""

    def networks(self) -> list[tuple[str, dict]]:
        return [(m, {}) for m in dict.fromkeys(m for m, _ in self.sizes.transfer)]

    def describe(self) -> str:
        sizes = self.sizes
        return (f"networks from {self.weights} weights; images at {sizes.image_size} px, {sizes.pretrain_epochs} pretraining and {sizes.epochs} tuning epochs, batch "
                f"{sizes.batch_size}; recipe: {self.recipe.__doc__.splitlines()[0]}; runs: " + ", ".join(f"{m} ({s})" for m, s in sizes.transfer))  # fmt: skip

    def pretrain(self, children) -> tuple[dict[str, str], pd.DataFrame]:
        """Each architecture of ``transfer`` regressing bone age on ``children``: its checkpoint by model, and
        its validation error (months) beside the training mean's."""
        sizes = self.sizes
        bone_age = tasks.bone_age(children, film_array(children, sizes.image_size), seed=self.seed)
        checkpoints, measures = {}, {}
        for model in dict.fromkeys(m for m, _ in sizes.transfer):
            config = self.recipe(model, sizes.pretrain_epochs, sizes.batch_size, seed=self.seed, pretrained=self.weights)
            fitted = reuse_or_fit(config, bone_age, self.run_dir)
            checkpoints[model] = str(fitted.checkpoint)
            measures[model] = {**fitted.evaluate(bone_age, "val"), "best_epoch": fitted.best_epoch + 1}
        return checkpoints, pd.DataFrame(measures).T.assign(baseline_mae=mean_baseline(bone_age, "val")["mae"])

    def transfer(self, svdh, severity, pretrained: dict[str, str], look_in=()) -> tuple[dict, dict]:
        """The transfer grid on both tasks (runs from scratch reused from ``look_in``, notebook 03's folder, when
        trained there on the same data by the same code): ``(regressors, classifiers)``."""
        sizes = self.sizes
        grid = {loss: transfer_grid(sizes.transfer, sizes.epochs, sizes.batch_size, loss, pretrained, sizes.paper_recipe, self.seed,
                                    self.weights, self.profile.speed) for loss in ("mse", "cross_entropy")}  # fmt: skip
        regressors = {c.label: reuse_or_fit(c, svdh, self.run_dir, look_in=look_in) for c in grid["mse"]}
        classifiers = {c.label: reuse_or_fit(c, severity, self.run_dir, look_in=look_in) for c in grid["cross_entropy"]}
        return regressors, classifiers

    @staticmethod
    def stacking(regressors: dict, classifiers: dict, svdh, severity) -> dict:
        """MIUA 2024's stacking: the best members (:func:`pick_members`) stacked on the validation films, the
        regressors by a weighted sum, the classifiers by both of the paper's principles; their test measures
        beside the training mean and the readers (``table``), the members, the weights and the stacked scores."""
        members = pick_members(regressors)
        stack = StackedRegressor().fit(member_outputs(regressors, members, svdh, "val"), svdh.truth("val"))
        scores = stack.predict(member_outputs(regressors, members, svdh, "test"))
        rows = {"regression: " + " & ".join(members): regression_metrics(svdh.truth("test"), scores)}
        class_members = pick_members(classifiers)
        for principle in ("all", "single"):
            stacked = StackedClassifier(principle).fit(member_outputs(classifiers, class_members, severity, "val"), severity.truth("val"))
            predicted = stacked.predict(member_outputs(classifiers, class_members, severity, "test"))
            rows[f"classes ({principle}): " + " & ".join(class_members)] = class_metrics(severity.truth("test"), predicted, 10)
        print("regression weights:", dict(zip(members, stack.weights.round(3))))
        return {"ensembles": pd.DataFrame(rows).T.drop(columns="n"), "members": members, "class_members": class_members,
                "weights": dict(zip(members, stack.weights)), "scores": scores,
                "references": pd.DataFrame({"predict the training mean": mean_baseline(svdh), **reader_reference(svdh)}).T.drop(columns="n")}  # fmt: skip

    @staticmethod
    def gradcam_cases(regressors: dict, classifiers: dict, svdh, severity) -> dict:
        """Grad-CAM over the MIUA 2024 cases of the best regressor and the best classifier (by validation loss):
        each model's name, its cases and their maps."""
        out = {}
        for kind, fits, task, cases_of, classify in (("regressor", regressors, svdh, explain.regression_cases, False),
                                                      ("classifier", classifiers, severity, explain.class_cases, True)):  # fmt: skip
            best = min(fits, key=lambda k: fits[k].history.valid_loss.min())
            predicted = fits[best].predict(task)
            cases = cases_of(task.truth("test"), predicted.argmax(1) if classify else predicted)
            out[kind] = {"model": best, "cases": cases, "maps": explain.case_maps(fits[best].model, task, cases, classify=classify)}
        return out
