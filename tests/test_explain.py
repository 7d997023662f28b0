"""Grad-CAM: maps of the right shape and range, and they point at the planted opacity."""

from __future__ import annotations

import numpy as np
import pytest

from xraylib import data, explain, models, synthetic, train

SIZE = 64


@pytest.fixture(scope="module")
def trained() -> models.keras.Model:
    """A small CNN trained on 600 phantoms until it finds the opacities (about 10 s)."""
    x, y, _ = synthetic.make_arrays(600, SIZE, seed=1)
    train.new_session(0)
    model = models.build_cnn(SIZE, filters=(16, 32, 64), dense_units=16, dropout=0.0)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(data.make_dataset(x, y, 32, shuffle=True, seed=0), epochs=6, shuffle=False, verbose=0)
    return model


def test_last_conv_layer_is_the_final_block_output() -> None:
    assert explain.last_conv_layer(models.build_cnn(32, filters=(8, 16))) == "block2_relu"
    plain = models.build_cnn(32, filters=(8, 16), batch_norm=False)
    assert explain.last_conv_layer(plain) == "block2_relu"
    with pytest.raises(ValueError, match="Conv2D"):
        explain.last_conv_layer(models.build_dense(32))


def test_heat_maps_have_the_image_size_and_lie_in_unit_range() -> None:
    model = models.build_cnn(32, filters=(8, 16), augment=models.augmentation())
    images, _, _ = synthetic.make_arrays(5, 32, seed=0)
    heat = explain.grad_cam(model, images, batch_size=2)
    assert heat.shape == (5, 32, 32) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() <= 1
    np.testing.assert_allclose(heat, explain.grad_cam(model, images), atol=1e-4)


def test_heat_map_peak_points_at_the_opacity(trained) -> None:
    """The pointing game: the hottest pixel lies on the opacity, with a tolerance of one cell
    of the 8x8 feature map Grad-CAM is computed on, far more often than chance."""
    x, y, masks = synthetic.make_arrays(60, SIZE, seed=2)
    pneumonia = y == 1
    heat = explain.grad_cam(trained, x[pneumonia])
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    tolerance = SIZE / 8
    hits, chance = [], []
    for mask, peak in zip(masks[pneumonia], heat.reshape(len(heat), -1).argmax(1), strict=True):
        blob = np.argwhere(mask)
        distance = np.hypot(rows[..., None] - blob[:, 0], cols[..., None] - blob[:, 1]).min(-1)
        near = distance <= tolerance
        hits.append(near.flat[peak])
        chance.append(near.mean())
    assert np.mean(hits) >= 0.6 and np.mean(hits) >= 4 * np.mean(chance)


def test_an_ensemble_map_is_the_scaled_mean_of_its_members_maps(trained) -> None:
    x, _, _ = synthetic.make_arrays(4, SIZE, seed=5)
    twin = models.keras.models.clone_model(trained)
    twin.set_weights(trained.get_weights())
    twin.name = "twin"
    together = models.ensemble([trained, twin])
    np.testing.assert_allclose(
        explain.grad_cam(together, x), explain.grad_cam(trained, x), rtol=1e-4, atol=1e-5
    )


def test_error_groups_sample_each_outcome() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.2, 0.1, 0.3, 0.7, 0.95, 0.05])
    groups = explain.error_groups(y, p, 0.5, per_group=2, seed=0)
    assert set(groups) == {
        "correct pneumonia",
        "correct normal",
        "false negative",
        "false positive",
    }
    assert groups["false negative"].tolist() == [2] and groups["false positive"].tolist() == [5]
    assert len(groups["correct normal"]) == 2 and set(groups["correct normal"]) <= {3, 4, 7}
    assert "false negative" not in explain.error_groups(y, np.where(y == 1, 0.9, 0.1), 0.5)
