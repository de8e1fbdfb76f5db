"""The same runs over several seeds, side by side (:func:`across_seeds`): a difference is established only
beyond the seeds' spread.

Example:
    >>> a = {"seed": 0, "metrics": {"t": {"m": {"pcc": 0.5}}}}
    >>> b = {"seed": 1, "metrics": {"t": {"m": {"pcc": 0.3}}}}
    >>> float(across_seeds([a, b], "t", ("pcc",))["pcc mean"].iloc[0])
    0.4
"""

from __future__ import annotations


import numpy as np
import pandas as pd


def across_seeds(records: list[dict], section: str, measures: tuple[str, ...] = ("pcc", "rmse")) -> pd.DataFrame:
    """The same runs over several seeds: one row per run of ``section`` of notebooks' ``metrics.json``
    records, each measure per seed, then its mean, min and max over the seeds. A difference between
    two runs that the seeds' ranges overlap is not established by these runs.

    Example:
        >>> a = {"seed": 0, "metrics": {"regression": {"m": {"pcc": 0.5, "rmse": 30.0}}}}
        >>> b = {"seed": 1, "metrics": {"regression": {"m": {"pcc": 0.1, "rmse": 33.0}}}}
        >>> across_seeds([a, b], "regression", ("pcc",)).round(2).to_dict("records")
        [{'pcc seed 0': 0.5, 'pcc seed 1': 0.1, 'pcc mean': 0.3, 'pcc min': 0.1, 'pcc max': 0.5}]
    """
    seeds = [r["seed"] for r in records]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"each record must come from another seed; got seeds {seeds}")
    runs = list(dict.fromkeys(run for r in records for run in r["metrics"].get(section, {})))
    table = pd.DataFrame(index=pd.Index(runs, name="run"))
    for measure in measures:
        columns = []
        for record in records:
            values = record["metrics"].get(section, {})
            column = f"{measure} seed {record['seed']}"
            table[column] = [values.get(run, {}).get(measure, np.nan) for run in runs]
            columns.append(column)
        table[f"{measure} mean"] = table[columns].mean(axis=1)
        table[f"{measure} min"] = table[columns].min(axis=1)
        table[f"{measure} max"] = table[columns].max(axis=1)
    return table
