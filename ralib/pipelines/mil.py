"""The anatomy-aware attention MIL paper as notebooks 06 and 07 run it. :class:`MIL` holds the steps both
schemes share (instance classifiers, MIL training, the paper's Table 2 beside the whole-image model and the
readers, paired comparisons, attention cases); :class:`Scheme1` adds the foreground, the tiles and the tuned
extractor; :class:`Scheme2` the joint patches at the landmarks of 05's localiser, the attention against the
joints' damage, and the per-hand MIL with its RA stages.

Example:
    >>> Scheme2.NEEDS  # of a data set: Scheme 2 labels its patches by the grades of their sites
    ('image scores', 'SvdH site grades')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ralib import anatomy, artefacts
from ralib.data.annotations import missing_note
from ralib.data.arrays import letterboxed_films
from ralib.data.io import read_radiograph
from ralib.explain import regression_cases
from ralib.explain.attention import attention_vs_damage, instance_squares, patch_damage
from ralib.landmarks.localiser import Localiser
from ralib.landmarks.noise import JitteredLandmarks, landmark_mre_mm
from ralib.landmarks.points import K, film_landmarks
from ralib.metrics import binary_metrics, class_metrics, regression_metrics
from ralib.models.mil import BagScorer
from ralib.ordinal import classes_from_scores, fit_thresholds
from ralib.patches import crop_caches, joint_bags, predicted_landmarks
from ralib.patches.tiles import TILE_CLASSES, foreground_shares, tile_bags, tile_cache
from ralib.pipelines.setting import FilmSetting
from ralib.results.comparisons import paired_comparisons, scoring_table
from ralib.results.whole_image import reader_reference, whole_image_reference
from ralib.tasks import STAGE_CLASSES
from ralib.tasks.bags import bag_name, checkpoint_tag, joint_bag_task, targets_of, tile_bag_task
from ralib.tasks.crops import patch_abnormality, tile_classes
from ralib.tasks.hand_bags import hand_bag_task, hand_targets
from ralib.tasks.segmentation import ForegroundTask, dice, morphology_masks, segmentation_films, true_masks
from ralib.train import fit, recipes, reuse_or_fit, whole_image_recipe
from ralib.train.extract import image_features, image_outputs_of, segment

#: the per-hand staging measures, in the order the notebook shows them
STAGING_COLUMNS = ["accuracy", "balanced_accuracy", "mae", "ra_auc", "ra_accuracy", "ra_sensitivity", "ra_specificity"]


@dataclass
class Table2:
    """The paper's Table 2 on one set of test films: the films, every model's predictions by name, the table
    (rows ``(against, model)``), the readers on the same films and the whole-image reference beside them."""

    test_table: pd.DataFrame
    predictions: dict[str, np.ndarray]
    table: pd.DataFrame
    readers: dict
    best_whole: str
    whole: dict

    @property
    def targets(self) -> dict[str, str]:
        return targets_of(self.test_table)

    def comparisons(self, pairs: dict[str, tuple[str, str]], seed: int = 0) -> pd.DataFrame:
        """Each pair's difference (first minus second) with its 95 % paired-bootstrap interval, per target."""
        return pd.concat({target: paired_comparisons(self.test_table[column], self.predictions, pairs, seed=seed)
                          for target, column in self.targets.items()})  # fmt: skip


