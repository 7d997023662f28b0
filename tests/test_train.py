"""Training: the recipe (schedule, early stopping on val_loss), reproducibility, saving."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pandas as pd
import pytest

from xraylib import config, data, models, results, synthetic, train
from xraylib.results import load_model

SIZE = 48
PROFILE = config.Profile(
    "test",
    image_size=SIZE,
    batch_size=32,
    epochs=4,
    per_class=None,
    tuner_trials=1,
    tuner_minutes=0.1,
    search_image_size=SIZE,
    final_image_size=SIZE,
    final_epochs=2,
    policy_seeds=1,
    ensemble_members=2,
)
RECIPE = train.Recipe(learning_rate=3e-3, warmup_epochs=0.5)


@pytest.fixture(scope="module")
def splits() -> data.Splits:
    """240 training and 80 validation phantoms (bright opacity = PNEUMONIA)."""
    x_train, y_train, _ = synthetic.make_arrays(240, SIZE, seed=1)
    x_val, y_val, _ = synthetic.make_arrays(80, SIZE, seed=2)
    return data.Splits(x_train, y_train, x_val, y_val, pd.DataFrame(), SIZE)


def _small_cnn() -> models.keras.Model:
    return models.build_cnn(SIZE, filters=(16, 32, 64), dense_units=16)


def _train(splits: data.Splits, recipe: train.Recipe = RECIPE, **kwargs) -> train.FitResult:
    train.new_session(7)
    return train.fit(_small_cnn(), splits, recipe, profile=PROFILE, seed=7, verbose=0, **kwargs)


@pytest.fixture(scope="module")
def saved_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models") / "small.keras"


@pytest.fixture(scope="module")
def result(splits: data.Splits, saved_path: Path) -> train.FitResult:
    return _train(splits, save_path=saved_path)


def test_four_epochs_beat_chance_on_validation(result: train.FitResult) -> None:
    assert result.history["val_auc"].max() >= 0.8


def test_history_is_a_frame_with_epochs_from_one(result: train.FitResult) -> None:
    history = result.history
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert {"loss", "auc", "pr_auc", "brier", "val_loss", "val_auc", "val_brier"} <= set(history)
    assert result.best_epoch == 4  # no early stopping: the last epoch
    assert result.seconds > 0 and result.images_per_s > 0
    assert result.recipe == RECIPE.with_changes(epochs=PROFILE.epochs)  # budget filled in
    assert "4 epochs" in result.recipe.describe()


def test_model_keeps_the_last_epoch_weights(result: train.FitResult, splits: data.Splits) -> None:
    scores = result.model.evaluate(
        splits.x_val, splits.y_val.astype("float32"), verbose=0, return_dict=True
    )
    assert scores["loss"] == pytest.approx(result.history["val_loss"].iloc[-1], rel=1e-5)


def test_warmup_then_cosine_reaches_the_peak_and_ends_at_zero() -> None:
    recipe = train.Recipe(learning_rate=1e-2, warmup_epochs=1)
    schedule = recipe.optimizer(steps_per_epoch=10, epochs=5).learning_rate
    optimizer = recipe.optimizer(steps_per_epoch=10, epochs=5)
    rate = optimizer._learning_rate
    assert float(rate(0)) == 0.0
    assert float(rate(10)) == pytest.approx(1e-2)
    assert float(rate(30)) < 1e-2 and float(rate(50)) == pytest.approx(0.0, abs=1e-9)
    assert float(schedule) == 0.0  # the optimiser starts at step 0
    constant = train.Recipe(schedule="constant").optimizer(10, 5)
    assert float(constant.learning_rate) == pytest.approx(1e-3)


def test_early_stopping_watches_val_loss_and_restores_the_best_epoch(
    splits: data.Splits,
) -> None:
    result = _train(splits, RECIPE.with_changes(epochs=3, patience=1))
    assert result.best_epoch == int(result.history["val_loss"].idxmin()) + 1


def test_same_seed_and_data_give_the_same_history(
    result: train.FitResult, splits: data.Splits
) -> None:
    again = _train(splits)
    pd.testing.assert_frame_equal(again.history, result.history, check_exact=True)


def test_save_path_holds_the_model_without_optimizer_state_and_no_temporary_file(
    result: train.FitResult, splits: data.Splits, saved_path: Path
) -> None:
    assert sorted(p.name for p in saved_path.parent.iterdir()) == ["small.keras"]
    assert getattr(keras.models.load_model(saved_path), "optimizer", None) is None
    np.testing.assert_allclose(
        load_model(saved_path).predict(splits.x_val[:8], verbose=0),
        result.model.predict(splits.x_val[:8], verbose=0),
        atol=1e-6,
    )


def test_a_saved_ensemble_holds_no_optimizer_state_of_its_trained_members(
    result: train.FitResult, splits: data.Splits, tmp_path: Path
) -> None:
    ensemble = models.ensemble([result.model], name="one")  # the member was compiled by fit
    path = results.save_model(ensemble, tmp_path / "one.keras")
    results.save_model(load_model(path), tmp_path / "again.keras")  # loaded members, saved again
    for saved in (path, tmp_path / "again.keras"):
        with zipfile.ZipFile(saved) as archive, archive.open("model.weights.h5") as weights:
            names: list[str] = []
            h5py.File(io.BytesIO(weights.read())).visit(names.append)
        assert names and not [name for name in names if "optimizer" in name], saved.name
    np.testing.assert_allclose(
        load_model(path).predict(splits.x_val[:8], verbose=0),
        result.model.predict(splits.x_val[:8], verbose=0),
        atol=1e-6,
    )


def test_unknown_class_weight_is_refused(splits: data.Splits) -> None:
    with pytest.raises(ValueError, match="class_weight"):
        train.Recipe(class_weight="inverse")
    with pytest.raises(ValueError, match="schedule"):
        train.Recipe(schedule="step")
