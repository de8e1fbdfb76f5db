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

Example:
    >>> rng = np.random.default_rng(0)
    >>> same = two_sample_auc(rng.normal(size=(200, 3)), rng.normal(size=(200, 3)))
    >>> bool(same.auc < 0.65)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from ralib import anatomy

#: the 13 annotated points per hand of the real landmark set, thumb IP first, wrist points last
REAL_POINTS = ("ip_1", "pip_2", "pip_3", "pip_4", "pip_5", "mcp_1", "mcp_2", "mcp_3", "mcp_4", "mcp_5",
               "wrist_radial", "wrist_mid", "wrist_ulnar")  # fmt: skip
#: SynthRA's landmark for each real point. The real ``wrist_mid`` lies on the forearm's axis about a third
#: of the wrist width proximal of the line through the radial and ulnar points; SynthRA has no point there,
#: so it is left out of the comparison rather than matched to a point it is not.
SYNTH_POINTS = {
    "ip_1": "ip1", **{f"pip_{f}": f"pip{f}" for f in (2, 3, 4, 5)}, **{f"mcp_{f}": f"mcp{f}" for f in (1, 2, 3, 4, 5)},
    "wrist_radial": "radial_styloid", "wrist_ulnar": "ulnar_styloid",
}  # fmt: skip
#: the points compared by default (every real point with a SynthRA counterpart) and the fingers alone
COMPARED_POINTS = tuple(p for p in REAL_POINTS if p in SYNTH_POINTS)
FINGER_POINTS = COMPARED_POINTS[:10]


@dataclass
class Shapes:
    """Hands as point sets: ``points`` ``(n, k, 2)`` in image or aligned coordinates, one patient per hand."""

    points: np.ndarray
    patients: np.ndarray
    names: tuple[str, ...]


def real_hand_shapes(path: str | Path, source: str = "ra2dream", names: tuple[str, ...] = COMPARED_POINTS) -> Shapes:
    """The annotated hands of ``real_hand_landmarks.csv`` (adults: ``source="ra2dream"``), as pixel points.

    Example (a path to the shared evidence; not run here):
        >>> real_hand_shapes("../shared/data/real_hand_landmarks.csv").points.shape  # doctest: +SKIP
        (360, 12, 2)
    """
    table = pd.read_csv(path, dtype={"patient_id": str, "image_id": str})
    missing = [f"{n}_{a}" for n in names for a in "xy" if f"{n}_{a}" not in table.columns]
    if missing:
        raise ValueError(f"{path}: no columns {missing[:4]}{'...' if len(missing) > 4 else ''}; "
                         f"expected the real landmark layout ({', '.join(REAL_POINTS)} as <name>_x, <name>_y)")  # fmt: skip
    table = table[table.source == source]
    if table.empty:
        raise ValueError(f"{path}: no hands with source={source!r}")
    points = np.stack([table[[f"{n}_x", f"{n}_y"]].to_numpy(float) for n in names], axis=1)
    return Shapes(points, table.patient_id.to_numpy(), names)


def synthetic_hand_shapes(landmarks: pd.DataFrame, names: tuple[str, ...] = COMPARED_POINTS) -> Shapes:
    """SynthRA's hands (``landmarks.csv`` of a SynthRA folder) at the real set's points, as pixel points.

    Example:
        >>> rows = [{"image_id": "a", "hand": "LH", "landmark": n, "x": i, "y": 2 * i}
        ...         for i, n in enumerate(anatomy.LANDMARKS)]
        >>> synthetic_hand_shapes(pd.DataFrame(rows)).points.shape
        (1, 12, 2)
    """
    wide = landmarks.pivot_table(index=["image_id", "hand"], columns="landmark", values=["x", "y"])
    cols = [SYNTH_POINTS[n] for n in names]
    points = np.stack([wide["x"][cols].to_numpy(float), wide["y"][cols].to_numpy(float)], axis=-1)
    return Shapes(points, wide.index.get_level_values("image_id").to_numpy(), names)


