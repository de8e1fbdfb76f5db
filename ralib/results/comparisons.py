"""Models compared on the same films (the MIL paper's Table 2 and beyond): PCC with its bootstrap interval,
MAE and RMSE per model, paired-bootstrap differences between two models, and the best rows other notebooks
logged, read from their ``metrics.json``.

Example:
    >>> import numpy as np
    >>> true = np.arange(20.0)
    >>> scoring_table(true, {"exact": true})["rmse"].tolist()
    [0.0]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ralib.metrics import bootstrap_interval, paired_bootstrap, regression_metrics


def scoring_table(true, predictions: dict[str, np.ndarray], seed: int = 0) -> pd.DataFrame:
    """The MIL paper's Table 2 for one target: per model PCC with its 95 % bootstrap interval, MAE, RMSE.

    Example:
        >>> true = np.arange(20.0)
        >>> scoring_table(true, {"exact": true, "off by 2": true + 2}).loc["off by 2", ["pcc", "mae", "rmse"]].tolist()
        [1.0, 2.0, 2.0]
    """
    rows = {}
    for name, pred in predictions.items():
        m = regression_metrics(true, pred)
        low, high = bootstrap_interval(true, pred, "pcc", seed=seed)
        rows[name] = {"pcc": m["pcc"], "pcc_low": low, "pcc_high": high, "mae": m["mae"], "rmse": m["rmse"]}
    return pd.DataFrame(rows).T


def paired_comparisons(true, predictions: dict[str, np.ndarray], pairs: dict[str, tuple[str, str]],
                       measures: tuple[str, ...] = ("pcc", "rmse"), seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """For each named pair (a, b) and measure, the difference a - b with its 95 % paired-bootstrap
    interval (:func:`ralib.metrics.paired_bootstrap`): established where the interval excludes 0.

    Example:
        >>> true = np.linspace(0, 50, 40)
        >>> noise = np.random.default_rng(0).normal(0, 8, 40)
        >>> t = paired_comparisons(true, {"a": true + noise / 4, "b": true + noise}, {"a - b": ("a", "b")}, ("rmse",))
        >>> bool(t.loc[("a - b", "rmse"), "high"] < 0)
        True
    """
    rows = {(pair, measure): paired_bootstrap(true, predictions[a], predictions[b], measure, seed=seed)
            for pair, (a, b) in pairs.items() for measure in measures}  # fmt: skip
    return pd.DataFrame(rows).T


def elsewhere_rows(run_folder, tables: dict[str, str], measures: tuple[str, ...] = ("pcc", "mae", "rmse")) -> dict[str, dict]:
    """The best row by PCC against the label of other notebooks' tables, read from their ``metrics.json`` in
    ``run_folder`` (``{notebook: key of its metrics}``; rows named ``label | <model>`` where a table holds several
    targets, else every row); a notebook that has not run there is left out.

    Example:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> folder = Path(tempfile.mkdtemp()); (folder / "06_x").mkdir()
        >>> rows = {"label | a": {"pcc": 0.5, "mae": 1, "rmse": 2}, "label | b": {"pcc": 0.7, "mae": 3, "rmse": 4},
        ...         "truth | b": {"pcc": 0.9, "mae": 0, "rmse": 0}}
        >>> _ = (folder / "06_x" / "metrics.json").write_text(json.dumps({"metrics": {"table2": rows}}))
        >>> elsewhere_rows(folder, {"06_x": "table2", "02_not_run": "regression"})
        {'06_x: b': {'pcc': 0.7, 'mae': 3, 'rmse': 4}}
    """
    out = {}
    for notebook, key in tables.items():
        path = Path(run_folder) / notebook / "metrics.json"
        if not path.is_file():
            continue
        rows = json.loads(path.read_text())["metrics"][key]
        labelled = {k.split(" | ", 1)[1]: v for k, v in rows.items() if k.startswith("label | ")} or rows
        best = max(labelled, key=lambda k: labelled[k]["pcc"] if labelled[k]["pcc"] is not None else -1)
        out[f"{notebook}: {best}"] = {m: labelled[best][m] for m in measures}
    return out
