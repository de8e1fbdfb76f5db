"""Finding the joints as notebook 05 runs it (the MIL paper's dual-hand landmark model): the coarse pass on the
whole film and the fine pass in windows around its guesses, the localiser kept on validation and at its last
epoch, the paper's Table 1 (MRE and SDR) by landmark group and film type, the crops the later notebooks cut
at the predicted landmarks and the RAM-H1200 layout. Each step is one call.

Example:
    >>> TABLE1_COLUMNS[:2]
    ['mre', 'mre_sd']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ralib import anatomy, geometry
from ralib.data.arrays import letterboxed_films_at
from ralib.data.io import read_radiograph
from ralib.landmarks.localiser import Localiser
from ralib.landmarks.points import K, crop_containment, film_landmarks, landmark_report, report_table
from ralib.landmarks.robustness import robustness_table
from ralib.patches import crop_caches, read_ramh1200, write_ramh1200
from ralib.pipelines.setting import Setting
from ralib.tasks.landmarks import FineLandmarkTask, LandmarkTask
from ralib.train import build_model, fit, recipes

#: the measures of the paper's Table 1, in its order
TABLE1_COLUMNS = ["mre", "mre_sd", "sdr_2", "sdr_3", "sdr_4", "sdr_10", "n"]


@dataclass
class Films:
    """The films letterboxed for both passes, their true landmarks (n, 74, 2) and which hand pose each block
    holds, their table, spacing, the millimetres a pixel spans in each pass, and which films are flipped."""

    coarse: object
    fine: object
    points: np.ndarray
    block_hands: np.ndarray
    table: pd.DataFrame
    spacing: np.ndarray
    coarse_mm: float
    fine_mm: float
    flipped: np.ndarray


@dataclass
class Localisation(Setting):
    """The localiser's steps on a data set (:class:`~ralib.pipelines.setting.Setting`)."""

    SIZES = "landmarks"
    NEEDS = ("landmarks",)
    WHO = "notebook 05 (it trains and measures the localiser on them)"

    def films(self) -> Films:
        """Every film letterboxed at the coarse and the fine size, with its true landmarks."""
        sizes = self.sizes
        coarse, fine = letterboxed_films_at(self.ds, (sizes.coarse_size, sizes.fine_film_size))
        points, block_hands = film_landmarks(self.ds)
        table = self.ds.radiographs.reset_index(drop=True)
        spacing = table.spacing_mm.to_numpy(float)
        coarse_mm = np.nanmedian(spacing / coarse.placement.sx.to_numpy())
        fine_mm = np.nanmedian(spacing / fine.placement.sx.to_numpy())
        print(f"coarse pass: {sizes.coarse_size} px, {coarse_mm:.2f} mm a pixel; fine pass: {sizes.fine_film_size} px, "
              f"{fine_mm:.2f} mm a pixel, windows of {sizes.fine_crop} px = {sizes.fine_crop * fine_mm:.0f} mm")  # fmt: skip
        flipped = table.flipped.astype(bool).to_numpy() if "flipped" in table else np.zeros(len(table), bool)
        print(pd.crosstab(table.split, pd.Series(np.where(flipped, "flipped", "unflipped"), name="film")))
        return Films(coarse, fine, points, block_hands, table, spacing, coarse_mm, fine_mm, flipped)

    @staticmethod
    def true_landmark_examples(films: Films) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """An unflipped and a flipped film (the second film where none is flipped) with their true landmarks."""
        flipped, table = films.flipped, films.table
        examples = [int(np.flatnonzero(~flipped)[0]), int(np.flatnonzero(flipped)[0]) if flipped.any() else 1]
        return [(read_radiograph(table.iloc[i]), films.points[i],
                 f"{table.radiograph_id[i]}: {'flipped' if flipped[i] else 'unflipped'}; orange = left-hand pose "
                 f"({films.block_hands[i, 0]}), cyan = right-hand pose ({films.block_hands[i, 1]})") for i in examples]  # fmt: skip

    def networks(self) -> list[tuple[str, dict]]:
        return [("landmark_unet", {"encoder": self.sizes.encoder})]

    def train_coarse(self, films: Films) -> tuple:
        """The coarse U-Net on the whole letterboxed film (both hands' landmarks as heatmaps): its task, its
        configuration, the fitted model and its validation MRE in mm."""
        sizes = self.sizes
        task = LandmarkTask(films.coarse, films.points, films.table, sigma=1.5)
        config = recipes.landmarks("landmark_unet", sizes.coarse_epochs, sizes.batch_size, seed=self.seed, pretrained=self.weights,
                                   model_options=(("encoder", sizes.encoder), ("depth", 5)), **self.profile.speed(sizes.encoder))  # fmt: skip
        fitted = fit(build_model(config, task.num_outputs), task, config, self.run_dir)
        val = task.rows("val")
        mre = landmark_report(films.points[val], fitted.predict(task, "val"), films.table.iloc[val])["true spacing | all | all"]["mre"]
        print(f"{fitted.seconds / 60:.1f} min; best epoch {fitted.best_epoch + 1} of {sizes.coarse_epochs}; validation MRE of the coarse pass {mre:.2f} mm")
        return task, config, fitted, mre

    def train_fine(self, films: Films, coarse_val_mre: float) -> tuple:
        """The fine U-Net on windows around each landmark, displaced in training by 1.5 times the coarse pass's
        validation MRE (2 mm at least, 30 % of a window at most): its task, configuration, fitted model and the
        displacement in mm."""
        sizes = self.sizes
        jitter_mm = float(np.clip(1.5 * coarse_val_mre, 2.0, 0.3 * sizes.fine_crop * films.fine_mm))
        task = FineLandmarkTask(films.fine, films.points, films.table, crop=sizes.fine_crop, jitter_mm=jitter_mm,
                                per_film=sizes.fine_crops_per_film, sigma=1.5)  # fmt: skip
        config = recipes.landmarks("landmark_unet", sizes.fine_epochs, sizes.fine_batch_size, seed=self.seed, pretrained=self.weights,
                                   model_options=(("encoder", sizes.encoder), ("depth", 4)),  # windows: 16-px multiples
                                   **self.profile.speed(sizes.encoder))  # fmt: skip
        fitted = fit(build_model(config, task.num_outputs), task, config, self.run_dir)
        print(f"windows displaced by {jitter_mm:.1f} mm (SD); {fitted.seconds / 60:.1f} min; best epoch {fitted.best_epoch + 1}; "
              f"validation windows: {fitted.evaluate(task, 'val')}")  # fmt: skip
        return task, config, fitted, jitter_mm

    @staticmethod
    def localisers(coarse: tuple, fine: tuple) -> dict[str, Localiser]:
        """The two passes as one localiser, with the weights of their best validation epoch and of their last."""
        (task, config, fitted, _), (fine_task, fine_config, fine_fitted, _) = coarse, fine
        options = dict(config.model_options), dict(fine_config.model_options)
        return {"best validation": Localiser.from_tasks(fitted.model, fine_fitted.model, task, fine_task, *options),
                "last epoch": Localiser.from_tasks(fitted.last_epoch_model(2 * K), fine_fitted.last_epoch_model(K), task, fine_task, *options)}

    @staticmethod
    def table1(localisers: dict[str, Localiser], films: Films, test: np.ndarray) -> tuple[pd.DataFrame, dict]:
        """The paper's Table 1 on the ``test`` films: each localiser's coarse pass and both passes, by spacing
        (true or the wrist rule), film type and landmark group; also the predictions by (localiser, pass)."""
        predictions, tables = {}, {}
        for selection, localiser in localisers.items():
            first, second = localiser.locate_boxed(films.coarse, films.fine, test)
            for name, p in (("coarse", first), ("coarse + fine", second)):
                predictions[selection, name] = p
                tables[selection, name] = report_table(landmark_report(films.points[test], p, films.table.iloc[test]))
        return pd.concat(tables, names=["model", "pass"]), predictions

    @staticmethod
    def per_group(best, films: Films, test: np.ndarray) -> tuple[pd.DataFrame, dict]:
        """The best localiser on the test films by film type and landmark group (true spacing), and how often
        it calls each hand present or absent rightly."""
        report = landmark_report(films.points[test], best, films.table.iloc[test])
        return report_table(report).loc["true spacing"], report["presence"]

    @staticmethod
    def robustness(localiser: Localiser, films: Films, test: np.ndarray, n: int) -> pd.DataFrame:
        """The localiser on the first ``n`` test films turned into each robustness scenario (:func:`robustness_table`)."""
        chosen = test[:n]
        images = [read_radiograph(films.table.iloc[i]) for i in chosen]
        return robustness_table(localiser, images, films.points[chosen], films.spacing[chosen])

    @staticmethod
    def landmark_errors(predictions: dict, films: Films, test: np.ndarray) -> tuple[dict[str, np.ndarray], list[str]]:
        """Each pass's mean radial error per landmark channel (mm) on the test films, and the channels' names."""
        errors = {name: np.nanmean(np.linalg.norm(predictions["best validation", name].xy - films.points[test], axis=-1)
                                   * films.spacing[test, None], axis=0) for name in ("coarse", "coarse + fine")}  # fmt: skip
        return errors, [f"{n} ({'L' if b == 0 else 'R'})" for b in (0, 1) for n in anatomy.LANDMARKS]

    @staticmethod
    def best_and_worst(best, films: Films, test: np.ndarray) -> list[tuple]:
        """The test film the localiser places best and the two it places worst, with predicted and true
        landmarks, as :func:`ralib.plots.landmark_films` draws them."""
        error = np.nanmean(np.linalg.norm(best.xy - films.points[test], axis=-1) * films.spacing[test, None], axis=1)
        shown = []
        for i in [test[np.argmin(error)], *test[np.argsort(error)[-2:]]]:
            n = list(test).index(i)
            title = f"{films.table.radiograph_id[i]}: MRE {error[n]:.2f} mm{' (flipped)' if films.flipped[i] else ''}"
            shown.append((read_radiograph(films.table.iloc[i]), best.xy[n], title, films.points[i]))
        return shown

    @staticmethod
    def crop_frames(best, films: Films, test: np.ndarray) -> list[tuple]:
        """The first test film with the 25 Scheme 2 patches and the 21 joint boxes per hand its predicted
        landmarks give, as :func:`ralib.plots.landmark_films` draws them (with frames)."""
        i, xy = int(test[0]), best.xy[0]
        patches = [f for b in (0, 1) for f in geometry.patch_frames(xy[b * K:(b + 1) * K], films.spacing[i]).values()]
        boxes = [f for b in (0, 1) for f in geometry.box_frames(xy[b * K:(b + 1) * K], films.spacing[i]).values()]
        image = read_radiograph(films.table.iloc[i])
        return [(image, xy, f"{films.table.radiograph_id[i]}: 25 Scheme 2 patches per hand (predicted landmarks)", None, patches),
                (image, xy, "21 joint boxes per hand", None, boxes)]

    @staticmethod
    def containment(best, films: Films, test: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
        """How often a crop at the predicted landmarks contains the joint centre the true ones give, per recipe
        and joint, and overall per recipe (%)."""
        table = pd.concat({recipe: crop_containment(films.points[test], best.xy, films.spacing[test], recipe) for recipe in ("patches", "boxes")},
                          names=["recipe"])  # fmt: skip
        overall = {recipe: float(np.average(t["contain the joint centre %"], weights=t.crops)) for recipe, t in table.groupby(level="recipe")}
        return table, overall

    def caches(self, localiser: Localiser) -> dict[tuple[str, str], object]:
        """The crops later notebooks read (07: Scheme 2 patches at the true and the predicted landmarks), and
        RAM-H1200's per-joint crops for its export, in one pass over the films."""
        requests = [("patches", "true"), ("patches", "predicted"), ("ramh1200", "true")]
        built = crop_caches(self.ds, [(recipe, None if variant == "true" else localiser) for recipe, variant in requests], self.sizes.crop_size)
        caches = dict(zip(requests, built))
        for (recipe, variant), cache in caches.items():
            print(f"{recipe:8s} {variant:9s} {cache.images.shape} {cache.images.nbytes / 1e6:.0f} MB  {cache.folder.name}")
        return caches

    @staticmethod
    def patch_examples(caches: dict) -> tuple[list[np.ndarray], list[str]]:
        """The first film's left-hand patches at the true and at the predicted landmarks: images and titles."""
        true, predicted = caches["patches", "true"], caches["patches", "predicted"]
        film = true.table.radiograph_id.iloc[0]
        images, titles = [], []
        for cache, kind in ((true, "true"), (predicted, "pred.")):
            rows = cache.table.index[(cache.table.radiograph_id == film) & (cache.table.block == 0)]
            images += [cache.images[r] for r in rows]
            titles += [f"{j} ({kind})" for j in cache.table.joint[rows]]
        return images, titles

    def ramh1200_round_trip(self, caches: dict) -> bool:
        """The test split's RAM-H1200 crops written in the benchmark's layout and read back: the same pixels?"""
        ramh = caches["ramh1200", "true"]
        export = write_ramh1200(ramh, self.run_dir / "ramh1200_test", splits=("test",))
        back = read_ramh1200(export, self.sizes.crop_size)
        written = ramh.table[ramh.table.split == "test"].assign(case=lambda t: t.radiograph_id + "_" + t.hand)
        same = bool(np.array_equal(np.asarray(back.images)[back.table.sort_values(["radiograph_id", "joint"]).crop],
                                   np.asarray(ramh.images)[written.sort_values(["case", "joint"]).crop]))  # fmt: skip
        print(f"RAM-H1200 layout: {len(written)} test crops written to {export.name}/ and read back; identical pixels: {same}")
        return same
