"""What a data set is annotated with, and what a step needs: checked when a notebook's setting is made, so
that a notebook that cannot serve a data set refuses in its first cells, saying what is missing and what to do,
instead of failing after its training.

Example:
    >>> ds = RADataset.empty("ra2dream")
    >>> annotations(ds)["landmarks"], annotations(ds)["noise-free truth"]
    (False, False)
    >>> require(ds, ("landmarks",), "notebook 05")
    Traceback (most recent call last):
    ...
    ralib.data.annotations.MissingAnnotations: ra2dream has no landmarks, which notebook 05 needs: ...
"""

from __future__ import annotations

from collections.abc import Iterable

from ralib.data.analysis import image_labels
from ralib.data.model import RADataset

#: what each annotation is and where a data set without it gets it from, for the message
REMEDIES = {
    "image scores": "a film-level label (the total SvdH score, given or summed from the joints' grades): every "
                    "public layout but RSNA bone age has one",
    "landmarks": "a landmark set (SynthRA, or a real set exported with landmarks); for a real layout, train the "
                 "localiser of notebook 05 on SynthRA and give it to notebooks 07-09 as LOCALISER",
    "SvdH site grades": "SvdH grades per joint site (RA2-DREAM's training.csv, SynthRA); ARISE grades joint boxes "
                        "instead and an image table only films",
    "joint grades": "erosion and narrowing grades per joint (ARISE's boxes or SvdH sites: RA2-DREAM, SynthRA)",
    "joint boxes": "joint boxes (ARISE's bboxes.csv, SynthRA)",
    "noise-free truth": "the generator's truth: only SynthRA has it",
}  # fmt: skip


class MissingAnnotations(ValueError):
    """A data set lacks what a step needs; the message names it and what to do."""


def annotations(ds: RADataset) -> dict[str, bool]:
    """Which annotations of :data:`REMEDIES` ``ds`` holds.

    Example:
        >>> sorted(annotations(RADataset.empty("x")))[:3]
        ['SvdH site grades', 'image scores', 'joint boxes']
    """
    r, s = ds.radiographs, ds.scores
    svdh = s[s.scheme == "svdh"] if "scheme" in s else s.iloc[:0]
    graded = svdh.grade.notna().any() if "grade" in svdh else False
    boxes = s[s.scheme == "box"] if "scheme" in s else s.iloc[:0]
    return {
        "image scores": bool(len(r) and image_labels(ds)[0].notna().any()),  # given, or the total of the joint grades
        "landmarks": ds.landmarks is not None and len(ds.landmarks) > 0,
        "SvdH site grades": bool(graded),
        "joint grades": bool(graded) or bool(len(boxes) and boxes.grade.notna().any()),
        "joint boxes": bool("x0" in s and s.x0.notna().any()),
        "noise-free truth": bool("truth_total" in r and r.truth_total.notna().all() and len(r)),
    }


def require(ds: RADataset, needs: Iterable[str], who: str) -> None:
    """An error naming each of ``needs`` that ``ds`` lacks, what it is and what to do; ``who`` needs them."""
    held = annotations(ds)
    missing = [need for need in needs if not held[need]]
    if missing:
        raise MissingAnnotations(f"{ds.name} has no {' and no '.join(missing)}, which {who} needs: "
                                 + "; ".join(f"{need}: {REMEDIES[need]}" for need in missing))  # fmt: skip


def missing_note(ds: RADataset, need: str, left_out: str) -> str | None:
    """A note saying what is left out because ``ds`` lacks ``need`` (None when it has it), for a notebook to print.

    Example:
        >>> missing_note(RADataset.empty("arise"), "noise-free truth", "the rows against the truth")
        'arise has no noise-free truth: the rows against the truth are left out'
    """
    return None if annotations(ds)[need] else f"{ds.name} has no {need}: {left_out} are left out"
