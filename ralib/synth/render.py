"""X-ray-like rendering of synthetic hands: attenuation, then acquisition.

Bones are rasterised as path lengths through tubes (long bones) and flattened ellipsoids (carpals)
with a dense cortex and a lighter, textured medulla; soft tissue is a finger/palm/forearm envelope.
The sum is the log attenuation ``mu * t`` of every pixel. Acquisition turns it into a processed film:
quantum noise that grows with attenuation, blur, a contrast curve with edge enhancement, uneven
background, collimation, an "L"/"R" marker, artefacts, 12-16 bit quantisation and sometimes the
inverted (MONOCHROME1) look.

Every function works in pixel coordinates; the caller converts millimetres with the known spacing.

Example:
    >>> import numpy as np
    >>> img = np.zeros((64, 64), np.float32)
    >>> draw_tube(img, np.array([10., 32.]), np.array([54., 32.]), (6, 4, 6), 1.5)
    >>> bool(img[32, 32] > img[10, 5])
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MU_CORTEX = 0.24  # per mm of path, dense cortical bone (over the soft tissue it displaces)
MU_MEDULLA = 0.045  # per mm, cancellous bone with marrow: about a fifth of cortex, as about a fifth of it is bone
SHAFT_MARROW = 0.5  # the shafts' cavity holds fatty marrow and few trabeculae: this share of MU_MEDULLA
MU_SOFT = 0.07  # per mm, soft tissue: about a third of cortex, as at the 50-60 kV of hand films
MU_METAL = 2.5  # per mm, rings and markers
SCATTER_MM = 15.0  # spread of scattered radiation on the detector
LATITUDE_MM = 40.0  # scale above which digital radiography's processing compresses density (body thickness, not bones)


@dataclass(frozen=True)
class BoneShape:
    """How a long bone's outline and cortex change along it (lengths in multiples of the end's half-width).

    The base and the head keep their full width up to 0.3 base half-widths from the base and up to the
    head's centre (one head half-width from its tip), and narrow to the shaft's over ``base_reach`` /
    ``head_reach`` half-widths beyond; a ``neck`` (share of the shaft width) narrows the bone ``neck_at`` head half-widths from
    its tip, as behind a metacarpal head; the cortex thins from the shaft's to ``end_cortex`` of it at the
    ends, where the bone is mostly cancellous. A shape without a head joint ends in a rounded tip (a tuft).
    """

    base_reach: float = 1.4
    head_reach: float = 1.4
    neck: float = 0.0
    neck_at: float = 2.0
    end_cortex: float = 0.3
    base_cap: float = 0.0  # a convex base reaching this many base half-widths beyond ``p0`` (metacarpals)


#: the long bones of the hand and forearm (fitted by eye to the real adult hand of ../shared/data)
BONE_SHAPES = {
    "metacarpal": BoneShape(base_reach=1.2, head_reach=1.2, neck=0.1, neck_at=2.5, end_cortex=0.2, base_cap=0.35),
    "phalanx": BoneShape(base_reach=1.1, head_reach=0.8, neck=0.06, neck_at=1.9, end_cortex=0.25),
    "distal phalanx": BoneShape(base_reach=0.9, head_reach=0.5, neck=0.15, neck_at=1.7, end_cortex=0.3),
    "radius": BoneShape(base_reach=1.0, head_reach=1.2, end_cortex=0.15),
    "ulna": BoneShape(base_reach=1.0, head_reach=1.0, end_cortex=0.2),
}


def _smoothstep(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


@dataclass
class Bite:
    """A lytic defect (erosion) in a bone: centre and radius in pixels, depth 0-1 of density lost.

    Real erosions are ill-defined: the loss fades over ``margin`` of the radius, the outline is irregular
    (``seed`` draws its lobes) and the bone around it is osteopenic (a ``halo`` of lighter loss out to
    twice the radius)."""

    centre: np.ndarray
    radius: float
    depth: float = 0.9
    margin: float = 0.7
    halo: float = 0.25
    seed: int = 0


def _bbox(points: np.ndarray, pad: float, shape: tuple[int, int]) -> tuple[slice, slice] | None:
    x0, y0 = np.floor(points.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + pad).astype(int) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, shape[1]), min(y1, shape[0])
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _grid(sl: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[sl[0], sl[1]].astype(np.float32)
    return xs, ys


def _chord(r, d2):
    """Path length through a disc of radius ``r`` at squared distance ``d2`` from its centre."""
    return 2 * np.sqrt(np.clip(r * r - d2, 0, None))


#: path length (mm) over which trabecular texture keeps its full contrast; along longer paths through
#: cancellous bone the trabeculae average out, as relative variation falls with the square root of the path
TEXTURE_DEPTH_MM = 5.0


#: how much longer than wide trabeculae look along a long bone (they follow its lines of stress)
TRABECULAR_STRETCH = 3.0


def _along_bone(texture: np.ndarray, p0: np.ndarray, a: np.ndarray, xs, ys) -> np.ndarray:
    """The texture seen through a bone whose axis runs along ``a``: stretched along the axis."""
    along = (xs - p0[0]) * a[0] + (ys - p0[1]) * a[1]
    shrink = along * (1 / TRABECULAR_STRETCH - 1)  # move each pixel towards p0 along the axis
    map_x = (xs + a[0] * shrink).astype(np.float32)
    map_y = (ys + a[1] * shrink).astype(np.float32)
    return cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _trabecular(inner, texture, sl, depth_px: float | None):
    """The texture's factor on a cancellous path of length ``inner`` (pixels): weaker on long paths.
    ``texture`` is the film-wide field (indexed by ``sl``) or one already cut to the bone's box."""
    if texture is None:
        return 1.0
    tex = texture[sl] if texture.shape != np.shape(inner) else texture
    if depth_px is None:
        return tex
    return 1 + (tex - 1) * np.sqrt(depth_px / np.maximum(inner, depth_px))


