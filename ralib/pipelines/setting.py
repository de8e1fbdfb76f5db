"""What every notebook's steps share: the data set, the profile, the run folder, the seed and the start of
the networks it trains (:class:`Setting`), and for the notebooks that compare models on the same test films, those films
(:class:`FilmSetting`, notebook 03's split unless given).

Example:
    >>> import pandas as pd
    >>> films = pd.DataFrame({"radiograph_id": ["a"], "split": ["test"]})
    >>> FilmSetting(None, None, Path("runs/cpu/08_x"), films=films, weights="random").films.split.tolist()
    ['test']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ralib.data.annotations import require
from ralib.models.pretrained import start_spec
from ralib.models.registry import check_pretrained
from ralib.tasks.bags import film_table


@dataclass
class Setting:
    """The data set, the profile, the run folder and the seed; ``sizes`` is the profile's part named by
    the class's :attr:`SIZES` (e.g. ``"mil"``: ``profile.mil``).

    ``weights`` (a notebook's ``WEIGHTS``; None: the profile's) is where the networks it trains start: random,
    imagenet or a folder (:mod:`ralib.models.pretrained`); every published file the :meth:`networks` start from
    is located when the setting is made, so that a missing one stops the notebook before anything trains. So is
    what the class's :attr:`NEEDS` says its data set must hold (:mod:`ralib.data.annotations`): a data set that
    lacks it is refused with what is missing and what to do."""

    SIZES = "train"
    NEEDS = ("image scores",)
    WHO = "this notebook"

    ds: object
    profile: object
    run_dir: Path
    seed: int = 0
    weights: str | None = field(default=None, kw_only=True)

    def __post_init__(self):
        if self.ds is not None:
            require(self.ds, self.NEEDS, self.WHO)
        self.weights = start_spec(self.weights or self.profile.weights)
        if self.weights != "random":
            check_pretrained(self.networks(), self.weights)

    def networks(self) -> list[tuple[str, dict]]:
        """The models this setting trains from a pretrained start: (registered or timm name, builder options)."""
        return []

    @property
    def sizes(self):
        return getattr(self.profile, self.SIZES)


@dataclass
class FilmSetting(Setting):
    """A :class:`Setting` with its labelled films (``radiograph_id``, ``split``, ``score``): by default
    :func:`ralib.tasks.bags.film_table` of the data set, the split of notebook 03, so that every model
    meets the others on the same test films."""

    films: pd.DataFrame | None = field(default=None, kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        if self.films is None:
            self.films = film_table(self.ds, self.seed)
