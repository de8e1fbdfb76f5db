"""The models notebooks ``03``-``09`` trained, loaded from their runs with the inputs they were tested on,
ready for :func:`ralib.explain.explainers.explain` (notebook ``10`` trains none of them again).

Each loader rebuilds the task of its notebook from the same caches and splits (built already, so cheap) and
loads the checkpoint the notebook saved; a run that is missing is named in the error. With ``new_films=True``
(the whole-film CNN and the two MILs) the data set's films are new to the model, e.g. real ones: every film is
scored, in the split :data:`NEW`, with the scaling the checkpoints carry (no training film is needed).

Example:
    >>> whole = whole_image_cnn(ds, runs / "03_whole_image_cnn", profile, seed=0)     # doctest: +SKIP
    >>> whole.methods                                                                  # doctest: +SKIP
    ('Grad-CAM', 'Grad-CAM++', 'Score-CAM', 'Eigen-CAM')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from ralib import tasks
from ralib.config import ExplainSizes, Profile
from ralib.data.arrays import film_array, hand_array, resize_images
from ralib.data.model import RADataset
from ralib.explain.explainers import methods_for
from ralib.models.mil import BagScorer
from ralib.patches import crop_caches, predicted_landmarks
from ralib.patches.box_crops import box_crop_cache, true_boxes
from ralib.patches.tiles import tile_cache
from ralib.results.whole_image import lowest_validation_rmse
from ralib.tasks.bags import bag_name, film_table, joint_bag_task, mil_checkpoint_pattern, tile_bag_task
from ralib.tasks.crops import CropTask
from ralib.tasks.detection import image_boxes, region_boxes, region_table
from ralib.tasks.joint_boxes import boxes_table, film_boxes, hand_joint_boxes, landmark_boxes
from ralib.tasks.joint_grades import HEADS, JointGradeTask, split_grade_table
from ralib.tasks.region_scores import JOINT_MODELS, RegionScoreTask
from ralib.train.extract import image_features, image_outputs_of
from ralib.train.fit import load_checkpoint


#: the split of films a model scores without having been trained or tested on them
NEW = "new"


@dataclass
class Trained:
    """A trained model, the task whose items it is explained on (those of ``split``), and the methods it has."""

    model: nn.Module
    task: object
    methods: tuple[str, ...]
    checkpoint: Path
    split: str = "test"


#: the maps a model family draws itself (not through pytorch-grad-cam)
OWN_MAPS = ("attention", "rollout", "gate")


def reads_crops(t: Trained) -> bool:
    """Whether ``t``'s task gives several inputs per film (joint or region crops), not one film, hand or bag."""
    ids = t.task.table.radiograph_id.astype(str).to_numpy()[t.task.rows(t.split)]
    return len(set(ids)) < len(ids)


def with_methods(t: Trained, sizes: ExplainSizes) -> Trained:
    """``t`` with only the methods a profile's ``sizes`` afford: its own maps (:data:`OWN_MAPS`), and of the CAM
    methods ``sizes.cam_methods`` for a model that reads a film whole, ``sizes.crop_cam_methods`` for one that
    reads it as many crops."""
    cams = sizes.crop_cam_methods if reads_crops(t) else sizes.cam_methods
    return replace(t, methods=tuple(m for m in t.methods if m in cams or m in OWN_MAPS))


def _scored(films, new_films: bool):
    return films.assign(split=NEW) if new_films else films


def checkpoint(run_dir: Path, pattern: str) -> Path:
    """The one checkpoint of ``run_dir/checkpoints`` matching ``pattern`` (a glob); a clear error otherwise."""
    found = sorted((Path(run_dir) / "checkpoints").glob(pattern))
    if len(found) != 1:
        what = "none" if not found else ", ".join(p.name for p in found)
        raise FileNotFoundError(f"{run_dir}: expected one checkpoint {pattern!r}, found {what}; run {Path(run_dir).name} first")
    return found[0]


def whole_image_cnn(ds: RADataset, run_dir: Path, profile: Profile, seed: int = 0, model: str = "resnet34",
                    new_films: bool = False) -> Trained:  # fmt: skip
    """``03``'s whole-film SvdH regressor ``model`` on the films it was tested on (``new_films``: on all); where 03
    trained several runs of it (the paper's grid: losses, batch sizes), the one of lowest validation RMSE, as
    06 and 07 choose their whole-image reference."""
    task = tasks.svdh_regression(ds, film_array(ds, profile.train.image_size, progress=False), seed)
    found = sorted((Path(run_dir) / "checkpoints").glob(f"{model}_*_svdh_regression.pt"))
    if len(found) < 2:
        path = checkpoint(run_dir, f"{model}_*_svdh_regression.pt")
    else:
        path = lowest_validation_rmse({p: load_checkpoint(p)[0] for p in found}, task)
    network, record = load_checkpoint(path)
    if new_films:
        task = tasks.ImageTask(task.name, task.kind, task.images, _scored(task.table, True), task.target, record=record)
    return Trained(network, task, methods_for(network), path, NEW if new_films else "test")


