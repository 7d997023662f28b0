"""Running the keras-tuner search of :mod:`xraylib.tuning` on several machines, on a budget.

The same :func:`xraylib.tuning.search` call runs as a single process, as the **chief** (which
hands out trials and keeps the results) or as a **worker** (which trains), chosen by
keras-tuner's environment variables ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT``; :func:`set_role` sets them. This module knows nothing of the search
itself (``tuning`` imports it, never the other way round): the caller sets the role, then
searches, as ``python -m xraylib tune`` does. On three machines, or three terminals::

    python -m xraylib tune --chief --oracle 10.0.0.1:8000 --trials 30
    python -m xraylib tune --worker tuner0 --oracle 10.0.0.1:8000
    python -m xraylib tune --worker tuner1 --oracle 10.0.0.1:8000

What keras-tuner 1.4.8 does itself is used as is: the trial budget (the oracle's
``max_trials``), the gRPC service between chief and workers, a worker leaving when the oracle
says STOPPED. What it lacks is added here, and only that:

* **a time budget** — keras-tuner has none: :class:`BudgetOracle` hands out no trial after the
  deadline, and :class:`StopAt` ends a running trial after the batch during which it passes;
* **lost workers** — keras-tuner's chief waits forever for a trial whose worker died: workers
  send a :class:`Heartbeat` while they train, and :func:`serve` (the chief's loop) records a
  trial as FAILED when its worker has been silent for ``lost_after_s``;
* **who ran what** — :class:`BudgetOracle` remembers the tuner of every trial (``runners``)
  for the trial table;
* **bounded waits** — a worker's calls to the chief time out after the search's budget rather
  than keras-tuner's hour (:func:`bound_worker_waits`).

Example::

    cluster.current_role()
    # 'single'
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from concurrent import futures

import keras
import keras_tuner

from xraylib import data
from xraylib.errors import TuningError

ROLES = ("single", "chief", "worker")
_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_STOPPED = keras_tuner.engine.trial.TrialStatus.STOPPED
_FAILED = keras_tuner.engine.trial.TrialStatus.FAILED


# --------------------------------------------------------------------------- roles


def current_role() -> str:
    """``"single"``, ``"chief"`` or ``"worker"``, from keras-tuner's environment variables.

    Example::

        cluster.current_role()
        # 'single'
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    missing = [v for v in _VARIABLES if v != "KERASTUNER_ORACLE_IP" and not os.environ.get(v)]
    if missing:
        raise TuningError(f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} not")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def oracle_address() -> str:
    """The chief's ``HOST:PORT`` from keras-tuner's environment variables."""
    return f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"


def set_role(role: str, worker_id: str | None = None, oracle: str | None = None) -> None:
    """Set (or, for ``"single"``, clear) keras-tuner's environment variables, before
    :func:`xraylib.tuning.search` runs this process's part of a search:
    ``KERASTUNER_TUNER_ID`` is ``chief`` or ``worker_id``; ``KERASTUNER_ORACLE_IP`` and
    ``_PORT`` come from ``oracle`` (``HOST:PORT``).

    Example::

        cluster.set_role("worker", "tuner0", "10.0.0.1:8000")
        cluster.current_role()
        # 'worker'
        result = tuning.search(splits, overwrite=False)
    """
    if role not in ROLES:
        raise TuningError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "single":
        for variable in _VARIABLES:
            os.environ.pop(variable, None)
        return
    host, _, port = (oracle or "").rpartition(":")
    if not host or not port.isdigit():
        raise TuningError(f"--oracle must be HOST:PORT, not {oracle!r}")
    if role == "worker" and (not worker_id or "chief" in worker_id):
        raise TuningError(f"a worker needs an id without 'chief' in it, not {worker_id!r}")
    tuner_id = "chief" if role == "chief" else str(worker_id)
    os.environ.update(dict(zip(_VARIABLES, (tuner_id, host, port), strict=True)))


# --------------------------------------------------------------------------- time budget


class BudgetOracle:
    """Oracle mixin: hands out no trial after ``deadline`` (a ``time.time()``; keras-tuner has
    no time budget), remembers which tuner ran each trial (``runners``) and when a running
    trial was last heard of (``heard``: its start, then every :class:`Heartbeat`)."""

    deadline: float
    runners: dict[str, str]
    heard: dict[str, float]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = math.inf
        self.runners = {}
        self.heard = {}

    def populate_space(self, trial_id):
        if time.time() >= self.deadline:
            return {"status": _STOPPED}
        return super().populate_space(trial_id)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == _RUNNING:
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


