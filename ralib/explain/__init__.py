"""Looking inside trained models, and measuring what their maps point at.

- :mod:`~ralib.explain.cam`: Grad-CAM, Grad-CAM++, Score-CAM and Eigen-CAM (pytorch-grad-cam) at each
  model's declared layer;
- :mod:`~ralib.explain.attention`: MIL attention against the damage of the patches it weighs;
- :mod:`~ralib.explain.rollout`: attention rollout through TinyViT's windowed attention;
- :mod:`~ralib.explain.heatmap`: a :class:`Heatmap` on the film's own grid, pasted back from any input;
- :mod:`~ralib.explain.cases`: which films to show (the MIUA 2024 rules); :mod:`~ralib.explain.embedding`: t-SNE.
"""

from ralib.explain.cam import CAM_METHODS, GRADIENT_FREE, ExpectedGrade, cam_maps, gradcam
from ralib.explain.cases import case_maps, class_cases, regression_cases
from ralib.explain.embedding import tsne
from ralib.explain.heatmap import Heatmap, on_film

__all__ = ["CAM_METHODS", "GRADIENT_FREE", "ExpectedGrade", "Heatmap", "cam_maps", "case_maps", "class_cases", "gradcam", "on_film",
           "regression_cases", "tsne"]
