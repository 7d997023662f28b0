"""Hyper-parameter search with keras-tuner: the space of notebook 03's decisions, a search
judged by the series' own selection metric, and the best configuration as a design.

:class:`CnnHyperModel` is the search space: each hyper-parameter is a decision notebook 03
made by hand (depth, width, convolutions per block, dropout, weight decay, peak learning
rate, warm-up). A configuration is an :class:`xraylib.experiment.Design` (:func:`design_of`)
with the augmentation policy given to the search, so a trial trains exactly what
:func:`xraylib.experiment.run_design` would train, with :func:`xraylib.train.fit`.

* **Objective**: the stress-validation log-loss (:data:`xraylib.experiment.SELECTION_METRIC`,
  lower is better), computed by the trial itself with :func:`xraylib.experiment.stress_of`
  on the weights it ends with and returned from ``run_trial``: the number every other
  decision of the series is made by (clean validation is saturated).
* **The hand-made design is a trial**: :data:`HANDMADE` (the values of
  :data:`xraylib.experiment.FINAL_DESIGN`) are the defaults of the space, and the oracle
  trains them as the first trial of Hyperband's full-budget bracket, so the search is
  measured against them at the finalists' budget and can match or beat them, never silently
  lose to them. Its row in ``trials.csv`` has ``handmade`` set.
* **Budget**: Hyperband (factor 3) whose longest trial is ``max_epochs`` (the profile's
  lesson epochs): with 10 epochs one iteration is 22 configurations in 30 trials
  (:func:`hyperband_plan`). A wall-clock deadline (``minutes``) guards the run: after it no
  trial starts and a running one stops and is recorded as FAILED (not comparable).
* **Promoted trials retrain from scratch** rather than continue from their checkpoint: the
  recipe's learning rate follows a cosine to zero at the end of each trial's own budget, so a
  2-epoch trial ends at learning rate 0, and continuing it would not be the run it is promoted
  to be (that would need one schedule fixed to the longest budget, and early rounds judged
  mid-schedule at a high learning rate, which ranks configurations by how fast they start).
  The cost: promoted trials train their first epochs again, 144 epochs instead of 120 for a
  10-epoch plan (``hyperband_plan(10)``). Every trial trains with the project seed, so a
  trial's result does not depend on which trial or machine ran before it.
* **The best configuration** is the completed full-budget trial with the lowest objective
  (:func:`best_finalist`); :func:`design_of` makes it a design to train at the final
  scale over seeds beside the hand-made one (notebook 05). Nothing is computed on the test set.
* Results: keras-tuner's files in ``data/tuning/NAME/`` (not committed) and ``trials.csv``
  there (committed), one row per trial (:func:`trial_table`).

On several machines the same :func:`search` runs as the chief or a worker:
:mod:`xraylib.cluster` (roles, the chief's address, time budget, lost workers).

Example::

    result = tuning.search(splits, overwrite=True, policy="acquisition_borders")
    design = tuning.design_of(result.best, "acquisition_borders", epochs=20)
    runs = experiment.run_seeds("searched", design, final_splits, "05", [1, 2])
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pandas as pd

from xraylib import cluster, config, evaluate, experiment, results, train
from xraylib.data import Splits
from xraylib.errors import TuningError

#: What a trial is judged by: the stress-validation log-loss of its last weights (lower is
#: better), the series' selection metric.
OBJECTIVE = keras_tuner.Objective(experiment.SELECTION_METRIC, "min")
#: The columns of the trials table before the hyper-parameters.
RESULT_COLUMNS = [
    "trial_id",
    "tuner",
    "status",
    "handmade",
    experiment.SELECTION_METRIC,
    "val_loss",
    "val_auc",
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


def _values_of(design: experiment.Design) -> dict:
    """The hyper-parameter values of a design (the inverse of :func:`design_of`)."""
    filters = design.layers["filters"]
    return {
        "blocks": len(filters),
        "filters": filters[0],
        "convs": design.layers.get("convs", 1),
        "dropout": design.layers["dropout"],
        "weight_decay": design.recipe.weight_decay,
        "learning_rate": design.recipe.learning_rate,
        "warmup_epochs": design.recipe.warmup_epochs,
    }


#: The hand-made configuration: notebook 03's final design as values of the search space.
HANDMADE: dict = _values_of(experiment.DESIGNS[experiment.FINAL_DESIGN])


def design_of(values: dict, policy: str, epochs: int | None = None) -> experiment.Design:
    """The :class:`~xraylib.experiment.Design` of a configuration (e.g. ``result.best`` or
    a row of ``trials.csv``): :data:`~xraylib.experiment.FINAL_DESIGN` with the
    configuration's depth, width, convolutions, dropout and recipe, the augmentation
    ``policy`` and an epoch budget (``None``: the profile's).

    >>> design = tuning.design_of(tuning.HANDMADE, "exposure", epochs=20)
    >>> design == experiment.final_design("exposure", 20)
    True
    """
    base = experiment.DESIGNS[experiment.FINAL_DESIGN]
    first, blocks = int(values["filters"]), int(values["blocks"])
    layers = {
        **base.layers,
        "filters": tuple(first * 2**i for i in range(blocks)),
        "dropout": round(float(values["dropout"]), 6),
    }
    if int(values["convs"]) != 1:
        layers["convs"] = int(values["convs"])
    recipe = base.recipe.with_changes(
        learning_rate=float(values["learning_rate"]),
        weight_decay=float(values["weight_decay"]),
        warmup_epochs=float(values["warmup_epochs"]),
        epochs=epochs,
    )
    return base.with_changes(layers=layers, recipe=recipe, augment=policy)


#: The search's compute budget: no configuration costs more multiply-adds per image than the
#: hand-made design (:func:`multiply_adds`), so the search asks which network is best *at the
#: hand-made design's cost*, and its winner trains at the final scale in the time the
#: hand-made one takes.
COST_LIMIT = 1.0


def multiply_adds(values: dict, image_size: int) -> int:
    """Multiply-adds per image of the convolutions of a configuration (the bulk of a training
    step): block ``i`` works on maps of side ``image_size / 2**i`` (the stride-2 stem, then one
    pooling per block) with ``filters · 2**(i-1)`` channels, ``convs`` 3×3 convolutions each.

    >>> wider = dict(tuning.HANDMADE, convs=2)
    >>> tuning.multiply_adds(wider, 64) > 3 * tuning.multiply_adds(tuning.HANDMADE, 64)
    True
    """
    channels, total = 1, 0
    for i in range(int(values["blocks"])):
        side, width = image_size // 2 ** (i + 1), int(values["filters"]) * 2**i
        for _ in range(int(values["convs"])):
            total += side * side * 9 * channels * width
            channels = width
    return total


def within_budget(image_size: int) -> Callable[[dict], bool]:
    """``values -> bool``: whether a configuration costs at most :data:`COST_LIMIT` times the
    multiply-adds of :data:`HANDMADE` at ``image_size`` (what the oracle draws from).

    >>> tuning.within_budget(64)(tuning.HANDMADE)
    True
    """
    limit = COST_LIMIT * multiply_adds(HANDMADE, image_size)
    return lambda values: multiply_adds(values, image_size) <= limit


def max_blocks(image_size: int) -> int:
    """The deepest network an image of ``image_size`` allows: the stride-2 stem and each
    block's pooling halve it, and the last map must keep at least one pixel.

    >>> tuning.max_blocks(64), tuning.max_blocks(32)
    (5, 4)
    """
    return int(math.log2(image_size)) - 1


class CnnHyperModel(keras_tuner.HyperModel):
    """The search space: notebook 03's hand-made decisions, each with a few alternatives.

    ==============  ==========================  =============================================
    name            values                      what it decides
    ==============  ==========================  =============================================
    blocks          3, 4, 5                     depth (each block halves the image; at most
                                                :func:`max_blocks`)
    filters         16, 32                      filters of the first block, doubled per block
    convs           1, 2                        convolutions per block
    dropout         0.1 … 0.5 (step 0.1)        dropout in the head
    weight_decay    1e-5, 1e-4, 1e-3            AdamW's decoupled weight decay
    learning_rate   3e-4 … 3e-3 (log)           peak learning rate of the recipe
    warmup_epochs   0, 1, 2                     linear warm-up before the cosine
    ==============  ==========================  =============================================

    The defaults are :data:`HANDMADE`. The oracle draws only configurations within the compute
    budget (:func:`within_budget`: at most the hand-made design's multiply-adds, so a fifth
    block or a second convolution per block only with 16 filters, and not both). Batch norm,
    global average pooling, the AdamW cosine recipe and balanced class weights stay as
    notebook 03 decided them. Trials use the profile's batch size, the seed and the
    augmentation ``policy``.

    Example::

        hypermodel = tuning.CnnHyperModel(64, "acquisition_borders")
        model = hypermodel.build(keras_tuner.HyperParameters())
    """

    def __init__(
        self,
        image_size: int,
        policy: str,
        profile: config.Profile = config.DEFAULT_PROFILE,
        seed: int | None = None,
    ):
        super().__init__(name="cnn_tuned")
        self.image_size = image_size
        self.policy = policy
        self.profile = profile
        self.seed = profile.seed if seed is None else seed

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """A fresh, seeded, uncompiled CNN for the values in ``hp``."""
        default = HANDMADE
        hp.Int("blocks", 3, max(3, min(5, max_blocks(self.image_size))), default=default["blocks"])
        hp.Choice("filters", [16, 32], default=default["filters"])
        hp.Int("convs", 1, 2, default=default["convs"])
        hp.Float("dropout", 0.1, 0.5, step=0.1, default=default["dropout"])
        hp.Choice("weight_decay", [1e-5, 1e-4, 1e-3], default=default["weight_decay"])
        hp.Float("learning_rate", 3e-4, 3e-3, sampling="log", default=default["learning_rate"])
        hp.Choice("warmup_epochs", [0.0, 1.0, 2.0], default=default["warmup_epochs"])
        train.new_session(self.seed)
        return design_of(hp.values, self.policy).build(self.image_size, name="cnn_tuned")

    def fit(
        self,
        hp: keras_tuner.HyperParameters,
        model: keras.Model,
        splits: Splits,
        epochs: int = 1,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        verbose: int = 0,
    ) -> dict[str, float]:
        """Train one trial for ``epochs`` with its design's recipe (:func:`train.fit`), then
        judge its last weights on the stress validation (:func:`experiment.stress_of`).

        Returns the objective (``stress_log_loss``), the last epoch's ``val_loss`` and
        ``val_auc``, the ``epochs`` trained (fewer when the deadline stopped it) and
        ``seconds``.
        """
        result = train.fit(
            model,
            splits,
            design_of(hp.values, self.policy, epochs).recipe,
            profile=self.profile,
            seed=self.seed,
            callbacks=list(callbacks),
            verbose=verbose,
        )
        stress = evaluate.stress_summary(experiment.stress_of(model, splits))
        last = result.history.iloc[-1]
        return {
            experiment.SELECTION_METRIC: stress[experiment.SELECTION_METRIC],
            "val_loss": float(last["val_loss"]),
            "val_auc": float(last["val_auc"]),
            "epochs": float(len(result.history)),
            "seconds": result.seconds,
        }


def search_space(image_size: int = 64) -> pd.DataFrame:
    """The search space as a table: one row per hyper-parameter with its kind, its values and
    its default (the hand-made value).

    >>> tuning.search_space().loc["blocks", "values"]
    '3 … 5'
    """
    hp = keras_tuner.HyperParameters()
    CnnHyperModel(image_size, "none").build(hp)
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
        "default": f"{parameter.default:g}",
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


def hyperband_plan(max_epochs: int, factor: int = 3) -> pd.DataFrame:
    """One Hyperband iteration as keras-tuner runs it: per bracket and round, the trials and
    their epochs, new configurations in round 0 and promoted ones after; ``epochs_trained`` is
    what each round costs when promoted trials retrain from scratch.

    >>> plan = tuning.hyperband_plan(10)
    >>> int(plan.configurations.sum()), int(plan.trials.sum()), int(plan.epochs_trained.sum())
    (22, 30, 144)
    """
    oracle = keras_tuner.oracles.HyperbandOracle(OBJECTIVE, max_epochs=max_epochs, factor=factor)
    rows = []
    for bracket in reversed(range(oracle._get_num_brackets())):  # keras-tuner's own order
        for round_ in range(bracket + 1):
            size, epochs = oracle._get_size(bracket, round_), oracle._get_epochs(bracket, round_)
            rows.append(
                {
                    "bracket": bracket,
                    "round": round_,
                    "trials": size,
                    "configurations": size if round_ == 0 else 0,
                    "epochs": epochs,
                    "epochs_trained": size * epochs,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- tuner


class _CnnTuner(keras_tuner.Tuner):
    """Runs each trial from scratch for the oracle's epochs (see the module's note on promoted
    trials), up to the deadline, with a heartbeat every ``heartbeat_s``; keeps a row for every
    trial this process ran (``ran``)."""

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
                f"stress log-loss {row[experiment.SELECTION_METRIC]:.4f}, "
                f"{row['epochs']:.0f} epochs, {row['seconds']:.0f} s"
                + (" (hand-made)" if row["handmade"] else ""),
                flush=True,
            )


# --------------------------------------------------------------------------- trial table


def _row(trial_id: str, tuner: str | None, status: str, values: dict, metrics: dict) -> dict:
    """One row of the trials table."""
    values = _searched(values)
    row = {"trial_id": trial_id, "tuner": tuner, "status": status, "handmade": values == HANDMADE}
    row |= {name: metrics.get(name, math.nan) for name in RESULT_COLUMNS[4:]}
    return row | values


def trial_table(oracle: keras_tuner.Oracle) -> pd.DataFrame:
    """Every trial the oracle knows, one row each, in trial order (the ``trials.csv`` table).

    Columns: ``trial_id``, ``tuner`` (who ran it), ``status``, ``handmade`` (the trial of
    :data:`HANDMADE`), ``stress_log_loss`` (the objective), ``val_loss`` and ``val_auc`` (at
    the last epoch), ``epochs`` (trained), ``epoch_budget`` (allowed), ``seconds``, then one
    per hyper-parameter.

    Example::

        tuning.trial_table(tuner.oracle).sort_values("stress_log_loss").head()
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

    Example::

        tuning.hyperparameter_names(result.trials)
        # ['blocks', 'filters', 'convs', 'dropout', 'weight_decay', 'learning_rate', ...]
    """
    return [column for column in trials.columns if column not in RESULT_COLUMNS]


def best_finalist(trials: pd.DataFrame) -> tuple[dict, float]:
    """Hyper-parameter values and objective of the best finalist of a trials table
    (:func:`trial_table`): among the completed trials that trained the longest budget of the
    search, the one with the lowest objective, the first in trial order on a tie (a shorter
    trial is not compared with the finalists, nor with the hand-made trial, which trains that
    budget).

    Example::

        values, objective = tuning.best_finalist(result.trials)
    """
    done = trials[(trials.status == "COMPLETED") & trials[experiment.SELECTION_METRIC].notna()]
    if done.empty:
        raise TuningError(
            "no trial completed: raise the time budget, or read the messages in trial_*/trial.json"
        )
    finalists = done[done.epoch_budget == done.epoch_budget.max()]
    best = finalists.loc[finalists[experiment.SELECTION_METRIC].idxmin()]
    values = {name: best[name] for name in hyperparameter_names(trials)}
    values = {k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()}
    return values, float(best[experiment.SELECTION_METRIC])


def _searched(values: dict) -> dict:
    """``values`` without keras-tuner's bookkeeping entries: the searched hyper-parameters."""
    return {key: value for key, value in values.items() if key not in _TUNER_KEYS}


