"""Joint geometry from landmarks: where each joint crop lies on a film, turned to a standard pose, at a
fixed physical size, and the warp that cuts it out.

A :class:`Frame` is a square on the film: its centre (px), the direction pointing distally along the
bone through the joint (fingers up once cut out), its side in mm and whether the hand is mirrored so
that every crop shows a left hand seen posteroanteriorly (thumb on the crop's right). Crops of both
hands, flipped films and RAM-H1200's hand-agnostic crops then look alike to a model.

Three crop recipes, each a set of squares per hand:

* ``patches``: the 25 Scheme 2 patches of the MIL paper (:data:`ralib.anatomy.PATCHES`);
* ``boxes``: the 21 scored joints of the joint-level data sets (:data:`ralib.anatomy.JOINT_NAMES`);
* ``ramh1200``: the 22 per-joint crops of the RAM-H1200 benchmark, one per SvdH joint.

Sizes (mm, :data:`PATCH_MM`, :data:`BOX_MM`) are the joint's breadth with its soft tissue, plus 4 mm on
each side so that a landmark 4 mm off (the localiser's SDR threshold) still leaves the joint inside: DIP
joints are 12-15 mm across, PIP and the thumb IP 15-18 mm, MCP 18-24 mm (ANATOMY.md's adult sizes),
the carpal patches hold two neighbouring bones, the radiocarpal patch the radius' articular surface.

Example:
    >>> from ralib import anatomy
    >>> frames = patch_frames(anatomy.template_landmarks("LH") / 0.2, spacing_mm=0.2)
    >>> len(frames), frames["pip3"].side_mm, frames["pip3"].mirrored
    (25, 24.0, False)
    >>> np.round(frames["pip3"].up, 2).tolist()   # the middle finger points up the film
    [-0.02, -1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ralib import anatomy

_INDEX = {name: i for i, name in enumerate(anatomy.LANDMARKS)}

#: side of each Scheme 2 patch, mm (see the module docstring for why)
PATCH_MM: dict[str, float] = {
    "ip": 24.0, **{f"dip{f}": 20.0 for f in (2, 3, 4, 5)}, **{f"pip{f}": 24.0 for f in (2, 3, 4, 5)},
    **{f"mcp{f}": 28.0 for f in (1, 2, 3, 4, 5)}, **{f"cmc{f}": 28.0 for f in (1, 2, 3, 4, 5)},
    "trapezium_scaphoid": 28.0, "capitate_lunate": 28.0, "scaphoid": 24.0, "lunate": 24.0,
    "radiocarpal": 40.0, "ulnar_styloid": 24.0,
}  # fmt: skip

#: side of each of the 21 joint boxes, mm ("wrist" holds the whole carpus, "ulna" the ulnar head and styloid)
BOX_MM: dict[str, float] = {
    "ip": 24.0, **{f"dip{f}": 20.0 for f in (2, 3, 4, 5)}, **{f"pip{f}": 24.0 for f in (2, 3, 4, 5)},
    **{f"mcp{f}": 28.0 for f in (1, 2, 3, 4, 5)}, "cmc1": 28.0, **{f"cmc{f}": 28.0 for f in (3, 4, 5)},
    "wrist": 44.0, "ulna": 28.0, "radiocarpal": 40.0,
}  # fmt: skip

#: side of each RAM-H1200 joint crop, mm (the benchmark's joints: one SvdH erosion and / or JSN site each)
RAMH1200_MM: dict[str, float] = {
    "R": 28.0, "U": 24.0, "L": 22.0, "S": 24.0, "Tm": 22.0, "CMC-T": 26.0, "IP": 24.0,
    **{f"MCP-{c}": 28.0 for c in "TIMRS"}, **{f"PIP-{c}": 24.0 for c in "IMRS"}, **{f"CMC-{c}": 26.0 for c in "MRS"},
    "SC": 28.0, "SR": 32.0, "STT": 28.0,
}  # fmt: skip

#: the bone axis through each landmark: (proximal neighbour, distal neighbour); carpal and forearm
#: points take the hand's axis (forearm to middle metacarpal base)
_CHAINS = [[f"mcb{f}", f"mcp{f}", f"pip{f}", f"dip{f}", f"tip{f}"] for f in (2, 3, 4, 5)] + [["cmc1", "mcp1", "ip1", "tip1"]]
_AXIS: dict[str, tuple[str, str]] = {
    name: (chain[max(i - 1, 0)], chain[min(i + 1, len(chain) - 1)]) for chain in _CHAINS for i, name in enumerate(chain)
}


@dataclass(frozen=True)
class Frame:
    """A square crop on a film: ``centre`` (x, y px), ``up`` (unit vector, distal direction), side in mm
    and pixels, and whether it is mirrored to look like a left hand."""

    centre: np.ndarray
    up: np.ndarray
    side_mm: float
    side_px: float
    mirrored: bool

    def corners(self) -> np.ndarray:
        """The square's four corners on the film (px), clockwise from the distal-left one as drawn."""
        right = _right_of(self.up, self.mirrored)
        h = self.side_px / 2
        return np.array([self.centre + h * (s * right + t * self.up) for s, t in ((-1, 1), (1, 1), (1, -1), (-1, -1))])

    def contains(self, xy: np.ndarray) -> bool:
        """Whether the film point ``xy`` lies inside the square."""
        d = np.asarray(xy, float) - self.centre
        right = _right_of(self.up, self.mirrored)
        return bool(abs(d @ right) <= self.side_px / 2 and abs(d @ self.up) <= self.side_px / 2)

    def box(self) -> np.ndarray:
        """The axis-aligned box around the square on the film: x0, y0, x1, y1 (px)."""
        c = self.corners()
        return np.concatenate([c.min(0), c.max(0)])


