"""One bag per hand: a film's joint bag cut into its two hands, for a per-hand MIL score and the hand's
RA stage read off it (the 2024 diagnosis paper stages hands, the MIL paper scores films).

A joint bag holds the left hand's places, then the right hand's (:func:`ralib.patches.bags.bag_places`),
so a film's bag of ``2 m`` places is the left hand's ``m`` followed by the right hand's ``m``.

Example:
    >>> import numpy as np, pandas as pd
    >>> films = pd.DataFrame({"radiograph_id": ["a", "b"], "split": ["train", "test"], "score": [3.0, 9.0]})
    >>> features = np.arange(8, dtype=np.float32).reshape(2, 4, 1)  # 2 films, 2 joints per hand
    >>> film_task = BagTask(features, np.ones((2, 4), bool), films)
    >>> hands = pd.DataFrame({"radiograph_id": ["a", "a", "b", "b"], "hand": ["LH", "RH", "LH", "RH"],
    ...                       "score": [1.0, 2.0, 4.0, 5.0]})
    >>> task = hand_bag_task(film_task, hands)
    >>> task.table[["radiograph_id", "hand", "score"]].values.tolist(), task.features[3, :, 0].tolist()
    ([['a', 'LH', 1.0], ['a', 'RH', 2.0], ['b', 'LH', 4.0], ['b', 'RH', 5.0]], [6.0, 7.0])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ralib.data.analysis import hand_stages, hand_table
from ralib.data.model import RADataset
from ralib.patches.bags import HANDS
from ralib.tasks.bags import BagTask


def hand_targets(ds: RADataset) -> pd.DataFrame:
    """Per radiograph and hand: ``score`` (the hand's SvdH total by the label) and ``stage``
    (:func:`ralib.data.analysis.hand_stages`), and where the data set knows them ``truth_total`` and
    ``stage_truth`` from the noise-free grades."""
    keys = ["radiograph_id", "hand"]
    table = hand_table(ds, "grade")[keys + ["total"]].rename(columns={"total": "score"})
    table = table.merge(hand_stages(ds, "grade"), on=keys, how="left")
    if "truth" in ds.scores and ds.scores.loc[ds.scores.scheme == "svdh", "truth"].notna().all():
        truth = hand_table(ds, "truth")[keys + ["total"]].rename(columns={"total": "truth_total"})
        table = table.merge(truth, on=keys).merge(hand_stages(ds, "truth").rename(columns={"stage": "stage_truth"}), on=keys)
    table["radiograph_id"] = table.radiograph_id.astype(str)
    return table


def hand_bag_task(film_task: BagTask, hands: pd.DataFrame, name: str = "hand_svdh_mil") -> BagTask:
    """The per-hand version of a joint :class:`~ralib.tasks.bags.BagTask` (one made by
    :func:`~ralib.tasks.bags.joint_bag_task`): each film's bag cut into its left and right hand's, in that
    order, with the hand's ``score`` and further columns (e.g. ``truth_total``, ``stage``) from ``hands``
    (one row per ``radiograph_id`` and ``hand``, e.g. :func:`hand_targets`); the film's split and patient
    are kept, so hands meet the film models on the same test films. Hands without a patch or without a
    ``score`` are left out (``left_out`` says how many)."""
    n, places = film_task.mask.shape
    if places % len(HANDS):
        raise ValueError(f"a joint bag of {places} places cannot be cut into {len(HANDS)} hands")
    if hands.duplicated(["radiograph_id", "hand"]).any():
        raise ValueError("hands names a radiograph's hand twice")

    def per_hand(array: np.ndarray, lead: int) -> np.ndarray:  # (..., n, places, rest) -> (..., 2 n, places / 2, rest)
        shape = array.shape
        return array.reshape(*shape[:lead], n * len(HANDS), places // len(HANDS), *shape[lead + 2:])

    film_columns = [c for c in ("radiograph_id", "patient_id", "split") if c in film_task.table]
    table = film_task.table[film_columns].loc[np.repeat(np.arange(n), len(HANDS))].reset_index(drop=True)
    table = table.assign(radiograph_id=table.radiograph_id.astype(str), hand=np.tile(HANDS, n))
    extra = hands.drop(columns=[c for c in ("patient_id", "split") if c in hands])
    table = table.merge(extra.assign(radiograph_id=extra.radiograph_id.astype(str)), on=["radiograph_id", "hand"], how="left")
    mask = per_hand(film_task.mask, 0)
    keep = mask.any(1) & table.score.notna().to_numpy()
    draws = None if film_task.draws is None else per_hand(film_task.draws, 1)[:, keep]
    task = BagTask(per_hand(film_task.features, 0)[keep], mask[keep], table[keep], "score", draws, name,
                   film_task.standardise)  # fmt: skip
    task.left_out = int((~keep).sum())
    return task
