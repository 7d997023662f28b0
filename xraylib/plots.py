"""Every figure of the project, in one style.

Each ``plot_*`` function takes data, returns the matplotlib ``Figure`` and, given
``save="NAME"``, also writes ``images/NAME.png`` (:func:`save_fig`). The style (seaborn
``whitegrid``, ``notebook`` context) is applied inside each function, so importing this module
changes nothing; :func:`set_style` makes it the default for a notebook's own figures too.

Example::

    plots.plot_learning_curves(result.history, result.best_epoch,
                                save="02_dense_curves")
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colors as mcolors
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.metrics import precision_recall_curve, roc_curve

from xraylib import analysis, config, evaluate

STYLE = {"style": "whitegrid", "context": "notebook", "palette": "deep"}
#: One colour per class, the same in every figure.
CLASS_COLORS = dict(zip(config.CLASS_NAMES, sns.color_palette("deep")[:2], strict=True))
CURVES = (("loss", "loss"), ("accuracy", "accuracy"), ("auc", "ROC AUC"))
SPLIT_ORDER = ("train", "val", "test")


def set_style() -> None:
    """Make the project style the default for every later figure (used by ``setup()``).

    Example::

        plots.set_style()
    """
    sns.set_theme(**STYLE)


@contextmanager
def _styled() -> Iterator[None]:
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        yield


def save_fig(fig: Figure, name: str) -> Path:
    """Write ``fig`` to ``images/NAME.png`` (150 dpi, tight bounding box); return the path.

    Example::

        fig = plots.plot_confusion(cm)
        plots.save_fig(fig, "06_confusion_final")
        # PosixPath('.../images/06_confusion_final.png')
    """
    path = config.images_dir() / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


def _done(fig: Figure, save: str | None) -> Figure:
    if fig.get_layout_engine() is None:  # figures with colour bars use constrained layout
        fig.tight_layout()
    if save:
        save_fig(fig, save)
    return fig


def _as_curves(p: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One array or a mapping of name → array, as a mapping (``"model"`` for one array)."""
    return dict(p) if isinstance(p, Mapping) else {"model": np.asarray(p)}


def _note(ax: Axes, text: str, y: float = 0.5, x: float = 0.5) -> None:
    """A boxed remark at ``(x, y)`` of ``ax`` (axes coordinates; the middle by default)."""
    ax.text(
        x,
        y,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=11,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "gray", "alpha": 0.9},
    )


# --------------------------------------------------------------------------- the data


def plot_class_counts(frame: pd.DataFrame, by: str = "split", save: str | None = None) -> Figure:
    """Images per split and class: counts (left) and the class shares (right).

    ``by`` names the column that holds the split (``"split"``: the official folders;
    ``"subset"``: train/val/test after the grouped validation split).

    Example::

        found = data.load_scan()
        fig = plots.plot_class_counts(found.frame, save="01_class_counts")
        fig = plots.plot_class_counts(splits.frame, by="subset")
    """
    counts = pd.crosstab(frame[by], frame["label"]).reindex(
        columns=list(config.CLASS_NAMES), fill_value=0
    )
    counts = counts.reindex(
        [s for s in SPLIT_ORDER if s in counts.index]
        + [s for s in counts.index if s not in SPLIT_ORDER]
    )
    shares = counts.div(counts.sum(axis=1), axis=0)
    colors = [CLASS_COLORS[name] for name in counts.columns]
    with _styled():
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        counts.plot.bar(ax=left, color=colors, rot=0)
        for bars in left.containers:
            left.bar_label(bars, fontsize=9)
        left.set(title="images per split", xlabel="", ylabel="images")
        shares.plot.barh(ax=right, stacked=True, color=colors, legend=False)
        for bars in right.containers:
            right.bar_label(
                bars,
                labels=[f"{v:.0%}" for v in bars.datavalues],
                label_type="center",
                color="white",
                fontsize=9,
            )
        right.set(title="class share", xlabel="share of the split", ylabel="", xlim=(0, 1))
        right.invert_yaxis()
    return _done(fig, save)