def _right_of(up: np.ndarray, mirrored: bool) -> np.ndarray:
    """The crop's x axis on the film: ``up`` turned 90 degrees clockwise as seen, or the other way when
    the hand is mirrored."""
    right = np.array([-up[1], up[0]])
    return -right if mirrored else right


def hand_axis(landmarks: np.ndarray) -> np.ndarray:
    """Unit vector from the distal radius to the middle metacarpal base: the hand's long axis."""
    v = landmarks[_INDEX["mcb3"]] - landmarks[_INDEX["radius_center"]]
    return v / max(np.linalg.norm(v), 1e-9)


def is_right_hand_pose(landmarks: np.ndarray) -> bool:
    """Whether a hand looks like a right hand seen posteroanteriorly (its thumb left of its axis with the
    fingers up): true for a right hand on an unflipped film and for a left hand on a flipped one."""
    up = hand_axis(landmarks)
    thumb = landmarks[_INDEX["mcp1"]] - landmarks[_INDEX["mcb3"]]
    return bool(thumb @ np.array([-up[1], up[0]]) < 0)


def _frames(landmarks: np.ndarray, groups: dict[str, tuple[str, ...]], sizes: dict[str, float], spacing_mm: float) -> dict[str, Frame]:
    landmarks = np.asarray(landmarks, float)
    if landmarks.shape != (len(anatomy.LANDMARKS), 2):
        raise ValueError(f"landmarks must be ({len(anatomy.LANDMARKS)}, 2), not {landmarks.shape}")
    if not spacing_mm > 0:
        raise ValueError(f"spacing_mm must be positive, not {spacing_mm}")
    centres = anatomy.centres_from_landmarks(landmarks, groups)
    mirrored = is_right_hand_pose(landmarks)
    axis = hand_axis(landmarks)
    frames = {}
    for name, members in groups.items():
        if len(members) == 1 and members[0] in _AXIS:
            a, b = _AXIS[members[0]]
            v = landmarks[_INDEX[b]] - landmarks[_INDEX[a]]
            up = v / max(np.linalg.norm(v), 1e-9)
        else:
            up = axis
        frames[name] = Frame(centres[name], up, sizes[name], sizes[name] / spacing_mm, mirrored)
    return frames


def patch_frames(landmarks: np.ndarray, spacing_mm: float) -> dict[str, Frame]:
    """The 25 Scheme 2 patches of one hand from its 37 landmarks (px) and the film's mm per pixel."""
    return _frames(landmarks, anatomy.PATCHES, PATCH_MM, spacing_mm)


def box_frames(landmarks: np.ndarray, spacing_mm: float) -> dict[str, Frame]:
    """The 21 joint boxes of one hand as crops turned to the standard pose."""
    return _frames(landmarks, anatomy.JOINT_CENTRES, BOX_MM, spacing_mm)


def ramh1200_frames(landmarks: np.ndarray, spacing_mm: float) -> dict[str, Frame]:
    """The 22 per-joint crops of the RAM-H1200 benchmark's layout (:data:`ralib.anatomy.RAMH1200_JOINTS`)."""
    groups = {code: members for code, (members, _) in anatomy.RAMH1200_JOINTS.items()}
    return _frames(landmarks, groups, RAMH1200_MM, spacing_mm)


#: crop recipes by name: how to place the squares of one hand
RECIPES = {"patches": patch_frames, "boxes": box_frames, "ramh1200": ramh1200_frames}


