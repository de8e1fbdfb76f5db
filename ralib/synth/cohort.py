"""A cohort's labels without films: patients, their true SvdH site grades and the two readers' grades.

Rendering is what takes time; the realism test of damage and the calibration of the disease model need
only the labels, so they are drawn here with the functions the data set uses (films and labels of a
data set come from other random streams, so the patients differ from any data set's).

Example:
    >>> sites = cohort_sites(3, "ra2dream")
    >>> len(sites), list(sites.columns)
    (186, ['image_id', 'hand', 'site', 'kind', 'truth', 'reader_1', 'reader_2'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.synth import readers
from ralib.synth.disease import Cohort, sample_grades, sample_patient


def cohort_sites(n_patients: int, cohort: str | Cohort = "image_level", seed: int = 0,
                 params: dict[str, tuple[float, np.ndarray]] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per patient x SvdH site, in the columns of a SynthRA ``sites.csv`` (``image_id`` names the
    patient); ``params`` as in :func:`ralib.synth.disease.sample_grades`."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31,)))  # apart from any data set's streams
    sites = anatomy.svdh_sites()
    frames = []
    for i in range(n_patients):
        grades = sample_grades(sample_patient(rng, cohort), rng, params)
        truth = np.array([grades[s.id] for s in sites])
        reads = readers.read_film(truth, rng)
        frames.append(pd.DataFrame({"image_id": f"C{i:05d}", "hand": [s.hand for s in sites], "site": [s.site for s in sites],
                                    "kind": [s.kind for s in sites], "truth": truth, "reader_1": reads[0], "reader_2": reads[1]}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)
