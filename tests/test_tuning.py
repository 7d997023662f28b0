"""The keras-tuner search on one machine: its objective, its budget, its records, the best
configuration trained again, and the roles of a distributed search."""

from __future__ import annotations

import json

import keras_tuner
import numpy as np
import pandas as pd
import pytest

from xraylib import cluster, config, experiment, plots, results, synthetic, train, tuning
from xraylib.data import Splits
from xraylib.errors import TuningError

SMALL = {
    "blocks": 3,
    "filters": 16,
    "convs": 1,
    "dropout": 0.2,
    "weight_decay": 1e-4,
    "learning_rate": 1e-3,
    "warmup_epochs": 0.0,
}
POLICY = "acquisition_borders"
HANDMADE = tuning.HANDMADE


@pytest.fixture
def splits() -> Splits:
    x, y, _ = synthetic.make_arrays(96, 32, seed=0)
    return Splits(x[:64], y[:64], x[64:], y[64:], pd.DataFrame(), 32)


def test_search_records_every_trial_and_picks_the_lowest_stress_log_loss(splits):
    result = tuning.search(
        splits, overwrite=True, name="unit", max_trials=2, max_epochs=1, verbose=0
    )
    trials = result.trials
    assert len(trials) == 2 and set(trials.status) == {"COMPLETED"}
    assert (trials.epochs == 1).all() and (trials.seconds > 0).all()
    assert list(trials.columns[: len(tuning.RESULT_COLUMNS)]) == tuning.RESULT_COLUMNS
    assert tuning.hyperparameter_names(trials) == list(tuning.HANDMADE)
    assert trials[["stress_log_loss", "val_loss", "val_auc"]].notna().all().all()
    assert result.directory == config.tuning_dir() / "unit"
    written = pd.read_csv(result.directory / "trials.csv", dtype={"trial_id": str})
    pd.testing.assert_frame_equal(written, trials, check_dtype=False)
    best = trials.loc[trials.stress_log_loss.idxmin()]
    assert result.best is not None
    assert result.best == {name: best[name] for name in tuning.HANDMADE}
    assert result.best_objective == pytest.approx(best.stress_log_loss)
    assert result.to_json()["best_objective"] == pytest.approx(best.stress_log_loss)


def test_the_handmade_configuration_is_a_trial_of_a_smoke_search(splits):
    smoke = config.PROFILES["smoke"]
    result = tuning.search(splits, overwrite=True, name="smoke", profile=smoke, verbose=0)
    trials = result.trials
    assert len(trials) == smoke.tuner_trials
    handmade = trials[trials.handmade]
    assert len(handmade) == 1
    assert handmade.iloc[0][list(tuning.HANDMADE)].to_dict() == tuning.HANDMADE
    assert handmade.iloc[0].epoch_budget == smoke.epochs  # the finalists'


def test_the_handmade_trial_trains_in_the_full_budget_bracket_of_a_10_epoch_plan(tmp_path):
    oracle = cluster.make_oracle(
        "hyperband", tuning.OBJECTIVE, 30, 10, seed=1, admissible=tuning.within_budget(64)
    )
    oracle._set_project_dir(tmp_path, "plan")
    hp = keras_tuner.HyperParameters()
    tuning.CnnHyperModel(64, POLICY).build(hp)
    oracle.update_space(hp)
    handed = [oracle.create_trial(f"tuner{i}") for i in range(22)]  # every configuration
    values = [t.hyperparameters.values for t in handed]
    assert all(tuning.within_budget(64)(v) for v in values)  # the compute budget holds
    assert not tuning.within_budget(64)(dict(HANDMADE, convs=2))
    # nothing completed, so nothing is promoted: round 0 of brackets 2, 1 and 0
    assert [v["tuner/epochs"] for v in values] == [2] * 12 + [4] * 6 + [10] * 4
    reference = [i for i, v in enumerate(values) if {k: v[k] for k in HANDMADE} == HANDMADE]
    assert reference == [18]  # the first trial of the full-budget bracket
    assert values[18]["tuner/bracket"] == 0


def test_the_trial_objective_is_the_stress_log_loss_experiment_computes(splits):
    result = tuning.search(
        splits, overwrite=True, name="obj", max_trials=1, max_epochs=2, verbose=0
    )
    trial = result.trials.iloc[0]
    assert trial.handmade  # the only bracket of a 2-epoch plan is the full-budget one
    design = tuning.design_of(result.best, POLICY, epochs=2)
    again = experiment.run_design("again", design, splits, notebook="test")
    assert again.row.stress_log_loss == pytest.approx(trial.stress_log_loss, abs=1e-6)
    assert tuning.OBJECTIVE.name == experiment.SELECTION_METRIC == "stress_log_loss"
    assert tuning.OBJECTIVE.direction == "min"