def _scoring(record: dict, table, target: str) -> CropTask:
    """A task that scores crops as the classifier of checkpoint ``record`` saw its own (its pixel scaling and
    input size), without any training crop: what :func:`~ralib.train.extract.image_outputs_of` needs."""
    size = int(record["input_size"])
    return CropTask(record["task"], "classification", np.zeros((1, size, size), np.uint8), table.iloc[:1].assign(**{target: 0}), target,
                    tuple(record["classes"]), "multiclass", record=record)  # fmt: skip


def scheme2(ds: RADataset, run_dir: Path, localiser, profile: Profile, seed: int = 0, film_ids=None,
            new_films: bool = False) -> dict[str, Trained]:  # fmt: skip
    """``07``'s attention MIL at the localiser's landmarks (trained with jittered crops) over the features of the
    first patch classifier of the profile: its ``attention``,
    and the same MIL behind its patch classifier (:meth:`~ralib.models.mil.BagScorer.from_trained`) for the
    CAM methods through that CNN. ``film_ids``: the films whose bags are computed (None: all)."""
    sizes = profile.mil
    films = _scored(film_table(ds, seed), new_films)
    (crops,) = crop_caches(ds, [("patches", localiser)], profile.landmarks.crop_size, progress=False)
    model = sizes.patch_models[0]
    classifier, record = load_checkpoint(checkpoint(run_dir, f"{model}_*_patch_abnormality.pt"))
    scoring = _scoring(record, crops.table, "abnormal")
    mil_path = checkpoint(run_dir, mil_checkpoint_pattern(bag_name(model, "predicted landmarks", "jittered")))
    mil, mil_record = load_checkpoint(mil_path)
    only = None if film_ids is None else np.flatnonzero(crops.table.radiograph_id.isin(set(map(str, film_ids))).to_numpy())
    features = image_features(classifier, crops.images, scoring, only=only)
    scaling = mil_record if new_films else None
    bags = joint_bag_task(films, crops.table, features, record=scaling)
    images = np.zeros((len(crops.images), scoring.images.shape[-1], scoring.images.shape[-1]), np.uint8)
    chosen = np.arange(len(images)) if only is None else only
    images[chosen] = resize_images(np.asarray(crops.images[chosen]), images.shape[-1])
    image_bags = joint_bag_task(films, crops.table, images, standardise=(scoring.pixel_mean, scoring.pixel_sd), record=scaling)
    scorer = BagScorer.from_trained(classifier, mil).eval()
    split = NEW if new_films else "test"
    return {"Scheme 2 MIL": Trained(mil, bags, methods_for(mil), mil_path, split),
            "Scheme 2 MIL, through its patch CNN": Trained(scorer, image_bags, tuple(m for m in methods_for(scorer) if m != "attention"),
                                                           mil_path, split)}  # fmt: skip


def rheumavit(ds: RADataset, run_dir: Path, profile: Profile, label: str = "dawid_skene", seed: int = 0, localiser=None,
              new_films: bool = False) -> Trained:  # fmt: skip
    """``08``'s main scorer (the first backbone, shared erosion and JSN heads, stage 2) on the crops at the
    annotated joint boxes; ``new_films``: at the boxes the ``localiser``'s landmarks give (films without
    annotations), scored with the pixel scaling of the scorer's checkpoint."""
    sizes = profile.scorer
    path = checkpoint(run_dir, f"idx_pool_scorer_*_{sizes.backbones[0]}_stage_2_*joint_grades.pt")
    network, record = load_checkpoint(path)
    if new_films:
        boxes = boxes_table(*_located(ds, localiser, sizes.box_image_size))
        cache = box_crop_cache(ds, boxes.dropna(subset=["x0", "y0", "x1", "y1"]).reset_index(drop=True), sizes.crop_size,
                               variant="landmarks", progress=False)  # fmt: skip
        task = JointGradeTask(cache.images, cache.table.assign(split=NEW), tuple(HEADS), label, sizes.input_size,
                              pixel_stats=(record["pixel_mean"], record["pixel_sd"]))  # fmt: skip
        return Trained(network, task, methods_for(network), path, NEW)
    films = film_table(ds, seed)
    cache = box_crop_cache(ds, true_boxes(ds), sizes.crop_size, progress=False)
    task = JointGradeTask(cache.images, split_grade_table(cache.table, films, sizes.val_films), tuple(HEADS), label, sizes.input_size,
                          epoch_size=sizes.epoch_size)  # fmt: skip
    return Trained(network, task, methods_for(network), path)