def plot_image_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 6,
    value_range: tuple[float, float] | None = (0, 255),
    save: str | None = None,
) -> Figure:
    """Images in a grid, in gray, with optional titles.

    ``value_range`` maps pixel values to black and white (``(0, 255)`` shows true brightness,
    so brightness changes stay visible); ``None`` stretches each image to its own range.

    Example::

        labels = ["PNEUMONIA" if y else "NORMAL" for y in splits.y_train[:12]]
        fig = plots.plot_image_grid(splits.x_train[:12], titles=labels)
    """
    images = np.asarray(images)
    n = len(images)
    nrows, ncols = _grid_shape(n, ncols)
    vmin, vmax = value_range if value_range is not None else (None, None)
    with _styled():
        fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.4 * nrows), squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= n:
                fig.delaxes(ax)
                continue
            ax.axis("off")
            ax.imshow(images[i].squeeze(), cmap="gray", vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    return _done(fig, save)


def _grid_shape(n: int, ncols: int) -> tuple[int, int]:
    """Rows and columns for ``n`` panels, at most ``ncols`` wide: the width (down to two
    thirds of ``ncols``) that leaves the fewest empty cells, the wider of equals."""
    widest = max(1, min(ncols, n))
    widths = range(widest, max(1, int(np.ceil(2 * widest / 3))) - 1, -1)
    width = min(widths, key=lambda c: (int(np.ceil(n / c)) * c - n, -c))
    return int(np.ceil(n / width)), width


def plot_mean_difference(
    means: Sequence[np.ndarray],
    class_names: Sequence[str] = config.CLASS_NAMES,
    save: str | None = None,
) -> Figure:
    """The mean image of each of two classes (gray, true brightness 0–255) and their
    difference, second minus first, on a diverging colour map centred at 0 (red: brighter in
    the second class, blue: darker), with a colour bar in grey levels.

    Example::

        means = [images[labels == c].mean(axis=0) for c in config.CLASS_NAMES]
        fig = plots.plot_mean_difference(means, save="01_mean_images")
    """
    first, second = (np.asarray(m, float).squeeze() for m in means)
    difference = second - first
    limit = float(np.abs(difference).max()) or 1.0
    with _styled():
        fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), layout="constrained")
        for ax, image, name in zip(axes[:2], (first, second), class_names, strict=True):
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"mean {name}")
        shown = axes[2].imshow(difference, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[2].set_title(
            f"{class_names[1]} − {class_names[0]}\nred: brighter in {class_names[1]}, blue: darker"
        )
        for ax in axes:
            ax.axis("off")
        bar = fig.colorbar(shown, ax=axes[2], shrink=0.85)
        bar.set_label("difference (grey levels, of 0–255)")
    return _done(fig, save)


def plot_size_distribution(
    widths: Sequence[int], heights: Sequence[int], save: str | None = None
) -> Figure:
    """Image sizes on disk: width against height (left), aspect ratio (right).

    When every image has the same size (the redistributed copies are all 224×224) there is
    no spread to draw: the figure says so (``all N images are W×H``) instead of showing one
    lonely dot.

    Example::

        frame = data.load_scan().frame
        fig = plots.plot_size_distribution(frame.width, frame.height)
    """
    width, height = np.asarray(widths, float), np.asarray(heights, float)
    sizes = set(zip(width.tolist(), height.tolist(), strict=True))
    uniform = len(sizes) == 1
    with _styled():
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        if uniform:
            (w, h), n = next(iter(sizes)), len(width)
            left.scatter([w], [h], s=80, color=sns.color_palette()[0])
            left.set(xlim=(0, 1.5 * w), ylim=(0, 1.5 * h))
            _note(left, f"all {n} images are {w:g}×{h:g} px\n(no spread in size to show)", 0.8)
            right.bar([w / h], [n], width=0.03, color=sns.color_palette()[0])
            right.set(xlim=(w / h - 0.5, w / h + 0.5), ylim=(0, 1.3 * n))
            _note(right, f"all {n} images\nhave aspect ratio {w / h:.2f}", 0.6, 0.25)
        else:
            left.scatter(width, height, s=6, alpha=0.3)
            sns.histplot(width / height, bins=40, ax=right)
        left.set(title="image sizes on disk", xlabel="width (px)", ylabel="height (px)")
        right.axvline(1, color="gray", linestyle="--", label="square (what the model sees)")
        right.set(title="aspect ratio", xlabel="width / height", ylabel="images")
        right.legend(loc="upper right" if uniform else "best")
    return _done(fig, save)


def plot_patients_per_class(frame: pd.DataFrame, save: str | None = None) -> Figure:
    """Patients per class (left) and images per patient (right): why validation must be
    split by patient, not by image.

    Example::

        pool = splits.frame[splits.frame.subset != "test"]
        fig = plots.plot_patients_per_class(pool, save="01_patients_per_class")
    """
    per_patient = frame.groupby(["label", "patient_id"]).size().rename("images").reset_index()
    patients = per_patient["label"].value_counts().reindex(list(config.CLASS_NAMES), fill_value=0)
    with _styled():
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        bars = left.bar(
            patients.index,
            patients.to_numpy(),
            color=[CLASS_COLORS[name] for name in patients.index],
        )
        left.bar_label(bars)
        left.set(title="patients per class", ylabel="patients")
        sns.histplot(
            per_patient,
            x="images",
            hue="label",
            hue_order=list(config.CLASS_NAMES),
            palette=CLASS_COLORS,
            discrete=True,
            multiple="dodge",
            shrink=0.8,
            ax=right,
        )
        right.set_yscale("log")
        right.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        right.set(
            title="images per patient (log scale: the tail is a few patients)",
            xlabel="images of one patient",
            ylabel="patients (log scale)",
        )
    return _done(fig, save)


# --------------------------------------------------------------------------- training


#: The fixed y-range of each learning-curve panel, so that the curves of different trainings
#: can be compared at a glance; a point beyond it is drawn on the edge as a triangle with its
#: value written beside it (a single spike does not flatten the rest).
CURVE_RANGES = {"loss": (0.0, 0.8), "accuracy": (0.6, 1.0), "auc": (0.8, 1.0)}


def plot_learning_curves(
    history: pd.DataFrame,
    best_epoch: int | None = None,
    save: str | None = None,
    ylims: Mapping[str, tuple[float, float]] | None = CURVE_RANGES,
) -> Figure:
    """Loss, accuracy and ROC AUC per epoch, training against validation, with the epoch whose
    weights the model keeps marked.

    Each panel has the fixed y-range of ``ylims`` (by column; :data:`CURVE_RANGES`), the same
    for every training; ``None`` lets each panel fit its data. Points beyond the range sit on
    its edge as triangles with their values written. The legend is under the panels.

    Example::

        result = train.fit(model, splits)
        fig = plots.plot_learning_curves(result.history, result.best_epoch)
    """
    ranges = dict(ylims or {})
    with _styled():
        fig, axes = plt.subplots(
            1, len(CURVES), figsize=(4.2 * len(CURVES), 3.9), layout="constrained"
        )
        for ax, (column, title) in zip(axes, CURVES, strict=True):
            limits = ranges.get(column)
            for k, (name, label) in enumerate(
                ((column, "training"), (f"val_{column}", "validation"))
            ):
                _clipped_line(ax, history["epoch"], history[name], limits, label=label, slot=k)
            if best_epoch is not None:
                ax.axvline(best_epoch, color="gray", linestyle="--", label="weights kept")
            ax.set(title=title, xlabel="epoch")
            if limits is not None:
                ax.set_ylim(*_padded(limits))
        handles, labels = axes[0].get_legend_handles_labels()
        if ranges:
            handles.append(_marker_handle("^"))
            labels.append("beyond the fixed y-range (value written)")
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=9)
    return _done(fig, save)


def _padded(limits: tuple[float, float], share: float = 0.04) -> tuple[float, float]:
    """``limits`` widened by ``share`` of their span on each side (room for edge markers)."""
    low, high = limits
    pad = share * (high - low)
    return low - pad, high + pad


def _marker_handle(marker: str) -> Line2D:
    """A legend entry that shows only a gray ``marker``."""
    return Line2D([], [], color="gray", marker=marker, linestyle="none", markersize=8)


