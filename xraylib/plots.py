"""Every figure of the project, in one style.

Each ``plot_*`` function takes data, returns the matplotlib ``Figure`` and, given
``save="NAME"``, also writes ``images/NAME.png`` (:func:`save_fig`). The style (seaborn
``whitegrid``, ``notebook`` context) is applied inside each function, so importing this module
changes nothing; :func:`set_style` makes it the default for a notebook's own figures too.

>>> plots.plot_learning_curves(result.history, result.best_epoch,
...                             save="02_dense_curves")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from xraylib import config, evaluate

STYLE = {"style": "whitegrid", "context": "notebook", "palette": "deep"}
#: One colour per class, the same in every figure.
CLASS_COLORS = dict(zip(config.CLASS_NAMES, sns.color_palette("deep")[:2], strict=True))
CURVES = (("loss", "loss"), ("accuracy", "accuracy"), ("auc", "ROC AUC"))
SPLIT_ORDER = ("train", "val", "test")


def set_style() -> None:
    """Make the project style the default for every later figure (used by ``setup()``).

    >>> plots.set_style()  # doctest: +SKIP
    """
    sns.set_theme(**STYLE)


@contextmanager
def _styled() -> Iterator[None]:
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        yield


def save_fig(fig: Figure, name: str) -> Path:
    """Write ``fig`` to ``images/NAME.png`` (150 dpi, tight bounding box); return the path.

    >>> fig = plots.plot_confusion(cm)  # doctest: +SKIP
    >>> plots.save_fig(fig, "06_confusion_final")  # doctest: +SKIP
    PosixPath('.../images/06_confusion_final.png')
    """
    path = config.images_dir() / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


def _done(fig: Figure, save: str | None) -> Figure:
    fig.tight_layout()
    if save:
        save_fig(fig, save)
    return fig


def _as_curves(p: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One array or a mapping of name → array, as a mapping (``"model"`` for one array)."""
    return dict(p) if isinstance(p, Mapping) else {"model": np.asarray(p)}


# --------------------------------------------------------------------------- the data


def plot_class_counts(frame: pd.DataFrame, by: str = "split", save: str | None = None) -> Figure:
    """Images per split and class: counts (left) and the class shares (right).

    ``by`` names the column that holds the split (``"split"``: the official folders;
    ``"subset"``: train/val/test after the grouped validation split).

    >>> found = data.load_scan()  # doctest: +SKIP
    >>> fig = plots.plot_class_counts(found.frame, save="01_class_counts")  # doctest: +SKIP
    >>> fig = plots.plot_class_counts(splits.frame, by="subset")  # doctest: +SKIP
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

    >>> labels = ["PNEUMONIA" if y else "NORMAL" for y in splits.y_train[:12]]  # doctest: +SKIP
    >>> fig = plots.plot_image_grid(splits.x_train[:12], titles=labels)  # doctest: +SKIP
    """
    images = np.asarray(images)
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    vmin, vmax = value_range if value_range is not None else (None, None)
    with _styled():
        fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.4 * nrows), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                ax.imshow(images[i].squeeze(), cmap="gray", vmin=vmin, vmax=vmax)
                if titles is not None:
                    ax.set_title(titles[i], fontsize=9)
    return _done(fig, save)


def plot_size_distribution(
    widths: Sequence[int], heights: Sequence[int], save: str | None = None
) -> Figure:
    """Original image sizes: width against height (left), aspect ratio (right).

    >>> frame = data.load_scan().frame  # doctest: +SKIP
    >>> fig = plots.plot_size_distribution(frame.width, frame.height)  # doctest: +SKIP
    """
    width, height = np.asarray(widths, float), np.asarray(heights, float)
    with _styled():
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        left.scatter(width, height, s=6, alpha=0.3)
        left.set(title="original sizes", xlabel="width (px)", ylabel="height (px)")
        sns.histplot(width / height, bins=40, ax=right)
        right.axvline(1, color="gray", linestyle="--", label="square (what the model sees)")
        right.set(title="aspect ratio", xlabel="width / height", ylabel="images")
        right.legend()
    return _done(fig, save)