def _apply_bites(density: np.ndarray, xs, ys, bites: list[Bite]) -> np.ndarray:
    density = density.copy()
    x0, y0 = xs[0, 0], ys[0, 0]
    for b in bites:
        reach = 2.3 * b.radius + 2
        c0, r0 = max(int(b.centre[0] - reach - x0), 0), max(int(b.centre[1] - reach - y0), 0)
        c1, r1 = min(int(b.centre[0] + reach - x0) + 1, density.shape[1]), min(int(b.centre[1] + reach - y0) + 1, density.shape[0])
        if c1 <= c0 or r1 <= r0:
            continue
        dx, dy = xs[r0:r1, c0:c1] - b.centre[0], ys[r0:r1, c0:c1] - b.centre[1]
        dist = np.hypot(dx, dy)
        angle = np.arctan2(dy, dx)
        rng = np.random.default_rng(b.seed)
        lobes = rng.uniform(0, 2 * np.pi, 3)
        radius = b.radius * (1 + 0.22 * np.sin(2 * angle + lobes[0]) + 0.15 * np.sin(3 * angle + lobes[1])
                             + 0.1 * np.sin(5 * angle + lobes[2]))  # fmt: skip
        fade = max(b.margin * b.radius, 0.5)
        loss = _smoothstep((radius + fade / 2 - dist) / fade)  # ill-defined edge
        moth = np.clip(0.75 + 0.35 * band_noise(dist.shape, max(b.radius / 5, 0.5), rng), 0, 1)  # moth-eaten inside
        loss = b.depth * np.maximum(loss * moth, b.halo * _smoothstep((2 * radius - dist) / radius))  # osteopenic rim
        density[r0:r1, c0:c1] *= 1 - loss
    return density


