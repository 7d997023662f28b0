"""Seeded training: one ``fit`` and one recipe for every model of the notebooks, the CLI and
the tuner.

A :class:`Recipe` says how a model learns: AdamW with decoupled weight decay, a learning rate
that warms up linearly and then follows a cosine down to zero, optional label smoothing and
"balanced" class weights, and how many epochs. By default every epoch of the budget is used
and the model keeps its *last* weights: validation ROC AUC is saturated near 1 on this data,
so stopping on it would steer on noise. Early stopping, when asked for, watches the validation
log-loss (``val_loss``), a measure with resolution left, and restores the best epoch.

Reproducibility needs two seeds: call :func:`new_session` *before* building a model (its
initial weights) — ``fit`` re-seeds before training (shuffling, dropout, augmentation).

Example::

    train.new_session(profile.seed)
    model = models.build_cnn(profile.image_size)
    result = train.fit(model, splits, train.Recipe(), profile=profile)
    result.history[["epoch", "loss", "val_loss", "val_auc"]]
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import pandas as pd

from xraylib import config, data, progress, results


@dataclass
class FitResult:
    """The outcome of :func:`fit`.

    Attributes:
        model: the trained model (last epoch, or the best ``val_loss`` epoch when the recipe
            stops early).
        history: one row per epoch: ``epoch`` (from 1), ``loss``, ``accuracy``, ``precision``,
            ``recall``, ``auc``, ``pr_auc``, ``brier``, the same with a ``val_`` prefix, and
            ``learning_rate`` (at the end of the epoch).
        best_epoch: the epoch (from 1) whose weights the model holds.
        recipe: the recipe it was trained with, its epoch budget filled in.
        seconds: wall time of the whole training, validation included.
        images_per_s: training images per second, counting only the training passes.

    Example::

        result = train.fit(model, splits)
        result.history[["epoch", "loss", "val_loss"]]
        result.best_epoch, round(result.images_per_s)
    """

    model: keras.Model
    history: pd.DataFrame
    best_epoch: int
    seconds: float
    images_per_s: float
    recipe: Recipe


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: optimiser, learning-rate schedule, loss, class weights, epochs.

    Attributes:
        learning_rate: peak learning rate of AdamW.
        weight_decay: AdamW's decoupled weight decay (0: plain Adam behaviour).
        warmup_epochs: epochs of linear warm-up from 0 to the peak (may be fractional).
        schedule: ``"cosine"`` (after the warm-up, a cosine down to 0 at the last epoch) or
            ``"constant"``.
        label_smoothing: targets become ``y·(1-s) + s/2`` (0: none). It makes probabilities
            less extreme, so it is off where probabilities are read as probabilities.
        class_weight: ``"balanced"`` weighs each class inversely to its training frequency;
            ``None`` weighs every image the same (probabilities then follow the training
            prevalence, which the prior-shift correction of :mod:`xraylib.adapt` assumes).
        epochs: epoch budget (``None``: the profile's ``epochs``).
        patience: ``None`` trains the whole budget and keeps the last weights; a number stops
            after that many epochs without a lower ``val_loss`` and restores the best epoch.

    >>> Recipe(epochs=20).with_changes(label_smoothing=0.1).label_smoothing
    0.1
    """

    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    class_weight: str | None = None
    epochs: int | None = None
    patience: int | None = None

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', not {self.schedule!r}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, not {self.class_weight!r}")

    def with_changes(self, **changes: object) -> Recipe:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def optimizer(self, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
        """AdamW with this recipe's schedule for ``epochs`` of ``steps_per_epoch`` steps."""
        warmup = int(round(self.warmup_epochs * steps_per_epoch))
        total = max(epochs * steps_per_epoch, warmup + 1)
        rate: float | keras.optimizers.schedules.LearningRateSchedule = self.learning_rate
        if self.schedule == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0 if warmup else self.learning_rate,
                decay_steps=total - warmup,
                warmup_target=self.learning_rate if warmup else None,
                warmup_steps=warmup,
            )
        return keras.optimizers.AdamW(rate, weight_decay=self.weight_decay)

    def describe(self) -> str:
        """One line for tables and the test ledger."""
        parts = [
            f"AdamW {self.learning_rate:g} (decay {self.weight_decay:g})",
            f"{self.schedule} schedule"
            + (f", {self.warmup_epochs:g} warm-up epoch" if self.warmup_epochs else ""),
        ]
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        parts.append(f"class weights {self.class_weight or 'none'}")
        parts.append(
            f"{self.epochs or 'profile'} epochs"
            + (f", early stopping on val_loss (patience {self.patience})" if self.patience else "")
        )
        return ", ".join(parts)


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int, epochs: int) -> None:
    """Compile ``model`` for ``recipe``: AdamW with its schedule, binary cross-entropy (with
    its label smoothing) and the project's metrics (``accuracy``, ``precision``, ``recall``,
    ``auc`` = ROC AUC, ``pr_auc``, ``brier`` = mean squared error of the probability)."""
    model.compile(
        optimizer=recipe.optimizer(steps_per_epoch, epochs),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(name="auc"),
            keras.metrics.AUC(curve="PR", name="pr_auc"),
            keras.metrics.MeanSquaredError(name="brier"),
        ],
    )


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


