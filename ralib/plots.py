"""Figures the notebooks show. Each function draws on an ``ax`` (made if not given) and returns it.

Example:
    >>> ax = hand_schematic()
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ralib import anatomy
from ralib.metrics import decile_table


def _ax(ax, figsize=(5, 6)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def hand_schematic(
    ax=None,
    hand: str = "LH",
    joint_values: dict[str, float] | None = None,
    label: str = "joints",
    cmap: str = "magma_r",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar_label: str = "",
):
    """Draw the schematic hand (bones, carpals, joint boxes) and colour joints by a value.

    Args:
        hand: ``"LH"`` or ``"RH"`` (mirrored), as they appear on a posteroanterior film.
        joint_values: optional value per joint box or patch name (e.g. damage prevalence).
        label: ``"joints"`` names the 21 boxes, ``"landmarks"`` numbers the 37 landmarks,
            ``"patches"`` names the 25 patches, ``"none"`` draws the skeleton only.
    """
    ax = _ax(ax)
    xy = anatomy.template_landmarks(hand)
    at = dict(zip(anatomy.LANDMARKS, xy))
    for a, b in anatomy.BONES.values():
        ax.plot(*np.transpose([at[a], at[b]]), color="0.65", lw=7, solid_capstyle="round", zorder=1)
    for c in anatomy.CARPALS:
        ax.add_patch(plt.Circle(at[c], 4.5, color="0.75", zorder=1))
    radius_x = (at["radial_styloid"][0] + at["radius_center"][0]) / 2
    ax.plot([radius_x, radius_x * 0.6], [at["radius_center"][1], at["forearm"][1]], color="0.72", lw=14, zorder=0)
    ulna_x = at["ulnar_head"][0]
    ax.plot([ulna_x, ulna_x * 0.8], [at["ulnar_head"][1], at["forearm"][1]], color="0.72", lw=8, zorder=0)

    if label == "landmarks":
        ax.scatter(*xy.T, s=12, color="tab:blue", zorder=3)
        for i, (x, y) in enumerate(xy):
            ax.annotate(str(i), (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    elif label in ("joints", "patches"):
        groups = anatomy.JOINT_CENTRES if label == "joints" else anatomy.PATCHES
        centres = anatomy.centres_from_landmarks(xy, groups)
        names = list(centres)
        pts = np.array([centres[n] for n in names])
        if joint_values is None:
            ax.scatter(*pts.T, s=60, facecolor="none", edgecolor="tab:red", zorder=3)
        else:
            vals = np.array([joint_values.get(n, np.nan) for n in names], dtype=float)
            sc = ax.scatter(*pts.T, c=vals, s=110, cmap=cmap, vmin=vmin, vmax=vmax, edgecolor="k", zorder=3)
            plt.colorbar(sc, ax=ax, shrink=0.6, label=colorbar_label)
        for n, (x, y) in zip(names, pts):
            ax.annotate(n, (x, y), fontsize=6, xytext=(5, -2), textcoords="offset points", zorder=4)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_xlabel("mm")
    ax.set_ylabel("mm (fingers up)")
    ax.set_title(f"{hand}, posteroanterior view")
    return ax


def severity_classes(ax=None):
    """The 10 SvdH severity classes as intervals on the 0-280 score axis (square-root scale)."""
    ax = _ax(ax, figsize=(8, 2.2))
    bounds = anatomy.SEVERITY_BOUNDS
    colours = plt.get_cmap("viridis")(np.linspace(0, 1, len(bounds) - 1))
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        ax.barh(0, np.sqrt(hi) - np.sqrt(lo), left=np.sqrt(lo), color=colours[i], edgecolor="white")
        ax.text((np.sqrt(lo) + np.sqrt(hi)) / 2, 0, str(i), ha="center", va="center", color="white", fontsize=9)
    ax.set_xticks(np.sqrt(bounds), [str(b) for b in bounds], fontsize=8)
    ax.set_yticks([])
    ax.set_xlabel("total SvdH score (square-root axis); numbers are class indices")
    ax.grid(False)
    return ax


def stage_rule(ax=None):
    """The repository's joint staging rule as an erosion x JSN grid of stages."""
    import seaborn as sns

    ax = _ax(ax, figsize=(4.5, 3.6))
    grid = anatomy.joint_stage(np.arange(anatomy.EROSION_MAX + 1)[:, None], np.arange(anatomy.JSN_MAX + 1)[None, :])
    sns.heatmap(grid, annot=True, cmap="Reds", cbar=False, ax=ax, vmin=0, vmax=5)
    ax.set_xlabel("JSN grade")
    ax.set_ylabel("erosion grade")
    ax.set_title("joint stage; a hand takes its worst joint's")
    return ax


