"""Data from any source in one model (:mod:`ralib.data.model`): loaders, exporters, validation,
reader aggregation and image I/O (patient-level splits are :mod:`ralib.splits`).

A notebook switches source with two parameters:

    >>> from ralib.data import load_dataset
    >>> ds = load_dataset("synthra", profile="smoke")          # doctest: +SKIP
    >>> ds = load_dataset("ra2dream", data_dir="/data/ra2")    # doctest: +SKIP
    >>> kids = load_dataset("rsna", profile="smoke")  # SynthRA children in the RSNA layout  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from ralib import config
from ralib.data.formats import arise, image_table, ra2dream, rsna, synthra
from ralib.data.model import RADataset
from ralib.synth import ChildConfig, SynthConfig, make_dataset

FORMATS = ("synthra", "ra2dream", "arise", "rsna", "image_table")


def load_dataset(name: str = "synthra", data_dir: str | Path | None = None, profile: str = "cpu", seed: int = 0,
                 strict: bool = True, image_dir: str | Path | None = None, **options) -> RADataset:  # fmt: skip
    """Load ``name`` from ``data_dir``; for ``synthra`` without a folder, generate the profile's data set.

    ``seed`` draws the patient-level split of sources that have none (RA2-DREAM, score tables).
    ``image_dir`` says where the images are when they are not beside the labels (RA2-DREAM and score
    tables, whose images are otherwise searched below ``data_dir``). ``options`` go to the format's
    loader (e.g. ``score_column=`` for ``image_table``, whose ``data_dir`` is the CSV file or a
    folder holding one; ``check_images="decode"`` to read every film at loading).
    """
    if name not in FORMATS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(FORMATS)}")
    if image_dir is not None and name not in ("ra2dream", "image_table"):
        raise ValueError(f"image_dir (IMAGE_DIR) applies to ra2dream and image_table; {name} keeps its images in its own layout")
    if name == "synthra":
        folder = data_dir or make_dataset(SynthConfig.from_profile(profile, seed=seed))
        return synthra.load(folder, strict=strict, **options)
    if name == "rsna" and data_dir is None:
        return synthetic_children(profile, seed, strict)
    if data_dir is None:
        raise ValueError(f"DATASET={name!r} needs DATA_DIR: the folder where your copy of it lives")
    if not Path(data_dir).exists():
        raise FileNotFoundError(f"DATA_DIR {data_dir} does not exist")
    if name == "ra2dream":
        return ra2dream.load(data_dir, seed=seed, strict=strict, image_dir=image_dir, **options)
    if name == "arise":
        return arise.load(data_dir, strict=strict, **options)
    if name == "rsna":
        return rsna.load(data_dir, strict=strict, **options)
    return image_table.load(score_table(data_dir), image_dir, seed=seed, strict=strict, **options)


def score_table(path: str | Path) -> Path:
    """The CSV of an image-level score table: ``path`` itself, or the one CSV in the folder ``path``
    (``scores.csv`` where there are several)."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / "scores.csv").is_file():
        return path / "scores.csv"
    tables = sorted(path.glob("*.csv"))
    if len(tables) == 1:
        return tables[0]
    found = ", ".join(p.name for p in tables) or "none"
    raise FileNotFoundError(f"{path}: give DATA_DIR as the score table's CSV file; CSV files in this folder: {found}")


def synthetic_children(profile: str = "cpu", seed: int = 0, strict: bool = True) -> RADataset:
    """SynthRA children's hands of a profile, laid out as the RSNA bone-age set and read by its loader,
    so that the pretraining notebook reads synthetic and real bone-age data through the same code."""
    folder = make_dataset(ChildConfig.from_profile(profile, seed=seed))
    target = config.data_dir() / "rsna-layout" / folder.name
    if not (target / rsna.TRAIN_CSV).exists():
        rsna.export_children(folder, target)
    return rsna.load(target, strict=strict)


__all__ = ["RADataset", "load_dataset", "score_table", "synthetic_children", "FORMATS"]