def plot_patients_per_class(frame: pd.DataFrame, save: str | None = None) -> Figure:
    """Patients per class (left) and images per patient (right): why validation must be
    split by patient, not by image.

    >>> pool = splits.frame[splits.frame.subset != "test"]  # doctest: +SKIP
    >>> fig = plots.plot_patients_per_class(pool, save="01_patients_per_class")  # doctest: +SKIP
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
        right.set(title="images per patient", xlabel="images of one patient", ylabel="patients")
    return _done(fig, save)


# --------------------------------------------------------------------------- training


def plot_learning_curves(
    history: pd.DataFrame, best_epoch: int | None = None, save: str | None = None
) -> Figure:
    """Loss, accuracy and ROC AUC per epoch, training against validation, with the epoch whose
    weights the model keeps marked.

    >>> result = train.fit(model, splits)  # doctest: +SKIP
    >>> fig = plots.plot_learning_curves(result.history, result.best_epoch)  # doctest: +SKIP
    """
    with _styled():
        fig, axes = plt.subplots(1, len(CURVES), figsize=(4.2 * len(CURVES), 3.6))
        for ax, (column, title) in zip(axes, CURVES, strict=True):
            ax.plot(history["epoch"], history[column], marker="o", label="training")
            ax.plot(history["epoch"], history[f"val_{column}"], marker="o", label="validation")
            if best_epoch is not None:
                ax.axvline(best_epoch, color="gray", linestyle="--", label="weights kept")
            ax.set(title=title, xlabel="epoch")
        axes[0].legend()
    return _done(fig, save)


def plot_learning_curves_compare(
    histories: Mapping[str, pd.DataFrame], save: str | None = None
) -> Figure:
    """Several trainings side by side: validation log-loss (left) and the overfitting gap,
    validation loss minus training loss (right; growing means memorising).

    >>> histories = {"dense": dense_result.history, "cnn": cnn_result.history}  # doctest: +SKIP
    >>> fig = plots.plot_learning_curves_compare(histories)  # doctest: +SKIP
    """
    with _styled():
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
        for name, history in histories.items():
            left.plot(history["epoch"], history["val_loss"], marker="o", label=name)
            right.plot(
                history["epoch"], history["val_loss"] - history["loss"], marker="o", label=name
            )
        left.set(title="validation log-loss (lower is better)", xlabel="epoch")
        right.axhline(0, color="gray", linewidth=1)
        right.set(title="overfitting gap (validation − training loss)", xlabel="epoch")
        left.legend(fontsize=9)
    return _done(fig, save)


# --------------------------------------------------------------------------- evaluation


def plot_confusion(
    cm: np.ndarray,
    class_names: Sequence[str] = config.CLASS_NAMES,
    title: str | None = None,
    save: str | None = None,
) -> Figure:
    """A 2×2 confusion matrix as counts (left) and as rates of each true class (right).

    >>> cm = evaluate.confusion(splits.y_val, p_val, threshold=0.5)  # doctest: +SKIP
    >>> fig = plots.plot_confusion(cm, title="cnn · validation")  # doctest: +SKIP
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

    >>> p_val = model.predict(splits.x_val).ravel()  # doctest: +SKIP
    >>> fig = plots.plot_roc_pr(splits.y_val, p_val, threshold=0.5)  # doctest: +SKIP
    >>> fig = plots.plot_roc_pr(y_test, {"plain": p_test, "AdaBN": p_adapted})  # doctest: +SKIP
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

    >>> threshold = evaluate.choose_threshold(splits.y_val, p_val)  # doctest: +SKIP
    >>> fig = plots.plot_threshold_tradeoff(splits.y_val, p_val, threshold)  # doctest: +SKIP
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


