"""Result tables shaped like the papers' tables, one module per paper: :mod:`~ralib.results.whole_image`
(the MIUA 2024 paper, notebooks 03 and 04), :mod:`~ralib.results.comparisons` (the MIL paper's Table 2 and
paired differences, 06 and 07), :mod:`~ralib.results.rheumavit` (08), :mod:`~ralib.results.deepra` (09), and
:mod:`~ralib.results.seeds` (any table over seeds). The names below are those a notebook imports.

Example:
    >>> from ralib.results import scoring_table, challenge_measures
    >>> scoring_table.__module__, challenge_measures.__module__
    ('ralib.results.comparisons', 'ralib.results.deepra')
"""

from ralib.results.comparisons import elsewhere_rows, paired_comparisons, scoring_table
from ralib.results.deepra import SITE_KEYS, challenge_measures, distribution_baseline, fill_missing_sites, reference_sites
from ralib.results.rheumavit import assembled_total_predictions, average_expert, grade_rows, joined_models
from ralib.results.seeds import across_seeds
from ralib.results.whole_image import (against_truth, mean_baseline, reader_reference, regression_as_classes, results_table,
                                       thumbnail_ridge, verdict, whole_image_reference)

__all__ = ["SITE_KEYS", "across_seeds", "against_truth", "assembled_total_predictions", "average_expert", "challenge_measures",
           "distribution_baseline", "elsewhere_rows", "fill_missing_sites", "grade_rows", "joined_models", "mean_baseline",
           "paired_comparisons", "reader_reference", "reference_sites", "regression_as_classes", "results_table",
           "scoring_table", "thumbnail_ridge", "verdict", "whole_image_reference"]
