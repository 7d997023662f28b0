"""Metrics against scikit-learn, the threshold rules, bootstrap intervals, stress validation."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from xraylib import evaluate


def _sklearn(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (p >= threshold).astype(int)
    tn, fp, fn, tp = sk.confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    return {
        "accuracy": sk.accuracy_score(y, predicted),
        "precision": sk.precision_score(y, predicted),
        "sensitivity": sk.recall_score(y, predicted),
        "specificity": tn / (tn + fp),
        "f1": sk.f1_score(y, predicted),
        "roc_auc": sk.roc_auc_score(y, p),
        "pr_auc": sk.average_precision_score(y, p),
        "brier": sk.brier_score_loss(y, p),
        # our log-loss clips at 1e-7 as Keras does; scikit-learn at machine epsilon
        "log_loss": sk.log_loss(y, np.clip(p, evaluate.EPSILON, 1 - evaluate.EPSILON)),
    }


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.71])
def test_metrics_agree_with_scikit_learn(case, threshold: float) -> None:
    y, p = case
    ours = evaluate.compute_metrics(y, p, threshold)
    for name, expected in _sklearn(y, p, threshold).items():
        assert ours[name] == pytest.approx(expected, abs=1e-12), name
    assert ours["n"] == 624 and ours["threshold"] == threshold


def test_undefined_metrics_are_nan_without_warnings() -> None:
    p = np.array([0.1, 0.4, 0.6, 0.9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        only_pneumonia = evaluate.compute_metrics(np.ones(4), p)
        only_normal = evaluate.compute_metrics(np.zeros(4), p)
        nothing_predicted = evaluate.compute_metrics(np.array([0, 1, 0, 1]), p, threshold=0.95)
    assert np.isnan(only_pneumonia["roc_auc"]) and np.isnan(only_pneumonia["specificity"])
    assert only_pneumonia["sensitivity"] == 0.5 and only_pneumonia["pr_auc"] == 1.0
    assert np.isnan(only_normal["roc_auc"]) and np.isnan(only_normal["sensitivity"])
    assert np.isnan(only_normal["pr_auc"]) and only_normal["specificity"] == 0.5
    assert np.isnan(nothing_predicted["precision"]) and nothing_predicted["f1"] == 0.0


def test_confusion_matches_scikit_learn(case) -> None:
    y, p = case
    expected = sk.confusion_matrix(y, (p >= 0.5).astype(int), labels=[0, 1])
    np.testing.assert_array_equal(evaluate.confusion(y, p, 0.5), expected)
    np.testing.assert_array_equal(evaluate.confusion([1, 1], [0.9, 0.2], 0.5), [[0, 0], [1, 1]])


def test_youden_threshold_separates_a_separable_case() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    threshold = evaluate.choose_threshold(y, p)
    assert threshold == 0.6
    m = evaluate.compute_metrics(y, p, threshold)
    assert m["sensitivity"] == 1.0 and m["specificity"] == 1.0


def test_youden_threshold_maximises_sensitivity_plus_specificity(case) -> None:
    y, p = case
    best = evaluate.compute_metrics(y, p, evaluate.choose_threshold(y, p))
    for candidate in np.unique(p):
        other = evaluate.compute_metrics(y, p, candidate)
        assert (
            best["sensitivity"] + best["specificity"]
            >= other["sensitivity"] + other["specificity"] - 1e-12
        )


@pytest.mark.parametrize("target", [0.8, 0.95, 1.0])
def test_target_sensitivity_gives_the_highest_threshold_reaching_it(case, target: float) -> None:
    y, p = case
    threshold = evaluate.choose_threshold(y, p, target_sensitivity=target)
    assert evaluate.compute_metrics(y, p, threshold)["sensitivity"] >= target
    higher = np.unique(p)[np.unique(p) > threshold]
    assert all(evaluate.compute_metrics(y, p, t)["sensitivity"] < target for t in higher)


def test_threshold_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        evaluate.choose_threshold(np.ones(5), np.linspace(0, 1, 5))


def test_bootstrap_resamples_are_scored_like_scikit_learn(case) -> None:
    y, p = case
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(y), size=(5, len(y)))
    weights = np.stack([np.bincount(d, minlength=len(y)) for d in draws]).astype(float)
    scores = evaluate._scores(y, p, weights, 0.5)
    for row, draw in enumerate(draws):
        for name, expected in _sklearn(y[draw], p[draw], 0.5).items():
            assert scores[name][row] == pytest.approx(expected, abs=1e-12), name


def test_bootstrap_intervals_cover_the_estimate_and_are_fast(case) -> None:
    y, p = case
    start = time.perf_counter()
    ci = evaluate.bootstrap_ci(y, p, 0.5, n_boot=1000, seed=0)
    assert time.perf_counter() - start < 1.0
    assert list(ci.columns) == ["estimate", "low", "high"]
    assert set(ci.index) == set(evaluate.METRICS)
    assert (ci["low"] <= ci["estimate"]).all() and (ci["estimate"] <= ci["high"]).all()
    assert (ci["high"] - ci["low"]).between(0.01, 0.2).all()
    pd.testing.assert_frame_equal(ci, evaluate.bootstrap_ci(y, p, 0.5, n_boot=1000, seed=0))


def test_calibration_table_matches_scikit_learn(case) -> None:
    from sklearn.calibration import calibration_curve

    y, p = case
    result = evaluate.calibration(y, p, bins=10)
    observed, predicted = calibration_curve(y, p, n_bins=10)
    np.testing.assert_allclose(result.table["fraction_positive"], observed)
    np.testing.assert_allclose(result.table["mean_predicted"], predicted)
    assert result.table["count"].sum() == len(y)
    assert result.brier == pytest.approx(sk.brier_score_loss(y, p))


def test_format_with_ci_shows_the_interval_only_when_there_is_one() -> None:
    row = pd.Series({"auc": 0.91234, "auc_low": 0.8901, "auc_high": 0.9312, "f1": 0.5})
    assert evaluate.format_with_ci(row, "auc") == "0.912 (0.890–0.931)"
    assert evaluate.format_with_ci(row, "auc", digits=2) == "0.91 (0.89–0.93)"
    assert evaluate.format_with_ci(row, "f1") == "0.500"
    assert (
        evaluate.format_with_ci({"f1": 0.5, "f1_low": np.nan, "f1_high": np.nan}, "f1") == "0.500"
    )


def test_bootstrap_by_patient_equals_by_image_when_every_patient_has_one_image() -> None:
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 300), rng.random(300)
    by_image = evaluate.bootstrap_ci(y, p, 0.5, n_boot=200)
    by_patient = evaluate.bootstrap_ci(y, p, 0.5, n_boot=200, groups=np.arange(300))
    pd.testing.assert_frame_equal(by_image, by_patient)


def test_bootstrap_by_patient_is_wider_when_patients_repeat_their_images() -> None:
    rng = np.random.default_rng(4)
    y1, p1 = rng.integers(0, 2, 60), rng.random(60)
    y, p, patients = np.repeat(y1, 10), np.repeat(p1, 10), np.repeat(np.arange(60), 10)
    by_image = evaluate.bootstrap_ci(y, p, 0.5)
    by_patient = evaluate.bootstrap_ci(y, p, 0.5, groups=patients)
    width = lambda t: t.loc["accuracy", "high"] - t.loc["accuracy", "low"]  # noqa: E731
    assert width(by_patient) > 2 * width(by_image)


def test_log_loss_clips_certain_mistakes_instead_of_being_infinite() -> None:
    scores = evaluate.compute_metrics([0, 1], [1.0, 0.0])
    assert np.isfinite(scores["log_loss"]) and scores["log_loss"] > 10


def test_threshold_spread_brackets_the_chosen_threshold(case) -> None:
    y, p = case
    chosen = evaluate.choose_threshold(y, p, target_sensitivity=0.9)
    spread = evaluate.threshold_spread(y, p, 0.9, groups=np.arange(624) // 2, n_boot=200)
    assert len(spread) == 200
    low, high = np.quantile(spread, [0.025, 0.975])
    assert low < chosen < high


@pytest.mark.parametrize("groups", [None, "pairs"])
def test_threshold_spread_is_choose_threshold_on_the_resampled_rows(case, groups) -> None:
    """The spread's resamples are drawn as the hand-written loop of earlier versions drew
    them (one unit list per resample from the same seeded generator): same thresholds."""
    y, p = case
    units = np.arange(624) // 2 if groups else np.arange(624)
    members = [np.flatnonzero(units == u) for u in range(units.max() + 1)]
    rng = np.random.default_rng(3)
    expected = []
    for _ in range(50):
        rows = np.concatenate([members[u] for u in rng.integers(0, len(members), len(members))])
        if np.unique(y[rows]).size == 2:
            expected.append(evaluate.choose_threshold(y[rows], p[rows], 0.9))
    spread = evaluate.threshold_spread(
        y, p, 0.9, groups=units if groups else None, n_boot=50, seed=3
    )
    np.testing.assert_array_equal(spread, expected)


@pytest.mark.parametrize("name", list(evaluate.PERTURBATIONS))
def test_every_perturbation_keeps_shape_and_uint8_and_is_repeatable(name: str) -> None:
    x = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 1), dtype=np.uint8)
    out = evaluate.perturb(x, name)
    assert out.shape == x.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, evaluate.perturb(x, name))
    if name == "none":
        np.testing.assert_array_equal(out, x)
    else:
        assert not np.array_equal(out, x)


def test_zoom_out_leaves_a_black_frame_and_zoom_in_removes_it() -> None:
    x = np.full((1, 40, 40, 1), 200, np.uint8)
    assert evaluate.perturb(x, "zoom out 15%")[0, 0, 0, 0] == 0
    assert evaluate.perturb(x, "zoom in 15%")[0, 0, 0, 0] == 200


def test_unknown_perturbation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown perturbation"):
        evaluate.perturb(np.zeros((1, 8, 8, 1), np.uint8), "sepia")


def test_stress_test_scores_every_perturbation_and_summary_leaves_none_out() -> None:
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(20, int), np.zeros(20, int)]
    x = np.where(y[:, None, None, None] == 1, 180, 60) + rng.integers(0, 20, (40, 16, 16, 1))
    x = x.astype(np.uint8)
    table = evaluate.stress_test(lambda images: images.mean(axis=(1, 2, 3)) / 255, x, y)
    assert list(table.index) == list(evaluate.PERTURBATIONS)
    assert table.loc["none", "roc_auc"] == 1.0
    summary = evaluate.stress_summary(table)
    perturbed = table.drop(index="none")
    assert summary["stress_log_loss"] == pytest.approx(perturbed["log_loss"].mean())
    assert summary["stress_worst_roc_auc"] == perturbed["roc_auc"].min()


def test_platt_scaling_softens_overconfident_probabilities_without_changing_their_order() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.7).astype(int)
    honest = 1 / (1 + np.exp(-rng.normal(2 * y - 1, 1.0)))
    overconfident = 1 / (1 + np.exp(-4 * np.log(honest / (1 - honest))))
    scale, bias = evaluate.fit_calibration(y, overconfident)
    fixed = evaluate.calibrated(overconfident, scale, bias)
    assert 0.1 < scale < 0.5
    assert np.all(np.diff(fixed[np.argsort(overconfident)]) >= 0)  # same order (ties may merge)
    before = evaluate.compute_metrics(y, overconfident)["log_loss"]
    assert evaluate.compute_metrics(y, fixed)["log_loss"] < before
    assert evaluate.expected_calibration_error(y, fixed) < evaluate.expected_calibration_error(
        y, overconfident
    )


@pytest.mark.parametrize("seed", range(4))
def test_platt_fit_is_at_least_as_likely_as_the_nelder_mead_search_it_replaces(seed) -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.3 + 0.4 * (seed % 2)).astype(int)
    p = 1 / (1 + np.exp(-rng.normal(3 * (2 * y - 1) + seed - 1.5, 2.0)))
    z = evaluate.logit(p)

    def loss(params) -> float:
        return evaluate.compute_metrics(y, evaluate.calibrated(p, *params))["log_loss"]

    old = minimize(loss, x0=np.array([1.0, 0.0]), method="Nelder-Mead").x  # the old fit
    new = evaluate.fit_calibration(y, p)
    assert loss(new) <= loss(old) + 1e-12
    np.testing.assert_allclose(new, old, atol=2e-3)  # the same optimum
    assert abs(np.mean(y - evaluate.calibrated(p, *new))) < 1e-6  # the score equation of the bias
    assert abs(np.mean(z * (y - evaluate.calibrated(p, *new)))) < 1e-6  # and of the scale


def test_expected_calibration_error_is_zero_for_calibrated_bins_and_the_gap_otherwise() -> None:
    y = np.array([0, 1, 0, 1])
    assert evaluate.expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.0)
    assert evaluate.expected_calibration_error(y, np.full(4, 0.9)) == pytest.approx(0.4)


def test_calibration_report_has_clean_and_stress_rows_before_and_after() -> None:
    y = np.array([0, 1, 1, 0])
    p = {"none": np.array([0.1, 0.9, 0.8, 0.3]), "blur": np.array([0.4, 0.6, 0.5, 0.5])}
    table = evaluate.calibration_report(y, p, (1.0, 0.0))
    assert list(table.index) == [
        ("clean", "as trained"),
        ("clean", "calibrated"),
        ("stress", "as trained"),
        ("stress", "calibrated"),
    ]
    # scale 1 and bias 0 change nothing
    np.testing.assert_allclose(table.xs("as trained", level=1), table.xs("calibrated", level=1))


def test_border_marker_and_collimation_perturbations_touch_the_edges_not_the_centre() -> None:
    x = np.full((2, 64, 64, 1), 100, np.uint8)
    for name in ("text marker", "collimation edge", "border pad 12%"):
        out = evaluate.perturb(x, name)
        assert (out != 100).any(), name
        assert (out[:, 24:40, 24:40] == 100).all(), name