def plot_calibration(
    y: np.ndarray, p: np.ndarray | Mapping[str, np.ndarray], bins: int = 10, save: str | None = None
) -> Figure:
    """Reliability diagram (observed share of PNEUMONIA against mean predicted probability,
    Brier score in the legend) above the histogram of the probabilities.

    >>> fig = plots.plot_calibration(splits.y_val, p_val, bins=10)  # doctest: +SKIP
    >>> curves = {"plain": p_test, "AdaBN": p_adapted}  # doctest: +SKIP
    >>> fig = plots.plot_calibration(y_test, curves)  # doctest: +SKIP
    """
    with _styled():
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(6, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        top.plot(
            [0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfectly calibrated"
        )
        for name, probabilities in _as_curves(p).items():
            result = evaluate.calibration(y, probabilities, bins)
            (line,) = top.plot(
                result.table["mean_predicted"],
                result.table["fraction_positive"],
                marker="o",
                label=f"{name} (Brier {result.brier:.3f})",
            )
            bottom.hist(
                probabilities,
                bins=np.linspace(0, 1, bins + 1),
                histtype="step",
                linewidth=2,
                color=line.get_color(),
            )
        top.set(title="calibration", ylabel="observed share of PNEUMONIA", xlim=(0, 1), ylim=(0, 1))
        bottom.set(xlabel="predicted probability of PNEUMONIA", ylabel="images")
        top.legend(fontsize=9, loc="upper left")
    return _done(fig, save)


#: Metrics where lower is better (losses); every other metric is "higher is better".
LOWER_IS_BETTER = ("log_loss", "brier", "stress_log_loss", "stress_brier")


def plot_model_comparison(
    metrics_df: pd.DataFrame, metric: str = "roc_auc", split: str = "val", save: str | None = None
) -> Figure:
    """One bar per model of ``metrics_df`` (a :func:`xraylib.results.load_metrics` table) on
    ``split``, best at the top, with the 95% bootstrap interval when the table has one.

    >>> table = results.load_metrics()  # doctest: +SKIP
    >>> fig = plots.plot_model_comparison(table, metric="stress_log_loss")  # doctest: +SKIP
    """
    lower = metric in LOWER_IS_BETTER
    rows = metrics_df[metrics_df["split"] == split].sort_values(metric, ascending=not lower)
    values = rows[metric].to_numpy(float)
    errors = None
    if {f"{metric}_low", f"{metric}_high"} <= set(rows.columns):
        low, high = rows[f"{metric}_low"].to_numpy(float), rows[f"{metric}_high"].to_numpy(float)
        errors = np.nan_to_num(np.vstack([values - low, high - values]))
    if lower:
        limits = (0.0, float(np.nanmax(values)) * 1.2 if len(values) else 1.0)
    else:
        limits = (max(0.0, np.nanmin(values) - 0.1) if len(values) else 0, 1.0)
    with _styled():
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
        ax.barh(rows["model"], values, xerr=errors, capsize=4, color=sns.color_palette()[0])
        for y_position, value in enumerate(values):
            ax.text(value, y_position, f" {value:.3f}", va="bottom", fontsize=9)
        better = "lower is better" if lower else "higher is better"
        ax.set(title=f"{metric} on {split} ({better})", xlabel=metric, ylabel="", xlim=limits)
    return _done(fig, save)


def plot_seed_spread(
    rows: pd.DataFrame,
    metrics: Sequence[str] = ("stress_log_loss", "log_loss"),
    save: str | None = None,
) -> Figure:
    """Each design's validation numbers over its seeds: one dot per seed, a bar for the seed
    mean and a line from the lowest to the highest seed. ``rows`` are validation rows of
    :func:`xraylib.results.load_metrics` with a ``design`` column; two designs whose lines
    overlap are not told apart by these seeds.

    >>> rows = results.load_metrics().query("split == 'val' and notebook == '05'")  # doctest: +SKIP
    >>> fig = plots.plot_seed_spread(rows)  # doctest: +SKIP
    """
    designs = list(dict.fromkeys(rows["design"]))
    with _styled():
        fig, axes = plt.subplots(
            1, len(metrics), figsize=(5.5 * len(metrics), 0.7 * len(designs) + 1.8), sharey=True
        )
        for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
            for y, design in enumerate(designs):
                values = rows.loc[rows["design"] == design, metric].to_numpy(float)
                color = sns.color_palette()[y % 10]
                ax.hlines(y, values.min(), values.max(), color=color, linewidth=2, alpha=0.6)
                ax.plot(values, np.full(values.size, y), "o", color=color, alpha=0.9)
                ax.plot(values.mean(), y, "|", color="black", markersize=18, markeredgewidth=2)
                ax.text(
                    values.mean(),
                    y + 0.25,
                    f"mean {values.mean():.3f} · {values.size} seeds",
                    ha="center",
                    fontsize=9,
                )
            better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
            ax.set(
                title=f"{metric} ({better})",
                xlabel=metric,
                yticks=range(len(designs)),
                yticklabels=designs,
                ylim=(-0.6, len(designs) - 0.4),
            )
        fig.suptitle("validation over seeds: dots = seeds, bar = mean, line = range")
    return _done(fig, save)


def plot_stress(table: pd.DataFrame, save: str | None = None) -> Figure:
    """Validation ROC AUC and log-loss of each model under each declared perturbation (a
    :func:`xraylib.experiment.load_stress` table: columns ``model, perturbation, roc_auc,
    log_loss``): one row per perturbation, one marker per model.

    >>> table = experiment.load_stress(["cnn_plain", "cnn_deeper"])  # doctest: +SKIP
    >>> fig = plots.plot_stress(table)  # doctest: +SKIP
    """
    perturbations = list(dict.fromkeys(table["perturbation"]))
    names = list(dict.fromkeys(table["model"]))
    positions = {name: i for i, name in enumerate(perturbations)}
    colors = sns.color_palette("deep", len(names))
    with _styled():
        fig, axes = plt.subplots(1, 2, figsize=(12, 0.42 * len(perturbations) + 1.8), sharey=True)
        for color, name in zip(colors, names, strict=True):
            rows = table[table["model"] == name]
            y = rows["perturbation"].map(positions).to_numpy(float)
            for ax, metric in zip(axes, ("roc_auc", "log_loss"), strict=True):
                ax.plot(rows[metric], y, "o", color=color, label=name, alpha=0.85)
        axes[0].set(
            yticks=range(len(perturbations)),
            yticklabels=perturbations,
            title="ROC AUC (higher is better)",
            xlabel="ROC AUC",
        )
        axes[1].set(title="log-loss (lower is better)", xlabel="log-loss")
        axes[0].invert_yaxis()
        axes[1].legend(loc="lower right", fontsize=9)
        fig.suptitle("stress validation: the validation images under acquisition-style changes")
    return _done(fig, save)


def plot_threshold_spread(thresholds: np.ndarray, chosen: float, save: str | None = None) -> Figure:
    """Histogram of the thresholds chosen on bootstrap resamples of validation
    (:func:`xraylib.evaluate.threshold_spread`), with the chosen one and the 95% range.

    >>> spread = evaluate.threshold_spread(y_val, p_val, 0.97, groups=patients)  # doctest: +SKIP
    >>> fig = plots.plot_threshold_spread(spread, threshold)  # doctest: +SKIP
    """
    low, high = np.quantile(thresholds, [0.025, 0.975])
    with _styled():
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.hist(thresholds, bins=40, color=sns.color_palette()[0], alpha=0.8)
        ax.axvline(chosen, color="black", linestyle="--", label=f"chosen {chosen:.3f}")
        ax.axvspan(
            low, high, color="gray", alpha=0.15, label=f"95% of resamples {low:.3f}–{high:.3f}"
        )
        ax.set(
            title="how much the threshold depends on which children are in validation",
            xlabel="threshold chosen on a bootstrap resample of validation patients",
            ylabel="resamples",
        )
        ax.legend(loc="upper left", fontsize=9)
    return _done(fig, save)


# --------------------------------------------------------------------------- explanation


def plot_gradcam(
    images: np.ndarray,
    heatmaps: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    alpha: float = 0.4,
    save: str | None = None,
) -> Figure:
    """Each X-ray (gray) with its Grad-CAM heat map laid over it (red: most evidence).

    >>> heat = explain.grad_cam(model, splits.x_val[:8])  # doctest: +SKIP
    >>> fig = plots.plot_gradcam(splits.x_val[:8], heat, save="06_gradcam")  # doctest: +SKIP
    """
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    with _styled():
        fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3.2 * nrows), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                ax.imshow(np.asarray(images[i]).squeeze(), cmap="gray", vmin=0, vmax=255)
                ax.imshow(heatmaps[i], cmap="jet", alpha=alpha, vmin=0, vmax=1)
                if titles is not None:
                    ax.set_title(titles[i], fontsize=9)
    return _done(fig, save)


# --------------------------------------------------------------------------- hyper-parameter search


def plot_trials(trials: pd.DataFrame, save: str | None = None) -> Figure:
    """Validation log-loss (the search's objective, lower is better) of every completed trial
    of a :func:`xraylib.tuning.search`, in the order the trials started: one colour per tuner
    (machine), marker size by epochs trained, and the best so far as a line.

    >>> result = tuning.search(splits, overwrite=True)  # doctest: +SKIP
    >>> fig = plots.plot_trials(result.trials, save="05_trials_val_loss")  # doctest: +SKIP
    """
    done = _completed_trials(trials)
    with _styled():
        fig, ax = plt.subplots(figsize=(8, 3.8))
        for tuner, group in done.groupby("tuner"):
            ax.scatter(
                group.number,
                group.val_loss,
                s=15 + 10 * group.epochs,
                alpha=0.8,
                label=str(tuner),
            )
        ax.step(
            done.number, done.val_loss.cummin(), where="post", color="gray", label="best so far"
        )
        ax.set(
            title="validation log-loss of each trial (marker size: epochs trained)",
            xlabel="trial",
            ylabel="validation log-loss (lower is better)",
        )
        ax.legend(fontsize=9)
    return _done(fig, save)


def plot_hyperparameters(trials: pd.DataFrame, save: str | None = None) -> Figure:
    """One panel per hyper-parameter of a :func:`xraylib.tuning.search`: each completed
    trial's value against its validation log-loss, coloured by the epochs it trained (short
    Hyperband trials score worse).

    >>> fig = plots.plot_hyperparameters(result.trials, save="05_hyperparameters")  # doctest: +SKIP
    """
    from xraylib.tuning import hyperparameter_names

    done = _completed_trials(trials)
    names = hyperparameter_names(trials)
    columns = min(4, max(len(names), 1))
    rows = int(np.ceil(len(names) / columns)) or 1
    budgets = sorted(done.epochs.unique())
    colors = dict(zip(budgets, sns.color_palette("viridis", len(budgets)), strict=True))
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(done))
    with _styled():
        fig, axes = plt.subplots(
            rows, columns, sharey=True, squeeze=False, figsize=(3.2 * columns, 2.9 * rows)
        )
        for ax, name in zip(axes.flat, names, strict=False):
            x = _trial_positions(ax, done[name], jitter)
            for epochs in budgets:
                chosen = (done.epochs == epochs).to_numpy()
                ax.scatter(
                    x[chosen],
                    done.val_loss[chosen],
                    color=colors[epochs],
                    s=25,
                    label=f"{epochs:g} epochs",
                )
            ax.set_title(name)
        for ax in axes.flat[len(names) :]:
            ax.axis("off")
        for ax in axes[:, 0]:
            ax.set_ylabel("validation log-loss")
        if budgets:
            axes.flat[0].legend(fontsize=8, title="trained", title_fontsize=8)
    return _done(fig, save)


