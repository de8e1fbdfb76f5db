"""How far SynthRA is from real radiographs: classifier two-sample tests and the statistics behind them.

A two-sample test by classifier: label synthetic examples 0 and real ones 1, train a boosted classifier
with cross-validation that keeps each patient's examples in one fold, and read the out-of-fold ROC AUC.
0.5 means the classifier cannot tell the two apart; 1.0 means it always can. The same test between two
random halves of the real set gives the level that chance and small samples reach on their own.

Three kinds of evidence are compared here, all given as paths (the repository holds none of it;
:class:`Evidence` gathers them, :func:`report` runs every test there is evidence for):

- **hand geometry**: the 13 landmarks per hand of ``real_hand_landmarks.csv`` against the same points of
  SynthRA's 37 landmarks, after mirroring to a left hand and a Procrustes fit (position, rotation and
  size removed), see :func:`align_shapes`;
- **damage**: real RA2-DREAM joint-level grades (``training.csv`` layout) against SynthRA's, per patient,
  the 62 hand sites; SynthRA's grades as the data set publishes them (the rounded mean of the readers)
  and without reader noise;
- **pixels**: crops at one physical scale from inside the body of real films and of wrist squares,
  described by simple texture features (:func:`crop_features`), with films kept together.

Where real films come with scores, a whole-image model trained on SynthRA scores them too
(:func:`score_real_films`): with four films an anecdote of how far what SynthRA teaches carries.

Modules: :mod:`~ralib.realism.two_sample` (the test), :mod:`~ralib.realism.geometry`,
:mod:`~ralib.realism.damage`, :mod:`~ralib.realism.pixels`, :mod:`~ralib.realism.real_films` and
:mod:`~ralib.realism.report` (all of it).

Example:
    >>> import numpy as np
    >>> same = two_sample_auc(*np.random.default_rng(0).normal(size=(2, 200, 3)))
    >>> bool(same.auc < 0.65)
    True
"""

from ralib.realism.damage import (HAND_SITE_COLUMNS, damage_report, damage_statistics, real_hand_grades,
                                  site_prevalence, synthetic_hand_grades)
from ralib.realism.geometry import (COMPARED_POINTS, FINGER_POINTS, REAL_POINTS, SYNTH_POINTS, Shapes, align_shapes,
                                    geometry_report, geometry_statistics, real_hand_shapes, synthetic_hand_shapes)
from ralib.realism.pixels import (CROP_MM_PER_PX, CROP_PX, Film, crop_features, crop_test, film_crops, foreground,
                                  synthetic_films, synthetic_wrists, wrist_crop)
from ralib.realism.report import (ADULT_HAND_MM, DUAL_HAND_FILM_MM, WRIST_SQUARE_MM, Evidence, RealismReport,
                                  example_crops, report)
from ralib.realism.real_films import latest_regression_checkpoint, score_real_films, scoring_summary
from ralib.realism.two_sample import TwoSample, pooled, real_against_real, two_sample_auc
