"""bench, presentation.pdf, experiments and the notebook runner, on small synthetic inputs."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from xraylib import bench, config, evaluate, experiment, models, plots, presentation, train
from xraylib.data import load_splits
from xraylib.errors import XrayError
from xraylib.notebook import execute


def test_bench_reports_every_field_the_design_asks_for(phantom_root, monkeypatch):
    monkeypatch.setenv("XRAY_DATA_DIR", str(phantom_root))
    result = bench.run(n_images=32, image_size=32, repeats=5)
    for key in (
        "train_images_per_s",
        "speedup",
        "pipeline_share",
        "predict_ms_warm",
        "predict_images_per_s",
        "device",
        "image_size",
        "batch_size",
        "n_images",
    ):
        assert key in result
    assert set(result["train_images_per_s"]) == {"decode_every_epoch", "xraylib"}
    assert result["speedup"] > 0 and result["pipeline_share"] >= 0
    assert "full-size" in result["decode_side"]
    json.dumps(result)
    assert "images/s" in bench.format_table(result)


def _fake_results() -> None:
    """Results files and figures shaped like those notebooks 01 and 06 write."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    evaluate.record("m@final", "val", y, p, 0.5, extra={"notebook": "06"})
    rows = {
        name: evaluate.record(model, "test", y, p, 0.5, extra={"adaptation": how})
        for name, model, how in [("plain", "m", "none"), ("adapted", "m+adabn", "AdaBN")]
    }
    evaluate.record("m", "val", y, p, 0.5, extra={"notebook": "03"})
    evaluate.published_comparison(rows, y).to_csv(
        config.results_dir() / "comparison.csv", index=False
    )
    frame = pd.DataFrame(
        {
            "path": [f"x{i}.jpeg" for i in range(200)],
            "label": np.where(y == 1, "PNEUMONIA", "NORMAL"),
        }
    )
    evaluate.save_predictions("test", frame, {"p_plain": p, "p_adabn": p}, 0.5)
    counts = pd.DataFrame(
        {"NORMAL": [300, 8, 90, 398], "PNEUMONIA": [900, 8, 110, 1018]},
        index=pd.Index(["train", "val", "test", "total"], name="split"),
    )
    counts["total"] = counts.sum(axis=1)
    counts.to_csv(config.results_dir() / "counts.csv")
    for name in (
        "01_class_counts",
        "03_comparison_auc",
        "06_gradcam_false_positive",
        "06_confusion_adabn",
    ):
        fig = plt.figure()
        plots.save_fig(fig, name)
        plt.close(fig)


def test_presentation_has_at_least_eight_slides_from_the_results_files(tmp_path):
    _fake_results()
    out = presentation.build(tmp_path / "slides.pdf")
    assert out.read_bytes().count(b"/Type /Page\n") + out.read_bytes().count(b"/Type /Page ") >= 8


def test_presentation_without_results_says_which_file_is_missing(tmp_path):
    with pytest.raises(XrayError, match="metrics.csv is missing"):
        presentation.build(tmp_path / "slides.pdf")


def test_an_experiment_records_its_validation_row_history_and_model(phantom_root, monkeypatch):
    monkeypatch.setenv("XRAY_DATA_DIR", str(phantom_root))
    splits = load_splits(progress=False)
    train.new_session(0)
    run = experiment.run(
        "tiny", models.build_cnn(splits.image_size, filters=(8,)), splits, notebook="99", save=True
    )
    row = evaluate.load_metrics().set_index("model").loc["tiny"]
    assert row.split == "val" and row.notebook == "99" and row.n == len(splits.y_val)
    assert len(experiment.load_history("tiny")) == len(run.fit.history)
    assert (config.models_dir() / "tiny.keras").is_file()
    assert experiment.compare([run]).index.tolist() == ["tiny"]


def test_the_notebook_runner_executes_in_place_and_records_wall_time(tmp_path, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    book = new_notebook(cells=[new_code_cell("print(6 * 7)")])
    path = tmp_path / "01_tiny.ipynb"
    nbformat.write(book, path)
    table = execute([path])
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].strip() == "42"
    assert table.notebook.tolist() == ["01_tiny"] and table.seconds.iloc[0] > 0
    assert (config.results_dir() / "runtime.csv").is_file()
