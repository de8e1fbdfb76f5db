"""RA2-DREAM's measures and DeepRA's Table 3 (notebook 09): the reference sites of a set of films, the
challenge's distribution baseline, missing sites filled, and the weighted RMSE and weighted absolute error.

Example:
    >>> import pandas as pd
    >>> train = pd.DataFrame({"site": ["a"], "grade": [2.0]})
    >>> distribution_baseline(pd.DataFrame({"radiograph_id": ["x"], "hand": "LH", "site": ["a"]}), train).prediction.tolist()
    [2.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.metrics import bootstrap_interval, weighted_absolute_error, weighted_rmse


#: what identifies one scored hand site of a film
SITE_KEYS = ["radiograph_id", "hand", "site"]


def reference_sites(scores: pd.DataFrame, radiographs: pd.DataFrame, columns=("grade", "truth")) -> pd.DataFrame:
    """Every SvdH hand site of every film of ``radiographs`` with its ``columns`` from a data set's ``scores``
    (those present): ``patient_id``, ``radiograph_id``, ``hand``, ``site``, ``kind`` (erosion / narrowing),
    one column each. What :func:`challenge_measures` compares predictions with."""
    s = scores[(scores.scheme == "svdh") & scores.radiograph_id.astype(str).isin(radiographs.radiograph_id.astype(str))]
    s = s.drop_duplicates(SITE_KEYS).astype({"radiograph_id": str})
    present = [c for c in columns if c in s]
    out = s[SITE_KEYS + present].astype({c: float for c in present})
    out.insert(3, "kind", np.where(out.site.str.contains("_E__"), "erosion", "narrowing"))
    patients = radiographs.astype({"radiograph_id": str}).set_index("radiograph_id").patient_id.astype(str)
    out.insert(0, "patient_id", out.radiograph_id.map(patients).to_numpy())
    return out.reset_index(drop=True)


def distribution_baseline(reference: pd.DataFrame, train: pd.DataFrame, column: str = "grade", seed: int = 0) -> pd.DataFrame:
    """The RA2-DREAM baseline: each site of ``reference`` predicted by a draw from the training sites' grades
    of that site (``column`` of ``train``), as :func:`challenge_measures` reads predictions.

    Example:
        >>> train = pd.DataFrame({"site": ["a", "a", "b"], "grade": [1.0, 1.0, 3.0]})
        >>> distribution_baseline(pd.DataFrame({"radiograph_id": ["x", "x"], "hand": "LH", "site": ["a", "b"]}), train).prediction.tolist()
        [1.0, 3.0]
    """
    rng = np.random.default_rng(seed)
    pools = {site: g[column].dropna().to_numpy(float) for site, g in train.groupby("site")}
    missing = sorted(set(reference.site) - set(pools))
    if missing:
        raise ValueError(f"no training grades of the sites {missing}")
    return reference[SITE_KEYS].assign(prediction=[rng.choice(pools[s]) for s in reference.site])


def fill_missing_sites(predicted: pd.DataFrame, reference: pd.DataFrame, fill: pd.Series) -> tuple[pd.DataFrame, int]:
    """``predicted`` with a row for every site of ``reference``: sites without a prediction (a region the
    detector did not find) get ``fill`` (e.g. the site's training mean, indexed by site); returns the table
    and how many were filled.

    Example:
        >>> ref = pd.DataFrame({"radiograph_id": ["x", "x"], "hand": "LH", "site": ["a", "b"]})
        >>> table, n = fill_missing_sites(ref.iloc[:1].assign(prediction=2.0), ref, pd.Series({"a": 0.5, "b": 0.25}))
        >>> table.prediction.tolist(), n
        ([2.0, 0.25], 1)
    """
    joined = reference[SITE_KEYS].merge(predicted[SITE_KEYS + ["prediction"]], on=SITE_KEYS, how="left", validate="one_to_one")
    missing = joined.prediction.isna()
    joined["prediction"] = joined.prediction.fillna(joined.site.map(fill))
    return joined, int(missing.sum())


def challenge_measures(predicted: pd.DataFrame, reference: pd.DataFrame, column: str = "grade", seed: int = 0) -> dict[str, float]:
    """RA2-DREAM's measures of hand-site predictions (rows: ``radiograph_id``, ``hand``, ``site``,
    ``prediction``) against ``column`` of ``reference`` (:func:`reference_sites`): the weighted RMSE of
    narrowing and of erosion over every site (:func:`ralib.metrics.weighted_rmse`: weights 1 / sites sharing
    the rounded true grade), and the weighted absolute error of each patient's overall score (the sum of
    its sites; weights 1 / patients in its severity class, see :func:`ralib.metrics.weighted_absolute_error`),
    beside the plain RMSE and MAE and the overall score's PCC with its 95 % bootstrap interval over patients
    (``seed``). Every reference site needs a prediction."""
    joined = reference.merge(predicted[SITE_KEYS + ["prediction"]], on=SITE_KEYS, how="left", validate="one_to_one")
    joined = joined.dropna(subset=[column])
    if joined.prediction.isna().any():
        raise ValueError(f"{int(joined.prediction.isna().sum())} sites have no prediction (fill_missing_sites fills them)")
    out = {}
    for kind in ("narrowing", "erosion"):
        part = joined[joined.kind == kind]
        out[f"weighted rmse {kind}"] = weighted_rmse(part[column], part.prediction)
        out[f"rmse {kind}"] = float(np.sqrt(np.mean((part[column] - part.prediction) ** 2)))
    overall = joined.groupby("patient_id")[[column, "prediction"]].sum()
    bands = anatomy.severity_class(overall[column].clip(0, 280).to_numpy())
    out["weighted absolute error overall"] = weighted_absolute_error(overall[column], overall.prediction, labels=bands)
    out["absolute error overall"] = float(np.mean(np.abs(overall[column] - overall.prediction)))
    out["pcc overall"] = float(np.corrcoef(overall[column], overall.prediction)[0, 1]) if overall.prediction.std() > 0 else float("nan")
    low, high = bootstrap_interval(overall[column], overall.prediction, "pcc", seed=seed)
    out["pcc overall low"], out["pcc overall high"] = (np.nan if v is None else v for v in (low, high))
    return out | {"patients": len(overall), "sites": len(joined)}
