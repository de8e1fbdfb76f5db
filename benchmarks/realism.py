"""How far a SynthRA cohort is from real evidence: classifier two-sample tests and the statistics behind them.

    .venv/bin/python benchmarks/realism.py [--real ../shared/data] [--profile cpu | --synthetic FOLDER]
                                           [--landmarks CSV] [--scores CSV] [--seed 0] [--out FILE.md]

``--real`` is a folder laid out as the repository's shared evidence (``real_hand_landmarks.csv``,
``real_ra2dream_scores.csv``); ``--landmarks`` and ``--scores`` point at a user's own files in the same
layouts instead. Evidence that is not there is skipped with a message. The synthetic cohort is the
profile's cached data set (made if missing) or any SynthRA folder. Prints markdown tables (AUC 0.5:
indistinguishable; the "real (other half)" rows show what chance and sample size give on their own).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ralib import realism
from ralib.synth import SynthConfig, load_tables, make_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--landmarks", type=Path, help="real landmarks (default: REAL/real_hand_landmarks.csv)")
    parser.add_argument("--scores", type=Path, help="real RA2-DREAM training.csv (default: REAL/real_ra2dream_scores.csv)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--synthetic", type=Path, help="a SynthRA folder instead of the profile's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the report to this markdown file")
    args = parser.parse_args()

    folder = args.synthetic or make_dataset(SynthConfig.from_profile(args.profile))
    tables = load_tables(folder)
    lines = [f"Synthetic cohort: `{folder.name}` ({len(tables['radiographs'])} films); seed {args.seed}.", ""]
    tests = []

    landmarks = args.landmarks or args.real / "real_hand_landmarks.csv"
    if landmarks.is_file():
        real = realism.real_hand_shapes(landmarks)
        geometry_tests, stats = realism.geometry_report(realism.synthetic_hand_shapes(tables["landmarks"]), real, args.seed)
        tests.append(geometry_tests)
        lines += [f"Hand geometry against {len(real.points)} real hands (`{landmarks}`), in MCP2-MCP5 units:", "",
                  stats.to_markdown(), ""]  # fmt: skip
    else:
        lines += [f"Hand geometry: skipped, no real landmarks at {landmarks}.", ""]

    scores = args.scores or args.real / "real_ra2dream_scores.csv"
    if scores.is_file():
        real_grades = realism.real_hand_grades(scores)
        damage_tests, stats, prevalence = realism.damage_report(tables["sites"], real_grades, args.seed)
        tests.append(damage_tests)
        lines += [f"Damage against {len(real_grades)} real patients (`{scores}`), hand sites only:", "", stats.to_markdown(), "",
                  f"Per-site prevalence (share of hands graded above 0), mean absolute difference "
                  f"{prevalence.difference.abs().mean():.3f}; the ten largest differences:", "",
                  prevalence.head(10).to_markdown(), ""]  # fmt: skip
    else:
        lines += [f"Damage: skipped, no real labels at {scores}.", ""]

    if tests:
        import pandas as pd

        lines = ["Classifier two-sample tests (boosted trees, 5-fold, patients kept together; AUC 0.5 = indistinguishable):", "",
                 pd.concat(tests).to_markdown(index=False), "", *lines]  # fmt: skip
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    if not tests:
        sys.exit("no real evidence found: pass --real, --landmarks or --scores")


if __name__ == "__main__":
    main()
