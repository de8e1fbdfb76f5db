"""DeepRA's two stages as notebook 09 runs them: hands and their regions, the RetinaNet detector, region
crops, the attention-gated joint models, the paper's Tables 1 and 3, the gate's maps and the RA2-DREAM round
trip. Each step is one call; the tables it returns go to ``run.log`` as they are.

Example:
    >>> films = pd.DataFrame({"radiograph_id": [1, 2], "split": ["train", "test"]})
    >>> deepra = DeepRA(None, None, Path("runs/cpu/09_joint_scorer_deepra"), films=films, weights="random")
    >>> deepra.split_of(pd.Series(["2", "9"])).tolist()  # a film outside the split is unused
    ['test', 'unused']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ralib.data import load_dataset
from ralib.data.annotations import annotations, missing_note
from ralib.data.arrays import hand_array
from ralib.data.formats import ra2dream
from ralib.landmarks.localiser import Localiser
from ralib.patches.box_crops import box_crop_cache
from ralib.pipelines.setting import FilmSetting
from ralib.results.deepra import challenge_measures, distribution_baseline, fill_missing_sites, reference_sites
from ralib.tasks.detection import REGIONS, RegionDataset, RegionTask, image_boxes, region_boxes, region_overlap, region_table
from ralib.tasks.joint_boxes import film_boxes, hand_joint_boxes, implied_boxes, with_localiser_boxes
from ralib.tasks.region_scores import JOINT_MODELS, RegionScoreTask
from ralib.train import predict, recipes, reuse_or_fit

#: the crop size field of the profile's ``deepra`` sizes for each joint model
CROP_SIZE_OF = {"fingers": "finger_size", "wrist": "wrist_size"}
#: the model the paper reports, and the one every later step reads
MAIN = "detection + attention gate"
#: the measures of the paper's Table 3, in its order, then ours
TABLE3_COLUMNS = ["weighted absolute error overall", "weighted rmse narrowing", "weighted rmse erosion", "pcc overall",
                  "pcc overall low", "pcc overall high", "rmse narrowing", "rmse erosion", "filled sites"]  # fmt: skip
_OVERLAP = ("iou", "found", "regions")


@dataclass
class RoundTrip:
    """The RA2-DREAM round trip: the checks of the written file, the detector's regions on the films and on the
    exported JPEGs, and the challenge's measures of the predictions on the films and read back from the file."""

    checks: dict
    regions: pd.DataFrame
    measures: pd.DataFrame

    def metrics(self) -> dict:
        """As ``run.log`` records it: the checks, ``export_regions`` and one ``"<row> | <measure>"`` per number."""
        measures = {f"{row} | {m}": v for row, values in self.measures.iterrows() for m, v in values.items()}
        return self.checks | {"export_regions": self.regions[["iou", "found"]].T.to_dict()} | measures


