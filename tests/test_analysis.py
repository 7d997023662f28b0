"""The search analysis: which trials are compared and how far each hyper-parameter moved the
objective (no drawing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xraylib import analysis


def _trials() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rate = 10 ** rng.uniform(-4, -2, 12)
    return pd.DataFrame(
        {
            "trial_id": [f"{i:04d}" for i in range(12)],
            "status": ["COMPLETED"] * 11 + ["FAILED"],
            "epochs": [2] * 4 + [6] * 8,
            "learning_rate": rate,
            "blocks": [3, 4] * 6,
            "stress_log_loss": 0.1 + 10 * rate,  # rises with the rate, blocks do nothing
        }
    )


def test_the_final_round_is_the_largest_budget_two_trials_reached() -> None:
    done = analysis.completed_trials(_trials())
    shown, subtitle, _ = analysis.final_round(done)
    assert len(shown) == 7 and set(shown.epochs) == {6}
    assert "4 shorter trials left out" in subtitle


def test_effect_is_the_spread_of_medians_with_spearmans_rho_for_a_rate() -> None:
    trials = analysis.completed_trials(_trials())
    assert analysis.hyperparameter_columns(trials, exclude=["stress_log_loss"]) == [
        "learning_rate",
        "blocks",
    ]
    rate = analysis.effect("learning_rate", trials.learning_rate, trials.stress_log_loss)
    assert len(rate.segments) == 3 and rate.size > 0 and "ρ +1.00" in rate.text
    blocks = analysis.effect("blocks", trials.blocks, trials.stress_log_loss)
    assert set(blocks.medians) == {3, 4} and not blocks.segments
    assert blocks.size == pytest.approx(
        abs(np.subtract(*trials.groupby("blocks").stress_log_loss.median().to_numpy()))
    )
