"""AdaBN: batch-norm statistics re-estimated on unlabelled images, nothing else changed."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xraylib import adapt, models, synthetic, train


@pytest.fixture(scope="module")
def trained():
    train.new_session(0)
    x, y, _ = synthetic.make_arrays(64, 32, seed=0)
    model = models.build_cnn(32, filters=(8, 16))
    model.fit(x, y, epochs=1, verbose=0)
    return model, x


def _norms(model):
    return [layer for layer in model.layers if "bn" in layer.name]


def test_adabn_sets_moving_statistics_to_those_of_the_new_images(trained):
    model, x = trained
    shifted = np.clip(x.astype(int) + 40, 0, 255).astype(np.uint8)
    adapted = adapt.adabn(model, shifted)
    first = _norms(adapted)[0]
    conv = adapted.get_layer("block1_conv")
    activations = keras.Model(adapted.inputs, conv.output).predict(shifted, verbose=0)
    np.testing.assert_allclose(
        np.asarray(first.moving_mean), activations.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(first.moving_variance), activations.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5
    )


def test_adabn_keeps_learned_weights_and_leaves_the_original_model_alone(trained):
    model, x = trained
    before = [w.copy() for w in model.get_weights()]
    adapted = adapt.adabn(model, x[:32])
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    kernel = adapted.get_layer("block2_conv").get_weights()[0]
    np.testing.assert_array_equal(kernel, model.get_layer("block2_conv").get_weights()[0])


def test_adabn_on_a_model_without_batch_norm_warns_and_changes_nothing():
    train.new_session(0)
    x, _, _ = synthetic.make_arrays(16, 32, seed=1)
    model = models.build_cnn(32, filters=(8,), batch_norm=False)
    with pytest.warns(UserWarning, match="no batch normalisation"):
        adapted = adapt.adabn(model, x)
    np.testing.assert_allclose(adapted.predict(x, verbose=0), model.predict(x, verbose=0))
