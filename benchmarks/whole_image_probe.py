"""Can a whole-image CNN learn the SvdH total from the cpu profile's SynthRA films? One training run per
call, printed as a markdown row next to two references: predicting the training mean, and a ridge
regression on 24-px thumbnails.

    .venv/bin/python benchmarks/whole_image_probe.py --size 192 --model mobilenetv2_100 --epochs 10 --recipe miua2024
    .venv/bin/python benchmarks/whole_image_probe.py --size 128 --epochs 24 --recipe fast
    .venv/bin/python benchmarks/whole_image_probe.py --size 192 --epochs 6 --recipe adamw --augment none

Recipes: ``miua2024`` (SGD 1e-3, constant), ``adamw`` (AdamW 1e-3, weight decay 1e-2, constant) and
``fast`` (``recipes.fast``: AdamW with a one-cycle schedule). Run it alone: two torch processes on
two cores slow each other down about tenfold.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import ralib
from ralib import tasks
from ralib.data import load_dataset
from ralib.data.arrays import film_array
from ralib.results import mean_baseline, thumbnail_ridge
from ralib.train import build_model, fit, recipes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--model", default="mobilenetv2_100")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--recipe", choices=["miua2024", "adamw", "fast"], default="miua2024")
    parser.add_argument("--augment", default="miua2024")
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    ralib.setup(0, verbose=False)
    ds = load_dataset("synthra", profile=args.profile)
    task = tasks.svdh_regression(ds, film_array(ds, args.size, progress=False))
    if args.recipe == "fast":
        config = recipes.fast(args.model, args.epochs, args.batch, augment=args.augment)
    else:
        config = recipes.miua2024(args.model, args.epochs, args.batch, augment=args.augment)
        if args.recipe == "adamw":
            config = replace(config, optimizer="adamw", weight_decay=1e-2)
    fitted = fit(build_model(config, task.num_outputs), task, config, progress=False)
    test, val = fitted.evaluate(task, "test"), fitted.evaluate(task, "val")
    print("| size | model | epochs | recipe | augment | final train loss | val PCC | test PCC | test MAE | test RMSE | minutes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.size} | {args.model} | {args.epochs} | {args.recipe} | {args.augment} | "
          f"{fitted.history.train_loss.iloc[-1]:.2f} | {val['pcc']} | {test['pcc']} | {test['mae']} | {test['rmse']} | "
          f"{fitted.seconds / 60:.1f} |")
    print(f"\nreferences on the same test films: training mean {mean_baseline(task)}, "
          f"ridge on 24-px thumbnails {thumbnail_ridge(task)}")


if __name__ == "__main__":
    main()
