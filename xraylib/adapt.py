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