def draw_tube(
    img: np.ndarray,
    p0: np.ndarray,
    p1: np.ndarray,
    half_widths: tuple[float, float, float],
    cortex: float,
    head: tuple[np.ndarray, float] | None = None,
    socket: tuple[np.ndarray, float] | None = None,
    texture: np.ndarray | None = None,
    bites: list[Bite] | None = None,
    osteopenia: float = 0.0,
    plate: float = 0.5,
    lip: float = 0.0,
    shape: BoneShape | None = None,
    texture_depth: float | None = None,
) -> None:
    """Add the log attenuation of a long bone from ``p0`` (base) to ``p1`` (head) to ``img``.

    The bone is a hollow solid of revolution: at every point along it the path through the cortex and
    through the cancellous core is the chord of its outer and inner circle, so the cortex shows as bright
    lines along the shaft by itself. Half-widths (base, shaft, head), cortex and plate thickness in pixels.
    ``head``: convex distal end, a circle the bone must stay inside beyond its centre; ``socket``: a circle
    the bone's base is carved out of (the concave side of a joint); ``lip``: how far the base extends
    proximally of ``p0`` to cup the neighbouring head; ``shape``: the outline and cortex along the bone
    (:data:`BONE_SHAPES`); None: straight flares over the last quarter at each end; ``texture_depth``:
    :data:`TEXTURE_DEPTH_MM` in pixels, to let the texture fade on long paths (None: full everywhere).
    """
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    if length < 1e-3:
        return
    a = axis / length
    hb, hs, hh = half_widths
    cap = shape.base_cap * hb if shape is not None else 0.0
    start = p0 - a * (lip + cap)
    sl = _bbox(np.stack([start, p1]), max(hb, hh) + 2, img.shape)
    if sl is None:
        return
    xs, ys = _grid(sl)
    dx, dy = xs - p0[0], ys - p0[1]
    u = (dx * a[0] + dy * a[1]) / length  # 0 at the base, 1 at the head
    v2 = (dx * a[1] - dy * a[0]) ** 2
    if shape is None:
        base_w = np.clip(1 - (u + lip / length) / 0.24, 0, 1) ** 2
        head_w = np.clip(1 - (1 - u) / 0.24, 0, 1) ** 2
        h = hs + (hb - hs) * base_w + (hh - hs) * head_w
        c = cortex * (1 - 0.65 * np.maximum(base_w, head_w)) * (1 - 0.35 * osteopenia)
    else:
        from_base = (u * length + lip) / hb  # in base half-widths
        from_tip = (1 - u) * length / hh  # in head half-widths
        base_w = _smoothstep(1 - (from_base - 0.3) / shape.base_reach)  # full width at the joint surface
        head_w = _smoothstep(1 - (from_tip - 1.0) / shape.head_reach)  # full width at the head's centre
        neck = shape.neck * hs * np.exp(-(((from_tip - shape.neck_at) / 0.45) ** 2))
        h = hs + (hb - hs) * base_w + (hh - hs) * head_w - neck
        ends = np.maximum(base_w, head_w)
        c = cortex * (shape.end_cortex + (1 - shape.end_cortex) * (1 - ends)) * (1 - 0.35 * osteopenia)
        if head is None and socket is None and lip == 0.0:  # a free end: a rounded tip
            head = (p1 - a * hh, hh)
    outer = _chord(h, v2)
    inner = _chord(np.maximum(h - c, 0), v2)
    ends = np.maximum(base_w, head_w)
    medulla = MU_MEDULLA * (SHAFT_MARROW + (1 - SHAFT_MARROW) * ends) * (1 - osteopenia * (0.25 + 0.35 * ends))
    oriented = _along_bone(texture, p0, a, xs, ys) if texture is not None else None
    tex = _trabecular(inner, oriented, sl, texture_depth)
    density = MU_CORTEX * (outer - inner) + medulla * inner * tex
    # ends: soft 1-px transitions
    dome = cap * np.sqrt(np.clip(1 - v2 / (hb * hb), 0, 1)) if cap else 0.0  # a convex base, else a flat one
    inside = np.clip((u * length + lip + dome) + 0.5, 0, 1) * np.clip((1 - u) * length + 0.5, 0, 1)
    if head is not None:
        (cx, cy), r = head
        dist = np.hypot(xs - cx, ys - cy)
        beyond = ((xs - cx) * a[0] + (ys - cy) * a[1]) > 0
        inside = inside * np.where(beyond, np.clip(r - dist + 0.5, 0, 1), 1.0)
        density = density + np.where(beyond & (dist > r - plate), MU_CORTEX * 0.8 * np.sqrt(np.clip(h * h - v2, 0, None)) * 0.35, 0)
    if socket is not None:
        (cx, cy), r = socket
        dist = np.hypot(xs - cx, ys - cy)
        inside = inside * np.clip(dist - r + 0.5, 0, 1)
        density = density + np.where(dist < r + plate, MU_CORTEX * 0.8 * np.sqrt(np.clip(h * h - v2, 0, None)) * 0.35, 0)
    density = density * inside
    if bites:
        density = _apply_bites(density, xs, ys, bites)
    img[sl] += density.astype(img.dtype)