def test_a_promoted_trial_retrains_from_scratch_as_the_docstring_says(splits):
    """A 3-epoch plan: three 1-epoch trials, the best promoted to 3 epochs, then two 3-epoch
    trials. The promoted trial ends where a fresh 3-epoch run of its values ends, because its
    1-epoch predecessor ended its own cosine at learning rate 0 (no schedule to continue)."""
    result = tuning.search(
        splits, overwrite=True, name="promo", max_trials=6, max_epochs=3, verbose=0
    )
    trials = result.trials
    assert list(trials.epoch_budget) == [1, 1, 1, 3, 3, 3]
    promoted = trials.iloc[3]
    names = list(tuning.HANDMADE)
    assert any((trials.iloc[:3][names] == promoted[names]).all(axis=1))
    fresh = experiment.run_design(
        "fresh", tuning.design_of(promoted[names].to_dict(), POLICY, epochs=3), splits, "test"
    )
    assert fresh.row.stress_log_loss == pytest.approx(promoted.stress_log_loss, abs=1e-6)
    optimizer = tuning.design_of(SMALL, POLICY, epochs=1).recipe.optimizer(4, 1)
    optimizer.iterations.assign(4)  # the last step of a 1-epoch trial of 4 steps
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)


def test_bayesian_optimisation_is_an_option(splits):
    result = tuning.search(
        splits,
        overwrite=True,
        name="bayes",
        algorithm="bayesian",
        max_trials=1,
        max_epochs=1,
        verbose=0,
    )
    assert list(result.trials.status) == ["COMPLETED"]


def test_search_with_no_time_left_runs_no_trial_and_says_so(splits):
    with pytest.raises(TuningError, match="no trial completed"):
        tuning.search(splits, overwrite=True, name="late", minutes=0, max_epochs=1, verbose=0)
    assert len(pd.read_csv(config.tuning_dir() / "late" / "trials.csv")) == 0


def test_a_trial_cut_short_by_the_deadline_is_failed_not_compared(splits, monkeypatch):
    def deadline_passed(self, batch, logs=None):
        self.model.stop_training = self.stopped = True

    monkeypatch.setattr(cluster.StopAt, "on_train_batch_end", deadline_passed)
    with pytest.raises(TuningError, match="no trial completed"):
        tuning.search(splits, overwrite=True, name="cut", max_trials=1, max_epochs=2, verbose=0)
    trials = pd.read_csv(config.tuning_dir() / "cut" / "trials.csv")
    assert list(trials.status) == ["FAILED"]


def test_the_best_configuration_trains_again_to_the_same_model(splits):
    def train_once():
        train.new_session(7)
        design = tuning.design_of(SMALL, POLICY, epochs=1)
        model = design.build(splits.image_size)
        assert not model.compiled
        return train.fit(model, splits, design.recipe, seed=7, verbose=0)

    first, second = train_once(), train_once()
    pd.testing.assert_frame_equal(first.history, second.history)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_handmade_values_are_notebook_03s_final_design():
    design = tuning.design_of(HANDMADE, POLICY, epochs=20)
    assert design == experiment.final_design(POLICY, 20)


def test_hyperparameters_decide_the_built_network_and_its_recipe():
    values = {**SMALL, "convs": 2, "learning_rate": 3e-4, "weight_decay": 1e-3}
    model = tuning.CnnHyperModel(64, "exposure").build(tuning.hyperparameters(values))
    convolutions = [layer.filters for layer in model.layers if "_conv" in layer.name]
    assert convolutions == [16, 16, 32, 32, 64, 64]
    assert model.input_shape == (None, 64, 64, 1)
    recipe = tuning.design_of(values, "exposure", epochs=4).recipe
    assert (recipe.learning_rate, recipe.weight_decay, recipe.epochs) == (3e-4, 1e-3, 4)
    assert recipe.class_weight == "balanced"  # as notebook 03 decided


def test_the_search_space_is_the_documented_one():
    hp = keras_tuner.HyperParameters()
    tuning.CnnHyperModel(64, POLICY).build(hp)
    assert hp.values == HANDMADE  # the defaults are the hand-made design
    assert list(tuning.search_space().index) == list(HANDMADE)
    assert tuning.search_space(32).loc["blocks", "values"] == "3 … 4"  # 5 blocks need 64 px


