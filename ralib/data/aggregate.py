"""Combining several readers' grades into one label: mean, rounded mean, majority, Dawid-Skene.

Example:
    >>> import pandas as pd
    >>> grades = pd.DataFrame({"reader_1": [0, 2, 3], "reader_2": [1, 2, 4], "reader_3": [0, 3, None]})
    >>> aggregate(grades, "majority").tolist()
    [0.0, 2.0, 3.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METHODS = ("mean", "rounded_mean", "majority", "dawid_skene")


def aggregate(grades: pd.DataFrame, method: str = "mean", kinds: pd.Series | None = None) -> pd.Series:
    """One label per row from the reader columns of ``grades`` (NaN cells: that reader did not score).

    - ``mean``: the readers' mean (what the image-level data set publishes);
    - ``rounded_mean``: the mean rounded half up to a whole grade;
    - ``majority``: the most frequent grade, ties broken towards the lower grade;
    - ``dawid_skene``: the Dawid-Skene estimate (crowd-kit, ``pip install ralib[dawidskene]``); rows of
      different ``kinds`` (erosion / JSN) are aggregated separately.
    """
    if method not in METHODS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {', '.join(METHODS)}")
    values = grades.apply(pd.to_numeric, errors="coerce")
    if method == "mean":
        return values.mean(axis=1)
    if method == "rounded_mean":
        return np.floor(values.mean(axis=1) + 0.5)
    if method == "majority":
        return values.apply(_majority, axis=1)
    return _dawid_skene(values, kinds)


def _majority(row: pd.Series) -> float:
    counts = row.dropna().value_counts()
    if counts.empty:
        return np.nan
    best = counts[counts == counts.max()].index
    return float(min(best))


def _dawid_skene(values: pd.DataFrame, kinds: pd.Series | None) -> pd.Series:
    try:
        from crowdkit.aggregation import DawidSkene
    except ImportError as exc:
        raise ImportError(
            "Dawid-Skene aggregation needs crowd-kit: pip install 'ralib[dawidskene]' (or pip install crowd-kit)"
        ) from exc
    kinds = pd.Series("all", index=values.index) if kinds is None else kinds
    out = pd.Series(np.nan, index=values.index)
    for _, idx in kinds.groupby(kinds).groups.items():
        part = values.loc[idx]
        long = part.stack().rename("label").reset_index()
        long.columns = ["task", "worker", "label"]
        long["label"] = long.label.astype(int)
        result = DawidSkene(n_iter=100).fit_predict(long)
        out.loc[result.index] = result.astype(float)
    return out
