"""How much do the training notebooks' results move between seeds? Prints markdown tables of the
notebooks ``03``-``09`` over several runs of the same profile, each made with another ``SEED`` (a new
synthetic cohort, split, initialisation and batch order); a notebook missing from a run folder is named
and left out:

    for s in 0 1 2; do
        .venv/bin/python -m ralib.run --profile cpu --only 01_synthetic 03 04 05 06 07 08 09 -p SEED=$s --out runs/cpu-seed$s
    done
    .venv/bin/python benchmarks/seed_spread.py runs/cpu-seed0 runs/cpu-seed1 runs/cpu-seed2

A difference between two runs whose ranges over the seeds overlap is not established by them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ralib.results import across_seeds

TABLES = [  # notebook, section of its metrics, measures
    ("03_whole_image_cnn", "regression", ("pcc", "rmse")),
    ("03_whole_image_cnn", "regression_against_truth", ("pcc", "rmse")),
    ("03_whole_image_cnn", "classification", ("accuracy", "mae")),
    ("03_whole_image_cnn", "recognition", ("auc",)),
    ("03_whole_image_cnn", "staging", ("auc",)),
    ("04_transfer_learning_ensembles", "pretraining", ("pcc", "mae")),
    ("04_transfer_learning_ensembles", "regression", ("pcc", "rmse")),
    ("04_transfer_learning_ensembles", "ensembles", ("pcc", "rmse")),
    ("06_mil_scheme1_tiles", "table2", ("pcc", "rmse")),
    ("07_mil_scheme2_joints", "table2", ("pcc", "rmse")),
    ("08_joint_scorer_tinyvit", "table1", ("erosion accuracy", "jsn accuracy")),
    ("08_joint_scorer_tinyvit", "total", ("pcc", "rmse")),
    ("09_joint_scorer_deepra", "table3", ("pcc overall", "weighted absolute error overall")),
]
SINGLE = [("03_whole_image_cnn", "regression_baseline"), ("03_whole_image_cnn", "ridge_thumbnails"),
          ("03_whole_image_cnn", "classification_baseline"), ("05_joint_localisation", "test")]  # fmt: skip


def records_of(runs: list[Path], notebook: str) -> list[dict]:
    """Every run's metrics of ``notebook``; runs without them are named and left out."""
    found = [folder / notebook / "metrics.json" for folder in runs]
    missing = [str(p.parent.parent) for p in found if not p.is_file()]
    if missing:
        print(f"\n({notebook}: no metrics in {', '.join(missing)}; left out)")
    return [json.loads(p.read_text()) for p in found if p.is_file()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="folders of runs made with different seeds")
    args = parser.parse_args()
    for notebook, section, measures in TABLES:
        table = across_seeds(records_of(args.runs, notebook), section, measures)
        if len(table):
            print(f"\n### {notebook}: {section}\n\n{table.to_markdown(floatfmt='.3f', missingval='-')}")
    for notebook, section in SINGLE:
        records = records_of(args.runs, notebook)
        wrapped = [{"seed": r["seed"], "metrics": {section: {section: r["metrics"][section]}}} for r in records]
        table = across_seeds(wrapped, section, ("pcc", "rmse", "accuracy", "mae", "mre", "sdr_4")).dropna(axis=1, how="all")
        print(f"\n### {notebook}: {section}\n\n{table.to_markdown(floatfmt='.3f', missingval='-')}")


if __name__ == "__main__":
    main()