def _completed_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed trials in trial order, with the trial's ``number``."""
    done = trials[trials.status == "COMPLETED"]
    return done.assign(number=done.trial_id.astype(int)).sort_values("number")


def _trial_positions(ax, values: pd.Series, jitter: np.ndarray) -> np.ndarray:
    """x positions of one panel: a log axis for a wide numeric range, else one jittered
    column per value."""
    if values.dtype.kind == "f" and values.nunique() > 6:
        if values.min() > 0 and values.max() > 10 * values.min():
            ax.set_xscale("log")
            ax.tick_params(axis="x", which="minor", labelbottom=False)
        return values.to_numpy()
    levels = sorted(values.unique())
    ax.set_xticks(
        range(len(levels)), [f"{v:g}" if isinstance(v, float) else str(v) for v in levels]
    )
    return values.map({level: i for i, level in enumerate(levels)}).to_numpy() + jitter


# --------------------------------------------------------------------------- input quality


def plot_ood_scores(
    reference: np.ndarray,
    scores: np.ndarray | Mapping[str, np.ndarray],
    threshold: float,
    save: str | None = None,
) -> Figure:
    """Out-of-distribution scores (:mod:`xraylib.quality`) of one or more sets of images
    against those of the validation images (``reference``, out of fold), with the gate's
    threshold; logarithmic axis, each histogram as a share of its images.

    >>> fig = plots.plot_ood_scores(gate.reference_scores, table.ood_score,
    ...                             gate.threshold)  # doctest: +SKIP
    """
    named = scores if isinstance(scores, Mapping) else {"your images": scores}
    curves = {"validation": np.asarray(reference, float)}
    for name, values in named.items():
        values = np.asarray(values, float)
        curves[name] = values[np.isfinite(values)]
    every = np.concatenate([*curves.values(), [threshold]])
    every = every[every > 0]
    bins = np.geomspace(every.min() * 0.9, every.max() * 1.1, 40).tolist()
    with _styled():
        fig, ax = plt.subplots(figsize=(8, 4))
        for name, values in curves.items():
            ax.hist(
                values,
                bins=bins,
                weights=np.full(len(values), 1 / max(len(values), 1)),
                histtype="stepfilled" if name == "validation" else "step",
                alpha=0.35 if name == "validation" else 1.0,
                linewidth=2,
                label=f"{name} ({len(values)})",
            )
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.1f}")
        ax.set(
            xscale="log",
            title="how far from the validation X-rays (out-of-distribution score)",
            xlabel="Mahalanobis distance of the penultimate-layer features (log scale)",
            ylabel="share of images",
        )
        ax.legend(loc="upper right", fontsize=9)
    return _done(fig, save)
