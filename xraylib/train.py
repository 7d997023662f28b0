"""Seeded training: one ``fit`` for every model of the notebooks, the CLI and the tuner.

The recipe never changes: training batches shuffled with the seed, the validation split after
every epoch, early stopping on validation ROC AUC with the best epoch's weights restored,
optional "balanced" class weights, the history as a DataFrame. Reproducibility needs two
seeds: call :func:`new_session` *before* building a model (its initial weights) — ``fit``
re-seeds before training (shuffling, dropout, augmentation).

>>> new_session()                                        # doctest: +SKIP
>>> result = fit(models.build_cnn(), splits)             # doctest: +SKIP
>>> result.history[["epoch", "auc", "val_auc"]]         # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from xraylib import config, data


@dataclass
class FitResult:
    """The outcome of :func:`fit`.

    Attributes:
        model: the trained model, with the weights of its best validation-AUC epoch.
        history: one row per epoch: ``epoch`` (from 1), ``loss``, ``accuracy``, ``precision``,
            ``recall``, ``auc``, ``pr_auc`` and the same with a ``val_`` prefix.
        best_epoch: the epoch (from 1) whose weights the model holds.
        seconds: wall time of the whole training, validation included.
        images_per_s: training images per second, counting only the training passes.

    >>> result = xraylib.fit(model, splits)  # doctest: +SKIP
    >>> result.history[["epoch", "auc", "val_auc"]]  # doctest: +SKIP
    >>> result.best_epoch, round(result.images_per_s)  # doctest: +SKIP
    """

    model: keras.Model
    history: pd.DataFrame
    best_epoch: int
    seconds: float
    images_per_s: float


class _TrainingTimer(keras.callbacks.Callback):
    """Sums the time of the training passes, leaving out the validation after each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self._start: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._stop()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self._start = None


def new_session(seed: int | None = None) -> int:
    """Forget earlier models (``keras.backend.clear_session``) and seed everything.

    Call it right before building a model: the same seed then gives the same initial weights.
    Returns the seed used (``XRAY_SEED`` or 42 when ``seed`` is None).

    >>> xraylib.new_session()  # doctest: +SKIP
    42
    >>> model = xraylib.build_cnn(96, filters=(16, 32, 64))  # doctest: +SKIP
    """
    keras.backend.clear_session()
    return config.set_seed(seed)


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` to ``path`` (a ``.keras`` file) atomically: a reader never sees half a
    file. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def fit(
    model: keras.Model,
    splits: data.Splits,
    profile: config.Profile | None = None,
    class_weight: str | None = "balanced",
    epochs: int | None = None,
    seed: int | None = None,
    save_path: str | Path | None = None,
    verbose: str | int = "auto",
) -> FitResult:
    """Train a compiled model on ``splits`` with validation after every epoch.

    Args:
        model: a compiled model from :mod:`xraylib.models`.
        splits: training and validation arrays.
        profile: batch size, maximum epochs and early-stopping patience (default: the active
            profile).
        class_weight: ``"balanced"`` weighs each class inversely to its frequency in the
            training labels; ``None`` weighs every image the same.
        epochs: maximum epochs (default: the profile's).
        seed: seed of the shuffling, dropout and augmentation (default: ``XRAY_SEED``).
        save_path: if given, the best model is saved there (atomically) after training.
        verbose: Keras progress display (``"auto"``, 0, 1 or 2).

    Early stopping watches ``val_auc`` with the profile's patience and restores the weights of
    the best epoch, which ``best_epoch`` reports.

    >>> splits = xraylib.load_splits()  # doctest: +SKIP
    >>> model = xraylib.build_cnn(96, filters=(16, 32, 64))  # doctest: +SKIP
    >>> result = xraylib.fit(model, splits, save_path="data/models/cnn.keras")  # doctest: +SKIP
    >>> result.best_epoch, result.history["val_auc"].max()  # doctest: +SKIP
    """
    if class_weight not in ("balanced", None):
        raise ValueError(f"class_weight must be 'balanced' or None, not {class_weight!r}")
    profile = profile or config.profile()
    seed = config.seed() if seed is None else seed
    weights = data.class_weights(splits.y_train) if class_weight == "balanced" else None
    train_set = data.make_dataset(
        splits.x_train, splits.y_train, profile.batch_size, shuffle=True, seed=seed
    )
    val_set = data.make_dataset(splits.x_val, splits.y_val, profile.batch_size, shuffle=False)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_auc", mode="max", patience=profile.patience, restore_best_weights=True
    )
    timer = _TrainingTimer()

    config.set_seed(seed)
    start = time.perf_counter()
    history = model.fit(
        train_set,
        validation_data=val_set,
        epochs=epochs or profile.epochs,
        class_weight=weights,
        callbacks=[stop, timer],
        shuffle=False,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start

    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", range(1, len(frame) + 1))
    best_epoch = int(frame["val_auc"].to_numpy().argmax()) + 1
    if save_path is not None:
        save_model(model, save_path)
    images = len(splits.y_train) * len(frame)
    return FitResult(model, frame, best_epoch, seconds, images / max(timer.seconds, 1e-9))
