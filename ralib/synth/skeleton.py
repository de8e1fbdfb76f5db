"""The synthetic hand skeleton: bones, joints and landmarks of one hand in millimetres.

A hand is built in its own frame, a LEFT hand as it appears on a posteroanterior film (thumb towards
+x, fingers towards -y, forearm towards +y, origin at the centre of the distal radius); the right hand
is its mirror image. The mean shape is :data:`ralib.anatomy.TEMPLATE_LEFT_HAND_MM`; a :class:`Pose`
varies size, the finger joints' layout (drawn from the real-hand shape model of
:mod:`ralib.synth.hand_shape`: spread, MCP flexion, drift and proportions as real hands show them),
the distal phalanges' flexion (which foreshortens them on a PA film), disease-driven ulnar drift and
wrist deviation. Joint-space narrowing, subluxation and luxation change the geometry
here; erosions and density changes are applied when rendering (:mod:`ralib.synth.render`).

Example:
    >>> import numpy as np
    >>> hand = build_hand(Pose.mean(), Damage.none())
    >>> hand.landmarks.shape
    (37, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ralib import anatomy
from ralib.synth.hand_shape import sample_finger_joints

# half-widths (mm) of base, shaft and head of the long bones of an average adult, per ray
_MC = {1: (7.0, 4.5, 7.0), 2: (7.5, 4.3, 7.2), 3: (7.5, 4.3, 7.2), 4: (6.0, 3.7, 6.3), 5: (6.3, 3.7, 6.2)}
_PP = {1: (7.8, 4.8, 6.6), 2: (7.6, 4.4, 5.8), 3: (7.8, 4.6, 6.0), 4: (7.4, 4.3, 5.7), 5: (6.5, 3.8, 5.0)}
_MP = {2: (5.9, 3.6, 4.8), 3: (6.2, 3.8, 5.0), 4: (5.9, 3.6, 4.8), 5: (5.0, 3.1, 4.1)}
_DP = {1: (6.2, 3.4, 4.6), 2: (4.8, 2.7, 3.6), 3: (5.0, 2.8, 3.8), 4: (4.8, 2.7, 3.6), 5: (4.2, 2.4, 3.2)}

#: normal joint-space widths (mm) on a PA film
NORMAL_GAP = {"mcp": 1.8, "pip": 1.3, "dip": 1.0, "ip": 1.2, "cmc": 1.2, "carpal": 1.4, "radcar": 2.0}
#: fraction of the normal joint space left at JSN grades 0-4 (grade 4: ankylosis or luxation)
JSN_SPACE_LEFT = (1.0, 0.78, 0.5, 0.2, 0.0)

# carpal ellipses in the template frame: centre landmark, semi-axes (mm), angle (degrees)
_CARPALS = {
    "scaphoid": ((7.6, 4.7), 55.0),
    "lunate": ((5.9, 5.4), 0.0),
    "triquetrum": ((5.4, 4.6), -30.0),
    "pisiform": ((3.8, 3.8), 0.0),
    "hamate": ((5.4, 5.8), 10.0),
    "capitate": ((5.0, 7.5), 0.0),
    "trapezium": ((5.8, 5.0), 30.0),
    "trapezoid": ((4.6, 4.6), 0.0),
}
_PROXIMAL_ROW = ("scaphoid", "lunate", "triquetrum", "pisiform")
_DISTAL_ROW = ("hamate", "capitate", "trapezium", "trapezoid")


@dataclass
class Pose:
    """How one hand is held and proportioned. All angles in degrees."""

    scale: float = 1.0  # overall size (1 = template adult)
    proportions: np.ndarray = field(default_factory=lambda: np.ones(19))  # per long bone length factor
    spread: float = 1.0  # finger spread relative to the template
    spread_jitter: np.ndarray = field(default_factory=lambda: np.zeros(5))  # extra abduction per ray
    flexion: np.ndarray = field(default_factory=lambda: np.zeros((5, 3)))  # per ray: MCP, PIP, DIP flexion
    ulnar_deviation: np.ndarray = field(default_factory=lambda: np.zeros(5))  # per ray, at the MCP
    wrist_deviation: float = 0.0  # radial (+) / ulnar (-) deviation of the hand on the forearm
    forearm_length: float = 300.0  # mm of forearm bones (the film's edge cuts them)
    flesh: float = 1.0  # soft tissue around the bones (1 = average; lean hands less, fleshy ones more)
    #: share of a finger's spread from the middle finger that its middle and distal phalanges take back: a
    #: relaxed hand's fingers converge towards their tips (0: they run straight on from the proximal phalanx)
    convergence: float = 0.0
    #: MCP, PIP and thumb-IP positions (mm, template frame, before ``scale``) from the real-hand shape
    #: model; they fix the metacarpals and proximal phalanges, whose MCP flexion, spread and lengths
    #: they already hold. None: the template's joints with the knobs above.
    joints: dict[str, np.ndarray] | None = None

    @classmethod
    def mean(cls) -> "Pose":
        return cls()

    @classmethod
    def sample(cls, rng: np.random.Generator, scale: float = 1.0, deformity: float = 0.0) -> "Pose":
        """A random adult pose: finger joints from the real-hand shape model, the distal phalanges' flexion
        drawn here; ``deformity`` (0-1) adds flexion contractures and ulnar drift beyond what the real
        RA hands of the shape model show on average."""
        flex = np.abs(rng.normal(0, 6, (5, 3)))  # most fingers lie flat on the film
        bent = rng.random(5) < 0.08 + 0.35 * deformity
        flex[bent] += np.abs(rng.normal(0, 25 + 30 * deformity, (bent.sum(), 3)))
        drift = np.clip(rng.normal(20 * deformity, 1e-6 + 6 * deformity), 0, 45) * np.array([0.3, 0.8, 1, 1, 1])
        return cls(
            scale=scale,
            proportions=np.clip(rng.normal(1, 0.035, 19), 0.9, 1.1),
            flexion=np.clip(flex, 0, 80),
            ulnar_deviation=drift,
            wrist_deviation=float(rng.normal(0, 5)),
            forearm_length=300.0,
            flesh=float(np.clip(rng.normal(1, 0.15), 0.7, 1.4)),
            convergence=float(rng.uniform(0.1, 0.5)),
            joints=sample_finger_joints(rng),
        )


@dataclass
class Damage:
    """Geometry changes of one hand: JSN grades keyed by finger joint (``mcp2``, ``pip3``, ``dip4``, ``ip``)
    or wrist site (``wrist_J__radcar``), luxated / subluxated joints, osteoarthritis, osteopenia.
    Erosions do not change the geometry; the renderer cuts them from the truth grades."""

    jsn: dict[str, int] = field(default_factory=dict)  # JSN grade of a finger joint or wrist site
    luxation: set[str] = field(default_factory=set)  # JSN-4 joints that are luxated, not ankylosed
    subluxation: set[str] = field(default_factory=set)
    osteoarthritis: dict[str, float] = field(default_factory=dict)  # joint -> 0..1 (DIPs, cmc1)
    osteopenia: float = 0.0  # 0..1, periarticular and general

    @classmethod
    def none(cls) -> "Damage":
        return cls()


@dataclass
class LongBone:
    """A tube from ``p0`` (proximal) to ``p1`` (distal) with flared ends."""

    name: str
    p0: np.ndarray
    p1: np.ndarray
    half_widths: tuple[float, float, float]  # base, shaft, head
    cortex: float
    head: tuple[np.ndarray, float] | None = None  # convex distal end: circle (centre, radius)
    socket: tuple[np.ndarray, float] | None = None  # concave proximal end: excluded circle


@dataclass
class Ellipse:
    """A carpal (or sesamoid) as a flattened ellipsoid."""

    name: str
    centre: np.ndarray
    axes: tuple[float, float]
    angle: float  # degrees
    depth: float  # mm, thickness through the centre


@dataclass
class Hand:
    """Everything the renderer and the labels need about one hand, in the hand frame (mm)."""

    landmarks: np.ndarray  # (37, 2)
    long_bones: list[LongBone]
    carpals: list[Ellipse]
    fusions: list[tuple[np.ndarray, np.ndarray, float]]  # ankylosed carpal joints: from, to, half-width (drawn as one bone)
    soft_capsules: list[tuple[np.ndarray, np.ndarray, float, float]]  # from, to, radius from, radius to
    palm: np.ndarray  # polygon (k, 2)
    forearm_half_width: float
    joint_width: dict[str, float]  # joint box name -> bone width across the joint (mm), for boxes


def _rot(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-9)


def build_hand(pose: Pose, damage: Damage) -> Hand:
    """Assemble the bones and landmarks of a left hand (hand frame) for a pose and its damage."""
    t = {name: pose.scale * np.array(xy, dtype=float) for name, xy in anatomy.TEMPLATE_LEFT_HAND_MM.items()}
    lm: dict[str, np.ndarray] = {}

    # --- wrist: collapse of the carpus moves everything distal to a narrowed joint proximally (+y)
    def lost(site: str, normal: float) -> float:
        return normal * (1 - JSN_SPACE_LEFT[damage.jsn.get(site, 0)])

    drop_proximal = lost("wrist_J__radcar", NORMAL_GAP["radcar"])
    drop_distal = drop_proximal + lost("wrist_J__capnlun", NORMAL_GAP["carpal"])
    drop_trapezium = drop_proximal + max(lost("wrist_J__mna", NORMAL_GAP["carpal"]), 0)
    down = np.array([0.0, 1.0])
    for name in ("radial_styloid", "radius_center", "ulnar_styloid", "ulnar_head", "forearm"):
        lm[name] = t[name].copy()
    for name in _PROXIMAL_ROW:
        lm[name] = t[name] + drop_proximal * down
    for name in ("hamate", "capitate"):
        lm[name] = t[name] + drop_distal * down
    for name in ("trapezium", "trapezoid"):
        lm[name] = t[name] + drop_trapezium * down

    # the hand (everything distal to the radius) deviates radially/ulnarly about the radius centre
    wrist_rot = _rot(-pose.wrist_deviation)
    pivot = t["radius_center"]

    # --- rays: metacarpal base, then joints outwards with lengths, spread, deviation and flexion
    ray_base_drop = {
        1: drop_trapezium,
        2: drop_trapezium,
        3: drop_distal + lost("wrist_J__cmc3", NORMAL_GAP["cmc"]),
        4: drop_distal + lost("wrist_J__cmc4", NORMAL_GAP["cmc"]),
        5: drop_distal + lost("wrist_J__cmc5", NORMAL_GAP["cmc"]),
    }
    ray_names = {
        1: ["cmc1", "mcp1", "ip1", "tip1"],
        **{f: [f"mcb{f}", f"mcp{f}", f"pip{f}", f"dip{f}", f"tip{f}"] for f in (2, 3, 4, 5)},
    }
    bones: list[LongBone] = []
    fusions = []
    joint_width: dict[str, float] = {}
    bone_index = 0
    axis3 = _unit(t["mcp3"] - t["mcb3"])
    if pose.joints is not None:  # each finger's proximal phalanx against the middle finger's, for convergence
        middle = _unit(pose.joints["pip3"] - pose.joints["mcp3"])
        spread_from_middle = {f: _angle_from(middle, pose.joints[f"pip{f}"] - pose.joints[f"mcp{f}"]) for f in (2, 3, 4, 5)}
    for f, names in ray_names.items():
        base = t[names[0]] + ray_base_drop[f] * down
        pts = [base]
        template_dirs = [_unit(t[b] - t[a]) for a, b in zip(names[:-1], names[1:])]
        lengths = [np.linalg.norm(t[b] - t[a]) for a, b in zip(names[:-1], names[1:])]
        # abduction relative to the middle finger, scaled by the spread
        d1 = template_dirs[1]
        spread_angle = np.degrees(np.arctan2(axis3[0] * d1[1] - axis3[1] * d1[0], np.dot(axis3, d1)))
        extra = (pose.spread - 1) * spread_angle + pose.spread_jitter[f - 1]
        if f == 1:  # the thumb spreads less with the fingers
            extra = 0.3 * (pose.spread - 1) * spread_angle + pose.spread_jitter[0]
        finger_rot = _rot(extra - pose.ulnar_deviation[f - 1] * (1 if f > 1 else 0.3))  # ulnar is -x
        widths = [_MC[f], _PP[f]] + ([_MP[f]] if f > 1 else []) + [_DP[f]]
        joint_keys = (["cmc1", "mcp1", "ip"] if f == 1 else [f"cmc{f}", f"mcp{f}", f"pip{f}", f"dip{f}"])
        sampled = pose.joints is not None
        if sampled:  # the metacarpal ends at the sampled MCP, the proximal phalanx at the sampled PIP / IP
            mcp = pose.scale * pose.joints[names[1]] + ray_base_drop[f] * down
            pp = pose.scale * (pose.joints[names[2]] - pose.joints[names[1]])
            pp_ratio = np.linalg.norm(pp) / lengths[1]
        for k, (d, length) in enumerate(zip(template_dirs, lengths)):
            if sampled and k == 0:
                pts.append(mcp)
            elif sampled and k == 1:
                pts.append(pts[-1] + finger_rot @ pp)
            elif sampled:  # distal phalanges continue the sampled proximal one, bent as in the template
                bend = _rot(np.degrees(np.arctan2(d[1], d[0]) - np.arctan2(template_dirs[1][1], template_dirs[1][0]))
                            - (pose.convergence * spread_from_middle[f] if f > 1 else 0.0))  # fmt: skip
                flex = pose.flexion[f - 1, min(k - 1, 2)]
                length = length * pp_ratio * np.cos(np.deg2rad(flex)) * pose.proportions[bone_index % 19]
                pts.append(pts[-1] + finger_rot @ bend @ _unit(pp) * length)
            else:
                if k >= 1:  # phalanges follow the finger rotation; flexion foreshortens them on the film
                    d = finger_rot @ d
                    flex = pose.flexion[f - 1, min(k - 1, 2)] if f > 1 else pose.flexion[0, min(k - 1, 2)]
                    length = length * np.cos(np.deg2rad(flex))
                length *= pose.proportions[bone_index % 19]
                pts.append(pts[-1] + d * length)
            bone_index += 1
        # subluxation / luxation: the distal bone slides off the head towards the ulnar side (-x)
        for k in range(1, len(pts) - 1):
            key = joint_keys[k]
            shift = 0.0
            if key in damage.subluxation:
                shift = 0.35 * widths[k][0]
            if key in damage.luxation:
                shift = 1.1 * widths[k][0]
            if shift:
                axis = _unit(pts[k] - pts[k - 1])
                side = np.array([-axis[1], axis[0]])
                side = side if side[0] < 0 else -side
                offset = side * shift + axis * (0.6 * widths[k][0] if key in damage.luxation else 0)
                pts[k + 1 :] = [p + offset for p in pts[k + 1 :]]
                pts[k] = pts[k] + offset * 0.5
        for name, p in zip(names, pts):
            lm[name] = p
        # long bones with their joints
        for k in range(len(pts) - 1):
            hw = tuple(pose.scale * w for w in widths[k])
            a, b = pts[k], pts[k + 1]
            bone = LongBone(f"{_bone_name(f, k)}", a, b, hw, cortex=pose.scale * (1.1 if k == 0 else 0.85))
            bones.append(bone)
        for k in range(1, len(pts) - 1):  # interior joints: MCP, PIP/IP, DIP
            key = joint_keys[k]
            kind = "mcp" if key.startswith("mcp") else "ip" if key == "ip" else key[:3]
            grade = damage.jsn.get(key, 0)
            gap = NORMAL_GAP[kind] * JSN_SPACE_LEFT[grade] * pose.scale
            oa = damage.osteoarthritis.get(key, 0.0)
            gap *= 1 - 0.7 * oa
            prox, dist = bones[-(len(pts) - 1) + k - 1], bones[-(len(pts) - 1) + k]
            axis = _unit(pts[k] - pts[k - 1])
            radius = 1.05 * prox.half_widths[2]
            centre = pts[k] - axis * (gap / 2 + radius)
            prox.head = (centre, radius)
            prox.p1 = pts[k] - axis * gap / 2
            dist.socket = (centre, radius + gap)
            joint_width[key] = 2 * max(prox.half_widths[2], dist.half_widths[0])
            if grade == 4 and key not in damage.luxation:  # ankylosis: one continuous bone
                prox.head, dist.socket = None, None
                prox.p1 = dist.p0 = pts[k]
        joint_width[joint_keys[0]] = 2 * bones[-(len(pts) - 1)].half_widths[0]

    # rotate everything distal to the radius about the wrist
    for name in list(lm):
        if name not in ("radial_styloid", "radius_center", "ulnar_styloid", "ulnar_head", "forearm"):
            lm[name] = pivot + wrist_rot @ (lm[name] - pivot)
    for bone in bones:
        bone.p0, bone.p1 = (pivot + wrist_rot @ (p - pivot) for p in (bone.p0, bone.p1))
        if bone.head:
            bone.head = (pivot + wrist_rot @ (bone.head[0] - pivot), bone.head[1])
        if bone.socket:
            bone.socket = (pivot + wrist_rot @ (bone.socket[0] - pivot), bone.socket[1])
    fusions = [(pivot + wrist_rot @ (a - pivot), pivot + wrist_rot @ (b - pivot), w) for a, b, w in fusions]

    carpals = [
        Ellipse(name, lm[name], tuple(1.4 * pose.scale * a for a in axes), angle - pose.wrist_deviation, depth=12 * pose.scale)
        for name, (axes, angle) in _CARPALS.items()
    ]
    # wrist ankylosis: bony bridges across fused carpal joints
    for site, pairs in {
        "wrist_J__capnlun": [("capitate", "lunate"), ("capitate", "scaphoid")],
        "wrist_J__mna": [("trapezium", "scaphoid"), ("trapezoid", "scaphoid")],
        "wrist_J__radcar": [("radius_center", "lunate"), ("radius_center", "scaphoid")],
    }.items():
        if damage.jsn.get(site, 0) == 4:
            fusions += [(lm[a], lm[b], 4.0 * pose.scale) for a, b in pairs]

    # forearm bones
    forearm_dir = np.array([0.0, 1.0])
    # the distal radius ends at its styloid's level; its articular surface is a shallow concave arc that
    # falls about 12 mm towards the ulna (radial inclination ~20 degrees), carved by a 40 mm circle
    radius_top = lm["radius_center"] + np.array([4.0, -7.0]) * pose.scale
    styloid_tip, ulnar_corner = lm["radial_styloid"], lm["radius_center"] + np.array([-13.0, 5.0]) * pose.scale
    chord = ulnar_corner - styloid_tip
    distal_normal = _unit(np.array([chord[1], -chord[0]]))
    distal_normal = distal_normal if distal_normal[1] < 0 else -distal_normal
    carve = 40.0 * pose.scale
    centre = (styloid_tip + ulnar_corner) / 2 + distal_normal * np.sqrt(carve**2 - (np.linalg.norm(chord) / 2) ** 2)
    bones.append(
        LongBone("radius", radius_top + forearm_dir * pose.forearm_length, radius_top,
                 (8.5 * pose.scale, 8.0 * pose.scale, 17.0 * pose.scale), cortex=2.2 * pose.scale,
                 socket=(centre, carve))
    )  # fmt: skip
    ulna_end = lm["ulnar_head"] + np.array([3.0, -3.0]) * pose.scale
    bones.append(
        LongBone("ulna", lm["ulnar_head"] + forearm_dir * pose.forearm_length, ulna_end,
                 (6.5 * pose.scale, 5.5 * pose.scale, 7.0 * pose.scale), cortex=2.0 * pose.scale,
                 head=(ulna_end + forearm_dir * 7.0 * pose.scale, 7.0 * pose.scale))
    )  # fmt: skip
    # the mid-forearm point scales with the hand like every other landmark: a reader places it by the
    # anatomy in view, not by a ruler (a fixed 60 mm left it unlearnable to ~4 mm from hands of other sizes)
    along = min(60.0 * pose.scale, pose.forearm_length * 0.6)
    lm["forearm"] = (radius_top + lm["ulnar_head"]) / 2 + forearm_dir * along

    landmarks = np.array([lm[name] for name in anatomy.LANDMARKS]) * 1.0
    joint_width |= {"wrist": 30.0 * pose.scale, "ulna": 16.0 * pose.scale, "radiocarpal": 28.0 * pose.scale}

    # soft tissue: capsules along the fingers, the palm polygon (up to the webs between the fingers), the forearm band
    flesh = pose.flesh * pose.scale
    capsules = []
    for f, names in ray_names.items():
        start = lm[names[1]] if f > 1 else lm[names[0]]
        r0 = _PP[f][0] * pose.scale + (4.0 if f > 1 else 6.5) * flesh
        pts = [start] + [lm[n] for n in names[2:]]
        for a, b in zip(pts[:-1], pts[1:]):
            capsules.append((a, b, r0, r0 * 0.88))
            r0 *= 0.88
        tip_dir = _unit(pts[-1] - pts[-2])
        capsules.append((pts[-1], pts[-1] + tip_dir * 2.5 * pose.scale, r0, r0 * 0.7))

    def web(f: int, g: int) -> np.ndarray:  # the skin fold between two fingers, a third of the way up
        return (lm[f"mcp{f}"] + lm[f"mcp{g}"]) / 2 + 0.35 * ((lm[f"pip{f}"] + lm[f"pip{g}"]) / 2 - (lm[f"mcp{f}"] + lm[f"mcp{g}"]) / 2)

    palm = np.array(
        [
            lm["mcp2"] + np.array([10, -4]) * flesh,
            web(2, 3),
            web(3, 4),
            web(4, 5),
            lm["mcp5"] + np.array([-13, -3]) * flesh,
            lm["hamate"] + np.array([-21, 0]) * flesh,
            lm["ulnar_head"] + np.array([-12, 4]) * flesh,
            lm["ulnar_head"] + np.array([-10, 14]) * pose.scale,
            lm["radius_center"] + np.array([26, 14]) * pose.scale,
            lm["radial_styloid"] + np.array([8, 0]) * flesh,
            lm["cmc1"] + np.array([13, 2]) * flesh,
            (lm["mcp1"] + lm["cmc1"]) / 2 + np.array([10, -4]) * flesh,
            lm["mcp1"] + np.array([3, -8]) * flesh,
            (lm["mcp1"] + lm["mcp2"]) / 2 + np.array([3, 4]) * pose.scale,
        ]
    )
    return Hand(landmarks, bones, carpals, fusions, capsules, palm, 31.0 * pose.scale, joint_width)


def _angle_from(reference: np.ndarray, direction: np.ndarray) -> float:
    """The angle (degrees, counter-clockwise positive as :func:`_rot`) from ``reference`` to ``direction``."""
    cross = reference[0] * direction[1] - reference[1] * direction[0]
    return float(np.degrees(np.arctan2(cross, np.dot(reference, direction))))


def _bone_name(ray: int, k: int) -> str:
    if ray == 1:
        return ("mc1", "pp1", "dp1")[k]
    return ("mc", "pp", "mp", "dp")[k] + str(ray)
