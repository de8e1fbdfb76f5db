"""Fit the synthetic disease model to the real joint-level SvdH labels of RA2-DREAM patients.

Writes ``ralib/synth/disease_params.csv`` (committed) and prints the fit. Run it from the checkout with
``../shared`` beside it:

    .venv/bin/python scripts/calibrate_disease_model.py ../shared/data/real_ra2dream_scores.csv

Model (a graded-response / ordinal-probit model): patient p has a latent severity theta_p ~ N(0, 1);
site type i (the 31 per-hand SvdH sites, pooled over both hands) has a loading lambda_i and ordered
thresholds tau_i1 < tau_i2 < ...; the grade is the number of thresholds that
z = lambda_i * theta_p + eps exceeds, eps ~ N(0, 1). Parameters and thetas are fitted by alternating
maximum likelihood (thetas with their N(0, 1) prior). Grades never seen in the real data get a threshold
placed one unit above the last fitted one. The real data stay outside the repository; only these
per-site-type numbers go in.

The real grades are readers' grades, so a model fitted to them describes readers, not the truth; the
synthetic readers then add their own noise on top. A second stage therefore shifts the thresholds of
each site in each hand until the *simulated readers' labels* of an RA2-DREAM cohort (the RA2-DREAM export's rounded
mean of the two readers, with the shared terms of the full model) reproduce the real share of each grade
or worse, site by site: the truth is the readers' labels deconvolved. What stays free is the multivariate
structure (which sites go together), which the realism report's two-sample test judges.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ralib import anatomy  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "ralib" / "synth" / "disease_params.csv"


def grade_loglik(z_mean: np.ndarray, grades: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """log P(grade | z_mean) under the ordinal probit with unit noise; taus ascending."""
    upper = np.append(taus, np.inf)  # grade g needs z in (tau_g, tau_{g+1}] with tau_0 = -inf
    lower = np.insert(taus, 0, -np.inf)
    p = stats.norm.cdf(upper[grades] - z_mean) - stats.norm.cdf(lower[grades] - z_mean)
    return np.log(np.clip(p, 1e-12, None))


def fit_site(theta: np.ndarray, grades: np.ndarray, max_grade: int) -> tuple[float, np.ndarray]:
    """ML loading and thresholds for one site type; unseen top grades get spaced thresholds."""
    top = int(grades.max())
    k = max(top, 1)

    def unpack(x):
        return x[0], np.cumsum(np.concatenate([[x[1]], np.exp(x[2:])]))

    def nll(x):
        lam, taus = unpack(x)
        return -grade_loglik(lam * theta, np.minimum(grades, k), taus).sum()

    x0 = np.concatenate([[1.0, 1.5], np.zeros(k - 1)])
    res = optimize.minimize(nll, x0, method="L-BFGS-B")
    lam, taus = unpack(res.x)
    while len(taus) < max_grade:
        taus = np.append(taus, taus[-1] + 1.0)
    return lam, taus


def main(path: str) -> None:
    d = pd.read_csv(path)
    types = list(anatomy.EROSION_SITES + anatomy.JSN_SITES)
    # grades[p, h, i]
    grades = np.stack([d[[f"{h}_{s}" for s in types]].to_numpy() for h in anatomy.HANDS], axis=1).astype(int)
    totals = grades.sum(axis=(1, 2))
    theta = stats.norm.ppf((stats.rankdata(totals) - 0.5) / len(totals))
    params = {}
    for it in range(6):
        for i, s in enumerate(types):
            g = grades[:, :, i].ravel()
            params[s] = fit_site(np.repeat(theta, 2), g, anatomy.EROSION_MAX if "_E__" in s else anatomy.JSN_MAX)
        # update thetas (MAP with N(0,1) prior) on a grid
        grid = np.linspace(-4, 4, 321)
        ll = np.zeros((len(theta), len(grid)))
        for i, s in enumerate(types):
            lam, taus = params[s]
            for h in range(2):
                ll += np.stack([grade_loglik(lam * t, grades[:, h, i], taus) for t in grid], axis=1)
        ll += stats.norm.logpdf(grid)[None, :]
        theta = grid[ll.argmax(axis=1)]
        theta = (theta - theta.mean()) / theta.std()
    params = match_reader_labels(grades, params)
    rows = [{"site": s, "loading": round(lam, 4), **{f"tau{k+1}": round(t, 4) for k, t in enumerate(taus)}} for s, (lam, taus) in params.items()]
    table = pd.DataFrame(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False)
    print(table.to_string(index=False))
    print(f"wrote {OUT}")


def match_reader_labels(grades: np.ndarray, params: dict, n_patients: int = 3000, iterations: int = 10,
                        damping: float = 0.8) -> dict:  # fmt: skip
    """Per-hand thresholds at which simulated reader labels have the real share of each grade or worse at
    each site of each hand (``grades[p, h, i]``), starting from the pooled fit; grades seen fewer than 5
    times in the real data keep their spacing above the last one seen."""
    from ralib.synth import disease
    from ralib.synth.cohort import cohort_sites

    types = list(anatomy.EROSION_SITES + anatomy.JSN_SITES)
    spread = 1 + disease.HAND_EFFECT**2 + disease.KIND_EFFECT**2  # variance of theta + hand + kind terms
    params = {f"{h}_{s}": (lam, np.array(taus, float)) for h in anatomy.HANDS for s, (lam, taus) in params.items()}
    for it in range(iterations):
        full = disease.with_extra_sites(params)
        sim = cohort_sites(n_patients, "ra2dream", seed=1000 + it, params=full)
        label = np.floor((sim.reader_1 + sim.reader_2) / 2 + 0.5)
        worst = []
        for (h, hand), (i, s) in itertools.product(enumerate(anatomy.HANDS), enumerate(types)):
            lam, taus = params[f"{hand}_{s}"]
            real = grades[:, h, i]
            synth = label[(sim.site == s) & (sim.hand == hand)].to_numpy()
            sd = np.sqrt(lam**2 * spread + 1)
            shift = 0.0
            for k in range(len(taus)):
                if (real >= k + 1).sum() >= 5:
                    p_real = (real >= k + 1).mean()
                    p_sim = np.clip((synth >= k + 1).mean(), 0.5 / len(synth), 1 - 0.5 / len(synth))
                    shift = damping * sd * (stats.norm.ppf(1 - p_real) - stats.norm.ppf(1 - p_sim))
                    worst.append(abs(p_real - p_sim))
                taus[k] += shift  # unseen grades move with the last seen one
            params[f"{hand}_{s}"] = (lam, disease.reachable(taus))
        print(f"reader-label match, iteration {it + 1}: largest share difference {max(worst):.3f}, mean {np.mean(worst):.3f}")
    return params


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/real_ra2dream_scores.csv")