def _clipped_line(
    ax: Axes,
    x: pd.Series | np.ndarray,
    y: pd.Series | np.ndarray,
    limits: tuple[float, float] | None,
    label: str,
    slot: int = 0,
) -> None:
    """``y`` against ``x`` as a line with dots; with ``limits``, values beyond them are drawn
    on the nearer edge as a triangle (up: above, down: below) with the value written (the
    ``slot``-th line of several writes its values one row further from the edge)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if limits is None:
        ax.plot(x, y, marker="o", label=label)
        return
    low, high = limits
    shown = np.clip(y, low, high)
    (line,) = ax.plot(x, shown, marker="o", label=label)
    for above, edge in ((True, high), (False, low)):
        beyond = y > high if above else y < low
        if not beyond.any():
            continue
        ax.plot(
            x[beyond],
            shown[beyond],
            "^" if above else "v",
            color=line.get_color(),
            markersize=10,
            markeredgecolor="black",
            zorder=4,
        )
        for k, (x_value, value) in enumerate(zip(x[beyond], y[beyond], strict=True)):
            step = 9 * (k % 2) + 18 * slot  # neighbours' values one above the other
            ax.annotate(
                f"{value:.2f}",
                (x_value, edge),
                xytext=(6, -10 - step if above else 4 + step),
                textcoords="offset points",
                fontsize=8,
                color=line.get_color(),
            )


def _robust_limits(values: np.ndarray, floor: float | None = None) -> tuple[float, float]:
    """A y-range that holds the bulk of ``values`` (up to three interquartile ranges past the
    upper quartile) and ignores single spikes; ``floor`` is always inside it."""
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return (0.0, 1.0)
    lower, upper = np.quantile(finite, [0.25, 0.75])
    high = min(float(finite.max()), float(upper + 3 * (upper - lower)))
    low = float(finite.min())
    if floor is not None:
        low, high = min(low, floor), max(high, floor)
    span = (high - low) or 1.0
    return low - 0.05 * span, high + 0.05 * span


def plot_learning_curves_compare(
    histories: Mapping[str, pd.DataFrame], save: str | None = None
) -> Figure:
    """Several trainings side by side: validation log-loss (left) and the overfitting gap,
    validation loss minus training loss (right; growing means memorising).

    Both panels take a robust y-range (:func:`_robust_limits`): a single spike sits on the
    edge as a triangle with its value written, so it does not hide the difference.

    Example::

        histories = {"dense": dense_result.history, "cnn": cnn_result.history}
        fig = plots.plot_learning_curves_compare(histories)
    """
    losses = {name: history["val_loss"].to_numpy(float) for name, history in histories.items()}
    gaps = {name: losses[name] - h["loss"].to_numpy(float) for name, h in histories.items()}
    loss_range = _robust_limits(np.concatenate([*losses.values(), [0.0]]), floor=0.0)
    gap_range = _robust_limits(np.concatenate(list(gaps.values())), floor=0.0)
    with _styled():
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.3), layout="constrained")
        for k, (name, history) in enumerate(histories.items()):
            _clipped_line(left, history["epoch"], losses[name], loss_range, label=name, slot=k)
            _clipped_line(right, history["epoch"], gaps[name], gap_range, label=name, slot=k)
        left.set(title="validation log-loss (lower is better)", xlabel="epoch")
        right.axhline(0, color="gray", linewidth=1)
        right.set(title="overfitting gap (validation − training loss)", xlabel="epoch")
        for ax, limits in ((left, loss_range), (right, gap_range)):
            ax.set_ylim(*_padded(limits))
        handles, labels = left.get_legend_handles_labels()
        handles.append(_marker_handle("^"))
        labels.append("a spike beyond the range (value written)")
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=9)
    return _done(fig, save)


# --------------------------------------------------------------------------- evaluation


def plot_confusion(
    cm: np.ndarray,
    class_names: Sequence[str] = config.CLASS_NAMES,
    title: str | None = None,
    save: str | None = None,
) -> Figure:
    """A 2×2 confusion matrix as counts (left) and as rates of each true class (right).

    Example::

        cm = evaluate.confusion(splits.y_val, p_val, threshold=0.5)
        fig = plots.plot_confusion(cm, title="cnn · validation")
    """
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    labels = {"xticklabels": class_names, "yticklabels": class_names}
    with _styled():
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
        sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=left, **labels)
        sns.heatmap(
            rates,
            annot=True,
            fmt=".1%",
            cmap="Blues",
            vmin=0,
            vmax=1,
            cbar=False,
            ax=right,
            **labels,
        )
        left.set(title="counts", xlabel="predicted", ylabel="true")
        right.set(title="share of each true class", xlabel="predicted", ylabel="")
        if title:
            fig.suptitle(title)
    return _done(fig, save)


def plot_roc_pr(
    y: np.ndarray,
    p: np.ndarray | Mapping[str, np.ndarray],
    threshold: float | None = None,
    save: str | None = None,
) -> Figure:
    """ROC curve (left) and precision-recall curve (right) of one model or several (a mapping
    of name → probabilities), each with its operating point at ``threshold`` marked.

    Example::

        p_val = model.predict(splits.x_val).ravel()
        fig = plots.plot_roc_pr(splits.y_val, p_val, threshold=0.5)
        fig = plots.plot_roc_pr(y_test, {"plain": p_test, "AdaBN": p_adapted})
    """
    y = np.asarray(y)
    with _styled():
        fig, (roc, pr) = plt.subplots(1, 2, figsize=(11, 4.5))
        for name, probabilities in _as_curves(p).items():
            m = evaluate.compute_metrics(
                y, probabilities, threshold if threshold is not None else 0.5
            )
            fpr, tpr, _ = roc_curve(y, probabilities)
            (line,) = roc.plot(fpr, tpr, label=f"{name} (AUC {m['roc_auc']:.3f})")
            precision, recall, _ = precision_recall_curve(y, probabilities)
            pr.plot(
                recall, precision, color=line.get_color(), label=f"{name} (AP {m['pr_auc']:.3f})"
            )
            if threshold is not None:
                roc.plot(
                    1 - m["specificity"],
                    m["sensitivity"],
                    "o",
                    color=line.get_color(),
                    markersize=9,
                    markeredgecolor="black",
                )
                pr.plot(
                    m["sensitivity"],
                    m["precision"],
                    "o",
                    color=line.get_color(),
                    markersize=9,
                    markeredgecolor="black",
                )
        roc.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="chance")
        pr.axhline(
            y.mean(), color="gray", linestyle="--", linewidth=1, label=f"chance ({y.mean():.2f})"
        )
        roc.set(title="ROC", xlabel="1 − specificity", ylabel="sensitivity")
        pr.set(
            title="precision-recall",
            xlabel="recall (sensitivity)",
            ylabel="precision",
            ylim=(0, 1.02),
        )
        if threshold is not None:
            roc.plot(
                [],
                [],
                "o",
                color="white",
                markeredgecolor="black",
                label=f"threshold {threshold:.3f}",
            )
        roc.legend(fontsize=9, loc="lower right")
        pr.legend(fontsize=9, loc="lower left")
    return _done(fig, save)


def plot_threshold_tradeoff(
    y: np.ndarray, p: np.ndarray, threshold: float | None = None, save: str | None = None
) -> Figure:
    """Sensitivity and specificity as the threshold moves, with the chosen one marked.

    Example::

        threshold = evaluate.choose_threshold(splits.y_val, p_val)
        fig = plots.plot_threshold_tradeoff(splits.y_val, p_val, threshold)
    """
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    keep = np.isfinite(thresholds)
    with _styled():
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.step(thresholds[keep], tpr[keep], where="post", label="sensitivity")
        ax.step(thresholds[keep], 1 - fpr[keep], where="post", label="specificity")
        if threshold is not None:
            ax.axvline(
                threshold, color="gray", linestyle="--", label=f"chosen threshold {threshold:.3f}"
            )
        ax.set(
            title="the threshold trades sensitivity for specificity",
            xlabel="threshold on the probability of PNEUMONIA",
            ylabel="rate",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        ax.legend(loc="lower left")
    return _done(fig, save)


#: The fewest images a calibration bin should hold: fewer images get fewer bins.
MIN_PER_BIN = 5


def plot_calibration(
    y: np.ndarray, p: np.ndarray | Mapping[str, np.ndarray], bins: int = 10, save: str | None = None
) -> Figure:
    """Reliability diagram (observed share of PNEUMONIA against mean predicted probability,
    Brier score in the legend) above the histogram of the probabilities.

    The bins hold equal numbers of images (quantiles of each curve's probabilities), at most
    ``bins`` of them and fewer when the images are few (:data:`MIN_PER_BIN` at least in each),
    so no point rests on a handful of images. Each point's area says how many images its bin
    holds and its vertical bar the 95% (Wilson) interval of the observed share.

    Example::

        fig = plots.plot_calibration(splits.y_val, p_val, bins=10)
        curves = {"plain": p_test, "AdaBN": p_adapted}
        fig = plots.plot_calibration(y_test, curves)
    """
    curves = _as_curves(p)
    n = len(np.asarray(y))
    used = max(1, min(bins, n // MIN_PER_BIN))
    with _styled():
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(6.5, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        top.plot(
            [0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfectly calibrated"
        )
        for name, probabilities in curves.items():
            table = _equal_count_bins(y, probabilities, used)
            brier = evaluate.calibration(y, probabilities, bins).brier
            low, high = _wilson(table["fraction_positive"], table["count"])
            (line,) = top.plot(
                table["mean_predicted"],
                table["fraction_positive"],
                label=f"{name} (Brier {brier:.3f})",
            )
            top.scatter(
                table["mean_predicted"],
                table["fraction_positive"],
                s=20 + 180 * table["count"] / max(table["count"].max(), 1),
                color=line.get_color(),
                edgecolor="white",
                zorder=3,
            )
            top.errorbar(
                table["mean_predicted"],
                table["fraction_positive"],
                yerr=np.clip(
                    [table["fraction_positive"] - low, high - table["fraction_positive"]], 0, 1
                ),
                fmt="none",
                ecolor=line.get_color(),
                alpha=0.45,
                linewidth=1.5,
            )
            bottom.hist(
                probabilities,
                bins=np.linspace(0, 1, 11),
                histtype="step",
                linewidth=2,
                color=line.get_color(),
            )
        each = n // used
        top.set(
            title=f"calibration: {n} images in {used} equal-count bins (about {each} each)\n"
            "dot area: images in the bin · bars: 95% interval of the share",
            ylabel="observed share of PNEUMONIA",
            xlim=(0, 1),
            ylim=(-0.08, 1.08),
        )
        bottom.set(xlabel="predicted probability of PNEUMONIA", ylabel="images")
        bottom.yaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=4))
        top.legend(fontsize=9, loc="upper left")
    return _done(fig, save)


def _equal_count_bins(y: np.ndarray, p: np.ndarray, bins: int) -> pd.DataFrame:
    """Mean predicted probability, observed share of PNEUMONIA and image count in ``bins``
    bins of (about) equal counts, the images sorted by probability."""
    frame = pd.DataFrame({"y": np.asarray(y, float).ravel(), "p": np.asarray(p, float).ravel()})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    grouped = frame.groupby("bin")
    return pd.DataFrame(
        {
            "mean_predicted": grouped["p"].mean(),
            "fraction_positive": grouped["y"].mean(),
            "count": grouped["y"].size(),
        }
    ).reset_index(drop=True)


def _wilson(share: pd.Series, count: pd.Series, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a binomial share observed on ``count`` trials."""
    p, n = np.asarray(share, float), np.maximum(np.asarray(count, float), 1)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


#: Metrics where lower is better (losses); every other metric is "higher is better".
LOWER_IS_BETTER = ("log_loss", "brier", "stress_log_loss", "stress_brier")


def plot_model_comparison(
    metrics_df: pd.DataFrame, metric: str = "roc_auc", split: str = "val", save: str | None = None
) -> Figure:
    """One bar per model of ``metrics_df`` (a :func:`xraylib.results.load_metrics` table) on
    ``split``, best at the top, with the 95% bootstrap interval when the table has one and
    each value written past the end of its interval (a loss) or inside its bar (a score, whose
    axis ends at 1.0).

    Example::

        table = results.load_metrics()
        fig = plots.plot_model_comparison(table, metric="stress_log_loss")
    """
    lower = metric in LOWER_IS_BETTER
    rows = metrics_df[metrics_df["split"] == split].sort_values(metric, ascending=not lower)
    values = rows[metric].to_numpy(float)
    errors = None
    low, high = values, values
    if {f"{metric}_low", f"{metric}_high"} <= set(rows.columns):
        low = np.fmin(rows[f"{metric}_low"].to_numpy(float), values)
        high = np.fmax(rows[f"{metric}_high"].to_numpy(float), values)
        errors = np.nan_to_num(np.vstack([values - low, high - values]))
    ends = np.fmax(high, values)
    if not len(values):
        start, end = 0.0, 1.0
    elif lower:
        start, end = 0.0, float(np.nanmax(ends))
    else:
        start, end = max(0.0, float(np.nanmin(low)) - 0.1), float(np.nanmax(ends))
    span = (end - start) or 1.0
    with _styled():
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
        ax.barh(rows["model"], values, xerr=errors, capsize=4, color=sns.color_palette()[0])
        for y_position, (value, at) in enumerate(zip(values, ends, strict=True)):
            if lower:  # past the end of the interval
                ax.text(at + 0.01 * span, y_position, f"{value:.3f}", va="center", fontsize=9)
            else:  # inside the bar, at its base: the axis stops at 1.0
                ax.text(
                    start + 0.01 * span,
                    y_position,
                    f"{value:.3f}",
                    va="center",
                    fontsize=9,
                    color="white",
                    fontweight="bold",
                )
        better = "lower is better" if lower else "higher is better"
        ax.set(title=f"{metric} on {split} ({better})", xlabel=metric, ylabel="")
        # a loss gets room for the value written past each bar; a score stops at 1.0
        ax.set_xlim(start, end + 0.16 * span if lower else max(end, 1.0))
    return _done(fig, save)


def plot_seed_spread(
    rows: pd.DataFrame,
    metrics: str | Sequence[str] = ("stress_log_loss", "log_loss"),
    save: str | None = None,
    by: str = "design",
) -> Figure:
    """Each design's validation numbers over its seeds: one dot per seed with its value
    written under it, a bar for the seed mean (its value above) and a line from the lowest
    to the highest seed. ``rows`` are validation rows of
    :func:`xraylib.results.load_metrics` with a ``by`` column naming the design; two designs
    whose lines overlap are not told apart by these seeds.

    Example::

        rows = results.load_metrics().query("split == 'val' and notebook == '05'")
        fig = plots.plot_seed_spread(rows)
        fig = plots.plot_seed_spread(rows, "stress_log_loss")
    """
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    designs = list(dict.fromkeys(rows[by]))
    with _styled():
        fig, axes = plt.subplots(
            1,
            len(metrics),
            figsize=(max(5.8 * len(metrics), 7.5), 1.0 * len(designs) + 1.9),
            sharey=True,
        )
        for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
            every = rows[metric].to_numpy(float)
            smallest, largest = float(np.nanmin(every)), float(np.nanmax(every))
            span = (largest - smallest) or abs(largest) or 1.0
            for y, design in enumerate(designs):
                values = rows.loc[rows[by] == design, metric].to_numpy(float)
                color = sns.color_palette()[y % 10]
                ax.hlines(y, values.min(), values.max(), color=color, linewidth=2, alpha=0.6)
                ax.plot(values, np.full(values.size, y), "o", color=color, alpha=0.9)
                ax.plot(values.mean(), y, "|", color="black", markersize=18, markeredgewidth=2)
                ax.text(
                    values.mean(),
                    y - 0.2,
                    f"mean {values.mean():.3f} · {values.size} seeds",
                    ha="center",
                    fontsize=9,
                )
                _seed_labels(ax, values, y, 0.1 * span, color)
            better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
            ax.set(
                title=f"{metric} ({better})",
                xlabel=metric,
                xlim=(smallest - 0.12 * span, largest + 0.12 * span),
                yticks=range(len(designs)),
                yticklabels=designs,
                ylim=(len(designs) - 0.25, -0.6),  # the first design at the top
            )
        fig.suptitle("validation over seeds: dots = seeds (value under each), bar = mean")
    return _done(fig, save)


def _seed_labels(ax: Axes, values: np.ndarray, y: float, close: float, color) -> None:
    """Each seed's value under its dot; labels of seeds closer than ``close`` are stacked."""
    level, previous = 0, -np.inf
    for value in np.sort(values):
        level = level + 1 if value - previous < close else 0
        previous = value
        ax.text(
            value,
            y + 0.12 + 0.17 * (level % 3),
            f"{value:.3f}",
            ha="center",
            va="top",
            fontsize=8,
            color=color,
        )


STRESS_PANELS = (
    ("roc_auc", "ROC AUC (higher is better; its own narrow colour scale)", "rocket"),
    ("log_loss", "log-loss (lower is better; log colour scale)", "rocket_r"),
)


def plot_stress(table: pd.DataFrame, save: str | None = None) -> Figure:
    """Validation ROC AUC and log-loss of each model under each declared perturbation (a
    :func:`xraylib.results.load_stress` table: columns ``model, perturbation, roc_auc,
    log_loss``) as two heat tables: one row per perturbation, one column per model, every
    cell's value written in it (three decimals), darker = worse, the row's worst model in bold
    when it is the only one with that value as written (a tie is not bolded). Each panel has its
    own colour scale: ROC AUC from the table's lowest to its highest value. The row
    ``none`` (clean validation) is the reference above the line.

    Example::

        table = results.load_stress(["cnn_plain", "cnn_deeper"])
        fig = plots.plot_stress(table)
    """
    perturbations = list(dict.fromkeys(table["perturbation"]))
    names = list(dict.fromkeys(table["model"]))
    width = 2.0 + 2 * (0.95 * len(names) + 1.2)
    with _styled():
        fig, axes = plt.subplots(
            1,
            2,
            figsize=(max(width, 9.0), 0.36 * len(perturbations) + 2.8),
            layout="constrained",
        )
        for ax, (metric, title, cmap) in zip(axes, STRESS_PANELS, strict=True):
            grid = (
                table.pivot_table(index="perturbation", columns="model", values=metric)
                .reindex(index=perturbations, columns=names)
                .to_numpy(float)
            )
            lowest, highest = float(np.nanmin(grid)), float(np.nanmax(grid))
            if metric == "log_loss":
                norm: mcolors.Normalize = mcolors.LogNorm(min(lowest, 0.03), max(highest, 1.0))
            else:  # its own scale: the models' AUCs lie close together
                norm = mcolors.Normalize(lowest, highest if highest > lowest else lowest + 1e-3)
            _heat_table(ax, grid, norm, cmap, worst_is_high=metric == "log_loss")
            bar = fig.colorbar(ax.collections[0], ax=ax, shrink=0.7, pad=0.02, label=metric)
            if metric == "log_loss":
                bar.ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 3.0)))
                bar.ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                bar.ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set_xticks(np.arange(len(names)) + 0.5, [_wrap(name) for name in names], fontsize=8)
            ax.set_yticks(np.arange(len(perturbations)) + 0.5, perturbations)
            ax.tick_params(length=0)
            if "none" in perturbations:
                ax.axhline(perturbations.index("none") + 1, color="black", linewidth=1.5)
            ax.set_title(title)
        axes[1].set_yticklabels([])
        fig.suptitle(
            "stress validation: the validation images under acquisition-style changes\n"
            "darker = worse · bold = the row's worst model (none where several tie)"
        )
    return _done(fig, save)