def film(ax, image: np.ndarray, title: str = ""):
    """Show a film (0-1, bone bright) without axes."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    return ax


def label_overlay(ax, image: np.ndarray, landmarks: dict, joint_boxes: dict | None = None, hand_boxes: dict | None = None):
    """A film with each hand's landmarks (dots), joint boxes (thin) and hand box (thick)."""
    film(ax, image)
    colours = {"LH": "tab:orange", "RH": "tab:cyan"}
    for hand, xy in landmarks.items():
        ax.scatter(xy[:, 0], xy[:, 1], s=4, color=colours[hand], label=hand)
        for x0, y0, x1, y1 in (joint_boxes or {}).get(hand, []):
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=0.5, color="lime"))
        if hand_boxes and hand in hand_boxes:
            x0, y0, x1, y1 = hand_boxes[hand]
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.2, color=colours[hand]))
    ax.legend(loc="lower center", fontsize=7, ncol=2, framealpha=0.6)
    return ax


def box_sets(ax, image: np.ndarray, boxes: dict[str, np.ndarray], title: str = "", extent=None):
    """An image with several sets of boxes ``(k, 4)`` (x0, y0, x1, y1), one colour per set, e.g. the
    annotated, regressed and landmark-derived joint boxes of one hand; ``extent`` (x0, y0, x1, y1) places
    the image in the boxes' coordinates (e.g. the part of the film a hand image shows)."""
    x0, y0, x1, y1 = extent if extent is not None else (0, 0, image.shape[1], image.shape[0])
    ax.imshow(image, cmap="gray", extent=(x0, x1, y1, y0))
    for (name, sets), colour in zip(boxes.items(), ("lime", "tab:red", "tab:cyan", "tab:orange")):
        for k, (bx0, by0, bx1, by1) in enumerate(sets):
            ax.add_patch(plt.Rectangle((bx0, by0), bx1 - bx0, by1 - by0, fill=False, lw=0.7, color=colour, label=None if k else name))
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(loc="lower center", fontsize=6, framealpha=0.6)
    return ax


def grade_strip(images: list[np.ndarray], titles: list[str], axes=None):
    """Close-ups side by side, e.g. one joint at every grade."""
    if axes is None:
        _, axes = plt.subplots(1, len(images), figsize=(1.8 * len(images), 2.2))
    for ax, image, title in zip(np.ravel(axes), images, titles):
        film(ax, image, title)
    return axes


def score_histogram(ax, totals, label: str = "total SvdH", bins: int = 40):
    """Histogram of total scores with the 10 severity-class bounds marked."""
    ax = _ax(ax, figsize=(6, 3))
    ax.hist(totals, bins=bins, color="tab:blue", alpha=0.8)
    for b in anatomy.SEVERITY_BOUNDS[1:-1]:
        ax.axvline(b, color="0.5", lw=0.6, ls=":")
    ax.set_xlabel(label)
    ax.set_ylabel("radiographs")
    return ax