@dataclass
class MIL(FilmSetting):
    """What both schemes share, on a data set and its films (:class:`~ralib.pipelines.setting.FilmSetting`)."""

    SIZES = "mil"
    WHO = "the attention MIL (notebooks 06 and 07)"

    def networks(self) -> list[tuple[str, dict]]:
        """The patch or tile classifiers, and 03's whole-image regressors (Table 2's reference row, trained here
        when 03's are not found)."""
        return [(m, {}) for m in dict.fromkeys(self.sizes.patch_models + tuple(m for m, _, _ in self.profile.train.regression))]

    def train_classifiers(self, task) -> dict:
        """The instance classifier of every ``patch_models`` network on ``task`` (tiles or joint patches)."""
        recipe = whole_image_recipe(self.profile.train.paper_recipe, self.profile.speed)
        sizes = self.sizes
        return {model: reuse_or_fit(recipe(model, sizes.patch_epochs, sizes.patch_batch_size, loss="cross_entropy", seed=self.seed,
                                           pretrained=self.weights), task, self.run_dir)
                for model in sizes.patch_models}  # fmt: skip

    def train_mils(self, bag_tasks: dict) -> dict:
        """The paper's MIL (gated attention pooling) on each bag task (named by :func:`~ralib.tasks.bags.bag_name`,
        its checkpoint by :func:`~ralib.tasks.bags.checkpoint_tag`)."""
        mils = {}
        for name, task in bag_tasks.items():
            config = recipes.mil2025(task.features.shape[-1], self.sizes.mil_epochs, self.sizes.mil_batch_size, seed=self.seed,
                                     tag=checkpoint_tag(name), **self.profile.speed("attention_mil"))  # fmt: skip
            mils[name] = reuse_or_fit(config, task, self.run_dir, progress=False)
            print(f"{name}: {mils[name].seconds:.0f} s, best epoch {mils[name].best_epoch + 1}, left out {task.left_out} films")
        return mils

    @staticmethod
    def best_by_validation(mils: dict, bag_tasks: dict) -> list[str]:
        """The MIL runs ordered by validation RMSE, best first."""
        return sorted(mils, key=lambda k: mils[k].evaluate(bag_tasks[k], "val")["rmse"])

    @staticmethod
    def with_ensemble(predictions: dict[str, np.ndarray], members: list[str]) -> tuple[dict[str, np.ndarray], str]:
        """``predictions`` and, added under the name it returns, the mean prediction of ``members``.

        Example:
            >>> MIL.with_ensemble({"a": np.array([1.0, 3.0]), "b": np.array([3.0, 5.0])}, ["a", "b"])
            ({'a': array([1., 3.]), 'b': array([3., 5.]), 'ensemble: a + b': array([2., 4.])}, 'ensemble: a + b')
        """
        name = "ensemble: " + " + ".join(members)
        return {**predictions, name: np.mean([predictions[k] for k in members], axis=0)}, name

    @staticmethod
    def test_predictions(mils: dict, bag_tasks: dict) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The test films (the same for every bag task, or an error) and each MIL's predictions on them."""
        test_ids = {name: tuple(t.table.radiograph_id[t.rows("test")].astype(str)) for name, t in bag_tasks.items()}
        if len(set(test_ids.values())) != 1:
            raise ValueError("the bag tasks left out different test films")
        test_table = next(iter(bag_tasks.values())).table.query("split == 'test'")
        return test_table, {name: f.predict(bag_tasks[name]) for name, f in mils.items()}

    def table2(self, test_table: pd.DataFrame, predictions: dict[str, np.ndarray], look_in: list[Path],
               beside: dict[str, np.ndarray] | None = None) -> Table2:  # fmt: skip
        """The paper's Table 2: ``predictions``, notebook 03's best whole-image regressor on the same films
        (reused from the run folders ``look_in`` where trained alike, else trained here) and ``beside`` (other
        rows, e.g. Scheme 1 in 07), against each target, with the readers on the same films."""
        best, whole_test, svdh, whole = whole_image_reference(self.ds, self.profile, self.run_dir, look_in, self.seed, self.weights)
        predictions = predictions | {f"whole image: {best}": whole_test.reindex(test_table.radiograph_id.astype(str)).to_numpy()}
        predictions |= beside or {}
        print("reused:", {k: str(f.reused_from) if f.reused_from else "trained here" for k, f in whole.items()})
        table = pd.concat({target: scoring_table(test_table[column], predictions, seed=self.seed) for target, column in targets_of(test_table).items()},
                          names=["against"])  # fmt: skip
        return Table2(test_table, predictions, table, reader_reference(svdh), best, whole)

    def attention_cases(self, predictions: np.ndarray, test_table: pd.DataFrame, squares, attention: np.ndarray,
                        damage: np.ndarray | None = None) -> tuple[list[tuple], dict]:  # fmt: skip
        """The MIUA 2024 cases (:func:`regression_cases`) of one model's test predictions, each its film with
        the instances' squares (``squares(n, i)``: centres and sides of test bag ``n`` on film ``i``), their
        attention and, where given, which instances are damaged: ``(film, centres, sides, attention, title,
        damaged)`` as :func:`ralib.plots.attention_on_film` draws them; and the cases with their films' ids."""
        cases = regression_cases(test_table.score.to_numpy(), predictions)
        ids = self.ds.radiographs.radiograph_id.astype(str)
        shown = []
        for case, c in cases.items():
            n = c["index"]
            i = int(np.flatnonzero(ids == test_table.radiograph_id.iloc[n])[0])
            centres, sides = squares(n, i)
            shown.append((read_radiograph(self.ds.radiographs.iloc[i]), centres, sides, attention[n],
                          f"{case}: label {c['true']:.0f}, predicted {c['pred']:.0f}", None if damage is None else damage[n] > 0))  # fmt: skip
        return shown, {k: v | {"radiograph_id": str(test_table.radiograph_id.iloc[v["index"]])} for k, v in cases.items()}


