"""One synthetic dual-hand radiograph with its exact labels.

:func:`radiograph` draws a patient, their damage, two posed hands, places them on a film with a
known pixel spacing, renders and exposes it, and returns the image with every label: SvdH truth per
site, box-level truth per joint, 37 landmarks and 21 joint boxes per hand, hand boxes, which hand is
on which side, a foreground mask and the acquisition settings.

Example:
    >>> sample = radiograph(seed=0, image_size=256)
    >>> sample.image.dtype, sample.spacing_mm <= 430 / 256  # 256 px across a 43 cm cassette, or finer
    (dtype('uint16'), True)
    >>> sample.landmarks["LH"].shape
    (37, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from ralib import anatomy
from ralib.synth import render
from ralib.synth.disease import EXTRA_SITES, Patient, expected_deformity, expected_osteopenia, sample_grades, sample_patient
from ralib.synth.skeleton import JSN_SPACE_LEFT, NORMAL_GAP, Damage, Hand, Pose, build_hand

#: which bone ends an erosion at a site attacks (bone name, end), the first one most
EROSION_TARGETS: dict[str, list[tuple[str, str]]] = {
    "mcp_E__ip": [("pp1", "head"), ("dp1", "base")],
    **{f"pip_E__{f}": [(f"pp{f}", "head"), (f"mp{f}", "base")] for f in (2, 3, 4, 5)},
    "mcp_E__1": [("mc1", "head"), ("pp1", "base")],
    **{f"mcp_E__{f}": [(f"mc{f}", "head"), (f"pp{f}", "base")] for f in (2, 3, 4, 5)},
    "wrist_E__mc1": [("mc1", "base")],
    "wrist_E__mul": [("trapezium", "carpal"), ("trapezoid", "carpal")],
    "wrist_E__nav": [("scaphoid", "carpal")],
    "wrist_E__lunate": [("lunate", "carpal")],
    "wrist_E__radius": [("radius", "head")],
    "wrist_E__ulna": [("ulna", "head")],
    **{f"dip_E__{f}": [(f"mp{f}", "head"), (f"dp{f}", "base")] for f in (2, 3, 4, 5)},
}
# bite radius (fraction of the bone's half-width) and number of bites per erosion grade
_BITE_SIZE = (0.0, 0.24, 0.34, 0.42, 0.5, 0.58)
_BITE_COUNT = (0, 1, 1, 2, 3, 4)

FILM_WIDTH_MM = (340.0, 430.0)
LANDMARK_INDEX = {name: i for i, name in enumerate(anatomy.LANDMARKS)}
FILM_ASPECT = (0.75, 0.9)  # height / width


@dataclass
class Sample:
    """One rendered radiograph and its labels (pixel coordinates, x right, y down)."""

    image: np.ndarray  # uint16, values < 2**bits
    mask: np.ndarray  # uint8 foreground (hands and forearms)
    spacing_mm: float
    bits: int
    inverted: bool
    flipped: bool
    left_hand_on_image_left: bool
    marker: str
    patient: Patient
    truth: dict[str, int]  # <hand>_<site> for SvdH and extra box-level sites
    landmarks: dict[str, np.ndarray]  # hand -> (37, 2) px
    joint_boxes: dict[str, np.ndarray]  # hand -> (21, 4) x0, y0, x1, y1 px in anatomy.JOINT_NAMES order
    hand_boxes: dict[str, np.ndarray]  # hand -> (4,)
    meta: dict = field(default_factory=dict)


def box_truth(truth: dict[str, int], hand: str) -> dict[str, dict[str, int | None]]:
    """Pool SvdH truth into the 21 boxes and add the DIP and thumb-IP scores SvdH lacks."""
    per_hand = {site.split("_", 1)[1]: g for site, g in truth.items() if site.startswith(hand + "_")}
    pooled = anatomy.pool_to_joints(per_hand)
    for f in (2, 3, 4, 5):
        pooled[f"dip{f}"] = {"erosion": per_hand[f"dip_E__{f}"], "jsn": per_hand[f"dip_J__{f}"]}
    pooled["ip"]["jsn"] = per_hand["mcp_J__ip"]
    for j in anatomy.JOINTS:  # keep only what the joint-level data set scores
        pooled[j.name] = {"erosion": pooled[j.name]["erosion"] if j.erosion else None,
                          "jsn": pooled[j.name]["jsn"] if j.jsn else None}  # fmt: skip
    return pooled


def hand_damage(patient: Patient, truth: dict[str, int], hand: str, rng: np.random.Generator) -> Damage:
    """Geometry-changing damage of one hand from its grades (and the truth the geometry implies)."""
    g = {site.split("_", 1)[1]: v for site, v in truth.items() if site.startswith(hand + "_")}
    jsn = {f"mcp{f}": g[f"mcp_J__{f}"] for f in (1, 2, 3, 4, 5)}
    jsn |= {f"pip{f}": g[f"pip_J__{f}"] for f in (2, 3, 4, 5)}
    jsn |= {f"dip{f}": g[f"dip_J__{f}"] for f in (2, 3, 4, 5)}
    jsn["ip"] = g["mcp_J__ip"]
    jsn |= {s: g[s] for s in anatomy.JSN_SITES if s.startswith("wrist")}
    luxation = {j for j, v in jsn.items() if v == 4 and not j.startswith("wrist") and rng.random() < (0.45 if j.startswith("mcp") else 0.25)}
    subluxation = {j for j, v in jsn.items() if v == 3 and not j.startswith("wrist") and rng.random() < 0.35}
    oa = {k.split("_", 1)[1]: v for k, v in patient.oa.items() if k.startswith(hand + "_")}
    return Damage(jsn=jsn, luxation=luxation, subluxation=subluxation, osteoarthritis=oa, osteopenia=patient.osteopenia)


def _seen_narrowing(ra_grade: int, oa: float) -> int:
    """JSN grade a reader sees when RA narrowing and osteoarthritis combine at one joint."""
    left = JSN_SPACE_LEFT[ra_grade] * (1 - 0.7 * oa)
    return int(np.argmin([abs(left - s) for s in JSN_SPACE_LEFT]))


class Placement:
    """Hand frame (mm) -> image pixels: mirror for the right hand, rotate, scale, translate."""

    def __init__(self, origin_px: np.ndarray, angle_deg: float, mirror: bool, spacing: float):
        a = np.deg2rad(angle_deg)
        self.rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        self.mirror = mirror
        self.angle = angle_deg
        self.origin = origin_px
        self.k = 1.0 / spacing

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, dtype=float)
        if self.mirror:
            pts = pts * np.array([-1.0, 1.0])
        return self.origin + (pts @ self.rot.T) * self.k

    def angle_of(self, angle_deg: float) -> float:
        return (-angle_deg if self.mirror else angle_deg) + self.angle


def _bites(target_bone, end: str, grade: int, hw_key: int, place: Placement, rng, radial_bias=0.5) -> list[render.Bite]:
    """Erosion defects on a long bone end, in pixels."""
    p0, p1 = target_bone.p0, target_bone.p1
    a = (p1 - p0) / (np.linalg.norm(p1 - p0) + 1e-9)
    n = np.array([a[1], -a[0]])
    n = n if n[0] > 0 else -n  # radial side of a left hand is +x
    hw = target_bone.half_widths[hw_key]
    tip = p1 if end == "head" else p0
    inward = -a if end == "head" else a
    bites = []
    for i in range(_BITE_COUNT[grade] + int(rng.random() < 0.3 and grade > 0)):
        side = 1 if rng.random() < radial_bias else -1
        if grade >= 3 and i >= 2:  # larger grades reach the articular surface
            centre = tip + inward * hw * rng.uniform(0.05, 0.3) + n * hw * rng.uniform(-0.5, 0.5)
        else:
            centre = tip + inward * hw * rng.uniform(0.25, 0.7) + n * side * hw * rng.uniform(0.65, 0.95)
        r = hw * _BITE_SIZE[grade] * rng.uniform(0.85, 1.15)
        bites.append(render.Bite(place(centre[None])[0], r * place.k, depth=rng.uniform(0.7, 0.95), seed=int(rng.integers(2**31))))
    if grade == 5:  # collapse of the articular surface
        bites.append(render.Bite(place((tip + inward * hw * 0.15)[None])[0], 0.75 * hw * place.k, depth=0.95, seed=int(rng.integers(2**31))))
    return bites


class _Posed(NamedTuple):
    """One posed hand before it is placed on the film (mm, hand frame turned to the film's axes)."""

    geom: Hand
    damage: Damage
    angle: float
    inner_x: float  # towards the other hand, soft tissue included
    outer_x: float
    top: float  # the fingertips' soft tissue
    bottom: float  # the lowest wrist landmark


def _collimation_off_the_hands(collimation_mm, landmarks: dict[str, np.ndarray], spacing: float,
                               size: tuple[int, int]) -> tuple[float, float, float, float]:  # fmt: skip
    """Collimation as a radiographer sets it: never into the fingers, thumbs or wrists (the forearms may be cut).
    ``collimation_mm``: left, top, right, bottom."""
    pts = np.concatenate([np.delete(xy, LANDMARK_INDEX["forearm"], axis=0) for xy in landmarks.values()]) * spacing
    room = (pts[:, 0].min(), pts[:, 1].min(), size[0] * spacing - pts[:, 0].max(), size[1] * spacing - pts[:, 1].max())
    return tuple(float(np.clip(c, 0, max(r - 10.0, 0))) for c, r in zip(collimation_mm, room))


def _bone_kind(name: str) -> str:
    """The shape of a long bone by its skeleton name (``mc3``, ``pp2``, ``mp4``, ``dp1``, ``radius``, ``ulna``)."""
    if name in ("radius", "ulna"):
        return name
    return {"mc": "metacarpal", "pp": "phalanx", "mp": "phalanx", "dp": "distal phalanx"}[name[:2]]


def _carpal_bites(ellipse, grade: int, place: Placement, rng) -> list[render.Bite]:
    bites = []
    t = np.deg2rad(ellipse.angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    for _ in range(_BITE_COUNT[grade] + int(rng.random() < 0.3)):
        phi = rng.uniform(0, 2 * np.pi)
        edge = ellipse.centre + rot @ (np.array([ellipse.axes[0] * np.cos(phi), ellipse.axes[1] * np.sin(phi)]) * 0.85)
        r = min(ellipse.axes) * _BITE_SIZE[grade] * 1.1
        bites.append(render.Bite(place(edge[None])[0], r * place.k, depth=rng.uniform(0.7, 0.95), seed=int(rng.integers(2**31))))
    if grade == 5:
        bites.append(render.Bite(place(ellipse.centre[None])[0], min(ellipse.axes) * 0.7 * place.k, 0.9, seed=int(rng.integers(2**31))))
    return bites


#: drawn over the mosaic rather than in it: the pisiform lies in front of the triquetrum on a PA film
_OVERLYING_CARPALS = ("pisiform",)
CARPAL_JOINT_MM = 1.4  # width of the joint lines between carpal bones
FOREARM_HALF_DEPTH_MM = 15.0  # the distal forearm is about 30 mm deep, palm down on the cassette
PALM_MM = 26.0  # the palm's thickness in the middle
PALM_ROUNDING_MM = 10.0  # the palm thins towards its edges over this distance
PALM_EMINENCES = 0.12  # relative variation of the palm's thickness (thenar, hypothenar) over a few cm


def palm_thickness(palm_mask: np.ndarray, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Soft tissue of the palms (mm): ``PALM_MM`` deep in the middle with rounded edges, thicker and
    thinner over a few centimetres as the eminences and the hollow of the palm make it.

    Example:
        >>> mask = np.zeros((200, 200), np.uint8); mask[40:160, 40:160] = 1
        >>> t = palm_thickness(mask, 0.5, np.random.default_rng(0))
        >>> bool(t[100, 100] > 20 > t[100, 41] > 0 == t[10, 10])
        True
    """
    inside = cv2.distanceTransform(np.pad(palm_mask, 1), cv2.DIST_L2, 5)[1:-1, 1:-1] * spacing
    rim = np.clip(inside / PALM_ROUNDING_MM, 0, 1)
    profile = np.sqrt(1 - (1 - rim) ** 2)  # a rounded edge, flat in the middle
    lumps = 1 + PALM_EMINENCES * render.band_noise(palm_mask.shape, 15.0 / spacing, rng)
    return (PALM_MM * profile * lumps).astype(np.float32)


def _draw_carpus(att, hand: Hand, damage: Damage, place: Placement, texture, bites: dict, rng) -> None:
    """The carpal bones as a tight mosaic inside the outline of their ellipses and reaching down to the
    radius' articular surface (less the radiocarpal joint space), the pisiform on top."""
    k = place.k
    osteopenia = damage.osteopenia
    cells = [c for c in hand.carpals if c.name not in _OVERLYING_CARPALS]
    blobs = np.zeros(att.shape, np.uint8)
    for c in cells:
        centre = place(c.centre[None])[0]
        axes = (max(int(round(c.axes[0] * k / 1.15)), 1), max(int(round(c.axes[1] * k / 1.15)), 1))
        cv2.ellipse(blobs, (int(round(centre[0])), int(round(centre[1]))), axes, place.angle_of(c.angle), 0, 360, 1, -1)
    radius = next(b for b in hand.long_bones if b.name == "radius")
    (cx, cy), carve = place(radius.socket[0][None])[0], radius.socket[1] * k
    joint = NORMAL_GAP["radcar"] * JSN_SPACE_LEFT[damage.jsn.get("wrist_J__radcar", 0)] * k
    within = np.zeros(att.shape, np.uint8)  # distal to the radius and its joint
    cv2.circle(within, (int(round(cx)), int(round(cy))), max(int(round(carve - joint)), 0), 1, -1)
    facing = np.zeros(att.shape, np.uint8)  # the carpal side of the radiocarpal joint, across the radius' width
    half = radius.half_widths[2] * k
    end = place(radius.p1[None])[0]
    cv2.circle(facing, (int(round(end[0])), int(round(end[1]))), int(round(1.2 * half)), 1, -1)
    points = cv2.findNonZero(blobs | (facing & within))
    outline = np.zeros(att.shape, np.uint8)  # the carpus packs its bones tightly: the hull of their outlines
    if points is not None:
        cv2.fillConvexPoly(outline, cv2.convexHull(points), 1)
    outline &= within | ~facing  # the radius' articular surface bounds the carpus across the radius only
    names = [c.name for c in cells]
    fused = set()
    for a, b, _ in hand.fusions:  # an ankylosed carpal joint: no joint line between the two bones
        ends = [next((i for i, c in enumerate(cells) if np.allclose(c.centre, p)), None) for p in (a, b)]
        if None not in ends:
            fused.add((min(ends), max(ends)))
    render.draw_carpus(
        att, place(np.array([c.centre for c in cells])), np.array([np.sqrt(c.axes[0] * c.axes[1]) * k for c in cells]),
        outline.astype(bool), depth=cells[0].depth * k, cortex=1.0 * k, gap=CARPAL_JOINT_MM * k, fused=fused,
        texture=texture, bites=[b for n in names for b in bites.get(n, [])], osteopenia=osteopenia, rng=rng,
        texture_depth=render.TEXTURE_DEPTH_MM * k, ellipses=[(tuple(1.05 * a * k for a in c.axes), place.angle_of(c.angle)) for c in cells],
        free=(facing & within).astype(bool),
    )  # fmt: skip
    for c in hand.carpals:
        if c.name in _OVERLYING_CARPALS:
            render.draw_ellipsoid(att, place(c.centre[None])[0], tuple(a * k / 1.15 for a in c.axes), place.angle_of(c.angle),
                                  c.depth * k * 0.6, 1.0 * k, texture=texture, bites=bites.get(c.name), osteopenia=osteopenia,
                                  texture_depth=render.TEXTURE_DEPTH_MM * k)  # fmt: skip


def _draw_hand(att, soft, hand: Hand, damage: Damage, truth_hand: dict[str, int], place: Placement, texture, rng):
    """Render one hand's bones into ``att`` and its soft tissue thickness into ``soft`` (mm)."""
    k = place.k
    bites: dict[str, list[render.Bite]] = {}
    bones = {b.name: b for b in hand.long_bones}
    carpals = {c.name: c for c in hand.carpals}
    for site, targets in EROSION_TARGETS.items():
        grade = truth_hand.get(site, 0)
        if grade <= 0:
            continue
        radial = 0.7 if site in ("mcp_E__2", "mcp_E__3", "wrist_E__radius") else 0.5
        for j, (name, end) in enumerate(targets):
            # the second bone of a joint is hit less often and less badly
            g = grade if j == 0 else max(0, grade - int(rng.integers(1, 3)))
            if g == 0 and j > 0:
                continue
            if end == "carpal":
                bites.setdefault(name, []).extend(_carpal_bites(carpals[name], grade, place, rng))
            else:
                hw_key = 2 if end == "head" else 0
                bites.setdefault(name, []).extend(_bites(bones[name], end, max(g, 1), hw_key, place, rng, radial))

    for bone in hand.long_bones:
        p0, p1 = place(np.stack([bone.p0, bone.p1]))
        head = (place(bone.head[0][None])[0], bone.head[1] * k) if bone.head else None
        socket = (place(bone.socket[0][None])[0], bone.socket[1] * k) if bone.socket else None
        lip = 0.35 * bone.half_widths[0] * k if bone.socket is not None else 0.0
        render.draw_tube(
            att, p0, p1, tuple(w * k for w in bone.half_widths), bone.cortex * k, head=head, socket=socket,
            texture=texture, bites=bites.get(bone.name), osteopenia=damage.osteopenia, plate=0.5 * k, lip=lip,
            shape=render.BONE_SHAPES[_bone_kind(bone.name)], texture_depth=render.TEXTURE_DEPTH_MM * k,
        )  # fmt: skip
    _draw_carpus(att, hand, damage, place, texture, bites, rng)  # fused carpals are drawn as one bone there
    # osteoarthritis: osteophytes at the joint margins
    lm = dict(zip(anatomy.LANDMARKS, hand.landmarks))
    for joint, level in damage.osteoarthritis.items():
        centre = lm["ip1" if joint == "ip" else joint]
        width = hand.joint_width.get(joint, 12.0) / 2
        for side in (-1, 1):
            spur = centre + np.array([side * (width - 0.3 + 0.6 * level), rng.uniform(-1.0, 1.0)])
            size = (0.5 + 1.1 * level) * k
            render.draw_ellipsoid(att, place(spur[None])[0], (size * 0.7, size), 0, 2 * size, 0.4 * size, texture=None)
    # soft tissue thickness (mm)
    for a, b, r0, r1 in hand.soft_capsules:
        pa, pb = place(np.stack([a, b]))
        render.draw_capsule_thickness(soft, pa, pb, r0 * k, r1 * k)
    forearm_top = (lm["radius_center"] + lm["ulnar_head"]) / 2
    pa, pb = place(np.stack([forearm_top, forearm_top + np.array([0, 400.0])]))
    render.draw_capsule_thickness(soft, pa, pb, hand.forearm_half_width * k, hand.forearm_half_width * 1.1 * k,
                                  half_depth=FOREARM_HALF_DEPTH_MM * hand.forearm_half_width / 31.0 * k)
    return place(hand.palm)


def radiograph(
    seed: int | np.random.SeedSequence,
    image_size: int = 1024,
    healthy_fraction: float | None = None,
    p_flip: float = 0.12,
    cohort: str = "image_level",
    p_ring: float = 0.08,
    severity: float | None = None,
    pose: dict | None = None,
    acquisition: dict | None = None,
) -> Sample:
    """Render one dual-hand radiograph with its labels; deterministic per seed.

    ``image_size`` sets the detector's resolution: pixels across the largest cassette (43 cm); a detector's
    spacing varies by up to 15 % finer from film to film, and a film is as many pixels wide as its cassette
    (or the hands on it) needs, so films differ in size as real ones do.

    The patient comes from ``cohort`` (:data:`~ralib.synth.disease.COHORTS`); ``healthy_fraction``
    overrides its share of healthy controls. For teaching and tests, ``severity`` fixes the patient's latent severity (about -2 to 3), ``pose``
    overrides :class:`~ralib.synth.skeleton.Pose` fields of both hands (e.g. ``{"spread": 1.5}``) and
    ``acquisition`` overrides :class:`~ralib.synth.render.Acquisition` fields.
    """
    rng = np.random.default_rng(seed)
    patient = sample_patient(rng, cohort, healthy_fraction)
    if severity is not None:  # and the deformity and osteopenia that go with it
        patient.theta = float(severity)
        patient.deformity = expected_deformity(patient.theta)
        patient.osteopenia = float(np.clip(expected_osteopenia(patient.theta, patient.age), 0, 1))
    truth = sample_grades(patient, rng)
    for hand in anatomy.HANDS:  # osteoarthritis narrows DIPs and the thumb IP as seen by a reader
        for f in (2, 3, 4, 5):
            key = f"{hand}_dip_J__{f}"
            truth[key] = _seen_narrowing(truth[key], patient.oa.get(f"{hand}_dip{f}", 0.0))
        truth[f"{hand}_mcp_J__ip"] = _seen_narrowing(truth[f"{hand}_mcp_J__ip"], patient.oa.get(f"{hand}_ip", 0.0))

    # two posed hands in millimetres, placed side by side on a cassette
    scale = float(np.clip(rng.normal(1.07 if patient.sex == "M" else 1.0, 0.055), 0.85, 1.25))
    gap_mm = rng.uniform(0, 50)  # between the two hands' innermost points (thumbs)
    tilt = rng.normal(3, 6)  # hands lean outwards
    hands = {}
    for hand in anatomy.HANDS:
        side = -1 if hand == "LH" else 1
        damage = hand_damage(patient, truth, hand, rng)
        hand_pose = Pose.sample(rng, scale=scale, deformity=patient.deformity)
        for field_name, value in (pose or {}).items():
            setattr(hand_pose, field_name, np.full_like(getattr(hand_pose, field_name), value) if np.ndim(getattr(hand_pose, field_name)) else value)
        geom = build_hand(hand_pose, damage)
        draft = Placement(np.zeros(2), side * (tilt + rng.normal(0, 3)), hand == "RH", 1.0)
        pts = draft(np.delete(geom.landmarks, LANDMARK_INDEX["forearm"], axis=0))
        pad = 8 * scale  # soft tissue beyond the outermost landmarks (bone tips and joint centres)
        inner_x = pts[:, 0].max() + pad if hand == "LH" else pts[:, 0].min() - pad
        outer_x = pts[:, 0].min() - pad if hand == "LH" else pts[:, 0].max() + pad
        hands[hand] = _Posed(geom, damage, draft.angle, inner_x, outer_x, pts[:, 1].min() - pad, pts[:, 1].max())
    # the radiographer fits both hands on the cassette (35 x 43 cm at most), bringing them together if need be
    cassette_w = rng.uniform(*FILM_WIDTH_MM)
    margin = rng.uniform(5, 30)
    breadth = sum(abs(h.outer_x - h.inner_x) for h in hands.values())
    gap_mm = float(np.clip(cassette_w - margin - breadth, 0, gap_mm))
    # the film's lower edge cuts the forearms a little below the wrists; the rest of the film is above
    below = rng.uniform(65, 130)  # mm of forearm below the lowest wrist landmark
    reach = max(h.bottom - h.top for h in hands.values())
    top_mm = max(cassette_w * rng.uniform(*FILM_ASPECT) - below - reach, rng.uniform(5, 15))
    shifts = {}
    for hand, h in hands.items():
        side = -1 if hand == "LH" else 1
        shifts[hand] = np.array([side * gap_mm / 2 - h.inner_x + rng.normal(0, 3), top_mm - h.top])
    half_span = max(abs(h.outer_x + shifts[hand][0]) for hand, h in hands.items())
    film_w = max(cassette_w, 2 * half_span + margin)
    film_h = top_mm + reach + below
    spacing = FILM_WIDTH_MM[1] / image_size * rng.uniform(0.85, 1.0)
    width = int(round(film_w / spacing))
    height = int(round(film_h / spacing))

    att = np.zeros((height, width), np.float32)
    soft = np.zeros((height, width), np.float32)
    texture = render.trabecular_texture((height, width), spacing, rng)
    palms = []
    landmarks, hand_geoms = {}, {}
    for hand, (geom, damage, angle, *_) in hands.items():
        origin = (shifts[hand] + np.array([film_w / 2, 0.0])) / spacing
        place = Placement(origin, angle, hand == "RH", spacing)
        truth_hand = {site.split("_", 1)[1]: v for site, v in truth.items() if site.startswith(hand + "_")}
        palms.append(_draw_hand(att, soft, geom, damage, truth_hand, place, texture, rng))
        landmarks[hand] = place(geom.landmarks)
        hand_geoms[hand] = (geom, place)

    att *= spacing  # bones were drawn with path lengths in pixels
    palm_mask = np.zeros((height, width), np.uint8)
    for poly in palms:
        cv2.fillPoly(palm_mask, [np.round(poly).astype(np.int32)], 1)
    soft_mm = np.maximum(soft * spacing, palm_thickness(palm_mask, spacing, rng))
    att += render.MU_SOFT * soft_mm
    mask = (soft_mm > 1.0).astype(np.uint8)

    artefacts = []
    if rng.random() < p_ring:  # a ring on a proximal phalanx
        hand = str(rng.choice(anatomy.HANDS))
        geom, place = hand_geoms[hand]
        finger = f"pp{int(rng.integers(2, 6))}"
        bone = next(b for b in geom.long_bones if b.name == finger)
        mid = place(((bone.p0 + bone.p1) / 2)[None])[0]
        d = place(bone.p1[None])[0] - place(bone.p0[None])[0]
        angle = np.degrees(np.arctan2(d[1], d[0]))
        axes = (int(1.6 / spacing), int((bone.half_widths[1] + 5) / spacing))
        ring = np.zeros_like(att)
        cv2.ellipse(ring, (int(mid[0]), int(mid[1])), axes, angle, 0, 360, render.MU_METAL * 2, -1, cv2.LINE_AA)
        att += ring
        artefacts.append(f"ring {hand} pp")

    acq = render.Acquisition.sample(rng)
    for field_name, value in (acquisition or {}).items():
        setattr(acq, field_name, value)
    acq.collimation_mm = _collimation_off_the_hands(acq.collimation_mm, landmarks, spacing, (width, height))
    film = render.expose(att, spacing, acq, rng)
    # marker: usually an "R" beside the right hand, sometimes an "L" beside the left
    letter = "R" if rng.random() < 0.85 else "L"
    for attempt in range(60):  # beside the hand it names, off the hand and forearm; further in if need be
        reach_in = 0.2 if attempt < 20 else 0.5
        mx = width * (rng.uniform(1 - reach_in, 0.96) if letter == "R" else rng.uniform(0.04, reach_in))
        my = height * rng.uniform(0.1, 0.85)
        reach = int(14 / spacing)
        y0, y1, x0, x1 = max(int(my) - reach, 0), int(my) + reach, max(int(mx) - reach, 0), int(mx) + reach
        if not mask[y0:y1, x0:x1].any():
            break
    marker_box = render.draw_marker(film, letter, (int(mx), int(my)), 11.0 / spacing, circled=bool(rng.random() < 0.5))
    if rng.random() < 0.3:  # a stationary anti-scatter grid
        render.grid_lines(film, rng)
        artefacts.append("grid")
    if rng.random() < 0.04:  # a scratch or stray line
        p, q = rng.uniform([0, 0], [width, height], (2, 2)).astype(int)
        cv2.line(film, tuple(map(int, p)), tuple(map(int, q)), 0.9, 1, cv2.LINE_AA)
        artefacts.append("line")

    flipped = bool(rng.random() < p_flip)
    if flipped:  # archives hold mirrored films: the marker letter is mirrored too
        film = film[:, ::-1].copy()
        mask = mask[:, ::-1].copy()
        landmarks = {h: np.column_stack([width - 1 - xy[:, 0], xy[:, 1]]) for h, xy in landmarks.items()}
        marker_box = (width - marker_box[2], marker_box[1], width - marker_box[0], marker_box[3])
    text_boxes = []
    if rng.random() < 0.5:  # the modality's overlay text, burned in
        text_boxes = render.burn_in_text(film, spacing, rng)
        artefacts.append("text")
    if rng.random() < 0.6:  # stored or exported as JPEG somewhere on the way to the archive
        quality = int(rng.integers(70, 96))
        film = render.jpeg(film, quality)
        artefacts.append(f"jpeg {quality}")
    image = render.quantise(film, acq.bits, acq.inverted)

    joint_boxes = {h: _joint_boxes(landmarks[h], hand_geoms[h][0], spacing) for h in anatomy.HANDS}
    hand_boxes = {h: _hand_box(landmarks[h], spacing, (width, height)) for h in anatomy.HANDS}
    meta = {
        "film_width_mm": film_w,
        "scale": scale,
        "acquisition": acq.__dict__ | {"collimation_mm": list(acq.collimation_mm)},
        "artefacts": artefacts,
        "marker_xy": [float(width - 1 - mx) if flipped else float(mx), float(my)],
        "marker_box": marker_box,  # x0, y0, x1, y1 px (end exclusive) on the stored film
        "text_boxes": text_boxes,  # one box per burned-in line
    }
    return Sample(
        image=image, mask=mask, spacing_mm=spacing, bits=acq.bits, inverted=acq.inverted, flipped=flipped,
        left_hand_on_image_left=not flipped, marker=letter, patient=patient, truth=truth, landmarks=landmarks,
        joint_boxes=joint_boxes, hand_boxes=hand_boxes, meta=meta,
    )  # fmt: skip


def _joint_boxes(landmarks: np.ndarray, geom: Hand, spacing: float) -> np.ndarray:
    centres = anatomy.centres_from_landmarks(landmarks, anatomy.JOINT_CENTRES)
    index = {n: i for i, n in enumerate(anatomy.LANDMARKS)}
    boxes = []
    for name in anatomy.JOINT_NAMES:
        if name == "wrist":
            pts = landmarks[[index[c] for c in ("scaphoid", "lunate", "capitate", "trapezoid", "hamate", "triquetrum")]]
            x0, y0 = pts.min(axis=0) - 4 / spacing
            x1, y1 = pts.max(axis=0) + 4 / spacing
            boxes.append([x0, y0, x1, y1])
            continue
        if name == "radiocarpal":
            w, h = 30 / spacing, 14 / spacing
        elif name == "ulna":
            w = h = 16 / spacing
        else:
            w = h = 1.5 * geom.joint_width.get(name, 12.0) / spacing
        cx, cy = centres[name]
        boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return np.array(boxes)


def _hand_box(landmarks: np.ndarray, spacing: float, size: tuple[int, int]) -> np.ndarray:
    index = {n: i for i, n in enumerate(anatomy.LANDMARKS)}
    pts = np.delete(landmarks, index["forearm"], axis=0)
    x0, y0 = pts.min(axis=0) - 14 / spacing
    x1, y1 = pts.max(axis=0) + 14 / spacing
    y1 = max(y1, landmarks[index["radius_center"], 1] + 30 / spacing)
    return np.array([max(x0, 0), max(y0, 0), min(x1, size[0] - 1), min(y1, size[1] - 1)])


def joint_closeup(
    joint: str = "mcp3",
    erosion: int = 0,
    jsn: int = 0,
    spacing_mm: float = 0.1,
    half_size_mm: float = 14.0,
    seed: int = 0,
    noise: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A close-up of one joint of an average left hand with chosen erosion and JSN grades.

    ``joint`` is a finger joint box name (``mcp1``-``mcp5``, ``pip2``-``pip5``, ``ip``, ``dip2``-``dip5``).
    Returns the film (0-1, bone bright) and the unit vector of the proximal bone's axis in the image.
    Without ``noise`` the film is the noise-free attenuation mapped to 0-1, for measurements.

    Example:
        >>> film, axis = joint_closeup("pip3", jsn=2, noise=False)
        >>> film.shape
        (281, 281)
    """
    rng = np.random.default_rng(seed)
    erosion_site, jsn_site = _CLOSEUP_SITES[joint]
    truth_hand = {s: 0 for s in (*anatomy.EROSION_SITES, *anatomy.JSN_SITES, *EXTRA_SITES)}
    truth_hand[erosion_site] = erosion
    if jsn_site:
        truth_hand[jsn_site] = jsn
    truth = {f"LH_{s}": g for s, g in truth_hand.items()} | {f"RH_{s}": 0 for s in truth_hand}
    patient = Patient(age=45, sex="F", theta=0.0)
    damage = hand_damage(patient, truth, "LH", np.random.default_rng(seed + 1))
    damage.luxation, damage.subluxation = set(), set()  # keep the joint in place for comparison
    geom = build_hand(Pose.mean(), damage)
    centre_mm = geom.landmarks[LANDMARK_INDEX["ip1" if joint == "ip" else joint]]
    n = int(round(2 * half_size_mm / spacing_mm)) + 1
    origin = -centre_mm / spacing_mm + (n - 1) / 2
    place = Placement(origin, 0.0, False, spacing_mm)
    att = np.zeros((n, n), np.float32)
    soft = np.zeros((n, n), np.float32)
    texture = render.trabecular_texture((n, n), spacing_mm, rng) if noise else None
    _draw_hand(att, soft, geom, damage, truth_hand, place, texture, rng)
    att = att * spacing_mm + render.MU_SOFT * soft * spacing_mm
    if noise:
        film = render.expose(att, spacing_mm, render.Acquisition(), rng)
    else:
        film = 1 - np.exp(-att / 1.6)
    bone = {"mcp": "mc", "pip": "pp", "dip": "mp"}.get(joint[:3], "pp")
    name = "pp1" if joint == "ip" else f"{bone}{joint[-1]}"
    proximal = next(b for b in geom.long_bones if b.name == name)
    axis = (proximal.p1 - proximal.p0) / np.linalg.norm(proximal.p1 - proximal.p0)
    return film.astype(np.float32), axis


_CLOSEUP_SITES = {
    "ip": ("mcp_E__ip", "mcp_J__ip"),
    **{f"mcp{f}": (f"mcp_E__{f}", f"mcp_J__{f}") for f in (1, 2, 3, 4, 5)},
    **{f"pip{f}": (f"pip_E__{f}", f"pip_J__{f}") for f in (2, 3, 4, 5)},
    **{f"dip{f}": (f"dip_E__{f}", f"dip_J__{f}") for f in (2, 3, 4, 5)},
}
