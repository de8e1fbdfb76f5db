"""Who the synthetic patients are and where their joints are damaged.

A patient has an age, a sex and, unless a healthy control, a latent severity ``theta``. Site grades
follow a graded-response (ordinal probit) model fitted to real joint-level SvdH labels of RA2-DREAM
patients (``disease_params.csv``, made by ``scripts/calibrate_disease_model.py``): site ``i`` of a hand
reaches grade ``k`` when ``loading_i * (theta + hand + kind) + site + joint + noise`` exceeds its
threshold ``tau_ik``. The thresholds are those at which the *simulated readers* reproduce the real
labels' share of each grade at each site of each hand, so the truth is the real labels with the readers'
noise taken out. The shared terms make damage symmetric between the hands (same site type),
correlated within a hand and between erosion and narrowing at one joint; their sizes were chosen so
that the simulated cohort reproduces the real left-right (0.90), erosion-JSN (0.81) and same-site
left-right (0.59) correlations. The latent severity is shifted from the RA2-DREAM cohort towards the
image-level cohort of the whole-image papers (median total 10-20, about one in ten above 70) unless
the ``ra2dream`` cohort is asked for (:data:`COHORTS`).

Confounders that SvdH does not score are sampled too: osteoarthritis at the DIP joints and the thumb
base (age-driven), deformity without damage, and periarticular osteopenia.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = sample_patient(rng)
    >>> grades = sample_grades(p, rng)
    >>> len([k for k in grades if k in SVDH_IDS])
    62
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ralib import anatomy

PARAMS_PATH = Path(__file__).with_name("disease_params.csv")

#: shared-term sizes (see the module docstring); fitted by simulation against RA2-DREAM correlations
SITE_EFFECT = 0.75  # same site type in both hands
HAND_EFFECT = 0.2  # one hand worse than the other
JOINT_EFFECT = 0.3  # erosion and JSN at the same joint
KIND_EFFECT = 0.25  # a patient's erosive versus narrowing tendency


@dataclass(frozen=True)
class Cohort:
    """Who is in a synthetic cohort: the latent severity of its RA patients and its share of healthy controls."""

    severity_mean: float
    severity_sd: float
    healthy_fraction: float


#: ``image_level``: the 3,818-film cohort of the whole-image and MIL papers (median total 10-20, about one
#: in ten above 70, some controls), the default; ``ra2dream``: the RA2-DREAM patients the site model was
#: fitted on (severity N(0, 1), no controls), for judging how damage spreads over the joints.
COHORTS = {
    "image_level": Cohort(severity_mean=0.5, severity_sd=1.0, healthy_fraction=0.08),
    "ra2dream": Cohort(severity_mean=0.0, severity_sd=1.0, healthy_fraction=0.0),
}


def cohort_of(cohort: str | Cohort) -> Cohort:
    """A cohort by name (one of :data:`COHORTS`) or as given.

    Example:
        >>> cohort_of("ra2dream").healthy_fraction
        0.0
    """
    if isinstance(cohort, Cohort):
        return cohort
    if cohort not in COHORTS:
        raise ValueError(f"unknown cohort {cohort!r}; choose one of {sorted(COHORTS)} or pass a Cohort")
    return COHORTS[cohort]

SVDH_IDS = tuple(anatomy.svdh_site_ids())
#: scored by the joint-level data set (RheumaVIT boxes) but not by SvdH
EXTRA_SITES = (*(f"dip_E__{f}" for f in (2, 3, 4, 5)), *(f"dip_J__{f}" for f in (2, 3, 4, 5)), "mcp_J__ip")
# DIP joints are spared by RA: low loading, high thresholds; the thumb IP's JSN behaves like PIP5's
_EXTRA_PARAMS = {
    **{f"dip_E__{f}": (0.35, [2.6, 2.9, 3.3, 3.7, 4.1]) for f in (2, 3, 4, 5)},
    **{f"dip_J__{f}": (0.45, [2.4, 2.7, 3.2, 3.7]) for f in (2, 3, 4, 5)},
}


@dataclass
class Patient:
    """One synthetic patient."""

    age: float
    sex: str  # "F" or "M"
    theta: float | None  # latent RA severity; None for a healthy control
    deformity: float = 0.0  # 0-1: flexion contractures, ulnar drift
    osteopenia: float = 0.0  # 0-1
    oa: dict[str, float] = field(default_factory=dict)  # "<hand>_<joint>" -> 0-1 osteoarthritis

    @property
    def healthy(self) -> bool:
        return self.theta is None


@lru_cache(maxsize=1)
def site_parameters() -> dict[str, tuple[float, np.ndarray]]:
    """Loading and thresholds per site of each hand (``LH_mcp_E__2``): the 62 SvdH sites, fitted per hand
    because the real labels differ between the hands (MCP1 narrowing 0.43 left against 0.21 right), and
    the extra box-level sites, the same in both hands."""
    table = pd.read_csv(PARAMS_PATH)
    params = {}
    for row in table.itertuples(index=False):
        taus = np.array([t for t in row[2:] if not pd.isna(t)], dtype=float)
        params[row.site] = (float(row.loading), reachable(taus))
    return with_extra_sites(params)


def with_extra_sites(svdh: dict[str, tuple[float, np.ndarray]]) -> dict[str, tuple[float, np.ndarray]]:
    """The 62 SvdH sites' parameters completed with the box-level sites SvdH does not score: the DIPs
    (spared by RA) and the thumb IP's narrowing (which behaves like PIP5's)."""
    params = dict(svdh)
    for hand in anatomy.HANDS:
        loading, taus = params[f"{hand}_pip_J__5"]
        params[f"{hand}_mcp_J__ip"] = (loading, taus.copy())
        params |= {f"{hand}_{site}": (lam, np.array(t)) for site, (lam, t) in _EXTRA_PARAMS.items()}
    return params


def reachable(taus: np.ndarray, gap: float = 0.15) -> np.ndarray:
    """Thresholds made ascending by at least ``gap``, so that every grade can be reached.

    Example:
        >>> reachable(np.array([1.0, 0.9, 2.0])).round(2).tolist()
        [1.0, 1.15, 2.0]
    """
    taus = np.array(taus, dtype=float)
    for k in range(1, len(taus)):
        taus[k] = max(taus[k], taus[k - 1] + gap)
    return taus


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def expected_deformity(theta: float) -> float:
    """Flexion contractures and ulnar drift (0-1) of an RA patient of latent severity ``theta``, on average.

    Example:
        >>> round(expected_deformity(0.0), 2), round(expected_deformity(3.0), 2)
        (0.03, 0.96)
    """
    return float(_sigmoid(2.2 * (theta - 1.6)))


def expected_osteopenia(theta: float, age: float) -> float:
    """Periarticular and general osteopenia (0-1) of an RA patient, on average: with severity and with age."""
    return float(0.55 * _sigmoid(2 * (theta - 0.3)) + 0.2 * max(age - 55, 0) / 25)


def sample_patient(rng: np.random.Generator, cohort: str | Cohort = "image_level",
                   healthy_fraction: float | None = None) -> Patient:  # fmt: skip
    """Draw age, sex, severity, deformity, osteopenia and osteoarthritis of one patient of ``cohort``
    (``healthy_fraction`` overrides the cohort's share of healthy controls)."""
    cohort = cohort_of(cohort)
    healthy = rng.random() < (cohort.healthy_fraction if healthy_fraction is None else healthy_fraction)
    if healthy:
        age = float(np.clip(rng.normal(45, 15), 18, 85))
        sex = "F" if rng.random() < 0.5 else "M"
        theta = None
        deformity = float(rng.random() < 0.03) * rng.uniform(0.2, 0.5)
        osteopenia = float(np.clip(0.2 * max(age - 55, 0) / 25 + rng.normal(0, 0.05), 0, 1))
    else:
        age = float(np.clip(rng.normal(57, 13), 20, 90))
        sex = "F" if rng.random() < 0.74 else "M"
        theta = float(rng.normal(cohort.severity_mean, cohort.severity_sd))
        # late RA deforms; a few mild patients have deformity without damage
        deformity = float(np.clip(expected_deformity(theta) + rng.normal(0, 0.08), 0, 1))
        if rng.random() < 0.05:
            deformity = max(deformity, rng.uniform(0.3, 0.6))
        osteopenia = float(np.clip(expected_osteopenia(theta, age) + rng.normal(0, 0.08), 0, 1))
    oa = {}
    p_oa = 0.75 * _sigmoid((age - 62) / 6)
    for hand in anatomy.HANDS:
        for joint in ("dip2", "dip3", "dip4", "dip5", "cmc1", "ip"):
            if rng.random() < p_oa * (1.0 if joint != "ip" else 0.4):
                oa[f"{hand}_{joint}"] = float(rng.uniform(0.25, 1.0))
    return Patient(age, sex, theta, deformity, osteopenia, oa)


def sample_grades(patient: Patient, rng: np.random.Generator,
                  params: dict[str, tuple[float, np.ndarray]] | None = None) -> dict[str, int]:  # fmt: skip
    """True grades of one patient: the 62 SvdH site ids plus the extra box-level sites per hand.

    Keys are ``<hand>_<site>`` (``LH_mcp_E__2``, ``RH_dip_J__3``, ``LH_mcp_J__ip``). ``params``: loading and
    thresholds per site type (default :func:`site_parameters`; the calibration script passes candidates).
    """
    params = site_parameters() if params is None else params
    types = list(anatomy.EROSION_SITES + anatomy.JSN_SITES + EXTRA_SITES)
    if patient.healthy:
        return {f"{h}_{s}": 0 for h in anatomy.HANDS for s in types}
    joint_of = {s: _joint_key(s) for s in types}
    joints = sorted(set(joint_of.values()))
    site_term = dict(zip(types, rng.standard_normal(len(types)) * SITE_EFFECT))
    noise_sd = np.sqrt(1 - SITE_EFFECT**2 - JOINT_EFFECT**2)
    kind_term = {"E": rng.normal(0, KIND_EFFECT), "J": rng.normal(0, KIND_EFFECT)}
    grades = {}
    for hand in anatomy.HANDS:
        hand_term = rng.normal(0, HAND_EFFECT)
        joint_term = dict(zip(joints, rng.standard_normal(len(joints)) * JOINT_EFFECT))
        for s in types:
            loading, taus = params[f"{hand}_{s}"]
            kind = "E" if "_E__" in s else "J"
            z = loading * (patient.theta + hand_term + kind_term[kind]) + site_term[s] + joint_term[joint_of[s]]
            z += rng.normal(0, noise_sd)
            grades[f"{hand}_{s}"] = int((z > taus).sum())
    return grades


def _joint_key(site: str) -> str:
    """The joint a site belongs to, shared by its erosion and JSN scores."""
    group, rest = site.split("_", 1)
    return f"{group}_{rest.split('__')[1]}"


def severity_summary(totals: np.ndarray) -> dict[str, float]:
    """Median, 90th percentile, share above 70 and share at 0 of total scores.

    Example:
        >>> severity_summary(np.array([0, 10, 80]))["share_above_70"]
        0.3333333333333333
    """
    totals = np.asarray(totals, dtype=float)
    return {
        "median": float(np.median(totals)),
        "p90": float(np.quantile(totals, 0.9)),
        "share_above_70": float((totals > 70).mean()),
        "share_zero": float((totals == 0).mean()),
        "max": float(totals.max()),
    }


#: What the calibration data show (184 RA2-DREAM patients, ../shared/data/real_ra2dream_scores.csv,
#: hand sites only), measured by scripts/calibrate_disease_model.py's author; for comparison only.
REAL_RA2DREAM_FACTS = {
    "median": 7.0,
    "p90": 61.1,
    "share_above_70": 0.076,
    "share_zero": 0.082,
    "left_right_pcc": 0.90,
    "erosion_jsn_pcc": 0.81,
    "same_site_left_right_pcc": 0.59,
}


def cohort_statistics(site_grades: pd.DataFrame) -> dict[str, float]:
    """Severity summary and correlations of a table with the 62 SvdH site columns (one row per image).

    Left-right: PCC of the two hands' totals; erosion-JSN: PCC of the erosion and JSN totals;
    same-site left-right: mean PCC of a site's grade in the two hands (sites that vary in both).
    """
    ids = list(SVDH_IDS)
    g = site_grades[ids].astype(float)
    left = g[[c for c in ids if c.startswith("LH_")]].sum(axis=1)
    right = g[[c for c in ids if c.startswith("RH_")]].sum(axis=1)
    erosion = g[[c for c in ids if "_E__" in c]].sum(axis=1)
    jsn = g[[c for c in ids if "_J__" in c]].sum(axis=1)
    same = []
    for site in anatomy.EROSION_SITES + anatomy.JSN_SITES:
        a, b = g[f"LH_{site}"], g[f"RH_{site}"]
        if a.std() > 0 and b.std() > 0:
            same.append(np.corrcoef(a, b)[0, 1])
    return severity_summary((left + right).to_numpy()) | {
        "left_right_pcc": float(np.corrcoef(left, right)[0, 1]),
        "erosion_jsn_pcc": float(np.corrcoef(erosion, jsn)[0, 1]),
        "same_site_left_right_pcc": float(np.mean(same)) if same else float("nan"),
    }
