"""bench, presentation.pdf, experiments and the notebook runner, on small synthetic inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from xraylib import (
    bench,
    config,
    layers,
    models,
    narrative,
    plots,
    presentation,
    report,
    results,
)
from xraylib.data import scan
from xraylib.errors import XrayError
from xraylib.notebook import execute


def _tiny_final_model(folder, policy: str | None = None) -> str:
    """A final model file like notebook 06's: an ensemble of two tiny CNNs at 32 px, trained
    with the augmentation ``policy`` (a name of ``models.AUGMENTATIONS``; None: without)."""
    members = [
        models.build_cnn(
            32,
            filters=(8,),
            augment=models.augmentation(**models.AUGMENTATIONS[policy]) if policy else None,
            name=f"cnn_{k}",
        )
        for k in range(2)
    ]
    return str(results.save_final(models.ensemble(members, name="final"), 0.5, folder / "f.keras"))


def test_bench_measures_the_final_model_and_reports_every_field_the_design_asks_for(
    phantom_root, tmp_path
):
    path = _tiny_final_model(tmp_path)
    result = bench.throughput(
        n_images=10_000, batch_size=16, repeats=5, model_path=path, data_dir=phantom_root
    )
    for key in (
        "train_images_per_s",
        "speedup",
        "pipeline_share",
        "predict_ms_warm",
        "predict_images_per_s",
        "augmentation_share",
        "augmentation_ms",
        "device",
        "image_size",
        "batch_size",
        "n_images",
    ):
        assert key in result
    assert set(result["train_images_per_s"]) == {"decode_every_epoch", "xraylib"}
    assert result["speedup"] > 0 and result["pipeline_share"] >= 0
    n_train = (scan(phantom_root, progress=False).frame.split == "train").sum()
    assert result["n_images"] == n_train  # clamped to the training images, never test ones
    assert result["image_size"] == 32  # the final model's, from its final.json
    assert "final model final (2 members" in result["model"] and "member cnn_0" in result["model"]
    assert "2000×1700" in result["decode_side"] and "224" not in result["decode_side"]
    assert result["device"].startswith("TensorFlow devices CPU:0")
    json.dumps(result, allow_nan=False)
    assert "images/s" in bench.format_table(result)
    assert result["augmentation_share"] == 0.0  # its members have no augmentation block
    assert result["augmentation_ms"]["network_step"] > 0


def test_bench_json_gives_the_augmentation_share_of_a_training_step(
    phantom_root, monkeypatch, tmp_path, capsys
):
    from xraylib.__main__ import main

    monkeypatch.setenv("XRAY_DATA_DIR", str(phantom_root))
    monkeypatch.setattr(bench, "FULL_SIZE", (200, 170))  # the decode side is not under test
    results.save_final(
        results.load_model(_tiny_final_model(tmp_path, "acquisition_borders")), 0.5
    )  # at results.default_model_path(), where ``bench`` looks
    assert main(["bench", "--json", "--images", "64"]) == 0
    shown = json.loads(capsys.readouterr().out)
    times = shown["augmentation_ms"]
    assert 0 < shown["augmentation_share"] < 1
    assert shown["augmentation_share"] == pytest.approx(times["block"] / times["train_step"], 1e-3)
    assert times["block"] > 0 and times["train_step"] > 0 and times["network_step"] > 0
    assert "augmentation share" in bench.format_table(shown)
    assert set(shown["layers_ms"]) == {"affine", "noise", "blur"}
    for name, times in shown["layers_ms"].items():
        assert times["xraylib"] > 0 and times["keras"] > 0
        assert f"{name:<7} xraylib / Keras layers" in bench.format_table(shown)


def test_bench_times_an_old_models_augmentation_with_this_versions_layers() -> None:
    old = keras.Sequential(
        [
            keras.layers.RandomRotation(0.02, fill_mode="constant", name="rotation"),
            keras.layers.RandomGaussianBlur(1.0, 3, sigma=1.0, name="blur"),
        ],
        name="augmentation",
    )
    member = models.build_cnn(32, filters=(8,), augment=old)
    block = bench._current_block(member)
    assert [type(layer) for layer in block.layers] == [
        layers.RandomAffine,
        keras.layers.RandomGaussianBlur,
    ]
    assert bench._current_block(models.build_cnn(32, filters=(8,))) is None


def test_bench_with_fewer_than_two_batches_of_training_images_is_one_line(phantom_root, tmp_path):
    with pytest.raises(XrayError, match="fewer than 2 batches of 256") as caught:
        bench.throughput(
            batch_size=256, model_path=_tiny_final_model(tmp_path), data_dir=phantom_root
        )
    assert "\n" not in str(caught.value)


def _fake_results(p_adapted: np.ndarray | None = None, declared: str | None = "AdaBN") -> None:
    """Results files, figures and ``final.json`` shaped like those notebooks 01 and 06 write
    (``declared``: the adaptation ``final.json`` names; ``None``, an older file without one)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    results.save_metrics(
        "m@final", "val", y, p, 0.5, ci=False, extra={"notebook": "06", "target_sensitivity": 0.97}
    )
    results.save_metrics("m", "val", y, p, 0.5, ci=False, extra={"notebook": "03"})
    adapted = p if p_adapted is None else p_adapted
    rows = {
        how: results.save_metrics(
            f"m{suffix}", "test", y, q, 0.5, ci=how == "AdaBN", extra={"adaptation": how}
        )
        for how, suffix, q in [
            ("none", "", p),
            ("prior shift (EM)", "+prior", p),
            ("AdaBN", "+adabn", adapted),
        ]
    }
    results.append_to_ledger(list(rows.values()), "m", "a recipe", list(rows))
    results.published_comparison({"plain": rows["none"], "adapted": rows["AdaBN"]}, y).to_csv(
        config.results_dir() / "comparison.csv", index=False
    )
    counts = pd.DataFrame(
        {"NORMAL": [300, 8, 90, 398], "PNEUMONIA": [900, 8, 110, 1018]},
        index=pd.Index(["train", "val", "test", "total"], name="split"),
    )
    counts["total"] = counts.sum(axis=1)
    counts.to_csv(config.results_dir() / "counts.csv")
    (config.models_dir() / "final.keras").write_bytes(b"")  # only final.json beside it is read
    facts = {"threshold": 0.5, "model": "m", "image_size": 32}
    if declared:
        facts["adaptation"] = declared
    (config.models_dir() / "final.json").write_text(json.dumps(facts))
    fig = plt.figure()
    plots.save_fig(fig, "01_sample_grid")
    plt.close(fig)
    for name in {name for name, _, _ in presentation.GRADCAM_PANELS}:
        images = rng.integers(0, 255, (4, 32, 32, 1)).astype("uint8")
        plt.close(plots.plot_gradcam(images, rng.random((4, 32, 32)), save=name))