@dataclass
class DeepRA(FilmSetting):
    """DeepRA's steps on a data set and its films (:class:`~ralib.pipelines.setting.FilmSetting`); ``label``:
    what the joint models learn; ``localiser``: 05's localiser, whose landmarks give a second route to the
    regions and, on a data set without joint boxes (RA2-DREAM), the regions themselves."""

    SIZES = "deepra"
    NEEDS = ("image scores", "SvdH site grades")
    WHO = "DeepRA (notebook 09 scores the SvdH sites of each region)"
    label: str = field(default="grade", kw_only=True)
    localiser: Path | None = field(default=None, kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        if self.ds is not None:
            localiser = Localiser.load(self.localiser) if self.localiser and not annotations(self.ds)["joint boxes"] else None
            self.ds = with_localiser_boxes(self.ds, localiser, "DeepRA (the regions its detector learns)")

    def split_of(self, ids: pd.Series) -> np.ndarray:
        """Each radiograph's split of :attr:`films` (``unused`` for a film outside them)."""
        split = self.films.set_index(self.films.radiograph_id.astype(str)).split
        return ids.astype(str).map(split).fillna("unused").to_numpy()

    # --- 1. detection --------------------------------------------------------------------------------------

    def hands(self) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
        """Every hand stretched to ``detector_size``: the images, one row per hand with its film's split, and
        its six annotated regions ((hands, 6, 4) in [0, 1] of its image; each the union of its joints' boxes
        grown by 15 %; on a data set without joint boxes, those 05's localiser implies: :meth:`__post_init__`)."""
        images, hands = hand_array(self.ds, self.sizes.detector_size)
        hands = hands.drop(columns="split").assign(split=self.split_of(hands.radiograph_id))
        return images.astype(np.float32), hands, region_boxes(hand_joint_boxes(self.ds, hands))

    def networks(self) -> list[tuple[str, dict]]:
        sizes = self.sizes
        return [("region_detector", {"backbone": sizes.detector_backbone})] + [("attention_gated", {"backbone": b}) for b in
                                                                               (sizes.finger_backbone, sizes.wrist_backbone)]  # fmt: skip

    def train_detector(self, images: np.ndarray, hands: pd.DataFrame, regions: np.ndarray):
        """RetinaNet on the first ``detector_hands`` training and validation hands (the others unused), fp32
        (in bf16 its training diverged). Returns the task and the fitted detector."""
        sizes, table = self.sizes, hands.copy()
        for split, n in zip(("train", "val"), sizes.detector_hands):
            if n:
                table.loc[np.flatnonzero(table.split == split)[n:], "split"] = "unused"
        task = RegionTask(images, regions, table)
        config = recipes.deepra_detector(sizes.detector_backbone, sizes.detector_size, sizes.detector_epochs, sizes.detector_batch_size,
                                         self.profile.train.paper_recipe, sizes.detector_fpn, seed=self.seed, pretrained=self.weights)  # fmt: skip
        fitted = reuse_or_fit(config, task, self.run_dir)
        print(f"detector: {fitted.seconds:.0f} s, best epoch {fitted.best_epoch + 1} of {sizes.detector_epochs}; hands "
              f"{table.split.value_counts().to_dict()}")  # fmt: skip
        return task, fitted

    @staticmethod
    def detect(task: RegionTask, detector, images: np.ndarray, regions: np.ndarray | None = None) -> np.ndarray:
        """Every hand's detections, ranked per region: (hands, 6, k, 5), boxes in [0, 1] of its image
        (``regions``, the annotated boxes where known, only ride along with the images)."""
        boxes = np.zeros((len(images), len(REGIONS), 4)) if regions is None else np.nan_to_num(regions)
        return task.decode(predict(detector.model, RegionDataset(images.astype(np.float32), boxes), forward=task.forward))

    @staticmethod
    def table1(task: RegionTask, found: np.ndarray, hands: pd.DataFrame) -> tuple[pd.Series, dict]:
        """The paper's Table 1 on the test hands (AP per region and mAP at IoU 0.6) and the rest of the
        detection measures (``found``: regions whose best box reaches IoU 0.6)."""
        ap = task.evaluate(found[(hands.split == "test").to_numpy()], "test")
        table = pd.Series({**{name: ap[f"ap {name}"] for name in REGIONS}, "overall mAP": ap["map"]}, name="AP at IoU 0.6")
        return table, {k: v for k, v in ap.items() if not k.startswith("ap ")}

    def region_candidates(self, detected: np.ndarray, hands: pd.DataFrame, localiser: Path | None) -> dict[str, np.ndarray]:
        """The regions of every hand three ways: the detector's best box per region, and the squares around
        the joint boxes that landmarks imply, from 05's ``localiser`` (when given) and from the true landmarks
        (when the data set has them)."""
        implied = implied_boxes(self.ds, hands, None if localiser is None else Localiser.load(localiser))
        names = {"localiser": "landmarks of 05's localiser", "true": "true landmarks"}
        return {"detector (best box per region)": detected, **{names[k]: region_boxes(image_boxes(v, hands)) for k, v in implied.items()}}

    @staticmethod
    def region_examples(images: np.ndarray, regions: np.ndarray, candidates: dict[str, np.ndarray], hands: pd.DataFrame,
                        n: int = 2) -> list[tuple[np.ndarray, dict, str]]:  # fmt: skip
        """The first ``n`` test hands with their annotated regions and every candidate set, in pixels of the
        hand image, as :func:`ralib.plots.box_finds` draws them."""
        size = images.shape[-1]
        out = []
        for i in np.flatnonzero((hands.split == "test").to_numpy())[:n]:
            boxes = {"annotated": regions[i] * size, **{name: b[i] * size for name, b in candidates.items()}}
            out.append((images[i], boxes, f"{hands.radiograph_id.iloc[i]} {hands.hand.iloc[i]}", None))
        return out

    @staticmethod
    def overlaps(candidates: dict[str, np.ndarray], regions: np.ndarray, hands: pd.DataFrame) -> dict[str, dict]:
        """Each candidate set against the annotated regions of the test hands (:func:`region_overlap`)."""
        test = (hands.split == "test").to_numpy()
        return {name: region_overlap(boxes[test], regions[test]) for name, boxes in candidates.items()}

    @staticmethod
    def found_shares(overlap: dict[str, dict]) -> pd.DataFrame:
        """Per region (rows) the share of test regions each box set (columns) finds at IoU >= 0.6."""
        return pd.DataFrame({name: [m[f"found {r}"] for r in REGIONS] for name, m in overlap.items()}, index=list(REGIONS))

    @staticmethod
    def overlap_table(overlap: dict[str, dict]) -> pd.DataFrame:
        """:meth:`overlaps` as a table: mean IoU, share found and regions per box set."""
        return pd.DataFrame({name: {k: m[k] for k in _OVERLAP} for name, m in overlap.items()}).T.astype({"regions": int})

    # --- 2. crops ------------------------------------------------------------------------------------------

    def region_crops(self, hands: pd.DataFrame, boxes: np.ndarray, model: str, variant: str, films=None):
        """The crops of ``model``'s regions (``fingers``: thumb and fingers; ``wrist``) at ``boxes`` of every
        hand, each a square of its box's longer side cut from the film at full resolution, with their table
        (the films' splits); only the films ``films`` when given."""
        table = region_table(film_boxes(boxes, hands), hands)
        table = table[table.joint.isin(JOINT_MODELS[model]) & (True if films is None else table.radiograph_id.isin(films))]
        cache = box_crop_cache(self.ds, table, getattr(self.sizes, CROP_SIZE_OF[model]), grow=1.0, variant=f"deepra-{variant}-{model}")
        return cache.images, cache.table.assign(split=self.split_of(cache.table.radiograph_id))

    def crops(self, hands: pd.DataFrame, candidates: dict[str, np.ndarray], regions: np.ndarray) -> dict[tuple[str, str], tuple]:
        """Every crop the notebook uses, by (variant, model): at the detected regions of every film, and for
        the test films at the annotated regions and at the regions of 05's landmarks (when located)."""
        test = set(self.films.radiograph_id[self.films.split == "test"].astype(str))
        sources = [("detected", candidates["detector (best box per region)"], None), ("annotated", regions, test)]
        if "landmarks of 05's localiser" in candidates:
            sources.append(("landmarks", candidates["landmarks of 05's localiser"], test))
        return {(variant, model): self.region_crops(hands, boxes, model, variant, keep)
                for variant, boxes, keep in sources for model in ("fingers", "wrist")}  # fmt: skip

    @staticmethod
    def crop_counts(crops: dict[tuple[str, str], tuple]) -> pd.DataFrame:
        """How many crops each (variant, model) of :meth:`crops` has per split.

        Example:
            >>> crops = {("annotated", "wrist"): (None, pd.DataFrame({"split": ["test", "test"]}))}
            >>> DeepRA.crop_counts(crops).to_dict()
            {'annotated wrist': {'test': 2}}
        """
        return pd.DataFrame({f"{v} {m}": table.split.value_counts() for (v, m), (_, table) in crops.items()}).fillna(0).astype(int)

    def whole_hands(self, hands: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """The hand images at ``hand_size`` as 8-bit crops, for the ablation without detection."""
        images = hand_array(self.ds, self.sizes.hand_size, progress=False)[0].astype(np.float32)
        return np.round(images * 255).astype(np.uint8), hands.assign(joint="hand")

    @staticmethod
    def crop_examples(crops: dict[tuple[str, str], tuple]) -> tuple[list[np.ndarray], list[str], int]:
        """One test film's left thumb, index and ring finger and wrist, cut every way: images, titles and the
        columns of a grid that gives each model's crops one row per variant pair."""
        variants = list(dict.fromkeys(v for v, _ in crops))
        shown = {"fingers": ("thumb", "index", "ring"), "wrist": ("wrist",)}
        picks = []
        for model, joints in shown.items():
            film = crops[("annotated", model)][1].radiograph_id.iloc[0]
            for variant in variants:
                table = crops[(variant, model)][1]
                rows = (table.radiograph_id == film) & (table.hand == "LH") & table.joint.isin(joints)
                picks += [(variant, model, i) for i in np.flatnonzero(rows.to_numpy())]
        images = [crops[(v, m)][0][i] for v, m, i in picks]
        return images, [f"{crops[(v, m)][1].joint.iloc[i]}, {v}" for v, m, i in picks], 2 * len(variants)

    # --- 3. joint models and Table 3 -----------------------------------------------------------------------

    def train_joint_model(self, images: np.ndarray, table: pd.DataFrame, model: str, gate: bool = True):
        """One joint model (``fingers``, ``wrist`` or ``hand``) on its crops: the task and the fitted model."""
        backbone = self.sizes.wrist_backbone if model == "wrist" else self.sizes.finger_backbone
        task = RegionScoreTask(images, table, self.ds.scores, model, self.label)
        config = recipes.deepra_joints(backbone, self.sizes.epochs, self.sizes.batch_size, gate, self.profile.train.paper_recipe,
                                       seed=self.seed, pretrained=self.weights, **self.profile.speed(backbone))  # fmt: skip
        fitted = reuse_or_fit(config, task, self.run_dir)
        print(f"{model} {backbone}{'' if gate else ' no gate'}: {fitted.seconds:.0f} s, best epoch {fitted.best_epoch + 1}")
        return task, fitted

    def train_variants(self, crops: dict, hands: pd.DataFrame) -> dict[str, dict[str, tuple]]:
        """The paper's rows the profile trains (``ablations``: ``whole hand``, ``no gate``), then the gated
        model on the detected crops: ``{row: {model: (task, fitted)}}``."""
        variants = {}
        if "whole hand" in self.sizes.ablations:
            variants["no detection, no gate (whole hand)"] = {"hand": self.train_joint_model(*self.whole_hands(hands), "hand", gate=False)}
        if "no gate" in self.sizes.ablations:
            variants["detection, no gate"] = {m: self.train_joint_model(*crops[("detected", m)], m, gate=False) for m in ("fingers", "wrist")}
        variants[MAIN] = {m: self.train_joint_model(*crops[("detected", m)], m, gate=True) for m in ("fingers", "wrist")}
        return variants

    def references(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
        """The test films' sites with the label and the truth, the training sites, and each site's training
        mean (what a region the detector missed is filled with)."""
        reference = reference_sites(self.ds.scores, self.films[self.films.split == "test"], columns=(self.label, "truth"))
        train = reference_sites(self.ds.scores, self.films[self.films.split == "train"], columns=(self.label,))
        return reference, train, train.groupby("site")[self.label].mean()

    def site_predictions(self, models: dict[str, tuple], reference: pd.DataFrame, fill: pd.Series, crops_of=None):
        """Every test site's prediction by ``models`` (``{model: (task, fitted)}``), on their own test crops or
        on other crops of the test films (``crops_of``: ``{model: (images, table)}``); sites without a crop
        filled. Returns the table and how many were filled."""
        parts = []
        for model, (task, fitted) in models.items():
            if crops_of is not None:
                task = RegionScoreTask(*crops_of[model], self.ds.scores, model, self.label, pixel_stats=(task.pixel_mean, task.pixel_sd))
            parts.append(task.site_table(fitted.predict(task, "test"), "test"))
        return fill_missing_sites(pd.concat(parts), reference, fill)

    def table3(self, variants: dict, crops: dict) -> tuple[pd.DataFrame, dict]:
        """The paper's Table 3: the distribution baseline and every trained row, the gated model also on the
        annotated regions and the regions of 05's landmarks, against the label and (where known) the truth.
        Returns the table (rows ``(target, row)``) and the predictions by row."""
        reference, train, fill = self.references()
        predictions = {"baseline (training distribution)": (distribution_baseline(reference, train, self.label, seed=self.seed), 0)}
        predictions |= {name: self.site_predictions(models, reference, fill) for name, models in variants.items()}
        for variant, regions_from in (("annotated", "annotated regions"), ("landmarks", "regions at 05's landmarks")):
            if (variant, "fingers") in crops:
                other = {m: crops[(variant, m)] for m in ("fingers", "wrist")}
                predictions[f"{MAIN}, {regions_from}"] = self.site_predictions(variants[MAIN], reference, fill, other)
        targets = [self.label] + (["truth"] if "truth" in reference and reference["truth"].notna().all() else [])
        table = pd.DataFrame({(target, name): {**challenge_measures(pred, reference, target), "filled sites": missing}
                              for target in targets for name, (pred, missing) in predictions.items()}).T  # fmt: skip
        return table, predictions

    # --- 4. the gate's maps --------------------------------------------------------------------------------

    @staticmethod
    def gate_maps(models: dict[str, tuple], per_model: int = 4) -> list[tuple[np.ndarray, np.ndarray, str, float]]:
        """The attention gate's map over up to ``per_model`` test crops of damaged joints (a site graded 2 or
        more) of each model, upsampled to the crop: (crop, map, region, worst grade) each; none for a model
        whose test crops show no such joint."""
        shown = []
        for task, fitted in models.values():
            rows = task.rows("test")
            damaged = rows[np.nan_to_num(task.targets[rows], nan=0).max(1) >= 2][:per_model]
            if not len(damaged):  # a small test split (a dry run, a small real set) may hold no damaged joint
                continue
            data, position = task.dataset("test"), {r: k for k, r in enumerate(rows)}
            images = torch.stack([data[position[r]][0] for r in damaged])
            with torch.no_grad():
                maps = torch.nn.functional.interpolate(fitted.model.eval().attention(images), size=images.shape[-2:], mode="bilinear")
            shown += [(image[0].numpy(), heat[0].numpy(), task.table.joint.iloc[r], np.nanmax(task.targets[r]))
                      for image, heat, r in zip(images, maps, damaged)]  # fmt: skip
        return shown

    # --- 5. RA2-DREAM end to end ---------------------------------------------------------------------------

    def ra2dream_round_trip(self, detection: RegionTask, detector, models: dict[str, tuple], regions: np.ndarray,
                            hands: pd.DataFrame, native: pd.DataFrame, fill: pd.Series, film_overlap: dict) -> RoundTrip | None:  # fmt: skip
        """The test films exported in RA2-DREAM's layout, read back by its loader, scored by the same
        ``detector`` and joint ``models``, the predictions written in ``training.csv``'s column order and read
        back: the checks of the written file, the detector's regions on the exported JPEGs beside
        ``film_overlap`` (on the films), and the challenge's measures of ``native`` (the predictions on the films
        as SynthRA stores them) and of the predictions read back. None, with a note, for a data set without the
        landmarks the export cuts the hands apart with (a real one, already in its own layout)."""
        if note := missing_note(self.ds, "landmarks", "the RA2-DREAM round trip (SynthRA's test films exported, read back, scored again)"):
            print(note)
            return None
        test_ds = self.ds.split("test")
        exported = load_dataset("ra2dream", ra2dream.export(test_ds, self.run_dir / "ra2dream_export", overwrite=True), seed=self.seed)
        images, export_hands = hand_array(exported, self.sizes.detector_size, progress=False)
        found = self.detect(detection, detector, images)
        moved = ra2dream.exported_boxes(test_ds, film_boxes(regions, hands), hands)  # the annotated regions in the JPEGs
        export_regions = image_boxes(np.stack([moved[r] for r in export_hands.radiograph_id]), export_hands)
        boxes = region_table(film_boxes(found[:, :, 0, :4], export_hands), export_hands)
        reference = reference_sites(exported.scores, exported.radiographs, columns=("grade",))
        predictions, missing = fill_missing_sites(self._score_export(exported, boxes, models), reference, fill)
        predictions["patient_id"] = predictions.radiograph_id.str.rsplit("-", n=1).str[0]
        (self.run_dir / "ra2dream_predictions").mkdir(exist_ok=True)
        written = ra2dream.write_predictions(predictions, self.run_dir / "ra2dream_predictions" / "predictions.csv", overwrite=True)
        read_back = ra2dream.load(written.parent, csv=written.name, predictions=True)
        back = reference_sites(read_back.scores, read_back.radiographs, columns=("grade",)).rename(columns={"grade": "prediction"})
        both = predictions.assign(prediction=predictions.prediction.round(4)).merge(
            back, on=["radiograph_id", "hand", "site"], suffixes=(" written", " read back"))  # fmt: skip
        ids = ra2dream.export_ids(test_ds)
        native = native.assign(radiograph_id=native.radiograph_id.map(ids) + "-" + native.hand)  # the same films, named as exported
        written_table = pd.read_csv(written)
        checks = {"columns_in_order": written_table.columns.tolist() == ra2dream.COLUMNS,
                  "feet_empty": bool(written_table[ra2dream.FOOT_E + ra2dream.FOOT_J].isna().all().all()),
                  "sites_read_back": len(both), "sites_written": len(predictions), "filled_sites": missing,
                  "largest_change": float((both["prediction written"] - both["prediction read back"]).abs().max())}  # fmt: skip
        regions = self.overlap_table({"seam-split hands of the films": film_overlap,
                                      "exported hand JPEGs": region_overlap(found[:, :, 0, :4], export_regions)})  # fmt: skip
        measures = pd.DataFrame({"films as SynthRA stores them": challenge_measures(native, reference),
                                 "RA2-DREAM export, predictions read back": challenge_measures(back, reference)}).T  # fmt: skip
        return RoundTrip(checks, regions, measures)

    def _score_export(self, exported, boxes: pd.DataFrame, models: dict[str, tuple]) -> pd.DataFrame:
        parts = []
        for model, (task, fitted) in models.items():
            table = boxes[boxes.joint.isin(JOINT_MODELS[model])]
            cache = box_crop_cache(exported, table, getattr(self.sizes, CROP_SIZE_OF[model]), grow=1.0, variant=f"deepra-export-{model}")
            scoring = RegionScoreTask(cache.images, cache.table.assign(split="test"), exported.scores, model, "grade",
                                      pixel_stats=(task.pixel_mean, task.pixel_sd))  # fmt: skip
            parts.append(scoring.site_table(fitted.predict(scoring, "test"), "test"))
        return pd.concat(parts)