def bland_altman(ax, a, b, label_a: str = "reader 1", label_b: str = "reader 2"):
    """Bland-Altman plot: difference against mean, with the bias and 95 % limits of agreement."""
    ax = _ax(ax, figsize=(5, 4))
    a, b = np.asarray(a, float), np.asarray(b, float)
    mean, diff = (a + b) / 2, b - a
    bias, sd = diff.mean(), diff.std(ddof=1)
    ax.scatter(mean, diff, s=8, alpha=0.6)
    for y, style in ((bias, "-"), (bias - 1.96 * sd, "--"), (bias + 1.96 * sd, "--")):
        ax.axhline(y, color="tab:red", ls=style, lw=1)
    ax.set_xlabel(f"mean of {label_a} and {label_b}")
    ax.set_ylabel(f"{label_b} - {label_a}")
    ax.set_title(f"bias {bias:.1f}, limits of agreement {bias - 1.96 * sd:.1f} to {bias + 1.96 * sd:.1f}", fontsize=9)
    return ax


def predicted_vs_true(ax, true, predictions: dict[str, np.ndarray], label: str = "SvdH", reference: tuple | None = None):
    """Predicted against true scores per model, with the mean and SD of each decile of the true score
    (the MIUA 2024 paper's Fig. 2). ``reference``: optional (true, pred) of a reader, drawn grey."""
    true = np.asarray(true, float)
    top = max(true.max(), *(np.max(p) for p in predictions.values()), 1)
    ax.plot([0, top], [0, top], color="0.6", lw=1, ls="--")
    if reference is not None:
        ax.scatter(*reference, s=6, color="0.75", label="reader 2 vs reader 1")
    for (name, pred), colour in zip(predictions.items(), plt.cm.tab10.colors):
        ax.scatter(true, pred, s=8, alpha=0.4, color=colour)
        d = decile_table(true, pred)
        ax.errorbar(d.true_mean, d.pred_mean, yerr=d.pred_sd.fillna(0), color=colour, marker="o", ms=4, capsize=2, label=name)
    ax.set(xlabel=f"true {label}", ylabel=f"predicted {label}")
    ax.legend(fontsize=7)
    return ax


def confusion(ax, true, pred, classes, title: str = ""):
    """Confusion matrix: counts in each cell, colour by the share of the true class (rows)."""
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(true, pred, labels=range(len(classes)))
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    sns.heatmap(share, annot=counts, fmt="d", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax,
                xticklabels=classes, yticklabels=classes, annot_kws={"fontsize": 7})  # fmt: skip
    ax.set(xlabel="predicted", ylabel="true", title=title)
    ax.tick_params(labelsize=7)
    return ax


