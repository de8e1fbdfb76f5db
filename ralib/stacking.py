"""Stacking ensembles (MIUA 2024, section 2.5): a linear model over several models' outputs, fitted
on validation predictions and applied to test predictions.

Regression: one linear model over the models' predicted scores. Classification, two ways:

- ``all``: a multinomial logistic regression over every model's class probabilities (lets a class
  borrow evidence from its neighbours);
- ``single``: per class, a linear model over the models' probabilities of that class only; the
  class with the largest output wins.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); preds = rng.normal(size=(200, 3))
    >>> target = preds @ [0.5, 0.3, 0.2] + 1.0
    >>> np.round(StackedRegressor().fit(preds, target).weights, 3).tolist()
    [0.5, 0.3, 0.2]
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression


class StackedRegressor:
    """A linear combination of models' scores, fitted by least squares."""

    def fit(self, predictions: np.ndarray, target: np.ndarray) -> "StackedRegressor":
        """``predictions``: (n samples, n models)."""
        self.model = LinearRegression().fit(np.asarray(predictions, float), np.asarray(target, float))
        return self

    @property
    def weights(self) -> np.ndarray:
        return self.model.coef_

    def predict(self, predictions: np.ndarray) -> np.ndarray:
        return self.model.predict(np.asarray(predictions, float))


class StackedClassifier:
    """Stacking of class probabilities; ``principle`` is ``"all"`` or ``"single"`` (module docstring)."""

    def __init__(self, principle: str = "single"):
        if principle not in ("all", "single"):
            raise ValueError(f"stacking principle must be 'all' or 'single', not {principle!r}")
        self.principle = principle

    def fit(self, probabilities: np.ndarray, target: np.ndarray) -> "StackedClassifier":
        """``probabilities``: (n samples, n models, n classes); ``target``: class indices."""
        p = np.asarray(probabilities, float)
        target = np.asarray(target, int)
        self.n_classes = p.shape[2]
        if self.principle == "all":
            self.model = LogisticRegression(max_iter=2000).fit(p.reshape(len(p), -1), target)
        else:
            self.models = [LinearRegression().fit(p[:, :, k], (target == k).astype(float)) for k in range(self.n_classes)]
        return self

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        """(n samples, n classes): probabilities (``all``) or per-class linear outputs (``single``)."""
        p = np.asarray(probabilities, float)
        if self.principle == "all":
            out = np.zeros((len(p), self.n_classes))
            out[:, self.model.classes_] = self.model.predict_proba(p.reshape(len(p), -1))
            return out
        return np.stack([m.predict(p[:, :, k]) for k, m in enumerate(self.models)], axis=1)

    def predict(self, probabilities: np.ndarray) -> np.ndarray:
        return self.scores(probabilities).argmax(1)


def pick_members(fits: dict, k: int = 3) -> list[str]:
    """The runs to stack: the best of each architecture by validation loss (the paper stacks the best
    ResNet-50, ResNet-34 and MobileNetV2), topped up with the next best runs when fewer than ``k``
    architectures were trained. Test results play no part in the choice."""
    by_loss = sorted(fits, key=lambda label: fits[label].history.valid_loss.min())
    chosen, models = [], set()
    for label in by_loss:
        if fits[label].config.model not in models:
            chosen.append(label)
            models.add(fits[label].config.model)
    chosen += [label for label in by_loss if label not in chosen][: max(0, k - len(chosen))]
    return chosen[:k]


def member_outputs(fits: dict, members: list[str], task, split: str) -> np.ndarray:
    """Predictions of the members on ``split``: (n, members) scores or (n, members, classes) probabilities."""
    return np.stack([fits[m].predict(task, split) for m in members], axis=1)