def _located(ds: RADataset, localiser, hand_size: int):
    """The joint boxes ``(n_hands, 21, 4)`` (film pixels) the ``localiser``'s landmarks give for every hand
    of ``ds``, and the hands' table (:func:`~ralib.data.arrays.hand_array` at ``hand_size``)."""
    if localiser is None:
        raise ValueError("films without annotations need a localiser (notebook 05's) for their joint boxes")
    if "left_hand_side" not in ds.radiographs:  # which hand is which: the unflipped convention, as block_hands assumes
        ds = replace(ds, radiographs=ds.radiographs.assign(left_hand_side="image_left"))
    hands = hand_array(ds, hand_size, progress=False)[1]
    return landmark_boxes(ds, predicted_landmarks(ds, localiser, progress=False), hands), hands


def deepra(ds: RADataset, run_dir: Path, profile: Profile, label: str = "grade", seed: int = 0, film_ids=None, localiser=None,
           new_films: bool = False) -> dict[str, Trained]:  # fmt: skip
    """``09``'s attention-gated joint models (fingers, wrist) on the crops of the annotated regions of the
    films ``film_ids`` (None: the test films), scored with the pixel statistics their checkpoints carry;
    ``new_films``: every film's regions around the joint boxes the ``localiser``'s landmarks give."""
    sizes = profile.deepra
    if new_films:
        located, hands = _located(ds, localiser, sizes.detector_size)
        regions = region_table(film_boxes(region_boxes(image_boxes(located, hands)), hands), hands)
        regions = regions.dropna(subset=["x0", "y0", "x1", "y1"]).assign(split=NEW)
        variant = "landmarks"
    else:
        hands = hand_array(ds, sizes.detector_size, progress=False)[1]
        films = film_table(ds, seed)
        split = films.set_index(films.radiograph_id.astype(str)).split
        keep = set(map(str, film_ids)) if film_ids is not None else set(split.index[split == "test"])
        regions = region_table(film_boxes(region_boxes(hand_joint_boxes(ds, hands)), hands), hands)
        regions = regions[regions.radiograph_id.isin(keep)]
        regions, variant = regions.assign(split=regions.radiograph_id.astype(str).map(split).to_numpy()), "annotated"
    out = {}
    for model, size, backbone in (("fingers", sizes.finger_size, sizes.finger_backbone), ("wrist", sizes.wrist_size, sizes.wrist_backbone)):
        boxes = regions[regions.joint.isin(JOINT_MODELS[model])]
        cache = box_crop_cache(ds, boxes.drop(columns="split"), size, grow=1.0, variant=f"deepra-{variant}-{model}", progress=False)
        path = checkpoint(run_dir, f"attention_gated_*_{backbone}_region_scores_{model}.pt")  # with the gate, not the ablation
        network, record = load_checkpoint(path)
        split_of = boxes.astype({"radiograph_id": str}).drop_duplicates("radiograph_id").set_index("radiograph_id").split
        table = cache.table.assign(split=cache.table.radiograph_id.astype(str).map(split_of).to_numpy())
        task = RegionScoreTask(cache.images, table, ds.scores, model, label, pixel_stats=(record["pixel_mean"], record["pixel_sd"]))
        out[f"DeepRA {model} (09)"] = Trained(network, task, methods_for(network), path, NEW if new_films else "test")
    return out


def scheme1(ds: RADataset, run_dir: Path, profile: Profile, seed: int = 0, film_ids=None, new_films: bool = False) -> Trained:
    """``06``'s attention MIL over each film's top-K tiles with its tile classifier frozen, at the K that ``06``
    found best (its ``metrics.json``), on the tiles of the films ``film_ids`` (None: all); the classifier
    scores them with the scaling its checkpoint carries."""
    sizes = profile.mil
    best = json.loads((Path(run_dir) / "metrics.json").read_text())["metrics"]["best_scheme1"]  # e.g. "mobilenetv2_100, K=40"
    model, k = best.split(",")[0], int(re.search(r"K=(\d+)", best).group(1))
    tiles = tile_cache(ds, sizes.patch_size, progress=False)
    classifier, record = load_checkpoint(checkpoint(run_dir, f"{model}_*_tile_classes.pt"))
    scoring = _scoring(record, tiles.table, "tile_class")
    only = None if film_ids is None else np.flatnonzero(tiles.table.radiograph_id.isin(set(map(str, film_ids))).to_numpy())
    out = image_outputs_of(classifier, tiles.images, scoring, only=only)
    path = checkpoint(run_dir, mil_checkpoint_pattern(bag_name(model, f"K={k}")))
    mil, mil_record = load_checkpoint(path)
    task = tile_bag_task(_scored(film_table(ds, seed), new_films), tiles.table, out["features"], out["predictions"], k,
                         record=mil_record if new_films else None)  # fmt: skip
    return Trained(mil, task, methods_for(mil), path, NEW if new_films else "test")
