"""RheumaVIT's tables (notebook 08): joint grades against the truth per model and head (Table 1), the
average expert beside them, and each film's SvdH total assembled from the joint grades.

Example:
    >>> joined_models(["vit, shared"])
    {'vit, shared': {'erosion': 'vit, shared', 'jsn': 'vit, shared'}}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ralib.agreement import expert_agreement
from ralib.metrics import grade_agreement
from ralib.tasks.joint_grades import assembled_totals


def assembled_total_predictions(task, probabilities: dict[str, np.ndarray], films: pd.DataFrame,
                                target: str = "score") -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """Each test film's SvdH total assembled from a joint scorer's grades (:func:`~ralib.tasks.joint_grades.assembled_totals`)
    three ways: the raw sum of the grades' expectations after correcting the probabilities for the weighted draws
    (``raw sum, prior-corrected``: :meth:`~ralib.tasks.joint_grades.JointGradeTask.calibrated`, the headline); the raw
    sum as trained (``raw sum, as drawn``), which weighted draws push high; and that sum mapped by a straight line
    fitted on the validation films' ``target`` (``line fitted on validation``). ``probabilities`` holds
    :meth:`decode`'s output for the ``val`` and ``test`` rows of ``task``; ``films`` the ``radiograph_id``, ``split``
    and ``target`` of each film. Returns the predictions (one column per way, rows the test films in ``films``' order)
    and the fitted line (``slope``, ``intercept``).

    Example:
        >>> import pandas as pd
        >>> from ralib.tasks.joint_grades import JointGradeTask
        >>> table = pd.DataFrame({"radiograph_id": ["a", "a", "b", "c", "d"], "joint": ["mcp2"] * 5,
        ...                       "split": ["train", "train", "val", "val", "test"], "erosion_site": ["mcp2"] * 5,
        ...                       "jsn_site": ["mcp2"] * 5, "erosion_grade": [0, 1, 0, 1, 1], "jsn_grade": [0] * 5})
        >>> task = JointGradeTask(np.zeros((5, 8, 8), np.uint8), table, input_size=8)
        >>> p = np.zeros((5, 11)); p[:, 6] = 1; p[:, 1] = 1; p[[0, 2], 1] = 0; p[[0, 2], 0] = 1   # erosion as in the table
        >>> films = pd.DataFrame({"radiograph_id": ["b", "c", "d"], "split": ["val", "val", "test"], "score": [0.0, 2.0, 2.0]})
        >>> out, line = assembled_total_predictions(task, {"val": p[[2, 3]], "test": p[[4]]}, films)
        >>> out.round(2).to_dict("records"), round(line["slope"], 2)
        ([{'raw sum, prior-corrected': 1.0, 'raw sum, as drawn': 1.0, 'line fitted on validation': 2.0}], 2.0)
    """
    totals, raw = {}, {}
    for split in ("val", "test"):
        rows = task.table.iloc[task.rows(split)]
        raw[split] = assembled_totals(rows, probabilities[split], task.heads)
        totals[split] = assembled_totals(rows, task.calibrated(probabilities[split]), task.heads)
    labels = films.set_index(films.radiograph_id.astype(str))
    val = raw["val"].index.intersection(labels.index[labels.split == "val"])
    slope, intercept = np.polyfit(raw["val"].loc[val], labels[target].loc[val].astype(float), 1)
    test = [f for f in labels.index[labels.split == "test"] if f in raw["test"].index]
    out = pd.DataFrame({"raw sum, prior-corrected": totals["test"].loc[test], "raw sum, as drawn": raw["test"].loc[test],
                        "line fitted on validation": slope * raw["test"].loc[test] + intercept}, index=test)  # fmt: skip
    return out, {"slope": float(slope), "intercept": float(intercept)}


def joined_models(names, heads: tuple[str, ...] = ("erosion", "jsn")) -> dict[str, dict[str, str]]:
    """Table rows from scorer names, each row naming the model each head is read from: a shared model
    gives every head; models named ``"<b>, separate <head>"`` (any case) join into the row ``"<b>, separate"``.

    Example:
        >>> joined_models(["vit, shared", "cnn, separate erosion", "cnn, separate JSN"])["cnn, separate"]
        {'erosion': 'cnn, separate erosion', 'jsn': 'cnn, separate JSN'}
    """
    rows: dict[str, dict[str, str]] = {}
    for name in names:
        base, separate, head = name.rpartition(", separate ")
        if separate and head.lower() in heads:
            rows.setdefault(f"{base}, separate", {})[head.lower()] = name
        else:
            rows[name] = dict.fromkeys(heads, name)
    missing = {row: sorted(set(heads) - set(sources)) for row, sources in rows.items() if len(sources) < len(heads)}
    if missing:
        raise ValueError(f"separate models without every head: {missing}")
    return rows


def grade_rows(truth: dict[str, np.ndarray], grades: dict[str, dict[str, np.ndarray]], films, n_resamples: int = 1000,
               seed: int = 0) -> dict[str, dict]:  # fmt: skip
    """RheumaVIT's Table 1: for each model of ``grades`` (``{model: {head: predicted grades}}``) and each
    head, the class-weighted accuracy and MAE against ``truth[head]`` with film-level bootstrap intervals
    (:func:`ralib.metrics.grade_agreement`), over the items that have that head's site (truth >= 0).
    Keys ``"<head> <measure>"``.

    Example:
        >>> truth = {"erosion": np.array([0, 1, -1, 2]), "jsn": np.array([1, 1, 0, 0])}
        >>> rows = grade_rows(truth, {"m": {"erosion": np.array([0, 1, 5, 2]), "jsn": np.array([1, 0, 0, 0])}},
        ...                   ["a", "a", "b", "b"], n_resamples=20)
        >>> rows["m"]["erosion accuracy"], rows["m"]["erosion n"], rows["m"]["jsn accuracy"]
        (1.0, 3, 0.75)
    """
    films = np.asarray(films)
    rows = {}
    for model, by_head in grades.items():
        row = {}
        for head, true in truth.items():
            true = np.asarray(true)
            scored = true >= 0
            if scored.any():
                m = grade_agreement(true[scored], np.asarray(by_head[head])[scored], films[scored], n_resamples, seed=seed)
                row |= {f"{head} {k}": v for k, v in m.items()}
        rows[model] = row
    return rows


def average_expert(table: pd.DataFrame, heads: tuple[str, ...] = ("erosion", "jsn")) -> dict[str, float]:
    """RheumaVIT's "average expert": each expert's grades (``<head>_reader_<k>``) against the rounded-down
    mean of the others, class-weighted, averaged over the experts (:func:`ralib.agreement.expert_agreement`),
    over the rows that have the head's site and every expert's grade; a head with fewer than three
    experts is left out (one expert against one other is no average).

    Example:
        >>> table = pd.DataFrame({"erosion_site": ["ip"] * 4, "erosion_reader_1": [0, 1, 2, 2],
        ...                       "erosion_reader_2": [0, 1, 2, 2], "erosion_reader_3": [0, 1, 2, 2]})
        >>> average_expert(table, ("erosion",))["erosion accuracy"]
        1.0
    """
    row = {}
    for head in heads:
        readers = sorted(c for c in table if c.startswith(f"{head}_reader_"))
        if len(readers) < 3:
            continue
        part = table[(table[f"{head}_site"] != "") & table[readers].notna().all(axis=1)]
        if len(part):
            row |= {f"{head} {k}": v for k, v in expert_agreement(part[readers].to_numpy(int).T).items()}
    return row
