"""How fast SynthRA renders dual-hand radiographs on this machine, and how much memory it takes.

    .venv/bin/python benchmarks/synth_speed.py [--n 40]

Prints a markdown table: images per second for one process rendering in memory, and for
``make_dataset`` writing PNGs and tables with every core, at 512, 1024 and 2048 px, with the peak
resident memory of the rendering process and of one worker.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from ralib.synth import SynthConfig, make_dataset, radiograph


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports kilobytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40, help="images per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, {args.n} images per size\n")
    print("| image_size (px across 43 cm) | one process (img/s) | make_dataset, all cores (img/s) | MB per image on disk | peak RSS, one process (MB) | peak RSS, one worker (MB) |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        radiograph(0, size)  # warm up
        start = time.perf_counter()
        for seed in range(args.n):
            radiograph(seed, size)
        single = args.n / (time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            folder = make_dataset(SynthConfig(n_images=args.n, image_size=size, seed=1), Path(tmp), progress=False)
            parallel = args.n / (time.perf_counter() - start)
            disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / args.n / 2**20
        print(f"| {size} | {single:.1f} | {parallel:.1f} | {disk:.2f} | {peak_mb(resource.RUSAGE_SELF):.0f} | {peak_mb(resource.RUSAGE_CHILDREN):.0f} |")


if __name__ == "__main__":
    main()