def roc_curves(ax, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = ""):
    """ROC curves: ``curves`` maps a name to (true 0/1, probability of the positive class)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
    for name, (true, prob) in curves.items():
        if len(np.unique(true)) < 2:
            continue
        fpr, tpr, _ = roc_curve(true, prob)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(true, prob):.2f})")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7, loc="lower right")
    return ax


def embedding(ax, xy: np.ndarray, labels, classes, title: str = ""):
    """A 2-D embedding (t-SNE) coloured by class."""
    labels = np.asarray(labels)
    for k, name in enumerate(classes):
        ax.scatter(*xy[labels == k].T, s=8, label=name, color=plt.cm.viridis(k / max(len(classes) - 1, 1)))
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(fontsize=6, markerscale=1.5)
    return ax


def loss_curves(ax, histories: dict, title: str = "", best_epochs: dict | None = None):
    """Training (solid) and validation (dashed) loss per epoch of several runs; where a run chose its epoch on a
    validation measure (a ``valid_<measure>`` column), that measure dotted on a second axis, and each run's chosen
    epoch (``best_epochs``, 0-based) marked."""
    twin = None
    for (name, h), colour in zip(histories.items(), plt.cm.tab10.colors):
        ax.plot(h.epoch + 1, h.train_loss, color=colour, label=name)
        ax.plot(h.epoch + 1, h.valid_loss, color=colour, ls="--")
        measures = [c for c in h if c.startswith("valid_") and c != "valid_loss"]
        if measures:
            twin = twin or ax.twinx()
            twin.plot(h.epoch + 1, h[measures[0]], color=colour, ls=":")
            twin.set_ylabel(f"{measures[0].removeprefix('valid_')} (dotted)")
        if best_epochs and name in best_epochs:
            ax.axvline(best_epochs[name] + 1, color=colour, lw=0.8, alpha=0.5)
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    ax.legend(fontsize=7)
    return ax


def heatmap_overlay(ax, image: np.ndarray, heatmap: np.ndarray, title: str = ""):
    """A film with a Grad-CAM heatmap over it."""
    ax.imshow(image, cmap="gray")
    ax.imshow(heatmap, cmap="jet", alpha=0.4, vmin=0, vmax=1)
    ax.set(title=title, xticks=[], yticks=[])
    return ax


def heatmap_grid(films: dict[str, np.ndarray], heatmaps: dict[tuple[str, str], object], damaged_boxes: dict | None = None,
                 note: str = "", size: float = 3.0):  # fmt: skip
    """Films (rows, ``films``: name -> image) through every method (columns, ``heatmaps``: (film, method) ->
    :class:`~ralib.explain.Heatmap`, all on the film's grid), each map scaled to its own largest value;
    ``damaged_boxes`` (film -> rows of ``x0 y0 x1 y1``) outlines the true damage in red; ``note`` under the
    figure (e.g. that real films have no truth). Returns the figure."""
    methods = list(dict.fromkeys(method for _, method in heatmaps))
    fig, axes = plt.subplots(len(films), len(methods), figsize=(size * len(methods), size * 0.8 * len(films)), squeeze=False)
    for r, (name, image) in enumerate(films.items()):
        for c, method in enumerate(methods):
            ax = axes[r, c]
            ax.imshow(image, cmap="gray")
            heat = heatmaps.get((name, method))
            if heat is not None and heat.values.max() > 0:
                ax.imshow(np.ma.masked_where(~heat.covered, heat.values / heat.values.max()), cmap="inferno", alpha=0.55, vmin=0, vmax=1)
            for x0, y0, x1, y1 in (damaged_boxes or {}).get(name, []):
                ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="red", lw=0.6))
            ax.set(xticks=[], yticks=[])
            if r == 0:
                ax.set_title(textwrap.fill(method, 28), fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    if note:
        fig.text(0.5, 0.005, note, ha="center", fontsize=8)
    fig.tight_layout()
    return fig


def heatmap_cases(task, cases: dict, maps: dict[str, np.ndarray], classes=None, split: str = "test"):
    """Maps over the inputs of test cases (:func:`ralib.explain.case_maps`), one panel each with the true and
    predicted score or class (``classes``: the class names); returns the figure."""
    rows = task.rows(split)
    fig, axes = plt.subplots(1, max(len(cases), 1), figsize=(3.6 * max(len(cases), 1), 3.8), squeeze=False)
    for ax, (kind, case) in zip(axes[0], cases.items()):
        if classes is None:
            title = f"{kind}: true {case['true']:.0f}, predicted {case['pred']:.0f}"
        else:
            title = f"{kind}: true {classes[case['true']]}, predicted {classes[case['pred']]}"
        heatmap_overlay(ax, task.images[rows[case["index"]]].astype(np.float32), maps[kind], title)
    return fig


def landmarks_on_film(ax, image: np.ndarray, xy: np.ndarray, frames: list | None = None, title: str = "",
                      truth: np.ndarray | None = None):  # fmt: skip
    """A film with 74 landmarks (left-hand pose orange, right-hand pose cyan; NaN not drawn), optionally
    the true ones (white rings) and crop squares (``Frame`` objects of :mod:`ralib.geometry`)."""
    film(ax, image, title)
    for block, colour in ((0, "tab:orange"), (1, "tab:cyan")):
        part = xy[block * 37 : (block + 1) * 37]
        ax.scatter(part[:, 0], part[:, 1], s=6, c=colour, linewidths=0)
    if truth is not None:
        ax.scatter(truth[:, 0], truth[:, 1], s=14, facecolors="none", edgecolors="white", linewidths=0.5)
    for frame in frames or []:
        corners = np.vstack([frame.corners(), frame.corners()[:1]])
        ax.plot(corners[:, 0], corners[:, 1], lw=0.5, c="yellow")
    return ax


def located_films(located, size: float = 6.0):
    """Films located by :func:`ralib.landmarks.films.locate_films` side by side, each with its landmarks,
    patch squares and hand presence; returns the figure."""
    fig, axes = plt.subplots(1, max(1, len(located)), figsize=(size * max(1, len(located)), size * 0.92), squeeze=False)
    for ax, f in zip(axes[0], located):
        flagged = f"; flagged: {', '.join(f.flags)}" if f.flags else ""
        landmarks_on_film(ax, f.image, f.xy, f.frames, f"{f.name}: presence {np.round(f.presence, 2).tolist()}{flagged}")
    return fig


def attention_on_film(ax, image: np.ndarray, centres: np.ndarray, sides: np.ndarray, attention: np.ndarray,
                      title: str = "", damaged: np.ndarray | None = None):  # fmt: skip
    """A film with each instance's square (axis-aligned, ``sides`` px, at ``centres``) filled by its MIL
    attention (brighter = more, scaled to the film's largest); ``damaged`` instances get a red outline."""
    film(ax, image, title)
    top = float(np.nanmax(attention)) or 1.0
    for k, ((x, y), side, a) in enumerate(zip(centres, sides, attention)):
        if not np.isfinite(x):
            continue
        ax.add_patch(plt.Rectangle((x - side / 2, y - side / 2), side, side, color=plt.cm.inferno(a / top), alpha=0.25 + 0.6 * a / top, lw=0))
        if damaged is not None and damaged[k]:
            ax.add_patch(plt.Rectangle((x - side / 2, y - side / 2), side, side, fill=False, ec="red", lw=0.8))
    return ax


def crop_grid(images, titles, ncols: int = 10, size: float = 1.1):
    """Crops (0-1 or uint8) in a grid with small titles; returns the figure."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, title in zip(axes.ravel(), images, titles):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255 if np.asarray(image).dtype == np.uint8 else 1)
        ax.set_title(title, fontsize=6)
    fig.tight_layout()
    return fig


def landmark_errors(ax, errors_mm: dict[str, np.ndarray], names, title: str = ""):
    """Mean radial error per landmark (mm), one bar group per series (e.g. coarse and fine pass)."""
    names = list(names)
    width = 0.8 / max(1, len(errors_mm))
    for k, (label, e) in enumerate(errors_mm.items()):
        ax.bar(np.arange(len(names)) + k * width, e, width, label=label)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=90, fontsize=6)
    ax.set_ylabel("mean radial error, mm")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def box_finds(shares: pd.DataFrame, ylabel: str, title: str, examples: list[tuple]):
    """Boxes found: ``shares`` (one row per joint or region, one column per box set) as bars, beside
    ``examples`` (image, ``{set: boxes}``, title, extent or None) drawn with :func:`box_sets`; returns the figure."""
    fig, axes = plt.subplots(1, 1 + len(examples), figsize=(5 * (1 + len(examples)), 5),
                             gridspec_kw={"width_ratios": [2] + [1] * len(examples)})  # fmt: skip
    shares.plot.bar(ax=axes[0], width=0.8)
    axes[0].set(ylabel=ylabel, ylim=(0, 1.02), title=title)
    axes[0].legend(fontsize=7)
    for ax, (image, boxes, name, extent) in zip(axes[1:], examples):
        box_sets(ax, image, boxes, name, extent=extent)
    return fig


def gate_maps(shown: list[tuple[np.ndarray, np.ndarray, str, float]]):
    """Attention-gate maps over their crops, each stretched to its own range (the title gives the range and
    the crop's worst grade); ``shown`` as :meth:`ralib.pipelines.deepra.DeepRA.gate_maps` returns it."""
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(2.2 * max(1, len(shown)), 2.6), squeeze=False)
    if not shown:
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "no test crop of a joint\ngraded 2 or more", ha="center", va="center")
    for ax, (image, heat, region, worst) in zip(axes[0], shown):
        heatmap_overlay(ax, (image - image.min()) / (np.ptp(image) or 1), (heat - heat.min()) / (np.ptp(heat) or 1),
                        f"{region}, worst {worst:g}\ngate {heat.min():.2f}-{heat.max():.2f}")  # fmt: skip
    return fig


def image_rows(rows: dict[str, np.ndarray], n: int = 5, scale_by: str | None = None):
    """``n`` evenly spaced images of each named stack ``(k, 1, h, w)``, one row per stack, in the grey range
    of the stack ``scale_by`` (e.g. corrupted, restored and clean crops); returns the figure."""
    first = next(iter(rows.values()))
    reference = rows[scale_by] if scale_by else first
    fig, axes = plt.subplots(len(rows), n, figsize=(2 * n, 2.1 * len(rows)), squeeze=False)
    for c, i in enumerate(np.linspace(0, len(first) - 1, n).astype(int)):
        for r, (name, images) in enumerate(rows.items()):
            axes[r, c].imshow(images[i, 0], cmap="gray", vmin=reference[i, 0].min(), vmax=reference[i, 0].max())
            axes[r, c].set(xticks=[], yticks=[], ylabel=name if c == 0 else "")
    return fig


def map_rows(rows: dict[str, list[tuple[np.ndarray, np.ndarray, str]]], ncols: int = 4):
    """Maps over their crops, one row per key (e.g. attention rollout per head): each (crop, map, title),
    the crop stretched to its range and the map divided by its maximum; returns the figure."""
    fig, axes = plt.subplots(max(1, len(rows)), ncols, figsize=(2.5 * ncols, 2.7 * max(1, len(rows))), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, shown in enumerate(rows.values()):
        for ax, (image, heat, title) in zip(axes[r], shown):
            heatmap_overlay(ax, (image - image.min()) / (np.ptp(image) or 1), heat / heat.max(), title)
    return fig


def attention_cases(cases: list[tuple]):
    """Films side by side, each with its instances' MIL attention (:func:`attention_on_film`); ``cases`` as
    :meth:`ralib.pipelines.mil.MIL.attention_cases` returns them. Returns the figure."""
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 6), squeeze=False)
    for ax, (image, centres, sides, attention, title, damaged) in zip(axes[0], cases):
        attention_on_film(ax, image, centres, sides, attention, title, damaged=damaged)
    return fig


