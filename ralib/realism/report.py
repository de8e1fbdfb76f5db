"""The whole realism report: the real evidence at hand and every test there is evidence for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ralib.data.io import read_film
from ralib.realism.damage import damage_report, real_hand_grades
from ralib.realism.geometry import geometry_report, real_hand_shapes, synthetic_hand_shapes
from ralib.realism.pixels import CROP_PX, Film, crop_test, film_crops, synthetic_films, synthetic_wrists
from ralib.realism.real_films import score_real_films, scoring_summary
from ralib.realism.two_sample import pooled
from ralib.synth.cohort import cohort_sites

#: pixel spacings of the shared real films, which carry none (read off them by eye; see Evidence.from_folder)
DUAL_HAND_FILM_MM = 0.16
ADULT_HAND_MM = 0.146
WRIST_SQUARE_MM = 0.15


@dataclass
class Evidence:
    """Real evidence to measure a synthetic cohort against; any part may be missing."""

    landmarks: Path | None = None  # real_hand_landmarks.csv layout
    scores: Path | None = None  # RA2-DREAM training.csv layout
    films: list[Film] | None = None  # dual-hand (or single-hand) films with their spacing
    wrists: list[Film] | None = None  # wrist squares with their spacing
    film_scores: dict[str, float] | None = None  # film name -> the readers' total SvdH, where known

    @classmethod
    def from_folder(cls, folder: str | Path | None, film_spacing: float = DUAL_HAND_FILM_MM) -> "Evidence":
        """The evidence in a folder laid out as the repository's shared data (``real_hand_landmarks.csv``,
        ``real_ra2dream_scores.csv``, ``real_radiographs/*.jpg``, ``real_adult_hand/hand_*.png``,
        ``real_wrists/*.png``, and the films' scores in ``real_radiographs/labels.csv``); None or a missing
        folder gives no evidence.

        The real films carry no pixel spacing; these were read off them by eye. The dual-hand films are taken at ``film_spacing`` (0.16 mm:
        an adult hand's 19 cm from wrist crease to middle fingertip spans about 1,200 px on them), the
        healthy adult hand at 0.146 mm (the viewer's 5 cm ruler burned into the export spans 343 px), the
        wrist squares at 0.15 mm (metacarpal shafts, about 8.5 mm wide, span about 57 px on them; at the
        0.09 mm of the data's own note every bone on them would be half its real size).
        """
        if folder is None or not Path(folder).is_dir():
            return cls()
        folder = Path(folder)

        def found(name):
            return folder / name if (folder / name).is_file() else None

        films = [Film(read_film(p), film_spacing, p.name) for p in sorted((folder / "real_radiographs").glob("*.jpg"))]
        films += [Film(read_film(p), ADULT_HAND_MM, p.name) for p in sorted((folder / "real_adult_hand").glob("hand_*.png"))]
        wrists = [Film(read_film(p), WRIST_SQUARE_MM, p.name[:4]) for p in sorted((folder / "real_wrists").glob("*.png"))]
        labels = found("real_radiographs/labels.csv")
        scores = pd.read_csv(labels).set_index("filename").score_avg.astype(float).to_dict() if labels else None
        return cls(found("real_hand_landmarks.csv"), found("real_ra2dream_scores.csv"), films or None, wrists or None, scores)


@dataclass
class RealismReport:
    """The two-sample tests in one table, the statistics behind them by title, and what was skipped."""

    tests: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    skipped: list[str]

    def markdown(self) -> str:
        parts = ["Classifier two-sample tests (boosted trees, 5-fold, patients or films kept together; "
                 "AUC 0.5 = indistinguishable):", "", self.tests.to_markdown(index=False) if len(self.tests) else "(none)", ""]  # fmt: skip
        for title, table in self.tables.items():
            parts += [f"{title}:", "", table.to_markdown(), ""]
        parts += [f"Skipped: {s}" for s in self.skipped]
        return "\n".join(parts)


def report(folder: str | Path, tables: dict[str, pd.DataFrame], evidence: Evidence, seed: int = 0,
           n_films: int = 24, n_patients: int = 600, repeats: int = 5, checkpoint: str | Path | None = None,
           input_size: int | None = None) -> RealismReport:  # fmt: skip
    """Measure a SynthRA data set (``folder`` and its :func:`~ralib.synth.load_tables`) against ``evidence``:
    hand geometry, damage (on a labels-only cohort with RA2-DREAM's severity, so that the test judges how
    damage spreads over the joints rather than which cohort it is, and on the data set's own), and crops
    of films and wrists at one physical scale, as stored and tone-free. The crop tests rest on a handful of
    real films, so one draw of synthetic films and crops moves their AUC by 0.1 or more: each is run
    ``repeats`` times on other draws, and reported as the mean AUC with the fold range over all draws.
    With a whole-image regression ``checkpoint`` (and ``input_size`` where it does not record it), the real
    films with scores are scored by it too (:func:`~ralib.realism.real_films.score_real_films`).

    Example (the shared evidence; not run here):
        >>> report(folder, load_tables(folder), Evidence.from_folder("../shared/data")).tests  # doctest: +SKIP
    """
    tests, out, skipped = [], {}, []
    if evidence.landmarks is not None:
        real = real_hand_shapes(evidence.landmarks)
        geometry, stats = geometry_report(synthetic_hand_shapes(tables["landmarks"]), real, seed)
        tests.append(geometry)
        out[f"Hand geometry against {len(real.points)} real hands, in MCP2-MCP5 units"] = stats
    else:
        skipped.append("hand geometry (no real landmarks)")
    if evidence.scores is not None:
        real_grades = real_hand_grades(evidence.scores)
        cohorts = {"RA2-DREAM cohort": cohort_sites(n_patients, "ra2dream", seed), "data set": tables["sites"]}
        for name, sites in cohorts.items():
            damage, stats, prevalence = damage_report(sites, real_grades, seed, cohort=name)
            tests.append(damage if name != "data set" else damage.iloc[:2])  # the real halves once
            n = sites.image_id.nunique()
            out[f"Damage of the {name} ({n} synthetic patients) against {len(real_grades)} real patients"] = stats
            summary = (f"mean absolute difference {prevalence.difference.abs().mean():.3f} (readers), "
                       f"{(prevalence['synthetic (truth)'] - prevalence.real).abs().mean():.3f} (truth)")  # fmt: skip
            out[f"Per-site prevalence of the {name}, the ten largest differences ({summary})"] = prevalence.head(10)
    else:
        skipped.append("damage (no real RA2-DREAM labels)")
    rows = []
    if evidence.films or evidence.wrists:
        width = WRIST_SQUARE_MM * evidence.wrists[0].image.shape[1] if evidence.wrists else 0
        draws = [(synthetic_films(folder, tables["radiographs"], n_films, seed + r) if evidence.films else [],
                  synthetic_wrists(folder, tables, n_films, seed + r, width_mm=width) if evidence.wrists else [])
                 for r in range(repeats)]  # fmt: skip
        for equalise, tone in ((False, "as stored"), (True, "tone-free")):
            for label, which, real, kwargs in (("film crops", 0, evidence.films, {}),
                                               ("wrist crops", 1, evidence.wrists, {"per_film": 20, "inside_body": False})):  # fmt: skip
                if not real or len(real) < 2:
                    continue
                results = [crop_test(draw[which], real, seed=seed + r, equalise=equalise, **kwargs) for r, draw in enumerate(draws)]
                name = f"{label}, {tone} ({len(real)} real)"
                rows.append({"test": name, "against": "real", **pooled([a for a, _ in results]).as_row()})
                if results[0][1] is not None:
                    rows.append({"test": name, "against": "real (other half)", **pooled([c for _, c in results]).as_row()})
    if checkpoint is not None:
        if evidence.films and evidence.film_scores:
            scored = score_real_films(checkpoint, evidence.films, evidence.film_scores, input_size)
            out[f"Real films scored by `{Path(checkpoint).name}` ({scoring_summary(scored)}; an anecdote)"] = scored.set_index("film")
        else:
            skipped.append("scoring real films (no real films with scores)")
    if not evidence.films:
        skipped.append("film crops (no real films)")
    if not evidence.wrists:
        skipped.append("wrist crops (no real wrists)")
    if rows:
        tests.append(pd.DataFrame(rows))
    return RealismReport(pd.concat(tests, ignore_index=True) if tests else pd.DataFrame(), out, skipped)


def example_crops(films: list[Film], n: int, seed: int = 0, inside_body: bool = True) -> np.ndarray:
    """``n`` crops at the common scale from the first films, for drawing side by side with their real peers."""
    rng = np.random.default_rng(seed)
    crops = [film_crops(f, 1, rng, inside_body=inside_body) for f in films]
    crops = [c[0] for c in crops if len(c)]
    return np.stack(crops[:n]) if crops else np.zeros((0, CROP_PX, CROP_PX), np.float32)
