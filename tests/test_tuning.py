"""The keras-tuner search on one machine: its objective, its budget, its records, the best
configuration trained again, and the roles of a distributed search."""

from __future__ import annotations

import json

import keras_tuner
import numpy as np
import pandas as pd
import pytest

from xraylib import cluster, config, data, plots, synthetic, train, tuning
from xraylib.data import Splits
from xraylib.errors import TuningError

SMALL = {
    "blocks": 2,
    "filters": 16,
    "batch_norm": True,
    "dropout": 0.2,
    "l2": 1e-4,
    "augment": 0.5,
    "learning_rate": 1e-3,
}


@pytest.fixture
def splits() -> Splits:
    x, y, _ = synthetic.make_arrays(96, 32, seed=0)
    return Splits(x[:64], y[:64], x[64:], y[64:], pd.DataFrame(), 32)


def test_search_records_every_trial_and_picks_the_lowest_validation_log_loss(splits):
    result = tuning.search(
        splits, overwrite=True, name="unit", max_trials=2, max_epochs=1, verbose=0
    )
    trials = result.trials
    assert len(trials) == 2 and set(trials.status) == {"COMPLETED"}
    assert (trials.epochs == 1).all() and (trials.seconds > 0).all()
    assert list(trials.columns[:9]) == tuning.RESULT_COLUMNS
    assert {"blocks", "filters", "learning_rate", "augment"} <= set(trials.columns)
    assert trials[["val_loss", "val_auc", "val_brier"]].notna().all().all()
    assert result.directory == config.tuning_dir() / "unit"
    written = pd.read_csv(result.directory / "trials.csv", dtype={"trial_id": str})
    pd.testing.assert_frame_equal(written, trials, check_dtype=False)
    best = trials.loc[trials.val_loss.idxmin()]
    assert result.best is not None
    assert result.best["blocks"] == best.blocks and result.best["filters"] == best.filters
    assert result.best["learning_rate"] == pytest.approx(best.learning_rate)
    assert result.best_val_loss == pytest.approx(best.val_loss)
    assert result.to_json()["best_val_loss"] == pytest.approx(best.val_loss)


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


def test_the_objective_is_validation_log_loss_not_the_saturated_auc():
    assert tuning.OBJECTIVE.name == "val_loss" and tuning.OBJECTIVE.direction == "min"


def test_a_configuration_trains_with_the_notebooks_recipe_and_its_learning_rate():
    recipe = tuning.recipe({**SMALL, "learning_rate": 3e-4, "tuner/epochs": 4}, epochs=4)
    assert recipe == train.Recipe(learning_rate=3e-4, epochs=4, class_weight=None)
    assert tuning.recipe(SMALL).epochs is None  # the profile's epochs


def test_the_best_configuration_trains_again_to_the_same_model(splits):
    def train_once():
        model = tuning.build_model(SMALL, splits.image_size, seed=7)
        assert not model.compiled
        return train.fit(model, splits, tuning.recipe(SMALL, epochs=1), seed=7, verbose=0)

    first, second = train_once(), train_once()
    pd.testing.assert_frame_equal(first.history, second.history)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_hyperparameters_decide_the_built_network():
    hypermodel = tuning.CnnHyperModel(image_size=64, image_sizes=[32, 64])
    model = hypermodel.build(
        tuning.hyperparameters(
            {**SMALL, "blocks": 3, "batch_norm": False, "augment": 0.0, "image_size": 32}
        )
    )
    convolutions = [layer.filters for layer in model.layers if layer.name.endswith("_conv")]
    assert convolutions == [16, 32, 64]
    assert model.input_shape == (None, 32, 32, 1)
    assert not any(
        layer.name.endswith("_bn") or layer.name == "augmentation" for layer in model.layers
    )


def test_the_search_space_is_the_documented_one():
    hp = keras_tuner.HyperParameters()
    tuning.CnnHyperModel(image_size=32).build(hp)
    assert set(hp.values) == set(SMALL)
    assert list(tuning.search_space([32, 64]).index) == ["image_size", *SMALL]


def test_hyperband_keeps_one_iteration_within_the_trial_budget():
    assert tuning.hyperband_epochs(10, 10) == 8  # 30 trials at 10 epochs, 10 at 8
    assert tuning.hyperband_epochs(2, 2) == 2
    assert tuning.hyperband_epochs(1, 10) == 1


def test_figures_of_a_search_are_written_to_images():
    trials = pd.DataFrame(
        {
            "trial_id": ["0", "1", "2"],
            "tuner": ["tuner0", "tuner1", "tuner0"],
            "status": ["COMPLETED", "COMPLETED", "FAILED"],
            "val_loss": [0.3, 0.2, np.nan],
            "val_auc": [0.99, 0.995, np.nan],
            "val_brier": [0.08, 0.06, np.nan],
            "epochs": [2.0, 3.0, np.nan],
            "epoch_budget": [3.0, 3.0, 3.0],
            "seconds": [5.0, 6.0, np.nan],
            **{key: [value] * 3 for key, value in SMALL.items()},
        }
    )
    assert tuning.hyperparameter_names(trials) == list(SMALL)
    plots.plot_trials(trials, save="05_test_trials")
    figure = plots.plot_hyperparameters(trials, save="05_test_hyperparameters")
    assert len([ax for ax in figure.axes if ax.get_title()]) == len(SMALL)
    assert (config.images_dir() / "05_test_trials.png").is_file()
    assert (config.images_dir() / "05_test_hyperparameters.png").is_file()


def test_images_are_resized_for_a_tuned_image_size(splits):
    small = data.resized(splits, 16)
    assert small.x_train.shape == (64, 16, 16, 1) and small.x_train.dtype == np.uint8
    assert small.image_size == 16 and data.resized(splits, 32) is splits


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
    assert summary["val_loss"] > 0