class HyperbandOracle(BudgetOracle, keras_tuner.oracles.HyperbandOracle):
    """keras-tuner's Hyperband oracle with a deadline and a record of who ran each trial, whose
    first trial of the full-budget bracket (bracket 0, the last of an iteration) in the first
    iteration is the space's defaults: the reference configuration is trained at the
    finalists' budget, like them, instead of competing for promotion from a 1-epoch round.

    Which trial that is follows from the oracle's own bracket state, so a resumed chief does
    not train it twice. ``admissible`` (``values -> bool``, or ``None``) bounds the space: a
    random configuration it rejects is drawn again (at most 1,000 times), so every trial the
    oracle hands out satisfies it (the search's compute budget).
    """

    admissible: Callable[[dict], bool] | None = None

    def _random_values(self):
        for _ in range(1000):
            values = super()._random_values()
            if values is None or self.admissible is None or self.admissible(values):
                return values
        return None

    def _random_trial(self, trial_id, bracket):
        first_of_bracket_0 = bracket["bracket_num"] == 0 and not bracket["rounds"][0]
        if not (first_of_bracket_0 and self._current_iteration == 0):
            return super()._random_trial(trial_id, bracket)
        values = self.hyperparameters.copy().values  # every default, as registered
        self._tried_so_far.add(self._compute_values_hash(values))
        values |= {
            "tuner/epochs": self._get_epochs(0, 0),
            "tuner/initial_epoch": 0,
            "tuner/bracket": 0,
            "tuner/round": 0,
        }
        bracket["rounds"][0].append({"past_id": None, "id": trial_id})
        return {"status": _RUNNING, "values": values}


class BayesianOracle(BudgetOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimisation oracle with a deadline and a record of runners."""


def make_oracle(
    algorithm: str,
    objective: keras_tuner.Objective,
    max_trials: int,
    max_epochs: int,
    seed: int,
    admissible: Callable[[dict], bool] | None = None,
) -> keras_tuner.Oracle:
    """A budgeted oracle: Hyperband (iterations repeated until the budget ends, at most
    ``max_trials`` trials of at most ``max_epochs``, random configurations limited to those
    ``admissible`` accepts) or Bayesian optimisation.

    Example::

        oracle = cluster.make_oracle("hyperband", tuning.OBJECTIVE, 10, 8, 42)
    """
    if algorithm == "hyperband":
        oracle = HyperbandOracle(
            objective, max_epochs=max_epochs, factor=3, hyperband_iterations=None, seed=seed
        )
        oracle.max_trials = max_trials  # the base Oracle's trial budget
        oracle.admissible = admissible
    elif algorithm == "bayesian":
        oracle = BayesianOracle(objective, max_trials=max_trials, seed=seed)
    else:
        raise TuningError(f"algorithm must be 'hyperband' or 'bayesian', not {algorithm!r}")
    oracle.verbose = 0
    return oracle


class StopAt(keras.callbacks.Callback):
    """Ends training after the batch during which ``deadline`` (a ``time.time()``) passes;
    ``stopped`` says whether it did."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if time.time() >= self.deadline:
            self.model.stop_training = self.stopped = True


# --------------------------------------------------------------------------- lost workers


class Heartbeat:
    """While a trial runs, asks the oracle for it every ``interval`` seconds from a thread,
    so that the chief knows the worker is alive (keras-tuner workers are silent otherwise).

    Example::

        with cluster.Heartbeat(tuner.oracle, trial.trial_id, 15.0):
            metrics = hypermodel.fit(hp, model, splits)
    """

    def __init__(self, oracle, trial_id: str, interval: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(oracle, trial_id, interval), daemon=True
        )

    def __enter__(self) -> Heartbeat:
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


def serve(oracle: keras_tuner.Oracle, deadline: float, lost_after_s: float) -> None:
    """Serve ``oracle`` to the workers until the search is over (the chief's loop).

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
        server.add_insecure_port(oracle_address())
    except RuntimeError:
        raise TuningError(f"cannot listen on {oracle_address()} (port in use?)") from None
    server.start()
    oracle.heard |= {trial.trial_id: time.time() for trial in oracle.ongoing_trials.values()}
    try:
        while not _search_over(oracle, servicer.stop_triggered, deadline, lost_after_s):
            time.sleep(0.5)
    finally:
        server.stop(grace=2.0)


def _search_over(oracle, stopped: bool, deadline: float, lost_after_s: float) -> bool:
    """True when no trial is running and every worker has been told to stop (or the time is
    up). Trials of silent workers are ended as FAILED first."""
    now = time.time()
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        if now - oracle.heard.get(trial.trial_id, now) > lost_after_s:
            trial.status = _FAILED
            trial.message = f"{tuner_id} fell silent for {lost_after_s:g} s during the trial"
            oracle.end_trial(trial)
            oracle.tuner_ids.discard(tuner_id)
    if now > deadline + lost_after_s:
        oracle.tuner_ids.clear()  # workers that died between two trials
    return (stopped or now > deadline) and not oracle.ongoing_trials and not oracle.tuner_ids


def bound_worker_waits(seconds: float) -> None:
    """Make a worker's calls to the chief fail after ``seconds`` (keras-tuner waits 1 hour:
    its ``oracle_client.TIMEOUT``, a module constant, is the only setting there is)."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


def run_worker(tuner: keras_tuner.Tuner, splits: data.Splits) -> None:
    """A worker's search loop, with a one-line error when the chief stops answering."""
    import grpc

    try:
        tuner.search(splits)
    except grpc.RpcError as err:
        raise TuningError(
            f"the chief at {oracle_address()} did not answer ({err.code().name})"
        ) from None