@dataclass
class LandmarkCrops:
    """Scheme 2's joint patches: at the true landmarks, at those of 05's localiser, and at the localiser's
    landmarks moved by its own error (``jittered``, one cache per draw, for training only). On a data set without
    landmarks (RA2-DREAM, ARISE, an image table) only the localiser's: ``true`` is None and ``jittered`` empty."""

    true: object | None
    predicted: object
    jittered: list
    noise_sd_mm: np.ndarray
    size: int

    def noise_summary(self) -> dict[str, float] | None:
        """The localiser's error on the validation films (mm): the median and largest over the landmarks."""
        if not np.isfinite(self.noise_sd_mm).any():
            return None
        return {"median": float(np.nanmedian(self.noise_sd_mm)), "max": float(np.nanmax(self.noise_sd_mm))}


@dataclass
class Scheme2(MIL):
    """Scheme 2: joint patches at the landmarks of notebook 05's ``localiser``."""

    NEEDS = ("image scores", "SvdH site grades")
    WHO = "Scheme 2 (notebook 07: its patches are labelled normal or damaged by the SvdH grades of their sites)"
    localiser: Path | None = field(default=None, kw_only=True)

    def crops(self) -> LandmarkCrops:
        """The patches at the true and the predicted landmarks and at ``landmark_draws`` jittered copies of the
        predicted ones (the localiser's error on the validation films as the jitter's SD)."""
        if self.localiser is None:
            raise ValueError("Scheme 2 cuts its patches at the landmarks of notebook 05's localiser: give its localiser.pt "
                             "(ralib.artefacts.find(run.dir, '05_joint_localisation', 'localiser.pt'))")  # fmt: skip
        localiser = Localiser.load(self.localiser)
        predicted_xy = predicted_landmarks(self.ds, localiser)
        size = self.profile.landmarks.crop_size
        if note := missing_note(self.ds, "landmarks", "the patches at the true landmarks and the jittered training draws "
                                "(the localiser's error on these films cannot be measured)"):  # fmt: skip
            print(note)
            (predicted,) = crop_caches(self.ds, [("patches", localiser)], size)
            print(f"predicted   {predicted.images.shape}  {predicted.folder.name}")
            return LandmarkCrops(None, predicted, [], np.full(K, np.nan), size)
        truth_xy, _ = film_landmarks(self.ds)
        spacing = self.ds.radiographs.spacing_mm.to_numpy(float)
        val_rows = np.flatnonzero(self.ds.radiographs.split.to_numpy() == "val")
        noise_sd_mm = landmark_mre_mm(predicted_xy, truth_xy, spacing, val_rows)
        print(f"landmark MRE on the validation films: median {np.nanmedian(noise_sd_mm):.2f} mm, largest {np.nanmax(noise_sd_mm):.2f} mm")
        jittered = [JitteredLandmarks(predicted_xy, noise_sd_mm, spacing, seed=self.seed * 100 + j) for j in range(self.sizes.landmark_draws)]
        true, predicted, *moved = crop_caches(self.ds, [("patches", None), ("patches", localiser), *[("patches", j) for j in jittered]], size)
        for name, c in [("true", true), ("predicted", predicted)] + [(f"jittered {j}", c) for j, c in enumerate(moved)]:
            print(f"{name:11s} {c.images.shape}  {c.folder.name}")
        return LandmarkCrops(true, predicted, moved, noise_sd_mm, size)

    def patch_task(self, crops: LandmarkCrops):
        """Normal / abnormal joint patches at the predicted landmarks (abnormal: a damaged site by the label)."""
        task = patch_abnormality(crops.predicted, self.films, size=self.sizes.patch_size, balanced=self.sizes.patch_balanced)
        print(f"{task.table.abnormal.mean():.1%} of the patches are abnormal by the label; {task.images.shape[1]} px")
        return task

    def patch_results(self, crops: LandmarkCrops, task, classifiers: dict) -> pd.DataFrame:
        """Each patch classifier on the test patches, against the label and (AUC) against the truth where known."""
        truth = patch_abnormality(crops.predicted, self.films, grade="truth") if "erosion_truth" in crops.predicted.table else None
        keep = ("auc", "accuracy", "sensitivity", "specificity")
        rows = {}
        for model, fitted in classifiers.items():
            rows[model] = {k: v for k, v in fitted.evaluate(task).items() if k in keep}
            if truth is not None:
                rows[model]["auc against the truth"] = truth.evaluate(fitted.predict(task))["auc"]
            rows[model]["minutes"] = round(fitted.seconds / 60, 1)
        return pd.DataFrame(rows).T

    def bag_tasks(self, crops: LandmarkCrops, classifiers: dict, task) -> dict:
        """Per classifier three bag tasks of its truncated features: predicted landmarks with the jittered
        draws in training, predicted landmarks alone, and true landmarks (the first and last where the data set
        has landmarks)."""
        train_ids = set(self.films.radiograph_id[self.films.split == "train"].astype(str))

        def features(cache, model, training_films_only=False):
            only = cache.table.radiograph_id.isin(train_ids).to_numpy().nonzero()[0] if training_films_only else None
            return image_features(classifiers[model].model, cache.images, task, only=only)

        tasks = {}
        for model in self.sizes.patch_models:
            predicted = features(crops.predicted, model)
            if crops.jittered:
                draws = [(c.table, features(c, model, training_films_only=True)) for c in crops.jittered]  # used in training only
                tasks[bag_name(model, "predicted landmarks", "jittered")] = joint_bag_task(self.films, crops.predicted.table, predicted, draws)
            tasks[bag_name(model, "predicted landmarks")] = joint_bag_task(self.films, crops.predicted.table, predicted)
            if crops.true is not None:
                tasks[bag_name(model, "true landmarks")] = joint_bag_task(self.films, crops.true.table, features(crops.true, model))
        return tasks

    def scheme1_row(self, test_table: pd.DataFrame) -> dict[str, np.ndarray]:
        """Notebook 06's best Scheme 1 model on the same test films, from its ``test_predictions.csv`` (empty
        when 06 has not run)."""
        path = artefacts.find(self.run_dir, "06_mil_scheme1_tiles", "test_predictions.csv", required=False, purpose="the Scheme 1 row")
        if path is None:
            return {}
        scheme1 = pd.read_csv(path, dtype={"radiograph_id": str})
        row = scheme1.set_index("radiograph_id").prediction.reindex(test_table.radiograph_id.astype(str)).to_numpy()
        if not np.isfinite(row).all():
            raise ValueError("06 and 07 test films differ")
        return {f"Scheme 1: {scheme1.model.iloc[0]}": row}

    def pairs(self, table2: Table2, best: str) -> dict[str, tuple[str, str]]:
        """The comparisons the paper's ordering rests on, and ours: Scheme 2 against the whole image and Scheme
        1, true against predicted landmarks, jittered against plain training crops."""
        model, whole = self.sizes.patch_models[0], f"whole image: {table2.best_whole}"
        true, plain, jittered = (bag_name(model, *what) for what in (["true landmarks"], ["predicted landmarks"], ["predicted landmarks", "jittered"]))
        pairs = {"best Scheme 2 - whole image": (best, whole),
                 "true - predicted landmarks": (true, jittered),
                 "jittered - plain training crops": (jittered, plain)}
        scheme1 = [name for name in table2.predictions if name.startswith("Scheme 1")]
        pairs |= {"best Scheme 2 - Scheme 1": (best, name) for name in scheme1}
        pairs |= {"Scheme 1 - whole image": (name, whole) for name in scheme1}
        return {k: (a, b) for k, (a, b) in pairs.items() if a in table2.predictions and b in table2.predictions}

    def attention_table(self, mils: dict, bag_tasks: dict, crops: LandmarkCrops, test_table: pd.DataFrame) -> pd.DataFrame:
        """How each MIL's attention on the test films relates to the joints' true damage (:func:`attention_vs_damage`)."""
        rows = {}
        for name, fitted in mils.items():
            table = (crops.true if "true" in name else crops.predicted).table
            instances, mask = joint_bags(table, test_table.radiograph_id.astype(str).to_numpy())
            damage = patch_damage(table, instances, "truth" if "erosion_truth" in table else "grade")
            rows[name] = attention_vs_damage(fitted.outputs(bag_tasks[name], "test")["attention"], damage, mask)
        return pd.DataFrame(rows).T

    @staticmethod
    def severity(test_table: pd.DataFrame, predictions: np.ndarray) -> dict[str, float]:
        """The severity class read off a film score against the label's: accuracy and mean class error."""
        true = anatomy.severity_class(test_table.score.clip(0, 280).to_numpy())
        pred = anatomy.severity_class(np.clip(predictions, 0, 280))
        return {"accuracy": float(np.mean(true == pred)), "class_mae": float(np.mean(np.abs(true - pred)))}

    def cases(self, fitted, task, crops: LandmarkCrops, test_table: pd.DataFrame, predictions: np.ndarray) -> tuple[list[tuple], dict]:
        """The cases of the best model with its attention over the joint patches, damaged joints marked."""
        table = crops.predicted.table
        instances, _ = joint_bags(table, test_table.radiograph_id.astype(str).to_numpy())
        damage = patch_damage(table, instances, "truth" if "erosion_truth" in table else "grade")
        spacing = self.ds.radiographs.spacing_mm.to_numpy(float)

        def squares(n: int, i: int):
            return instance_squares(table, instances[n], spacing[i], crops.size)

        return self.attention_cases(predictions, test_table, squares, fitted.outputs(task, "test")["attention"], damage)

    # --- per hand ------------------------------------------------------------------------------------------

    def per_hand(self, film_task, test_table: pd.DataFrame, film_predictions: np.ndarray, film_model: str) -> dict:
        """The MIL on each hand's bag (the best film model's features): its task, fitted model and test
        predictions, and its scores beside the film MIL's (each hand, a film as the sum of its two hands)."""
        task = hand_bag_task(film_task, hand_targets(self.ds))
        config = recipes.mil2025(task.features.shape[-1], self.sizes.mil_epochs, self.sizes.mil_batch_size, seed=self.seed, tag="per_hand",
                                 **self.profile.speed("attention_mil"))  # fmt: skip
        fitted = reuse_or_fit(config, task, self.run_dir, progress=False)
        pred, test = fitted.predict(task), task.table.iloc[task.rows("test")]
        print(f"per-hand MIL: {fitted.seconds:.0f} s, best epoch {fitted.best_epoch + 1}; {len(test)} test hands, {task.left_out} hands left out")
        sums = pd.Series(pred, index=test.radiograph_id).groupby(level=0).agg(["sum", "size"])
        films = sums["sum"].where(sums["size"] == 2).reindex(test_table.radiograph_id.astype(str)).to_numpy()
        both = np.isfinite(films)
        scoring = pd.concat({target: pd.DataFrame({"per-hand MIL, each hand": regression_metrics(test[column], pred),
                                                   "per-hand MIL, film = sum of its two hands": regression_metrics(test_table[column][both], films[both]),
                                                   f"film MIL ({film_model})": regression_metrics(test_table[column], film_predictions)}).T
                             for target, column in targets_of(test_table).items()}, names=["against"])  # fmt: skip
        return {"task": task, "fitted": fitted, "predictions": pred, "test": test, "scoring": scoring}

    def staging(self, hands: dict) -> tuple[pd.DataFrame, list[float], dict[str, np.ndarray]]:
        """RA stages read off the per-hand score by thresholds fitted on the training hands' labels (and off the
        label's own hand total, the ceiling), recognition (stage > 0) with the score's AUC, beside 03's per-hand
        CNNs on the same test films where 03 has run. Returns the table, the thresholds and the stages read."""
        task, test, pred = hands["task"], hands["test"], hands["predictions"]
        train = task.table.iloc[task.rows("train")]
        thresholds = fit_thresholds(train.score, train.stage, len(STAGE_CLASSES))
        read = {"per-hand MIL score": classes_from_scores(pred, thresholds), "the hand's label total (ceiling)": classes_from_scores(test.score, thresholds)}
        rows = {}
        for target, column in ({"label": "stage"} | ({"truth": "stage_truth"} if "stage_truth" in test else {})).items():
            true = test[column].to_numpy(int)
            for name, stage in read.items():
                recognised = binary_metrics(true > 0, stage > 0)
                rows[(target, name)] = class_metrics(true, stage, len(STAGE_CLASSES)) | {
                    "ra_accuracy": recognised["accuracy"], "ra_sensitivity": recognised["sensitivity"], "ra_specificity": recognised["specificity"]}
                if name.startswith("per-hand"):
                    rows[(target, name)]["ra_auc"] = binary_metrics(true > 0, pred)["auc"]  # the score itself, ranked
        rows |= self._diagnosis_rows()
        return pd.DataFrame(rows).T[STAGING_COLUMNS], [float(t) for t in thresholds], read

    def _diagnosis_rows(self) -> dict:
        path = artefacts.find(self.run_dir, "03_whole_image_cnn", "metrics.json", required=False, purpose="the per-hand CNN rows")
        if path is None:
            return {}
        diagnosis = json.loads(path.read_text())["metrics"]
        rows = {}
        for model, m in diagnosis["staging"].items():  # 03's per-hand CNNs, same test films, their own hand crops
            r = diagnosis["recognition"][model]
            rows[("label", f"03 CNN: {model}")] = {"accuracy": m["accuracy"], "balanced_accuracy": m["sensitivity"], "ra_auc": r["auc"],
                                                   "ra_accuracy": r["accuracy"], "ra_sensitivity": r["sensitivity"], "ra_specificity": r["specificity"]}  # fmt: skip
        return rows