class _EpochBar(keras.callbacks.Callback):
    """One text bar over the epochs of a ``fit`` (:func:`xraylib.progress.counter`, showing
    the last ``val_loss``), cleared at the end: progress without per-epoch log lines."""

    def __init__(self, epochs: int, desc: str) -> None:
        super().__init__()
        self._epochs, self._desc = epochs, desc

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._bar = progress.counter(self._epochs, desc=self._desc, unit="epoch")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs and "val_loss" in logs:
            self._bar.set_postfix(val_loss=f"{logs['val_loss']:.4f}", refresh=False)
        self._bar.update(1)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._bar.close()


def new_session(seed: int = config.DEFAULT_SEED) -> int:
    """Forget earlier models (``keras.backend.clear_session``) and seed everything.

    Call it right before building a model: the same seed then gives the same initial weights.
    Returns the seed used (default 42; a notebook passes ``profile.seed``).

    Example::

        train.new_session(profile.seed)
        # 42
        model = models.build_cnn(96, filters=(16, 32, 64))
    """
    keras.backend.clear_session()
    return config.set_seed(seed)


def fit(
    model: keras.Model,
    splits: data.Splits,
    recipe: Recipe | None = None,
    *,
    profile: config.Profile = config.DEFAULT_PROFILE,
    seed: int | None = None,
    save_path: str | Path | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: str | int = "bar",
) -> FitResult:
    """Compile ``model`` for ``recipe`` and train it on ``splits``, validating every epoch.

    Args:
        model: an uncompiled (or compiled: it is recompiled) model from :mod:`xraylib.models`.
        splits: training and validation arrays.
        recipe: how to train (default ``Recipe()``); its ``epochs`` default to the profile's.
        profile: batch size, default epochs and seed (default
            :data:`xraylib.config.DEFAULT_PROFILE`, the full profile's: a notebook passes the
            ``profile`` that :func:`xraylib.setup` returned).
        seed: seed of the shuffling, dropout and augmentation (default ``profile.seed``).
        save_path: if given, the trained model is saved there (atomically, without the
            optimiser state, so committed model files stay small).
        callbacks: extra Keras callbacks (the tuner passes its own).
        verbose: ``"bar"`` (default): one progress bar over the epochs that is cleared when
            training ends (no per-epoch lines); or Keras' own display (``"auto"``, 0, 1, 2).

    Example::

        splits = data.load_splits(profile=profile)
        model = models.build_cnn(profile.image_size, filters=(16, 32, 64))
        result = train.fit(model, splits, train.Recipe(), profile=profile)
        result.history[["epoch", "val_loss", "val_auc"]].tail(1)
    """
    recipe = recipe or Recipe()
    seed = profile.seed if seed is None else seed
    epochs = recipe.epochs or profile.epochs
    steps = math.ceil(len(splits.y_train) / profile.batch_size)
    weights = data.class_weights(splits.y_train) if recipe.class_weight == "balanced" else None
    train_set = data.make_dataset(
        splits.x_train, splits.y_train, profile.batch_size, shuffle=True, seed=seed
    )
    val_set = data.make_dataset(splits.x_val, splits.y_val, profile.batch_size, shuffle=False)
    timer = _TrainingTimer()
    extra = [timer, *(callbacks or [])]
    if verbose == "bar":
        extra.append(_EpochBar(epochs, desc=model.name))
    if recipe.patience is not None:
        extra.insert(
            0,
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=recipe.patience, restore_best_weights=True
            ),
        )

    config.set_seed(seed)
    compile_model(model, recipe, steps, epochs)
    start = time.perf_counter()
    history = model.fit(
        train_set,
        validation_data=val_set,
        epochs=epochs,
        class_weight=weights,
        callbacks=extra,
        shuffle=False,
        verbose=0 if verbose == "bar" else verbose,
    )
    seconds = time.perf_counter() - start

    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", range(1, len(frame) + 1))
    if recipe.patience is None:
        best_epoch = len(frame)
    else:
        best_epoch = int(frame["val_loss"].to_numpy().argmin()) + 1
    if save_path is not None:
        results.save_model(model, save_path)
    images = len(splits.y_train) * len(frame)
    trained = recipe.with_changes(epochs=epochs)  # the budget it had, not "the profile's"
    return FitResult(model, frame, best_epoch, seconds, images / max(timer.seconds, 1e-9), trained)
