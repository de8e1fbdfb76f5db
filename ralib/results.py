"""Result tables shaped like the papers' tables, from fitted models and the references beside them.

Example:
    >>> import numpy as np, pandas as pd
    >>> from ralib.tasks import ImageTask
    >>> table = pd.DataFrame({"split": ["train", "train", "test", "test"], "score": [0.0, 20.0, 5.0, 15.0]})
    >>> task = ImageTask("demo", "regression", np.zeros((4, 8, 8), np.float16), table, "score")
    >>> mean_baseline(task)["rmse"]
    5.0
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.agreement import expert_agreement
from ralib.metrics import (bootstrap_interval, class_metrics, grade_agreement, paired_bootstrap, regression_metrics,
                           weighted_absolute_error, weighted_rmse)
from ralib.tasks import ImageTask
from ralib.tasks.joint_grades import assembled_totals


def results_table(fits: dict, task: ImageTask, split: str = "test") -> pd.DataFrame:
    """One row per fitted model: its configuration, best epoch, training time and the task's measures
    (for regression with a 95 % bootstrap interval of the PCC, ``pcc_low`` - ``pcc_high``)."""
    rows = []
    for label, fitted in fits.items():
        c = fitted.config
        row = {"run": label, "model": c.model, "loss": c.loss, "batch_size": c.batch_size, "freezing": c.freeze or "none",
               "start": c.tag or "scratch", "best_epoch": fitted.best_epoch + 1, "minutes": round(fitted.seconds / 60, 1),
               **_measures(fitted.evaluate(task, split))}  # fmt: skip
        if task.measure == "regression":  # small test sets: say how uncertain the correlation is
            row["pcc_low"], row["pcc_high"] = bootstrap_interval(task.truth(split), fitted.predict(task, split))
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["run", "model"])  # no fits: an empty table, not a column-less one


def _measures(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "n"}


def mean_baseline(task: ImageTask, split: str = "test") -> dict:
    """The measures of always predicting the training mean (regression) or the most frequent training
    class: what a model must beat to have learnt anything from the images."""
    train = task.table[task.table.split == "train"][task.target]
    n = len(task.rows(split))
    if task.kind == "regression":
        return regression_metrics(task.truth(split), np.full(n, train.mean()))
    probabilities = np.tile(np.bincount(train.astype(int), minlength=len(task.classes)) / len(train), (n, 1))
    return task.evaluate(probabilities, split)


def reader_reference(task: ImageTask, split: str = "test") -> dict[str, dict]:
    """How the simulated (or real) readers do on the same films: reader 2 against reader 1, and, for
    synthetic data, the label (mean of the readers) against the noise-free truth."""
    t = task.table.iloc[task.rows(split)]
    out = {}
    if {"score_reader_1", "score_reader_2"} <= set(t.columns) and t.score_reader_1.notna().all():
        if task.measure == "regression":
            out["reader 2 vs reader 1"] = regression_metrics(t.score_reader_1, t.score_reader_2)
        elif task.measure == "severity":
            out["reader 2 vs reader 1"] = class_metrics(anatomy.severity_class(t.score_reader_1.clip(0, 280).to_numpy()),
                                                        anatomy.severity_class(t.score_reader_2.clip(0, 280).to_numpy()), 10)  # fmt: skip
    if "truth_total" in t and t.truth_total.notna().all() and task.measure == "regression":
        out["label vs truth"] = regression_metrics(t.truth_total, t.score)
    return {k: _measures(v) for k, v in out.items()}


def against_truth(fits: dict, task: ImageTask, split: str = "test") -> pd.DataFrame:
    """Synthetic data only: each regressor's measures against the noise-free total instead of the label."""
    t = task.table.iloc[task.rows(split)]
    if "truth_total" not in t or t.truth_total.isna().any():
        return pd.DataFrame()
    return pd.DataFrame([{"run": k, **_measures(regression_metrics(t.truth_total, f.predict(task, split)))} for k, f in fits.items()])


def regression_as_classes(task: ImageTask, predictions: np.ndarray, split: str = "test") -> dict:
    """A regressor used as a severity classifier: its predicted score's class against the label's class
    (MIUA 2024, "regression to classification")."""
    true = anatomy.severity_class(task.truth(split).clip(0, 280))
    pred = anatomy.severity_class(np.clip(predictions, 0, 280))
    return _measures(class_metrics(true, pred, len(anatomy.SEVERITY_LABELS)))


def thumbnail_ridge(task: ImageTask, size: int = 24, split: str = "test") -> dict:
    """A non-deep reference for a regression task: ridge regression on ``size`` x ``size`` thumbnails
    (penalty chosen by cross-validation on the training images). If it beats the training mean while
    a CNN does not, the images carry signal the CNN failed to learn."""
    import cv2
    from sklearn.linear_model import RidgeCV

    def thumbs(rows):
        return np.stack([cv2.resize(task.images[i].astype(np.float32), (size, size), interpolation=cv2.INTER_AREA).ravel() for i in rows])

    train = task.rows("train")
    ridge = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(thumbs(train), task.truth("train"))
    return _measures(regression_metrics(task.truth(split), ridge.predict(thumbs(task.rows(split)))))


def verdict(table: pd.DataFrame, baseline: dict, measure: str = "rmse") -> str:
    """One sentence: which runs beat the baseline on ``measure`` (lower is better)."""
    better = table[table[measure] < baseline[measure]]
    if not len(better):
        return f"No run beats the baseline's test {measure.upper()} of {baseline[measure]:.2f}."
    return f"{len(better)} of {len(table)} runs beat the baseline's test {measure.upper()} of {baseline[measure]:.2f}: " + ", ".join(better.run)


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


def whole_image_reference(ds, profile, run_dir, look_in=(), seed: int = 0) -> tuple[str, pd.Series, ImageTask, dict]:
    """Notebook 02's whole-image regressors of ``profile`` for a comparison on the same films: each loaded
    from a checkpoint in ``run_dir`` or ``look_in`` (e.g. 02's run folder) when trained with the same
    configuration, data and code, else trained again (:func:`ralib.train.reuse_or_fit`). Returns the best
    by validation RMSE (the losses differ in scale), its test predictions by ``radiograph_id``, the task
    (for :func:`reader_reference`) and every fitted run by label.

    Example:
        >>> name, test, svdh, fits = whole_image_reference(ds, profile, run.dir, [run.dir.parent / "02_whole_image_cnn"])  # doctest: +SKIP
    """
    from ralib.data.arrays import film_array
    from ralib.tasks import svdh_regression
    from ralib.train import reuse_or_fit, whole_image_recipe

    svdh = svdh_regression(ds, film_array(ds, profile.train.image_size), seed=seed)
    recipe = whole_image_recipe(profile.train.paper_recipe, profile.speed)  # as notebook 02 builds them
    fits = {}
    for model, loss, batch in profile.train.regression:
        config = recipe(model, profile.train.epochs, batch, loss=loss, seed=seed)
        fits[config.label] = reuse_or_fit(config, svdh, run_dir, look_in=look_in, progress=False)
    best = min(fits, key=lambda k: fits[k].evaluate(svdh, "val")["rmse"])
    test = pd.Series(fits[best].predict(svdh), index=svdh.table.radiograph_id.iloc[svdh.rows("test")].astype(str).to_numpy())
    return best, test, svdh, fits



# --- RheumaVIT's Table 1: joint grades -------------------------------------------------------------------


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