def foreground_masks(foreground, titles, n: int = 4):
    """The first ``n`` segmentation test films with their foreground outlined three ways: morphology (blue), the
    U-Net (orange) and, where known, the truth (green, dotted); ``foreground`` as
    :meth:`ralib.pipelines.mil.Scheme1.foreground` returns it, ``titles`` one per film. Returns the figure."""
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4.5), squeeze=False)
    for ax, i in zip(axes[0], foreground.test[:n]):
        film(ax, foreground.boxed.images[i] / 255, titles[i])
        ax.contour(foreground.morphology[i], levels=[0.5], colors="tab:blue", linewidths=0.8)
        ax.contour(foreground.masks[i], levels=[0.5], colors="tab:orange", linewidths=0.8)
        if foreground.truth is not None:
            ax.contour(foreground.truth[i], levels=[0.5], colors="tab:green", linewidths=0.6, linestyles="dotted")
    fig.suptitle("foreground: morphology (blue), U-Net (orange), truth (green, dotted)")
    return fig


def film_row(images: list[np.ndarray], titles: list[str], size: tuple[float, float] = (3.25, 3.4)):
    """Films side by side with their titles; returns the figure."""
    fig, axes = plt.subplots(1, len(images), figsize=(size[0] * len(images), size[1]), squeeze=False)
    for ax, image, title in zip(axes[0], images, titles):
        film(ax, image, title)
    return fig


