"""Model builders: shapes, parameter counts, layer names, augmentation, ensembles."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xraylib import experiment, models


def _conv(kernel: int, inputs: int, filters: int, bias: bool) -> int:
    return kernel * kernel * inputs * filters + (filters if bias else 0)


def test_dense_baseline_has_one_probability_per_image_and_expected_weights() -> None:
    model = models.build_dense(32, widths=(16,), dropout=0.0)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 1), dtype=np.uint8)
    p = model.predict(images, verbose=0)
    assert p.shape == (3, 1) and np.all((p >= 0) & (p <= 1))
    assert model.count_params() == (32 * 32 * 16 + 16) + (16 + 1)


def test_cnn_weights_match_the_architecture() -> None:
    model = models.build_cnn(32, filters=(8, 16), batch_norm=True, dense_units=8)
    expected = (
        _conv(3, 1, 8, bias=False)
        + 4 * 8  # block 1: conv + batch norm
        + _conv(3, 8, 16, bias=False)
        + 4 * 16  # block 2
        + (16 * 8 + 8)
        + (8 + 1)
    )  # head: dense, output
    assert model.count_params() == expected
    assert model.input.dtype == "uint8"
    assert model.output.shape == (None, 1)


def test_cnn_flatten_head_sees_the_last_feature_map() -> None:
    model = models.build_cnn(
        64, filters=(8, 16), batch_norm=False, pooling="flatten", dense_units=0, dropout=0.0
    )
    # stem stride 2 then two 2x2 pools: 64 -> 32 -> 16 -> 8
    assert model.get_layer("flatten").output.shape == (None, 8 * 8 * 16)
    assert model.count_params() == _conv(3, 1, 8, True) + _conv(3, 8, 16, True) + 8 * 8 * 16 + 1


@pytest.mark.parametrize("name", sorted(experiment.DESIGNS))
def test_every_notebook_design_builds(name: str) -> None:
    model = experiment.DESIGNS[name].build(64, name=name)
    assert model.name == name and model.output.shape == (None, 1)


def test_builders_default_to_the_profile_image_size() -> None:
    assert models.build_cnn(filters=(8,)).input_shape == (None, 64, 64, 1)  # smoke profile
    assert models.build_dense(widths=(4,)).input_shape == (None, 64, 64, 1)


def test_conv_layers_are_named_by_block() -> None:
    model = models.build_cnn(32, filters=(8, 16, 32))
    names = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert names == ["block1_conv", "block2_conv", "block3_conv"]
    assert model.get_layer("block1_conv").strides == (2, 2)


def test_unknown_pooling_is_refused() -> None:
    with pytest.raises(ValueError, match="pooling"):
        models.build_cnn(32, pooling="max")


def test_augmentation_changes_images_only_in_training() -> None:
    block = models.augmentation()
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 1)).astype("float32")
    assert np.array_equal(np.asarray(block(images, training=False)), images)
    assert not np.allclose(np.asarray(block(images, training=True)), images)
    model = models.build_cnn(32, filters=(8,), augment=models.augmentation())
    x = images.astype(np.uint8)
    assert np.array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_augmentation_does_not_flip_unless_asked() -> None:
    assert "flip" not in [layer.name for layer in models.augmentation().layers]
    assert "flip" in [layer.name for layer in models.augmentation(horizontal_flip=True).layers]
    assert [layer.name for layer in models.augmentation(0, 0, 0, 0, 0).layers] == []


def test_acquisition_augmentation_adds_gamma_blur_and_noise_and_saves() -> None:
    block = models.augmentation(0, 0, 0, 0.2, 0.2, gamma=0.3, blur=1.0, noise=0.02)
    names = [layer.name for layer in block.layers]
    assert {"gamma", "blur", "noise"} <= set(names)
    model = models.build_cnn(32, filters=(8,), augment=block)
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 1), dtype=np.uint8)
    assert not np.allclose(np.asarray(block(x.astype("float32"), training=True)), x)
    reloaded = keras.models.clone_model(model)
    assert reloaded.get_layer("augmentation").get_layer("gamma").factor == 0.3


def test_random_gamma_keeps_the_grey_range_and_is_identity_outside_training() -> None:
    layer = models.RandomGamma(0.5, seed=1)
    x = np.linspace(0, 255, 4 * 8 * 8).reshape(4, 8, 8, 1).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    out = np.asarray(layer(x, training=True))
    assert out.min() >= 0 and out.max() <= 255.001 and not np.allclose(out, x)


def test_ensemble_averages_its_members_and_gives_them_back() -> None:
    members = [models.build_cnn(32, filters=(8,), name=f"m{i}") for i in range(3)]
    together = models.ensemble(members, name="three")
    x = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 1), dtype=np.uint8)
    expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(together.predict(x, verbose=0), expected, rtol=1e-6)
    assert [m.name for m in models.ensemble_members(together)] == ["m0", "m1", "m2"]
    single = models.build_cnn(32, filters=(8,), augment=models.augmentation())
    assert models.ensemble_members(single) == [single]


def test_ensemble_members_need_distinct_names() -> None:
    twins = [models.build_cnn(32, filters=(8,), name="same") for _ in range(2)]
    with pytest.raises(ValueError, match="distinct names"):
        models.ensemble(twins)


def test_border_and_marker_augmentation_change_only_the_edges_and_only_in_training() -> None:
    x = np.full((16, 64, 64, 1), 128, np.uint8)
    block = models.augmentation(**models.AUGMENTATIONS["none"], border=0.12, marker=0.1)
    assert np.array_equal(block(x, training=False).numpy(), x.astype("float32"))
    out = block(x, training=True).numpy()
    changed = out != 128
    assert changed.any()
    centre = changed[:, 20:44, 20:44]
    assert not centre.any()  # bands and markers stay within a quarter of the side of an edge
    assert set(np.unique(out[changed & (out < 128)])) <= {0.0}


def test_calibration_layer_is_platt_scaling_and_survives_saving(tmp_path) -> None:
    inputs = keras.Input((8, 8, 1), dtype="uint8")
    flat = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    member = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(flat), name="m")
    calibrated = models.ensemble([member], name="final", calibration=(0.5, 0.3))
    x = np.random.default_rng(0).integers(0, 255, (4, 8, 8, 1)).astype(np.uint8)
    p = member.predict(x, verbose=0).ravel()
    expected = 1 / (1 + np.exp(-(0.5 * np.log(p / (1 - p)) + 0.3)))
    np.testing.assert_allclose(calibrated.predict(x, verbose=0).ravel(), expected, rtol=1e-5)
    calibrated.save(tmp_path / "final.keras")
    loaded = keras.models.load_model(tmp_path / "final.keras", compile=False)
    assert models.ensemble_calibration(loaded) == (0.5, 0.3)
    assert models.ensemble_calibration(models.ensemble([member])) is None
