"""Descriptive statistics of the data-analysis notebook."""

import numpy as np
import pandas as pd

from ralib.data import analysis
from ralib.data.model import RADataset


def _dataset():
    radiographs = pd.DataFrame({"radiograph_id": ["a", "b"], "patient_id": ["a", "b"], "split": ["train", "test"],
                                "image_path": ["", ""], "score": [np.nan, np.nan], "sex": ["F", "M"]})  # fmt: skip
    rows = []
    for rid, grades in (("a", (0, 1, 2)), ("b", (3, 3, 3))):
        for hand, site, kind, g in zip(("LH", "RH", "LH"), ("mcp_E__2", "mcp_E__2", "pip_J__3"), ("erosion", "erosion", "jsn"), grades):
            rows.append({"radiograph_id": rid, "hand": hand, "scheme": "svdh", "site": site, "kind": kind, "grade": g})
    return RADataset("t", radiographs, pd.DataFrame(rows))


def test_labels_fall_back_to_site_totals_and_hands_pair_up():
    ds = _dataset()
    label, kind = analysis.image_labels(ds)
    assert label.to_dict() == {"a": 3, "b": 9} and "svdh" in kind
    pairs = analysis.left_right(ds)
    assert pairs.loc["a"].tolist() == [2, 1] and pairs.loc["b"].tolist() == [6, 3]


def test_prevalence_pools_sites_onto_boxes():
    prevalence = analysis.joint_prevalence(_dataset())
    assert prevalence["mcp2"] == 0.75 and prevalence["pip3"] == 1.0


def test_class_counts_and_no_agreement_without_readers():
    counts = analysis.class_counts(pd.Series([0, 1, 280, np.nan]))
    assert counts.sum() == 3 and counts.iloc[0] == 2 and counts.iloc[-1] == 1
    assert analysis.agreement(_dataset()) == {}
