"""Simulated readers: the label noise of the real data sets.

Two **image-level readers** grade every SvdH site; the image label is the mean of their totals, as in
the 3,818-image data set. Each reader stretches or shrinks the damage they see (a personal scale and
a per-film mood that is larger on damaged films) and now and then calls a healthy site damaged.
Three **joint-level experts** grade the 42 boxes as in RheumaVIT's data set: each reports the true
grade or a neighbouring one, with a personal leaning up or down.

The defaults are calibrated (see :mod:`ralib.agreement` and the tests)
so that reader against reader on totals lands near the published PCC 0.97 / MAE 12.24 / RMSE 18.75
and one expert against the other two near erosion accuracy 0.79 and JSN accuracy 0.76.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> truth = np.array([0, 1, 3, 5])
    >>> read_sites(truth, np.array([5, 5, 5, 5]), READERS[0], rng).shape
    (4,)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ralib.agreement import expert_agreement, reader_agreement


@dataclass(frozen=True)
class Reader:
    """An image-level reader: how they distort the true site grades."""

    scale: float  # stretches the damage they see (one reader scores severe films higher)
    mood_sd: float  # per-film random stretch
    noise_sd: float  # per-site noise on damaged sites
    false_positive: float  # chance to call a healthy site grade 1


@dataclass(frozen=True)
class Expert:
    """A joint-level expert: probability of reporting the true grade and a leaning up or down."""

    accuracy: float
    lean: float  # in (-1, 1): share of errors that go up rather than down, centred at 0
    far: float = 0.15  # share of errors that jump two or three grades, at the top grade
    growth: float = 0.0  # how much more often the higher grades are misread
    max_jump: int = 3  # largest error in grades


#: false positives are rare: the real RA2-DREAM labels leave 21.5 % of hands at 0 (8.2 % of patients), which a
#: per-site rate above about 1 % in either reader could not (31 sites a hand, and the export rounds half up)
READERS = (
    Reader(scale=0.75, mood_sd=0.15, noise_sd=0.8, false_positive=0.004),
    Reader(scale=1.35, mood_sd=0.15, noise_sd=0.8, false_positive=0.006),
)
#: erosion experts rarely err on healthy joints but disagree widely on destroyed ones
EROSION_EXPERTS = (
    Expert(accuracy=0.98, lean=0.2, far=1.0, growth=9.0, max_jump=5),
    Expert(accuracy=0.97, lean=-0.1, far=1.0, growth=9.0, max_jump=5),
    Expert(accuracy=0.99, lean=0.0, far=1.0, growth=9.0, max_jump=5),
)
#: JSN experts err more evenly, mostly by one grade
JSN_EXPERTS = (
    Expert(accuracy=0.92, lean=0.2, far=0.3, growth=1.2),
    Expert(accuracy=0.90, lean=-0.1, far=0.3, growth=1.2),
    Expert(accuracy=0.94, lean=0.0, far=0.3, growth=1.2),
)


def read_sites(truth: np.ndarray, max_grade: np.ndarray, reader: Reader, rng: np.random.Generator) -> np.ndarray:
    """One reader's grades of one film's sites (``truth`` and ``max_grade`` per site)."""
    truth = np.asarray(truth, dtype=float)
    mood = rng.normal(0, reader.mood_sd)
    seen = truth * (reader.scale + mood) + rng.normal(0, reader.noise_sd, truth.shape) * (truth > 0)
    grades = np.clip(np.round(seen), 0, max_grade)
    # damage is rarely missed completely, and healthy sites are rarely called damaged
    grades = np.where((truth > 0) & (grades == 0) & (rng.random(truth.shape) < 0.7), 1, grades)
    grades = np.where((truth == 0) & (rng.random(truth.shape) < reader.false_positive), 1, grades)
    return grades.astype(int)


def read_film(truth: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Every image-level reader's grades of one film's SvdH sites (``truth`` in the order of
    :func:`ralib.anatomy.svdh_sites`)."""
    from ralib import anatomy

    max_grade = np.array([s.max_grade for s in anatomy.svdh_sites()])
    return [read_sites(truth, max_grade, reader, rng) for reader in READERS]


