"""Label-free adaptation: AdaBN re-estimates batch-norm statistics, prior shift the class rate."""

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
    model.compile(optimizer="adam", loss="binary_crossentropy")
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


def test_adabn_adapts_every_member_of_an_ensemble(trained):
    model, x = trained
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.name = "twin"
    together = models.ensemble([model, twin])
    shifted = np.clip(x.astype(int) + 40, 0, 255).astype(np.uint8)
    adapted = adapt.adabn(together, shifted)
    alone = adapt.adabn(model, shifted)
    np.testing.assert_allclose(
        adapted.predict(shifted, verbose=0), alone.predict(shifted, verbose=0), rtol=1e-5
    )
    assert len(models.ensemble_members(adapted)) == 2


def _calibrated(prior: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn with ``prior`` and the Bayes posterior under a 0.5 training prior of a
    one-dimensional score that is N(+1, 1) for PNEUMONIA and N(-1, 1) for NORMAL."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prior).astype(int)
    score = rng.normal(2 * y - 1, 1.0)
    return y, 1 / (1 + np.exp(-2 * score))


def test_prior_shift_recovers_the_new_rate_without_labels():
    y, p = _calibrated(0.25, 20000, seed=0)
    shifted = adapt.prior_shift(p, assumed_prior=0.5)
    assert shifted.prior == pytest.approx(y.mean(), abs=0.02)
    assert shifted.iterations > 1 and shifted.assumed_prior == 0.5

    # adjusted probabilities are posteriors under the new rate: better log-loss
    def log_loss(q):
        return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))

    assert log_loss(shifted.p) < log_loss(p)


def test_prior_shift_is_monotone_and_leaves_the_ranking_alone():
    _, p = _calibrated(0.8, 2000, seed=1)
    shifted = adapt.prior_shift(p, assumed_prior=0.5)
    order = np.argsort(p)
    assert np.all(np.diff(shifted.p[order]) >= 0)
    assert shifted.prior > 0.5


def test_prior_shift_refuses_an_impossible_training_rate():
    with pytest.raises(ValueError, match="assumed_prior"):
        adapt.prior_shift(np.array([0.2, 0.8]), assumed_prior=1.0)


def test_bbse_recovers_the_new_rate_from_confusion_rates_alone():
    y_val, p_val = _calibrated(0.5, 4000, seed=1)
    reference = adapt.Reference(y_val, p_val, threshold=0.5)
    y_site, p_site = _calibrated(0.2, 20000, seed=3)
    assert adapt.bbse(p_site, reference) == pytest.approx(y_site.mean(), abs=0.02)
    # a miscalibrated site (probabilities sharpened, ranking and threshold side unchanged):
    # EM runs off, BBSE does not
    sharp = 1 / (1 + np.exp(-4 * np.log(p_site / (1 - p_site))))
    assert adapt.bbse(sharp, reference) == pytest.approx(y_site.mean(), abs=0.02)
    assert abs(adapt.prior_shift(sharp, 0.5).prior - y_site.mean()) > 0.03


def test_reference_prior_is_the_validation_rate():
    assert adapt.Reference(np.array([1, 1, 1, 0]), np.zeros(4), 0.5).prior == 0.75


def test_adabn_keeps_the_calibration_layer_of_an_ensemble(trained):
    model, x = trained
    calibrated = models.ensemble([model], name="final", calibration=(0.5, 0.2))
    adapted = adapt.adabn(calibrated, x)
    assert models.ensemble_calibration(adapted) == (0.5, 0.2)


def test_simulated_sites_score_every_adaptation_and_the_rule_picks_the_lowest_log_loss(trained):
    model, x = trained
    y = (np.arange(len(x)) % 2).astype(int)
    p = model.predict(x, verbose=0).ravel()
    reference = adapt.Reference(y, p, threshold=float(np.median(p)))
    table = adapt.simulate_shift(model, x, reference, rates=(0.3, 0.7))
    from xraylib import evaluate

    assert len(table) == len(evaluate.PERTURBATIONS) * 2 * len(adapt.ADAPTATIONS)
    summary = adapt.simulation_summary(table)
    assert set(summary.index) == set(adapt.ADAPTATIONS)
    assert adapt.choose_adaptation(table) == summary.log_loss.idxmin()
    assert table.query("adaptation == 'none'").estimated_rate.isna().all()


def test_adapt_all_gives_every_adaptation_and_a_rate_for_each_prior_step(trained):
    model, x = trained
    p = model.predict(x, verbose=0).ravel()
    reference = adapt.Reference((np.arange(len(x)) % 2).astype(int), p, 0.5)
    adapted = adapt.adapt_all(model, x, reference)
    assert list(adapted.p) == list(adapt.ADAPTATIONS)
    assert set(adapted.rates) == {name for name in adapt.ADAPTATIONS if "prior" in name}
