"""Damage against real RA2-DREAM labels: per-patient site grades, their statistics and prevalence, and the
two-sample tests on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.realism.two_sample import real_against_real, two_sample_auc


#: the 62 hand sites of RA2-DREAM's ``training.csv``, both hands
HAND_SITE_COLUMNS = tuple(f"{h}_{s}" for h in anatomy.HANDS for s in anatomy.EROSION_SITES + anatomy.JSN_SITES)


def real_hand_grades(path: str | Path) -> pd.DataFrame:
    """The hand-site grades of a real RA2-DREAM ``training.csv``: one row per patient, 62 columns."""
    table = pd.read_csv(path, dtype={"Patient_ID": str})
    missing = [c for c in HAND_SITE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not the RA2-DREAM training.csv layout (no {missing[:3]}...)")
    return table.set_index("Patient_ID")[list(HAND_SITE_COLUMNS)].astype(float)


def synthetic_hand_grades(sites: pd.DataFrame, readers: bool = True) -> pd.DataFrame:
    """SynthRA's grades per image in the same 62 columns: the rounded mean of the two readers, as the
    RA2-DREAM export writes them (``readers=True``), or the noise-free truth."""
    values = np.floor((sites.reader_1 + sites.reader_2) / 2 + 0.5) if readers else sites.truth
    frame = sites.assign(column=sites.hand + "_" + sites.site, grade=values.astype(float))
    return frame.pivot_table(index="image_id", columns="column", values="grade")[list(HAND_SITE_COLUMNS)]


def damage_statistics(grades: pd.DataFrame) -> dict[str, float]:
    """Share of hands and of patients (both hands) without damage, hand-total quantiles, left-right PCC of
    the hand totals.

    Example:
        >>> g = pd.DataFrame(0.0, index=range(4), columns=list(HAND_SITE_COLUMNS))
        >>> g.iloc[0, 0] = 2
        >>> damage_statistics(g)["hands without damage"]
        0.875
    """
    left = grades[[c for c in grades.columns if c.startswith("LH_")]].sum(axis=1)
    right = grades[[c for c in grades.columns if c.startswith("RH_")]].sum(axis=1)
    hands = pd.concat([left, right])
    return {
        "hands without damage": float((hands == 0).mean()),
        "patients without damage": float(((left + right) == 0).mean()),
        "hand total median": float(hands.median()),
        "hand total 90th percentile": float(hands.quantile(0.9)),
        "left-right PCC": float(np.corrcoef(left, right)[0, 1]) if left.std() > 0 and right.std() > 0 else float("nan"),
    }


def site_prevalence(grades: pd.DataFrame) -> pd.Series:
    """Share of hands with a grade above 0 at each site."""
    return (grades > 0).mean()


def damage_report(synthetic_sites: pd.DataFrame, real: pd.DataFrame, seed: int = 0, cohort: str = "") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Two-sample tests on per-patient site grades (readers' labels and noise-free truth against the real
    labels, and real halves against each other), the statistics behind them, and the per-site
    prevalence side by side (largest differences first). ``cohort`` names the synthetic cohort in the rows."""
    published = synthetic_hand_grades(synthetic_sites, readers=True)
    truth = synthetic_hand_grades(synthetic_sites, readers=False)
    named = f"{cohort}: " if cohort else ""
    tests = [
        {"test": f"{named}site grades (reader labels)", "against": "real", **two_sample_auc(published.to_numpy(), real.to_numpy(), seed=seed).as_row()},
        {"test": f"{named}site grades (noise-free truth)", "against": "real", **two_sample_auc(truth.to_numpy(), real.to_numpy(), seed=seed).as_row()},
        {"test": "site grades", "against": "real (other half)", **real_against_real(real.to_numpy(), seed=seed).as_row()},
    ]  # fmt: skip
    stats = pd.DataFrame({"real": damage_statistics(real), "synthetic (readers)": damage_statistics(published),
                          "synthetic (truth)": damage_statistics(truth)}).round(3)  # fmt: skip
    prevalence = pd.DataFrame({"real": site_prevalence(real), "synthetic (readers)": site_prevalence(published),
                               "synthetic (truth)": site_prevalence(truth)})  # fmt: skip
    prevalence["difference"] = prevalence["synthetic (readers)"] - prevalence.real
    prevalence = prevalence.reindex(prevalence.difference.abs().sort_values(ascending=False).index)
    return pd.DataFrame(tests), stats, prevalence.round(3)
