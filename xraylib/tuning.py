"""Hyper-parameter search over the CNN builder with keras-tuner: the space, the search, the
best configuration.

:class:`CnnHyperModel` is the search space of :func:`xraylib.models.build_cnn`; every trial is
trained by :func:`xraylib.train.fit` with a :func:`recipe` of its hyper-parameters, the same
training as the notebooks'. :func:`search` runs Hyperband (or Bayesian optimisation) on it and
judges every trial by its **validation log-loss** at its last epoch (``val_loss``, lower is
better): validation ROC AUC is saturated near 1 for every CNN here, so ranking trials by it
would rank them by noise, and accuracy flatters a model that calls everything PNEUMONIA.
Nothing is computed on the test set.

* Budget: at most ``max_trials`` trials and ``minutes`` of wall-clock time (the profile's
  ``tuner_trials`` and ``tuner_minutes``). After the deadline no trial starts and a running
  one stops at the end of its current batch; it is recorded as FAILED, since a trial cut
  short is not comparable with the finished ones. Trials train their whole epoch budget (no early
  stopping: the learning rate follows the recipe's cosine to zero). Hyperband's longest trial
  is chosen so that one of its iterations fits the trial budget (:func:`hyperband_epochs`).
* Every trial trains from scratch, with the project seed, for the epochs the oracle gives it:
  Hyperband's promoted trials are retrained rather than continued, so no trial depends on a
  checkpoint that another machine wrote.
* Results: keras-tuner's files in ``data/tuning/NAME/`` (not committed) and ``trials.csv``
  there (committed): one row per trial with who ran it, its status, validation log-loss, ROC
  AUC and Brier score, epochs, seconds and hyper-parameters (:func:`trial_table`).
* The best configuration is then trained again from scratch, like any model of the series:
  :func:`build_model` and :func:`recipe` give the model and its recipe for
  :func:`xraylib.train.fit` or :func:`xraylib.experiment.run` (models kept by the tuner are not
  used, see keras-tuner issue #687).

On several machines the same :func:`search` runs as the chief or a worker:
:mod:`xraylib.cluster` (roles, the chief's address, time budget, lost workers).

>>> result = tuning.search(splits, overwrite=True)  # doctest: +SKIP
>>> model = tuning.build_model(result.best, splits.image_size)  # doctest: +SKIP
>>> fit = train.fit(model, splits, tuning.recipe(result.best))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pandas as pd

from xraylib import cluster, config, data, models, train
from xraylib.data import Splits
from xraylib.errors import TuningError

#: What a trial is judged by: validation log-loss at its last epoch (lower is better).
OBJECTIVE = keras_tuner.Objective("val_loss", "min")
#: The columns of the trials table before the hyper-parameters.
RESULT_COLUMNS = [
    "trial_id",
    "tuner",
    "status",
    "val_loss",
    "val_auc",
    "val_brier",
    "epochs",
    "epoch_budget",
    "seconds",
]
#: keras-tuner's bookkeeping values, left out of the hyper-parameters
_TUNER_KEYS = (
    "tuner/epochs",
    "tuner/initial_epoch",
    "tuner/bracket",
    "tuner/round",
    "tuner/trial_id",
)


# --------------------------------------------------------------------------- search space


class CnnHyperModel(keras_tuner.HyperModel):
    """The search space of :func:`xraylib.models.build_cnn`, trained by :func:`train.fit`.

    ==============  ==========================  =============================================
    name            values                      what it decides
    ==============  ==========================  =============================================
    blocks          2, 3, 4                     depth (each block halves the image)
    filters         16, 32                      filters of the first block, doubled per block
    batch_norm      False, True                 normalise after every convolution
    dropout         0.0 … 0.5 (step 0.1)        dropout in the head
    l2              0, 1e-5, 1e-4, 1e-3         weight penalty
    augment         0, 0.5, 1, 2                strength of :func:`models.augmentation`
    learning_rate   1e-4 … 3e-3 (log)           peak learning rate of the recipe (AdamW)
    image_size      ``image_sizes``             only when given; images are resized to it
    ==============  ==========================  =============================================

    Trials use the profile's batch size, the seed and :func:`recipe` (the notebooks'
    :class:`train.Recipe` defaults with the trial's learning rate and epochs).

    >>> hypermodel = tuning.CnnHyperModel(image_size=64)
    >>> model = hypermodel.build(keras_tuner.HyperParameters())  # doctest: +SKIP
    """

    def __init__(
        self,
        image_size: int,
        image_sizes: Sequence[int] | None = None,
        profile: config.Profile | None = None,
        seed: int | None = None,
    ):
        super().__init__(name="cnn_tuned")
        if image_sizes and max(image_sizes) > image_size:
            raise TuningError(
                f"image_sizes {list(image_sizes)} go above the data's "
                f"{image_size} px: load the data at the largest size"
            )
        self.image_size = image_size
        self.image_sizes = sorted(image_sizes) if image_sizes else None
        self.profile = profile or config.profile()
        self.seed = config.seed() if seed is None else seed

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """A fresh, seeded, uncompiled CNN for the values in ``hp``."""
        size = hp.Choice("image_size", self.image_sizes) if self.image_sizes else self.image_size
        blocks = hp.Int("blocks", 2, 4)
        first = hp.Choice("filters", [16, 32])
        batch_norm = hp.Boolean("batch_norm", default=True)
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.3)
        l2 = hp.Choice("l2", [0.0, 1e-5, 1e-4, 1e-3])
        strength = hp.Choice("augment", [0.0, 0.5, 1.0, 2.0], default=1.0)
        hp.Float("learning_rate", 1e-4, 3e-3, sampling="log", default=1e-3)  # see recipe()
        train.new_session(self.seed)
        return models.build_cnn(
            size,
            filters=[first * 2**i for i in range(blocks)],
            batch_norm=batch_norm,
            dropout=dropout,
            l2=l2,
            augment=_augmentation(strength),
            name="cnn_tuned",
        )

    def fit(
        self,
        hp: keras_tuner.HyperParameters,
        model: keras.Model,
        splits: Splits,
        epochs: int = 1,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        verbose: int = 0,
    ) -> dict[str, float]:
        """Train one trial with :func:`train.fit` and its :func:`recipe` for ``epochs``.

        Returns the last epoch's ``val_loss`` (the objective), ``val_auc`` and ``val_brier``,
        the ``epochs`` trained (fewer when the deadline stopped it) and ``seconds``.
        """
        result = train.fit(
            model,
            data.resized(splits, model.input_shape[1]),
            recipe(hp.values, epochs),
            profile=self.profile,
            seed=self.seed,
            callbacks=list(callbacks),
            verbose=verbose,
        )
        last = result.history.iloc[-1]
        return {
            "val_loss": float(last["val_loss"]),
            "val_auc": float(last["val_auc"]),
            "val_brier": float(last["val_brier"]),
            "epochs": float(len(result.history)),
            "seconds": result.seconds,
        }


def _augmentation(strength: float) -> keras.Sequential | None:
    """:func:`models.augmentation` with every factor scaled by ``strength`` (0: none)."""
    if not strength:
        return None
    return models.augmentation(
        rotation=0.05 * strength,
        zoom=0.1 * strength,
        translation=0.05 * strength,
        contrast=0.1 * strength,
        brightness=0.1 * strength,
    )


def recipe(values: dict, epochs: int | None = None) -> train.Recipe:
    """The training recipe of a configuration: :class:`train.Recipe`'s defaults (no class
    weights, no early stopping) with the configuration's ``learning_rate`` and ``epochs``
    (``None``: the profile's).

    >>> tuning.recipe({"blocks": 3, "learning_rate": 3e-4}, epochs=8).learning_rate
    0.0003
    """
    rate = float(values.get("learning_rate", train.Recipe.learning_rate))
    return train.Recipe(learning_rate=rate, epochs=epochs, class_weight=None)


def build_model(values: dict, image_size: int, seed: int | None = None) -> keras.Model:
    """A fresh, seeded, uncompiled CNN of the configuration ``values`` (e.g. ``result.best``
    or a row of ``trials.csv``), for images of ``image_size`` unless ``values`` tunes the size
    (then train it on ``data.resized(splits, model.input_shape[1])``).

    >>> model = tuning.build_model(result.best, splits.image_size)  # doctest: +SKIP
    >>> fit = train.fit(model, splits, tuning.recipe(result.best))  # doctest: +SKIP
    """
    sizes = [int(values["image_size"])] if "image_size" in values else None
    return CnnHyperModel(image_size, sizes, seed=seed).build(hyperparameters(values))


def search_space(image_sizes: Sequence[int] | None = None) -> pd.DataFrame:
    """The search space as a table: one row per hyper-parameter with its kind, its values and
    its default (the value of a first, untuned guess).

    >>> tuning.search_space().loc["blocks", "values"]
    '2 … 4'
    """
    hp = keras_tuner.HyperParameters()
    CnnHyperModel(max(image_sizes or [32]), image_sizes).build(hp)
    return pd.DataFrame([_describe(p) for p in hp.space]).set_index("name")


def _describe(parameter) -> dict:
    """Kind, values and default of one keras-tuner hyper-parameter."""
    settings = parameter.get_config()
    if "values" in settings:
        values = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in settings["values"])
    elif "min_value" in settings:
        values = f"{settings['min_value']:g} … {settings['max_value']:g}"
        values += f", step {settings['step']:g}" if settings.get("step") not in (None, 1) else ""
        values += ", log scale" if settings.get("sampling") == "log" else ""
    else:
        values = "False, True"
    return {
        "name": parameter.name,
        "kind": type(parameter).__name__,
        "values": values,
        "default": parameter.default,
    }


def hyperparameters(values: dict) -> keras_tuner.HyperParameters:
    """A ``HyperParameters`` object fixed to ``values`` (e.g. a row of ``trials.csv``).

    >>> tuning.hyperparameters({"blocks": 3, "filters": 16}).values
    {'blocks': 3, 'filters': 16}
    """
    hp = keras_tuner.HyperParameters()
    hp.values.update(
        {
            key: value.item() if isinstance(value, np.generic) else value
            for key, value in values.items()
            if key not in _TUNER_KEYS
        }
    )
    return hp


def hyperband_epochs(max_trials: int, longest: int, factor: int = 3) -> int:
    """The most epochs per trial (at most ``longest``) for which one full Hyperband iteration
    needs no more than ``max_trials`` trials.

    Hyperband starts with its most exploratory bracket: with the full profile's 10 epochs it
    would ask for 12 two-epoch trials before promoting any, so a 10-trial budget would end it
    as a plain random search. With 8 epochs the 10 trials are 5 of 3 epochs, the best 2 of
    them again for 8 epochs, and 3 of 8 epochs.

    >>> tuning.hyperband_epochs(10, 10), tuning.hyperband_epochs(2, 2)
    (8, 2)
    """
    for epochs in range(longest, 1, -1):  # keras-tuner's own bracket arithmetic decides
        oracle = keras_tuner.oracles.HyperbandOracle(OBJECTIVE, max_epochs=epochs, factor=factor)
        trials = sum(
            oracle._get_size(bracket, round_)
            for bracket in range(oracle._get_num_brackets())
            for round_ in range(bracket + 1)
        )
        if trials <= max_trials:
            return epochs
    return 1


# --------------------------------------------------------------------------- tuner


class _CnnTuner(keras_tuner.Tuner):
    """Runs each trial from scratch for the oracle's epochs, up to the deadline, with a
    heartbeat every ``heartbeat_s``; keeps a row for every trial this process ran (``ran``)."""

    def __init__(
        self,
        oracle,
        hypermodel: CnnHyperModel,
        max_epochs: int,
        deadline: float,
        heartbeat_s: float,
        verbose: int,
        **kwargs,
    ):
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        self.max_epochs = max_epochs
        self.deadline = deadline
        self.heartbeat_s = heartbeat_s
        self.verbose = verbose
        self.ran: list[dict] = []
        self._metrics: dict[str, dict] = {}
        self._waiting = False

    def run_trial(self, trial, splits: Splits) -> dict[str, float]:
        hp = trial.hyperparameters
        epochs = int(hp.values.get("tuner/epochs", self.max_epochs))
        stop = cluster.StopAt(self.deadline)
        with cluster.Heartbeat(self.oracle, trial.trial_id, self.heartbeat_s):
            model = self.hypermodel.build(hp)
            metrics = self.hypermodel.fit(hp, model, splits, epochs=epochs, callbacks=[stop])
        self._metrics[trial.trial_id] = {**metrics, "epoch_budget": float(epochs)}
        if stop.stopped:  # its learning rate never reached the end of its schedule
            raise keras_tuner.errors.FailedTrialError(
                f"the time budget ended trial {trial.trial_id} during epoch "
                f"{metrics['epochs']:.0f} of {epochs}: not comparable with finished trials"
            )
        return self._metrics[trial.trial_id]

    def pre_create_trial(self):
        if self._waiting:  # the oracle had no trial for us last time: do not spin
            time.sleep(1.0)
        self._waiting = True

    def on_trial_begin(self, trial):
        self._waiting = False

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        row = _row(
            trial.trial_id,
            self.tuner_id,
            trial.status,
            trial.hyperparameters.values,
            self._metrics.pop(trial.trial_id, {}),
        )
        self.ran.append(row)
        if self.verbose:
            print(
                f"trial {row['trial_id']} ({row['tuner']}): {row['status'].lower()}, "
                f"val loss {row['val_loss']:.4f}, val AUC {row['val_auc']:.4f}, "
                f"{row['epochs']:.0f} epochs, {row['seconds']:.0f} s",
                flush=True,
            )


# --------------------------------------------------------------------------- trial table


def _row(trial_id: str, tuner: str | None, status: str, values: dict, metrics: dict) -> dict:
    """One row of the trials table."""
    row = {"trial_id": trial_id, "tuner": tuner, "status": status}
    row |= {name: metrics.get(name, math.nan) for name in RESULT_COLUMNS[3:]}
    return row | {key: value for key, value in values.items() if key not in _TUNER_KEYS}


def trial_table(oracle: keras_tuner.Oracle) -> pd.DataFrame:
    """Every trial the oracle knows, one row each, in trial order (the ``trials.csv`` table).

    Columns: ``trial_id``, ``tuner`` (who ran it), ``status``, ``val_loss`` (the objective),
    ``val_auc``, ``val_brier`` (all at the last epoch), ``epochs`` (trained),
    ``epoch_budget`` (allowed), ``seconds``, then one per hyper-parameter.

    >>> tuning.trial_table(tuner.oracle).sort_values("val_loss").head()  # doctest: +SKIP
    """
    runners = getattr(oracle, "runners", {})
    rows = []
    for trial_id, trial in sorted(oracle.trials.items()):
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        rows.append(
            _row(
                trial_id,
                runners.get(trial_id),
                trial.status,
                trial.hyperparameters.values,
                metrics,
            )
        )
    return _table(rows)


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=RESULT_COLUMNS)


def hyperparameter_names(trials: pd.DataFrame) -> list[str]:
    """The hyper-parameter columns of a trials table.

    >>> tuning.hyperparameter_names(result.trials)  # doctest: +SKIP
    ['blocks', 'filters', 'batch_norm', 'dropout', 'l2', 'augment', 'learning_rate']
    """
    return [column for column in trials.columns if column not in RESULT_COLUMNS]


def best_hyperparameters(oracle: keras_tuner.Oracle) -> dict:
    """Hyper-parameter values of the completed trial with the lowest validation log-loss.

    >>> tuning.best_hyperparameters(tuner.oracle)  # doctest: +SKIP
    """
    done = [
        t
        for t in oracle.trials.values()
        if t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED
    ]
    if not done:
        raise TuningError(
            "no trial completed: raise the time budget, or read the messages in trial_*/trial.json"
        )
    best = oracle.get_best_trials(1)[0]
    return {
        key: value for key, value in best.hyperparameters.values.items() if key not in _TUNER_KEYS
    }


# --------------------------------------------------------------------------- search


@dataclasses.dataclass
class SearchResult:
    """What :func:`search` returns.

    Attributes:
        role: ``"single"``, ``"chief"`` or ``"worker"``.
        trials: every trial (single, chief; also in ``trials.csv``) or, on a worker, the
            trials this process ran.
        directory: ``data/tuning/NAME``.
        best: hyper-parameter values of the best trial (``None`` on a worker): train them
            again with :func:`build_model` and :func:`recipe`.

    >>> result.trials.sort_values("val_loss").head(3)  # doctest: +SKIP
    >>> result.best, result.best_val_loss  # doctest: +SKIP
    """

    role: str
    trials: pd.DataFrame
    directory: Path
    best: dict | None = None

    @property
    def best_val_loss(self) -> float | None:
        """Validation log-loss of the best completed trial (``None`` when none completed)."""
        done = self.trials[self.trials.status == "COMPLETED"]
        return float(done.val_loss.min()) if len(done) else None

    def to_json(self) -> dict:
        """A summary for the command line: role, counts, the best trial, where things are."""
        return {
            "role": self.role,
            "trials": len(self.trials),
            "completed": int((self.trials.status == "COMPLETED").sum()),
            "best_val_loss": self.best_val_loss,
            "best": self.best,
            "directory": str(self.directory),
        }


def search(
    splits: Splits,
    *,
    overwrite: bool,
    name: str = "cnn_tuned",
    algorithm: str = "hyperband",
    max_trials: int | None = None,
    minutes: float | None = None,
    max_epochs: int | None = None,
    image_sizes: Sequence[int] | None = None,
    profile: config.Profile | None = None,
    seed: int | None = None,
    lost_after_s: float = 60.0,
    verbose: int = 1,
) -> SearchResult:
    """Search the CNN space on ``splits``; return the trials and the best configuration.

    Runs as a single process, or as the chief or a worker of a distributed search when
    keras-tuner's environment variables say so (:mod:`xraylib.cluster`).

    Args:
        splits: training and validation data (the chief does not train).
        overwrite: start afresh (``True``) or resume the search in ``data/tuning/NAME``
            (``False``); a worker never deletes anything.
        name: folder in ``data/tuning/``.
        algorithm: ``"hyperband"`` or ``"bayesian"``.
        max_trials: trial budget (default the profile's ``tuner_trials``).
        minutes: wall-clock budget (default the profile's ``tuner_minutes``).
        max_epochs: most epochs of one trial (default the profile's ``epochs``; for Hyperband
            at most that, see :func:`hyperband_epochs`).
        image_sizes: also tune the image size among these (each at most the data's size).
        profile: batch size and defaults (default the active profile).
        seed: oracle, initialisation and shuffling (default the project seed).
        lost_after_s: a trial whose worker has been silent this long is recorded as FAILED
            (workers send a heartbeat four times as often).
        verbose: 1 prints one line per trial this process runs.

    >>> result = tuning.search(splits, overwrite=True)  # doctest: +SKIP
    >>> result.trials.sort_values("val_loss").head(3)  # doctest: +SKIP
    """
    profile = profile or config.profile()
    seed = config.seed() if seed is None else seed
    role = cluster.current_role()
    minutes = profile.tuner_minutes if minutes is None else minutes
    deadline = time.time() + 60 * minutes
    hypermodel = CnnHyperModel(splits.image_size, image_sizes, profile, seed)
    max_trials = max_trials or profile.tuner_trials
    if not max_epochs:
        max_epochs = (
            hyperband_epochs(max_trials, profile.epochs)
            if algorithm == "hyperband"
            else profile.epochs
        )
    tuner = _CnnTuner(
        cluster.make_oracle(algorithm, OBJECTIVE, max_trials, max_epochs, seed),
        hypermodel,
        max_epochs,
        deadline,
        lost_after_s / 4,
        verbose,
        directory=config.tuning_dir(),
        project_name=name,
        overwrite=overwrite and role != "worker",
    )
    directory = Path(tuner.project_dir)
    if role == "worker":
        cluster.bound_worker_waits(60 * minutes + lost_after_s + 60)
        cluster.run_worker(tuner, splits)
        return SearchResult(role, _table(tuner.ran), directory)
    tuner.oracle.deadline = deadline
    if role == "chief":
        tuner.save()  # what a resumed chief (overwrite=False) reloads
        cluster.serve(tuner.oracle, deadline, lost_after_s)
    else:
        tuner.search(splits)
    trials = trial_table(tuner.oracle)
    trials.to_csv(directory / "trials.csv", index=False)
    return SearchResult(role, trials, directory, best_hyperparameters(tuner.oracle))
