"""One experiment of the notebooks: train a model, judge it on validation, record the result.

Notebooks 02–05 each run several experiments that differ in one decision. :func:`run` does the
same steps every time — seeded training with a :class:`~xraylib.train.Recipe`, validation
predictions, the stress validation (:func:`xraylib.evaluate.stress_test`), a row in
``data/results/metrics.csv`` and the stress table in ``data/results/stress.csv``, the history
in ``data/results/history/``, optionally the saved model, each kept by the results store
:mod:`xraylib.results` — so the notebooks only state the decision being tested. A
:class:`Design` carries everything that defines one CNN iteration (its layers and its recipe),
so a notebook runs a design by name.

Which validation number picks a model is decided before the runs: the **mean validation
log-loss under the declared perturbations** (``stress_log_loss``, lower is better), averaged
over the seeds a design was trained with. Plain validation ROC AUC is reported too, but it is
saturated near 1 and cannot separate the CNNs. A difference smaller than the spread between
seeds is no evidence: :func:`run_seeds` trains a design with several seeds,
:func:`seed_summary` gives their mean and range, and :func:`choose_design` applies the rule
for differences inside that range. The final model is the :func:`ensemble_of` all seeds of the
chosen design: members are never picked by their scores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class Design:
    """One CNN iteration: the keyword arguments of :func:`xraylib.models.build_cnn`, the
    augmentation (a name of :data:`xraylib.models.AUGMENTATIONS`) and the training recipe.

    Example::

        design = experiment.DESIGNS["cnn_deeper"]
        model = design.build(96, name="cnn_deeper")
    """

    layers: dict
    recipe: train.Recipe = field(default_factory=train.Recipe)
    summary: str = ""
    augment: str = "none"

    def build(self, image_size: int, name: str = "cnn") -> keras.Model:
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
        summary="batch norm + global average pooling instead of the flattened map; dropout "
        "0.4 -> 0.3 (it now acts on 128 averages, not on a flattened map)",
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


#: The architecture and recipe of the final model: the complete design of notebook 03 (every
#: part it adds: four blocks, batch norm, global average pooling, the AdamW recipe, balanced
#: class weights), fixed by rule before any run, not by a one-seed ranking of 96-px lessons.
#: Its augmentation policy is decided at the final resolution and budget, over seeds
#: (notebooks 04-05).
FINAL_DESIGN = "cnn_deeper_weighted"
#: The augmentation policies compared for the final model (names of
#: :data:`xraylib.models.AUGMENTATIONS`), the broader first: when their seed ranges overlap,
#: :func:`choose_design` keeps the broader.
FINAL_POLICIES = ("acquisition_borders", "exposure")


def final_design(policy: str, epochs: int) -> Design:
    """:data:`FINAL_DESIGN` with the augmentation ``policy`` and an epoch budget."""
    design = DESIGNS[FINAL_DESIGN]
    return design.with_changes(augment=policy, recipe=design.recipe.with_changes(epochs=epochs))


#: The validation rows of the policy runs (notebook 04): designs ``policy_NAME``.
POLICY_RUNS = "design.str.startswith('policy_')"


def chosen_policy() -> str:
    """The augmentation policy notebook 04 decided: :func:`choose_design` over the seeds of
    the ``policy_NAME`` runs in ``metrics.csv``, the broader policy preferred inside the spread
    (:data:`FINAL_POLICIES`).

    Example::

        experiment.chosen_policy()
        # 'acquisition_borders'
    """
    summary = seed_summary(POLICY_RUNS)
    chosen = choose_design(summary, prefer=[f"policy_{p}" for p in FINAL_POLICIES])
    return chosen.removeprefix("policy_")


def fewer_weights_first(designs: dict[str, Design], image_size: int) -> list[str]:
    """The names of ``designs``, the one with fewer weights first: the order in which
    :func:`choose_design` keeps one of two designs whose seed ranges overlap (the same quality,
    as far as the seeds can tell, for less computation and less to overfit)."""
    sizes = {name: design.build(image_size).count_params() for name, design in designs.items()}
    return sorted(designs, key=sizes.__getitem__)


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
    profile: config.Profile = config.DEFAULT_PROFILE,
    seed: int | None = None,
    verbose: str | int = "bar",
    extra: dict | None = None,
) -> Experiment:
    """Train ``model`` on ``splits`` with ``recipe``, judge it on validation (plain and
    stressed), record and return the outcome, and print one line that sums it up.

    Args:
        name: name of the row in ``metrics.csv`` (and of ``data/models/NAME.keras`` if saved).
        model: a model from :mod:`xraylib.models`, built after ``train.new_session()``.
        splits: training and validation data (at the model's image size).
        notebook: the notebook that ran it (stored in the row).
        recipe: how to train (default ``train.Recipe()``).
        save: keep the model as ``data/models/NAME.keras`` (a candidate for notebook 06).
        profile: the run's settings (default :data:`xraylib.config.DEFAULT_PROFILE`; a
            notebook passes the ``profile`` :func:`xraylib.setup` returned): batch size,
            default epochs, and ``profile.seed``, the seed of the bootstrap intervals.
        seed: training seed (default ``profile.seed``); ensemble members differ by it.
        verbose: progress display of :func:`xraylib.train.fit` (default: one bar, cleared).
        extra: more columns for the row (e.g. the augmentation's name).

    The validation metrics use the 0.5 threshold; the threshold of the final model is chosen
    later, on validation, by :func:`xraylib.evaluate.choose_threshold`.
    """
    recipe = recipe or train.Recipe()
    save_path = results.model_path(name) if save else None
    result = train.fit(
        model, splits, recipe, profile=profile, seed=seed, save_path=save_path, verbose=verbose
    )
    results.save_history(name, result.history)
    judged = judge(
        name,
        result,
        splits,
        notebook,
        seed=profile.seed,
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
    print(summary_line(judged))
    return judged


def summary_line(experiment: Experiment) -> str:
    """One line for a finished run: its budget and wall time, and the exact validation numbers
    of its ``metrics.csv`` row (computed on all validation images, unlike the binned ``auc``
    Keras logs during training)."""
    row = experiment.row
    return (
        f"{experiment.name}: {len(experiment.fit.history)} epochs in "
        f"{experiment.fit.seconds / 60:.1f} min · validation log-loss {row.log_loss:.4f}, "
        f"ROC AUC {row.roc_auc:.4f} · stress log-loss {row.stress_log_loss:.4f}"
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
    save: bool = False,
    seed: int | None = None,
    design_name: str | None = None,
    profile: config.Profile = config.DEFAULT_PROFILE,
    earlier: results.Forgotten | None = None,
) -> Experiment:
    """A fresh seeded session, ``design`` built at the splits' image size, and :func:`run`
    with the design's recipe and ``profile``. The row records the ``design``
    (``design_name``, default ``name``) and the ``seed`` (default ``profile.seed``), so runs of
    one design with several seeds can be averaged.

    When ``earlier`` (what :func:`xraylib.results.forget_from` removed) holds a saved run of
    this name whose design, seed and scale match (:func:`reuse`), that run is put back and
    nothing is trained.

    Example::

        run = experiment.run_design("cnn_plain", experiment.DESIGNS["cnn_plain"], splits,
            notebook="03", profile=profile)
    """
    seed = profile.seed if seed is None else seed
    if earlier is not None:
        reused = reuse(name, design, splits, seed, design_name or name, earlier)
        if reused is not None:
            return reused
    train.new_session(seed)
    model = design.build(splits.image_size, name=name)
    return run(
        name,
        model,
        splits,
        notebook,
        design.recipe,
        save=save,
        profile=profile,
        seed=seed,
        extra={"augment": design.augment, "design": design_name or name, "seed": seed},
    )


def run_seeds(
    name: str,
    design: Design,
    splits: Splits,
    notebook: str,
    seeds: Sequence[int],
    save: bool = True,
    profile: config.Profile = config.DEFAULT_PROFILE,
    earlier: results.Forgotten | None = None,
) -> list[Experiment]:
    """Train ``design`` once per seed number in ``seeds`` (1 is ``profile.seed``, 2 the next
    seed, …), as ``NAME_seed1``, ``NAME_seed2``, …, all recorded under the design ``NAME``.
    Saved by default: the runs of the chosen design become the final ensemble's members, so
    nothing is trained twice. A run that ``earlier`` holds with the same design, seed and
    scale is reused instead (:func:`reuse`).

    Example::

        runs = experiment.run_seeds("policy_exposure", design, splits, "04", [1],
            profile=profile)
    """
    base = profile.seed
    return [
        run_design(
            f"{name}_seed{k}",
            design,
            splits,
            notebook,
            save=save,
            seed=base + k - 1,
            design_name=name,
            profile=profile,
            earlier=earlier,
        )
        for k in seeds
    ]


def reuse(
    name: str,
    design: Design,
    splits: Splits,
    seed: int,
    design_name: str,
    earlier: results.Forgotten,
) -> Experiment | None:
    """The earlier run ``name`` put back instead of trained again, when it is the same run:
    ``earlier`` holds its validation row, saved, of design ``design_name`` with this ``seed``,
    image size, augmentation, recipe (epochs included) and all its epochs run; its model
    ``data/models/NAME.keras`` and history are there; the model has the layers ``design``
    builds; and its validation log-loss, recomputed, is the row's (to 1e-4). Then its
    ``metrics.csv`` and ``stress.csv`` rows are restored (:func:`xraylib.results.restore`)
    and one line says so. Otherwise ``None`` (it trains).

    Example::

        earlier = results.forget_from("05")
        experiment.reuse("a_seed1", design, splits, 42, "a", earlier)
    """
    row = earlier.row(name)
    path = results.model_path(name)
    expected = {
        "design": design_name,
        "seed": seed,
        "image_size": splits.image_size,
        "augment": design.augment,
        "recipe": design.recipe.describe(),
        "epochs_run": design.recipe.epochs,
        "saved": True,
    }
    if (
        row is None
        or any(not _same(row.get(k), v) for k, v in expected.items())
        or not path.is_file()
        or not results.has_history(name)
    ):
        return None
    model = results.load_model(path)
    if _architecture(model) != _architecture(design.build(splits.image_size, name=name)):
        return None
    p_val = predictor(model)(splits.x_val)
    if abs(evaluate.compute_metrics(splits.y_val, p_val)["log_loss"] - row.log_loss) > 1e-4:
        return None
    row = results.restore(name)
    stress = earlier.stress[earlier.stress.model == name].drop(columns="model")
    fit = train.FitResult(
        model,
        results.load_history(name),
        int(row.best_epoch),
        float(row.seconds),
        float(row.images_per_s),
        design.recipe,
    )
    print(
        f"reused committed run {name} ({splits.image_size} px, {design.recipe.epochs} epochs; "
        f"seed {seed}): validation log-loss {row.log_loss:.4f}, ROC AUC {row.roc_auc:.4f} · "
        f"stress log-loss {row.stress_log_loss:.4f}"
    )
    return Experiment(name, fit, p_val, stress.set_index("perturbation"), row)


def _same(found: object, expected: object) -> bool:
    """Whether a value read back from ``metrics.csv`` is ``expected`` (numbers as numbers)."""
    if isinstance(expected, bool) or isinstance(found, bool):
        return str(found).lower() == str(expected).lower()
    if isinstance(expected, int | float):
        try:
            return float(found) == float(expected)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return found == expected


def _architecture(model: keras.Model) -> str:
    """The layers of ``model`` and their settings, without layer names: two models with the
    same text are the same network (weights aside). The augmentation block is left out: it acts
    only in training, its policy is compared by name (the row's ``augment``), and its layers'
    implementation may change under a saved run (the custom ``RandomBlur`` gave way to Keras'
    ``RandomGaussianBlur`` after the committed runs were trained)."""

    def unnamed(value: object) -> object:
        if isinstance(value, dict):
            return {k: unnamed(v) for k, v in value.items() if k != "name"}
        if isinstance(value, list | tuple):
            return [unnamed(v) for v in value]
        return value

    return json.dumps(
        [unnamed(layer.get_config()) for layer in model.layers if layer.name != "augmentation"],
        default=str,
    )


def select(query: str) -> pd.Series:
    """The design among the validation rows of ``metrics.csv`` matching ``query`` with the
    lowest seed-mean :data:`SELECTION_METRIC` (its first row, the metric replaced by the mean;
    see :func:`xraylib.results.best_candidate`).

    Example::

        experiment.select("notebook == '03'").model
    """
    return results.best_candidate(
        f"split == 'val' and ({query})", by=SELECTION_METRIC, ascending=True
    )


def seed_summary(query: str) -> pd.DataFrame:
    """Per design among the validation rows matching ``query``: how many seeds, and the mean,
    standard deviation, lowest and highest :data:`SELECTION_METRIC`, beside the seed means of
    the other validation numbers; best (lowest mean) first.

    Example::

        experiment.seed_summary("design.str.startswith('final_')")
    """
    rows = results.load_metrics().query(f"split == 'val' and ({query})")
    if rows.empty:
        raise XrayError(f"no validation row of metrics.csv matches {query!r}")
    design = results.design_column(rows)
    grouped = rows.groupby(design.rename("design"), sort=False)
    spread = grouped[SELECTION_METRIC].agg(["size", "mean", "std", "min", "max"])
    spread.columns = ["seeds"] + [f"{SELECTION_METRIC}_{c}" for c in ("mean", "sd", "min", "max")]
    means = grouped[["log_loss", "brier", "roc_auc", "stress_roc_auc"]].mean()
    table = spread.join(means).sort_values(f"{SELECTION_METRIC}_mean")
    return table.astype({"seeds": int})


def choose_design(summary: pd.DataFrame, prefer: Sequence[str]) -> str:
    """The rule for a decision over seeds, fixed before the runs: the design with the lowest
    seed-mean :data:`SELECTION_METRIC` wins, unless its seed range (lowest to highest)
    overlaps the range of a design listed earlier in ``prefer`` (e.g. the broader
    augmentation first): a difference inside the spread is no evidence, and then the preferred
    design is kept.

    ``summary`` is a :func:`seed_summary` table; ``prefer`` must list all its designs.

    Example::

        experiment.choose_design(summary, prefer=["broad", "mild"])
        # 'broad'
    """
    missing = set(summary.index) - set(prefer)
    if missing:
        raise ValueError(f"prefer must order every design; missing {sorted(missing)}")
    low, high = f"{SELECTION_METRIC}_min", f"{SELECTION_METRIC}_max"
    best = summary[f"{SELECTION_METRIC}_mean"].idxmin()
    for name in prefer:
        if name == best:
            return best
        if name in summary.index and (
            summary.loc[name, low] <= summary.loc[best, high]
            and summary.loc[best, low] <= summary.loc[name, high]
        ):
            return name
    return best


def members_of(design: str) -> list[str]:
    """The names of the saved validation runs of ``design`` (all its seeds), in seed order."""
    rows = results.load_metrics().query("split == 'val' and design == @design and saved == True")
    if rows.empty:
        raise XrayError(f"no saved run of design {design!r} in metrics.csv; run notebooks 04-05")
    return list(rows.sort_values("seed").model)


def ensemble_of(
    names: Sequence[str],
    splits: Splits,
    notebook: str,
    name: str = "final_ensemble",
    seed: int = config.DEFAULT_SEED,
    earlier: results.Forgotten | None = None,
) -> Experiment:
    """The ensemble of the saved models ``names`` (``data/models/NAME.keras``; their
    probabilities averaged), judged and recorded as ``name`` like any model (bootstrap
    intervals drawn with ``seed``; a notebook passes ``profile.seed``), and saved.
    Which runs are members is decided by the design, never by their scores.

    When ``earlier`` holds a saved run ``name`` and ``data/models/NAME.keras`` has exactly
    these members' weights, that file and its rows are kept (one line says so): the same
    ensemble, not saved again.

    Example::

        names = experiment.members_of("policy_exposure")
        final = experiment.ensemble_of(names, splits, notebook="05", seed=profile.seed)
    """
    members = [results.load_model(results.model_path(n)) for n in names]
    rows = results.load_metrics().query("split == 'val' and model in @names")
    model = models.ensemble(members, name=name)
    path = results.model_path(name)
    if earlier is not None and earlier.row(name) is not None and path.is_file():
        kept = results.load_model(path)
        if models.members_digest(kept) == models.members_digest(model):
            row = results.restore(name)
            stress = earlier.stress[earlier.stress.model == name].drop(columns="model")
            fit = train.FitResult(kept, pd.DataFrame(), 0, float(row.seconds), 0.0, train.Recipe())
            print(
                f"reused committed ensemble {name} ({len(members)} members, the same weights): "
                f"stress log-loss {row.stress_log_loss:.4f}"
            )
            p_val = predictor(kept)(splits.x_val)
            return Experiment(name, fit, p_val, stress.set_index("perturbation"), row)
    recipe = train.Recipe(class_weight=_or_none(rows.class_weight.iloc[0]))
    fit = train.FitResult(model, pd.DataFrame(), 0, float(rows.seconds.sum()), 0.0, recipe)
    extra = {
        "params": model.count_params(),
        "image_size": splits.image_size,
        "recipe": rows.recipe.iloc[0],
        "class_weight": rows.class_weight.iloc[0],
        "members": len(members),
        "seconds": round(fit.seconds, 1),
        "augment": rows.augment.iloc[0],
        "design": name,
    }
    judged = judge(name, fit, splits, notebook, extra=extra, seed=seed)
    keep(judged)
    return judged


def _or_none(value: object) -> str | None:
    return None if value in ("none", None) or pd.isna(value) else str(value)


def against_members(ensemble: str, names: Sequence[str]) -> pd.DataFrame:
    """The validation numbers of the model ``ensemble`` beside its members' (``names``) mean,
    best and worst: what averaging the seeds bought, on clean and stressed validation."""
    columns = [SELECTION_METRIC, "stress_brier", "stress_roc_auc", "log_loss", "roc_auc"]
    rows = results.load_metrics().query("split == 'val'").set_index("model")
    table = rows.loc[list(names), columns].astype(float)
    higher_is_better = table.columns.str.endswith("roc_auc")
    return pd.DataFrame(
        {
            "ensemble": rows.loc[ensemble, columns].astype(float),
            "mean member": table.mean(),
            "best member": table.min().where(~higher_is_better, table.max()),
            "worst member": table.max().where(~higher_is_better, table.min()),
        }
    ).round(4)


def keep(experiment: Experiment) -> Path:
    """Save the experiment's model as the candidate ``data/models/NAME.keras`` and mark its
    validation row ``saved`` (what notebook 06 chooses from). Returns the path."""
    path = results.save_model(experiment.model, results.model_path(experiment.name))
    results.update_row(experiment.name, "val", saved=True)
    return path


def judge(
    name: str,
    fit: train.FitResult,
    splits: Splits,
    notebook: str,
    extra: dict | None = None,
    seed: int = config.DEFAULT_SEED,
) -> Experiment:
    """Validation predictions, stress validation and the ``metrics.csv`` row of a trained
    model (``fit.model``; its bootstrap intervals drawn with ``seed``); :func:`run` calls it,
    and so does a notebook for a model it built from others (an ensemble)."""
    p_val = predictor(fit.model)(splits.x_val)
    stress = stress_of(fit.model, splits)
    results.save_stress(name, stress)
    row = results.save_metrics(
        name,
        "val",
        splits.y_val,
        p_val,
        threshold=0.5,
        extra={"notebook": notebook, **evaluate.stress_summary(stress), **(extra or {})},
        seed=seed,
    )
    return Experiment(name, fit, p_val, stress, row)


def stress_of(model: keras.Model, splits: Splits) -> pd.DataFrame:
    """The stress-validation table of ``model`` on the validation images of ``splits``
    (:func:`xraylib.evaluate.stress_test`); :data:`SELECTION_METRIC` is the mean log-loss of its
    perturbed rows (:func:`xraylib.evaluate.stress_summary`). The keras-tuner search judges
    its trials with it too."""
    return evaluate.stress_test(predictor(model), splits.x_val, splits.y_val)


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
