"""Is DeepRA limited by its cpu budget? Notebook 09's two stages trained for longer than the cpu profile allows:
the region detector for each of ``--detector-epochs`` (mAP at IoU 0.6 on the test hands), and the
attention-gated thumb / finger and wrist models for each of ``--epochs`` on the crops of the annotated regions
(the challenge's measures on the test films against the label: weighted RMSE of narrowing and erosion, the
overall score's weighted absolute error and PCC). One markdown table per stage; if the numbers climb with the
epochs, the gap to the paper (and to the issue's targets) is the budget's (README, `09`).

    .venv/bin/python benchmarks/deepra_budget.py --detector-epochs 20 40 --epochs 3 8

Run it alone: two torch processes on two cores slow each other down about tenfold.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import ralib
from ralib.config import get_profile, runs_dir
from ralib.data import load_dataset
from ralib.data.arrays import hand_array
from ralib.patches.box_crops import box_crop_cache
from ralib.results import challenge_measures, fill_missing_sites, reference_sites
from ralib.tasks.bags import film_table
from ralib.tasks.detection import RegionTask, region_boxes, region_table
from ralib.tasks.joint_boxes import film_boxes, hand_joint_boxes
from ralib.tasks.region_scores import JOINT_MODELS, RegionScoreTask
from ralib.train import recipes, reuse_or_fit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--detector-epochs", type=int, nargs="*", default=[20, 40])
    parser.add_argument("--epochs", type=int, nargs="*", default=[3, 8])
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    ralib.setup(0, verbose=False)
    profile = get_profile(args.profile)
    sizes = profile.deepra
    ds = load_dataset("synthra", profile=args.profile)
    films = film_table(ds)
    split_of = films.set_index(films.radiograph_id.astype(str)).split
    images, hands = hand_array(ds, sizes.detector_size, progress=False)
    hands = hands.drop(columns="split").assign(split=hands.radiograph_id.astype(str).map(split_of).fillna("unused").to_numpy())
    regions = region_boxes(hand_joint_boxes(ds, hands))
    out = runs_dir(args.profile) / "benchmarks" / "deepra_budget"  # its checkpoints, so that a rerun is quick

    if args.detector_epochs:  # as notebook 09 trains it: the first training and validation hands
        table = hands.copy()
        for split, n in zip(("train", "val"), sizes.detector_hands):
            if n:
                table.loc[np.flatnonzero(table.split == split)[n:], "split"] = "unused"
        task = RegionTask(images.astype(np.float32), regions, table)
        print("| detector epochs | mAP at IoU 0.6 | " + " | ".join(f"AP {r}" for r in ("thumb", "index", "middle", "ring", "little", "wrist"))
              + " | best box found | training, s |\n|---|---|---|---|---|---|---|---|---|---|")  # fmt: skip
        for epochs in args.detector_epochs:
            config = recipes.deepra_detector(sizes.detector_backbone, sizes.detector_size, epochs, sizes.detector_batch_size,
                                             profile.train.paper_recipe, sizes.detector_fpn, tag=f"{epochs} epochs")  # fmt: skip
            fitted = reuse_or_fit(config, task, out, progress=False)
            m = fitted.evaluate(task, "test")
            aps = " | ".join(f"{m[f'ap {r}']:.3f}" for r in ("thumb", "index", "middle", "ring", "little", "wrist"))
            print(f"| {epochs} | {m['map']:.3f} | {aps} | {m['found']:.3f} | {fitted.seconds:.0f} |", flush=True)

    if args.epochs:  # the joint models on the annotated regions of every film
        boxes = region_table(film_boxes(regions, hands), hands)
        crops = {}
        for model, size in (("fingers", sizes.finger_size), ("wrist", sizes.wrist_size)):
            cache = box_crop_cache(ds, boxes[boxes.joint.isin(JOINT_MODELS[model])], size, grow=1.0,
                                   variant=f"deepra-annotated-all-{model}", progress=False)  # fmt: skip
            crops[model] = (cache.images, cache.table.assign(split=cache.table.radiograph_id.astype(str).map(split_of).fillna("unused")))
        reference = reference_sites(ds.scores, films[films.split == "test"], columns=("grade",))
        fill = reference_sites(ds.scores, films[films.split == "train"], columns=("grade",)).groupby("site").grade.mean()
        print("\n| joint-model epochs | weighted RMSE narrowing | weighted RMSE erosion | weighted absolute error overall "
              "| PCC overall | training, s |\n|---|---|---|---|---|---|")  # fmt: skip
        for epochs in args.epochs:
            started, parts = time.time(), []
            for model, (crop_images, table) in crops.items():
                task = RegionScoreTask(crop_images, table, ds.scores, model, "grade")
                backbone = sizes.finger_backbone if model == "fingers" else sizes.wrist_backbone
                config = recipes.deepra_joints(backbone, epochs, sizes.batch_size, True, profile.train.paper_recipe, tag=f"{epochs} epochs")
                fitted = reuse_or_fit(config, task, out, progress=False)
                parts.append(task.site_table(fitted.predict(task, "test"), "test"))
            predicted, _ = fill_missing_sites(pd.concat(parts), reference, fill)
            m = challenge_measures(predicted, reference, "grade")
            print(f"| {epochs} | {m['weighted rmse narrowing']:.3f} | {m['weighted rmse erosion']:.3f} | "
                  f"{m['weighted absolute error overall']:.2f} | {m['pcc overall']:.3f} | {time.time() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
