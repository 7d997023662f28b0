"""Model builders: shapes, parameter counts, layer names, augmentation, ensembles."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xraylib import config, experiment, layers, models


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


@pytest.mark.parametrize("build", [models.build_cnn, models.build_dense])
def test_builders_ask_for_the_image_size_whatever_the_profile(build) -> None:
    with pytest.raises(TypeError, match="image_size"):
        build()
    assert build(24).input_shape == (None, 24, 24, 1)


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
    layer = layers.RandomGamma(0.5, seed=1)
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


# ------------------------------------------------------------- the fused augmentation layers


def _legacy_augmentation(**factors: float) -> keras.Sequential:
    """:func:`models.augmentation` as earlier versions built it (what their saved models
    hold): Keras' RandomRotation, RandomZoom, RandomTranslation and RandomGaussianBlur for
    RandomAffine and RandomBlur, GaussianNoise between two Rescaling layers for RandomNoise,
    the other layers as they are."""
    new = models.augmentation(**factors)
    f = models.augmentation_factors(new)
    steps = []
    if f["rotation"]:
        steps.append(
            keras.layers.RandomRotation(f["rotation"], fill_mode="constant", name="rotation")
        )
    if f["zoom"]:
        steps.append(keras.layers.RandomZoom(f["zoom"], fill_mode="constant", name="zoom"))
    if f["translation"]:
        t = f["translation"]
        steps.append(keras.layers.RandomTranslation(t, t, fill_mode="constant", name="translation"))
    for layer in new.layers:
        if layer.name == "blur":
            steps.append(
                keras.layers.RandomGaussianBlur(
                    1.0, kernel_size=3, sigma=f["blur"], value_range=(0, 255), name="blur"
                )
            )
        elif layer.name == "noise":
            steps += [
                keras.layers.Rescaling(1 / 255, name="noise_unit"),
                keras.layers.GaussianNoise(f["noise"], name="noise"),
                keras.layers.Rescaling(255, name="noise_grey"),
            ]
        elif layer.name != "affine":
            steps.append(layer.__class__.from_config(layer.get_config()))
    return keras.Sequential(steps, name="augmentation")


def _blob(n: int, side: int = 96) -> np.ndarray:
    """``n`` copies of a smooth bright ellipse (σ 10 px across, 4 px down) at the centre."""
    r, c = np.mgrid[:side, :side] - (side - 1) / 2
    image = 200 * np.exp(-0.5 * ((c / 10) ** 2 + (r / 4) ** 2))
    return np.repeat(image[None, :, :, None], n, axis=0).astype("float32")


def _moments(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: the shift of the centroid from the centre (pixels, rows and columns), the
    zoom factor that shrinks the mass as the output's did (``sqrt(mass_in / mass_out)``) and
    the orientation of the main axis (radians)."""
    side = images.shape[1]
    r, c = np.mgrid[:side, :side] - (side - 1) / 2
    w = images[..., 0]
    mass = w.sum(axis=(1, 2))
    cr, cc = (w * r).sum(axis=(1, 2)) / mass, (w * c).sum(axis=(1, 2)) / mass
    dr, dc = r - cr[:, None, None], c - cc[:, None, None]
    m20, m02 = (w * dc**2).sum(axis=(1, 2)), (w * dr**2).sum(axis=(1, 2))
    m11 = (w * dr * dc).sum(axis=(1, 2))
    reference = _blob(1, side)[0, ..., 0].sum()
    return {
        "shift_rows": cr,
        "shift_cols": cc,
        "zoom": np.sqrt(reference / mass),
        "angle": 0.5 * np.arctan2(2 * m11, m20 - m02),
    }


def test_random_affine_is_the_keras_rotation_zoom_translation_in_one_resampling() -> None:
    # fixed parameters: Keras layers with one-point ranges, then the one matrix
    x = _blob(1)
    side = x.shape[1]
    old = keras.Sequential(
        [
            keras.layers.RandomRotation((0.05, 0.05), fill_mode="constant"),
            keras.layers.RandomZoom((0.2, 0.2), fill_mode="constant"),
            keras.layers.RandomTranslation((0.1, 0.1), (-0.05, -0.05), fill_mode="constant"),
        ]
    )(x, training=True).numpy()

    def fused(angle: float, zoom: float) -> np.ndarray:
        one = np.ones(1, "float32")
        matrix = layers.affine_matrix(
            angle * one, zoom * one, 0.1 * side * one, -0.05 * side * one, side, side
        )
        return keras.ops.image.affine_transform(x, matrix, fill_mode="constant").numpy()

    new = fused(0.05 * 2 * np.pi, 1.2)
    assert np.abs(new - old).max() < 4 and np.abs(new - old).mean() < 0.1  # 3 passes vs 1
    for key, value in _moments(new).items():
        np.testing.assert_allclose(value, _moments(old)[key], atol=0.05, err_msg=key)
    # the conventions matter: the opposite angle or the inverse zoom is far off
    assert np.abs(fused(-0.05 * 2 * np.pi, 1.2) - old).max() > 40
    assert np.abs(fused(0.05 * 2 * np.pi, 1 / 1.2) - old).max() > 40


