"""The results store: metrics.csv, prediction files, the comparison and the test ledger."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from xraylib import evaluate, results
from xraylib.errors import XrayError


def test_save_metrics_writes_one_row_per_model_and_split_and_replaces_it(case, tmp_path) -> None:
    y, p = case
    results.save_metrics("cnn", "val", y, p, 0.5, results_dir=tmp_path, extra={"epochs": 3})
    results.save_metrics("cnn", "test", y, p, 0.5, results_dir=tmp_path, ci=False)
    row = results.save_metrics(
        "cnn", "val", y, 1 - p, 0.4, results_dir=tmp_path, extra={"epochs": 5, "notebook": "03"}
    )
    table = results.load_metrics(tmp_path)
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
    table = results.load_metrics(tmp_path)
    assert table.empty and {"model", "split", "roc_auc"} <= set(table.columns)


def test_save_predictions_keeps_the_frame_and_adds_probabilities(tmp_path) -> None:
    frame = pd.DataFrame(
        {"path": ["a.jpeg", "b.jpeg"], "label": ["NORMAL", "PNEUMONIA"]}, index=[10, 20]
    )
    path = results.save_predictions(
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
        results.save_predictions("one", frame, np.array([0.2, 0.9]), results_dir=tmp_path)
    )
    assert single.columns.tolist() == ["path", "label", "probability"]


def test_summary_and_published_comparison_tables(case, tmp_path) -> None:
    y, p = case
    row = results.save_metrics("cnn", "test", y, p, 0.5, results_dir=tmp_path)
    summary = results.summary_table({"plain": row})
    assert summary.loc["roc_auc", "plain"].startswith(f"{row.roc_auc:.3f} (")
    comparison = results.published_comparison({"plain": row}, y)
    assert len(comparison) == 2 + len(results.PUBLISHED)
    always = comparison.iloc[-1]
    assert always.accuracy == pytest.approx(390 / 624) and always.roc_auc == 0.5


def test_forget_final_removes_test_rows_and_final_validation_rows(case, tmp_path) -> None:
    y, p = case
    assert results.forget_final(tmp_path) == 0  # no metrics.csv yet
    for model, split in [("cnn", "val"), ("cnn@final", "val"), ("cnn", "test"), ("b", "test")]:
        results.save_metrics(model, split, y, p, 0.5, results_dir=tmp_path, ci=False)
    assert results.forget_final(tmp_path) == 3
    table = results.load_metrics(tmp_path)
    assert list(zip(table.model, table.split, strict=True)) == [("cnn", "val")]
    assert results.forget_final(tmp_path) == 0


def test_a_rerun_forgets_the_runs_of_its_notebook_and_the_later_ones(case, tmp_path) -> None:
    y, p = case
    assert len(results.forget_from("05", tmp_path)) == 0  # no metrics.csv yet
    for model, notebook in [("lesson", "03"), ("policy_seed1", "04"), ("policy_seed3", "05")]:
        extra = {"notebook": notebook, "saved": model != "lesson"}
        results.save_metrics(model, "val", y, p, 0.5, results_dir=tmp_path, ci=False, extra=extra)
    stress = pd.DataFrame({"model": ["lesson", "policy_seed3"], "log_loss": [0.1, 0.2]})
    stress.to_csv(tmp_path / results.STRESS_FILE, index=False)
    aside = results.forget_from("05", tmp_path)  # the seed trained after 05's decision
    assert list(aside.metrics.model) == ["policy_seed3"] and list(aside.stress.model) == [
        "policy_seed3"
    ]
    assert list(results.load_metrics(tmp_path).model) == ["lesson", "policy_seed1"]
    assert list(pd.read_csv(tmp_path / results.STRESS_FILE).model) == ["lesson"]
    assert len(results.forget_from("04", tmp_path)) == 2
    assert list(results.load_metrics(tmp_path).model) == ["lesson"]


def test_a_forgotten_run_is_put_back_as_it_was(case, tmp_path) -> None:
    y, p = case
    extra = {"notebook": "04", "saved": True}
    results.save_metrics("policy_seed1", "val", y, p, 0.5, results_dir=tmp_path, extra=extra)
    pd.DataFrame({"model": ["policy_seed1"], "log_loss": [0.1]}).to_csv(
        tmp_path / results.STRESS_FILE, index=False
    )
    before = [(tmp_path / name).read_text() for name in (results.METRICS_FILE, results.STRESS_FILE)]
    results.forget_from("04", tmp_path)
    row = results.restore("policy_seed1", tmp_path)
    assert row.model == "policy_seed1" and len(results.forgotten(tmp_path)) == 0
    after = [(tmp_path / name).read_text() for name in (results.METRICS_FILE, results.STRESS_FILE)]
    assert after == before
    assert not any((tmp_path / name).exists() for name in results.FORGOTTEN_FILES)
    with pytest.raises(XrayError, match="no forgotten validation run"):
        results.restore("policy_seed1", tmp_path)


def test_best_candidate_picks_by_the_column_and_direction_asked(case, tmp_path) -> None:
    y, p = case
    results.save_metrics(
        "a",
        "val",
        y,
        p,
        0.5,
        results_dir=tmp_path,
        ci=False,
        extra={"notebook": "03", "stress_log_loss": 0.3},
    )
    results.save_metrics(
        "b",
        "val",
        y,
        1 - p,
        0.5,
        results_dir=tmp_path,
        ci=False,
        extra={"notebook": "03", "stress_log_loss": 0.2},
    )
    query = "notebook == '03'"
    assert results.best_candidate(query, results_dir=tmp_path).model == "a"
    lowest = results.best_candidate(query, "stress_log_loss", ascending=True, results_dir=tmp_path)
    assert lowest.model == "b"
    with pytest.raises(XrayError, match="no row of metrics.csv matches"):
        results.best_candidate("notebook == '09'", results_dir=tmp_path)


def test_ledger_only_appends_and_numbers_each_read(case, tmp_path) -> None:
    y, p = case
    assert results.count_test_reads(tmp_path) == 0
    plain = results.score_row("m", "test", y, p, 0.5)
    adapted = results.score_row("m+adabn", "test", y, p, 0.6)
    first = results.append_to_ledger(
        [plain, adapted], "m", "recipe", ["none", "AdaBN"], note="first", results_dir=tmp_path
    )
    assert first["read"].tolist() == [1, 1]
    results.append_to_ledger([plain], "m", "recipe", ["none"], results_dir=tmp_path)
    ledger = results.load_ledger(tmp_path)
    assert ledger["read"].tolist() == [1, 1, 2]
    assert results.count_test_reads(tmp_path) == 2
    pd.testing.assert_frame_equal(ledger.iloc[:2].reset_index(drop=True), first, check_dtype=False)
    assert ledger.loc[0, "accuracy"] == pytest.approx(plain["accuracy"])
    assert {"date", "commit", "recipe", "adaptation", "roc_auc_low", "note"} <= set(ledger)


def test_target_check_says_which_targets_are_met() -> None:
    plain = {"roc_auc": 0.97}
    adapted = {"accuracy": 0.90, "sensitivity": 0.96, "roc_auc": 0.965}
    table = results.target_check(plain, adapted)
    assert len(table) == len(results.TARGETS)
    met = dict(zip(zip(table.result, table.metric, strict=True), table.met, strict=True))
    assert met == {
        ("plain", "roc_auc"): True,
        ("adapted", "accuracy"): False,
        ("adapted", "sensitivity"): True,
        ("adapted", "roc_auc"): True,
    }
