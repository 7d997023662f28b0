"""Grad-CAM: which regions of an X-ray pushed the model toward PNEUMONIA.

Grad-CAM (Selvaraju et al., 2017) weighs each feature map of the last convolution block by
the average gradient of the class score with respect to it, sums the maps, keeps the positive
part and scales it to the image. The class score here is the *logit* of PNEUMONIA (the input
of the final sigmoid), whose gradient does not vanish when the model is very sure.

Example::

    heat = grad_cam(model, x_test[:8])
    plots.plot_gradcam(x_test[:8], heat)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from xraylib import models

_FOLLOWERS = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Activation)


def last_conv_layer(model: keras.Model) -> str:
    """Name of the layer whose feature maps Grad-CAM uses: the last ``Conv2D`` layer of
    ``model``, or the batch norm / ReLU right after it (the block's final feature maps)."""
    found = [i for i, layer in enumerate(model.layers) if isinstance(layer, keras.layers.Conv2D)]
    if not found:
        raise ValueError(f"model {model.name!r} has no Conv2D layer for Grad-CAM")
    index = found[-1]
    while index + 1 < len(model.layers) and isinstance(model.layers[index + 1], _FOLLOWERS):
        index += 1
    return model.layers[index].name


def grad_cam(
    model: keras.Model, images: np.ndarray, layer_name: str | None = None, batch_size: int = 32
) -> np.ndarray:
    """Grad-CAM heat maps of PNEUMONIA evidence, shape ``(n, S, S)``, each scaled to ``[0, 1]``.

    Args:
        model: a model whose last layer is ``Dense(1, activation="sigmoid")``, e.g. from
            :func:`xraylib.models.build_cnn` (an augmentation block inside is inactive here).
        images: ``(n, S, S, 1)`` uint8 images, as the model takes them.
        layer_name: the feature maps to explain (default :func:`last_conv_layer`).
        batch_size: images per gradient computation.

    An image with no positive evidence gets a map of zeros. For an
    :func:`~xraylib.models.ensemble` the map is the mean of its members' maps.

    Example::

        heat = explain.grad_cam(model, splits.x_val[:8])
        heat.shape
        # (8, 96, 96)
    """
    members = models.ensemble_members(model)
    if members != [model]:
        heat = np.mean([grad_cam(m, images, layer_name, batch_size) for m in members], axis=0)
        return _scaled(heat)
    head = model.layers[-1]
    layer = model.get_layer(layer_name or last_conv_layer(model))
    explainer = keras.Model(model.inputs, [layer.output, head.input])
    size = images.shape[1:3]
    maps = []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start : start + batch_size])
        with tf.GradientTape() as tape:
            features, hidden = explainer(batch, training=False)
            logit = tf.matmul(hidden, head.kernel) + head.bias
        gradients = tape.gradient(logit, features)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1, keepdims=True))
        maps.append(tf.image.resize(cam, size, method="bilinear")[..., 0].numpy())
    return _scaled(np.concatenate(maps))


def _scaled(heat: np.ndarray) -> np.ndarray:
    """Each map divided by its peak (a map without any evidence stays zero)."""
    peak = heat.max(axis=(1, 2), keepdims=True)
    return np.divide(heat, peak, out=np.zeros_like(heat), where=peak > 0)


def error_groups(
    y_true: np.ndarray, p: np.ndarray, threshold: float, per_group: int = 4, seed: int = 0
) -> dict[str, np.ndarray]:
    """Indices of up to ``per_group`` randomly chosen images of each outcome at ``threshold``:
    ``"correct pneumonia"``, ``"correct normal"``, ``"false negative"`` (pneumonia called
    normal) and ``"false positive"`` (normal called pneumonia). Empty groups are left out."""
    y = np.asarray(y_true).astype(int).ravel()
    predicted = (np.asarray(p).ravel() >= threshold).astype(int)
    outcomes = {
        "correct pneumonia": (1, 1),
        "correct normal": (0, 0),
        "false negative": (1, 0),
        "false positive": (0, 1),
    }
    rng = np.random.default_rng(seed)
    groups = {}
    for name, (truth, call) in outcomes.items():
        members = np.flatnonzero((y == truth) & (predicted == call))
        if members.size:
            groups[name] = np.sort(rng.choice(members, min(per_group, members.size), replace=False))
    return groups
