"""Children's hands for the bone-age pretraining task (RSNA-like single left hands).

Skeletal maturity follows the bone age: the hand grows; carpals ossify in their known order
(capitate and hamate in the first months, then triquetrum, lunate, trapezium, trapezoid, scaphoid,
pisiform last) and grow from small nuclei; each tubular bone carries an epiphysis at its known end
(phalangeal and first-metacarpal bases, metacarpal 2-5 heads, distal radius and ulna) that appears,
grows, and is separated from the shaft by a growth plate that narrows and finally fuses in the
mid-teens.

Example:
    >>> child = child_radiograph(seed=0, image_size=128, bone_age_months=60)
    >>> child.image.dtype, child.bone_age_months
    (dtype('uint8'), 60.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ralib.synth import render
from ralib.synth.skeleton import Damage, Ellipse, LongBone, Pose, build_hand
from ralib.synth.world import LANDMARK_INDEX, Placement

#: bone age (months) at which each carpal starts to ossify
CARPAL_ONSET = {
    "capitate": 2, "hamate": 3, "triquetrum": 30, "lunate": 48,
    "trapezium": 60, "trapezoid": 66, "scaphoid": 70, "pisiform": 130,
}  # fmt: skip
#: bone age (months) at which epiphyses appear and at which their growth plate has fused
EPIPHYSIS_ONSET = 18
FUSION = {"dp": 168, "pp": 186, "mp": 186, "mc": 190, "radius": 210, "ulna": 204}


def hand_scale(bone_age_months: float) -> float:
    """Hand size relative to an adult's: about 0.42 at birth, 0.66 at five years, 1 when grown."""
    years = bone_age_months / 12
    return float(0.42 + 0.58 * (1 - np.exp(-years / 7.0)) / (1 - np.exp(-19 / 7.0)))


def _maturity(age: float, onset: float, span: float) -> float:
    """0 before onset, rising to 1 over ``span`` months."""
    return float(np.clip((age - onset) / span, 0, 1))


@dataclass
class ChildSample:
    """One child's hand radiograph (8-bit, like the RSNA PNGs) and its labels."""

    image: np.ndarray
    bone_age_months: float
    male: bool
    spacing_mm: float


def _epiphysis_end(name: str) -> str | None:
    if name in ("radius", "ulna"):
        return "head"
    if name.startswith(("pp", "mp", "dp")) or name == "mc1":
        return "base"
    if name.startswith("mc"):
        return "head"
    return None


