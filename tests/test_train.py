"""Training: validation AUC beats chance, the same seed gives the same history, saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xraylib import config, data, models, synthetic, train
from xraylib.predict import load_model

SIZE = 48
PROFILE = config.Profile(
    "test",
    image_size=SIZE,
    batch_size=32,
    epochs=2,
    patience=2,
    per_class=None,
    tuner_trials=1,
    tuner_minutes=0.1,
)


@pytest.fixture(scope="module")
def splits() -> data.Splits:
    """240 training and 80 validation phantoms (bright opacity = PNEUMONIA)."""
    x_train, y_train, _ = synthetic.make_arrays(240, SIZE, seed=1)
    x_val, y_val, _ = synthetic.make_arrays(80, SIZE, seed=2)
    return data.Splits(x_train, y_train, x_val, y_val, pd.DataFrame(), SIZE)


def _small_cnn() -> models.keras.Model:
    return models.build_cnn(SIZE, filters=(16, 32, 64), dense_units=16, learning_rate=3e-3)


def _train(splits: data.Splits, **kwargs) -> train.FitResult:
    train.new_session(7)
    return train.fit(_small_cnn(), splits, profile=PROFILE, seed=7, verbose=0, **kwargs)


@pytest.fixture(scope="module")
def saved_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models") / "small.keras"


@pytest.fixture(scope="module")
def result(splits: data.Splits, saved_path: Path) -> train.FitResult:
    return _train(splits, save_path=saved_path)


def test_two_epochs_beat_chance_on_validation(result: train.FitResult) -> None:
    assert result.history["val_auc"].max() >= 0.8


def test_history_is_a_frame_with_epochs_from_one(result: train.FitResult) -> None:
    history = result.history
    assert history["epoch"].tolist() == [1, 2]
    assert {"loss", "auc", "pr_auc", "val_loss", "val_auc", "val_pr_auc"} <= set(history)
    assert result.best_epoch == int(history["val_auc"].idxmax()) + 1
    assert result.seconds > 0 and result.images_per_s > 0


def test_model_keeps_the_best_epoch_weights(result: train.FitResult, splits: data.Splits) -> None:
    scores = result.model.evaluate(
        splits.x_val, splits.y_val.astype("float32"), verbose=0, return_dict=True
    )
    best = result.history.loc[result.best_epoch - 1, "val_auc"]
    assert scores["auc"] == pytest.approx(best, abs=1e-6)


def test_same_seed_and_data_give_the_same_history(
    result: train.FitResult, splits: data.Splits
) -> None:
    again = _train(splits)
    pd.testing.assert_frame_equal(again.history, result.history, check_exact=True)


def test_save_path_holds_the_best_model_and_no_temporary_file(
    result: train.FitResult, splits: data.Splits, saved_path: Path
) -> None:
    assert sorted(p.name for p in saved_path.parent.iterdir()) == ["small.keras"]
    np.testing.assert_allclose(
        load_model(saved_path).predict(splits.x_val[:8], verbose=0),
        result.model.predict(splits.x_val[:8], verbose=0),
        atol=1e-6,
    )


def test_unknown_class_weight_is_refused(splits: data.Splits) -> None:
    with pytest.raises(ValueError, match="class_weight"):
        train.fit(_small_cnn(), splits, profile=PROFILE, class_weight="inverse")
