"""Metrics, the decision threshold, bootstrap confidence intervals, calibration, stress tests.

A prediction is PNEUMONIA when its probability ``p >= threshold`` (the convention of
scikit-learn's ``roc_curve``). Every metric is computed by one vectorised function from
per-image weights: weights of one give the point estimate, multinomial resampling counts give
the bootstrap, so the point estimate and its interval can never disagree on a definition.
A metric that is undefined for the data at hand (ROC AUC with one class absent, precision with
no positive prediction) is NaN, silently.

Validation ROC AUC saturates near 1 on this data, so every row also carries two measures with
resolution left: the log-loss and the Brier score of the probabilities. :func:`stress_test`
scores a model on the validation images under a fixed, declared set of acquisition-style
perturbations (exposure, gamma, contrast, blur, noise, framing): a validation that still
discriminates between models that all score AUC 0.99.

Protocol: thresholds are chosen on validation predictions only (:func:`choose_threshold`,
with :func:`threshold_spread` showing how stable that choice is); the test set is scored once,
at that threshold. Writing results to files is :mod:`xraylib.results`' job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

METRICS = (
    "accuracy",
    "precision",
    "sensitivity",
    "specificity",
    "f1",
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
)
#: Probabilities are clipped to [EPSILON, 1 - EPSILON] in the log-loss (as Keras does).
EPSILON = 1e-7


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
        "log_loss": _ratio(weights @ _log_loss_terms(y, p), n),
    }


def _log_loss_terms(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-image binary cross-entropy, probabilities clipped to ``[EPSILON, 1 - EPSILON]``."""
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def _as_arrays(y_true: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} probabilities")
    return y, p


def compute_metrics(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, sensitivity, specificity, F1, ROC AUC, PR AUC, Brier score and
    log-loss.

    ``y_true`` holds 0/1 labels (1 = PNEUMONIA), ``p`` the predicted probabilities; ``n`` and
    ``threshold`` are included. PR AUC is the average precision. Undefined values are NaN.

    >>> compute_metrics([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.4])["roc_auc"]
    1.0
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


def _resample_counts(
    n_images: int, groups: np.ndarray | pd.Series | None, n_boot: int, seed: int
) -> np.ndarray:
    """``(n_boot, n_images)``: how often each image is drawn in each of ``n_boot`` bootstrap
    resamples. Each resample draws as many units as there are, with replacement — the images,
    or with ``groups`` whole groups (an image then counts as often as its group is drawn) —
    all in one call of the seeded generator."""
    if groups is None:
        units, n_units = np.arange(n_images), n_images
    else:
        units, labels = pd.factorize(np.asarray(groups))
        n_units = len(labels)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_units, size=(n_boot, n_units))
    offsets = (np.arange(n_boot) * n_units)[:, None]
    drawn = np.bincount((draws + offsets).ravel(), minlength=n_boot * n_units)
    return drawn.reshape(n_boot, n_units)[:, units]


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
    weights = _resample_counts(y.size, groups, n_boot, seed)
    scores = _scores(y, p, weights.astype(float), threshold)
    estimate = compute_metrics(y, p, threshold)
    rows = {}
    for name, values in scores.items():
        values = values[~np.isnan(values)]
        low, high = (
            np.quantile(values, [alpha / 2, 1 - alpha / 2]) if values.size else (np.nan, np.nan)
        )
        rows[name] = {"estimate": estimate[name], "low": low, "high": high}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass
class Reliability:
    """How far predicted probabilities can be read as probabilities.

    Attributes:
        table: one row per non-empty bin of equal width: ``mean_predicted`` (average
            probability in the bin), ``fraction_positive`` (observed share of PNEUMONIA) and
            ``count``. A calibrated model has ``fraction_positive ≈ mean_predicted``.
        brier: mean squared difference between probability and label (0 is perfect).
    """

    table: pd.DataFrame
    brier: float


