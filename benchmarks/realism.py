"""How far a SynthRA cohort is from real evidence: classifier two-sample tests and the statistics behind them.

    .venv/bin/python benchmarks/realism.py [--real ../shared/data] [--profile cpu | --synthetic FOLDER]
                                           [--landmarks CSV] [--scores CSV] [--repeats 5] [--seed 0]
                                           [--checkpoint PT] [--out FILE.md]

``--real`` is a folder laid out as the repository's shared evidence (see
:meth:`ralib.realism.Evidence.from_folder`, which also says how the real films' pixel spacings were
measured); ``--landmarks`` and ``--scores`` point at a user's own files in the same layouts instead.
Evidence that is not there is skipped with a message. The synthetic cohort is the profile's cached data
set (made if missing) or any SynthRA folder. Prints markdown tables (AUC 0.5: indistinguishable; the
"real (other half)" rows show what chance and sample size give on their own). Real films with scores
are also scored by a whole-image regression checkpoint (``--checkpoint``, else the newest of the profile's).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ralib import realism
from ralib.config import get_profile
from ralib.synth import SynthConfig, load_tables, make_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--landmarks", type=Path, help="real landmarks (default: REAL/real_hand_landmarks.csv)")
    parser.add_argument("--scores", type=Path, help="real RA2-DREAM training.csv (default: REAL/real_ra2dream_scores.csv)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--synthetic", type=Path, help="a SynthRA folder instead of the profile's")
    parser.add_argument("--film-spacing", type=float, default=realism.DUAL_HAND_FILM_MM, help="mm a pixel of the real dual-hand films")
    parser.add_argument("--films", type=int, default=24, help="synthetic films in the pixel tests")
    parser.add_argument("--patients", type=int, default=600, help="synthetic patients (labels only) in the RA2-DREAM-cohort damage test")
    parser.add_argument("--checkpoint", type=Path, help="a whole-image svdh_regression checkpoint to score the real films with "
                        "(default: the newest under the profile's runs, if any)")
    parser.add_argument("--repeats", type=int, default=5, help="draws of synthetic films and crops per crop test (AUC: their mean)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the report to this markdown file")
    args = parser.parse_args()

    folder = args.synthetic or make_dataset(SynthConfig.from_profile(args.profile))
    evidence = realism.Evidence.from_folder(args.real, args.film_spacing)
    for name in ("landmarks", "scores"):
        if getattr(args, name) is not None:
            evidence = replace(evidence, **{name: getattr(args, name)})
    checkpoint = args.checkpoint or realism.latest_regression_checkpoint(args.profile)
    if checkpoint is None:
        print("no whole-image regression checkpoint found (run 03_whole_image_cnn, or pass --checkpoint): real films not scored\n")
    input_size = get_profile(args.profile).train.image_size
    result = realism.report(folder, load_tables(folder), evidence, args.seed, args.films, args.patients, args.repeats,
                            checkpoint, input_size)  # fmt: skip
    text = f"Synthetic cohort: `{Path(folder).name}`; seed {args.seed}.\n\n" + result.markdown()
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if result.tests.empty:
        sys.exit("no real evidence found: pass --real, --landmarks or --scores")


if __name__ == "__main__":
    main()
