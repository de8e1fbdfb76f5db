"""What one pass over a data set's films costs: decoding and stretching every image file anew, against reading the
film back from the decoded-film cache (``ralib.data.arrays.stretched_film``, kept under ``<RALIB_DATA>/films``).
Every notebook that cuts its own arrays (squares, hands, letterboxed films, crops, tiles) makes such a pass.

    .venv/bin/python benchmarks/film_passes.py --profile cpu --films 100

The cache goes to a temporary folder, so the data folder's own cache is left alone.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from ralib.data import load_dataset
from ralib.data.arrays import stretch
from ralib.data.io import read_radiograph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--films", type=int, default=100, help="films timed (the first of the data set)")
    args = parser.parse_args()
    rows = [row for _, row in load_dataset("synthra", profile=args.profile).radiographs.head(args.films).iterrows()]
    os.environ["RALIB_DATA"] = tempfile.mkdtemp()  # the cache under test, away from the data folder's
    from ralib.data.arrays import stretched_film

    timings = {}
    for name, read in (("decode + stretch (before)", lambda r: stretch(read_radiograph(r))),
                       ("first pass: decode, stretch, keep", stretched_film),
                       ("later passes: read the kept film", stretched_film)):  # fmt: skip
        started = time.perf_counter()
        for row in rows:
            read(row)
        timings[name] = (time.perf_counter() - started) / len(rows)
    shape = stretched_film(rows[0]).shape
    print(f"{len(rows)} films of {shape[1]} x {shape[0]} px ({args.profile} profile), one thread\n")
    print("| pass | ms per film |\n|---|---|")
    for name, seconds in timings.items():
        print(f"| {name} | {1000 * seconds:.1f} |")


if __name__ == "__main__":
    main()