def _wrap(name: str, width: int = 14) -> str:
    """A model name broken after underscores into lines of about ``width`` characters."""
    lines: list[str] = []
    for part in name.split("_"):
        if lines and len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += f"_{part}"
        else:
            lines.append(part)
    return "_\n".join(lines)


def _heat_table(
    ax: Axes, grid: np.ndarray, norm: mcolors.Normalize, cmap: str, worst_is_high: bool
) -> None:
    """``grid`` (rows × columns) as coloured cells with each value written in it, on an axis
    whose first row is at the top, each value with three decimals; the worst cell of each row
    bold when no other cell of the row is written the same (a tie is not bolded)."""
    colormap = sns.color_palette(cmap, as_cmap=True)
    ax.pcolormesh(grid, cmap=colormap, norm=norm, edgecolors="white", linewidth=1)
    ax.set(xlim=(0, grid.shape[1]), ylim=(grid.shape[0], 0))
    ax.grid(False)

    def written(value: float) -> str:
        return f"{value:.3f}"

    for i, row in enumerate(grid):
        finite = np.isfinite(row)
        worst = -1
        if finite.sum() > 1:
            worst = int(np.nanargmax(row) if worst_is_high else np.nanargmin(row))
            texts = [written(value) for value in row[finite]]
            if texts.count(written(row[worst])) > 1:  # a tie at the precision shown
                worst = -1
        for j, value in enumerate(row):
            if not finite[j]:
                continue
            red, green, blue, _ = colormap(norm(value))
            light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
            ax.text(
                j + 0.5,
                i + 0.5,
                written(value),
                ha="center",
                va="center",
                fontsize=9,
                fontweight="bold" if j == worst else "normal",
                color="black" if light else "white",
            )


