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
        "comparison": lambda: plots.plot_model_comparison(table, save="t_comparison"),
        "gradcam": lambda: plots.plot_gradcam(
            images,
            np.random.default_rng(3).random((5, 16, 16)),
            titles=list("abcde"),
            save="t_gradcam",
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "class_counts",
        "image_grid",
        "sizes",
        "patients",
        "curves",
        "compare",
        "confusion",
        "roc_pr",
        "tradeoff",
        "calibration",
        "comparison",
        "gradcam",
    ],
)
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
