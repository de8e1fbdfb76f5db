"""Landmark bookkeeping: the 74 landmarks of a dual-hand film in channels by the hands' **poses**, not their
names (channels 0-36 hold the hand that looks like a left hand seen posteroanteriorly, 37-73 the other; which
hand is which is then the film's ``left_hand_side``), the localiser's predictions, the fine pass's window, and
the MIL paper's measures of landmarks (MRE and SDR by group, spacing and film type; crops that contain their
joint).

Example:
    >>> import numpy as np
    >>> from ralib import anatomy
    >>> hands = {"LH": anatomy.template_landmarks("LH") + [100, 300], "RH": anatomy.template_landmarks("RH") + [300, 300]}
    >>> pose_channels(hands)[:, 0].round().tolist()[::37]   # the left hand's tip2 first, the right hand's second
    [140.0, 260.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.data.model import RADataset
from ralib.geometry import RECIPES, Frame, is_right_hand_pose, wrist_width_spacing
from ralib.metrics import landmark_metrics, radial_errors_mm

K = len(anatomy.LANDMARKS)  # 37 per hand

GROUP_INDEX = {g: [anatomy.LANDMARKS.index(n) for n in names] for g, names in anatomy.LANDMARK_GROUPS.items()}


def pose_blocks(hands: dict[str, np.ndarray]) -> dict[str, int]:
    """Which channel block (0: left-hand pose, 1: right-hand pose) each hand's (37, 2) landmarks go to;
    hands without landmarks are left out, two hands of one pose are told apart by which lies further left."""
    found = {h: np.asarray(xy, float) for h, xy in hands.items() if xy is not None and np.isfinite(xy).all()}
    blocks = {h: int(is_right_hand_pose(xy)) for h, xy in found.items()}
    if len(found) == 2 and len(set(blocks.values())) == 1:
        order = sorted(found, key=lambda h: found[h][:, 0].mean())
        blocks = {order[0]: 0, order[1]: 1}
    return blocks


def pose_channels(hands: dict[str, np.ndarray]) -> np.ndarray:
    """The (74, 2) channel layout of one film from its hands' (37, 2) landmarks (NaN where a hand is
    missing), by :func:`pose_blocks`."""
    out = np.full((2 * K, 2), np.nan)
    for hand, block in pose_blocks(hands).items():
        out[block * K : (block + 1) * K] = hands[hand]
    return out


def film_landmarks(ds: RADataset) -> tuple[np.ndarray, np.ndarray]:
    """True landmarks of every film of ``ds`` in :func:`pose_channels` layout, (n, 74, 2) film pixels,
    and which hand (LH / RH, "" when absent) each block holds, (n, 2)."""
    if ds.landmarks is None or not len(ds.landmarks):
        raise ValueError(f"{ds.name} has no landmarks to train or evaluate a localiser with")
    grouped = {key: g.set_index("landmark")[["x", "y"]] for key, g in ds.landmarks.groupby(["radiograph_id", "hand"])}
    points, names = np.full((len(ds.radiographs), 2 * K, 2), np.nan), np.full((len(ds.radiographs), 2), "", object)
    for i, rid in enumerate(ds.radiographs.radiograph_id):
        hands = {h: grouped[rid, h].reindex(list(anatomy.LANDMARKS)).to_numpy(float) for h in anatomy.HANDS if (rid, h) in grouped}
        for hand, block in pose_blocks(hands).items():
            points[i, block * K : (block + 1) * K] = hands[hand]
            names[i, block] = hand
    return points, names


@dataclass
class LandmarkPredictions:
    """Predicted landmarks of some films: ``xy`` (n, 74, 2) film pixels, each landmark's probability of
    being on the film ``peak`` (n, 74) and each hand block's presence score ``presence`` (n, 2): the mean
    of its 37 landmarks'."""

    xy: np.ndarray
    peak: np.ndarray

    @property
    def presence(self) -> np.ndarray:
        return self.peak.reshape(len(self.peak), 2, K).mean(-1)

    def found(self, threshold: float = 0.5) -> np.ndarray:
        """(n, 2) whether each hand block is on the film."""
        return self.presence >= threshold


