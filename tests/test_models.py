"""Model builders: shapes, parameter counts, layer names, augmentation and compiled metrics."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xraylib import models


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


@pytest.mark.parametrize("name", sorted(models.CNN_DESIGNS))
def test_every_notebook_design_builds(name: str) -> None:
    model = models.build_cnn(64, **models.CNN_DESIGNS[name], name=name)
    assert model.name == name and model.output.shape == (None, 1)


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


def test_compiled_metrics_have_the_names_the_history_uses() -> None:
    model = models.build_cnn(32, filters=(8,))
    x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 1), dtype=np.uint8)
    y = np.array([0, 1] * 4, dtype="float32")
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(result) == {"loss", "accuracy", "precision", "recall", "auc", "pr_auc"}
