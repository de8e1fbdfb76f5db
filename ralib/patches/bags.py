"""Bags of joint crops: the instances of one film for the attention MIL, in a fixed anatomical order.

A film's bag holds its left hand's joints, then its right hand's, each in :data:`ralib.anatomy.PATCHES`
order (or any joint list), whatever side of the film a hand lies on and whether the film is flipped: the
place of an instance says which joint it is. A hand that was not found leaves its places empty (mask 0).

Example:
    >>> import pandas as pd
    >>> table = pd.DataFrame({"radiograph_id": ["a", "a", "a"], "hand": ["RH", "LH", "LH"],
    ...                       "joint": ["mcp1", "mcp1", "ip"]})
    >>> rows, mask = joint_bags(table, ["a"], joints=("ip", "mcp1"))
    >>> rows.tolist(), mask.tolist()
    ([[2, 1, -1, 0]], [[True, True, False, True]])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ralib import anatomy

HANDS = ("LH", "RH")


def bag_places(joints=tuple(anatomy.PATCHES)) -> list[tuple[str, str]]:
    """The (hand, joint) of each place of a bag: the left hand's joints, then the right hand's."""
    return [(hand, joint) for hand in HANDS for joint in joints]


def joint_bags(table: pd.DataFrame, radiograph_ids, joints=tuple(anatomy.PATCHES)) -> tuple[np.ndarray, np.ndarray]:
    """For each film of ``radiograph_ids``, the row of ``table`` (a crop cache's table: ``radiograph_id``,
    ``hand``, ``joint``) that fills each place of its bag (:func:`bag_places`): ``rows`` (n_films, places),
    -1 where there is no crop, and ``mask`` (True where there is one). A crop named twice is an error."""
    places = {place: k for k, place in enumerate(bag_places(joints))}
    films = {str(r): i for i, r in enumerate(radiograph_ids)}
    rows = np.full((len(films), len(places)), -1, np.int64)
    for crop, (film, hand, joint) in enumerate(table[["radiograph_id", "hand", "joint"]].itertuples(index=False)):
        i, k = films.get(str(film)), places.get((hand, joint))
        if i is None or k is None:
            continue
        if rows[i, k] >= 0:
            raise ValueError(f"film {film}: two crops of {hand} {joint} (rows {rows[i, k]} and {crop})")
        rows[i, k] = crop
    return rows, rows >= 0


def gather(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values`` (n_crops, ...) arranged as bags (n_films, places, ...), zeros in empty places."""
    out = np.zeros((*rows.shape, *values.shape[1:]), values.dtype)
    out[rows >= 0] = values[rows[rows >= 0]]
    return out