def child_radiograph(
    seed: int | np.random.SeedSequence,
    image_size: int = 256,
    bone_age_months: float | None = None,
    male: bool | None = None,
) -> ChildSample:
    """Render one child's left hand; bone age ~ N(127, 41) months in 1-228 unless given."""
    rng = np.random.default_rng(seed)
    age = float(np.clip(rng.normal(127, 41), 1, 228)) if bone_age_months is None else float(bone_age_months)
    male = bool(rng.random() < 0.54) if male is None else male
    scale = hand_scale(age) * float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))
    pose = Pose.sample(rng, scale=scale)
    pose.flexion *= 0.5
    geom = build_hand(pose, Damage.none())

    # film: the hand fills most of a portrait film
    pts = geom.landmarks
    height_mm = (pts[:, 1].max() - pts[:, 1].min()) * rng.uniform(1.15, 1.4)
    width_mm = height_mm * rng.uniform(0.75, 0.95)
    n_h = image_size
    n_w = int(round(image_size * width_mm / height_mm))
    spacing = height_mm / n_h
    centre = np.array([width_mm / 2, height_mm / 2]) / spacing
    mid = (pts[LANDMARK_INDEX["tip3"]] + pts[LANDMARK_INDEX["forearm"]]) / 2
    place = Placement(centre - mid / spacing, rng.normal(0, 8), False, spacing)
    k = place.k

    att = np.zeros((n_h, n_w), np.float32)
    soft = np.zeros((n_h, n_w), np.float32)
    texture = 1 + 0.25 * render.band_noise((n_h, n_w), 0.4 / spacing, rng)
    for bone in geom.long_bones:
        _draw_growing_bone(att, bone, age, place, texture)
    for c in geom.carpals:
        m = _maturity(age, CARPAL_ONSET[c.name], 60)
        if m <= 0:
            continue
        size = 0.25 + 0.75 * m
        e = Ellipse(c.name, c.centre, (c.axes[0] * size, c.axes[1] * size), c.angle, c.depth * size)
        render.draw_ellipsoid(att, place(e.centre[None])[0], tuple(a * k for a in e.axes), e.angle,
                              e.depth * k, 0.8 * k, texture=texture)  # fmt: skip
    for a, b, r0, r1 in geom.soft_capsules:
        pa, pb = place(np.stack([a, b]))
        render.draw_capsule_thickness(soft, pa, pb, r0 * k, r1 * k)
    lm = dict(zip(LANDMARK_INDEX, geom.landmarks))
    top = (lm["radius_center"] + lm["ulnar_head"]) / 2
    pa, pb = place(np.stack([top - np.array([0, 30.0]) * scale, top + np.array([0, 400.0])]))
    render.draw_capsule_thickness(soft, pa, pb, geom.forearm_half_width * k, geom.forearm_half_width * k)
    palm_mask = np.zeros((n_h, n_w), np.uint8)
    cv2.fillPoly(palm_mask, [np.round(place(geom.palm)).astype(np.int32)], 1)
    palm = cv2.GaussianBlur(palm_mask.astype(np.float32), (0, 0), 4.0 * scale / spacing) * 22.0 * scale
    att = att * spacing + render.MU_SOFT * np.maximum(soft * spacing, palm)
    film = render.expose(att, spacing, render.Acquisition.sample(rng), rng)
    image = np.round(np.clip(film, 0, 1) * 255).astype(np.uint8)
    return ChildSample(image, age, male, spacing)


def _draw_growing_bone(att: np.ndarray, bone: LongBone, age: float, place: Placement, texture) -> None:
    """A tubular bone with its epiphysis: a separate nucleus across an open growth plate until fusion."""
    k = place.k
    end = _epiphysis_end(bone.name)
    family = "radius" if bone.name == "radius" else "ulna" if bone.name == "ulna" else bone.name[:2]
    p0, p1 = bone.p0.copy(), bone.p1.copy()
    axis = (p1 - p0) / np.linalg.norm(p1 - p0)
    hb, hs, hh = bone.half_widths
    present = _maturity(age, EPIPHYSIS_ONSET if family not in ("ulna",) else 72, 36)
    fused = age >= FUSION.get(family, 190)
    if end is None or fused:
        render.draw_tube(att, *place(np.stack([p0, p1])), tuple(w * k for w in bone.half_widths), bone.cortex * k,
                         head=(place(bone.head[0][None])[0], bone.head[1] * k) if bone.head else None,
                         socket=(place(bone.socket[0][None])[0], bone.socket[1] * k) if bone.socket else None,
                         texture=texture, plate=0.4 * k)  # fmt: skip
        return
    end_hw = hh if end == "head" else hb
    plate_gap = 1.6 * (1 - _maturity(age, FUSION.get(family, 190) - 60, 60)) + 0.2
    epi_h = end_hw * 0.7 * max(present, 0.0)
    cut = epi_h + plate_gap + (0 if present > 0 else end_hw * 0.6)
    if end == "head":
        shaft = (p0, p1 - axis * cut)
        epi_centre = p1 - axis * epi_h / 2
    else:
        shaft = (p0 + axis * cut, p1)
        epi_centre = p0 + axis * epi_h / 2
    metaphysis = (hb * 0.9, hs, hh) if end == "base" else (hb, hs, hh * 0.9)
    render.draw_tube(att, *place(np.stack(shaft)), tuple(w * k for w in metaphysis), bone.cortex * 0.8 * k,
                     texture=texture, plate=0.4 * k)  # fmt: skip
    if present > 0:
        width = end_hw * (0.35 + 0.6 * present)
        angle = np.degrees(np.arctan2(axis[1], axis[0]))
        render.draw_ellipsoid(att, place(epi_centre[None])[0], (epi_h / 2 * k + 0.5, width * k), place.angle_of(angle),
                              2 * width * k, 0.6 * k, texture=texture)  # fmt: skip