# --------------------------------------------------------------------------- search


@dataclasses.dataclass
class SearchResult:
    """What :func:`search` returns.

    Attributes:
        role: ``"single"``, ``"chief"`` or ``"worker"``.
        trials: every trial (single, chief; also in ``trials.csv``) or, on a worker, the
            trials this process ran.
        directory: ``data/tuning/NAME``.
        best: hyper-parameter values of the best finalist (``None`` on a worker): make it a
            design with :func:`design_of`.
        best_objective: its stress-validation log-loss (``None`` on a worker).

    Example::

        result.trials.sort_values("stress_log_loss").head(3)
        result.best, result.best_objective
    """

    role: str
    trials: pd.DataFrame
    directory: Path
    best: dict | None = None
    best_objective: float | None = None

    def to_json(self) -> dict:
        """A summary for the command line: role, counts, the best trial, where things are."""
        return {
            "role": self.role,
            "trials": len(self.trials),
            "completed": int((self.trials.status == "COMPLETED").sum()),
            "best_objective": self.best_objective,
            "best": self.best,
            "directory": str(self.directory),
        }


def search(
    splits: Splits,
    *,
    overwrite: bool,
    policy: str = experiment.FINAL_POLICIES[0],
    name: str = "cnn_tuned",
    algorithm: str = "hyperband",
    max_trials: int | None = None,
    minutes: float | None = None,
    max_epochs: int | None = None,
    profile: config.Profile = config.DEFAULT_PROFILE,
    seed: int | None = None,
    lost_after_s: float = 60.0,
    verbose: int = 1,
) -> SearchResult:
    """Search the CNN space on ``splits``; return the trials and the best configuration.

    Runs as a single process, or as the chief or a worker of a distributed search when
    keras-tuner's environment variables say so (:mod:`xraylib.cluster`).

    Args:
        splits: training and validation data at the search's image size (the chief does not
            train).
        overwrite: start afresh (``True``) or resume the search in ``data/tuning/NAME``
            (``False``); a worker never deletes anything.
        policy: the augmentation policy every trial trains with (a name of
            :data:`xraylib.models.AUGMENTATIONS`).
        name: folder in ``data/tuning/``.
        algorithm: ``"hyperband"`` or ``"bayesian"``.
        max_trials: trial budget, promoted Hyperband trials included (default the profile's
            ``tuner_trials``: one Hyperband iteration, :func:`hyperband_plan`).
        minutes: wall-clock guard (default the profile's ``tuner_minutes``).
        max_epochs: epochs of the longest trial (default the profile's lesson ``epochs``).
        profile: batch size and defaults (default :data:`xraylib.config.DEFAULT_PROFILE`; a
            notebook passes the ``profile`` :func:`xraylib.setup` returned).
        seed: oracle, initialisation and shuffling (default ``profile.seed``).
        lost_after_s: a trial whose worker has been silent this long is recorded as FAILED
            (workers send a heartbeat four times as often).
        verbose: 1 prints one line per trial this process runs.

    Example::

        result = tuning.search(splits, overwrite=True, profile=profile)
        result.trials.sort_values("stress_log_loss").head(3)
    """
    seed = profile.seed if seed is None else seed
    role = cluster.current_role()
    minutes = profile.tuner_minutes if minutes is None else minutes
    deadline = time.time() + 60 * minutes
    hypermodel = CnnHyperModel(splits.image_size, policy, profile, seed)
    max_trials = max_trials or profile.tuner_trials
    max_epochs = max_epochs or profile.epochs
    oracle = cluster.make_oracle(
        algorithm, OBJECTIVE, max_trials, max_epochs, seed, within_budget(splits.image_size)
    )
    tuner = _CnnTuner(
        oracle,
        hypermodel,
        max_epochs,
        deadline,
        lost_after_s / 4,
        verbose,
        directory=results.search_root(),
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
    results.save_trials(trials, directory)
    return SearchResult(role, trials, directory, *best_finalist(trials))


def committed_search(
    image_size: int,
    *,
    name: str = "cnn_tuned",
    max_trials: int,
    max_epochs: int,
) -> SearchResult | None:
    """The search already recorded in ``data/tuning/NAME/trials.csv`` (committed), when it is
    the search the plan asks for: the first ``max_trials`` trials of one Hyperband iteration
    whose longest trial is ``max_epochs`` (:func:`hyperband_plan`), in its order of epoch
    budgets, over this search space's hyper-parameters, every configuration within the compute
    budget at ``image_size`` (:func:`within_budget`), and the hand-made trial among them.
    Returns it as a :class:`SearchResult` (best finalist by :func:`best_finalist`) and says so
    in one line, or returns ``None`` (then run :func:`search`).

    ``trials.csv`` does not record the augmentation policy or the seed: the plan, the space and
    the budget are what is checked; the searched design's runs are checked again when they are
    reused (:func:`xraylib.experiment.reuse`).

    Example::

        result = tuning.committed_search(64, max_trials=30, max_epochs=10) or tuning.search(
            splits, overwrite=True, policy="acquisition_borders")
    """
    path = results.search_root() / name / results.TRIALS_FILE
    if not path.is_file():
        return None
    trials = pd.read_csv(path, dtype={"trial_id": str})
    plan = hyperband_plan(max_epochs)
    budgets = np.repeat(plan.epochs.to_numpy(), plan.trials.to_numpy())[:max_trials]
    space = list(search_space(image_size).index)
    if (
        len(trials) != len(budgets)
        or not np.array_equal(trials.epoch_budget.to_numpy(float), budgets.astype(float))
        or hyperparameter_names(trials) != space
        or not trials.handmade.any()
        or not all(map(within_budget(image_size), trials[space].to_dict("records")))
    ):
        return None
    print(
        f"reused the committed search {path.relative_to(config.output_dir()).as_posix()}: "
        f"{len(trials)} trials of the plan, {trials.seconds.sum() / 60:.1f} min of training "
        "(not run again)"
    )
    return SearchResult("single", trials, path.parent, *best_finalist(trials))
