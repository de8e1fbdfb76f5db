"""Every film of a folder located: its landmarks, which hands were found, and the Scheme 2 patches they
give, for films that come without any labels (e.g. real films to judge by eye).

A film's spacing is unknown, so the patches are sized by the MIL paper's 50 mm wrist-width rule
(:func:`ralib.geometry.wrist_width_spacing`); a hand whose presence is below ``threshold`` gets no
landmarks (NaN) and no patches. A hand found whose landmarks are not a hand's geometry (a film turned sideways,
an image of something else: :mod:`ralib.landmarks.plausibility`) keeps its landmarks but is flagged, with the
reasons, and gets no patches.

Example:
    >>> located = locate_films(Localiser.load("runs/cpu/05_joint_localisation/localiser.pt"), "my_films/")  # doctest: +SKIP
    >>> [(f.name, f.hands_found) for f in located]                                                          # doctest: +SKIP
    [('DX1.jpg', ('left-hand pose', 'right-hand pose'))]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ralib import geometry
from ralib.data.io import ImageReadError, read_film
from ralib.landmarks.plausibility import implausible
from ralib.landmarks.points import K

#: what :func:`film_paths` takes for a film, besides files without a suffix (DICOM is often stored so)
FILM_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom")
POSES = ("left-hand pose", "right-hand pose")


@dataclass
class LocatedFilm:
    """One film with its 74 landmarks (film pixels; NaN for a hand not found), the two hands' presence, the
    patch squares of the plausible hands found and why each implausible one is flagged (``flags``, by pose)."""

    name: str
    image: np.ndarray = field(repr=False)
    xy: np.ndarray = field(repr=False)
    presence: np.ndarray
    frames: list = field(default_factory=list, repr=False)
    flags: dict[str, list[str]] = field(default_factory=dict)

    @property
    def hands_found(self) -> tuple[str, ...]:
        return tuple(pose for pose, found in zip(POSES, np.isfinite(self.xy[::K, 0])) if found)


def film_paths(folder: str | Path) -> list[Path]:
    """The films (PNG, JPEG, TIFF, DICOM, and files without a suffix) of ``folder``, sorted by name; an error for
    a folder that is missing or holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    paths = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in (*FILM_SUFFIXES, ""))  # fmt: skip
    if not paths:
        raise ValueError(f"{folder} holds no film ({', '.join(FILM_SUFFIXES)})")
    return paths


def locate_film(localiser, image: np.ndarray, name: str = "film", threshold: float = 0.5) -> LocatedFilm:
    """One film (bone bright, 0-1) located by ``localiser`` (:meth:`~ralib.landmarks.localiser.Localiser.locate`)."""
    xy, presence = localiser.locate(image)
    xy = np.where(np.repeat(presence >= threshold, K)[:, None], xy, np.nan)
    frames, flags = [], {}
    for b in (0, 1):
        hand = xy[b * K : (b + 1) * K]
        if reasons := implausible(hand):
            flags[POSES[b]] = reasons
        elif np.isfinite(hand).all():
            frames += list(geometry.patch_frames(hand, geometry.wrist_width_spacing(hand)).values())
    return LocatedFilm(name, image, xy, np.asarray(presence, float), frames, flags)


def locate_films(localiser, folder: str | Path, threshold: float = 0.5) -> list[LocatedFilm]:
    """Every film of ``folder`` (:func:`film_paths`) located (:func:`locate_film`). A file that cannot be read as
    a film is left out with a printed line saying why, and the others are still located; an error when none can be."""
    located, unread = [], []
    for path in film_paths(folder):
        try:
            image = read_film(path)
        except (ImageReadError, OSError, ValueError) as error:
            unread.append(f"{path.name}: {error}")
            continue
        located.append(locate_film(localiser, image, path.name, threshold))
    for line in unread:
        print(f"left out, not readable as a film: {line}")
    for film in located:
        for pose, reasons in film.flags.items():
            print(f"flagged, not a hand's geometry: {film.name}, {pose}: {'; '.join(reasons)}")
    if not located:
        raise ValueError(f"{folder}: no film could be read ({'; '.join(unread)})")
    return located