def draw_ellipsoid(
    img: np.ndarray,
    centre: np.ndarray,
    axes: tuple[float, float],
    angle_deg: float,
    depth: float,
    cortex: float,
    texture: np.ndarray | None = None,
    bites: list[Bite] | None = None,
    osteopenia: float = 0.0,
    mu_cortex: float = MU_CORTEX,
    mu_medulla: float = MU_MEDULLA,
    texture_depth: float | None = None,
) -> None:
    """Add a flattened ellipsoid (a carpal, a fusion mass) with a cortical shell; sizes in pixels."""
    ax, ay = axes
    sl = _bbox(centre[None], max(ax, ay) + 2, img.shape)
    if sl is None:
        return
    xs, ys = _grid(sl)
    t = np.deg2rad(angle_deg)
    dx, dy = xs - centre[0], ys - centre[1]
    x = dx * np.cos(t) + dy * np.sin(t)
    y = -dx * np.sin(t) + dy * np.cos(t)
    r2 = (x / ax) ** 2 + (y / ay) ** 2
    shrink = max(1 - cortex / min(ax, ay), 0.05)
    outer = depth * np.sqrt(np.clip(1 - r2, 0, None))
    inner = depth * shrink * np.sqrt(np.clip(1 - r2 / shrink**2, 0, None))
    tex = _trabecular(inner, texture, sl, texture_depth)
    density = mu_cortex * (outer - inner) + mu_medulla * (1 - 0.45 * osteopenia) * inner * tex
    if bites:
        density = _apply_bites(density, xs, ys, bites)
    img[sl] += density.astype(img.dtype)


def draw_capsule_thickness(out: np.ndarray, p0, p1, r0: float, r1: float, half_depth: float | None = None) -> None:
    """Soft tissue: keep the larger path length through a tapered finger from ``p0`` to ``p1``.

    A finger's cross-section is flatter than a circle (it lies on the film and is wider than deep), so the
    path keeps most of its depth across the width and falls off over the rim: ``2 r sqrt(1 - (d / r)^4)``.
    With ``half_depth`` the cross-section is an ellipse that deep instead, as a forearm's (wider than deep,
    and thickest along its middle): ``2 half_depth sqrt(1 - (d / r)^2)``.

    Example:
        >>> out = np.zeros((40, 100), np.float32)
        >>> draw_capsule_thickness(out, np.array([10.0, 20]), np.array([90.0, 20]), 15, 15, half_depth=10)
        >>> round(float(out[20, 50]), 1), bool(out[10, 50] < out[20, 50])
        (20.0, True)
    """
    axis = p1 - p0
    length = float(np.linalg.norm(axis)) + 1e-6
    a = axis / length
    sl = _bbox(np.stack([p0, p1]), max(r0, r1) + 2, out.shape)
    if sl is None:
        return
    xs, ys = _grid(sl)
    dx, dy = xs - p0[0], ys - p0[1]
    u = np.clip((dx * a[0] + dy * a[1]) / length, 0, 1)
    r = r0 + (r1 - r0) * u
    px, py = dx - u * length * a[0], dy - u * length * a[1]
    d2 = (px * px + py * py) / (r * r)
    if half_depth is None:
        t = 2 * r * np.sqrt(np.clip(1 - d2 * d2, 0, None))
    else:
        t = 2 * half_depth * np.sqrt(np.clip(1 - d2, 0, None))
    np.maximum(out[sl], t.astype(out.dtype), out=out[sl])


