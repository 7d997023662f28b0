"""What a hyper-parameter search learned, as numbers: which trials to compare (the final
round of a Hyperband search), which columns of a trials table are hyper-parameters, and how far
each moved the objective (the spread of the objective's medians across its values, with
Spearman's ρ for a continuous one). :func:`xraylib.plots.plot_search_effects` draws it; this
module draws nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr


def final_round(done: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    """The completed trials of the largest epoch budget reached by two or more trials, a
    subtitle that says so (all of them, and that, when no budget has two) and the legend
    entry of their dots."""
    budget = (
        "epoch_budget"
        if "epoch_budget" in done and done["epoch_budget"].notna().any()
        else "epochs"
    )
    counts = done[budget].value_counts()
    reached = counts[counts >= 2]
    if not len(reached):
        subtitle = f"all {len(done)} completed trials (no epoch budget reached by two)"
        return done, subtitle, "a completed trial"
    final = reached.index.max()
    shown = done[done[budget] == final]
    left_out = len(done) - len(shown)
    subtitle = (
        f"the final round: the {len(shown)} completed trials with the largest budget "
        f"({final:g} epochs; {left_out} shorter trials left out)"
    )
    return shown, subtitle, f"a trial of the final round ({final:g} epochs)"


@dataclasses.dataclass(frozen=True)
class Effect:
    """How much one hyper-parameter moved the objective (drawn by
    :func:`xraylib.plots.plot_search_effects`)."""

    size: float  #: max − min of the medians (nan: not measurable)
    text: str  #: in words, e.g. "medians differ by 0.012 · ρ +0.45"
    #: a continuous hyper-parameter's thirds: (x from, x to, median) lines to draw
    segments: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)
    #: a choice's median per value
    medians: dict = dataclasses.field(default_factory=dict)


def effect(name: str, values: pd.Series, objective: pd.Series) -> Effect:
    """The spread of the objective's medians across the values of ``values`` (continuous
    hyper-parameters: across the thirds of the trials sorted by the value)."""
    values, objective = values.reset_index(drop=True), objective.reset_index(drop=True)
    if value_kind(name, values) == "category":
        medians = {
            level: float(objective[values == level].median())
            for level in sorted(values.dropna().unique())
        }
        if len(medians) < 2:
            return Effect(np.nan, "one value tried: no effect to see", medians=medians)
        size = max(medians.values()) - min(medians.values())
        return Effect(size, f"medians differ by {size:.3g}", medians=medians)
    order = np.argsort(values.to_numpy(float), kind="stable")
    groups = [g for g in np.array_split(order, 3 if len(order) >= 6 else 2) if len(g)]
    x = values.to_numpy(float)
    segments = [
        (float(x[g].min()), float(x[g].max()), float(np.median(objective.to_numpy(float)[g])))
        for g in groups
    ]
    if len(groups) < 2:
        return Effect(np.nan, "too few trials to see an effect", segments)
    thirds = [m for _, _, m in segments]
    size = max(thirds) - min(thirds)
    rho = spearmanr(x, objective.to_numpy(float)).statistic
    return Effect(size, f"medians differ by {size:.3g} · ρ {rho:+.2f}", segments)


#: Hyper-parameters drawn on a logarithmic axis when all their values are positive.
LOG_SCALE = ("learning_rate", "weight_decay", "l2")
#: Columns of a trials table that are never hyper-parameters (besides ``val_*``, ``stress_*``).
NOT_HYPERPARAMETERS = ("trial_id", "tuner", "status", "handmade", "epochs", "epoch_budget")


def hyperparameter_columns(trials: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """:func:`xraylib.tuning.hyperparameter_names` less ``exclude`` and result-like columns
    (so a table written by an older or newer :mod:`xraylib.tuning` still plots)."""
    from xraylib.tuning import hyperparameter_names

    skip = {*NOT_HYPERPARAMETERS, "seconds", "number", *exclude}
    return [
        name
        for name in hyperparameter_names(trials)
        if name not in skip and not name.startswith(("val_", "stress_"))
    ]


def completed_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed trials in trial order, with the trial's ``number``."""
    done = trials[trials.status == "COMPLETED"]
    return done.assign(number=done.trial_id.astype(int)).sort_values("number")


def value_kind(name: str, values: pd.Series) -> str:
    """``"log"`` for a rate or penalty with positive values (:data:`LOG_SCALE`), ``"linear"``
    for another number with more than 6 values, else ``"category"`` (choices, booleans)."""
    numeric = values.dtype.kind in "fiu"
    if numeric and name in LOG_SCALE and values.min() > 0 and values.nunique() > 1:
        return "log"
    if values.dtype.kind == "f" and values.nunique() > 6:
        return "linear"
    return "category"
