"""How far a SynthRA cohort is from real evidence: classifier two-sample tests and the statistics behind them.

    .venv/bin/python benchmarks/realism.py [--real ../shared/data] [--profile cpu | --synthetic FOLDER]
                                           [--landmarks CSV] [--scores CSV] [--seed 0] [--out FILE.md]

``--real`` is a folder laid out as the repository's shared evidence (``real_hand_landmarks.csv``,
``real_ra2dream_scores.csv``, ``real_radiographs/*.jpg``, ``real_adult_hand/hand_*.png``,
``real_wrists/*.png``); ``--landmarks`` and ``--scores`` point at a user's own files in the same
layouts instead. The real films carry no pixel spacing: the dual-hand films are taken at 0.16 mm a pixel
(an adult hand's 19 cm from wrist crease to middle fingertip spans about 1,200 px on them), the healthy
adult hand at 0.146 mm (the viewer's 5 cm ruler burned into the export spans 343 px), the wrist squares
at 0.15 mm (metacarpal shafts, about 8.5 mm wide, span about 57 px on them; the shared data's note of
0.09 mm would make every bone on them half its real size), so a real wrist square is 90 mm across and
the synthetic wrists are cut to the same; ``--film-spacing`` changes the first. Evidence that is not there is skipped with a message. The synthetic cohort is the
profile's cached data set (made if missing) or any SynthRA folder. Prints markdown tables (AUC 0.5:
indistinguishable; the "real (other half)" rows show what chance and sample size give on their own).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ralib import realism
from ralib.synth import SynthConfig, load_tables, make_dataset
from ralib.synth.cohort import cohort_sites

WRIST_SPACING_MM = 0.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--landmarks", type=Path, help="real landmarks (default: REAL/real_hand_landmarks.csv)")
    parser.add_argument("--scores", type=Path, help="real RA2-DREAM training.csv (default: REAL/real_ra2dream_scores.csv)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--synthetic", type=Path, help="a SynthRA folder instead of the profile's")
    parser.add_argument("--film-spacing", type=float, default=0.16, help="mm a pixel of the real dual-hand films")
    parser.add_argument("--films", type=int, default=24, help="synthetic films in the pixel tests")
    parser.add_argument("--patients", type=int, default=600, help="synthetic patients (labels only) in the RA2-DREAM-cohort damage test")
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
        # the test proper: a cohort with RA2-DREAM's severity, so that it judges how damage spreads over the
        # joints rather than which cohort it is; the data set's own (image-level) cohort for comparison
        cohorts = {"RA2-DREAM cohort": cohort_sites(args.patients, "ra2dream", args.seed), "data set": tables["sites"]}
        for name, sites in cohorts.items():
            damage_tests, stats, prevalence = realism.damage_report(sites, real_grades, args.seed, cohort=name)
            tests.append(damage_tests if name != "data set" else damage_tests.iloc[:2])  # the real halves once
            lines += [f"Damage of the {name} ({sites.image_id.nunique()} synthetic patients) against {len(real_grades)} "
                      f"real patients (`{scores}`), hand sites only:", "", stats.to_markdown(), "",
                      f"Per-site prevalence (share of hands graded above 0), mean absolute difference "
                      f"{prevalence.difference.abs().mean():.3f} (readers), "
                      f"{(prevalence['synthetic (truth)'] - prevalence.real).abs().mean():.3f} (truth); the ten largest:", "",
                      prevalence.head(10).to_markdown(), ""]  # fmt: skip
    else:
        lines += [f"Damage: skipped, no real labels at {scores}.", ""]

    lines += pixel_tests(args, folder, tables, tests)

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


def pixel_tests(args, folder: Path, tables: dict, tests: list) -> list[str]:
    """Crops of whole films (inside the body) and of wrists, at 0.3 mm a pixel, against the real ones."""
    import pandas as pd

    from ralib.data.io import read_film

    real = [realism.Film(read_film(p), args.film_spacing, p.name) for p in sorted((args.real / "real_radiographs").glob("*.jpg"))]
    real += [realism.Film(read_film(p), 0.146, p.name) for p in sorted((args.real / "real_adult_hand").glob("hand_*.png"))]
    wrists = [realism.Film(read_film(p), WRIST_SPACING_MM, p.name[:4]) for p in sorted((args.real / "real_wrists").glob("*.png"))]
    lines, rows = [], []
    synthetic_films = realism.synthetic_films(folder, tables["radiographs"], args.films, args.seed)
    width = WRIST_SPACING_MM * (wrists[0].image.shape[1] if wrists else 600)
    synthetic_wrists = realism.synthetic_wrists(folder, tables, args.films, args.seed, width_mm=width)
    for equalise, tone in ((False, "stretched"), (True, "equalised: structure only")):
        if len(real) >= 2:
            against, chance = realism.crop_test(synthetic_films, real, seed=args.seed, equalise=equalise)
            label = f"film crops, {tone} ({len(real)} real films)"
            rows.append({"test": label, "against": "real", **against.as_row()})
            if chance is not None:
                rows.append({"test": label, "against": "real (other half)", **chance.as_row()})
        if len(wrists) >= 2:
            against, chance = realism.crop_test(synthetic_wrists, wrists, per_film=20, seed=args.seed, inside_body=False, equalise=equalise)
            label = f"wrist crops, {tone} ({len(wrists)} real wrists)"
            rows.append({"test": label, "against": "real", **against.as_row()})
            if chance is not None:
                rows.append({"test": label, "against": "real (other half)", **chance.as_row()})
    if len(real) < 2:
        lines += [f"Film crops: skipped, fewer than two real films under {args.real}.", ""]
    if len(wrists) < 2:
        lines += [f"Wrist crops: skipped, no real wrists under {args.real / 'real_wrists'}.", ""]
    if rows:
        tests.append(pd.DataFrame(rows))
    return lines


if __name__ == "__main__":
    main()