def smooth(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """A Gaussian blur; wide ones on a shrunken copy (the result is smooth anyway), which is many times faster.

    Example:
        >>> img = np.zeros((400, 400), np.float32); img[150:250, 150:250] = 1
        >>> exact = cv2.GaussianBlur(img, (0, 0), 40)
        >>> bool(np.abs(smooth(img, 40) - exact).max() < 0.02 * exact.max())
        True
    """
    if sigma_px < 8:
        return cv2.GaussianBlur(img, (0, 0), sigma_px)
    factor = sigma_px / 4
    h, w = img.shape
    small = cv2.resize(img, (max(int(w / factor), 1), max(int(h / factor), 1)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma_px * small.shape[1] / w)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def band_noise(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise with a blob size of about ``sigma_px`` (wide blobs are made
    on a coarser grid and enlarged, which is many times faster and looks the same).

    Example:
        >>> noise = band_noise((300, 200), 20.0, np.random.default_rng(0))
        >>> noise.shape, round(float(noise.std()), 2)
        ((300, 200), 1.0)
    """
    if sigma_px >= 3:
        factor = sigma_px / 2
        small = (max(int(shape[0] / factor), 2), max(int(shape[1] / factor), 2))
        noise = cv2.resize(band_noise(small, 2.0, rng), (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
        return noise / (float(noise.std()) or 1.0)
    noise = rng.standard_normal(shape, dtype=np.float32)
    if sigma_px >= 0.5:
        noise = cv2.GaussianBlur(noise, (0, 0), sigma_px)
    std = float(noise.std()) or 1.0
    return noise / std


def trabecular_texture(shape: tuple[int, int], spacing_mm: float, rng: np.random.Generator,
                       grain_mm: float = 0.22, contrast: float = 0.45) -> np.ndarray:  # fmt: skip
    """A film-wide field around 1 that modulates cancellous bone: a network of thin bright struts (the
    trabeculae, along the zero lines of noise with blobs of ``grain_mm``) around darker marrow spaces, with
    a coarser variation of density on top; where a pixel is larger than a grain, the struts average out
    within it and the field is weaker.

    Example:
        >>> field = trabecular_texture((64, 64), 0.1, np.random.default_rng(0))
        >>> bool(0.9 < field.mean() < 1.1)
        True
    """
    averaged = min(1.0, 2 * grain_mm / spacing_mm)
    struts = np.exp(-4 * band_noise(shape, grain_mm / spacing_mm, rng) ** 2)  # bright near the zero lines
    struts = struts + 0.5 * band_noise(shape, 4 * grain_mm / spacing_mm, rng) * float(struts.std())
    return 1 + contrast * averaged * (struts - struts.mean()) / (struts.std() or 1.0)


@dataclass
class Acquisition:
    """How a film was taken and processed."""

    photons_per_mm2: float = 200000.0  # at the detector; films sample 1.5e4-1.5e5, the real films' noise at 0.3 mm
    blur_mm: float = 0.15
    contrast: float = 0.9
    scatter: float = 0.0  # scattered radiation reaching the detector, as a share of the blurred absorbed fluence
    window: float = 98.5  # percentile of the body's processed values shown as white (brighter ones clip)
    gamma: float = 1.0
    edge_enhance: float = 0.4
    latitude: float = 0.5  # share of the large-scale density taken out (dynamic range compression)
    background: float = 0.08
    background_tilt: float = 0.05
    bits: int = 12
    inverted: bool = False  # MONOCHROME1 look
    collimation_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # left, top, right, bottom

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Acquisition":
        collimated = rng.random() < 0.6
        return cls(
            photons_per_mm2=float(np.exp(rng.uniform(np.log(1.5e4), np.log(1.5e5)))),
            blur_mm=float(rng.uniform(0.05, 0.2)),
            contrast=float(rng.uniform(0.7, 1.25)),
            window=float(rng.uniform(96.5, 99.7)),
            scatter=float(rng.uniform(0.02, 0.08)),
            gamma=float(rng.uniform(0.8, 1.25)),
            edge_enhance=float(rng.uniform(0.0, 1.0)),
            latitude=float(rng.uniform(0.3, 0.7)),
            background=float(rng.uniform(0.04, 0.2)),
            background_tilt=float(rng.uniform(0.0, 0.1)),
            bits=int(rng.choice([12, 14, 16], p=[0.45, 0.2, 0.35])),
            inverted=bool(rng.random() < 0.08),
            collimation_mm=tuple(float(x) for x in (rng.uniform(2, 18, 4) if collimated else np.zeros(4))),
        )


def expose(
    attenuation: np.ndarray, spacing_mm: float, acq: Acquisition, rng: np.random.Generator
) -> np.ndarray:
    """Turn log attenuation into a processed film with values in 0-1 (bone bright)."""
    n0 = acq.photons_per_mm2 * spacing_mm**2
    transmitted = np.exp(-attenuation)
    if acq.scatter > 0:  # scatter: a wide fog from where the beam was absorbed, lowering contrast behind thick parts
        transmitted = transmitted + acq.scatter * smooth(1 - transmitted, SCATTER_MM / spacing_mm)
        attenuation = -np.log(transmitted)
    noisy = attenuation + rng.standard_normal(attenuation.shape, dtype=np.float32) / np.sqrt(n0 * transmitted)
    noisy = np.clip(noisy, 0, None)
    blur_px = acq.blur_mm / spacing_mm
    if blur_px >= 0.3:
        noisy = cv2.GaussianBlur(noisy, (0, 0), blur_px)
    # digital radiography's processing: compress the large-scale density (so forearm and fingers share
    # the grey scale), sharpen the detail, and window the result so that the body fills the scale
    detail = noisy - acq.latitude * smooth(noisy, LATITUDE_MM / spacing_mm)
    if acq.edge_enhance > 0:
        detail = detail + acq.edge_enhance * (noisy - smooth(noisy, 1.5 / spacing_mm))
    body = noisy > 0.2
    top = float(np.percentile(detail[body], acq.window)) if body.sum() > 100 else float(detail.max()) or 1.0
    steep = 1.4 * acq.contrast
    film = (1 - np.exp(-steep * np.clip(detail / top, 0, None))) / (1 - np.exp(-steep))  # a film-like shoulder
    h, w = film.shape
    ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * rng.choice([-1, 1]) + np.linspace(
        -1, 1, h, dtype=np.float32
    )[:, None] * rng.uniform(-1, 1)
    film = acq.background * (1 + acq.background_tilt * ramp) + (1 - acq.background) * np.clip(film, 0, None)
    film = np.clip(film, 0, 1) ** acq.gamma
    left, top, right, bottom = (int(round(c / spacing_mm)) for c in acq.collimation_mm)
    film[:top, :] = 0
    film[h - bottom :, :] = 0
    film[:, :left] = 0
    film[:, w - right :] = 0
    return film.astype(np.float32)


def grid_lines(film: np.ndarray, rng: np.random.Generator) -> None:
    """An anti-scatter grid's lines as the detector samples them: a faint aliased stripe pattern along one
    axis (a period of a few pixels), darkening the exposed film in place."""
    h, w = film.shape
    period = rng.uniform(2.2, 6.0)
    amplitude = rng.uniform(0.006, 0.02)
    vertical = rng.random() < 0.5
    phase = np.cos(2 * np.pi * np.arange(w if vertical else h, dtype=np.float32) / period + rng.uniform(0, 2 * np.pi))
    stripes = phase[None, :] if vertical else phase[:, None]
    film -= amplitude * (1 + stripes) * (film > 0)


#: what modalities burn into a film's corners
_BURNED_IN = ("R PA", "L+R HANDS", "PA", "HANDS AP", "STANDING", "ERECT", "DR", "FCR", "kV 50 mAs 2.5", "1:1")


def burn_in_text(film: np.ndarray, spacing_mm: float, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """One to three lines of overlay text (a view label, a date, an exposure) burned into the film's corners;
    returns each line's box ``(x0, y0, x1, y1)`` in pixels (end exclusive, clipped to the film)."""
    h, w = film.shape
    height_px = rng.uniform(3.5, 7.0) / spacing_mm
    scale = height_px / 22.0
    thickness = max(1, int(round(height_px / 10)))
    text = np.zeros((h, w), np.uint8)
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        words = str(rng.choice(_BURNED_IN)) if rng.random() < 0.6 else f"{rng.integers(1995, 2024)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
        (tw, th), baseline = cv2.getTextSize(words, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        x = int(rng.uniform(0.02, 0.06) * w) if rng.random() < 0.5 else int(w - tw - rng.uniform(0.02, 0.06) * w)
        y = int(rng.uniform(0.03, 0.1) * h + th) if rng.random() < 0.5 else int(h - rng.uniform(0.03, 0.1) * h)
        cv2.putText(text, words, (max(x, 0), y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
        boxes.append(_clipped((max(x, 0) - thickness, y - th - thickness, max(x, 0) + tw + thickness, y + baseline + thickness), (h, w)))
    alpha = text.astype(np.float32) / 255
    film[:] = film * (1 - alpha) + rng.uniform(0.85, 1.0) * alpha
    return boxes


def _clipped(box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A box ``(x0, y0, x1, y1)`` (end exclusive) clipped to an image of ``shape``."""
    h, w = shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


def jpeg(film: np.ndarray, quality: int) -> np.ndarray:
    """The film after an 8-bit JPEG round trip at ``quality``, as archives and exports store many films.

    Example:
        >>> film = np.random.default_rng(0).random((32, 32)).astype(np.float32)
        >>> bool(np.abs(jpeg(film, 95) - film).mean() < np.abs(jpeg(film, 20) - film).mean())
        True
    """
    ok, data = cv2.imencode(".jpg", np.round(np.clip(film, 0, 1) * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255


def quantise(film: np.ndarray, bits: int, inverted: bool) -> np.ndarray:
    """Store a 0-1 film as ``bits``-deep integers in uint16; inverted films are MONOCHROME1."""
    top = 2**bits - 1
    values = np.round(np.clip(film, 0, 1) * top).astype(np.uint16)
    return (top - values).astype(np.uint16) if inverted else values


def draw_marker(img: np.ndarray, letter: str, centre: tuple[int, int], height_px: float, circled: bool) -> tuple[int, int, int, int]:
    """Burn a lead marker letter (optionally on a bright disc with a ring) into a 0-1 film; returns the box
    ``(x0, y0, x1, y1)`` it covers (pixels, end exclusive, clipped to the film)."""
    scale = height_px / 22.0
    thickness = max(1, int(round(height_px / 9)))
    (tw, th), baseline = cv2.getTextSize(letter, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    org = (int(centre[0] - tw / 2), int(centre[1] + th / 2))
    box = (org[0] - thickness, org[1] - th - thickness, org[0] + tw + thickness, org[1] + baseline + thickness)
    text = np.zeros(img.shape, np.uint8)  # OpenCV draws text on 8-bit images only
    cv2.putText(text, letter, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
    alpha = text.astype(np.float32) / 255
    if circled:
        radius = int(height_px * 0.95)
        disc = np.zeros(img.shape, np.uint8)
        cv2.circle(disc, centre, radius, 255, -1, cv2.LINE_AA)
        d = disc.astype(np.float32) / 255
        img[:] = img * (1 - d) + 0.95 * d
        img[:] = img * (1 - alpha) + 0.15 * alpha
        box = (centre[0] - radius - 1, centre[1] - radius - 1, centre[0] + radius + 2, centre[1] + radius + 2)
    else:
        img[:] = img * (1 - alpha) + 0.98 * alpha
    return _clipped(box, img.shape)


def _inside_ellipse(gx, gy, centre, axes: tuple[float, float], angle_deg: float) -> np.ndarray:
    """About how far each pixel lies inside an ellipse (negative outside), in pixels."""
    t = np.deg2rad(angle_deg)
    dx, dy = gx - centre[0], gy - centre[1]
    u, v = dx * np.cos(t) + dy * np.sin(t), -dx * np.sin(t) + dy * np.cos(t)
    q = np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2)
    return (1 - q) * min(axes)


def draw_carpus(
    img: np.ndarray,
    centres: np.ndarray,
    radii: np.ndarray,
    outline: np.ndarray,
    depth: float,
    cortex: float,
    gap: float,
    fused: set[tuple[int, int]] = frozenset(),
    texture: np.ndarray | None = None,
    bites: list[Bite] | None = None,
    osteopenia: float = 0.0,
    rng: np.random.Generator | None = None,
    texture_depth: float | None = None,
    ellipses: list[tuple[tuple[float, float], float]] | None = None,
    free: np.ndarray | None = None,
) -> None:
    """Add the carpal bones as a tight mosaic: the carpus ``outline`` (a mask the size of ``img``) cut into
    one cell per bone by a power diagram of ``centres`` weighted by ``radii``, every cell shrunk by half the
    joint ``gap`` and drawn as a solid ``depth`` thick with rounded edges and a cortical shell (sizes in
    pixels). Pairs in ``fused`` (indices) are drawn as one bone, without the joint line between them. With
    ``rng`` the joint lines curve, as real ones do, instead of running straight, and vary in width from pair
    to pair (some bones overlap). ``ellipses`` (semi-axes and angle per bone, pixels and degrees) bound each
    bone as well, so that the carpus' outer outline follows the bones rather than their hull, except inside
    ``free`` (a mask the size of ``img``: where the bones reach down to the radius' articular surface).

    Example:
        >>> img = np.zeros((80, 80), np.float32)
        >>> outline = np.zeros((80, 80), bool); outline[20:60, 10:70] = True
        >>> draw_carpus(img, np.array([[25.0, 40], [55, 40]]), np.array([12.0, 12]), outline, 20, 2, 3)
        >>> bool(img[40, 25] > img[40, 40] == 0)
        True
    """
    ys, xs = np.nonzero(outline)
    if len(ys) == 0:
        return
    sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    gx, gy = _grid(sl)
    inside = outline[sl]
    edge = cv2.distanceTransform(np.pad(inside.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    power = np.stack([(gx - cx) ** 2 + (gy - cy) ** 2 - r * r for (cx, cy), r in zip(centres, radii)])
    if rng is not None:  # bend the joint lines: a smooth random field per bone, a few pixels' worth
        scale = float(np.mean(radii))
        power += np.stack([band_noise(gx.shape, scale * 0.6, rng) * scale * scale * 0.2 for _ in centres])
    # each bone reaches to its bisector with every neighbour, less half that joint's line; the lines vary
    # from pair to pair and some are negative: there the two bones overlap in projection, as real carpals do
    pairs = {}
    for i in range(len(centres)):
        for j in range(i + 1, len(centres)):
            width = gap * (rng.uniform(-1.0, 0.8) if rng is not None else 1.0)
            pairs[(i, j)] = pairs[(j, i)] = width
    free_depth = None if free is None else np.where(free[sl], np.inf, -np.inf)  # inside: no ellipse bound
    groups = {i: {i} for i in range(len(centres))}  # an ankylosed pair is one bone
    for i, j in fused:
        merged = groups[i] | groups[j]
        for k in merged:
            groups[k] = merged
    density = np.zeros(gx.shape, np.float32)
    for members in {frozenset(g) for g in groups.values()}:
        reach = np.full(gx.shape, -np.inf, np.float32)
        for i in members:
            mine = np.full(gx.shape, np.inf, np.float32)
            for j in set(range(len(centres))) - members:
                span = float(np.linalg.norm(centres[i] - centres[j])) or 1e-6
                mine = np.minimum(mine, (power[j] - power[i]) / (2 * span) - pairs[(i, j)] / 2)
            reach = np.maximum(reach, mine)
        d = np.minimum(reach, edge)  # distance to this bone's own surface, in pixels
        if ellipses is not None:
            own = np.max([_inside_ellipse(gx, gy, centres[i], *ellipses[i]) for i in members], axis=0)
            d = np.minimum(d, own if free_depth is None else np.maximum(own, free_depth))
        size = float(np.mean([radii[i] for i in members]))
        rounding = size  # domed: thickest in the middle, thin at the rim

        def solid(dist, thick, rounding=rounding):
            return thick * np.sqrt(np.clip(1 - (1 - np.clip(dist / rounding, 0, 1)) ** 2, 0, 1))

        outer = solid(d, depth)
        inner = solid(d - cortex, depth - 2 * cortex)
        tex = _trabecular(inner, texture, sl, texture_depth)
        bone = MU_CORTEX * (1 - 0.35 * osteopenia) * (outer - inner) + MU_MEDULLA * (1 - 0.45 * osteopenia) * inner * tex
        density += np.where(inside & (d > 0), bone, 0.0).astype(np.float32)
    if bites:
        density = _apply_bites(density, gx, gy, bites)
    img[sl] += density.astype(img.dtype)
