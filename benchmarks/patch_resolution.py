"""Does the MIL paper's patch classifier see joint damage at a given resolution? Notebook 07's classifier
(MobileNetV2, normal / abnormal joint, class-balanced epochs) trained on the cpu profile's Scheme 2 patches at
the predicted landmarks, resized to each ``--sizes``; one markdown row per size with the test AUC against the
label and the truth, and mm per pixel. Scheme 1's 43-mm tiles at 64 px are 0.66 mm per pixel: the size at which
the joint patches reach that scale says whether resolution explains Scheme 1's failure (README, `06`).

    .venv/bin/python benchmarks/patch_resolution.py --sizes 32 64

Needs the crop caches and localiser of a cpu `make run` (notebook 05). Run it alone: two torch processes on two
cores slow each other down about tenfold.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ralib
from ralib.config import get_profile, runs_dir
from ralib.data import load_dataset
from ralib.landmarks.localiser import Localiser
from ralib.patches import crop_cache
from ralib.tasks.bags import film_table
from ralib.tasks.crops import patch_abnormality
from ralib.train import build_model, fit, whole_image_recipe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's patch_epochs")
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    ralib.setup(0, verbose=False)
    profile = get_profile(args.profile)
    sizes = profile.mil
    ds = load_dataset("synthra", profile=args.profile)
    films = film_table(ds)
    localiser = Localiser.load(runs_dir(args.profile) / "05_joint_localisation" / "localiser.pt")
    cache = crop_cache(ds, "patches", profile.landmarks.crop_size, localiser, progress=False)
    mm_per_px = float(np.median(cache.table.mm_per_px)) * profile.landmarks.crop_size
    print("| patch size, px | mm per pixel (median) | test AUC, label | test AUC, truth | training, s |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        task = patch_abnormality(cache, films, size=size, balanced=sizes.patch_balanced)
        truth = patch_abnormality(cache, films, grade="truth")
        config = whole_image_recipe(profile.train.paper_recipe)(sizes.patch_models[0], args.epochs or sizes.patch_epochs,
                                                               sizes.patch_batch_size, loss="cross_entropy", seed=0)  # fmt: skip
        started = time.time()
        fitted = fit(build_model(config, task.num_outputs), task, config, progress=False)
        p = fitted.predict(task)
        print(f"| {size} | {mm_per_px / size:.2f} | {fitted.evaluate(task)['auc']:.3f} | {truth.evaluate(p)['auc']:.3f} "
              f"| {time.time() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