@dataclass
class Foreground:
    """The films letterboxed for segmentation, their foreground three ways (morphology, the U-Net trained on
    it, the truth where the data has it), the segmentation test films and the U-Net's Dice against each."""

    boxed: object
    morphology: np.ndarray
    truth: np.ndarray | None
    masks: np.ndarray
    test: np.ndarray
    dice: pd.Series
    segmenter: object


@dataclass
class Scheme1(MIL):
    """Scheme 1: square tiles over each film's foreground, ranked by an instance classifier (top ``K``)."""

    def networks(self) -> list[tuple[str, dict]]:
        return super().networks() + [("landmark_unet", {"encoder": self.profile.landmarks.encoder})]  # the foreground U-Net

    def foreground(self) -> Foreground:
        """A U-Net trained on morphological foreground masks of a few films (``segmentation_films``), applied to
        every film; its Dice on the segmentation test films against morphology and the truth."""
        sizes = self.sizes
        boxed = letterboxed_films(self.ds, sizes.segmentation_size)
        morphology, truth = morphology_masks(boxed.images), true_masks(self.ds, boxed)
        split = segmentation_films(self.films, *sizes.segmentation_films, seed=self.seed)
        split = split.reindex(self.ds.radiographs.radiograph_id.astype(str)).to_numpy()  # NaN: not used
        used = np.flatnonzero(pd.notna(split))
        task = ForegroundTask(boxed.images[used], morphology[used], pd.DataFrame({"split": split[used]}))
        config = recipes.fast("landmark_unet", sizes.segmentation_epochs, 8, loss="dice_bce", augment="flips", seed=self.seed,
                              pretrained=self.weights, tag="foreground", model_options=(("encoder", self.profile.landmarks.encoder), ("depth", 5)))  # fmt: skip
        segmenter = reuse_or_fit(config, task, self.run_dir)
        masks = segment(segmenter.model, task, boxed.images)  # every film: the tiles' foreground
        test = np.flatnonzero(split == "test")
        scores = {"U-Net vs morphology masks": np.mean([dice(masks[i], morphology[i]) for i in test])}
        if truth is not None:
            scores["U-Net vs true masks"] = np.mean([dice(masks[i], truth[i]) for i in test])
            scores["morphology vs true masks"] = np.mean([dice(morphology[i], truth[i]) for i in test])
        print(f"{len(test)} test films, {segmenter.seconds:.0f} s of training")
        return Foreground(boxed, morphology, truth, masks, test, pd.Series(scores).round(4), segmenter)

    def tiles(self, foreground: Foreground):
        """The tiles of every film and the tile classifier's task (classes from the film's severity and the
        tile's foreground share): the tile cache and the task."""
        tiles = tile_cache(self.ds, self.sizes.patch_size)
        shares = foreground_shares(tiles.table, foreground.masks, foreground.boxed.placement)
        task = tile_classes(tiles, self.films, shares, balanced=self.sizes.patch_balanced)
        print(f"{len(tiles.table)} tiles, {tiles.table.groupby('radiograph_id').size().median():.0f} per film, side {tiles.table.side.median():.0f} px")
        print(task.table.groupby(["split", "tile_class"]).size().unstack().rename(columns=dict(enumerate(TILE_CLASSES))))
        return tiles, task

    @staticmethod
    def tile_results(classifiers: dict, task) -> pd.DataFrame:
        """Each tile classifier on the test tiles."""
        rows = {}
        for model, fitted in classifiers.items():
            m = fitted.evaluate(task)
            rows[model] = {"accuracy": m["accuracy"], "balanced accuracy": m["sensitivity"], "macro AUC": m["auc"], "minutes": round(fitted.seconds / 60, 1)}
        return pd.DataFrame(rows).T

    def bag_tasks(self, classifiers: dict, tiles, task) -> tuple[dict, dict]:
        """Per classifier and ``K`` of ``tile_k`` a bag of each film's top-K tiles by the classifier's
        abnormality, as its truncated features; also every tile's class probabilities by classifier."""
        bag_tasks, probabilities = {}, {}
        for model, classifier in classifiers.items():
            out = image_outputs_of(classifier.model, tiles.images, task)  # every tile of every film
            probabilities[model] = out["predictions"]
            for k in self.sizes.tile_k:
                bag_tasks[bag_name(model, f"K={k}")] = tile_bag_task(self.films, tiles.table, out["features"], out["predictions"], k)
        return bag_tasks, probabilities

    def fine_tune(self, classifiers: dict, mils: dict, bag_tasks: dict, tiles, task, probabilities: dict) -> tuple[str, object, object]:
        """The best frozen run (by validation RMSE) tuned end to end: the truncated classifier and its MIL on
        the same tiles as images. Returns its name, the fitted model (kept in memory only) and its bag task."""
        best = self.best_by_validation(mils, bag_tasks)[0]
        model, k = best.split(", K=")
        scorer = BagScorer.from_trained(classifiers[model].model, mils[best].model)
        bags = tile_bag_task(self.films, tiles.table, tiles.images, probabilities[model], int(k), standardise=(task.pixel_mean, task.pixel_sd))
        config = recipes.mil2025(scorer.mil.pool.in_dim, self.sizes.finetune_epochs, self.sizes.finetune_batch_size, seed=self.seed,
                                 tag=f"fine-tuned K={k}")  # fmt: skip
        fitted = fit(scorer, bags, config, progress=False)
        print(f"{best}, fine-tuned: {fitted.seconds:.0f} s, best epoch {fitted.best_epoch + 1}")
        return f"{best}, fine-tuned", fitted, bags

    def write_test_predictions(self, test_table: pd.DataFrame, name: str, predictions: np.ndarray) -> Path:
        """``test_predictions.csv`` in the run folder: the model ``name``'s prediction of each test film, from
        which notebook 07 puts Scheme 1 in its Table 2."""
        path = self.run_dir / "test_predictions.csv"
        pd.DataFrame({"radiograph_id": test_table.radiograph_id.astype(str), "model": name, "prediction": predictions}).to_csv(path, index=False)
        return path

    def cases(self, fitted, task, tiles, probabilities: dict, name: str, test_table: pd.DataFrame, predictions: np.ndarray) -> tuple[list[tuple], dict]:
        """The cases of model ``name`` with its attention over its top-K tiles."""
        model, k = name.split(", ")[0], task.mask.shape[1]
        instances, _ = tile_bags(tiles.table, probabilities[model], test_table.radiograph_id.astype(str).to_numpy(), k)
        spacing = self.ds.radiographs.spacing_mm

        def squares(n: int, i: int):
            return instance_squares(tiles.table, instances[n], spacing.iloc[i])

        return self.attention_cases(predictions, test_table, squares, fitted.outputs(task, "test")["attention"])