def _grid(panels: dict, ncols: int, size: tuple[float, float], draw):
    """One panel per item of ``panels`` in rows of ``ncols``, each drawn by ``draw(ax, title, value)``."""
    nrows = max(1, int(np.ceil(len(panels) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, layout="tight")
    for ax, (title, value) in zip(axes.ravel(), panels.items()):
        draw(ax, title, value)
    return fig


def roc_grid(curves: dict[str, dict], ncols: int = 2):
    """ROC panels, ``{title: {model: (true, score)}}``; returns the figure."""
    return _grid(curves, ncols, (6, 4.5), lambda ax, title, panel: roc_curves(ax, panel, title))


def confusion_grid(matrices: dict[str, tuple], ncols: int, size: tuple[float, float] = (4.2, 3.75)):
    """Confusion panels, ``{title: (true, predicted, classes)}``, each ``size`` inches; returns the figure."""
    return _grid(matrices, ncols, size, lambda ax, title, m: confusion(ax, m[0], m[1], m[2], title))


def embedding_grid(embeddings: dict[str, tuple], ncols: int):
    """Embedding panels, ``{title: (xy, labels, classes)}``; returns the figure."""
    return _grid(embeddings, ncols, (4.2, 3.75), lambda ax, title, e: embedding(ax, e[0], e[1], e[2], title))


def paired_scatters(pairs: dict[str, dict | None], labels: dict[str, tuple[str, str]]):
    """One scatter per pair (``{"x", "y", "pcc"}`` or ``None``: an empty panel), its PCC as title, axes named by
    ``labels[name]``; returns the figure."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.5 * len(pairs), 4.5), squeeze=False)
    for ax, (name, pair) in zip(axes[0], pairs.items()):
        if pair is not None:
            ax.scatter(pair["x"], pair["y"], s=8, alpha=0.6)
            ax.set(xlabel=labels[name][0], ylabel=labels[name][1], title=f"PCC {pair['pcc']:.2f}")
    return fig


def age_histogram(ax, radiographs: pd.DataFrame):
    """The patients' ages by sex (or a note where the data set has no ages)."""
    if radiographs.age.notna().any():
        for sex, group in radiographs.groupby("sex"):
            ax.hist(group.age.dropna(), bins=20, alpha=0.6, label=f"{sex} (n={len(group)})")
        ax.set_xlabel("age (years)")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no ages in this data set", ha="center")
        ax.axis("off")
    return ax


def labelled_films(items: list[tuple[np.ndarray, dict, dict, str]]):
    """Films with their landmarks and joint boxes where known (:func:`label_overlay`), side by side: each
    ``(film, landmarks, boxes, title)``; returns the figure."""
    fig, axes = plt.subplots(1, len(items), figsize=(4.5 * len(items), 4), squeeze=False)
    for ax, (image, landmarks, boxes, title) in zip(axes[0], items):
        label_overlay(ax, image, landmarks, boxes) if landmarks or boxes else film(ax, image)
        ax.set_title(title, fontsize=8)
    return fig


def landmark_films(items: list[tuple], height: float = 5.0):
    """Films with their landmarks side by side (:func:`landmarks_on_film`): each ``(film, landmarks, title)``,
    optionally followed by the true landmarks and crop frames; returns the figure."""
    fig, axes = plt.subplots(1, len(items), figsize=(6 * len(items), height), squeeze=False)
    for ax, (image, xy, title, *rest) in zip(axes[0], items):
        truth, frames = (rest + [None, None])[:2]
        landmarks_on_film(ax, image, xy, frames, title, truth=truth)
    return fig
