"""Patient-level splits: both hands and every visit of a patient on one side, stratified by score.

Example:
    >>> import pandas as pd
    >>> table = pd.DataFrame({"patient_id": list("aabbccddeeffgghhiijj"), "score": range(20)})
    >>> split = patient_split(table, seed=0)
    >>> int(split.groupby(table.patient_id).nunique().max())  # one side per patient
    1
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.config import REAL_SPLIT

SPLIT_NAMES = ("train", "val", "test")


def patient_split(
    table: pd.DataFrame,
    proportions: tuple[int, ...] = REAL_SPLIT,
    seed: int = 0,
    stratify: str | None = "score",
    names: tuple[str, ...] = SPLIT_NAMES,
) -> pd.Series:
    """Assign every row a split so that a patient's rows share one, in the given proportions.

    Patients are stratified by the severity class of their mean ``stratify`` value (patients without
    one form their own stratum); within a stratum they are shuffled with ``seed`` and dealt so that each
    split receives its share. Returns a Series aligned with ``table``.
    """
    if "patient_id" not in table:
        raise KeyError("patient_split needs a 'patient_id' column")
    patients = table.groupby("patient_id", sort=True)
    if stratify and stratify in table:
        mean = patients[stratify].mean()
        strata = pd.Series(
            np.where(mean.isna(), -1, anatomy.severity_class(mean.fillna(0).clip(0, 280).to_numpy())), index=mean.index
        )
    else:
        strata = pd.Series(0, index=list(patients.groups))
    rng = np.random.default_rng(seed)
    quotas = np.asarray(proportions, dtype=float) / sum(proportions)
    assigned = np.zeros(len(names))
    patient_split_name = {}
    for _, members in strata.groupby(strata, sort=True):
        for patient in rng.permutation(members.index.to_numpy()):
            k = int(np.argmax(quotas * (assigned.sum() + 1) - assigned))  # the split furthest below its share
            patient_split_name[patient] = names[k]
            assigned[k] += 1
    return table.patient_id.map(patient_split_name).rename("split")


def film_split(table: pd.DataFrame, seed: int = 0, stratify: str | None = "score") -> pd.DataFrame:
    """``table`` with a source's own ``split`` kept, or, where it has none for some row, a patient-level one
    (:func:`patient_split`, MIUA 2024 proportions): the one split every task of the whole-image and MIL
    notebooks uses, so that all their models meet on the same test films.

    Example:
        >>> table = pd.DataFrame({"patient_id": list("aabbccddeeffgghhiijj"), "score": range(20), "split": ""})
        >>> bool(film_split(table).split.isin(SPLIT_NAMES).all()), film_split(table.assign(split="test")).split.unique().tolist()
        (True, ['test'])
    """
    if table.split.isin(SPLIT_NAMES).all():
        return table
    return table.assign(split=patient_split(table, seed=seed, stratify=stratify).to_numpy())


def check_patient_level(table: pd.DataFrame, split: pd.Series | None = None) -> None:
    """Raise if any patient appears in more than one split."""
    split = table.split if split is None else split
    sides = split.groupby(table.patient_id).nunique()
    leaking = sides[sides > 1]
    if len(leaking):
        raise ValueError(f"{len(leaking)} patients sit in more than one split, e.g. {list(leaking.index[:5])}")