def cut(film: np.ndarray, frame: Frame, size: int, fill: float = 0.0) -> np.ndarray:
    """The square of ``frame`` cut from ``film`` and resampled to ``size`` x ``size`` pixels: distal up,
    a left hand's thumb side on the right; outside the film filled with ``fill``.

    Example:
        >>> film = np.zeros((100, 100), np.float32); film[40:50, 60:70] = 1
        >>> f = Frame(np.array([64.5, 44.5]), np.array([0.0, -1.0]), 10.0, 10.0, False)
        >>> float(cut(film, f, 10).mean())
        1.0
    """
    film = np.asarray(film, np.float32)
    scale = frame.side_px / size
    if scale > 1.5:  # warpAffine has no area filter: blur the square's surroundings to the output's scale first
        corners = frame.corners()
        margin = int(np.ceil(3 * scale)) + 2
        x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - margin, 0)
        x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + margin + 1, film.shape[::-1])
        if x1 <= x0 or y1 <= y0:  # the square lies off the film
            return np.full((size, size), fill, np.float32)
        region = cv2.GaussianBlur(np.ascontiguousarray(film[y0:y1, x0:x1]), (0, 0), 0.5 * scale)
        shifted = Frame(frame.centre - [x0, y0], frame.up, frame.side_mm, frame.side_px, frame.mirrored)
        return _warp(region, shifted, size, fill)
    return _warp(film, frame, size, fill)


def _warp(film: np.ndarray, frame: Frame, size: int, fill: float) -> np.ndarray:
    return cv2.warpAffine(film, Placement.from_frame(frame, size).matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=float(fill))  # fmt: skip


def to_crop(frame: Frame, size: int, xy: np.ndarray) -> np.ndarray:
    """Film points ``xy`` (n, 2) in the pixel coordinates of the crop :func:`cut` makes."""
    right = _right_of(frame.up, frame.mirrored)
    d = np.atleast_2d(np.asarray(xy, float)) - frame.centre
    scale = frame.side_px / size
    return np.stack([d @ right, d @ -frame.up], axis=1) / scale + (size - 1) / 2


def from_crop(frame: Frame, size: int, uv: np.ndarray) -> np.ndarray:
    """Crop pixel coordinates ``uv`` (n, 2) of a :func:`cut` crop back on the film (the inverse of
    :func:`to_crop`).

    Example:
        >>> f = Frame(np.array([50.0, 40.0]), np.array([0.6, -0.8]), 12.0, 30.0, True)
        >>> np.allclose(from_crop(f, 64, to_crop(f, 64, [[41.0, 33.0]])), [[41.0, 33.0]])
        True
    """
    right = _right_of(frame.up, frame.mirrored)
    uv = np.atleast_2d(np.asarray(uv, float)) - (size - 1) / 2
    scale = frame.side_px / size
    return frame.centre + scale * (uv[:, :1] * right + uv[:, 1:] * -frame.up)


def wrist_width_spacing(landmarks: np.ndarray, wrist_mm: float = 50.0) -> float:
    """The MIL paper's rule for films without a trusted spacing: mm per pixel such that the distance
    between the radial and ulnar styloids is ``wrist_mm``.

    Example:
        >>> from ralib import anatomy
        >>> round(wrist_width_spacing(anatomy.template_landmarks() / 0.25), 3)
        0.25
    """
    d = np.linalg.norm(landmarks[_INDEX["radial_styloid"]] - landmarks[_INDEX["ulnar_styloid"]])
    if not d > 0:
        raise ValueError("the styloids coincide: no wrist width to scale by")
    return float(wrist_mm / d)


#: the columns a table keeps a :class:`Placement` in: its matrix row by row
PLACEMENT_COLUMNS = ("p_xu", "p_xv", "p_x0", "p_yu", "p_yv", "p_y0")