def landmark_report(true: np.ndarray, predicted: LandmarkPredictions, table: pd.DataFrame) -> dict:
    """MRE / SDR per landmark group and overall, in mm by the films' true spacing and by the MIL paper's
    50 mm wrist-width rule (its own error made visible), for all films and for the flipped, MONOCHROME1
    and other ("clean") films apart; and how well the hands' presence was called."""
    present = np.isfinite(true).all(-1)  # (n, 74)
    spacing = table.spacing_mm.to_numpy(float) if "spacing_mm" in table else np.full(len(table), np.nan)
    rule = np.array([[_wrist_rule(t[b * K : (b + 1) * K]) for b in (0, 1)] for t in true])  # (n, 2)
    rule = np.repeat(rule, K, axis=1)  # per landmark: its hand's rule spacing
    errors = {"true spacing": radial_errors_mm(true, predicted.xy, spacing),
              "wrist rule": np.linalg.norm(predicted.xy - true, axis=-1) * rule}  # fmt: skip
    subsets = {"all": np.ones(len(table), bool)}
    flipped = table.flipped.astype(bool).to_numpy() if "flipped" in table else np.zeros(len(table), bool)
    mono1 = (table.photometric == "MONOCHROME1").to_numpy() if "photometric" in table else np.zeros(len(table), bool)
    subsets |= {"flipped": flipped, "MONOCHROME1": mono1, "clean": ~flipped & ~mono1}
    report = {}
    for unit, e in errors.items():
        for subset, films in subsets.items():
            if not films.any():
                continue
            for group, idx in {"all": list(range(K)), **GROUP_INDEX}.items():
                columns = [b * K + j for b in (0, 1) for j in idx]
                chosen = e[films][:, columns][present[films][:, columns]]
                report[f"{unit} | {subset} | {group}"] = landmark_metrics(chosen)
    found = predicted.found()
    report["presence"] = {"accuracy": float(np.mean(found == present.reshape(len(present), 2, K).all(-1))),
                          "hands": int(present.reshape(len(present), 2, K).all(-1).sum())}  # fmt: skip
    return report


def crop_containment(true: np.ndarray, predicted: np.ndarray, spacing_mm: np.ndarray, recipe: str = "patches") -> pd.DataFrame:
    """Per joint of a crop recipe, the share (%) of crops placed from ``predicted`` landmarks that contain
    the centre the ``true`` landmarks give that joint (both (n, 74, 2) film pixels), over hands present in
    both. The crop is the square of :mod:`ralib.geometry` at the film's spacing."""
    frames_of = RECIPES[recipe]
    hits: dict[str, list[bool]] = {}
    for t, p, mm in zip(true, predicted, spacing_mm):
        for b in (0, 1):
            tb, pb = t[b * K : (b + 1) * K], p[b * K : (b + 1) * K]
            if not (np.isfinite(tb).all() and np.isfinite(pb).all()):
                continue
            truth, placed = frames_of(tb, mm), frames_of(pb, mm)
            for joint, frame in placed.items():
                hits.setdefault(joint, []).append(frame.contains(truth[joint].centre))
    table = pd.DataFrame({"joint": list(hits), "crops": [len(v) for v in hits.values()],
                          "contain the joint centre %": [100 * np.mean(v) for v in hits.values()]})  # fmt: skip
    return table.set_index("joint")


def _wrist_rule(hand: np.ndarray) -> float:
    return wrist_width_spacing(hand) if np.isfinite(hand).all() else np.nan


def report_table(report: dict) -> pd.DataFrame:
    """:func:`landmark_report` as a table shaped like the MIL paper's Table 1 (rows: spacing, films,
    group)."""
    rows = [dict(zip(("spacing", "films", "group"), key.split(" | ")), **value) for key, value in report.items() if " | " in key]
    return pd.DataFrame(rows).set_index(["spacing", "films", "group"])


def fine_frame(centre: np.ndarray, channel: int, crop: int) -> Frame:
    """The fine pass's window: ``crop`` pixels square around ``centre``, mirrored for right-hand poses."""
    return Frame(np.asarray(centre, float), np.array([0.0, -1.0]), float(crop), float(crop), channel >= K)
