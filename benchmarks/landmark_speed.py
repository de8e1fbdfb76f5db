"""How long the landmark localiser of notebook 05 takes per film on this machine, from a film in memory
to 74 landmarks in film pixels (letterboxing both passes' inputs, the coarse pass, 74 fine windows).

    .venv/bin/python benchmarks/landmark_speed.py runs/cpu/05_joint_localisation/localiser.pt [--n 20]

Reads ``--n`` films of the profile's SynthRA data set (not timed), warms up on one, then times
:meth:`ralib.landmarks.localiser.Localiser.locate` on each and prints a markdown table (median, mean,
slowest, and the coarse pass alone).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from ralib.data import load_dataset
from ralib.data.arrays import letterbox
from ralib.data.io import read_radiograph
from ralib.landmarks.localiser import Localiser


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("localiser", help="a localiser.pt saved by notebook 05")
    parser.add_argument("--n", type=int, default=20, help="films to time")
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    loc = Localiser.load(args.localiser)
    ds = load_dataset("synthra", profile=args.profile)
    films = [read_radiograph(row) for _, row in ds.radiographs.head(args.n + 1).iterrows()]
    loc.locate(films[0])  # warm-up
    full, coarse_only = [], []
    for film in films[1:]:
        start = time.perf_counter()
        loc.locate(film)
        full.append(time.perf_counter() - start)
        start = time.perf_counter()
        square, _ = letterbox(film, loc.coarse_size)
        loc.coarse_pass(np.round(square * 255).astype(np.uint8)[None])
        coarse_only.append(time.perf_counter() - start)
    print(f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, {len(full)} films of {films[1].shape[1]} x {films[1].shape[0]} px\n")
    print("| step | median (s/film) | mean | slowest |")
    print("|---|---|---|---|")
    for name, times in (("both passes, film to landmarks", full), ("letterbox + coarse pass", coarse_only)):
        print(f"| {name} | {np.median(times):.3f} | {np.mean(times):.3f} | {np.max(times):.3f} |")


if __name__ == "__main__":
    main()
