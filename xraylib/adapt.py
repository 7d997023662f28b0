"""Declared, unsupervised test-time adaptation: AdaBN.

A model trained on one hospital's X-rays meets images from another acquisition whose
brightness, contrast and texture statistics differ. *Adaptive batch normalisation* (AdaBN;
Li, Wang, Shi, Liu & Hou, "Revisiting Batch Normalization For Practical Domain Adaptation",
2016) keeps every learned weight and only replaces each batch-normalisation layer's stored mean
and variance by those of the new, **unlabelled** images. It needs a batch of local images and
never their labels, so it is what a hospital could do before using the model. Any result that
uses it must be reported as such, next to the plain result.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np


def adabn(model: keras.Model, images: np.ndarray, batch_size: int = 128) -> keras.Model:
    """A copy of ``model`` whose batch-norm statistics are re-estimated on ``images``.

    Layers are updated in order, so each one sees inputs already normalised by the adapted
    layers before it. The original model is left unchanged; labels are never used. A model
    without batch normalisation comes back as an unchanged copy, with a warning.

    >>> adapted = adabn(model, x_unlabelled)  # doctest: +SKIP
    >>> p = adapted.predict(x_unlabelled)     # doctest: +SKIP
    """
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
