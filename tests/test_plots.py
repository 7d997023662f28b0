"""Every figure function returns a Figure and, given a name, writes images/NAME.png."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from xraylib import config, evaluate, plots

matplotlib.use("Agg")


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "split": rng.choice(["train", "val", "test"], n),
            "label": rng.choice(config.CLASS_NAMES, n),
            "patient_id": [f"p{i // 2}" for i in range(n)],
            "width": rng.integers(1000, 2000, n),
            "height": rng.integers(800, 1800, n),
        }
    )


@pytest.fixture
def predictions() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    return y, np.clip(0.4 * y + 0.6 * rng.random(200), 0, 1)


def _history(gap: float) -> pd.DataFrame:
    epochs = np.arange(1, 6)
    history = {"epoch": epochs}
    for name, start in (("loss", 0.7), ("accuracy", 0.6), ("auc", 0.6)):
        trend = start - 0.05 * epochs if name == "loss" else start + 0.05 * epochs
        history[name] = trend
        history[f"val_{name}"] = trend + (gap if name == "loss" else -gap)
    return pd.DataFrame(history)


def _stress(models: int = 3) -> pd.DataFrame:
    """A stress table like ``results.load_stress``: every model under 15 perturbations."""
    rng = np.random.default_rng(4)
    names = [f"cnn_model_number_{i}" for i in range(models)]
    perturbations = ["none", *(f"change {i}" for i in range(14))]
    rows = [
        {"model": m, "perturbation": q, "roc_auc": 0.9 + 0.1 * rng.random(), "log_loss": x}
        for m in names
        for q, x in zip(perturbations, 10 ** rng.uniform(-1.5, 0.3, 15), strict=True)
    ]
    return pd.DataFrame(rows)


def _trials(new_style: bool = True) -> pd.DataFrame:
    """A trials table: 12 short trials, 4 longer, 3 of the final round (one hand-made)."""
    rng = np.random.default_rng(5)
    n = 19
    budget = np.r_[np.full(12, 2.0), np.full(4, 4.0), np.full(3, 10.0)]
    table = pd.DataFrame(
        {
            "trial_id": [f"{i:04d}" for i in range(n)],
            "tuner": "tuner0",
            "status": ["COMPLETED"] * 17 + ["FAILED", "COMPLETED"],
            "val_loss": rng.uniform(0.1, 0.6, n),
            "val_auc": rng.uniform(0.9, 1.0, n),
            "epochs": budget,
            "epoch_budget": budget,
            "seconds": 10.0,
            "blocks": rng.choice([2, 3, 4], n),
            "filters": rng.choice([16, 32], n),
            "dropout": rng.choice([0.0, 0.1, 0.2], n),
            "learning_rate": 10 ** rng.uniform(-4, -2.5, n),
        }
    )
    if new_style:
        table["handmade"] = np.arange(n) == 16
        table["stress_log_loss"] = 0.2 + 0.4 / budget + 0.1 * (table.blocks == 2)
        table["weight_decay"] = 10 ** rng.uniform(-5, -3, n)
    else:
        table["batch_norm"] = rng.choice([False, True], n)
        table["val_brier"] = rng.uniform(0.05, 0.2, n)  # a result column of an older table
    return table


def _seed_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "design": ["hand-made"] * 3 + ["searched"] * 3,
            "seed": [1, 2, 3] * 2,
            "stress_log_loss": [0.120, 0.122, 0.123, 0.14, 0.11, 0.19],
            "log_loss": [0.11, 0.13, 0.12, 0.05, 0.04, 0.06],
        }
    )


def _cases(frame: pd.DataFrame, y: np.ndarray, p: np.ndarray) -> dict[str, Callable]:
    images = np.random.default_rng(2).integers(0, 256, (5, 16, 16, 1), dtype=np.uint8)
    table = pd.DataFrame(
        {
            "model": ["dense", "cnn", "cnn"],
            "split": ["val", "val", "test"],
            "roc_auc": [0.8, 0.9, 0.85],
            "roc_auc_low": [0.75, 0.86, 0.8],
            "roc_auc_high": [0.85, 0.94, 0.9],
        }
    )
    return {
        "class_counts": lambda: plots.plot_class_counts(frame, save="t_counts"),
        "image_grid": lambda: plots.plot_image_grid(
            images, [f"#{i}" for i in range(5)], ncols=3, save="t_grid"
        ),
        "sizes": lambda: plots.plot_size_distribution(frame.width, frame.height, save="t_sizes"),
        "sizes_uniform": lambda: plots.plot_size_distribution(
            [224] * 30, [224] * 30, save="t_sizes"
        ),
        "mean_difference": lambda: plots.plot_mean_difference(
            [images[:2].mean(axis=0), images[2:].mean(axis=0)], save="t_means"
        ),
        "patients": lambda: plots.plot_patients_per_class(frame, save="t_patients"),
        "curves": lambda: plots.plot_learning_curves(_history(0.1), best_epoch=3, save="t_curves"),
        "compare": lambda: plots.plot_learning_curves_compare(
            {"a": _history(0.05), "b": _history(0.3)}, save="t_compare"
        ),
        "confusion": lambda: plots.plot_confusion(
            evaluate.confusion(y, p, 0.5), title="val", save="t_confusion"
        ),
        "roc_pr": lambda: plots.plot_roc_pr(y, {"plain": p, "other": p**2}, 0.5, save="t_roc_pr"),
        "tradeoff": lambda: plots.plot_threshold_tradeoff(y, p, 0.5, save="t_tradeoff"),
        "calibration": lambda: plots.plot_calibration(y, p, save="t_calibration"),
        "calibration_several": lambda: plots.plot_calibration(
            y[:19], {"a": p[:19], "b": p[:19] ** 2}, bins=5, save="t_calibration"
        ),
        "comparison": lambda: plots.plot_model_comparison(table, save="t_comparison"),
        "comparison_loss": lambda: plots.plot_model_comparison(
            table.assign(log_loss=[0.05, 0.07, 0.06]), metric="log_loss", save="t_comparison"
        ),
        "gradcam": lambda: plots.plot_gradcam(
            images,
            np.random.default_rng(3).random((5, 16, 16)),
            titles=list("abcde"),
            save="t_gradcam",
        ),
        "gradcam_truth": lambda: plots.plot_gradcam(
            images,
            np.random.default_rng(3).random((5, 16, 16)),
            true_labels=["NORMAL", "PNEUMONIA", "NORMAL", "PNEUMONIA", "NORMAL"],
            probabilities=[0.61, 0.9, 0.1, 0.2, 0.5],
            threshold=0.4,
            title="errors",
            save="t_gradcam",
        ),
        "stress": lambda: plots.plot_stress(_stress(6), save="t_stress"),
        "stress_one": lambda: plots.plot_stress(_stress(1), save="t_stress"),
        "seed_spread": lambda: plots.plot_seed_spread(_seed_rows(), save="t_seeds"),
        "search_effects": lambda: plots.plot_search_effects(
            _trials(), highlight="0016", save="t_effects"
        ),
        "search_effects_old": lambda: plots.plot_search_effects(
            _trials(False), objective="val_loss", save="t_effects"
        ),
        "ood_few": lambda: plots.plot_ood_scores(
            np.random.default_rng(6).lognormal(2, 0.3, 300),
            np.random.default_rng(7).lognormal(2.3, 0.4, 19),
            16.0,
            save="t_ood",
        ),
        "ood_mixed": lambda: plots.plot_ood_scores(
            np.random.default_rng(6).lognormal(2, 0.3, 300),
            {"many": np.random.default_rng(8).lognormal(3, 0.3, 200), "few": [9.0, 30.0]},
            16.0,
            save="t_ood",
        ),
    }


CASES = [
    "class_counts",
    "image_grid",
    "sizes",
    "sizes_uniform",
    "mean_difference",
    "patients",
    "curves",
    "compare",
    "confusion",
    "roc_pr",
    "tradeoff",
    "calibration",
    "calibration_several",
    "comparison",
    "comparison_loss",
    "gradcam",
    "gradcam_truth",
    "stress",
    "stress_one",
    "seed_spread",
    "search_effects",
    "search_effects_old",
    "ood_few",
    "ood_mixed",
]


@pytest.mark.parametrize("name", CASES)
def test_plot_returns_a_figure_and_saves_it(name: str, frame, predictions) -> None:
    figure = _cases(frame, *predictions)[name]()
    try:
        assert isinstance(figure, Figure)
        saved = sorted(config.images_dir().glob("t_*.png"))
        assert len(saved) == 1 and saved[0].stat().st_size > 1000
    finally:
        plt.close(figure)


def test_figures_are_not_saved_without_a_name(predictions) -> None:
    figure = plots.plot_threshold_tradeoff(*predictions)
    plt.close(figure)
    assert list(config.images_dir().glob("*.png")) == []


def test_save_fig_writes_a_png_named_after_the_figure() -> None:
    figure, _ = plt.subplots()
    path = plots.save_fig(figure, "empty")
    plt.close(figure)
    assert path == config.images_dir() / "empty.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_importing_plots_leaves_the_global_style_alone() -> None:
    import importlib

    before = dict(matplotlib.rcParams)
    importlib.reload(plots)
    assert dict(matplotlib.rcParams) == before


def _texts(figure: Figure) -> list[str]:
    """Every text drawn in a figure (titles, labels, annotations, tick labels)."""
    return [t.get_text() for t in figure.findobj(matplotlib.text.Text)]


def test_one_size_for_every_image_is_said_not_drawn_as_one_dot() -> None:
    figure = plots.plot_size_distribution([224] * 30, [224] * 30)
    try:
        assert any("all 30 images are 224×224" in text for text in _texts(figure))
    finally:
        plt.close(figure)


def test_the_difference_image_is_centred_at_zero_with_a_colour_bar() -> None:
    first, second = np.full((8, 8), 100.0), np.full((8, 8), 100.0)
    second[:4] += 30
    second[4:] -= 10
    figure = plots.plot_mean_difference([first, second])
    try:
        difference = figure.axes[2].images[0]
        low, high = difference.get_clim()
        assert low == -high == -30 and difference.get_cmap().name == "RdBu_r"
        assert any("grey levels" in ax.get_ylabel() for ax in figure.axes[3:])
    finally:
        plt.close(figure)


def test_images_per_patient_are_counted_on_a_log_scale(frame) -> None:
    figure = plots.plot_patients_per_class(frame)
    try:
        assert figure.axes[1].get_yscale() == "log"
    finally:
        plt.close(figure)


def test_stress_writes_every_value_and_bolds_each_rows_worst() -> None:
    table = _stress(3)
    figure = plots.plot_stress(table)
    try:
        loss = figure.axes[1]
        cells = [t for t in loss.texts]
        assert len(cells) == len(table)
        worst = table.loc[table.groupby("perturbation", sort=False).log_loss.idxmax(), "log_loss"]
        bold = [t.get_text() for t in cells if t.get_fontweight() == "bold"]
        assert bold == [f"{v:.3f}" if v < 0.1 else f"{v:.2f}" for v in worst]
        assert loss.get_legend() is None
    finally:
        plt.close(figure)


def test_model_comparison_leaves_room_for_every_value_label() -> None:
    table = pd.DataFrame(
        {
            "model": ["a", "b"],
            "split": "val",
            "log_loss": [0.04, 0.07],
            "log_loss_low": [0.02, 0.04],
            "log_loss_high": [0.07, 0.11],
        }
    )
    figure = plots.plot_model_comparison(table, metric="log_loss")
    try:
        ax = figure.axes[0]
        figure.canvas.draw()
        right = ax.get_window_extent().x1
        assert all(t.get_window_extent().x1 <= right for t in ax.texts)
        assert ax.get_xlim()[1] > 0.11
    finally:
        plt.close(figure)


def test_calibration_says_how_many_images_each_bin_holds(predictions) -> None:
    y, p = predictions
    figure = plots.plot_calibration(y, p, bins=5)
    try:
        counts = evaluate.calibration(y, p, 5).table["count"]
        written = [t.get_text() for t in figure.axes[0].texts]
        assert written == [f"{c:g}" for c in counts]
    finally:
        plt.close(figure)


def test_few_ood_scores_are_dots_not_a_histogram() -> None:
    reference = np.random.default_rng(6).lognormal(2, 0.3, 300)
    figure = plots.plot_ood_scores(reference, [5.0, 9.0, 20.0, 30.0], 16.0)
    try:
        strip = figure.axes[1]
        assert len(strip.collections[0].get_offsets()) == 4
        assert "2 above threshold" in strip.get_yticklabels()[0].get_text()
        assert len(figure.axes[0].patches) == 1  # only validation's histogram
    finally:
        plt.close(figure)


def test_gradcam_titles_say_the_truth_and_the_answer() -> None:
    images = np.zeros((2, 8, 8, 1), np.uint8)
    figure = plots.plot_gradcam(
        images,
        np.zeros((2, 8, 8)),
        true_labels=["NORMAL", "PNEUMONIA"],
        probabilities=[0.61, 0.8],
    )
    try:
        titles = [ax.get_title() for ax in figure.axes[:2]]
        assert titles == ["true NORMAL · p=0.61 → PNEUMONIA", "true PNEUMONIA · p=0.80 → PNEUMONIA"]
        assert figure.axes[2].get_ylabel().startswith("Grad-CAM heat")
    finally:
        plt.close(figure)


def test_search_effects_uses_the_final_round_and_orders_panels_by_effect() -> None:
    trials = _trials()
    figure = plots.plot_search_effects(trials, highlight="0016")
    try:
        assert "the 2 completed trials with the largest budget (10 epochs" in figure.get_suptitle()
        panels = [ax for ax in figure.axes if ax.get_title()]
        assert panels[0].get_title().startswith("blocks")  # the only one that moves it
        legend = figure.legends[0]
        assert any("hand-made configuration (trial 0016)" in t.get_text() for t in legend.texts)
        names = {ax.get_title().split("\n")[0] for ax in panels}
        assert names == {"blocks", "filters", "dropout", "learning_rate", "weight_decay"}
    finally:
        plt.close(figure)


def test_search_effects_without_a_final_round_shows_every_completed_trial() -> None:
    trials = _trials().assign(epoch_budget=np.arange(19.0), epochs=np.arange(19.0))
    figure = plots.plot_search_effects(trials)
    try:
        assert "all 18 completed trials" in figure.get_suptitle()
    finally:
        plt.close(figure)


def test_the_highlighted_trial_is_found_however_its_id_is_written() -> None:
    for highlight in ("0016", 16, "16"):
        figure = plots.plot_search_effects(_trials(), highlight=highlight)
        try:
            texts = [t.get_text() for t in figure.legends[0].texts]
            assert any(text.startswith("hand-made configuration") for text in texts)
        finally:
            plt.close(figure)