def test_random_affine_draws_what_the_three_keras_layers_draw() -> None:
    factors = dict(rotation=0.05, zoom=0.1, translation=0.05)  # augmentation()'s defaults
    geometric = dict(factors, contrast=0, brightness=0)
    keras.utils.set_random_seed(0)
    x = _blob(600)
    old = _moments(_legacy_augmentation(**geometric)(x, training=True).numpy())
    new = _moments(models.augmentation(**geometric)(x, training=True).numpy())
    half = {  # the half-widths of the uniform ranges
        "shift_rows": 0.05 * 96,
        "shift_cols": 0.05 * 96,
        "zoom": 0.1,
        "angle": 0.05 * 2 * np.pi,
    }
    for key, width in half.items():
        centre = 1.0 if key == "zoom" else 0.0
        for drawn in (old, new):
            values = drawn[key] - centre
            assert abs(values.std() - width / np.sqrt(3)) < 0.12 * width / np.sqrt(3), key
            assert 0.9 * width < np.abs(values).max() < 1.1 * width, key
        assert abs(new[key].std() - old[key].std()) < 0.1 * old[key].std(), key
    # the draws themselves: uniform in the same ranges
    angle, zoom, shift_rows, shift_cols = (
        np.asarray(v) for v in layers.RandomAffine(**factors, seed=3).draw(20_000)
    )
    for values, low, high in (
        (angle, -0.05 * 2 * np.pi, 0.05 * 2 * np.pi),
        (zoom, 0.9, 1.1),
        (shift_rows, -0.05, 0.05),
        (shift_cols, -0.05, 0.05),
    ):
        assert low <= values.min() < low + 0.01 * (high - low)
        assert high - 0.01 * (high - low) < values.max() <= high
        np.testing.assert_allclose(values.std(), (high - low) / np.sqrt(12), rtol=0.03)
    assert abs(np.corrcoef(shift_rows, shift_cols)[0, 1]) < 0.05  # drawn separately


def test_gaussian_blur3_is_keras_gaussian_blur_with_kernel_3() -> None:
    x = np.random.default_rng(0).uniform(0, 255, (2, 20, 24, 1)).astype("float32")
    sigmas = [(0.3, 0.9), (1.0, 0.5)]  # (rows, columns) of each image
    rows = np.array([s[0] for s in sigmas], "float32").reshape(2, 1, 1, 1)
    cols = np.array([s[1] for s in sigmas], "float32").reshape(2, 1, 1, 1)
    mine = layers.gaussian_blur3(x, rows, cols).numpy()
    for i, (sigma_rows, sigma_cols) in enumerate(sigmas):
        ref = keras.ops.image.gaussian_blur(x[i : i + 1], (3, 3), (sigma_cols, sigma_rows))
        np.testing.assert_allclose(mine[i : i + 1], ref.numpy(), atol=1e-3)
    tiny = np.full((2, 1, 1, 1), 1e-6, "float32")
    np.testing.assert_array_equal(layers.gaussian_blur3(x, tiny, tiny).numpy(), x)


def _detail(images: np.ndarray) -> np.ndarray:
    """Energy of the differences between neighbouring pixels, per image."""
    return (np.diff(images, axis=1) ** 2).sum(axis=(1, 2, 3)) + (np.diff(images, axis=2) ** 2).sum(
        axis=(1, 2, 3)
    )


def test_random_blur_takes_away_the_detail_keras_random_gaussian_blur_takes() -> None:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).uniform(0, 255, (2, 24, 24, 1)).astype("float32")
    old_layer = keras.layers.RandomGaussianBlur(1.0, kernel_size=3, sigma=1.0)
    # Keras draws one σ pair per batch: many small batches
    old = np.concatenate([_detail(old_layer(x, training=True).numpy()) for _ in range(600)])
    new_layer = layers.RandomBlur(1.0, seed=2)
    many = np.concatenate([x] * 600)
    new = _detail(new_layer(many, training=True).numpy())
    before = np.concatenate([_detail(x)] * 600)
    old, new = old / before, new / before
    for kept in (old, new):
        assert abs((kept > 0.9999).mean() - 0.5) < 0.05  # half the images are left sharp
    # tolerances: a few standard errors of the Keras side (600 σ pairs, one per batch)
    np.testing.assert_allclose(new.mean(), old.mean(), atol=0.03)
    blurred_old, blurred_new = old[old < 0.9999], new[new < 0.9999]
    np.testing.assert_allclose(blurred_new.mean(), blurred_old.mean(), atol=0.04)
    for q in (0.25, 0.5):
        assert abs(np.quantile(blurred_new, q) - np.quantile(blurred_old, q)) < 0.05, q
    # a wrong range (σ up to 2) would take away clearly more
    wider = _detail(layers.RandomBlur(2.0, seed=2)(many, training=True).numpy()) / before
    assert wider.mean() < old.mean() - 0.05