def test_presentation_has_at_least_eight_slides_from_the_results_files(tmp_path):
    _fake_results()
    out = presentation.build(tmp_path / "slides.pdf")
    assert out.read_bytes().count(b"/Type /Page\n") + out.read_bytes().count(b"/Type /Page ") >= 8


def test_presentation_without_results_says_which_file_is_missing(tmp_path):
    with pytest.raises(XrayError, match="metrics.csv is missing"):
        presentation.build(tmp_path / "slides.pdf")


def test_presentation_builds_when_the_adapted_model_flags_no_child(tmp_path):
    _fake_results(p_adapted=np.linspace(0, 0.4, 200))  # always NORMAL: no TP and no FP
    assert presentation.build(tmp_path / "slides.pdf").is_file()


@pytest.mark.parametrize(("declared", "expected"), [("AdaBN", "AdaBN"), (None, "prior shift (EM)")])
def test_the_adapted_result_is_the_one_final_json_declares(declared, expected):
    _fake_results(declared=declared)  # without a declaration: the first adapted test row
    res = results.Results()
    assert res.adaptation == expected and res.plain.adaptation == "none"


@pytest.mark.parametrize(("declared", "named"), [("AdaBN", True), ("prior shift (EM)", False)])
def test_the_adaptation_slide_names_a_single_step_that_beat_the_declared_one(declared, named):
    _fake_results(p_adapted=np.full(200, 0.9), declared=declared)  # AdaBN flags every child
    res = results.Results()
    texts = presentation.slide_adaptation(res).texts
    shown = " ".join(text.get_text() for text in texts).replace("\n", " ")
    assert ("In hindsight another step gives 0; we keep the one fixed before." in shown) is named


