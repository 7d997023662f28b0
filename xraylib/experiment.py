"""One experiment of the notebooks: train a model, judge it on validation, record the result.

Notebooks 02–05 each run several experiments that differ in one decision. :func:`run` does the
same steps every time — seeded training, validation predictions, a row in
``data/results/metrics.csv``, the history in ``data/results/history/``, optionally the saved
model — so the notebooks only state the
decision being tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from xraylib import config, evaluate, train
from xraylib.data import Splits
from xraylib.errors import XrayError


@dataclass
class Experiment:
    """The outcome of :func:`run`.

    Attributes:
        name: the model's name in the results table.
        fit: the training result (model with its best weights, history, timings).
        p_val: predicted probabilities of PNEUMONIA on the validation images.
        row: the validation row written to ``metrics.csv``.
    """

    name: str
    fit: train.FitResult
    p_val: np.ndarray
    row: pd.Series

    @property
    def model(self) -> keras.Model:
        """The trained model (best validation-AUC epoch)."""
        return self.fit.model


def run(
    name: str,
    model: keras.Model,
    splits: Splits,
    notebook: str,
    class_weight: str | None = None,
    save: bool = False,
    profile: config.Profile | None = None,
    verbose: str | int = 2,
) -> Experiment:
    """Train ``model`` on ``splits``, predict validation, record and return the outcome.

    Args:
        name: name of the row in ``metrics.csv`` (and of ``data/models/NAME.keras`` if saved).
        model: a compiled model from :mod:`xraylib.models`, built after ``train.new_session()``.
        splits: training and validation data.
        notebook: the notebook that ran it (stored in the row).
        class_weight: ``"balanced"`` or ``None``.
        save: keep the best model as ``data/models/NAME.keras`` (a candidate for notebook 06).
        profile: run settings (default: the active profile).
        verbose: Keras progress display (2: one line per epoch).

    The validation metrics use the 0.5 threshold; the threshold of the final model is chosen
    later, on validation, by :func:`xraylib.evaluate.choose_threshold`.
    """
    save_path = config.models_dir() / f"{name}.keras" if save else None
    result = train.fit(
        model,
        splits,
        profile=profile,
        class_weight=class_weight,
        save_path=save_path,
        verbose=verbose,
    )
    p_val = result.model.predict(splits.x_val, batch_size=256, verbose=0).ravel()
    result.history.to_csv(_history_path(name), index=False)
    row = evaluate.record(
        name,
        "val",
        splits.y_val,
        p_val,
        threshold=0.5,
        extra={
            "notebook": notebook,
            "params": result.model.count_params(),
            "class_weight": class_weight or "none",
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "seconds": round(result.seconds, 1),
            "images_per_s": round(result.images_per_s, 1),
            "saved": bool(save),
        },
    )
    return Experiment(name, result, p_val, row)


def _history_path(name: str) -> Path:
    folder = config.results_dir() / "history"
    folder.mkdir(exist_ok=True)
    return folder / f"{name}.csv"


def load_history(name: str) -> pd.DataFrame:
    """The training history of an earlier :func:`run` (``data/results/history/NAME.csv``)."""
    path = _history_path(name)
    if not path.exists():
        raise XrayError(f"{path}: no history for model {name!r}; run its notebook first")
    return pd.read_csv(path)


def compare(experiments: list[Experiment]) -> pd.DataFrame:
    """A table of the experiments' validation metrics, one row each, best AUC first."""
    columns = [
        "roc_auc",
        "pr_auc",
        "accuracy",
        "sensitivity",
        "specificity",
        "f1",
        "best_epoch",
        "seconds",
        "params",
    ]
    table = pd.DataFrame([e.row for e in experiments]).set_index("model")
    present = [c for c in columns if c in table.columns]
    return table[present].sort_values("roc_auc", ascending=False).round(3)
