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


def test_stress_writes_every_value_with_three_decimals_and_bolds_each_rows_worst() -> None:
    table = _stress(3)
    figure = plots.plot_stress(table)
    try:
        loss = figure.axes[1]
        cells = [t for t in loss.texts]
        assert len(cells) == len(table)
        assert all(len(t.get_text().split(".")[1]) == 3 for t in cells)
        worst = table.loc[table.groupby("perturbation", sort=False).log_loss.idxmax(), "log_loss"]
        bold = [t.get_text() for t in cells if t.get_fontweight() == "bold"]
        assert bold == [f"{v:.3f}" for v in worst]
        assert loss.get_legend() is None
        auc = figure.axes[0].collections[0].norm  # its own scale: the AUCs' range
        assert (auc.vmin, auc.vmax) == (table.roc_auc.min(), table.roc_auc.max())
    finally:
        plt.close(figure)


def test_stress_bolds_no_cell_of_a_row_whose_worst_is_tied() -> None:
    table = _stress(3)
    first = table.perturbation == "change 0"
    table.loc[first, "log_loss"] = [0.5, 0.9, 0.9]
    figure = plots.plot_stress(table)
    try:
        cells = figure.axes[1].texts
        row = [t for t in cells if t.get_position()[1] == 1.5]  # "change 0", below "none"
        assert [t.get_text() for t in row] == ["0.500", "0.900", "0.900"]
        assert all(t.get_fontweight() == "normal" for t in row)
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


def test_a_score_comparison_ends_at_one_with_its_values_inside() -> None:
    table = pd.DataFrame(
        {
            "model": ["a", "b"],
            "split": "val",
            "roc_auc": [0.98, 0.995],
            "roc_auc_low": [0.96, 0.99],
            "roc_auc_high": [0.99, 1.0],
        }
    )
    figure = plots.plot_model_comparison(table)
    try:
        ax = figure.axes[0]
        figure.canvas.draw()
        assert ax.get_xlim()[1] == 1.0
        right = ax.get_window_extent().x1
        assert sorted(t.get_text() for t in ax.texts) == ["0.980", "0.995"]
        assert all(t.get_window_extent().x1 <= right for t in ax.texts)
    finally:
        plt.close(figure)


def test_calibration_bins_hold_equal_counts_shown_as_dot_sizes(predictions) -> None:
    y, p = predictions
    figure = plots.plot_calibration(y, p, bins=5)
    try:
        top = figure.axes[0]
        assert len(top.texts) == 0  # no count labels over the markers
        sizes = top.collections[0].get_sizes()
        assert len(sizes) == 5 and np.ptp(sizes) == 0  # 200 images: 5 bins of 40
        assert "200 images in 5 equal-count bins (about 40 each)" in top.get_title()
    finally:
        plt.close(figure)


def test_few_images_get_fewer_calibration_bins_and_integer_count_ticks(predictions) -> None:
    y, p = predictions
    figure = plots.plot_calibration(y[:16], p[:16], bins=5)
    try:
        top, bottom = figure.axes
        assert len(top.collections[0].get_offsets()) == 3  # at least 5 images per bin
        ticks = bottom.get_yticks()
        assert np.allclose(ticks, np.round(ticks))
    finally:
        plt.close(figure)


def test_learning_curves_share_fixed_ranges_and_mark_a_spike() -> None:
    calm, spiky = _history(0.0), _history(0.0)
    spiky.loc[2, "val_loss"] = 2.47
    figures = [plots.plot_learning_curves(h, 3) for h in (calm, spiky)]
    try:
        limits = [[ax.get_ylim() for ax in f.axes] for f in figures]
        assert limits[0] == limits[1]
        loss = figures[1].axes[0]
        assert loss.get_ylim()[1] < 1.0 and "2.47" in [t.get_text() for t in loss.texts]
        assert all(ax.get_legend() is None for ax in figures[1].axes)
        assert len(figures[1].legends) == 1  # under the panels, over no curve
    finally:
        for figure in figures:
            plt.close(figure)


def test_overfitting_gap_range_is_not_set_by_one_spike() -> None:
    plain, spiky = _history(0.05), _history(0.1)
    spiky.loc[1, "val_loss"] = 3.5
    figure = plots.plot_learning_curves_compare({"plain": plain, "spiky": spiky})
    try:
        gap = figure.axes[1]
        assert gap.get_ylim()[1] < 1.0
        assert any(t.get_text().startswith("2.") for t in gap.texts)  # 3.5 − training loss
    finally:
        plt.close(figure)


def test_threshold_spread_says_the_coverage_it_was_given() -> None:
    spread = np.random.default_rng(3).normal(0.5, 0.1, 500)
    figure = plots.plot_threshold_spread(spread, 0.49, coverage=0.90)
    try:
        low, high = np.quantile(spread, [0.05, 0.95])
        texts = [t.get_text() for t in figure.legends[0].texts]
        assert f"90% of resamples between {low:.3f} and {high:.3f}" in texts
        assert figure.axes[0].get_legend() is None  # under the axes, not over the bars
    finally:
        plt.close(figure)


def test_several_ood_sets_are_small_multiples_over_validation() -> None:
    rng = np.random.default_rng(6)
    reference = rng.lognormal(2, 0.3, 300)
    sets = {name: rng.lognormal(2.5, 0.4, 80) for name in ("negative", "rotated", "colour")}
    figure = plots.plot_ood_scores(reference, sets, 16.0)
    try:
        assert len(figure.axes) == 3
        assert [ax.get_title(loc="left").split(":")[0] for ax in figure.axes] == list(sets)
        assert all(ax.get_legend() is None for ax in figure.axes)
        assert all(ax.get_xscale() == "log" for ax in figure.axes)
    finally:
        plt.close(figure)


@pytest.mark.parametrize("n", [5, 6, 7])
def test_grids_draw_no_empty_panels(n: int) -> None:
    images = np.zeros((n, 8, 8, 1), np.uint8)
    figures = [
        plots.plot_image_grid(images, ncols=4),
        plots.plot_gradcam(images, np.zeros((n, 8, 8)), ncols=4),
    ]
    try:
        assert len(figures[0].axes) == n
        assert len(figures[1].axes) == n + 1  # and the colour bar
    finally:
        for figure in figures:
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


def test_search_effects_ticks_are_unique_and_few_trials_get_no_median() -> None:
    trials = _trials()
    trials.loc[trials.epoch_budget == 10.0, "dropout"] = [0.3, 0.1 + 0.2, 0.3]
    figure = plots.plot_search_effects(trials)
    try:
        dropout = next(ax for ax in figure.axes if ax.get_title().startswith("dropout"))
        assert [t.get_text() for t in dropout.get_xticklabels()] == ["0.3"]
        assert all(len(ax.collections) == 1 for ax in figure.axes)  # dots, no median lines
        assert "ρ: Spearman rank correlation" in figure.get_suptitle()
    finally:
        plt.close(figure)