def plot_threshold_spread(
    thresholds: np.ndarray, chosen: float, save: str | None = None, coverage: float = 0.95
) -> Figure:
    """Histogram of the thresholds chosen on bootstrap resamples of validation
    (:func:`xraylib.evaluate.threshold_spread`), with the chosen one and the central
    ``coverage`` of the resamples (``np.quantile`` at ``(1 ± coverage) / 2``, so a table
    printed with the same quantiles says the same numbers); the legend is under the axes.

    Example::

        spread = evaluate.threshold_spread(y_val, p_val, 0.97, groups=patients)
        fig = plots.plot_threshold_spread(spread, threshold, coverage=0.90)
    """
    tail = round((1 - coverage) / 2, 10)
    low, high = np.quantile(thresholds, [tail, 1 - tail])
    with _styled():
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        ax.hist(thresholds, bins=40, color=sns.color_palette()[0], alpha=0.8)
        ax.axvline(chosen, color="black", linestyle="--", label=f"chosen {chosen:.3f}")
        ax.axvspan(
            low,
            high,
            color="gray",
            alpha=0.15,
            label=f"{coverage:.0%} of resamples between {low:.3f} and {high:.3f}",
        )
        ax.set(
            title="how much the threshold depends on which children are in validation",
            xlabel="threshold chosen on a bootstrap resample of validation patients",
            ylabel="resamples",
        )
        fig.legend(loc="outside lower center", ncols=2, fontsize=9)
    return _done(fig, save)


