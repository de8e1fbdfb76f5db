"""RheumaVIT as notebook 08 runs it: joint boxes regressed on each hand beside those the landmarks imply, the
erosion / JSN scorer trained in two stages (with self-supervised pretraining where the profile asks), its
Table 1 against the experts' aggregate and the truth, per joint group, on regressed boxes, attention rollout,
and each film's total assembled from the joint grades. Each step is one call.

Example:
    >>> films = pd.DataFrame({"radiograph_id": ["a"], "split": ["test"]})
    >>> scorer = RheumaVIT(None, None, Path("runs/cpu/08_joint_scorer_tinyvit"), films=films, weights="random")
    >>> scorer.label, scorer.seed
    ('dawid_skene', 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ralib import anatomy
from ralib.data.annotations import MissingAnnotations, annotations
from ralib.data.arrays import hand_array
from ralib.explain.rollout import tinyvit_rollout
from ralib.landmarks.localiser import Localiser
from ralib.metrics import class_metrics
from ralib.patches.box_crops import box_crop_cache, true_boxes
from ralib.pipelines.setting import FilmSetting
from ralib.results.comparisons import elsewhere_rows, scoring_table
from ralib.results.rheumavit import assembled_total_predictions, average_expert, grade_rows, joined_models
from ralib.tasks.bags import targets_of
from ralib.tasks.denoising import DenoisingTask
from ralib.tasks.joint_boxes import (
    BoxDataset,
    BoxTask,
    box_metrics,
    boxes_table,
    film_boxes,
    hand_joint_boxes,
    implied_boxes,
    limit_box_size,
    with_localiser_boxes,
)
from ralib.tasks.joint_grades import HEADS, JOINT_GROUPS, JointGradeTask, split_grade_table
from ralib.train import predict, recipes, reuse_or_fit

#: the aggregates of the experts (and the truth) a scorer is read against, where the data has them
AGGREGATES = ("dawid_skene", "majority", "rounded_mean", "grade", "truth")


@dataclass
class Boxes:
    """Every hand at the box regressor's size and its joint boxes: ``annotated`` in [0, 1] of the hand image,
    ``known`` the hands with every box and a split, ``true`` the annotated boxes on the film, ``regressed`` the
    regressor's on the film, ``largest`` the largest annotated training box's side in film pixels."""

    images: np.ndarray
    hands: pd.DataFrame
    annotated: np.ndarray
    known: np.ndarray
    true: np.ndarray
    regressed: np.ndarray | None = None
    largest: float = np.nan

    @property
    def test(self) -> np.ndarray:
        return (self.hands.split == "test").to_numpy() & self.known


@dataclass
class Crops:
    """The joint crops the scorers read: at the annotated boxes and at the regressed ones, with their tables
    (each film's split, ``val_films`` of the validation films kept)."""

    true: object
    regressed: object
    true_table: pd.DataFrame
    regressed_table: pd.DataFrame

    @property
    def test_rows(self) -> np.ndarray:
        return np.flatnonzero(self.true_table.split.to_numpy() == "test")


@dataclass
class RheumaVIT(FilmSetting):
    """RheumaVIT's steps on a data set and its films (:class:`~ralib.pipelines.setting.FilmSetting`);
    ``label``: the experts' aggregate the scorer learns."""

    SIZES = "scorer"
    NEEDS = ("image scores", "joint grades")
    WHO = "RheumaVIT (notebook 08 scores joints)"
    label: str = field(default="dawid_skene", kw_only=True)
    localiser: Path | None = field(default=None, kw_only=True)

    def __post_init__(self):
        """Besides the setting's checks: the label must be one the data set has, and a data set without joint boxes
        (RA2-DREAM) gets those 05's :attr:`localiser` implies, graded by its SvdH sites, with a note."""
        super().__post_init__()
        if self.ds is None:
            return
        scores = self.ds.scores
        experts = [c for c in self.ds.reader_columns if scores[c].notna().any()]
        if (self.label in AGGREGATES[:3] and len(experts) < 2) or (self.label not in AGGREGATES[:3] and self.label not in scores):
            held = [a for a in AGGREGATES if (a in AGGREGATES[:3] and len(experts) >= 2) or a in scores] + experts
            raise MissingAnnotations(f"{self.ds.name} has no grades for LABEL={self.label!r}: its grades are {', '.join(held)}")
        localiser = Localiser.load(self.localiser) if self.localiser and not annotations(self.ds)["joint boxes"] else None
        self.ds = with_localiser_boxes(self.ds, localiser, "RheumaVIT (its box regressor and its scorer's crops)")

    def networks(self) -> list[tuple[str, dict]]:
        sizes = self.sizes
        return ([("box_regressor", {"backbone": sizes.box_backbone})] + [("idx_pool_scorer", {"backbone": b}) for b in sizes.backbones + sizes.separate]
                + [("denoising_unet", {"backbone": b}) for b in sizes.pretrained])  # fmt: skip

    @property
    def main(self) -> str:
        """The scorer every later step reads: the first backbone, shared heads."""
        return f"{self.sizes.backbones[0]}, shared"

    # --- 1. joint boxes ------------------------------------------------------------------------------------

    def hands(self) -> Boxes:
        """Every hand at ``box_image_size`` with its annotated joint boxes and its film's split."""
        images, hands = hand_array(self.ds, self.sizes.box_image_size)
        hands = hands.drop(columns="split").merge(self.films[["radiograph_id", "split"]], on="radiograph_id", how="left")
        annotated = hand_joint_boxes(self.ds, hands)
        known = np.isfinite(annotated).all((1, 2)) & hands.split.notna().to_numpy()
        return Boxes(images, hands, annotated, known, film_boxes(annotated, hands))

    def regress_boxes(self, boxes: Boxes) -> tuple[Boxes, object]:
        """The box regressor trained on the hands with every box: ``boxes`` with the regressor's boxes of every
        hand on the film and the largest annotated training box (regressed boxes larger than it are shrunk to it
        before cutting), and the fitted regressor."""
        sizes, known = self.sizes, boxes.known
        task = BoxTask(boxes.images[known], boxes.annotated[known], boxes.hands[known], mse_epochs=sizes.box_mse_epochs)
        config = recipes.rheumavit_boxes(sizes.box_backbone, sizes.box_epochs, sizes.box_batch_size, seed=self.seed, pretrained=self.weights,
                                         **self.profile.speed(sizes.box_backbone))  # fmt: skip
        fitted = reuse_or_fit(config, task, self.run_dir)
        print(f"box regressor: {fitted.seconds:.0f} s, best epoch {fitted.best_epoch + 1} of {sizes.box_epochs}; {int(known.sum())} hands")
        every = BoxDataset(boxes.images, np.zeros((len(boxes.hands), len(anatomy.JOINT_NAMES), 4)), mean=task.pixel_mean, sd=task.pixel_sd)
        regressed = film_boxes(predict(fitted.model, every)["outputs"].reshape(len(boxes.hands), -1, 4), boxes.hands)
        largest = np.nanmax((boxes.true[..., 2:] - boxes.true[..., :2])[(boxes.hands.split == "train").to_numpy() & known])
        too_large = ((regressed[..., 2:] - regressed[..., :2]) > largest).any(-1)
        print(f"{too_large.mean():.1%} of the regressed boxes exceed the largest annotated training box ({largest:.0f} px): "
              "measured as they are, shrunk to it before their crops are cut")  # fmt: skip
        return Boxes(boxes.images, boxes.hands, boxes.annotated, known, boxes.true, regressed, float(largest)), fitted

    def box_candidates(self, boxes: Boxes, localiser: Path) -> dict[str, np.ndarray]:
        """The joint boxes of every hand on the film three ways: regressed, and the squares of each joint's
        breadth that the landmarks of 05's ``localiser`` (when given) and (where known) the true landmarks imply."""
        implied = implied_boxes(self.ds, boxes.hands, None if localiser is None else Localiser.load(localiser))
        names = {"localiser": "landmarks of 05's localiser", "true": "true landmarks (no localisation error)"}
        return {"box regressor": boxes.regressed, **{names[k]: v for k, v in implied.items()}}

    @staticmethod
    def box_results(boxes: Boxes, candidates: dict[str, np.ndarray]) -> dict[str, dict]:
        """Each candidate set against the annotated boxes of the test hands (:func:`box_metrics`)."""
        return {name: box_metrics(b[boxes.test], boxes.true[boxes.test]) for name, b in candidates.items()}

    @staticmethod
    def table2(results: dict[str, dict]) -> pd.DataFrame:
        """The paper's Table 2: IoU and localisation accuracy of each box set (the per-joint measures left out)."""
        return pd.DataFrame({name: {k: v for k, v in m.items() if " " not in k} for name, m in results.items()}).T

    @staticmethod
    def per_joint_accuracy(results: dict[str, dict]) -> pd.DataFrame:
        """Localisation accuracy per joint (rows) of each box set (columns)."""
        return pd.DataFrame({name: [m[f"localisation_accuracy {j}"] for j in anatomy.JOINT_NAMES] for name, m in results.items()},
                            index=anatomy.JOINT_NAMES)  # fmt: skip

    @staticmethod
    def box_examples(boxes: Boxes, candidates: dict[str, np.ndarray], n: int = 2) -> list[tuple]:
        """The first ``n`` test hands with every box set, on the film's coordinates, as :func:`ralib.plots.box_finds` draws them."""
        out = []
        for i in np.flatnonzero(boxes.test)[:n]:
            row = boxes.hands.iloc[i]
            sets = {"annotated": boxes.true[i], **{k: v[i] for k, v in candidates.items()}}
            out.append((boxes.images[i].astype(float), sets, f"{row.radiograph_id} {row.hand}", (row.x0, row.y0, row.x1, row.y1)))
        return out

    # --- 2. crops ------------------------------------------------------------------------------------------

    def crops(self, boxes: Boxes) -> Crops:
        """The joint crops at the annotated boxes and at the regressed ones (shrunk to the largest training box)."""
        true = box_crop_cache(self.ds, true_boxes(self.ds), self.sizes.crop_size)
        regressed = box_crop_cache(self.ds, boxes_table(limit_box_size(boxes.regressed, boxes.largest), boxes.hands), self.sizes.crop_size,
                                   variant="regressed")  # fmt: skip
        tables = (split_grade_table(cache.table, self.films, self.sizes.val_films) for cache in (true, regressed))
        return Crops(true, regressed, *tables)

    def grade_counts(self, crops: Crops) -> pd.DataFrame:
        """Training crops per grade of the label and head: why batches are weighted."""
        table = crops.true_table
        train = table.split == "train"
        return pd.DataFrame({kind: table.loc[train & (table[f"{kind}_site"] != ""), f"{kind}_{self.label}"].value_counts().sort_index()
                             for kind in HEADS}).T  # fmt: skip

    # --- 3. the scorers ------------------------------------------------------------------------------------

    def grade_task(self, cache, table: pd.DataFrame, heads: tuple[str, ...] = tuple(HEADS)) -> JointGradeTask:
        return JointGradeTask(cache.images, table, heads, self.label, self.sizes.input_size, epoch_size=self.sizes.epoch_size)

    def train_scorer(self, crops: Crops, backbone: str, heads: tuple[str, ...], pretrained=None) -> tuple:
        """The scorer in two stages (the head on a frozen backbone, then every layer), from ``pretrained``'s
        encoder when given: the task and the fitted second stage."""
        sizes, recipe, speed = self.sizes, self.profile.train.paper_recipe, self.profile.speed(backbone)
        task = self.grade_task(crops.true, crops.true_table, heads)
        start = {"weights": str(pretrained.checkpoint), "tag": f"{backbone} pretrained stage 1"} if pretrained else {"pretrained": self.weights}
        first = recipes.rheumavit(backbone, sizes.frozen_epochs, sizes.batch_size, 1, recipe, sizes.input_size, seed=self.seed, **start, **speed)
        frozen = reuse_or_fit(first, task, self.run_dir, progress=False)
        second = recipes.rheumavit(backbone, sizes.epochs, sizes.batch_size, 2, recipe, sizes.input_size, seed=self.seed,
                                   weights=str(frozen.checkpoint), tag=f"{backbone}{' pretrained' * bool(pretrained)} stage 2", **speed)  # fmt: skip
        tuned = reuse_or_fit(second, task, self.run_dir)
        print(f"{backbone} {'+'.join(heads)}: stage 1 {frozen.seconds:.0f} s, stage 2 {tuned.seconds:.0f} s, best epoch {tuned.best_epoch + 1}")
        return task, tuned

    def train_scorers(self, crops: Crops) -> dict[str, tuple]:
        """Every scorer of the profile: each backbone with shared heads, then those trained one head each."""
        scorers = {f"{b}, shared": self.train_scorer(crops, b, tuple(HEADS)) for b in self.sizes.backbones}
        for b in self.sizes.separate:
            scorers[f"{b}, separate erosion"] = self.train_scorer(crops, b, ("erosion",))
            scorers[f"{b}, separate JSN"] = self.train_scorer(crops, b, ("jsn",))
        return scorers

    def pretrain(self, crops: Crops, scorers: dict[str, tuple]) -> tuple[pd.DataFrame, dict]:
        """Self-supervised pretraining where the profile asks (``pretrained``): each backbone as a U-Net's
        encoder restoring corrupted crops, then a scorer from it (added to ``scorers``). Returns the L1 on the
        validation crops per backbone, and the first backbone's corrupted / restored / clean validation crops."""
        denoising = DenoisingTask(crops.true.images, crops.true_table, self.sizes.input_size, epoch_size=self.sizes.epoch_size)
        measures, examples = {}, {}
        for b in self.sizes.pretrained:
            config = recipes.rheumavit_denoising(b, self.sizes.pretrain_epochs, self.sizes.batch_size, seed=self.seed, pretrained=self.weights)
            denoiser = reuse_or_fit(config, denoising, self.run_dir, progress=False)
            restored = denoiser.predict(denoising, "val")
            measures[b] = {"seconds": denoiser.seconds, **denoising.evaluate(restored, "val")}
            examples = examples or {"corrupted": restored["corrupted"], f"restored ({b})": restored["restored"], "clean": denoising.clean("val")}
            scorers[f"{b}, shared, pretrained"] = self.train_scorer(crops, b, tuple(HEADS), pretrained=denoiser)
        return pd.DataFrame(measures).T, examples

    # --- 4. Table 1 and beyond -----------------------------------------------------------------------------

    @staticmethod
    def head_grades(scorers: dict[str, tuple], name: str, kind: str) -> np.ndarray:
        """Scorer ``name``'s grade probabilities of head ``kind`` on its test crops."""
        task, fitted = scorers[name]
        return task.head_probabilities(fitted.predict(task, "test"), kind)

    def model_rows(self, crops: Crops, scorers: dict[str, tuple], label: str) -> dict[str, dict]:
        """Every scorer row (separate heads joined) against ``label`` on the test crops (:func:`grade_rows`)."""
        reference, rows = self.grade_task(crops.true, crops.true_table), crops.test_rows
        truth = {kind: reference.grades(kind, label)[rows] for kind in HEADS}
        grades = {row: {kind: self.head_grades(scorers, source, kind).argmax(1) for kind, source in sources.items()}
                  for row, sources in joined_models(scorers).items()}  # fmt: skip
        return grade_rows(truth, grades, crops.true_table.radiograph_id.to_numpy()[rows], seed=self.seed)

    def table1(self, crops: Crops, scorers: dict[str, tuple]) -> pd.DataFrame:
        """The paper's Table 1: every scorer against the label and the truth, beside the average expert."""
        table = {("against " + self.label, k): v for k, v in self.model_rows(crops, scorers, self.label).items()}
        if "erosion_truth" in crops.true_table:
            table |= {("against the truth", k): v for k, v in self.model_rows(crops, scorers, "truth").items()}
        table[("average expert", "one against the other two")] = average_expert(crops.true_table.iloc[crops.test_rows])
        return pd.DataFrame(table).T

    @staticmethod
    def table1_headline(table1: pd.DataFrame) -> pd.DataFrame:
        """Table 1's columns the paper prints: each head's class-weighted accuracy with its interval, and MAE.

        Example:
            >>> table = pd.DataFrame({"erosion accuracy": [0.5], "erosion n": [9], "jsn mae": [0.25]})
            >>> RheumaVIT.table1_headline(table).columns.tolist()
            ['erosion accuracy', 'jsn mae']
        """
        return table1[[c for c in table1 if c.split(" ", 1)[1] in ("accuracy", "accuracy_low", "accuracy_high", "mae")]]

    def against_aggregates(self, crops: Crops, scorers: dict[str, tuple]) -> pd.DataFrame:
        """The main scorer against each aggregate of the experts and the truth the data has."""
        out = {}
        for label in AGGREGATES:
            if all(f"{kind}_{label}" in crops.true_table and crops.true_table[f"{kind}_{label}"].notna().any() for kind in HEADS):
                row = self.model_rows(crops, scorers, label)[self.main]
                out[label] = {k: row[k] for k in ("erosion accuracy", "erosion mae", "jsn accuracy", "jsn mae")}
        return pd.DataFrame(out).T

    def per_group(self, crops: Crops, scorers: dict[str, tuple]) -> tuple[pd.DataFrame, dict, dict]:
        """The main scorer per joint group (:data:`JOINT_GROUPS`) against the label; also its test grades and
        the label's, by head (for the confusion matrices)."""
        reference, rows = self.grade_task(crops.true, crops.true_table), crops.test_rows
        groups = crops.true_table.joint.map(JOINT_GROUPS).to_numpy()[rows]
        films = crops.true_table.radiograph_id.to_numpy()[rows]
        truth = {kind: reference.grades(kind)[rows] for kind in HEADS}
        grades = {kind: self.head_grades(scorers, self.main, kind).argmax(1) for kind in HEADS}
        table = {}
        for group in dict.fromkeys(JOINT_GROUPS.values()):
            within = groups == group
            masked = {k: np.where(within, t, -1) for k, t in truth.items()}
            table[group] = grade_rows(masked, {self.main: grades}, films, n_resamples=200, seed=self.seed)[self.main]
        return pd.DataFrame(table).T, truth, grades

    def rollout(self, crops: Crops, scorers: dict[str, tuple], per_head: int = 4) -> dict[str, list[tuple]]:
        """Attention rollout of the main scorer (a TinyViT) over up to ``per_head`` test crops graded 2 or
        more per head: ``{head: [(crop, map, title), ...]}``; empty when the main backbone is no TinyViT."""
        if not self.sizes.backbones[0].startswith("tiny_vit"):
            print(f"rollout needs a TinyViT main backbone, not {self.sizes.backbones[0]}")
            return {}
        reference, rows = self.grade_task(crops.true, crops.true_table), crops.test_rows
        data, fitted = reference.dataset("test"), scorers[self.main][1]
        shown = {}
        for kind in HEADS:
            true = reference.grades(kind)[rows]
            chosen = list(np.flatnonzero(true >= 2)[:per_head])
            if not chosen:
                continue
            images = torch.stack([data[i][0] for i in chosen])
            maps = tinyvit_rollout(fitted.model.backbone.eval(), images)
            predicted = self.head_grades(scorers, self.main, kind)
            shown[kind] = [(image, heat, f"{crops.true_table.joint.iloc[rows[i]]} {kind} {true[i]} -> {predicted[i].argmax()}")
                           for i, image, heat in zip(chosen, images[:, 0].numpy(), maps)]  # fmt: skip
        return shown

    def at_regressed_boxes(self, crops: Crops, scorers: dict[str, tuple]) -> pd.DataFrame:
        """The main scorer against the label on the crops at the annotated and at the regressed boxes."""
        fitted, rows = scorers[self.main][1], {}
        for name, task in (("annotated boxes", self.grade_task(crops.true, crops.true_table)),
                           ("regressed boxes", self.grade_task(crops.regressed, crops.regressed_table))):  # fmt: skip
            m = task.evaluate(fitted.predict(task, "test"))
            rows[name] = {k: v for k, v in m.items() if k.endswith(("accuracy", "mae"))}
        return pd.DataFrame(rows).T

    # --- 5. the film's total -------------------------------------------------------------------------------

    def totals(self, crops: Crops, scorers: dict[str, tuple]) -> dict:
        """Each test film's total assembled from the main scorer's grades three ways (every validation film for
        the fitted line), against the label and the truth (``table``), the severity class from the prior-corrected
        raw sum, the line, and the best rows of notebooks 03 and 07 on the same films (``elsewhere``)."""
        fitted = scorers[self.main][1]
        full = JointGradeTask(crops.true.images, split_grade_table(crops.true.table, self.films), tuple(HEADS), self.label, self.sizes.input_size)
        assembled, line = assembled_total_predictions(full, {s: fitted.predict(full, s) for s in ("val", "test")}, self.films)
        labels = self.films.set_index(self.films.radiograph_id.astype(str)).loc[assembled.index]
        targets = targets_of(labels)
        predictions = {k: v.to_numpy() for k, v in assembled.items()}
        table = pd.concat({t: scoring_table(labels[c], predictions, seed=self.seed) for t, c in targets.items()}, names=["against"])
        severity = class_metrics(anatomy.severity_class(labels.score.clip(0, 280).to_numpy()),
                                 anatomy.severity_class(np.clip(assembled["raw sum, prior-corrected"].to_numpy(), 0, 280)), 10)  # fmt: skip
        elsewhere = elsewhere_rows(self.run_dir.parent, {"03_whole_image_cnn": "regression", "07_mil_scheme2_joints": "table2"})
        return {"table": table, "line": line, "severity": {k: severity[k] for k in ("accuracy", "mae")}, "elsewhere": pd.DataFrame(elsewhere).T}
