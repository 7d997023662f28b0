"""Hyper-parameter search over the CNN builder with keras-tuner, on one machine or several.

:class:`CnnHyperModel` is the search space of :func:`xraylib.models.build_cnn`. :func:`search`
runs Hyperband (or Bayesian optimisation) on it and judges every trial by its **validation
ROC AUC** (``val_auc``): never accuracy, which a model that calls everything PNEUMONIA makes
look good on this imbalanced set, and never anything computed on the test set.

* Budget: at most ``max_trials`` trials and ``minutes`` of wall-clock time (the profile's
  ``tuner_trials`` and ``tuner_minutes``). After the deadline no trial starts and a running
  one stops at the end of its current batch. Each trial also stops early when ``val_auc`` has
  not improved for ``patience`` epochs. Hyperband's longest trial is chosen so that one of
  its iterations fits the trial budget (:func:`hyperband_epochs`).
* Every trial trains from scratch, with the project seed, for the epochs the oracle gives it:
  Hyperband's promoted trials are retrained rather than continued, so no trial depends on a
  checkpoint that another machine wrote.
* Results: keras-tuner's files in ``data/tuning/NAME/`` (not committed) and ``trials.csv``
  there (committed): one row per trial with who ran it, its status, val AUC, epochs, seconds
  and hyper-parameters.
* The best configuration is then **retrained from scratch** on train with the seed and saved
  to ``data/models/NAME.keras`` (models kept by the tuner are not used, see keras-tuner
  issue #687).

Distributed search: the same :func:`search` call runs as the chief (which hands out trials
and keeps the results) or as a worker (which trains), chosen by keras-tuner's environment
variables ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``;
:func:`run_tuner_process` sets them. On three machines, or three terminals::

    python -m xraylib tune --chief --oracle 10.0.0.1:8000 --trials 30
    python -m xraylib tune --worker tuner0 --oracle 10.0.0.1:8000
    python -m xraylib tune --worker tuner1 --oracle 10.0.0.1:8000

The chief writes ``trials.csv`` and retrains the best configuration; a worker only knows the
trials it ran. Workers send a heartbeat while they train: when a worker dies, the chief
records its trial as FAILED after ``lost_after_s`` and the others go on.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import keras_tuner
import numpy as np
import pandas as pd

from xraylib import config, data, models, train
from xraylib.data import Splits
from xraylib.errors import XrayError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OBJECTIVE = keras_tuner.Objective("val_auc", "max")
ROLES = ("single", "chief", "worker")
#: keras-tuner's bookkeeping values, left out of the hyper-parameters
_TUNER_KEYS = (
    "tuner/epochs",
    "tuner/initial_epoch",
    "tuner/bracket",
    "tuner/round",
    "tuner/trial_id",
)
_RESULT_COLUMNS = [
    "trial_id",
    "tuner",
    "status",
    "val_auc",
    "best_epoch",
    "epochs",
    "epoch_budget",
    "seconds",
]


class TuningError(XrayError):
    """The search cannot run or gave no result; the message says why, in one line."""


# --------------------------------------------------------------------------- search space


class CnnHyperModel(keras_tuner.HyperModel):
    """The search space of :func:`xraylib.models.build_cnn`, trained like :mod:`xraylib.train`.

    ==============  ==========================  =============================================
    name            values                      what it decides
    ==============  ==========================  =============================================
    blocks          2, 3, 4                     depth (each block halves the image)
    filters         16, 32                      filters of the first block, doubled per block
    batch_norm      False, True                 normalise after every convolution
    dropout         0.0 … 0.5 (step 0.1)        dropout in the head
    l2              0, 1e-5, 1e-4, 1e-3         weight penalty
    augment         0, 0.5, 1, 2                strength of :func:`models.augmentation`
    learning_rate   1e-4 … 3e-3 (log)           Adam step size
    image_size      ``image_sizes``             only when given; images are resized to it
    ==============  ==========================  =============================================

    Trials use the profile's batch size and early-stopping patience and the seed.

    >>> hypermodel = CnnHyperModel(image_size=64)
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
        """A fresh, seeded, compiled CNN for the values in ``hp``."""
        size = hp.Choice("image_size", self.image_sizes) if self.image_sizes else self.image_size
        blocks = hp.Int("blocks", 2, 4)
        first = hp.Choice("filters", [16, 32])
        batch_norm = hp.Boolean("batch_norm", default=True)
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.3)
        l2 = hp.Choice("l2", [0.0, 1e-5, 1e-4, 1e-3])
        strength = hp.Choice("augment", [0.0, 0.5, 1.0, 2.0], default=1.0)
        learning_rate = hp.Float("learning_rate", 1e-4, 3e-3, sampling="log", default=1e-3)
        train.new_session(self.seed)
        return models.build_cnn(
            size,
            filters=[first * 2**i for i in range(blocks)],
            batch_norm=batch_norm,
            dropout=dropout,
            l2=l2,
            augment=_augmentation(strength),
            learning_rate=learning_rate,
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
        """Train one trial with balanced class weights and early stopping on ``val_auc``.

        Returns the trial's metrics: best ``val_auc``, ``best_epoch`` (1-based), ``epochs``
        trained and ``seconds``.
        """
        splits = resized(splits, model.input_shape[1])
        batch_size = self.profile.batch_size
        stop = keras.callbacks.EarlyStopping("val_auc", mode="max", patience=self.profile.patience)
        start = time.perf_counter()
        history = model.fit(
            data.make_dataset(
                splits.x_train, splits.y_train, batch_size, shuffle=True, seed=self.seed
            ),
            validation_data=data.make_dataset(splits.x_val, splits.y_val, batch_size),
            epochs=epochs,
            class_weight=data.class_weights(splits.y_train),
            callbacks=[stop, *callbacks],
            shuffle=False,  # the dataset is already shuffled with the seed
            verbose=verbose,
        )
        auc = history.history["val_auc"]
        return {
            "val_auc": float(np.max(auc)),
            "best_epoch": float(np.argmax(auc) + 1),
            "epochs": float(len(auc)),
            "seconds": time.perf_counter() - start,
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


def search_space(image_sizes: Sequence[int] | None = None) -> pd.DataFrame:
    """The search space as a table: one row per hyper-parameter with its kind, its values and
    its default (the value of a first, untuned guess).

    >>> search_space().loc["blocks", "values"]
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

    >>> hyperparameters({"blocks": 3, "filters": 16}).values
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


def resized(splits: Splits, image_size: int) -> Splits:
    """``splits`` with its images resized (area averaging) to ``image_size``."""
    if image_size == splits.image_size:
        return splits
    import tensorflow as tf

    def shrink(x: np.ndarray) -> np.ndarray:
        small = tf.image.resize(x, (image_size, image_size), method="area").numpy()
        return np.clip(np.rint(small), 0, 255).astype(np.uint8)

    return dataclasses.replace(
        splits, x_train=shrink(splits.x_train), x_val=shrink(splits.x_val), image_size=image_size
    )


# --------------------------------------------------------------------------- oracle and tuner


class _BudgetOracle:
    """Oracle mixin: hands out no trial after ``deadline`` (a ``time.time()``), remembers
    which tuner ran each trial (``runners``) and when a running trial was last heard of
    (``heard``: its start, then every heartbeat, see :class:`_Heartbeat`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = math.inf
        self.runners: dict[str, str] = {}
        self.heard: dict[str, float] = {}

    def populate_space(self, trial_id):
        if time.time() >= self.deadline:
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED}
        return super().populate_space(trial_id)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == keras_tuner.engine.trial.TrialStatus.RUNNING:
            self.runners[trial.trial_id] = tuner_id
            self.heard[trial.trial_id] = time.time()
        return trial

    def get_trial(self, trial_id):
        self.heard[trial_id] = time.time()
        return super().get_trial(trial_id)

    def get_state(self):
        return {**super().get_state(), "runners": self.runners}

    def set_state(self, state):
        super().set_state(state)
        self.runners = dict(state.get("runners", {}))


class _HyperbandOracle(_BudgetOracle, keras_tuner.oracles.HyperbandOracle):
    pass


class _BayesianOracle(_BudgetOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


def hyperband_epochs(max_trials: int, longest: int, factor: int = 3) -> int:
    """The most epochs per trial (at most ``longest``) for which one full Hyperband iteration
    needs no more than ``max_trials`` trials.

    Hyperband starts with its most exploratory bracket: with the full profile's 10 epochs it
    would ask for 12 two-epoch trials before promoting any, so a 10-trial budget would end it
    as a plain random search. With 8 epochs the 10 trials are 5 of 3 epochs, the best 2 of
    them again for 8 epochs, and 3 of 8 epochs.

    >>> hyperband_epochs(10, 10), hyperband_epochs(2, 2)
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


def _make_oracle(algorithm: str, max_trials: int, max_epochs: int, seed: int) -> keras_tuner.Oracle:
    """A budgeted oracle: Hyperband (repeated until the budget ends) or Bayesian."""
    if algorithm == "hyperband":
        oracle = _HyperbandOracle(
            OBJECTIVE, max_epochs=max_epochs, factor=3, hyperband_iterations=None, seed=seed
        )
        oracle.max_trials = max_trials
    elif algorithm == "bayesian":
        oracle = _BayesianOracle(OBJECTIVE, max_trials=max_trials, seed=seed)
    else:
        raise TuningError(f"algorithm must be 'hyperband' or 'bayesian', not {algorithm!r}")
    oracle.verbose = 0
    return oracle


class _StopAt(keras.callbacks.Callback):
    """Ends training after the batch during which ``deadline`` (a ``time.time()``) passes."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch, logs=None):
        if time.time() >= self.deadline:
            self.model.stop_training = True


class _Heartbeat:
    """While a trial runs, asks the oracle for it every ``interval`` seconds from a thread,
    so that the chief knows the worker is alive (keras-tuner workers are silent otherwise)."""

    def __init__(self, oracle, trial_id: str, interval: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(oracle, trial_id, interval), daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)

    def _beat(self, oracle, trial_id: str, interval: float) -> None:
        import grpc

        while not self._stop.wait(interval):
            try:
                oracle.get_trial(trial_id)
            except grpc.RpcError:  # the chief is gone; the search loop will say so
                return


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
        with _Heartbeat(self.oracle, trial.trial_id, self.heartbeat_s):
            model = self.hypermodel.build(hp)
            metrics = self.hypermodel.fit(
                hp, model, splits, epochs=epochs, callbacks=[_StopAt(self.deadline)]
            )
        self._metrics[trial.trial_id] = {**metrics, "epoch_budget": float(epochs)}
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
                f"val AUC {row['val_auc']:.3f}, {row['epochs']:.0f} epochs, "
                f"{row['seconds']:.0f} s",
                flush=True,
            )


def _row(trial_id: str, tuner: str | None, status: str, values: dict, metrics: dict) -> dict:
    """One row of the trials table."""
    row = {"trial_id": trial_id, "tuner": tuner, "status": status}
    row |= {name: metrics.get(name, math.nan) for name in _RESULT_COLUMNS[3:]}
    return row | {key: value for key, value in values.items() if key not in _TUNER_KEYS}


def trial_table(oracle: keras_tuner.Oracle) -> pd.DataFrame:
    """Every trial the oracle knows, one row each, in trial order (the ``trials.csv`` table).

    Columns: ``trial_id``, ``tuner`` (who ran it), ``status``, ``val_auc``, ``best_epoch``,
    ``epochs`` (trained), ``epoch_budget`` (allowed), ``seconds``, then one per
    hyper-parameter.
    """
    rows = []
    for trial_id, trial in sorted(oracle.trials.items()):
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        rows.append(
            _row(
                trial_id,
                oracle.runners.get(trial_id),
                trial.status,
                trial.hyperparameters.values,
                metrics,
            )
        )
    return _table(rows)


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=_RESULT_COLUMNS)


# --------------------------------------------------------------------------- distributed


def current_role() -> str:
    """``"single"``, ``"chief"`` or ``"worker"``, from keras-tuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    missing = [
        v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(v)
    ]
    if missing:
        raise TuningError(f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} not")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def _oracle_address() -> str:
    return f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"


def _serve(oracle: keras_tuner.Oracle, deadline: float, lost_after_s: float) -> None:
    """Serve the oracle to the workers until the search is over.

    keras-tuner's own chief loop waits forever for a worker that died; this one records a
    trial as FAILED when its worker has been silent for ``lost_after_s`` (no heartbeat), and
    stops waiting for idle workers ``lost_after_s`` after the deadline.
    """
    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    servicer = OracleServicer(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        server.add_insecure_port(_oracle_address())
    except RuntimeError:
        raise TuningError(f"cannot listen on {_oracle_address()} (port in use?)") from None
    server.start()
    oracle.heard |= {trial.trial_id: time.time() for trial in oracle.ongoing_trials.values()}
    try:
        while not _search_over(oracle, servicer.stop_triggered, deadline, lost_after_s):
            time.sleep(0.5)
    finally:
        server.stop(grace=2.0)


def _search_over(
    oracle: keras_tuner.Oracle, stopped: bool, deadline: float, lost_after_s: float
) -> bool:
    """True when no trial is running and every worker has been told to stop (or the time is
    up). Trials of silent workers are ended as FAILED first."""
    now = time.time()
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        if now - oracle.heard.get(trial.trial_id, now) > lost_after_s:
            trial.status = keras_tuner.engine.trial.TrialStatus.FAILED
            trial.message = f"{tuner_id} fell silent for {lost_after_s:g} s during the trial"
            oracle.end_trial(trial)
            oracle.tuner_ids.discard(tuner_id)
    if now > deadline + lost_after_s:
        oracle.tuner_ids.clear()  # workers that died between two trials
    return (stopped or now > deadline) and not oracle.ongoing_trials and not oracle.tuner_ids


def _bound_worker_waits(seconds: float) -> None:
    """Make a worker's calls to the chief fail after ``seconds`` (keras-tuner waits 1 hour)."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


# --------------------------------------------------------------------------- search


@dataclasses.dataclass
class SearchResult:
    """What :func:`search` returns.

    Attributes:
        role: ``"single"``, ``"chief"`` or ``"worker"``.
        trials: every trial (single, chief; also in ``trials.csv``) or, on a worker, the
            trials this process ran.
        directory: ``data/tuning/NAME``.
        best: hyper-parameter values of the best trial (``None`` on a worker).
        fit: the best configuration retrained from scratch (``None`` on a worker or when
            not asked for).
    """

    role: str
    trials: pd.DataFrame
    directory: Path
    best: dict | None = None
    fit: train.FitResult | None = None

    @property
    def best_val_auc(self) -> float | None:
        """Validation AUC of the best trial during the search."""
        done = self.trials[self.trials.status == "COMPLETED"]
        return float(done.val_auc.max()) if len(done) else None

    def to_json(self) -> dict:
        """A summary for the command line: role, counts, best values, where things are."""
        model = config.models_dir() / f"{self.directory.name}.keras" if self.fit else None
        return {
            "role": self.role,
            "trials": len(self.trials),
            "completed": int((self.trials.status == "COMPLETED").sum()),
            "best_val_auc": self.best_val_auc,
            "best": self.best,
            "directory": str(self.directory),
            "model": str(model) if model else None,
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
    retrain: bool = True,
    profile: config.Profile | None = None,
    seed: int | None = None,
    lost_after_s: float = 60.0,
    verbose: int = 1,
) -> SearchResult:
    """Search the CNN space on ``splits`` and retrain the best configuration from scratch.

    Runs as a single process, or as the chief or a worker of a distributed search when
    keras-tuner's environment variables say so (see the module documentation).

    Args:
        splits: training and validation data (the chief only uses them to retrain).
        overwrite: start afresh (``True``) or resume the search in ``data/tuning/NAME``
            (``False``); a worker never deletes anything.
        name: folder in ``data/tuning/`` and name of the retrained ``data/models/NAME.keras``.
        algorithm: ``"hyperband"`` or ``"bayesian"``.
        max_trials: trial budget (default the profile's ``tuner_trials``).
        minutes: wall-clock budget (default the profile's ``tuner_minutes``).
        max_epochs: most epochs of one trial (default the profile's ``epochs``; for Hyperband
            at most that, see :func:`hyperband_epochs`).
        image_sizes: also tune the image size among these (each at most the data's size).
        retrain: retrain the best configuration and save it (single and chief).
        profile: batch size, patience and defaults (default the active profile).
        seed: oracle, initialisation and shuffling (default the project seed).
        lost_after_s: a trial whose worker has been silent this long is recorded as FAILED
            (workers send a heartbeat four times as often).
        verbose: 1 prints one line per trial this process runs.

    >>> result = search(splits, overwrite=True)  # doctest: +SKIP
    >>> result.trials.sort_values("val_auc").tail(3)  # doctest: +SKIP
    """
    profile = profile or config.profile()
    seed = config.seed() if seed is None else seed
    role = current_role()
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
        _make_oracle(algorithm, max_trials, max_epochs, seed),
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
        _bound_worker_waits(60 * minutes + lost_after_s + 60)
        _run_worker(tuner, splits)
        return SearchResult(role, _table(tuner.ran), directory)
    tuner.oracle.deadline = deadline
    if role == "chief":
        tuner.save()  # what a resumed chief (overwrite=False) reloads
        _serve(tuner.oracle, deadline, lost_after_s)
    else:
        tuner.search(splits)
    trials = trial_table(tuner.oracle)
    trials.to_csv(directory / "trials.csv", index=False)
    best = best_hyperparameters(tuner.oracle)
    fit = retrain_best(best, splits, name=name, profile=profile, seed=seed) if retrain else None
    return SearchResult(role, trials, directory, best, fit)


def _run_worker(tuner: _CnnTuner, splits: Splits) -> None:
    """The worker's search loop, with a one-line error when the chief stops answering."""
    import grpc

    try:
        tuner.search(splits)
    except grpc.RpcError as err:
        raise TuningError(
            f"the chief at {_oracle_address()} did not answer ({err.code().name})"
        ) from None


def best_hyperparameters(oracle: keras_tuner.Oracle) -> dict:
    """Hyper-parameter values of the completed trial with the highest validation AUC."""
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


def retrain_best(
    values: dict,
    splits: Splits,
    *,
    name: str = "cnn_tuned",
    profile: config.Profile | None = None,
    seed: int | None = None,
    save: bool = True,
    verbose: str | int = "auto",
) -> train.FitResult:
    """Train the configuration ``values`` from scratch on train, with the seed, for the
    profile's epochs (early stopping on validation AUC); save ``data/models/NAME.keras``.

    The same values, data and seed give the same model.

    >>> result = retrain_best(search_result.best, splits)  # doctest: +SKIP
    >>> result.history.val_auc.max()  # doctest: +SKIP
    """
    seed = config.seed() if seed is None else seed
    model = build_model(values, splits.image_size, seed=seed)
    save_path = config.models_dir() / f"{name}.keras" if save else None
    return train.fit(
        model,
        resized(splits, model.input_shape[1]),
        profile=profile,
        seed=seed,
        save_path=save_path,
        verbose=verbose,
    )


def build_model(values: dict, image_size: int, seed: int | None = None) -> keras.Model:
    """A fresh, seeded, compiled CNN of the configuration ``values`` (e.g. ``result.best`` or
    a row of ``trials.csv``), for images of ``image_size`` unless ``values`` tunes the size.

    >>> model = build_model(result.best, splits.image_size)  # doctest: +SKIP
    """
    sizes = [int(values["image_size"])] if "image_size" in values else None
    return CnnHyperModel(image_size, sizes, seed=seed).build(hyperparameters(values))


def run_tuner_process(
    role: str,
    worker_id: str | None = None,
    oracle: str | None = None,
    trials: int | None = None,
    *,
    overwrite: bool,
    splits: Splits | None = None,
    **options,
) -> SearchResult:
    """Run this process's part of a search: ``"single"``, the ``"chief"`` or a ``"worker"``.

    Sets keras-tuner's environment variables (``KERASTUNER_TUNER_ID``: ``chief`` or
    ``worker_id``; ``KERASTUNER_ORACLE_IP`` and ``_PORT`` from ``oracle``), loads the data
    (unless ``splits`` is given) and calls :func:`search` with ``max_trials=trials`` and the
    other ``options``. This is what ``python -m xraylib tune`` calls.

    >>> run_tuner_process("chief", oracle="10.0.0.1:8000", trials=30,
    ...                   overwrite=True)  # doctest: +SKIP
    >>> run_tuner_process("worker", "0", "10.0.0.1:8000", overwrite=False)  # doctest: +SKIP
    """
    _set_role(role, worker_id, oracle)
    splits = splits if splits is not None else data.load_splits()
    return search(splits, overwrite=overwrite, max_trials=trials, **options)


def _set_role(role: str, worker_id: str | None, oracle: str | None) -> None:
    """Set (or, for ``"single"``, clear) keras-tuner's environment variables."""
    if role not in ROLES:
        raise TuningError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    names = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    if role == "single":
        for variable in names:
            os.environ.pop(variable, None)
        return
    host, _, port = (oracle or "").rpartition(":")
    if not host or not port.isdigit():
        raise TuningError(f"--oracle must be HOST:PORT, not {oracle!r}")
    if role == "worker" and (not worker_id or "chief" in worker_id):
        raise TuningError(f"a worker needs an id without 'chief' in it, not {worker_id!r}")
    tuner_id = "chief" if role == "chief" else str(worker_id)
    os.environ.update(dict(zip(names, (tuner_id, host, port), strict=True)))


# --------------------------------------------------------------------------- figures


def hyperparameter_names(trials: pd.DataFrame) -> list[str]:
    """The hyper-parameter columns of a trials table."""
    return [column for column in trials.columns if column not in _RESULT_COLUMNS]


def plot_trials(trials: pd.DataFrame, save: str | None = None) -> Figure:
    """Validation AUC of every completed trial in the order the trials started, one colour
    per tuner (machine), marker size by epochs trained, and the best so far as a line.

    >>> plot_trials(result.trials, save="05_trials_val_auc")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    done = _completed(trials)
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    for tuner, group in done.groupby("tuner"):
        ax.scatter(
            group.number, group.val_auc, s=15 + 10 * group.epochs, alpha=0.8, label=str(tuner)
        )
    ax.step(done.number, done.val_auc.cummax(), where="post", color="gray", label="best so far")
    ax.set(
        title="validation ROC AUC of each trial (marker size: epochs trained)",
        xlabel="trial",
        ylabel="validation ROC AUC",
    )
    ax.legend(fontsize=9)
    return _saved(fig, save)


def plot_hyperparameters(trials: pd.DataFrame, save: str | None = None) -> Figure:
    """One panel per hyper-parameter: each completed trial's value against its validation
    AUC, coloured by the epochs it trained (short Hyperband trials score lower).

    >>> plot_hyperparameters(result.trials, save="05_hyperparameters_vs_auc")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    done = _completed(trials)
    names = hyperparameter_names(trials)
    columns, rows = 4, math.ceil(len(names) / 4)
    fig, axes = plt.subplots(
        rows,
        columns,
        sharey=True,
        squeeze=False,
        figsize=(3.2 * columns, 2.9 * rows),
        layout="constrained",
    )
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(done))
    for ax, name in zip(axes.flat, names, strict=False):
        points = ax.scatter(
            _positions(ax, done[name], jitter), done.val_auc, c=done.epochs, cmap="viridis", s=25
        )
        ax.set_title(name)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("validation AUC")
    fig.colorbar(points, ax=axes, label="epochs trained", shrink=0.8)
    return _saved(fig, save)


def _completed(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed trials in trial order, with the trial's ``number``."""
    done = trials[trials.status == "COMPLETED"]
    return done.assign(number=done.trial_id.astype(int)).sort_values("number")


def _positions(ax, values: pd.Series, jitter: np.ndarray) -> np.ndarray:
    """x positions of one panel: a log axis for a wide numeric range, else one jittered
    column per value."""
    numeric = values.dtype.kind == "f" and values.nunique() > 6
    if numeric:
        if values.min() > 0 and values.max() > 10 * values.min():
            ax.set_xscale("log")
            ax.tick_params(axis="x", which="minor", labelbottom=False)
        return values.to_numpy()
    levels = sorted(values.unique())
    ax.set_xticks(
        range(len(levels)), [f"{v:g}" if isinstance(v, float) else str(v) for v in levels]
    )
    return values.map({level: i for i, level in enumerate(levels)}).to_numpy() + jitter


def _saved(fig: Figure, save: str | None) -> Figure:
    if save:
        from xraylib import plots

        plots.save_fig(fig, save)
    return fig