def align_shapes(points: np.ndarray, names: tuple[str, ...], reference: np.ndarray | None = None,
                 iterations: int = 5) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Mirror every hand to a left hand (thumb towards +x) and fit it to ``reference`` by a similarity
    transform (a generalised Procrustes fit to the set's own mean when ``reference`` is None).

    Returns the aligned points ``(n, k, 2)`` in units of the reference's MCP2-MCP5 distance and the
    reference itself (unit centroid size), so that a second set can be aligned to the first one's
    reference.

    Example:
        >>> names = ("a", "mcp_1", "mcp_2", "mcp_5")
        >>> hand = np.array([[0.0, 0], [3, 1], [1, 2], [-2, 2]])
        >>> turned = hand @ np.array([[0, -1], [1, 0]]) * 5 + 7
        >>> aligned, ref = align_shapes(np.stack([hand, turned]), names)
        >>> bool(np.allclose(aligned[0], aligned[1]))
        True
    """
    points = np.array(points, dtype=float)
    thumb, little = names.index("mcp_1"), names.index("mcp_5")
    a, b = points[:, names.index("mcp_2")] - points[:, little], points[:, thumb] - points[:, little]
    normal = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    # a left hand on a PA film, y down: going from MCP5 to MCP2 the thumb lies on the far side (cross < 0)
    mirror = normal > 0
    points[mirror, :, 0] *= -1
    centred = points - points.mean(axis=1, keepdims=True)
    centred /= np.linalg.norm(centred, axis=(1, 2), keepdims=True)
    own = reference is None
    ref = centred[0] if own else reference
    for _ in range(iterations if own else 1):
        aligned = np.stack([_fit(shape, ref) for shape in centred])
        if not own:
            break
        ref = aligned.mean(axis=0)
        ref /= np.linalg.norm(ref)
    unit = np.linalg.norm(ref[names.index("mcp_2")] - ref[little])
    return aligned / unit, ref


def _fit(shape: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rotate and scale a centred shape onto a centred reference (least squares, no reflection)."""
    u, _, vt = np.linalg.svd(shape.T @ ref)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    turned = shape @ rot
    return turned * (np.sum(turned * ref) / np.sum(turned * turned))


@dataclass
class TwoSample:
    """The result of a classifier two-sample test: out-of-fold AUC, its spread over folds, sizes."""

    auc: float
    fold_aucs: list[float]
    n_synthetic: int
    n_real: int

    def as_row(self) -> dict[str, float]:
        return {"AUC": round(self.auc, 3), "fold min": round(min(self.fold_aucs), 3),
                "fold max": round(max(self.fold_aucs), 3), "n synthetic": self.n_synthetic, "n real": self.n_real}  # fmt: skip


def two_sample_auc(synthetic: np.ndarray, real: np.ndarray, groups_synthetic=None, groups_real=None,
                   folds: int = 5, seed: int = 0) -> TwoSample:  # fmt: skip
    """Out-of-fold AUC of a boosted classifier telling ``synthetic`` rows (0) from ``real`` rows (1).

    Rows of one group (a patient, a film) stay in one fold. The larger sample is subsampled by group
    to the smaller one's number of groups, so that neither side dominates the folds.
    """
    rng = np.random.default_rng(seed)
    synthetic, real = np.asarray(synthetic, float), np.asarray(real, float)
    gs = np.asarray(groups_synthetic if groups_synthetic is not None else np.arange(len(synthetic))).astype(str)
    gr = np.asarray(groups_real if groups_real is not None else np.arange(len(real))).astype(str)
    keep_s, keep_r = _balance(gs, gr, rng)
    x = np.concatenate([synthetic[keep_s], real[keep_r]])
    y = np.concatenate([np.zeros(keep_s.sum()), np.ones(keep_r.sum())])
    groups = np.concatenate([np.char.add("s", gs[keep_s]), np.char.add("r", gr[keep_r])])
    if min(len(np.unique(groups[y == 0])), len(np.unique(groups[y == 1]))) < folds:
        raise ValueError(f"too few groups for {folds}-fold cross-validation: "
                         f"{len(np.unique(gs))} synthetic, {len(np.unique(gr))} real")  # fmt: skip
    scores = np.zeros(len(y))
    fold_aucs = []
    for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(x, y, groups):
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
        fold_aucs.append(float(roc_auc_score(y[test], scores[test])))
    return TwoSample(float(roc_auc_score(y, scores)), fold_aucs, int(keep_s.sum()), int(keep_r.sum()))


def _balance(gs: np.ndarray, gr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    us, ur = np.unique(gs), np.unique(gr)
    n = min(len(us), len(ur))
    chosen_s = set(rng.choice(us, n, replace=False))
    chosen_r = set(rng.choice(ur, n, replace=False))
    return np.isin(gs, list(chosen_s)), np.isin(gr, list(chosen_r))


def real_against_real(real: np.ndarray, groups=None, folds: int = 5, seed: int = 0) -> TwoSample:
    """The same test between two random halves of the real set (by group): what chance gives."""
    real = np.asarray(real, float)
    groups = np.asarray(groups if groups is not None else np.arange(len(real))).astype(str)
    rng = np.random.default_rng(seed + 1)
    unique = rng.permutation(np.unique(groups))
    first = np.isin(groups, unique[: len(unique) // 2])
    return two_sample_auc(real[first], real[~first], groups[first], groups[~first], folds, seed)


# ---------------------------------------------------------------------------------------------
# hand geometry
# ---------------------------------------------------------------------------------------------


def geometry_statistics(aligned: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """Shape facts in units of the MCP2-MCP5 distance: wrist width, the breadth of the finger fan, and the
    spread (interquartile range, averaged over x and y) of every point.

    Example:
        >>> names = ("mcp_1", "mcp_2", "mcp_5", "wrist_radial", "wrist_ulnar")
        >>> hand = np.array([[[3.0, 1], [1, 0], [-1, 0], [1, 3], [-1, 3]]] * 2)
        >>> geometry_statistics(hand, names)["wrist width"]
        1.0
    """
    at = {n: aligned[:, i] for i, n in enumerate(names)}
    unit = np.linalg.norm(at["mcp_2"] - at["mcp_5"], axis=1)
    stats = {}
    if "wrist_radial" in at and "wrist_ulnar" in at:
        stats["wrist width"] = float(np.median(np.linalg.norm(at["wrist_radial"] - at["wrist_ulnar"], axis=1) / unit))
    for a, b, label in (("mcp_2", "pip_2", "proximal phalanx 2"), ("mcp_3", "pip_3", "proximal phalanx 3"),
                        ("mcp_5", "pip_5", "proximal phalanx 5"), ("mcp_1", "ip_1", "thumb proximal phalanx"),
                        ("pip_2", "pip_5", "PIP2-PIP5 distance")):  # fmt: skip
        if a in at and b in at:
            stats[label] = float(np.median(np.linalg.norm(at[a] - at[b], axis=1) / unit))
    q75, q25 = np.percentile(aligned, [75, 25], axis=0)
    for i, n in enumerate(names):
        stats[f"IQR {n}"] = float((q75[i] - q25[i]).mean())
    return stats


def geometry_report(synthetic: Shapes, real: Shapes, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two-sample tests on aligned hand shapes (all compared points, fingers alone) and the statistics
    behind them, real against synthetic.

    Returns ``(tests, statistics)``: one row per test (synthetic vs real, and real vs real halves), one
    row per statistic with the real and synthetic values and their ratio.
    """
    tests = []
    finger = [i for i, n in enumerate(real.names) if n in FINGER_POINTS]
    for label, cols in (("landmarks: all compared points", list(range(len(real.names)))), ("landmarks: fingers and thumb", finger)):
        names = tuple(real.names[i] for i in cols)  # each set aligned on its own points
        flat_r, ref = align_shapes(real.points[:, cols], names)
        flat_s, _ = align_shapes(synthetic.points[:, cols], names, reference=ref)
        flat_r, flat_s = flat_r.reshape(len(flat_r), -1), flat_s.reshape(len(flat_s), -1)
        tests.append({"test": label, "against": "real", **two_sample_auc(flat_s, flat_r, synthetic.patients, real.patients, seed=seed).as_row()})
        tests.append({"test": label, "against": "real (other half)", **real_against_real(flat_r, real.patients, seed=seed).as_row()})
    real_aligned, ref = align_shapes(real.points, real.names)
    synth_aligned, _ = align_shapes(synthetic.points, synthetic.names, reference=ref)
    stats_r = geometry_statistics(real_aligned, real.names)
    stats_s = geometry_statistics(synth_aligned, synthetic.names)
    stats = pd.DataFrame({"real": stats_r, "synthetic": stats_s})
    stats["synthetic / real"] = stats.synthetic / stats.real
    return pd.DataFrame(tests), stats.round(3)


# ---------------------------------------------------------------------------------------------
# damage
# ---------------------------------------------------------------------------------------------

#: the 62 hand sites of RA2-DREAM's ``training.csv``, both hands
HAND_SITE_COLUMNS = tuple(f"{h}_{s}" for h in anatomy.HANDS for s in anatomy.EROSION_SITES + anatomy.JSN_SITES)


def real_hand_grades(path: str | Path) -> pd.DataFrame:
    """The hand-site grades of a real RA2-DREAM ``training.csv``: one row per patient, 62 columns."""
    table = pd.read_csv(path, dtype={"Patient_ID": str})
    missing = [c for c in HAND_SITE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not the RA2-DREAM training.csv layout (no {missing[:3]}...)")
    return table.set_index("Patient_ID")[list(HAND_SITE_COLUMNS)].astype(float)


def synthetic_hand_grades(sites: pd.DataFrame, readers: bool = True) -> pd.DataFrame:
    """SynthRA's grades per image in the same 62 columns: the rounded mean of the two readers, as the
    RA2-DREAM export writes them (``readers=True``), or the noise-free truth."""
    values = np.floor((sites.reader_1 + sites.reader_2) / 2 + 0.5) if readers else sites.truth
    frame = sites.assign(column=sites.hand + "_" + sites.site, grade=values.astype(float))
    return frame.pivot_table(index="image_id", columns="column", values="grade")[list(HAND_SITE_COLUMNS)]


def damage_statistics(grades: pd.DataFrame) -> dict[str, float]:
    """Share of hands and of patients (both hands) without damage, hand-total quantiles, left-right PCC of
    the hand totals.

    Example:
        >>> g = pd.DataFrame(0.0, index=range(4), columns=list(HAND_SITE_COLUMNS))
        >>> g.iloc[0, 0] = 2
        >>> damage_statistics(g)["hands without damage"]
        0.875
    """
    left = grades[[c for c in grades.columns if c.startswith("LH_")]].sum(axis=1)
    right = grades[[c for c in grades.columns if c.startswith("RH_")]].sum(axis=1)
    hands = pd.concat([left, right])
    return {
        "hands without damage": float((hands == 0).mean()),
        "patients without damage": float(((left + right) == 0).mean()),
        "hand total median": float(hands.median()),
        "hand total 90th percentile": float(hands.quantile(0.9)),
        "left-right PCC": float(np.corrcoef(left, right)[0, 1]) if left.std() > 0 and right.std() > 0 else float("nan"),
    }


def site_prevalence(grades: pd.DataFrame) -> pd.Series:
    """Share of hands with a grade above 0 at each site."""
    return (grades > 0).mean()


def damage_report(synthetic_sites: pd.DataFrame, real: pd.DataFrame, seed: int = 0, cohort: str = "") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Two-sample tests on per-patient site grades (readers' labels and noise-free truth against the real
    labels, and real halves against each other), the statistics behind them, and the per-site
    prevalence side by side (largest differences first). ``cohort`` names the synthetic cohort in the rows."""
    published = synthetic_hand_grades(synthetic_sites, readers=True)
    truth = synthetic_hand_grades(synthetic_sites, readers=False)
    named = f"{cohort}: " if cohort else ""
    tests = [
        {"test": f"{named}site grades (reader labels)", "against": "real", **two_sample_auc(published.to_numpy(), real.to_numpy(), seed=seed).as_row()},
        {"test": f"{named}site grades (noise-free truth)", "against": "real", **two_sample_auc(truth.to_numpy(), real.to_numpy(), seed=seed).as_row()},
        {"test": "site grades", "against": "real (other half)", **real_against_real(real.to_numpy(), seed=seed).as_row()},
    ]  # fmt: skip
    stats = pd.DataFrame({"real": damage_statistics(real), "synthetic (readers)": damage_statistics(published),
                          "synthetic (truth)": damage_statistics(truth)}).round(3)  # fmt: skip
    prevalence = pd.DataFrame({"real": site_prevalence(real), "synthetic (readers)": site_prevalence(published),
                               "synthetic (truth)": site_prevalence(truth)})  # fmt: skip
    prevalence["difference"] = prevalence["synthetic (readers)"] - prevalence.real
    prevalence = prevalence.reindex(prevalence.difference.abs().sort_values(ascending=False).index)
    return pd.DataFrame(tests), stats, prevalence.round(3)


# ---------------------------------------------------------------------------------------------
# pixels
# ---------------------------------------------------------------------------------------------

#: the common physical scale and size of the crops compared (64 px at 0.3 mm: 19 mm squares)
CROP_MM_PER_PX = 0.3
CROP_PX = 64


@dataclass
class Film:
    """One film for the pixel test: a grey image in 0-1 with bone bright, its pixel spacing, its group."""

    image: np.ndarray
    spacing_mm: float
    group: str


def foreground(film: np.ndarray) -> np.ndarray:
    """Where the body is: Otsu's threshold on the smoothed film, the same rule for real and synthetic films.

    Example:
        >>> film = np.zeros((40, 40), np.float32); film[10:30, 10:30] = 0.8
        >>> int(foreground(film).sum())
        400
    """
    import cv2
    from skimage.filters import threshold_otsu

    smooth = cv2.GaussianBlur(film.astype(np.float32), (0, 0), max(film.shape) / 400)
    return smooth > threshold_otsu(smooth)


def film_crops(film: Film, n: int, rng: np.random.Generator, mm_per_px: float = CROP_MM_PER_PX,
               size: int = CROP_PX, inside_body: bool = True, equalise: bool = False) -> np.ndarray:  # fmt: skip
    """Up to ``n`` crops ``(n, size, size)`` from inside the body (anywhere when ``inside_body`` is False, for
    films that are all body, such as wrist squares), after resampling the film to ``mm_per_px`` and
    stretching its body's 1st-99th intensity percentiles to 0-1 (so exposure and bit depth drop out).
    ``equalise`` replaces every body pixel by its rank among them instead: any monotone tone curve drops
    out too, and what is left to tell films apart is structure and texture."""
    import cv2

    factor = film.spacing_mm / mm_per_px
    image = cv2.resize(film.image.astype(np.float32), None, fx=factor, fy=factor,
                       interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)  # fmt: skip
    body = foreground(image)
    if not body.any():
        return np.zeros((0, size, size), np.float32)
    if equalise:
        ranks = np.sort(image[body])
        image = (np.searchsorted(ranks, image) / len(ranks)).astype(np.float32)
    else:
        low, high = np.percentile(image[body], [1, 99])
        image = np.clip((image - low) / max(high - low, 1e-6), 0, 1)
    if not inside_body:
        body = np.ones_like(body)
    kernel = np.ones((size, size), np.uint8)  # the whole crop in the body, none of it beyond the film's edge
    inside = cv2.erode(body.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    ys, xs = np.nonzero(inside)
    if len(ys) == 0:
        return np.zeros((0, size, size), np.float32)
    pick = rng.choice(len(ys), min(n, len(ys)), replace=False)
    half = size // 2
    return np.stack([image[y - half : y - half + size, x - half : x - half + size] for y, x in zip(ys[pick], xs[pick])])


def crop_features(crops: np.ndarray) -> np.ndarray:
    """Simple texture features per crop: a 16-bin intensity histogram, mean and SD, gradient magnitude
    (mean, SD, 90th percentile) and the variance of the Laplacian.

    Example:
        >>> crop_features(np.random.default_rng(0).random((3, 64, 64))).shape
        (3, 22)
    """
    import cv2

    rows = []
    for crop in crops.astype(np.float32):
        hist = np.histogram(crop, bins=16, range=(0, 1))[0] / crop.size
        gx, gy = cv2.Sobel(crop, cv2.CV_32F, 1, 0), cv2.Sobel(crop, cv2.CV_32F, 0, 1)
        grad = np.hypot(gx, gy)
        lap = cv2.Laplacian(crop, cv2.CV_32F)
        rows.append([*hist, crop.mean(), crop.std(), grad.mean(), grad.std(), np.percentile(grad, 90), lap.var()])
    return np.array(rows, dtype=float)


def crop_test(synthetic: list[Film], real: list[Film], per_film: int = 40, seed: int = 0,
              mm_per_px: float = CROP_MM_PER_PX, inside_body: bool = True,
              equalise: bool = False) -> tuple[TwoSample, TwoSample | None]:  # fmt: skip
    """Two-sample test on crops at one physical scale, films kept together; and real films against each
    other (half the real films against the other half), as the chance level of this sample (None with
    fewer than four real films). With a handful of films both are dominated by what makes each film
    unlike the others: read them with their fold range."""
    rng = np.random.default_rng(seed)

    def table(films):
        feats, groups = [], []
        for film in films:
            crops = film_crops(film, per_film, rng, mm_per_px, inside_body=inside_body, equalise=equalise)
            if len(crops):
                feats.append(crop_features(crops))
            groups += [film.group] * len(crops)
        if not feats:
            raise ValueError(f"no {CROP_PX}-px crops fit inside the body of any of {len(films)} films at {mm_per_px} mm a pixel")
        return np.concatenate(feats), np.array(groups)

    xs, gs = table(synthetic)
    xr, gr = table(real)
    folds = min(5, len(np.unique(gr)), len(np.unique(gs)))
    against_real = two_sample_auc(xs, xr, gs, gr, folds=folds, seed=seed)
    halves = min(5, len(np.unique(gr)) // 2)
    chance = real_against_real(xr, gr, folds=halves, seed=seed) if halves >= 2 else None
    return against_real, chance


def synthetic_films(folder: str | Path, radiographs: pd.DataFrame, n: int, seed: int = 0) -> list[Film]:
    """``n`` films of a SynthRA folder drawn at random (one patient each), bone bright, with their spacing."""
    from ralib.synth import read_image

    rows = radiographs.sample(min(n, len(radiographs)), random_state=seed)
    return [Film(read_image(folder, r), float(r.spacing_mm), r.image_id) for _, r in rows.iterrows()]


def wrist_crop(film: Film, centre_px: np.ndarray, width_mm: float = 90.0) -> Film:
    """A square of ``width_mm`` around a wrist centre, as a film of its own (the real wrists' framing)."""
    half = int(round(width_mm / film.spacing_mm / 2))
    x, y = (int(round(c)) for c in centre_px)
    h, w = film.image.shape
    crop = film.image[max(y - half, 0) : min(y + half, h), max(x - half, 0) : min(x + half, w)]
    return Film(crop, film.spacing_mm, film.group)


def synthetic_wrists(folder: str | Path, tables: dict[str, pd.DataFrame], n: int, seed: int = 0,
                     width_mm: float = 90.0) -> list[Film]:  # fmt: skip
    """Wrist squares ``width_mm`` across (both hands) of ``n`` random SynthRA films, centred on the 'wrist'
    joint box."""
    films = synthetic_films(folder, tables["radiographs"], n, seed)
    boxes = tables["joints"][tables["joints"].joint == "wrist"].set_index(["image_id", "hand"])
    out = []
    for film in films:
        for hand in anatomy.HANDS:
            x0, y0, x1, y1 = boxes.loc[(film.group, hand), ["x0", "y0", "x1", "y1"]]
            out.append(wrist_crop(film, np.array([(x0 + x1) / 2, (y0 + y1) / 2]), width_mm))
    return out


# ---------------------------------------------------------------------------------------------
# the whole report
# ---------------------------------------------------------------------------------------------

#: pixel spacings of the shared real films, which carry none (measured on them; see Evidence.from_folder)
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

    @classmethod
    def from_folder(cls, folder: str | Path | None, film_spacing: float = DUAL_HAND_FILM_MM) -> "Evidence":
        """The evidence in a folder laid out as the repository's shared data (``real_hand_landmarks.csv``,
        ``real_ra2dream_scores.csv``, ``real_radiographs/*.jpg``, ``real_adult_hand/hand_*.png``,
        ``real_wrists/*.png``); None or a missing folder gives no evidence.

        The real films carry no pixel spacing. The dual-hand films are taken at ``film_spacing`` (0.16 mm:
        an adult hand's 19 cm from wrist crease to middle fingertip spans about 1,200 px on them), the
        healthy adult hand at 0.146 mm (the viewer's 5 cm ruler burned into the export spans 343 px), the
        wrist squares at 0.15 mm (metacarpal shafts, about 8.5 mm wide, span about 57 px on them; at the
        0.09 mm of the data's own note every bone on them would be half its real size).
        """
        from ralib.data.io import read_film

        if folder is None or not Path(folder).is_dir():
            return cls()
        folder = Path(folder)

        def found(name):
            return folder / name if (folder / name).is_file() else None

        films = [Film(read_film(p), film_spacing, p.name) for p in sorted((folder / "real_radiographs").glob("*.jpg"))]
        films += [Film(read_film(p), ADULT_HAND_MM, p.name) for p in sorted((folder / "real_adult_hand").glob("hand_*.png"))]
        wrists = [Film(read_film(p), WRIST_SQUARE_MM, p.name[:4]) for p in sorted((folder / "real_wrists").glob("*.png"))]
        return cls(found("real_hand_landmarks.csv"), found("real_ra2dream_scores.csv"), films or None, wrists or None)


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
           n_films: int = 24, n_patients: int = 600) -> RealismReport:  # fmt: skip
    """Measure a SynthRA data set (``folder`` and its :func:`~ralib.synth.load_tables`) against ``evidence``:
    hand geometry, damage (on a labels-only cohort with RA2-DREAM's severity, so that the test judges how
    damage spreads over the joints rather than which cohort it is, and on the data set's own), and crops
    of films and wrists at one physical scale, as stored and tone-free.

    Example (the shared evidence; not run here):
        >>> report(folder, load_tables(folder), Evidence.from_folder("../shared/data")).tests  # doctest: +SKIP
    """
    from ralib.synth.cohort import cohort_sites

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
        films = synthetic_films(folder, tables["radiographs"], n_films, seed) if evidence.films else []
        width = WRIST_SQUARE_MM * evidence.wrists[0].image.shape[1] if evidence.wrists else 0
        wrists = synthetic_wrists(folder, tables, n_films, seed, width_mm=width) if evidence.wrists else []
        for equalise, tone in ((False, "as stored"), (True, "tone-free")):
            for label, synthetic, real, kwargs in (("film crops", films, evidence.films, {}),
                                                   ("wrist crops", wrists, evidence.wrists, {"per_film": 20, "inside_body": False})):  # fmt: skip
                if not real or len(real) < 2:
                    continue
                against, chance = crop_test(synthetic, real, seed=seed, equalise=equalise, **kwargs)
                name = f"{label}, {tone} ({len(real)} real)"
                rows.append({"test": name, "against": "real", **against.as_row()})
                if chance is not None:
                    rows.append({"test": name, "against": "real (other half)", **chance.as_row()})
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