def test_results_are_told_as_natural_frequencies():
    row = pd.Series({"sensitivity": 0.9821, "specificity": 0.5684})
    assert narrative.flagged_sentence(row) == (
        "Of 100 X-rays with pneumonia, it flags 98; of 100 healthy X-rays, it sends 43 for a "
        "needless second look."
    )


def test_importing_presentation_leaves_the_matplotlib_backend_unchanged():
    code = (
        "import matplotlib; matplotlib.use('svg'); import xraylib.presentation; "
        "print(matplotlib.get_backend())"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "svg"


@pytest.mark.parametrize("split", ["test", "val"])
def test_presentation_before_notebook_06_is_a_one_line_error(tmp_path, split):
    _fake_results()
    table = results.load_metrics()
    if split == "test":
        table = table[table.split != "test"]
    else:
        table = table[~table.model.str.endswith("@final")]
    table.to_csv(config.results_dir() / "metrics.csv", index=False)
    with pytest.raises(XrayError, match="run notebook 06 first") as caught:
        presentation.build(tmp_path / "slides.pdf")
    assert "\n" not in str(caught.value)


def test_readme_blocks_are_made_from_the_results_files():
    _fake_results()
    comparison = report.comparison_markdown()
    lines = comparison.splitlines()
    assert lines[0] == "| model | source | accuracy | sensitivity | specificity | roc_auc |"
    assert len(lines) == 2 + len(pd.read_csv(config.results_dir() / "comparison.csv"))
    assert "| – |" in comparison  # a published value the paper does not give
    assert report.results_markdown().count("\n| m") == 3  # plain and two adapted test rows
    assert set(report.BLOCKS) == {
        "verdict",
        "results",
        "ledger",
        "targets",
        "comparison",
        "bench",
        "gate",
        "originals",
    }


def test_the_plain_words_verdict_is_read_from_the_results_and_counts_the_targets():
    _fake_results(p_adapted=np.full(200, 0.9))  # AdaBN calls every child pneumonia
    res = results.Results()
    verdict = report.verdict_markdown()
    assert f"test ROC AUC of {res.plain.roc_auc:.3f}" in verdict
    assert "specificity 0.000, accuracy" in verdict  # the adapted row, as declared (AdaBN)
    met = results.target_check(res.plain, res.adapted).met
    assert f"It meets {int(met.sum())} of 4 targets; missed: " in verdict
    assert verdict.count(" < ") == int((~met).sum())


def test_the_ledger_block_lists_every_row_and_counts_the_reads():
    _fake_results()
    _fake_results()  # a second read of the test set: three more rows
    ledger = report.ledger_markdown()
    assert ledger.startswith("The official test set has been read 2 times (6 rows).")
    assert ledger.count("\n| 1 |") == 3 and ledger.count("\n| 2 |") == 3


def test_the_readme_ledger_block_equals_the_committed_ledger():
    committed = config.ROOT / "data" / "results"
    assert report.readme_block("ledger") == report.ledger_markdown(committed)


@pytest.mark.parametrize(
    ("make", "name", "hint"),
    [
        (report.results_markdown, "metrics.csv", "notebook 06"),
        (report.ledger_markdown, "test_ledger.csv", "notebook 06"),
        (report.targets_markdown, "test_ledger.csv", "notebook 06"),
        (report.comparison_markdown, "comparison.csv", "notebook 06"),
        (report.bench_markdown, "bench.json", "make bench"),
    ],
)
def test_a_missing_results_file_is_a_one_line_error(make, name, hint):
    with pytest.raises(XrayError, match=rf"{name} is missing: .*{hint}") as caught:
        make()
    assert "\n" not in str(caught.value)


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


def test_a_failing_notebook_is_one_line_and_earlier_times_are_kept(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    good, bad = tmp_path / "01_good.ipynb", tmp_path / "02_bad.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), good)
    nbformat.write(new_notebook(cells=[new_code_cell("1 / 0")]), bad)
    with pytest.raises(XrayError, match="02_bad.ipynb failed: ZeroDivisionError") as caught:
        execute([good, bad])
    assert "\n" not in str(caught.value)
    runtime = pd.read_csv(config.results_dir() / "runtime.csv")
    assert runtime.notebook.tolist() == ["01_good"]