# --------------------------------------------------------------------------- explanation


def plot_gradcam(
    images: np.ndarray,
    heatmaps: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    alpha: float = 0.4,
    save: str | None = None,
    true_labels: Sequence[str] | None = None,
    probabilities: Sequence[float] | np.ndarray | None = None,
    threshold: float = 0.5,
    title: str | None = None,
) -> Figure:
    """Each X-ray (gray) with its Grad-CAM heat map laid over it (red: most evidence), and a
    colour bar for the heat (0: none, 1: the most evidence in that image).

    Each panel's title is its line of ``titles`` (when given), then, with ``true_labels``
    and/or ``probabilities``, what the model was shown and what it said:
    ``"true NORMAL · p=0.61 → PNEUMONIA"`` (PNEUMONIA when ``p >= threshold``), in red when
    the answer is wrong. ``title`` goes above the whole figure.

    Example::

        heat = explain.grad_cam(model, splits.x_val[:8])
        fig = plots.plot_gradcam(splits.x_val[:8], heat, save="06_gradcam")
        truth = [config.CLASS_NAMES[v] for v in splits.y_val[:8]]
        fig = plots.plot_gradcam(splits.x_val[:8], heat, true_labels=truth,
                                 probabilities=p_val[:8], threshold=0.37)
    """
    n = len(images)
    nrows, ncols = _grid_shape(n, ncols)
    colormap = plt.get_cmap("jet")
    with _styled():
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(3 * ncols + 1.0, 3.3 * nrows + (0.4 if title else 0)),
            squeeze=False,
            layout="constrained",
        )
        for i, ax in enumerate(axes.flat):
            if i >= n:
                fig.delaxes(ax)
                continue
            ax.axis("off")
            ax.imshow(np.asarray(images[i]).squeeze(), cmap="gray", vmin=0, vmax=255)
            ax.imshow(heatmaps[i], cmap=colormap, alpha=alpha, vmin=0, vmax=1)
            text, wrong = _gradcam_title(i, titles, true_labels, probabilities, threshold)
            if text:
                ax.set_title(text, fontsize=9, color="firebrick" if wrong else "black")
        heat = plt.cm.ScalarMappable(norm=mcolors.Normalize(0, 1), cmap=colormap)
        bar = fig.colorbar(heat, ax=axes.flat[:n].tolist(), shrink=0.8, aspect=30, pad=0.02)
        bar.set_label("Grad-CAM heat (0 = none, 1 = most evidence)")
        if title:
            fig.suptitle(title)
    return _done(fig, save)


def _gradcam_title(
    i: int,
    titles: Sequence[str] | None,
    true_labels: Sequence[str] | None,
    probabilities: Sequence[float] | np.ndarray | None,
    threshold: float,
) -> tuple[str, bool]:
    """Panel ``i``'s title for :func:`plot_gradcam` and whether the model's answer is wrong."""
    lines = [str(titles[i])] if titles is not None else []
    parts, wrong = [], False
    if true_labels is not None:
        parts.append(f"true {true_labels[i]}")
    if probabilities is not None:
        p = float(probabilities[i])
        predicted = config.CLASS_NAMES[int(p >= threshold)]
        parts.append(f"p={p:.2f} → {predicted}")
        if true_labels is not None and true_labels[i] in config.CLASS_NAMES:
            wrong = true_labels[i] != predicted
    if parts:
        lines.append(" · ".join(parts))
    return "\n".join(lines), wrong


# --------------------------------------------------------------------------- hyper-parameter search


