"""Metrics against scikit-learn, the threshold rules, bootstrap intervals, results files."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from xraylib import evaluate


@pytest.fixture
def case() -> tuple[np.ndarray, np.ndarray]:
    """624 predictions like the test set (390 PNEUMONIA), informative, with tied scores."""
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(390, int), np.zeros(234, int)]
    p = np.clip(0.35 * y + rng.random(624) * 0.65, 0, 1).round(2)
    return y, p


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
    }


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.71])
def test_metrics_agree_with_scikit_learn(case, threshold: float) -> None:
    y, p = case
    ours = evaluate.metrics(y, p, threshold)
    for name, expected in _sklearn(y, p, threshold).items():
        assert ours[name] == pytest.approx(expected, abs=1e-12), name
    assert ours["n"] == 624 and ours["threshold"] == threshold


def test_undefined_metrics_are_nan_without_warnings() -> None:
    p = np.array([0.1, 0.4, 0.6, 0.9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        only_pneumonia = evaluate.metrics(np.ones(4), p)
        only_normal = evaluate.metrics(np.zeros(4), p)
        nothing_predicted = evaluate.metrics(np.array([0, 1, 0, 1]), p, threshold=0.95)
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
    m = evaluate.metrics(y, p, threshold)
    assert m["sensitivity"] == 1.0 and m["specificity"] == 1.0


def test_youden_threshold_maximises_sensitivity_plus_specificity(case) -> None:
    y, p = case
    best = evaluate.metrics(y, p, evaluate.choose_threshold(y, p))
    for candidate in np.unique(p):
        other = evaluate.metrics(y, p, candidate)
        assert (
            best["sensitivity"] + best["specificity"]
            >= other["sensitivity"] + other["specificity"] - 1e-12
        )


@pytest.mark.parametrize("target", [0.8, 0.95, 1.0])
def test_target_sensitivity_gives_the_highest_threshold_reaching_it(case, target: float) -> None:
    y, p = case
    threshold = evaluate.choose_threshold(y, p, target_sensitivity=target)
    assert evaluate.metrics(y, p, threshold)["sensitivity"] >= target
    higher = np.unique(p)[np.unique(p) > threshold]
    assert all(evaluate.metrics(y, p, t)["sensitivity"] < target for t in higher)


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


def test_record_writes_one_row_per_model_and_split_and_replaces_it(case, tmp_path) -> None:
    y, p = case
    evaluate.record("cnn", "val", y, p, 0.5, results_dir=tmp_path, extra={"epochs": 3})
    evaluate.record("cnn", "test", y, p, 0.5, results_dir=tmp_path, ci=False)
    row = evaluate.record(
        "cnn", "val", y, 1 - p, 0.4, results_dir=tmp_path, extra={"epochs": 5, "notebook": "03"}
    )
    table = evaluate.load_metrics(tmp_path)
    assert sorted(zip(table.model, table.split, strict=True)) == [("cnn", "test"), ("cnn", "val")]
    val = table[table.split == "val"].iloc[0]
    assert val.threshold == 0.4 and val.epochs == 5 and val.notebook == "03"
    assert val.roc_auc == pytest.approx(row.roc_auc) == pytest.approx(1 - sk.roc_auc_score(y, p))
    expected_start = ["model", "split", "threshold", *evaluate.METRICS, "n"]
    assert list(table.columns[: len(expected_start)]) == expected_start
    assert {"roc_auc_low", "roc_auc_high", "f1_low", "brier_high"} <= set(table.columns)
    assert np.isnan(table[table.split == "test"].iloc[0].roc_auc_low)
    assert [f.name for f in tmp_path.iterdir()] == ["metrics.csv"]


def test_load_metrics_without_a_file_is_empty(tmp_path) -> None:
    table = evaluate.load_metrics(tmp_path)
    assert table.empty and {"model", "split", "roc_auc"} <= set(table.columns)


def test_save_predictions_keeps_the_frame_and_adds_probabilities(tmp_path) -> None:
    frame = pd.DataFrame(
        {"path": ["a.jpeg", "b.jpeg"], "label": ["NORMAL", "PNEUMONIA"]}, index=[10, 20]
    )
    path = evaluate.save_predictions(
        "val",
        frame,
        {"p_plain": [0.2, 0.9], "p_adabn": [0.6, 0.7]},
        threshold=0.5,
        results_dir=tmp_path,
    )
    saved = pd.read_csv(path)
    assert path.name == "val_predictions.csv"
    assert saved.p_plain_label.tolist() == ["NORMAL", "PNEUMONIA"]
    assert saved.p_adabn_label.tolist() == ["PNEUMONIA", "PNEUMONIA"]
    single = pd.read_csv(
        evaluate.save_predictions("one", frame, np.array([0.2, 0.9]), results_dir=tmp_path)
    )
    assert single.columns.tolist() == ["path", "label", "probability"]


def test_summary_and_published_comparison_tables(case, tmp_path) -> None:
    y, p = case
    row = evaluate.record("cnn", "test", y, p, 0.5, results_dir=tmp_path)
    summary = evaluate.summary_table({"plain": row})
    assert summary.loc["roc_auc", "plain"].startswith(f"{row.roc_auc:.3f} (")
    comparison = evaluate.published_comparison({"plain": row}, y)
    assert len(comparison) == 2 + len(evaluate.PUBLISHED)
    always = comparison.iloc[-1]
    assert always.accuracy == pytest.approx(390 / 624) and always.roc_auc == 0.5


def test_forget_final_removes_test_rows_and_final_validation_rows(case, tmp_path) -> None:
    y, p = case
    assert evaluate.forget_final(tmp_path) == 0  # no metrics.csv yet
    for model, split in [("cnn", "val"), ("cnn@final", "val"), ("cnn", "test"), ("b", "test")]:
        evaluate.record(model, split, y, p, 0.5, results_dir=tmp_path, ci=False)
    assert evaluate.forget_final(tmp_path) == 3
    table = evaluate.load_metrics(tmp_path)
    assert list(zip(table.model, table.split, strict=True)) == [("cnn", "val")]
    assert evaluate.forget_final(tmp_path) == 0


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
