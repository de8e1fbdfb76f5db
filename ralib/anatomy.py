"""The anatomy and scoring catalogue shared by the whole repository.

One place for the Sharp/van der Heijde (SvdH) sites, the 21 joint boxes per hand of the
joint-level data set (RheumaVIT / ARISE), the 37 landmarks and 25 joint patches per hand of the
anatomy-aware MIL paper, the 10 severity classes and the staging rule the repository adopts.
Everything else (synthetic world, loaders, models, plots) reads it from here.

Site ids follow the RA2-DREAM column convention ``<hand>_<group>_<E|J>__<site>``.

Example:
    >>> len(svdh_sites(hand="LH", kind="E")), len(svdh_sites(hand="LH", kind="J"))
    (16, 15)
    >>> max_total_score()
    280
    >>> severity_class(28.5), SEVERITY_LABELS[severity_class(28.5)]
    (5, '20-30')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HANDS = ("LH", "RH")
EROSION_MAX = 5
JSN_MAX = 4

EROSION_GRADES = {
    0: "no erosion",
    1: "discrete erosion",
    2: "larger erosion, less than a quarter of the articular surface",
    3: "larger erosions, up to half of the articular surface",
    4: "more than half of the articular bone surface",
    5: "complete collapse of the articular surface",
}
JSN_GRADES = {
    0: "normal joint space",
    1: "focal or doubtful narrowing",
    2: "generalised narrowing, less than half of the original space lost",
    3: "more than half of the space lost, or subluxation",
    4: "no space left: ankylosis (bone bridges the joint) or complete luxation",
}

# ---------------------------------------------------------------------------------------------
# The 21 joint boxes per hand
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Joint:
    """One of the 21 scored joint boxes of a hand.

    ``erosion`` / ``jsn`` say whether the joint-level data set scores that disease there; the
    ``*_sites`` are the SvdH sites (without hand prefix) pooled into the box by their maximum.
    """

    name: str
    finger: int | None
    erosion: bool
    jsn: bool
    erosion_sites: tuple[str, ...]
    jsn_sites: tuple[str, ...]


JOINTS: tuple[Joint, ...] = (
    Joint("ip", 1, True, True, ("mcp_E__ip",), ()),
    *(Joint(f"dip{f}", f, True, True, (), ()) for f in (2, 3, 4, 5)),
    *(Joint(f"pip{f}", f, True, True, (f"pip_E__{f}",), (f"pip_J__{f}",)) for f in (2, 3, 4, 5)),
    *(Joint(f"mcp{f}", f, True, True, (f"mcp_E__{f}",), (f"mcp_J__{f}",)) for f in (1, 2, 3, 4, 5)),
    Joint("cmc1", 1, True, False, ("wrist_E__mc1",), ()),
    *(Joint(f"cmc{f}", f, False, True, (), (f"wrist_J__cmc{f}",)) for f in (3, 4, 5)),
    Joint(
        "wrist",
        None,
        True,
        True,
        ("wrist_E__mul", "wrist_E__nav", "wrist_E__lunate", "wrist_E__radius"),
        ("wrist_J__mna", "wrist_J__capnlun"),
    ),
    Joint("ulna", None, True, False, ("wrist_E__ulna",), ()),
    Joint("radiocarpal", None, False, True, (), ("wrist_J__radcar",)),
)
JOINT_NAMES = tuple(j.name for j in JOINTS)
EROSION_JOINTS = tuple(j.name for j in JOINTS if j.erosion)  # 17 per hand
JSN_JOINTS = tuple(j.name for j in JOINTS if j.jsn)  # 19 per hand
SVDH_JOINTS = tuple(j.name for j in JOINTS if j.erosion_sites or j.jsn_sites)  # 17 per hand: all but the DIPs

# ---------------------------------------------------------------------------------------------
# SvdH sites
# ---------------------------------------------------------------------------------------------

#: per-hand erosion sites in the RA2-DREAM column order
EROSION_SITES = (
    "mcp_E__ip",
    "pip_E__2", "pip_E__3", "pip_E__4", "pip_E__5",
    "mcp_E__1", "mcp_E__2", "mcp_E__3", "mcp_E__4", "mcp_E__5",
    "wrist_E__mc1", "wrist_E__mul", "wrist_E__nav", "wrist_E__lunate", "wrist_E__radius", "wrist_E__ulna",
)  # fmt: skip
#: per-hand JSN sites in the RA2-DREAM column order
JSN_SITES = (
    "pip_J__2", "pip_J__3", "pip_J__4", "pip_J__5",
    "mcp_J__1", "mcp_J__2", "mcp_J__3", "mcp_J__4", "mcp_J__5",
    "wrist_J__cmc3", "wrist_J__cmc4", "wrist_J__cmc5", "wrist_J__mna", "wrist_J__capnlun", "wrist_J__radcar",
)  # fmt: skip

SITE_DESCRIPTIONS = {
    "mcp_E__ip": "thumb interphalangeal joint",
    **{f"pip_{k}__{f}": f"proximal interphalangeal joint {f}" for k in "EJ" for f in (2, 3, 4, 5)},
    **{f"mcp_{k}__{f}": f"metacarpophalangeal joint {f}" for k in "EJ" for f in (1, 2, 3, 4, 5)},
    "wrist_E__mc1": "base of the first metacarpal",
    "wrist_E__mul": "trapezium and trapezoid (multangulars)",
    "wrist_E__nav": "scaphoid (navicular)",
    "wrist_E__lunate": "lunate",
    "wrist_E__radius": "distal radius",
    "wrist_E__ulna": "distal ulna",
    **{f"wrist_J__cmc{f}": f"carpometacarpal joint {f}" for f in (3, 4, 5)},
    "wrist_J__mna": "multangular-navicular joint",
    "wrist_J__capnlun": "capitate-navicular-lunate joint",
    "wrist_J__radcar": "radiocarpal joint",
}


@dataclass(frozen=True)
class SvdhSite:
    """One SvdH scoring site of one hand, e.g. ``LH_mcp_E__2``."""

    hand: str
    site: str  # the id without hand prefix, e.g. "mcp_E__2"

    @property
    def id(self) -> str:
        return f"{self.hand}_{self.site}"

    @property
    def kind(self) -> str:
        """``"E"`` for erosion, ``"J"`` for joint-space narrowing."""
        return self.site.split("__")[0][-1]

    @property
    def group(self) -> str:
        return self.site.split("_")[0]

    @property
    def max_grade(self) -> int:
        return EROSION_MAX if self.kind == "E" else JSN_MAX

    @property
    def joint(self) -> str:
        """The 21-box joint the site is pooled into."""
        return _SITE_TO_JOINT[self.site]


_SITE_TO_JOINT = {site: j.name for j in JOINTS for site in (*j.erosion_sites, *j.jsn_sites)}


def svdh_sites(hand: str | None = None, kind: str | None = None) -> list[SvdhSite]:
    """SvdH hand sites in the RA2-DREAM column order (LH erosion, RH erosion, LH JSN, RH JSN).

    Example:
        >>> [s.id for s in svdh_sites("RH", "J")][:2]
        ['RH_pip_J__2', 'RH_pip_J__3']
    """
    if hand not in (None, *HANDS):
        raise ValueError(f"hand must be one of {HANDS} or None, not {hand!r}")
    if kind not in (None, "E", "J"):
        raise ValueError(f"kind must be 'E', 'J' or None, not {kind!r}")
    sites = []
    for k, per_hand in (("E", EROSION_SITES), ("J", JSN_SITES)):
        for h in HANDS:
            if (kind in (None, k)) and (hand in (None, h)):
                sites.extend(SvdhSite(h, s) for s in per_hand)
    return sites


def svdh_site_ids(hand: str | None = None, kind: str | None = None) -> list[str]:
    """Just the ids of :func:`svdh_sites`, e.g. ``LH_mcp_E__ip``."""
    return [s.id for s in svdh_sites(hand, kind)]


def max_total_score() -> int:
    """The largest possible hand SvdH total: 32 x 5 + 30 x 4 = 280."""
    return sum(s.max_grade for s in svdh_sites())


def site_table() -> pd.DataFrame:
    """One row per per-hand SvdH site: kind, group, grade range, description, joint box."""
    rows = [
        {
            "site": s.site,
            "kind": "erosion" if s.kind == "E" else "JSN",
            "group": s.group,
            "grades": f"0-{s.max_grade}",
            "where": SITE_DESCRIPTIONS[s.site],
            "joint box": s.joint,
        }
        for s in svdh_sites(hand="LH")
    ]
    return pd.DataFrame(rows)


def joint_table() -> pd.DataFrame:
    """One row per joint box: which diseases are scored and which SvdH sites pool into it."""
    return pd.DataFrame(
        [
            {
                "joint": j.name,
                "erosion scored": j.erosion,
                "JSN scored": j.jsn,
                "SvdH erosion sites (max)": ", ".join(j.erosion_sites) or "-",
                "SvdH JSN sites (max)": ", ".join(j.jsn_sites) or "-",
            }
            for j in JOINTS
        ]
    )


def pool_to_joints(site_grades: dict[str, float]) -> dict[str, dict[str, float | None]]:
    """Pool one hand's SvdH grades (keys without hand prefix) into the 21 boxes by maximum.

    Returns ``{joint: {"erosion": grade or None, "jsn": grade or None}}``; ``None`` where SvdH
    has no site for that box (DIP joints, the thumb IP's JSN).

    Example:
        >>> grades = {s: 0 for s in EROSION_SITES + JSN_SITES} | {"wrist_E__nav": 3}
        >>> pool_to_joints(grades)["wrist"]
        {'erosion': 3, 'jsn': 0}
    """
    pooled = {}
    for j in JOINTS:
        pooled[j.name] = {
            "erosion": max(site_grades[s] for s in j.erosion_sites) if j.erosion_sites else None,
            "jsn": max(site_grades[s] for s in j.jsn_sites) if j.jsn_sites else None,
        }
    return pooled


# ---------------------------------------------------------------------------------------------
# Landmarks and patches (anatomy-aware MIL, Scheme 2)
# ---------------------------------------------------------------------------------------------

#: 37 landmarks per hand: fingers 2-5 (tip, DIP, PIP, MCP, metacarpal base), thumb (tip, IP, MCP,
#: CMC1), eight carpals, five radius / ulna / forearm points.
LANDMARKS = (
    *(f"{p}{f}" for f in (2, 3, 4, 5) for p in ("tip", "dip", "pip", "mcp", "mcb")),
    "tip1", "ip1", "mcp1", "cmc1",
    "trapezium", "trapezoid", "scaphoid", "lunate", "triquetrum", "pisiform", "hamate", "capitate",
    "radial_styloid", "radius_center", "ulnar_styloid", "ulnar_head", "forearm",
)  # fmt: skip

#: the landmark groups the localisation measures are reported by
LANDMARK_GROUPS: dict[str, tuple[str, ...]] = {
    "fingers": LANDMARKS[:20],
    "thumb": LANDMARKS[20:24],
    "carpus": LANDMARKS[24:32],
    "wrist": LANDMARKS[32:],
}

#: 25 joint patches per hand and the landmarks whose mean is the patch centre.
PATCHES: dict[str, tuple[str, ...]] = {
    "ip": ("ip1",),
    **{f"dip{f}": (f"dip{f}",) for f in (2, 3, 4, 5)},
    **{f"pip{f}": (f"pip{f}",) for f in (2, 3, 4, 5)},
    "mcp1": ("mcp1",),
    **{f"mcp{f}": (f"mcp{f}",) for f in (2, 3, 4, 5)},
    "cmc1": ("cmc1",),
    **{f"cmc{f}": (f"mcb{f}",) for f in (2, 3, 4, 5)},
    "trapezium_scaphoid": ("trapezium", "scaphoid"),
    "capitate_lunate": ("capitate", "lunate"),
    "scaphoid": ("scaphoid",),
    "lunate": ("lunate",),
    "radiocarpal": ("radius_center", "lunate", "scaphoid"),
    "ulnar_styloid": ("ulnar_styloid",),
}

#: The SvdH sites (per hand, no prefix) each Scheme 2 patch shows: what it is graded by in the crop cache.
#: DIP patches and CMC2 show no SvdH site (SvdH spares the DIPs); their grades are empty.
PATCH_SITES: dict[str, tuple[str, ...]] = {
    "ip": ("mcp_E__ip",),
    **{f"dip{f}": () for f in (2, 3, 4, 5)},
    **{f"pip{f}": (f"pip_E__{f}", f"pip_J__{f}") for f in (2, 3, 4, 5)},
    **{f"mcp{f}": (f"mcp_E__{f}", f"mcp_J__{f}") for f in (1, 2, 3, 4, 5)},
    "cmc1": ("wrist_E__mc1",),
    "cmc2": (),
    **{f"cmc{f}": (f"wrist_J__cmc{f}",) for f in (3, 4, 5)},
    "trapezium_scaphoid": ("wrist_E__mul", "wrist_J__mna"),
    "capitate_lunate": ("wrist_J__capnlun",),
    "scaphoid": ("wrist_E__nav",),
    "lunate": ("wrist_E__lunate",),
    "radiocarpal": ("wrist_E__radius", "wrist_J__radcar"),
    "ulnar_styloid": ("wrist_E__ulna",),
}

#: The per-joint crops of the public RAM-H1200 benchmark (DATA_FORMATS.md): its joint code, the
#: landmarks whose mean is the crop centre, and the SvdH sites it grades (one erosion and / or one JSN).
RAMH1200_JOINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "R": (("radius_center",), ("wrist_E__radius",)),
    "U": (("ulnar_styloid", "ulnar_head"), ("wrist_E__ulna",)),
    "L": (("lunate",), ("wrist_E__lunate",)),
    "S": (("scaphoid",), ("wrist_E__nav",)),
    "Tm": (("trapezium",), ("wrist_E__mul",)),
    "CMC-T": (("cmc1",), ("wrist_E__mc1",)),
    "IP": (("ip1",), ("mcp_E__ip",)),
    **{f"MCP-{c}": ((f"mcp{f}",), (f"mcp_E__{f}", f"mcp_J__{f}")) for f, c in zip((1, 2, 3, 4, 5), "TIMRS")},
    **{f"PIP-{c}": ((f"pip{f}",), (f"pip_E__{f}", f"pip_J__{f}")) for f, c in zip((2, 3, 4, 5), "IMRS")},
    **{f"CMC-{c}": ((f"mcb{f}",), (f"wrist_J__cmc{f}",)) for f, c in zip((3, 4, 5), "MRS")},
    "SC": (("scaphoid", "capitate"), ("wrist_J__capnlun",)),
    "SR": (("scaphoid", "radius_center"), ("wrist_J__radcar",)),
    "STT": (("scaphoid", "trapezium", "trapezoid"), ("wrist_J__mna",)),
}

#: Centre of each of the 21 joint boxes as the mean of these landmarks.
JOINT_CENTRES: dict[str, tuple[str, ...]] = {
    "ip": ("ip1",),
    **{f"{p}{f}": (f"{p}{f}",) for p in ("dip", "pip") for f in (2, 3, 4, 5)},
    **{f"mcp{f}": (f"mcp{f}",) for f in (1, 2, 3, 4, 5)},
    "cmc1": ("cmc1",),
    **{f"cmc{f}": (f"mcb{f}",) for f in (3, 4, 5)},
    "wrist": ("capitate", "scaphoid", "lunate", "trapezoid"),
    "ulna": ("ulnar_styloid", "ulnar_head"),
    "radiocarpal": ("radius_center", "lunate", "scaphoid"),
}

#: A schematic adult LEFT hand as it appears on a posteroanterior film (thumb on the image's
#: right, x to the right, y down, millimetres, origin at the middle of the distal radius).
#: The MCP, PIP and thumb IP points are the mean of 360 real RA2-DREAM hands
#: (../shared/data/real_hand_landmarks.csv, right hands mirrored, rotated so that MCP3 lies
#: straight above the origin and scaled to a 50 mm wrist width between the annotated radial and
#: ulnar wrist points); the styloids keep that width but sit 7-10 mm more proximally to leave the
#: carpus its adult height; the other points follow typical adult proportions. For drawing and as
#: the synthetic skeleton's mean.
TEMPLATE_LEFT_HAND_MM: dict[str, tuple[float, float]] = {
    "tip2": (40.0, -186.0), "dip2": (36.0, -163.0), "pip2": (30.0, -135.0), "mcp2": (25.0, -93.0), "mcb2": (14.0, -36.0),
    "tip3": (-1.5, -195.0), "dip3": (-1.2, -171.0), "pip3": (-1.0, -141.0), "mcp3": (0.0, -94.0), "mcb3": (0.0, -33.0),
    "tip4": (-39.5, -175.0), "dip4": (-34.0, -155.0), "pip4": (-28.0, -129.0), "mcp4": (-20.0, -86.0), "mcb4": (-11.0, -33.0),
    "tip5": (-69.0, -135.0), "dip5": (-62.0, -122.0), "pip5": (-53.0, -106.0), "mcp5": (-38.0, -75.0), "mcb5": (-20.0, -32.0),
    "tip1": (80.0, -103.0), "ip1": (69.0, -83.0), "mcp1": (55.0, -54.0), "cmc1": (34.0, -33.0),
    "trapezium": (25.0, -26.0), "trapezoid": (13.0, -28.0), "scaphoid": (16.0, -16.0), "lunate": (1.0, -13.0),
    "triquetrum": (-13.0, -15.0), "pisiform": (-15.0, -19.0), "hamate": (-12.0, -25.0), "capitate": (0.0, -23.0),
    "radial_styloid": (26.0, -9.0), "radius_center": (6.0, -2.0), "ulnar_styloid": (-24.0, -6.0),
    "ulnar_head": (-18.0, 1.0), "forearm": (0.0, 60.0),
}  # fmt: skip


#: Bones drawn between landmarks (phalanges and metacarpals), for schematics and the skeleton.
BONES: dict[str, tuple[str, str]] = {
    **{
        f"{bone} {f}": pair
        for f in (2, 3, 4, 5)
        for bone, pair in (
            ("distal phalanx", (f"dip{f}", f"tip{f}")),
            ("middle phalanx", (f"pip{f}", f"dip{f}")),
            ("proximal phalanx", (f"mcp{f}", f"pip{f}")),
            ("metacarpal", (f"mcb{f}", f"mcp{f}")),
        )
    },
    "distal phalanx 1": ("ip1", "tip1"),
    "proximal phalanx 1": ("mcp1", "ip1"),
    "metacarpal 1": ("cmc1", "mcp1"),
}
CARPALS = ("trapezium", "trapezoid", "scaphoid", "lunate", "triquetrum", "pisiform", "hamate", "capitate")


def template_landmarks(hand: str = "LH") -> np.ndarray:
    """The schematic hand as a ``(37, 2)`` array in :data:`LANDMARKS` order (mm); RH is mirrored."""
    xy = np.array([TEMPLATE_LEFT_HAND_MM[name] for name in LANDMARKS], dtype=float)
    if hand == "RH":
        xy[:, 0] *= -1
    elif hand != "LH":
        raise ValueError(f"hand must be 'LH' or 'RH', not {hand!r}")
    return xy


def centres_from_landmarks(landmarks: np.ndarray, groups: dict[str, tuple[str, ...]]) -> dict[str, np.ndarray]:
    """Centres of joints or patches as means of landmarks (``landmarks``: ``(37, 2)``).

    Example:
        >>> c = centres_from_landmarks(template_landmarks(), PATCHES)
        >>> len(c)
        25
    """
    index = {name: i for i, name in enumerate(LANDMARKS)}
    return {name: landmarks[[index[n] for n in members]].mean(axis=0) for name, members in groups.items()}


# ---------------------------------------------------------------------------------------------
# Severity classes and stages
# ---------------------------------------------------------------------------------------------

#: lower bounds (inclusive) of the 10 SvdH severity classes of the MIUA 2024 paper
SEVERITY_BOUNDS = (0, 2, 5, 10, 15, 20, 30, 45, 70, 110, 280)
SEVERITY_LABELS = tuple(f"{lo}-{hi}" for lo, hi in zip(SEVERITY_BOUNDS[:-1], SEVERITY_BOUNDS[1:]))


def severity_class(total):
    """Class index 0-9 of a total SvdH score (scalar or array); 280 falls in the last class.

    Example:
        >>> severity_class([0, 1.5, 2, 109.5, 110, 280]).tolist()
        [0, 0, 1, 8, 9, 9]
    """
    total = np.asarray(total, dtype=float)
    if np.any(total < 0) or np.any(total > SEVERITY_BOUNDS[-1]) or np.any(np.isnan(total)):
        raise ValueError(f"total SvdH scores must lie in 0-{SEVERITY_BOUNDS[-1]}")
    classes = np.digitize(total, SEVERITY_BOUNDS[1:-1], right=False)
    return classes.item() if classes.ndim == 0 else classes


#: The staging rule of this repository (the diagnosis paper does not define its stages). A joint's
#: stage is the larger of the stage its erosion grade and its JSN grade give; a hand's stage is the
#: stage of its most severe joint, as in the paper; stage 0 is a normal hand, any stage above 0 is RA.
STAGE_NAMES = {
    0: "normal: no erosion, no narrowing",
    1: "doubtful: focal narrowing only (JSN 1), no erosion",
    2: "early: a discrete erosion (E 1) or generalised narrowing (JSN 2)",
    3: "moderate: larger erosions (E 2-3) or more than half the space lost (JSN 3)",
    4: "severe: more than half of an articular surface eroded (E 4)",
    5: "end stage: collapse (E 5), ankylosis or luxation (JSN 4)",
}
STAGE_FROM_EROSION = (0, 2, 3, 3, 4, 5)
STAGE_FROM_JSN = (0, 1, 2, 3, 5)


def joint_stage(erosion, jsn):
    """Stage 0-5 of joints from their erosion (0-5) and JSN (0-4) grades; arrays broadcast.

    A missing score (``None`` / NaN / negative) contributes stage 0.

    Example:
        >>> joint_stage(1, 3), joint_stage(0, 4)
        (3, 5)
    """
    e = _grades(erosion, EROSION_MAX)
    j = _grades(jsn, JSN_MAX)
    stage = np.maximum(np.take(STAGE_FROM_EROSION, e), np.take(STAGE_FROM_JSN, j))
    return stage.item() if stage.ndim == 0 else stage


def hand_stage(erosion, jsn) -> int:
    """Stage of a hand: the most severe of its joints (grades as sequences, any length).

    Example:
        >>> hand_stage([0, 1, 0], [1, 0, 0])
        2
    """
    erosion = np.asarray([g if g is not None else np.nan for g in np.ravel(erosion)], dtype=float)
    jsn = np.asarray([g if g is not None else np.nan for g in np.ravel(jsn)], dtype=float)
    e_stage = np.max(joint_stage(erosion, 0), initial=0)
    j_stage = np.max(joint_stage(0, jsn), initial=0)
    return int(max(e_stage, j_stage))


def _grades(values, max_grade: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if np.any(arr > max_grade):
        raise ValueError(f"grade above the maximum {max_grade}")
    if np.any((arr % 1 != 0) & ~np.isnan(arr)):
        raise ValueError("grades must be whole numbers (aggregate readers before staging)")
    return np.nan_to_num(arr, nan=0).clip(min=0).astype(int)