def plot_search_effects(
    trials: pd.DataFrame,
    objective: str = "stress_log_loss",
    highlight: str | None = None,
    save: str | None = None,
    exclude: Sequence[str] = (),
    highlight_label: str = "hand-made configuration",
) -> Figure:
    """What a hyper-parameter search learned, at a glance: one small panel per
    hyper-parameter, the ``objective`` (y, lower is better, the same scale in every panel)
    against the hyper-parameter's value (x: a column of dots per choice, a logarithmic axis
    for rates and penalties), the panels ordered by how much the hyper-parameter moved the
    objective, that effect written in each panel's title.

    * **Trials**: the COMPLETED trials of the final round, the largest epoch budget that at
      least two trials reached (shorter Hyperband trials score worse for being short and
      would swamp the comparison); all completed trials when no budget has two. The
      subtitle says which.
    * **Effect**: how far apart the medians of the objective lie across the values tried
      (black ticks; for a continuous hyper-parameter, across the thirds of the trials sorted
      by it, grey lines, with Spearman's ρ). With a handful of trials this is a hint, not a
      measurement: read it with the number of trials in the subtitle.
    * ``highlight``: a ``trial_id`` (e.g. the hand-made configuration's trial) marked in every
      panel with a star and a legend entry ``highlight_label``.
    * Hyper-parameters are :func:`xraylib.tuning.hyperparameter_names` less ``exclude`` and
      any result-like column (``handmade``, ``val_*``, ``stress_*``).

    Example::

        handmade = trials.loc[trials.handmade.astype(bool), "trial_id"].iloc[0]
        fig = plots.plot_search_effects(trials, highlight=handmade,
                                        save="05_search_effects")
    """
    names = analysis.hyperparameter_columns(trials, exclude=(objective, *exclude))
    done = _rounded(analysis.completed_trials(trials), names)
    done = done[done[objective].notna()]
    shown, subtitle, dots = analysis.final_round(done)
    effects = {name: analysis.effect(name, shown[name], shown[objective]) for name in names}
    names.sort(key=lambda name: -np.nan_to_num(effects[name].size, nan=-1.0))
    marked = done[_is_trial(done.trial_id, highlight)] if highlight is not None else None
    columns = min(4, max(len(names), 1))
    rows = int(np.ceil(len(names) / columns)) or 1
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(shown))
    with _styled():
        fig, axes = plt.subplots(
            rows,
            columns,
            sharey=True,
            squeeze=False,
            figsize=(3.4 * columns, 2.9 * rows + 1.4),
            layout="constrained",
        )
        for ax, name in zip(axes.flat, names, strict=False):
            values = shown[name]
            if marked is not None and len(marked):
                values = pd.concat([values, marked[name]])
            x = _trial_positions(
                ax, name, values, np.r_[jitter, np.zeros(len(values) - len(jitter))]
            )
            plain = ~_is_trial(shown.trial_id, highlight)  # the highlighted one is a star
            ax.scatter(
                x[: len(shown)][plain],
                shown[objective][plain],
                s=30,
                alpha=0.8,
                color=sns.color_palette()[0],
                label=dots,
            )
            effect = effects[name]
            levels = sorted(values.dropna().unique())
            segments = effect.segments or [
                (levels.index(level) - 0.3, levels.index(level) + 0.3, median)
                for level, median in effect.medians.items()
            ]
            spread = float(np.ptp(values.to_numpy(float))) if effect.segments else 0.0
            color = "gray" if effect.segments else "black"  # thirds of the trials, or values
            for x0, x1, median in segments:
                if _trials_between(x0, x1, x[: len(shown)], bool(effect.segments)) < FEW_FOR_MEDIAN:
                    continue  # the dots say it: a median of a few trials would over-state it
                if x0 == x1 and ax.get_xscale() == "log":  # a third of one trial: widen it
                    x0, x1 = x0 / 1.2, x1 * 1.2
                elif x0 == x1:
                    x0, x1 = x0 - 0.04 * spread, x1 + 0.04 * spread
                ax.hlines(
                    median,
                    x0,
                    x1,
                    color=color,
                    linewidth=2.5,
                    zorder=3,
                )
            if marked is not None and len(marked):
                ax.scatter(
                    x[len(shown) :],
                    marked[objective],
                    marker="*",
                    s=220,
                    color="gold",
                    edgecolor="black",
                    zorder=5,
                    label=_highlight_label(highlight_label, marked, shown),
                )
            ax.set_title(f"{name}\n{effect.text}", fontsize=10)
        for ax in axes.flat[max(len(names), 1) :]:
            fig.delaxes(ax)
        for ax in axes[:, 0]:
            ax.set_ylabel(f"{objective}\n(lower is better)")
        if not names:
            _note(axes.flat[0], "no hyper-parameter columns in the table")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=9)
        fig.suptitle(
            f"{objective} against each hyper-parameter, panels by effect; {subtitle}\n"
            f"lines: medians of ≥{FEW_FOR_MEDIAN} trials (black: per value, grey: per third) · "
            "ρ: Spearman rank correlation",
            fontsize=11,
        )
    return _done(fig, save)


#: A value (or third of the trials) with fewer trials shows its dots without a median line.
FEW_FOR_MEDIAN = 5


