"""Metrics, the decision threshold, bootstrap confidence intervals, calibration, results files.

A prediction is PNEUMONIA when its probability ``p >= threshold`` (the convention of
scikit-learn's ``roc_curve``). Every metric is computed by one vectorised function from
per-image weights: weights of one give the point estimate, multinomial resampling counts give
the bootstrap, so the point estimate and its interval can never disagree on a definition.
A metric that is undefined for the data at hand (ROC AUC with one class absent, precision with
no positive prediction) is NaN, silently.

Protocol: thresholds are chosen on validation predictions only (:func:`choose_threshold`); the
test set is scored once, at that threshold, and written with :func:`record`
(:func:`forget_final` clears an earlier final evaluation first).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

from xraylib import config

METRICS = (
    "accuracy",
    "precision",
    "sensitivity",
    "specificity",
    "f1",
    "roc_auc",
    "pr_auc",
    "brier",
)
KEY_COLUMNS = ("model", "split", "threshold")
METRICS_FILE = "metrics.csv"


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0, without warnings."""
    numerator, denominator = np.broadcast_arrays(
        np.asarray(numerator, float), np.asarray(denominator, float)
    )
    out = np.full(numerator.shape, np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _scores(
    y: np.ndarray, p: np.ndarray, weights: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """Every metric for each row of ``weights`` (shape ``(B, n)``: how often each image counts).

    ROC AUC is the Mann-Whitney statistic (ties count one half) and PR AUC the average
    precision (scikit-learn's definition); both are computed per group of tied scores, so a
    whole bootstrap is a few ``(B, n)`` array operations.
    """
    positive = y == 1
    predicted = p >= threshold
    tp = weights[:, positive & predicted].sum(1)
    fp = weights[:, ~positive & predicted].sum(1)
    fn = weights[:, positive & ~predicted].sum(1)
    tn = weights[:, ~positive & ~predicted].sum(1)
    n = tp + fp + fn + tn

    order = np.argsort(-p, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(p[order]) != 0])
    w_sorted = weights[:, order]
    pos_per_score = np.add.reduceat(w_sorted * positive[order], starts, axis=1)
    neg_per_score = np.add.reduceat(w_sorted * ~positive[order], starts, axis=1)
    n_pos, n_neg = pos_per_score.sum(1), neg_per_score.sum(1)
    neg_below = n_neg[:, None] - np.cumsum(neg_per_score, axis=1)
    roc_auc = _ratio((pos_per_score * (neg_below + neg_per_score / 2)).sum(1), n_pos * n_neg)
    precision_at = _ratio(np.cumsum(pos_per_score, 1), np.cumsum(pos_per_score + neg_per_score, 1))
    pr_auc = _ratio(np.nansum(pos_per_score * precision_at, axis=1), n_pos)

    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "brier": _ratio(weights @ (p - y) ** 2, n),
    }


def _as_arrays(y_true: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} probabilities")
    return y, p


def metrics(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, sensitivity, specificity, F1, ROC AUC, PR AUC and Brier score.

    ``y_true`` holds 0/1 labels (1 = PNEUMONIA), ``p`` the predicted probabilities; ``n`` and
    ``threshold`` are included. PR AUC is the average precision. Undefined values are NaN.
    """
    y, p = _as_arrays(y_true, p)
    scores = _scores(y, p, np.ones((1, y.size)), threshold)
    return {name: float(value[0]) for name, value in scores.items()} | {
        "n": int(y.size),
        "threshold": float(threshold),
    }


def confusion(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The 2×2 confusion matrix ``[[TN, FP], [FN, TP]]``: rows true, columns predicted."""
    y, p = _as_arrays(y_true, p)
    predicted = (p >= threshold).astype(int)
    return np.bincount(2 * y + predicted, minlength=4).reshape(2, 2)


def choose_threshold(
    y_val: np.ndarray, p_val: np.ndarray, target_sensitivity: float | None = None
) -> float:
    """Choose the decision threshold from VALIDATION predictions (never from the test set).

    By default the threshold maximises Youden's J = sensitivity + specificity - 1. With
    ``target_sensitivity`` it is the highest threshold whose sensitivity reaches the target
    (fewest false alarms for that share of pneumonia cases caught).
    """
    y, p = _as_arrays(y_val, p_val)
    if np.unique(y).size < 2:
        raise ValueError("choosing a threshold needs both classes in the validation labels")
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]  # drop the "predict none" point
    if target_sensitivity is None:
        return float(thresholds[np.argmax(tpr - fpr)])
    if not 0 < target_sensitivity <= 1:
        raise ValueError(f"target_sensitivity must be in (0, 1], not {target_sensitivity}")
    return float(thresholds[np.argmax(tpr >= target_sensitivity)])