def calibration(y_true: np.ndarray, p: np.ndarray, bins: int = 10) -> Reliability:
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
    return Reliability(table, float(np.mean((p - y) ** 2)))


def expected_calibration_error(y_true: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the gap between predicted probability and observed share
    of PNEUMONIA in each of ``bins`` equal-width bins, averaged with the bins' image counts
    as weights (0 is perfect; Guo et al. 2017).

    >>> round(expected_calibration_error([0, 1, 1, 0], [0.1, 0.9, 0.9, 0.1]), 3)
    0.1
    """
    y, p = _as_arrays(y_true, p)
    bin_of = np.minimum((p * bins).astype(int), bins - 1)
    counts = np.bincount(bin_of, minlength=bins)
    gap = np.abs(np.bincount(bin_of, p - y, minlength=bins))
    return float(gap.sum() / max(counts.sum(), 1))


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))``, probabilities clipped to ``[EPSILON, 1 - EPSILON]``."""
    p = np.clip(np.asarray(p, dtype=float), EPSILON, 1 - EPSILON)
    return np.log(p) - np.log1p(-p)


def calibrated(p: np.ndarray, scale: float, bias: float) -> np.ndarray:
    """Platt-scaled probabilities ``sigmoid(scale · logit(p) + bias)``."""
    return 1 / (1 + np.exp(-(scale * logit(p) + bias)))


def fit_calibration(y_true: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """``(scale, bias)`` of Platt scaling (Platt 1999): the logistic regression of the labels
    on the log-odds of ``p`` that minimises the log-loss (scikit-learn's
    ``LogisticRegression`` without a penalty, fitted to convergence). Two numbers, so the
    ranking of the images — and every ROC AUC — is unchanged; the probabilities become as
    confident as the labels justify, at the pneumonia rate of the labels they are fitted on.

    Fit it on predictions whose confidence should hold under a shift — the stress
    validation's pooled predictions — not only on the clean validation images. (The
    committed final model keeps the calibration it was fitted with, by a Nelder–Mead search
    of the same log-loss in earlier versions.)

    >>> scale, bias = fit_calibration([0, 1, 1, 0, 1], [0.001, 0.999, 0.3, 0.6, 0.9])
    >>> 0 < scale < 1
    True
    """
    from sklearn.linear_model import LogisticRegression

    y, p = _as_arrays(y_true, p)
    fitted = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit(p)[:, None], y)
    return float(fitted.coef_[0, 0]), float(fitted.intercept_[0])


def calibration_report(
    y_val: np.ndarray, p_stress: Mapping[str, np.ndarray], calibration: tuple[float, float]
) -> pd.DataFrame:
    """Log-loss, Brier score and expected calibration error of validation probabilities, as
    trained and after Platt scaling with ``calibration`` (``scale, bias``), on clean images
    (``p_stress["none"]``) and pooled over the perturbed ones (the other entries).

    Example::

        evaluate.calibration_report(splits.y_val, p_stress, (0.5, 0.3))
    """
    y = np.asarray(y_val).astype(int).ravel()
    perturbed = [p for name, p in p_stress.items() if name != "none"]
    sets = {
        "clean": (y, p_stress["none"]),
        "stress": (np.tile(y, len(perturbed)), np.concatenate(perturbed)),
    }
    rows = []
    for name, (labels, p) in sets.items():
        for version, probs in (("as trained", p), ("calibrated", calibrated(p, *calibration))):
            scores = compute_metrics(labels, probs)
            rows.append(
                {
                    "validation": name,
                    "probabilities": version,
                    "log_loss": scores["log_loss"],
                    "brier": scores["brier"],
                    "ece": expected_calibration_error(labels, probs),
                }
            )
    return pd.DataFrame(rows).set_index(["validation", "probabilities"])


def format_with_ci(row: Mapping, metric: str, digits: int = 3) -> str:
    """``row[metric]`` with its 95% interval when the row has one: ``"0.912 (0.890–0.931)"``,
    else just ``"0.912"``. ``row`` is a results row (a Series or a dict).

    >>> format_with_ci({"auc": 0.9123, "auc_low": 0.89, "auc_high": 0.931}, "auc")
    '0.912 (0.890–0.931)'
    """
    low, high = row.get(f"{metric}_low"), row.get(f"{metric}_high")
    point = f"{row[metric]:.{digits}f}"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return point
    return f"{point} ({low:.{digits}f}–{high:.{digits}f})"


def threshold_spread(
    y_val: np.ndarray,
    p_val: np.ndarray,
    target_sensitivity: float,
    groups: np.ndarray | pd.Series | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """The thresholds :func:`choose_threshold` would pick on ``n_boot`` bootstrap resamples of
    the validation set (resampling ``groups``, e.g. patients, when given).

    Their spread shows how much the chosen threshold owes to which children happen to be in
    validation: on a saturated validation set a handful of pneumonias decide it. The
    resamples are :func:`bootstrap_ci`'s (same ``seed``, same draws); a resample without both
    classes is left out.

    Example::

        spread = evaluate.threshold_spread(y_val, p_val, 0.97, groups=patients)
        np.quantile(spread, [0.025, 0.975])
    """
    y, p = _as_arrays(y_val, p_val)
    thresholds = []
    for counts in _resample_counts(y.size, groups, n_boot, seed):  # the resamples of bootstrap_ci
        rows = np.repeat(np.arange(y.size), counts)
        if np.unique(y[rows]).size == 2:
            thresholds.append(choose_threshold(y[rows], p[rows], target_sensitivity))
    return np.asarray(thresholds)


# --------------------------------------------------------------------------- stress validation


def _contrast(x: np.ndarray, factor: float) -> np.ndarray:
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return mean + factor * (x - mean)


def _gamma(x: np.ndarray, gamma: float) -> np.ndarray:
    return 255.0 * (x / 255.0) ** gamma


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(0, sigma * x.shape[1] / 128, sigma * x.shape[1] / 128, 0))


def _noise(x: np.ndarray, sd: float) -> np.ndarray:
    return x + np.random.default_rng(0).normal(0.0, sd, x.shape)


def _zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Zoom about the centre: ``factor > 1`` crops the borders, ``< 1`` shrinks the image into
    a black frame (as a film taken from farther away)."""
    return _affine(x, factor, (0.5, 0.5))


def _affine(x: np.ndarray, factor: float, anchor: tuple[float, float]) -> np.ndarray:
    """Scale by ``factor`` about the point ``anchor`` (row, column as fractions of the side):
    the pixel at the anchor stays in place; what falls outside the image is black."""
    from scipy.ndimage import affine_transform

    side = x.shape[1]
    fixed = np.array([anchor[0], anchor[1]]) * (side - 1)
    matrix = np.diag([1.0, 1 / factor, 1 / factor, 1.0])
    offset = np.array([0.0, *(fixed * (1 - 1 / factor)), 0.0])
    return affine_transform(x, matrix, offset=offset, order=1, mode="constant", cval=0.0)


def _marker(x: np.ndarray) -> np.ndarray:
    """Burn a bright letter "R" into the top-left corner, as lead side markers and
    burned-in annotations appear on films from other sites (about 10% of the side)."""
    side = x.shape[1]
    glyph = np.array(
        [
            [1, 1, 1, 0],
            [1, 0, 0, 1],
            [1, 1, 1, 0],
            [1, 0, 1, 0],
            [1, 0, 0, 1],
        ],
        dtype=bool,
    )
    cell = max(1, round(side * 0.02))
    mask = np.kron(glyph, np.ones((cell, cell), dtype=bool))
    top = left = round(side * 0.04)
    out = x.copy()
    out[:, top : top + mask.shape[0], left : left + mask.shape[1], :][:, mask] = 250.0
    return out


def _collimation(x: np.ndarray) -> np.ndarray:
    """A collimation edge: the top 10% and the left 8% of the film left unexposed (bright)."""
    side = x.shape[1]
    out = x.copy()
    out[:, : round(side * 0.10)] = 235.0
    out[:, :, : round(side * 0.08)] = 235.0
    return out


#: The declared acquisition-style perturbations of the stress validation, fixed before any
#: model is judged by them. Each maps ``uint8``-range images ``(N, S, S, 1)`` to floats; the
#: result is clipped to ``[0, 255]`` and rounded back to ``uint8``. Blur σ is in pixels of a
#: 128-px image (scaled with the image size); noise is seeded. The last four are the failure
#: modes Grad-CAM showed on the official test set's false alarms (read 4): borders, markers
#: and collimation, not the lungs.
PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda x: x,
    "exposure -25%": lambda x: 0.75 * x,
    "exposure +25%": lambda x: 1.25 * x,
    "gamma 0.6": lambda x: _gamma(x, 0.6),
    "gamma 1.6": lambda x: _gamma(x, 1.6),
    "contrast 0.6": lambda x: _contrast(x, 0.6),
    "contrast 1.5": lambda x: _contrast(x, 1.5),
    "blur σ1.5": lambda x: _blur(x, 1.5),
    "noise σ12": lambda x: _noise(x, 12.0),
    "zoom in 15%": lambda x: _zoom(x, 1.15),
    "zoom out 15%": lambda x: _zoom(x, 0.85),
    "border crop 12%": lambda x: _affine(x, 1.12, (1.0, 1.0)),
    "border pad 12%": lambda x: _affine(x, 0.88, (1.0, 1.0)),
    "text marker": _marker,
    "collimation edge": _collimation,
}


def perturb(images: np.ndarray, name: str) -> np.ndarray:
    """``images`` (uint8, ``(N, S, S, 1)``) under the perturbation ``name`` of
    :data:`PERTURBATIONS`, as uint8."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; use one of {list(PERTURBATIONS)}")
    out = PERTURBATIONS[name](np.asarray(images, dtype=np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def stress_predictions(
    predict: Callable[[np.ndarray], np.ndarray], x_val: np.ndarray
) -> dict[str, np.ndarray]:
    """``predict`` on ``x_val`` under every declared perturbation (``"none"`` first)."""
    return {name: predict(perturb(x_val, name)) for name in PERTURBATIONS}


def stress_test(
    predict: Callable[[np.ndarray], np.ndarray],
    x_val: np.ndarray,
    y_val: np.ndarray,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Score a model on the validation images under every declared perturbation.

    ``predict`` maps uint8 images to probabilities of PNEUMONIA (e.g.
    ``lambda x: model.predict(x, batch_size=256, verbose=0).ravel()``). Returns one row per
    perturbation (index ``perturbation``) with every metric of :func:`compute_metrics`; the
    row ``"none"`` is plain validation. Summarise it with :func:`stress_summary`.

    Example::

        table = evaluate.stress_test(lambda x: model.predict(x, verbose=0).ravel(),
                                     splits.x_val, splits.y_val)
    """
    rows = {
        name: compute_metrics(y_val, p, threshold)
        for name, p in stress_predictions(predict, x_val).items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "perturbation"
    return table


def stress_summary(table: pd.DataFrame) -> dict[str, float]:
    """Means over the perturbed rows of a :func:`stress_test` table (``"none"`` left out):
    ``stress_roc_auc``, ``stress_log_loss``, ``stress_brier``, and the worst AUC."""
    perturbed = table.drop(index="none", errors="ignore")
    return {
        "stress_roc_auc": float(perturbed["roc_auc"].mean()),
        "stress_log_loss": float(perturbed["log_loss"].mean()),
        "stress_brier": float(perturbed["brier"].mean()),
        "stress_worst_roc_auc": float(perturbed["roc_auc"].min()),
    }