def _rounded(trials: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``trials`` with float hyper-parameters rounded to 10 significant digits, so that
    ``0.3`` and ``0.30000000000000004`` are one value (one tick, one median)."""
    floats = [name for name in names if name in trials and trials[name].dtype.kind == "f"]
    return trials.assign(
        **{name: trials[name].map(lambda v: float(f"{v:.10g}")) for name in floats}
    )


def _trials_between(x0: float, x1: float, x: np.ndarray, continuous: bool) -> int:
    """How many trials a median line from ``x0`` to ``x1`` rests on: those whose position
    ``x`` lies between (a continuous value's third) or within its jittered column."""
    if continuous:
        return int(((x >= x0) & (x <= x1)).sum())
    centre = (x0 + x1) / 2
    return int((np.abs(x - centre) < 0.3).sum())


def _is_trial(ids: pd.Series, trial_id: object) -> np.ndarray:
    """Which of ``ids`` is ``trial_id``, whether either is written ``"0016"`` or ``16``."""
    if trial_id is None:
        return np.zeros(len(ids), bool)
    text = ids.astype(str).str.lstrip("0").replace("", "0")
    wanted = str(trial_id).lstrip("0") or "0"
    return (text == wanted).to_numpy()


def _highlight_label(label: str, marked: pd.DataFrame, shown: pd.DataFrame) -> str:
    """The legend entry of the highlighted trial, with its budget when it is not the shown
    round's."""
    row = marked.iloc[0]
    text = f"{label} (trial {row.trial_id})"
    budget = "epoch_budget" if "epoch_budget" in marked else "epochs"
    if len(shown) and row[budget] != shown[budget].iloc[0]:
        text += f", {row[budget]:g} epochs"
    return text


def _label(value: object) -> str:
    """A tick label: numbers with ``:g`` (0.0001, 1e-05, 16), anything else as text."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.number):
        return f"{float(value):g}"
    return str(value)


def _trial_positions(ax: Axes, name: str, values: pd.Series, jitter: np.ndarray) -> np.ndarray:
    """x positions of one hyper-parameter's panel, with readable ticks: a log axis for rates
    and penalties, a plain one for other many-valued numbers (4 ticks at most), else one
    jittered column per value, labelled with ``:g``."""
    kind = analysis.value_kind(name, values)
    formatter = ticker.FuncFormatter(lambda v, _: f"{v:g}")
    if kind == "log":
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 3.0), numticks=6))
        ax.xaxis.set_major_formatter(formatter)
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.tick_params(axis="x", labelrotation=35, labelsize=8)
        low, high = float(values.min()), float(values.max())
        ax.set_xlim(low / 1.6, high * 1.6)
        return values.to_numpy(float)
    if kind == "linear":
        ax.xaxis.set_major_locator(ticker.MaxNLocator(4))
        ax.xaxis.set_major_formatter(formatter)
        return values.to_numpy(float)
    levels = sorted(values.dropna().unique())
    labels = [_label(level) for level in levels]
    ax.set_xticks(range(len(levels)), labels)
    ax.set_xlim(-0.6, len(levels) - 0.4)
    if len(levels) > 4 or max((len(label) for label in labels), default=0) > 5:
        ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    return values.map({level: i for i, level in enumerate(levels)}).to_numpy(float) + jitter


# --------------------------------------------------------------------------- input quality


#: Below this many images a set of scores is drawn as individual points, not a histogram.
FEW_IMAGES = 50


def plot_ood_scores(
    reference: np.ndarray,
    scores: np.ndarray | Mapping[str, np.ndarray],
    threshold: float,
    save: str | None = None,
) -> Figure:
    """Out-of-distribution scores (:mod:`xraylib.quality`) of one or more sets of images
    against those of the validation images (``reference``, out of fold), with the gate's
    threshold; logarithmic axis. Sets of :data:`FEW_IMAGES` images or more are histograms,
    each as a share of its images, one panel per set over the validation histogram in gray
    (small multiples: overlaid histograms hide each other), the legend under the panels; a
    smaller set (a folder of 19 images) is one dot per image in a strip under them, with how
    many lie above the threshold — a histogram of a dozen images shows bins, not a
    distribution.

    Example::

        fig = plots.plot_ood_scores(gate.reference_scores, table.ood_score,
                                    gate.threshold)
    """
    named = scores if isinstance(scores, Mapping) else {"your images": scores}
    curves = {"validation": np.asarray(reference, float)}
    for name, values in named.items():
        values = np.asarray(values, float)
        curves[name] = values[np.isfinite(values)]
    few = {name: v for name, v in curves.items() if name != "validation" and len(v) < FEW_IMAGES}
    many = {name: v for name, v in curves.items() if name not in few}
    every = np.concatenate([*curves.values(), [threshold]])
    every = every[every > 0]
    bins = np.geomspace(every.min() * 0.9, every.max() * 1.1, 40).tolist()
    palette = dict(zip(curves, sns.color_palette("deep", len(curves)), strict=True))
    sets = [name for name in many if name != "validation"] or ["validation"]
    heights = [2.0] * len(sets) + ([0.6 + 0.45 * len(few)] if few else [])
    with _styled():
        fig, axes = plt.subplots(
            len(heights),
            1,
            sharex=True,
            squeeze=False,
            figsize=(8, 1.9 * len(sets) + 2.0 + (0.6 + 0.45 * len(few) if few else 0)),
            gridspec_kw={"height_ratios": heights},
            layout="constrained",
        )
        panels = list(axes[:, 0])
        for ax, name in zip(panels, sets, strict=False):
            _share_histogram(ax, curves["validation"], bins, "validation", "lightgray", True)
            if name != "validation":
                _share_histogram(ax, many[name], bins, name, palette[name], False)
                above = int((many[name] > threshold).sum())
                ax.set_title(
                    f"{name}: {len(many[name])} images, {above} above the threshold",
                    fontsize=10,
                    loc="left",
                )
            ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.1f}")
            ax.set(xscale="log", ylabel="share of images")
        fig.suptitle("how far from the validation X-rays (out-of-distribution score)")
        own = f"{sets[0]} (" if sets[0] != "validation" else None  # said in its panel's title
        pairs = zip(*panels[0].get_legend_handles_labels(), strict=True)
        handles, labels = map(
            list,
            zip(*[(h, t) for h, t in pairs if own is None or not t.startswith(own)], strict=True),
        )
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=9)
        bottom = panels[-1]
        if few:
            _score_strip(bottom, few, threshold, palette)
        bottom.set_xlabel("Mahalanobis distance of the penultimate-layer features (log scale)")
        bottom.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        bottom.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        bottom.xaxis.set_minor_formatter(ticker.NullFormatter())
    return _done(fig, save)


def _share_histogram(
    ax: Axes, values: np.ndarray, bins: list[float], name: str, color, filled: bool
) -> None:
    """``values`` as a histogram of shares (each bar: the share of the set's images in it),
    filled (the reference) or as a step line."""
    ax.hist(
        values,
        bins=bins,
        weights=np.full(len(values), 1 / max(len(values), 1)),
        histtype="stepfilled" if filled else "step",
        linewidth=2,
        color=color,
        label=f"{name} ({len(values)})",
    )


def _score_strip(
    ax: Axes, sets: Mapping[str, np.ndarray], threshold: float, palette: Mapping
) -> None:
    """One row of dots per set (one dot per image), the threshold, and each set's count
    above it."""
    jitter = np.random.default_rng(0)
    for row, (name, values) in enumerate(sets.items()):
        ax.scatter(
            values,
            row + jitter.uniform(-0.18, 0.18, len(values)),
            s=28,
            alpha=0.85,
            color=palette[name],
            edgecolor="black",
            linewidth=0.5,
        )
    ax.axvline(threshold, color="black", linestyle="--")
    ax.set_yticks(
        range(len(sets)),
        [
            f"{name} ({len(v)})\n{int((v > threshold).sum())} above threshold"
            for name, v in sets.items()
        ],
    )
    ax.set_ylim(len(sets) - 0.5, -0.5)
    ax.grid(False, axis="y")
    ax.set_title("few images: one dot per image", fontsize=10, loc="left")
