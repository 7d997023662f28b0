"""Declared, unsupervised test-time adaptations: AdaBN and the prior-shift correction.

Both use a site's *unlabelled* images and never their labels, so a hospital could apply them
before using the model; any result that uses them is reported as such, beside the plain one.

**AdaBN.** A model trained on one hospital's X-rays meets images from another acquisition whose
brightness, contrast and texture statistics differ. *Adaptive batch normalisation* (AdaBN;
Li, Wang, Shi, Liu & Hou, "Revisiting Batch Normalization For Practical Domain Adaptation",
2016) keeps every learned weight and only replaces each batch-normalisation layer's stored mean
and variance by those of the new, **unlabelled** images. It needs a batch of local images and
never their labels, so it is what a hospital could do before using the model.

**Prior shift.** A model's probabilities carry the pneumonia rate of its training data (74%
here). At a site with another rate, the same image deserves another probability. The EM
procedure of Saerens, Latinne & Decaestecker ("Adjusting the outputs of a classifier to new a
priori probabilities", Neural Computation 14(1), 2002) estimates the new rate from the
model's own probabilities on the unlabelled images and adjusts each probability by Bayes'
rule, so the validation-chosen threshold keeps its meaning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from xraylib import models


def adabn(model: keras.Model, images: np.ndarray, batch_size: int = 128) -> keras.Model:
    """A copy of ``model`` whose batch-norm statistics are re-estimated on ``images``.

    Layers are updated in order, so each one sees inputs already normalised by the adapted
    layers before it. The original model is left unchanged; labels are never used. A model
    without batch normalisation comes back as an unchanged copy, with a warning.

    An :func:`~xraylib.models.ensemble` is adapted member by member.

    >>> adapted = adapt.adabn(model, x_unlabelled)  # doctest: +SKIP
    >>> p = adapted.predict(x_unlabelled)     # doctest: +SKIP
    """
    members = models.ensemble_members(model)
    if members != [model]:
        return models.ensemble(
            [_adabn_one(member, images, batch_size) for member in members], name=model.name
        )
    return _adabn_one(model, images, batch_size)


def _adabn_one(model: keras.Model, images: np.ndarray, batch_size: int) -> keras.Model:
    adapted = keras.models.clone_model(model)
    adapted.set_weights(model.get_weights())
    norms = [
        layer for layer in adapted.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not norms:
        warnings.warn(
            f"model {model.name!r} has no batch normalisation: AdaBN leaves it unchanged",
            stacklevel=2,
        )
    for layer in norms:
        feed = keras.Model(adapted.inputs, layer.input)
        activations = feed.predict(images, batch_size=batch_size, verbose=0)
        axes = tuple(range(activations.ndim - 1))
        layer.moving_mean.assign(activations.mean(axis=axes))
        layer.moving_variance.assign(activations.var(axis=axes))
    return adapted


@dataclass
class PriorShift:
    """The outcome of :func:`prior_shift`.

    Attributes:
        p: the adjusted probabilities of PNEUMONIA.
        prior: the estimated pneumonia rate of the new images.
        train_prior: the rate the model's probabilities assumed.
        iterations: EM iterations until the rate moved less than the tolerance.
    """

    p: np.ndarray
    prior: float
    train_prior: float
    iterations: int


def _reweighted(p: np.ndarray, train_prior: float, prior: float) -> np.ndarray:
    """Bayes' rule for a new class prior: odds scaled by the ratio of prior odds."""
    ratio = (prior / (1 - prior)) / (train_prior / (1 - train_prior))
    odds = p / np.clip(1 - p, 1e-12, None) * ratio
    return odds / (1 + odds)


def prior_shift(
    p: np.ndarray, train_prior: float, tolerance: float = 1e-6, max_iterations: int = 1000
) -> PriorShift:
    """Estimate the pneumonia rate of unlabelled images from the model's probabilities ``p``
    and adjust them to it (EM of Saerens et al. 2002). Labels are never used.

    ``train_prior`` is the rate the probabilities assume: the training split's share of
    PNEUMONIA for a model trained without class weights (0.5 with balanced class weights).

    >>> shifted = adapt.prior_shift(p_site, train_prior=splits.y_train.mean())  # doctest: +SKIP
    >>> shifted.prior, shifted.p[:3]  # doctest: +SKIP
    """
    p = np.clip(np.asarray(p, dtype=float).ravel(), 1e-7, 1 - 1e-7)
    if not 0 < train_prior < 1:
        raise ValueError(f"train_prior must be in (0, 1), not {train_prior}")
    prior, iterations = float(train_prior), 0
    while iterations < max_iterations:
        iterations += 1
        new = float(np.clip(_reweighted(p, train_prior, prior).mean(), 1e-4, 1 - 1e-4))
        moved, prior = abs(new - prior), new
        if moved < tolerance:
            break
    return PriorShift(_reweighted(p, train_prior, prior), prior, float(train_prior), iterations)


