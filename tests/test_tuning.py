"""The keras-tuner search on one machine: its budget, its records, the retrained best model."""

from __future__ import annotations

import keras_tuner
import numpy as np
import pandas as pd
import pytest

from xraylib import config, synthetic, tuning
from xraylib.data import Splits

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


def test_search_records_every_trial_within_the_trial_budget(splits):
    result = tuning.search(
        splits, overwrite=True, name="unit", max_trials=2, max_epochs=1, retrain=False, verbose=0
    )
    trials = result.trials
    assert len(trials) == 2 and set(trials.status) == {"COMPLETED"}
    assert (trials.epochs == 1).all() and (trials.seconds > 0).all()
    assert {"val_auc", "blocks", "filters", "learning_rate", "augment"} <= set(trials.columns)
    assert result.directory == config.tuning_dir() / "unit"
    written = pd.read_csv(result.directory / "trials.csv", dtype={"trial_id": str})
    pd.testing.assert_frame_equal(written, trials, check_dtype=False)
    best = trials.loc[trials.val_auc.idxmax()]
    assert result.best["blocks"] == best.blocks and result.best["filters"] == best.filters
    assert result.fit is None


def test_bayesian_optimisation_is_an_option(splits):
    result = tuning.search(
        splits,
        overwrite=True,
        name="bayes",
        algorithm="bayesian",
        max_trials=1,
        max_epochs=1,
        retrain=False,
        verbose=0,
    )
    assert list(result.trials.status) == ["COMPLETED"]


def test_search_with_no_time_left_runs_no_trial_and_says_so(splits):
    with pytest.raises(tuning.TuningError, match="no trial completed"):
        tuning.search(splits, overwrite=True, name="late", minutes=0, max_epochs=1, verbose=0)
    assert len(pd.read_csv(config.tuning_dir() / "late" / "trials.csv")) == 0


def test_retraining_the_best_configuration_is_deterministic(splits):
    first = tuning.retrain_best(SMALL, splits, name="tuned")
    second = tuning.retrain_best(SMALL, splits, name="tuned", save=False)
    pd.testing.assert_frame_equal(first.history, second.history)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert (config.models_dir() / "tuned.keras").is_file()


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
    assert tuning.OBJECTIVE.name == "val_auc" and tuning.OBJECTIVE.direction == "max"


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
            "val_auc": [0.8, 0.9, np.nan],
            "best_epoch": [1.0, 2.0, np.nan],
            "epochs": [2.0, 3.0, np.nan],
            "epoch_budget": [3.0, 3.0, 3.0],
            "seconds": [5.0, 6.0, np.nan],
            **{key: [value] * 3 for key, value in SMALL.items()},
        }
    )
    tuning.plot_trials(trials, save="05_test_trials")
    figure = tuning.plot_hyperparameters(trials, save="05_test_hyperparameters")
    assert len([ax for ax in figure.axes if ax.get_title()]) == len(SMALL)
    assert (config.images_dir() / "05_test_trials.png").is_file()
    assert (config.images_dir() / "05_test_hyperparameters.png").is_file()


def test_images_are_resized_for_a_tuned_image_size(splits):
    small = tuning.resized(splits, 16)
    assert small.x_train.shape == (64, 16, 16, 1) and small.x_train.dtype == np.uint8
    assert small.image_size == 16 and tuning.resized(splits, 32) is splits


def test_role_comes_from_keras_tuner_variables(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert tuning.current_role() == "single"
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(tuning.TuningError, match="KERASTUNER_ORACLE_PORT"):
        tuning.current_role()
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert tuning.current_role() == "chief"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner1")
    assert tuning.current_role() == "worker"


@pytest.mark.parametrize(
    ("role", "worker_id", "oracle", "message"),
    [
        ("boss", None, "127.0.0.1:8000", "role must be"),
        ("chief", None, "localhost", "HOST:PORT"),
        ("worker", None, "127.0.0.1:8000", "needs an id"),
        ("worker", "chief2", "127.0.0.1:8000", "without 'chief'"),
    ],
)
def test_tuner_process_rejects_bad_arguments_in_one_line(splits, role, worker_id, oracle, message):
    with pytest.raises(tuning.TuningError, match=message):
        tuning.run_tuner_process(role, worker_id, oracle, overwrite=False, splits=splits)


def test_unknown_algorithm_is_a_one_line_error(splits):
    with pytest.raises(tuning.TuningError, match="hyperband"):
        tuning.search(splits, overwrite=True, algorithm="grid")
