"""Data from any source in one model (:mod:`ralib.data.model`): loaders, exporters, validation,
splits, reader aggregation and image I/O.

A notebook switches source with two parameters:

    >>> from ralib.data import load_dataset
    >>> ds = load_dataset("synthra", profile="smoke")          # doctest: +SKIP
    >>> ds = load_dataset("ra2dream", data_dir="/data/ra2")    # doctest: +SKIP
    >>> kids = load_dataset("rsna", profile="smoke")          # doctest: +SKIP  (SynthRA children, RSNA layout)
"""

from __future__ import annotations

from pathlib import Path

from ralib.data.model import RADataset

FORMATS = ("synthra", "ra2dream", "arise", "rsna", "image_table")


def load_dataset(name: str = "synthra", data_dir: str | Path | None = None, profile: str = "cpu", seed: int = 0,
                 strict: bool = True, **options) -> RADataset:  # fmt: skip
    """Load ``name`` from ``data_dir``; for ``synthra`` without a folder, generate the profile's data set.

    ``options`` go to the format's loader (e.g. ``score_column=`` for ``image_table``, whose
    ``data_dir`` is the CSV file or a folder holding ``scores.csv``).
    """
    if name == "synthra":
        from ralib.data.formats import synthra
        from ralib.synth import SynthConfig, make_dataset

        folder = data_dir or make_dataset(SynthConfig.from_profile(profile, seed=seed))
        return synthra.load(folder, strict=strict, **options)
    if name == "rsna" and data_dir is None:
        return synthetic_children(profile, seed, strict)
    if data_dir is None:
        raise ValueError(f"DATASET={name!r} needs DATA_DIR: the folder where your copy of it lives")
    if name == "ra2dream":
        from ralib.data.formats import ra2dream

        return ra2dream.load(data_dir, strict=strict, **options)
    if name == "arise":
        from ralib.data.formats import arise

        return arise.load(data_dir, strict=strict, **options)
    if name == "rsna":
        from ralib.data.formats import rsna

        return rsna.load(data_dir, strict=strict, **options)
    if name == "image_table":
        from ralib.data.formats import image_table

        path = Path(data_dir)
        return image_table.load(path / "scores.csv" if path.is_dir() else path, seed=seed, strict=strict, **options)
    raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(FORMATS)}")


def synthetic_children(profile: str = "cpu", seed: int = 0, strict: bool = True) -> RADataset:
    """SynthRA children's hands of a profile, laid out as the RSNA bone-age set and read by its loader,
    so that the pretraining notebook reads synthetic and real bone-age data through the same code."""
    from ralib.config import data_dir
    from ralib.data.formats import rsna
    from ralib.synth import ChildConfig, make_dataset

    folder = make_dataset(ChildConfig.from_profile(profile, seed=seed))
    target = data_dir() / "rsna-layout" / folder.name
    if not (target / rsna.TRAIN_CSV).exists():
        rsna.export_children(folder, target)
    return rsna.load(target, strict=strict)


__all__ = ["RADataset", "load_dataset", "synthetic_children", "FORMATS"]