def read_joints(truth: np.ndarray, max_grade: int, expert: Expert, rng: np.random.Generator) -> np.ndarray:
    """One expert's grades of boxes: the true grade, or a neighbour (rarely two away)."""
    truth = np.asarray(truth, dtype=int)
    level = truth / max_grade
    wrong = rng.random(truth.shape) > 1 - (1 - expert.accuracy) * (1 + expert.growth * level)
    up = rng.random(truth.shape) < 0.5 + expert.lean / 2
    step = np.where(rng.random(truth.shape) < expert.far * level, rng.integers(2, expert.max_jump + 1, truth.shape), 1)
    moved = np.where(up, truth + step, truth - step)
    moved = np.where(moved < 0, truth + step, moved)  # nothing below 0: err upwards
    moved = np.where(moved > max_grade, truth - step, moved)
    return np.clip(np.where(wrong, moved, truth), 0, max_grade).astype(int)


def calibration_report(n_patients: int = 400, seed: int = 0) -> dict[str, dict[str, float]]:
    """Simulate ``n_patients`` and measure the readers and experts against each other.

    Returns reader-vs-reader agreement on totals (PCC / MAE / RMSE) and the experts' 1-vs-2
    class-weighted accuracy and MAE for erosion and JSN, with the published figures beside them.

    Example:
        >>> report = calibration_report(n_patients=50)
        >>> sorted(report)
        ['erosion_experts', 'jsn_experts', 'published', 'readers']
    """
    from ralib import anatomy
    from ralib.synth.disease import sample_grades, sample_patient
    from ralib.synth.world import box_truth

    rng = np.random.default_rng(seed)
    sites = anatomy.svdh_sites()
    totals = [[], []]
    boxes = {"erosion": [], "jsn": []}
    for _ in range(n_patients):
        grades = sample_grades(sample_patient(rng), rng)
        truth = np.array([grades[s.id] for s in sites])
        for r, reads in enumerate(read_film(truth, rng)):
            totals[r].append(reads.sum())
        for hand in anatomy.HANDS:
            for scores in box_truth(grades, hand).values():
                for kind in boxes:
                    if scores[kind] is not None:
                        boxes[kind].append(scores[kind])
    experts = {}
    for kind, top, panel in (("erosion", 5, EROSION_EXPERTS), ("jsn", 4, JSN_EXPERTS)):
        truth = np.array(boxes[kind])
        experts[kind] = expert_agreement(np.stack([read_joints(truth, top, e, rng) for e in panel]))
    return {
        "readers": reader_agreement(np.array(totals[0]), np.array(totals[1])),
        "erosion_experts": experts["erosion"],
        "jsn_experts": experts["jsn"],
        "published": {
            "reader_pcc": 0.97, "reader_mae": 12.24, "reader_rmse": 18.75,
            "erosion_accuracy": 0.79, "erosion_mae": 0.48, "jsn_accuracy": 0.76, "jsn_mae": 0.25,
        },  # fmt: skip
    }


def agreement_on(images: pd.DataFrame, joints: pd.DataFrame) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The simulated readers' agreement on a data set's film totals (``reader_1_total`` against
    ``reader_2_total``), and each head's experts against each other on its joint crops (``<kind>_expert_<e>``)."""
    experts = {kind: expert_agreement(joints[[f"{kind}_expert_{e}" for e in (1, 2, 3)]].dropna().to_numpy(int).T) for kind in ("erosion", "jsn")}
    return reader_agreement(images.reader_1_total, images.reader_2_total), experts


def calibration_table(on_dataset: dict, experts: dict, calibration: dict, simulated: str = "simulated patients") -> pd.DataFrame:
    """The readers and experts of a data set (:func:`agreement_on`) beside those of a simulated cohort
    (:func:`calibration_report`, column ``simulated``) and the published figures, one row per measure.

    Example:
        >>> report = calibration_report(n_patients=30)
        >>> table = calibration_table(report["readers"], {"erosion": report["erosion_experts"], "jsn": report["jsn_experts"]}, report)
        >>> list(table.columns), len(table)
        (['this data set', 'simulated patients', 'published'], 7)
    """
    published = calibration["published"]
    ours = [on_dataset["pcc"], on_dataset["mae"], on_dataset["rmse"], experts["erosion"]["accuracy"], experts["erosion"]["mae"],
            experts["jsn"]["accuracy"], experts["jsn"]["mae"]]  # fmt: skip
    simulated_values = [calibration["readers"]["pcc"], calibration["readers"]["mae"], calibration["readers"]["rmse"],
                        calibration["erosion_experts"]["accuracy"], calibration["erosion_experts"]["mae"],
                        calibration["jsn_experts"]["accuracy"], calibration["jsn_experts"]["mae"]]  # fmt: skip
    return pd.DataFrame({"this data set": ours, simulated: simulated_values, "published": list(published.values())}, index=list(published))