@pytest.mark.parametrize("policy", sorted(models.AUGMENTATIONS))
def test_every_policy_is_inactive_at_inference_and_reads_back(policy: str) -> None:
    factors = models.AUGMENTATIONS[policy]
    block = models.augmentation(**factors)
    x = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 1)).astype("float32")
    if block.layers:  # "none" is an empty block, which build_cnn is not given
        np.testing.assert_array_equal(block(x, training=False).numpy(), x)
    for layer in block.layers:
        np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
        if isinstance(layer, (layers.RandomAffine, layers.RandomBlur, layers.RandomNoise)):
            assert not np.allclose(layer(x, training=True).numpy(), x)
    expected = dict(rotation=0, zoom=0, translation=0, contrast=0, brightness=0) | factors
    assert models.augmentation_factors(block) == expected
    assert models.augmentation_factors(_legacy_augmentation(**factors)) == expected


def test_random_noise_is_the_old_gaussian_noise_on_the_grey_scale() -> None:
    keras.utils.set_random_seed(0)
    x = np.full((16, 33, 20, 1), 128.0, "float32")  # an odd number of rows
    old = _legacy_augmentation(**models.AUGMENTATIONS["none"], noise=0.02)
    old_noise = old(x, training=True).numpy() - x
    new_noise = layers.RandomNoise(0.02, seed=4)(x, training=True).numpy() - x
    assert new_noise.shape == x.shape
    for noise in (old_noise, new_noise):
        np.testing.assert_allclose(noise.std(), 0.02 * 255, rtol=0.03)
        assert abs(noise.mean()) < 0.1
        np.testing.assert_allclose(((noise / noise.std()) ** 4).mean(), 3.0, atol=0.2)
    quantiles = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
    np.testing.assert_allclose(
        np.quantile(new_noise, quantiles), np.quantile(old_noise, quantiles), atol=0.3
    )
    top, bottom = new_noise[:, :16].ravel(), new_noise[:, 16:32].ravel()
    assert abs(np.corrcoef(top, bottom)[0, 1]) < 0.05  # the cosine and sine halves


def test_fused_layers_round_trip_their_config() -> None:
    for layer in (
        layers.RandomAffine(0.02, 0.1, 0.05, fill_value=3.0, seed=7, name="affine"),
        layers.RandomBlur(0.8, rate=0.3, seed=5, name="blur"),
        layers.RandomNoise(0.02, seed=3, name="noise"),
    ):
        config = layer.get_config()
        again = layer.__class__.from_config(config)
        assert again.get_config() == config
        revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(revived) is type(layer) and revived.get_config() == config


def test_a_model_with_the_new_block_and_one_with_the_old_both_save_and_load(tmp_path) -> None:
    from xraylib import results

    policy = models.AUGMENTATIONS["acquisition_borders"]
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 1), dtype=np.uint8)
    for label, block in (
        ("new", models.augmentation(**policy)),
        ("old", _legacy_augmentation(**policy)),
    ):
        model = models.build_cnn(32, filters=(8,), augment=block, name=label)
        model.save(tmp_path / f"{label}.keras")
        loaded = results.load_model(tmp_path / f"{label}.keras")
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5
        )
        inner = loaded.get_layer("augmentation")
        names = [layer.name for layer in inner.layers]
        assert ("affine" in names) == (label == "new") and ("rotation" in names) == (label == "old")
        assert models.augmentation_factors(inner) == models.augmentation_factors(block)
        assert not np.allclose(inner(x, training=True).numpy(), x)


def test_the_committed_models_load_with_the_layers_in_their_own_module() -> None:
    """The committed files name the custom layers by their registered names
    (``xraylib>RandomAffine``, …) and by the module they were defined in then
    (``xraylib.models``); they load onto the classes of :mod:`xraylib.layers`."""
    model = keras.models.load_model(config.ROOT / "data" / "models" / "final.keras", compile=False)
    found = {
        type(layer) for member in models.ensemble_members(model) for layer in _all_layers(member)
    }
    assert {layers.RandomAffine, layers.RandomBlur, layers.RandomNoise} <= found
    assert layers.Calibration in {type(layer) for layer in model.layers}


def _all_layers(model: keras.Model) -> list:
    """The layers of ``model``, those of nested blocks included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found