@dataclass(frozen=True)
class Placement:
    """Where a model's input lies on its film: the affine map from input pixel ``(u, v)`` to film pixel
    ``(x, y)`` (``matrix``, 2 x 3; pixel centres at integer coordinates, as OpenCV), which may rotate, mirror,
    scale and shift. Every kind of input has one: a letterboxed film (:meth:`letterbox`), a crop turned to the
    standard pose (:meth:`from_frame`), an axis-aligned box stretched to the input (:meth:`box`: a film, a
    hand, a tile, a region), a part of any of these (:meth:`after`) and a film flipped before any of them
    (:meth:`after_flip`). Tables keep one in :data:`PLACEMENT_COLUMNS` (:meth:`columns`, :meth:`from_columns`). :meth:`paste` puts a map over the input
    back on the film's pixel grid.

    Example:
        >>> p = Placement.letterbox(sx=0.5, sy=0.5, ox=0, oy=10)        # a 40 x 20 film in a 20 x 20 square
        >>> p.to_film([[0.0, 10.0], [19.0, 19.0]]).round(2).tolist()
        [[0.5, 0.5], [38.5, 18.5]]
        >>> heat, covered = p.paste(np.ones((20, 20), np.float32), (20, 40))
        >>> heat.shape, bool(covered.all())
        ((20, 40), True)
    """

    matrix: np.ndarray  # (2, 3): film = matrix[:, :2] @ input + matrix[:, 2]

    @classmethod
    def from_frame(cls, frame: Frame, size: int) -> "Placement":
        """The crop :func:`cut` makes of ``frame`` at ``size`` pixels."""
        right, down = _right_of(frame.up, frame.mirrored), -frame.up
        a = frame.side_px / size * np.stack([right, down], axis=1)  # columns: film step per input step in u and v
        b = frame.centre - a @ np.full(2, (size - 1) / 2)
        return cls(np.hstack([a, b[:, None]]))

    @classmethod
    def letterbox(cls, sx: float, sy: float, ox: float, oy: float) -> "Placement":
        """A film scaled by ``sx``, ``sy`` and shifted by ``ox``, ``oy`` into a square
        (:class:`ralib.data.arrays.Letterboxed`'s placement)."""
        # square = (film + 0.5) * s - 0.5 + o  =>  film = (square + 0.5 - o) / s - 0.5
        return cls(np.array([[1 / sx, 0, (0.5 - ox) / sx - 0.5], [0, 1 / sy, (0.5 - oy) / sy - 0.5]]))

    @classmethod
    def box(cls, x0: float, y0: float, x1: float, y1: float, width: int, height: int | None = None) -> "Placement":
        """The axis-aligned box from film pixel edges ``x0, y0`` to ``x1, y1`` (end exclusive) stretched to an
        input of ``width`` x ``height`` pixels (``height`` None: square): a film or hand resized to a
        square, a Scheme 1 tile, a detected region."""
        sx, sy = (x1 - x0) / width, (y1 - y0) / (height or width)
        return cls(np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5]]))

    def after(self, inner: "Placement") -> "Placement":
        """The placement of an input cut from this one's input (``inner``: its pixels in this input's pixels),
        e.g. the middle of a cached crop resized for a model.

        Example:
            >>> crop = Placement.box(100, 100, 200, 200, 100)          # a 100-px crop at (100, 100)
            >>> middle = crop.after(Placement.box(25, 25, 75, 75, 10))  # its middle half at 10 px
            >>> middle.to_film([[0, 0], [9, 9]]).round(1).tolist()
            [[127.0, 127.0], [172.0, 172.0]]
        """
        outer = np.vstack([self.matrix, [0, 0, 1]])
        return Placement((outer @ np.vstack([inner.matrix, [0, 0, 1]]))[:2])

    @classmethod
    def from_columns(cls, row) -> "Placement":
        """A placement from a table row's :data:`PLACEMENT_COLUMNS`."""
        return cls(np.array([[row[c] for c in PLACEMENT_COLUMNS[:3]], [row[c] for c in PLACEMENT_COLUMNS[3:]]], float))

    def columns(self) -> dict[str, float]:
        """The matrix as :data:`PLACEMENT_COLUMNS`, for a cache's table."""
        return dict(zip(PLACEMENT_COLUMNS, np.asarray(self.matrix, float).ravel().tolist()))

    def after_flip(self, width: int) -> "Placement":
        """This placement on a film that was mirrored left-right (``width`` pixels wide) before it was cut:
        the input's pixels lie on the original film at ``x -> width - 1 - x``."""
        flip = np.array([[-1.0, 0, width - 1], [0, 1, 0], [0, 0, 1]])
        return Placement((flip @ np.vstack([self.matrix, [0, 0, 1]]))[:2])

    def to_film(self, uv) -> np.ndarray:
        """Input pixel coordinates ``(n, 2)`` on the film."""
        uv = np.atleast_2d(np.asarray(uv, float))
        return uv @ self.matrix[:, :2].T + self.matrix[:, 2]

    def paste(self, values: np.ndarray, film_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """A map over the input (h, w) on the film's grid ``film_shape`` (bilinear inside, edges held), and
        where it covers the film (bool, the film pixels whose nearest input pixel exists): zero outside."""
        h, w = film_shape
        inverse = cv2.invertAffineTransform(np.asarray(self.matrix, np.float64))  # film -> input: what warpAffine samples by
        flags = cv2.WARP_INVERSE_MAP
        out = cv2.warpAffine(np.asarray(values, np.float32), inverse, (w, h), flags=cv2.INTER_LINEAR | flags,
                             borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        ones = np.ones(np.shape(values), np.float32)
        covered = cv2.warpAffine(ones, inverse, (w, h), flags=cv2.INTER_NEAREST | flags, borderValue=0.0) > 0
        return np.where(covered, out, 0).astype(np.float32), covered
