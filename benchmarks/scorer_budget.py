"""Is RheumaVIT's scorer limited by its cpu budget? Notebook 08's shared ResNet-18 scorer (frozen stage, then
all layers; the Dawid-Skene label) trained on the crops at the annotated boxes for several ``--epochs`` of the
second stage and ``--inputs`` sizes; one markdown row per setting with the class-weighted erosion and JSN
accuracy (and MAE) on the test films against the label, with film-level bootstrap intervals. If the accuracy
climbs with epochs or input size, the gap to the simulated expert (0.76 / 0.80) is the budget's (README, `08`).

    .venv/bin/python benchmarks/scorer_budget.py --epochs 4 12 --inputs 64 96

Needs the crop cache of a cpu run of notebook 08. Run it alone: two torch processes on two cores slow each
other down about tenfold.
"""

from __future__ import annotations

import argparse
import time

import ralib
from ralib.config import get_profile, runs_dir
from ralib.data import load_dataset
from ralib.patches.box_crops import box_crop_cache, true_boxes
from ralib.results import grade_rows
from ralib.tasks.bags import film_table
from ralib.tasks.joint_grades import HEADS, JointGradeTask, split_grade_table
from ralib.train import recipes, reuse_or_fit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--inputs", type=int, nargs="+", default=[64])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    ralib.setup(0, verbose=False)
    profile = get_profile(args.profile)
    sizes = profile.scorer
    ds = load_dataset("synthra", profile=args.profile)
    cache = box_crop_cache(ds, true_boxes(ds), sizes.crop_size, progress=False)
    table = split_grade_table(cache.table, film_table(ds), sizes.val_films)
    out = runs_dir(args.profile) / "benchmarks" / "scorer_budget"  # its checkpoints, so that a rerun is quick
    print("| input, px | stage-2 epochs | erosion accuracy | erosion MAE | JSN accuracy | JSN MAE | training, s |")
    print("|---|---|---|---|---|---|---|")
    for size in args.inputs:
        task = JointGradeTask(cache.images, table, tuple(HEADS), "dawid_skene", size, epoch_size=sizes.epoch_size)
        test = task.rows("test")
        truth = {kind: task.grades(kind)[test] for kind in HEADS}
        for epochs in args.epochs:
            started = time.time()
            first = recipes.rheumavit(args.backbone, sizes.frozen_epochs, sizes.batch_size, 1, profile.train.paper_recipe, size)
            frozen = reuse_or_fit(first, task, out, progress=False)  # as notebook 08 trains it
            second = recipes.rheumavit(args.backbone, epochs, sizes.batch_size, 2, profile.train.paper_recipe, size,
                                       weights=str(frozen.checkpoint), tag=f"{args.backbone} stage 2, {epochs} epochs, {size} px")  # fmt: skip
            tuned = reuse_or_fit(second, task, out, progress=False)
            probabilities = tuned.predict(task, "test")
            grades = {kind: task.head_probabilities(probabilities, kind).argmax(1) for kind in HEADS}
            row = grade_rows(truth, {"m": grades}, task.table.radiograph_id.to_numpy()[test])["m"]
            cells = [f"{row[f'{k} accuracy']:.2f} ({row[f'{k} accuracy_low']:.2f}-{row[f'{k} accuracy_high']:.2f}) | {row[f'{k} mae']:.2f}"
                     for k in HEADS]  # fmt: skip
            print(f"| {size} | {epochs} | {' | '.join(cells)} | {time.time() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