def test_one_hyperband_iteration_of_the_full_profile():
    full = config.profile("full")
    plan = tuning.hyperband_plan(full.epochs)
    assert plan.trials.sum() == full.tuner_trials and plan.configurations.sum() >= 20
    assert plan.query("round == bracket").epochs.min() == full.epochs  # finalists: lesson budget


def test_figures_of_a_search_are_written_to_images():
    trials = pd.DataFrame(
        {
            "trial_id": ["0", "1", "2"],
            "tuner": ["tuner0", "tuner1", "tuner0"],
            "status": ["COMPLETED", "COMPLETED", "FAILED"],
            "handmade": [True, False, False],
            "stress_log_loss": [0.3, 0.2, np.nan],
            "val_loss": [0.1, 0.2, np.nan],
            "val_auc": [0.99, 0.995, np.nan],
            "epochs": [2.0, 3.0, np.nan],
            "epoch_budget": [3.0, 3.0, 3.0],
            "seconds": [5.0, 6.0, np.nan],
            **{key: [value] * 3 for key, value in SMALL.items()},
        }
    )
    assert tuning.hyperparameter_names(trials) == list(SMALL)
    plots.plot_search_effects(trials, highlight="0", save="05_test_search_effects")
    assert (config.images_dir() / "05_test_search_effects.png").is_file()


def test_role_comes_from_keras_tuner_variables(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert cluster.current_role() == "single"
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(TuningError, match="KERASTUNER_ORACLE_PORT"):
        cluster.current_role()
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert cluster.current_role() == "chief"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner1")
    assert cluster.current_role() == "worker"


@pytest.mark.parametrize(
    ("role", "worker_id", "oracle", "message"),
    [
        ("boss", None, "127.0.0.1:8000", "role must be"),
        ("chief", None, "localhost", "HOST:PORT"),
        ("worker", None, "127.0.0.1:8000", "needs an id"),
        ("worker", "chief2", "127.0.0.1:8000", "without 'chief'"),
    ],
)
def test_tuner_role_rejects_bad_arguments_in_one_line(role, worker_id, oracle, message):
    with pytest.raises(TuningError, match=message):
        cluster.set_role(role, worker_id, oracle)


def test_unknown_algorithm_is_a_one_line_error(splits):
    with pytest.raises(TuningError, match="hyperband"):
        tuning.search(splits, overwrite=True, algorithm="grid")


def test_tune_command_searches_then_trains_the_best_configuration_again(
    phantom_root, monkeypatch, capsys
):
    from xraylib.__main__ import main

    monkeypatch.setenv("XRAY_DATA_DIR", str(phantom_root))
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main(["tune", "--trials", "1", "--overwrite"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["role"] == "single" and summary["completed"] == 1
    assert summary["model"] == str(config.models_dir() / "cnn_tuned.keras")
    assert (config.models_dir() / "cnn_tuned.keras").is_file()
    assert summary["val_loss"] > 0 and summary["best_objective"] > 0


def test_the_committed_search_is_shown_only_when_it_is_the_planned_one(capsys) -> None:
    plan = tuning.hyperband_plan(10)
    budgets = [e for e, n in zip(plan.epochs, plan.trials, strict=True) for _ in range(n)]
    rows = [
        {
            "trial_id": f"{i:02d}",
            "tuner": "tuner0",
            "status": "COMPLETED",
            "handmade": i == 0,
            "stress_log_loss": 1.0 - 0.01 * i,
            "val_loss": 0.2,
            "val_auc": 0.99,
            "epochs": b,
            "epoch_budget": float(b),
            "seconds": 60.0,
            **HANDMADE,
        }
        for i, b in enumerate(budgets)
    ]
    folder = config.tuning_dir() / "cnn_tuned"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / results.TRIALS_FILE, index=False)
    result = tuning.committed_search(64, max_trials=30, max_epochs=10)
    assert result is not None and "30 trials of the plan" in capsys.readouterr().out
    assert result.best == HANDMADE and result.best_objective == pytest.approx(0.71)
    assert tuning.committed_search(64, max_trials=30, max_epochs=20) is None  # another plan
    pd.DataFrame(rows[:29]).to_csv(folder / results.TRIALS_FILE, index=False)
    assert tuning.committed_search(64, max_trials=30, max_epochs=10) is None  # cut short
