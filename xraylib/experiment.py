"""One experiment of the notebooks: train a model, judge it on validation, record the result.

Notebooks 02–05 each run several experiments that differ in one decision. :func:`run` does the
same steps every time — seeded training with a :class:`~xraylib.train.Recipe`, validation
predictions, the stress validation (:func:`xraylib.evaluate.stress_test`), a row in
``data/results/metrics.csv`` and the stress table in ``data/results/stress.csv``, the history
in ``data/results/history/``, optionally the saved model — so the notebooks only state the
decision being tested. A :class:`Design` carries everything that defines one CNN iteration
(its layers and its recipe), so a notebook runs a design by name.

Which validation number picks a model is decided before the runs: the **mean validation
log-loss under the declared perturbations** (``stress_log_loss``, lower is better). Plain
validation ROC AUC is reported too, but it is saturated near 1 and cannot separate the CNNs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from xraylib import config, evaluate, models, results, train
from xraylib.data import Splits
from xraylib.errors import XrayError

#: The column of ``metrics.csv`` that picks a model among candidates (lower is better).
SELECTION_METRIC = "stress_log_loss"
STRESS_FILE = "stress.csv"


@dataclass(frozen=True)
class Design:
    """One CNN iteration: the keyword arguments of :func:`xraylib.models.build_cnn`, the
    augmentation (a name of :data:`xraylib.models.AUGMENTATIONS`) and the training recipe.

    >>> design = experiment.DESIGNS["cnn_deeper"]  # doctest: +SKIP
    >>> model = design.build(96, name="cnn_deeper")  # doctest: +SKIP
    """

    layers: dict
    recipe: train.Recipe = field(default_factory=train.Recipe)
    summary: str = ""
    augment: str = "none"

    def build(self, image_size: int | None = None, name: str = "cnn") -> keras.Model:
        """A fresh model of this design (call :func:`xraylib.train.new_session` first)."""
        block = (
            None
            if self.augment == "none"
            else models.augmentation(**models.AUGMENTATIONS[self.augment])
        )
        return models.build_cnn(image_size, **self.layers, augment=block, name=name)

    def with_changes(self, **changes: object) -> Design:
        """A copy with some fields changed, e.g. ``augment="exposure"``."""
        return replace(self, **changes)  # type: ignore[arg-type]


_FOUR_BLOCKS = dict(filters=(32, 64, 128, 256), batch_norm=True, dropout=0.3, pooling="gap")

#: The CNN iterations of notebook 03, one decision added at a time. All train with the same
#: recipe (AdamW, warm-up + cosine, the profile's epochs, last weights) except where the
#: decision *is* the recipe.
DESIGNS: dict[str, Design] = {
    "cnn_plain": Design(
        dict(filters=(32, 64, 128), batch_norm=False, dropout=0.0, pooling="flatten"),
        summary="3 blocks, flattened map, no regularisation",
    ),
    "cnn_regularised": Design(
        dict(filters=(32, 64, 128), batch_norm=False, dropout=0.4, pooling="flatten"),
        summary="+ dropout 0.4 (AdamW's weight decay is on for every design)",
    ),
    "cnn_bn_gap": Design(
        dict(filters=(32, 64, 128), batch_norm=True, dropout=0.3, pooling="gap"),
        summary="batch norm + global average pooling instead of the flattened map",
    ),
    "cnn_deeper": Design(_FOUR_BLOCKS, summary="a fourth block (256 filters)"),
    "cnn_deeper_constant_lr": Design(
        _FOUR_BLOCKS,
        train.Recipe(schedule="constant", warmup_epochs=0, weight_decay=0.0),
        summary="the same network, plain Adam at a constant learning rate",
    ),
    "cnn_deeper_weighted": Design(
        _FOUR_BLOCKS,
        train.Recipe(class_weight="balanced"),
        summary="the same network and recipe, with balanced class weights",
    ),
}


@dataclass
class Experiment:
    """The outcome of :func:`run`.

    Attributes:
        name: the model's name in the results table.
        fit: the training result (model, history, timings, recipe).
        p_val: predicted probabilities of PNEUMONIA on the validation images.
        stress: the stress-validation table (one row per perturbation).
        row: the validation row written to ``metrics.csv``.
    """

    name: str
    fit: train.FitResult
    p_val: np.ndarray
    stress: pd.DataFrame
    row: pd.Series

    @property
    def model(self) -> keras.Model:
        """The trained model."""
        return self.fit.model


def predictor(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """``images -> probabilities`` for ``model`` (batches of 256, no progress bar)."""
    return lambda x: model.predict(x, batch_size=256, verbose=0).ravel()


def run(
    name: str,
    model: keras.Model,
    splits: Splits,
    notebook: str,
    recipe: train.Recipe | None = None,
    save: bool = False,
    profile: config.Profile | None = None,
    seed: int | None = None,
    verbose: str | int = 2,
    extra: dict | None = None,
) -> Experiment:
    """Train ``model`` on ``splits`` with ``recipe``, judge it on validation (plain and
    stressed), record and return the outcome.

    Args:
        name: name of the row in ``metrics.csv`` (and of ``data/models/NAME.keras`` if saved).
        model: a model from :mod:`xraylib.models`, built after ``train.new_session()``.
        splits: training and validation data (at the model's image size).
        notebook: the notebook that ran it (stored in the row).
        recipe: how to train (default ``train.Recipe()``).
        save: keep the model as ``data/models/NAME.keras`` (a candidate for notebook 06).
        profile: run settings (default: the active profile).
        seed: training seed (default ``XRAY_SEED``); ensemble members differ by it.
        verbose: Keras progress display (2: one line per epoch).
        extra: more columns for the row (e.g. the augmentation's name).

    The validation metrics use the 0.5 threshold; the threshold of the final model is chosen
    later, on validation, by :func:`xraylib.evaluate.choose_threshold`.
    """
    recipe = recipe or train.Recipe()
    save_path = config.models_dir() / f"{name}.keras" if save else None
    result = train.fit(
        model, splits, recipe, profile=profile, seed=seed, save_path=save_path, verbose=verbose
    )
    result.history.to_csv(_history_path(name), index=False)
    return judge(
        name,
        result,
        splits,
        notebook,
        extra={
            **_training_facts(result, splits),
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "seconds": round(result.seconds, 1),
            "images_per_s": round(result.images_per_s, 1),
            "saved": bool(save),
            **(extra or {}),
        },
    )


def _training_facts(fit: train.FitResult, splits: Splits) -> dict:
    """The columns of a ``metrics.csv`` row that describe how ``fit.model`` was made."""
    return {
        "params": fit.model.count_params(),
        "image_size": splits.image_size,
        "recipe": fit.recipe.describe(),
        "class_weight": fit.recipe.class_weight or "none",
    }


def run_design(
    name: str,
    design: Design,
    splits: Splits,
    notebook: str,
    save: bool = True,
    seed: int | None = None,
    verbose: str | int = 2,
) -> Experiment:
    """A fresh seeded session, ``design`` built at the splits' image size, and :func:`run`
    with the design's recipe.

    >>> run = experiment.run_design("cnn_plain", experiment.DESIGNS["cnn_plain"], splits,
    ...                             notebook="03")  # doctest: +SKIP
    """
    train.new_session(seed)
    model = design.build(splits.image_size, name=name)
    return run(
        name,
        model,
        splits,
        notebook,
        design.recipe,
        save=save,
        seed=seed,
        verbose=verbose,
        extra={"augment": design.augment},
    )


def select(query: str) -> pd.Series:
    """The validation row of ``metrics.csv`` matching ``query`` with the lowest
    :data:`SELECTION_METRIC`: the rule that carries a model forward, fixed in advance.

    >>> experiment.select("notebook == '03'").model  # doctest: +SKIP
    """
    return results.best_candidate(
        f"split == 'val' and ({query})", by=SELECTION_METRIC, ascending=True
    )


def train_members(
    design: Design, splits: Splits, count: int, notebook: str, prefix: str = "member"
) -> list[Experiment]:
    """Train ``count`` models of ``design`` that differ only in their seed (``XRAY_SEED``,
    +1, +2, …), each judged and recorded as ``PREFIX_1``, ``PREFIX_2``, … (not saved alone).
    """
    base = config.seed()
    return [
        run_design(f"{prefix}_{i}", design, splits, notebook, save=False, seed=base + i - 1)
        for i in range(1, count + 1)
    ]


def judge_ensembles(
    members: list[Experiment], splits: Splits, notebook: str, prefix: str = "ensemble"
) -> list[Experiment]:
    """The ensembles of the first 1, 2, … of ``members`` (probabilities averaged), each judged
    and recorded as ``PREFIX_K``: how many members are worth their cost is read from them."""
    judged = []
    for k in range(1, len(members) + 1):
        name = f"{prefix}_{k}"
        model = models.ensemble([m.model for m in members[:k]], name=name)
        fit = train.FitResult(
            model,
            pd.DataFrame(),
            members[0].fit.best_epoch,
            sum(m.fit.seconds for m in members[:k]),
            members[0].fit.images_per_s,
            members[0].fit.recipe,
        )
        extra = {**_training_facts(fit, splits), "members": k, "seconds": round(fit.seconds, 1)}
        judged.append(judge(name, fit, splits, notebook, extra=extra))
    return judged


def choose_ensemble(ensembles: list[Experiment], tolerance: float = 1e-3) -> Experiment:
    """The ensemble with the lowest :data:`SELECTION_METRIC`; one within ``tolerance`` of it
    with fewer members wins (each member costs a full training and a prediction)."""
    lowest = min(e.row[SELECTION_METRIC] for e in ensembles)
    return next(e for e in ensembles if e.row[SELECTION_METRIC] <= lowest + tolerance)


def keep(experiment: Experiment) -> Path:
    """Save the experiment's model as the candidate ``data/models/NAME.keras`` and mark its
    validation row ``saved`` (what notebook 06 chooses from). Returns the path."""
    path = train.save_model(experiment.model, config.models_dir() / f"{experiment.name}.keras")
    results.update_row(experiment.name, "val", saved=True)
    return path


def judge(
    name: str,
    fit: train.FitResult,
    splits: Splits,
    notebook: str,
    extra: dict | None = None,
) -> Experiment:
    """Validation predictions, stress validation and the ``metrics.csv`` row of a trained
    model (``fit.model``); :func:`run` calls it, and so does a notebook for a model it built
    from others (an ensemble)."""
    p_val = predictor(fit.model)(splits.x_val)
    stress = evaluate.stress_test(predictor(fit.model), splits.x_val, splits.y_val)
    save_stress(name, stress)
    row = results.save_metrics(
        name,
        "val",
        splits.y_val,
        p_val,
        threshold=0.5,
        extra={"notebook": notebook, **evaluate.stress_summary(stress), **(extra or {})},
    )
    return Experiment(name, fit, p_val, stress, row)


def save_stress(name: str, table: pd.DataFrame) -> Path:
    """Replace the rows of model ``name`` in ``data/results/stress.csv`` by ``table``."""
    path = config.results_dir() / STRESS_FILE
    new = table.reset_index().assign(model=name)
    if path.exists():
        old = pd.read_csv(path)
        new = pd.concat([old[old.model != name], new], ignore_index=True)
    return results.write_csv(new, path)


def load_stress(names: list[str] | None = None) -> pd.DataFrame:
    """The stress-validation rows of ``names`` (all models when None), in that order."""
    path = config.results_dir() / STRESS_FILE
    if not path.exists():
        raise XrayError(f"{path}: no stress validation yet; run notebook 03 first")
    table = pd.read_csv(path)
    if names is None:
        return table
    return pd.concat([table[table.model == n] for n in names], ignore_index=True)


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


COMPARED = [
    SELECTION_METRIC,
    "stress_roc_auc",
    "log_loss",
    "brier",
    "roc_auc",
    "sensitivity",
    "specificity",
    "seconds",
    "params",
]


def compare(experiments: list[Experiment]) -> pd.DataFrame:
    """A table of the experiments' validation metrics, one row each, best (lowest
    ``stress_log_loss``) first."""
    table = pd.DataFrame([e.row for e in experiments]).set_index("model")
    present = [c for c in COMPARED if c in table.columns]
    return table[present].astype(float).sort_values(SELECTION_METRIC).round(4)