def training_prior(class_weight: str | None, y_train: np.ndarray) -> float:
    """The pneumonia rate a model's probabilities assume: 0.5 when it was trained with
    balanced class weights, else the share of PNEUMONIA in its training labels.

    >>> adapt.training_prior(None, splits.y_train)  # doctest: +SKIP
    0.742...
    """
    return 0.5 if class_weight == "balanced" else float(np.mean(y_train))


#: The label-free adaptations notebook 06 reports, each with the suffix of its model name in
#: the results table. The last one is the declared adaptation of the hand-over model.
ADAPTATIONS = {
    "none": "",
    "AdaBN": "+adabn",
    "prior shift (EM)": "+prior",
    "AdaBN + prior shift (EM)": "+adabn+prior",
}
DECLARED = "AdaBN + prior shift (EM)"


@dataclass
class Adapted:
    """What :func:`adapt_all` returns.

    Attributes:
        p: probabilities of PNEUMONIA under each adaptation of :data:`ADAPTATIONS`.
        rates: the pneumonia rate each prior-shift estimate found (no label used).
        model: the AdaBN-adapted model (for Grad-CAM of the adapted decisions).
    """

    p: dict[str, np.ndarray]
    rates: dict[str, float]
    model: keras.Model


def adapt_all(
    model: keras.Model, images: np.ndarray, train_prior: float, batch_size: int = 256
) -> Adapted:
    """Predict unlabelled ``images`` under every adaptation of :data:`ADAPTATIONS`.

    >>> adapted = adapt.adapt_all(model, x_site, train_prior=0.74)  # doctest: +SKIP
    >>> adapted.p["AdaBN + prior shift (EM)"][:3], adapted.rates  # doctest: +SKIP
    """
    normalised_model = adabn(model, images)
    plain = model.predict(images, batch_size=batch_size, verbose=0).ravel()
    normalised = normalised_model.predict(images, batch_size=batch_size, verbose=0).ravel()
    shifted, both = prior_shift(plain, train_prior), prior_shift(normalised, train_prior)
    return Adapted(
        p={
            "none": plain,
            "AdaBN": normalised,
            "prior shift (EM)": shifted.p,
            "AdaBN + prior shift (EM)": both.p,
        },
        rates={"prior shift (EM)": shifted.prior, "AdaBN + prior shift (EM)": both.prior},
        model=normalised_model,
    )


def prior_shift_check(
    y_val: np.ndarray,
    p_val: np.ndarray,
    train_prior: float,
    rates: tuple[float, ...] = (0.3, 0.5, 0.625, 0.75, 0.9),
    seed: int = 0,
) -> pd.DataFrame:
    """Does the prior-shift EM find the pneumonia rate of a site? Checked on VALIDATION: for
    each rate, validation images are resampled (with replacement, as many as there are) so that
    that share is PNEUMONIA, and EM estimates the rate from the probabilities alone.

    Returns one row per rate: ``true_rate``, ``estimated_rate``, ``iterations``.

    >>> adapt.prior_shift_check(splits.y_val, p_val, train_prior=0.74)  # doctest: +SKIP
    """
    y = np.asarray(y_val).astype(int).ravel()
    p = np.asarray(p_val, dtype=float).ravel()
    positive, negative = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(seed)
    rows = []
    for rate in rates:
        n_positive = int(round(rate * y.size))
        chosen = np.concatenate(
            [
                rng.choice(positive, n_positive, replace=True),
                rng.choice(negative, y.size - n_positive, replace=True),
            ]
        )
        shifted = prior_shift(p[chosen], train_prior)
        rows.append(
            {
                "true_rate": rate,
                "estimated_rate": shifted.prior,
                "iterations": shifted.iterations,
            }
        )
    return pd.DataFrame(rows)