def bootstrap_ci(
    y_true: np.ndarray,
    p: np.ndarray,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    groups: np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap intervals: one row per metric, columns ``estimate, low, high``.

    Images are resampled with replacement ``n_boot`` times — or, with ``groups`` (e.g. the
    patient id of each image), whole groups are, so that several images of one child count as
    one draw and the interval is not too narrow. A resample where a metric is undefined (e.g.
    no negatives) is left out of that metric's interval.

    >>> float(bootstrap_ci([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.4]).loc["roc_auc", "estimate"])
    1.0
    """
    y, p = _as_arrays(y_true, p)
    if groups is None:
        units, n_units = np.arange(y.size), y.size
    else:
        units, labels = pd.factorize(np.asarray(groups))
        n_units = len(labels)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_units, size=(n_boot, n_units))
    offsets = (np.arange(n_boot) * n_units)[:, None]
    drawn = np.bincount((draws + offsets).ravel(), minlength=n_boot * n_units)
    weights = drawn.reshape(n_boot, n_units)[:, units]  # each image counts as often as its unit
    scores = _scores(y, p, weights.astype(float), threshold)
    estimate = metrics(y, p, threshold)
    rows = {}
    for name, values in scores.items():
        values = values[~np.isnan(values)]
        low, high = (
            np.quantile(values, [alpha / 2, 1 - alpha / 2]) if values.size else (np.nan, np.nan)
        )
        rows[name] = {"estimate": estimate[name], "low": low, "high": high}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass
class Calibration:
    """How far predicted probabilities can be read as probabilities.

    Attributes:
        table: one row per non-empty bin of equal width: ``mean_predicted`` (average
            probability in the bin), ``fraction_positive`` (observed share of PNEUMONIA) and
            ``count``. A calibrated model has ``fraction_positive ≈ mean_predicted``.
        brier: mean squared difference between probability and label (0 is perfect).
    """

    table: pd.DataFrame
    brier: float


def calibration(y_true: np.ndarray, p: np.ndarray, bins: int = 10) -> Calibration:
    """Reliability table (scikit-learn's ``calibration_curve``, uniform bins) and Brier score."""
    y, p = _as_arrays(y_true, p)
    fraction_positive, mean_predicted = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    edges = np.linspace(0, 1, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=bins)
    table = pd.DataFrame(
        {
            "mean_predicted": mean_predicted,
            "fraction_positive": fraction_positive,
            "count": counts[counts > 0],
        }
    )
    return Calibration(table, float(np.mean((p - y) ** 2)))


def _write_csv_atomically(frame: pd.DataFrame, path: Path) -> None:
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    os.close(descriptor)
    try:
        frame.to_csv(temporary, index=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_metrics(results_dir: Path | None = None) -> pd.DataFrame:
    """The results table ``metrics.csv`` (empty, with the key columns, if none yet)."""
    path = Path(results_dir or config.results_dir()) / METRICS_FILE
    if not path.exists():
        return pd.DataFrame(columns=[*KEY_COLUMNS, *METRICS, "n"])
    return pd.read_csv(path, dtype={"notebook": str})


def record(
    model_name: str,
    split: str,
    y_true: np.ndarray,
    p: np.ndarray,
    threshold: float,
    results_dir: Path | None = None,
    extra: dict | None = None,
    ci: bool = True,
    groups: np.ndarray | pd.Series | None = None,
) -> pd.Series:
    """Score predictions and write them as the ``(model_name, split)`` row of ``metrics.csv``.

    An existing row for the same model and split is replaced, so a notebook can be re-run.
    Columns: ``model, split, threshold``, the metrics, ``n``, then ``<metric>_low`` and
    ``<metric>_high`` (95% bootstrap interval, when ``ci``), then the ``extra`` items (e.g.
    epochs, seconds, notebook). With ``groups`` (patient ids) the intervals resample patients,
    not images (see :func:`bootstrap_ci`). Returns the row.
    """
    values = metrics(y_true, p, threshold)
    row = {
        "model": model_name,
        "split": split,
        "threshold": float(threshold),
        **{name: values[name] for name in METRICS},
        "n": values["n"],
    }
    if ci:
        intervals = bootstrap_ci(y_true, p, threshold, seed=config.seed(), groups=groups)
        for name in METRICS:
            row[f"{name}_low"] = intervals.at[name, "low"]
            row[f"{name}_high"] = intervals.at[name, "high"]
    row |= extra or {}

    folder = Path(results_dir or config.results_dir())
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([row])
    if (folder / METRICS_FILE).exists():
        old = load_metrics(folder)
        old = old[~((old["model"] == model_name) & (old["split"] == split))]
        table = pd.concat([old, table], ignore_index=True) if len(old) else table
    _write_csv_atomically(table, folder / METRICS_FILE)
    return pd.Series(row)


def forget_final(results_dir: Path | None = None) -> int:
    """Remove the final evaluation from ``metrics.csv``: every ``test`` row and every row whose
    model ends with ``@final``. Returns how many rows were removed (0 when there is no file).

    Notebook 06 calls it before recording, so a re-run with another winner starts from a
    clean table instead of leaving the previous winner's test rows beside the new ones.
    """
    path = Path(results_dir or config.results_dir()) / METRICS_FILE
    if not path.exists():
        return 0
    table = load_metrics(path.parent)
    final = (table["split"] == "test") | table["model"].astype(str).str.endswith("@final")
    if final.any():
        _write_csv_atomically(table[~final], path)
    return int(final.sum())


def save_predictions(
    name: str,
    frame: pd.DataFrame,
    p: np.ndarray | Mapping[str, np.ndarray],
    threshold: float | None = None,
    results_dir: Path | None = None,
) -> Path:
    """Write ``<name>_predictions.csv``: the rows of ``frame`` (one per image, in the order of
    the predictions) with the probabilities of PNEUMONIA.

    ``p`` is one array (column ``probability``) or a mapping of column name to array (several
    models side by side). Given a threshold, each probability column ``c`` gets a
    ``c_label`` (or ``predicted``) column with the class it implies. Paths inside the data
    folder are written relative to it. Returns the path.
    """
    columns = {"probability": p} if not isinstance(p, Mapping) else dict(p)
    table = frame.reset_index(drop=True).copy()
    if "path" in table:  # relative to the data folder: no machine-specific prefixes
        root = config.data_dir().absolute()
        table["path"] = [
            Path(x).relative_to(root).as_posix() if Path(x).is_relative_to(root) else x
            for x in table.path
        ]
    normal, pneumonia = config.CLASS_NAMES
    for column, values in columns.items():
        table[column] = np.asarray(values, dtype=float).ravel()
        if threshold is not None:
            label = "predicted" if column == "probability" else f"{column}_label"
            table[label] = np.where(table[column] >= threshold, pneumonia, normal)
    folder = Path(results_dir or config.results_dir())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}_predictions.csv"
    _write_csv_atomically(table, path)
    return path


def format_with_ci(row: Mapping, metric: str, digits: int = 3) -> str:
    """``row[metric]`` with its 95% interval when the row has one: ``"0.912 (0.890–0.931)"``,
    else just ``"0.912"``. ``row`` is a row written by :func:`record` (a Series or a dict).

    >>> format_with_ci({"auc": 0.9123, "auc_low": 0.89, "auc_high": 0.931}, "auc")
    '0.912 (0.890–0.931)'
    """
    low, high = row.get(f"{metric}_low"), row.get(f"{metric}_high")
    point = f"{row[metric]:.{digits}f}"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return point
    return f"{point} ({low:.{digits}f}–{high:.{digits}f})"


def summary_table(rows: Mapping[str, pd.Series], digits: int = 3) -> pd.DataFrame:
    """Rows written by :func:`record`, side by side: one row per metric, one column per
    entry of ``rows``, each cell as :func:`format_with_ci` writes it."""
    table = {}
    for name, row in rows.items():
        cells = {metric: format_with_ci(row, metric, digits) for metric in METRICS}
        cells["threshold"] = f"{row['threshold']:.{digits}f}"
        cells["n"] = str(int(row["n"]))
        table[name] = cells
    return pd.DataFrame(table)


#: Published results on the same 624 official test images (point estimates only).
PUBLISHED = [
    {
        "model": "Kermany et al. 2018 (Inception V3, ImageNet transfer, full-size images)",
        "source": "Cell 172(5):1122, Figure 6",
        "accuracy": 0.928,
        "sensitivity": 0.932,
        "specificity": 0.901,
        "roc_auc": 0.968,
    },
    {
        "model": "MedMNIST v2 ResNet-50 (PneumoniaMNIST, 224 px)",
        "source": "Yang et al. 2023, Scientific Data 10:41",
        "accuracy": 0.884,
        "sensitivity": np.nan,
        "specificity": np.nan,
        "roc_auc": 0.962,
    },
]


COMPARED = ("accuracy", "sensitivity", "specificity", "roc_auc")


def published_comparison(rows: Mapping[str, pd.Series], y_test: np.ndarray) -> pd.DataFrame:
    """Our test rows (from :func:`record`) next to published results and the trivial
    "always PNEUMONIA" baseline computed on ``y_test``.

    Columns: ``model, source, accuracy, sensitivity, specificity, roc_auc``. Published rows
    are taken from the papers (no interval, unknown values NaN); ours carry their threshold in
    the source column.
    """
    always = metrics(y_test, np.ones(len(y_test)))
    table = [
        {
            "model": f"xraylib: {name}",
            "source": f"this project, threshold {row['threshold']:.3f}",
            **{m: float(row[m]) for m in COMPARED},
        }
        for name, row in rows.items()
    ]
    table += PUBLISHED
    table.append(
        {
            "model": "always PNEUMONIA (no model)",
            "source": "computed on the test labels",
            **{m: always[m] for m in COMPARED},
        }
    )
    return pd.DataFrame(table)
