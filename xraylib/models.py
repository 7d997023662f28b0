"""Model builders: a dense baseline, one configurable CNN, the augmentation block, ensembles.

Every model takes grayscale ``uint8`` images of shape ``(S, S, 1)`` and outputs the probability
of PNEUMONIA. Scaling to ``[0, 1]`` happens inside the model (a ``Rescaling`` layer), so the
same uint8 arrays feed training, evaluation and the command line. Augmentation, when asked for,
is a block of Keras preprocessing layers inside the model: active in ``fit``, a no-op in
``predict`` and ``evaluate``.

``build_cnn`` is the one builder for every CNN iteration of the notebooks; each keyword is one
design decision (depth and width, padding, batch norm, dropout, L2, the head, augmentation).
Its convolution layers are named ``block{i}_conv`` so Grad-CAM can find the last one.
Builders return uncompiled models: how a model learns is :class:`xraylib.train.Recipe`'s job.
:func:`ensemble` averages several trained models into one model file. The custom layers they
use live in :mod:`xraylib.layers`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from xraylib.layers import (
    Calibration,
    RandomAffine,
    RandomBlur,
    RandomBorderErase,
    RandomGamma,
    RandomMarker,
    RandomNoise,
)


def augmentation(
    rotation: float = 0.05,
    zoom: float = 0.1,
    translation: float = 0.05,
    contrast: float = 0.1,
    brightness: float = 0.1,
    gamma: float = 0.0,
    blur: float = 0.0,
    noise: float = 0.0,
    border: float = 0.0,
    marker: float = 0.0,
    horizontal_flip: bool = False,
) -> keras.Sequential:
    """Return a block of random transformations for images in ``[0, 255]``.

    Factors follow the Keras layers (rotation as a fraction of a full turn, zoom and
    translation as fractions of the side, contrast and brightness as fractions); ``gamma`` is
    the range of ``log γ`` (:class:`RandomGamma`), ``blur`` the largest Gaussian blur σ in
    pixels, ``noise`` the standard deviation of added Gaussian noise as a fraction of the grey
    range, ``border`` the widest erased edge band (:class:`RandomBorderErase`) and ``marker``
    the largest burned-in marker (:class:`RandomMarker`), both as fractions of the side. A factor
    of 0 leaves that transformation out. Horizontal flips are off by default: a flipped chest
    X-ray puts the heart on the wrong side. The block is active only when the model is called
    with ``training=True`` (inside ``fit``).

    Rotation, zoom and translation are one :class:`RandomAffine` layer (one resampling, the
    ranges of the three Keras layers) and the noise a :class:`RandomNoise`: each measurably
    faster than the Keras layers it stands for (``python -m xraylib bench`` times both). The
    blur is Keras' ``RandomGaussianBlur`` (3×3, applied with probability 1/2): the custom
    :class:`RandomBlur` that earlier models were trained with was no faster. Models saved with
    the layers of earlier versions still load (:func:`augmentation_factors` reads their policy
    back).

    >>> geometric = models.augmentation(contrast=0, brightness=0)
    >>> model = models.build_cnn(96, augment=geometric)
    """
    steps: list[layers.Layer] = []
    if rotation or zoom or translation:
        steps.append(RandomAffine(rotation, zoom, translation, name="affine"))
    if contrast:
        steps.append(layers.RandomContrast(contrast, value_range=(0, 255), name="contrast"))
    if brightness:
        steps.append(layers.RandomBrightness(brightness, value_range=(0, 255), name="brightness"))
    if gamma:
        steps.append(RandomGamma(gamma, name="gamma"))
    if blur:
        steps.append(
            layers.RandomGaussianBlur(
                1.0, kernel_size=3, sigma=blur, value_range=(0, 255), name="blur"
            )
        )
    if noise:
        steps.append(RandomNoise(noise, name="noise"))
    if border:
        steps.append(RandomBorderErase(border, name="border"))
    if marker:
        steps.append(RandomMarker(marker, name="marker"))
    if horizontal_flip:
        steps.append(layers.RandomFlip("horizontal", name="flip"))
    return keras.Sequential(steps, name="augmentation")


def augmentation_factors(block: keras.Sequential) -> dict:
    """The keyword arguments of :func:`augmentation` that built ``block``, read from its
    layers, also from a block of an earlier version (Keras' ``RandomRotation``,
    ``RandomZoom`` and ``RandomTranslation`` in place of :class:`RandomAffine`, or
    :class:`RandomBlur` in place of Keras' ``RandomGaussianBlur``), so
    ``augmentation(**factors)`` rebuilds the same policy with this version's layers.

    >>> block = models.augmentation(**models.AUGMENTATIONS["exposure"])
    >>> models.augmentation_factors(block)
    {'rotation': 0, 'zoom': 0, 'translation': 0, 'contrast': 0.3, 'brightness': 0.2, 'gamma': 0.3}
    """
    factors: dict = dict(rotation=0, zoom=0, translation=0, contrast=0, brightness=0)
    for layer in block.layers:
        name = layer.name
        if isinstance(layer, RandomAffine):
            factors.update(rotation=layer.rotation, zoom=layer.zoom, translation=layer.translation)
        elif name == "rotation":
            factors["rotation"] = max(abs(f) for f in layer.factor)
        elif name in ("zoom", "translation"):
            factors[name] = abs(layer.height_factor)
        elif name in ("contrast", "brightness"):
            factors[name] = max(abs(f) for f in layer.factor)
        elif name == "gamma":
            factors["gamma"] = layer.factor
        elif name == "blur":
            factors["blur"] = layer.blur if isinstance(layer, RandomBlur) else max(layer.sigma)
        elif name == "noise":
            factors["noise"] = layer.stddev
        elif name == "border":
            factors["border"] = layer.factor
        elif name == "marker":
            factors["marker"] = layer.size
        elif name == "flip":
            factors["horizontal_flip"] = True
    return factors


_ACQUISITION = dict(
    rotation=0.02,
    zoom=0.1,
    translation=0.05,
    contrast=0.3,
    brightness=0.2,
    gamma=0.3,
    blur=1.0,
    noise=0.02,
)

#: The augmentation policies, as keyword arguments of :func:`augmentation`, from the mildest
#: to the broadest. Each is aimed at one kind of difference between two acquisitions of the
#: same chest; notebook 04 shows them at 96 px, notebook 05 decides among them at the final
#: resolution and budget, over seeds.
AUGMENTATIONS: dict[str, dict] = {
    "none": dict(rotation=0, zoom=0, translation=0, contrast=0, brightness=0),
    "framing": dict(rotation=0.02, zoom=0.1, translation=0.05, contrast=0, brightness=0),
    "exposure": dict(rotation=0, zoom=0, translation=0, contrast=0.3, brightness=0.2, gamma=0.3),
    "acquisition": _ACQUISITION,
    "acquisition_borders": dict(_ACQUISITION, border=0.12, marker=0.1),
}


def _input(image_size: int) -> keras.KerasTensor:
    return keras.Input((image_size, image_size, 1), dtype="uint8", name="image")


def build_dense(
    image_size: int,
    widths: Sequence[int] = (256, 64),
    dropout: float = 0.3,
    name: str = "dense",
) -> keras.Model:
    """Build the dense baseline: flattened pixels, a stack of ReLU layers, sigmoid.

    It ignores that neighbouring pixels belong together, which is what the CNNs add.
    ``image_size`` is the side of the square grayscale input (a notebook passes
    ``profile.image_size``).

    >>> model = models.build_dense(96, widths=(256, 64), dropout=0.3)
    >>> model.output_shape
    (None, 1)
    """
    inputs = _input(image_size)
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(widths, start=1):
        x = layers.Dense(width, activation="relu", name=f"dense{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="pneumonia")(x)
    return keras.Model(inputs, outputs, name=name)


def build_cnn(
    image_size: int,
    filters: Sequence[int] = (32, 64, 128),
    convs: int = 1,
    kernel_size: int = 3,
    stem_stride: int = 2,
    padding: str = "same",
    batch_norm: bool = True,
    dropout: float = 0.3,
    l2: float = 0.0,
    pooling: str = "gap",
    dense_units: int = 64,
    augment: keras.layers.Layer | None = None,
    name: str = "cnn",
) -> keras.Model:
    """Build a CNN: one block per entry of ``filters``, then a small dense head.

    Each block is ``convs`` times ``Conv2D → (BatchNormalization) → ReLU``, then MaxPool 2×2
    (the first convolution of the network with stride ``stem_stride``); its layers are named
    ``block{i}_conv``, ``block{i}_bn``, ``block{i}_relu`` and ``block{i}_pool`` (a second
    convolution of the block: ``block{i}_conv2``, ``block{i}_bn2``, ``block{i}_relu2``).

    Args:
        image_size: side of the square grayscale input (a notebook passes
            ``profile.image_size``).
        filters: number of filters of each block; its length is the depth.
        convs: convolutions per block (each with its batch norm and ReLU).
        kernel_size: side of every convolution kernel.
        stem_stride: stride of the first convolution. 2 (the default) halves the image at
            once, as ResNet-style stems do; at 128×128 on a 2-core CPU that trains about ten
            times faster than stride 1, because the full-size feature maps of the first block
            (and their batch norm, ReLU and pooling) dominate the step time.
        padding: ``"same"`` keeps the border pixels, ``"valid"`` shrinks each map.
        batch_norm: normalise after every convolution (the convolution then has no bias).
            The running statistics used at inference follow the batches with momentum 0.9
            (Keras' default 0.99 lags behind for hundreds of steps: on a small training set
            the validation predictions would then be nearly constant).
        dropout: dropout rate before the dense layer and before the output (0: none).
        l2: L2 weight penalty of every convolution and dense kernel (0: none).
        pooling: ``"gap"`` (global average pooling, few weights) or ``"flatten"``.
        dense_units: width of the hidden dense layer (0: straight to the output).
        augment: a block such as :func:`augmentation`, applied to the uint8-range images.
        name: model name (shown in summaries and results tables).

    >>> model = models.build_cnn(96, filters=(16, 32, 64))
    >>> model.get_layer("block3_conv").filters
    64
    """
    if pooling not in ("gap", "flatten"):
        raise ValueError(f"pooling must be 'gap' or 'flatten', not {pooling!r}")
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs = _input(image_size)
    x = augment(inputs) if augment is not None else inputs
    x = layers.Rescaling(1 / 255, name="rescale")(x)
    for i, width in enumerate(filters, start=1):
        for j in range(1, convs + 1):
            suffix = "" if j == 1 else str(j)
            x = layers.Conv2D(
                width,
                kernel_size,
                strides=stem_stride if i == j == 1 else 1,
                padding=padding,
                use_bias=not batch_norm,
                kernel_regularizer=regularizer,
                name=f"block{i}_conv{suffix}",
            )(x)
            if batch_norm:
                x = layers.BatchNormalization(momentum=0.9, name=f"block{i}_bn{suffix}")(x)
            x = layers.ReLU(name=f"block{i}_relu{suffix}")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    if pooling == "gap":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    if dense_units:
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        x = layers.Dense(
            dense_units, activation="relu", kernel_regularizer=regularizer, name="head_dense"
        )(x)
    if dropout:
        x = layers.Dropout(dropout, name="output_dropout")(x)
    outputs = layers.Dense(
        1, activation="sigmoid", kernel_regularizer=regularizer, name="pneumonia"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def ensemble(
    members: Sequence[keras.Model],
    name: str = "ensemble",
    calibration: tuple[float, float] | None = None,
) -> keras.Model:
    """One model that averages the probabilities of ``members`` (trained models with the same
    input), so an ensemble is saved, loaded, predicted with and adapted like any model.

    Members keep their own names (they must differ) and can be taken out again with
    :func:`ensemble_members`. ``calibration`` (``scale, bias``) adds a :class:`Calibration`
    layer after the average (read back by :func:`ensemble_calibration`).

    Example::

        final = models.ensemble([run.model for run in runs], name="final")
    """
    if len({m.name for m in members}) != len(members):
        raise ValueError(f"ensemble members need distinct names: {[m.name for m in members]}")
    inputs = keras.Input(members[0].input_shape[1:], dtype="uint8", name="image")
    copies = [uncompiled(member) for member in members]
    outputs = layers.Average(name="mean_probability")([member(inputs) for member in copies])
    if calibration is not None:
        outputs = Calibration(*calibration, name="calibration")(outputs)
    return keras.Model(inputs, outputs, name=name)


def ensemble_calibration(model: keras.Model) -> tuple[float, float] | None:
    """``(scale, bias)`` of an :func:`ensemble`'s calibration layer, or None."""
    found = [(layer.scale, layer.bias) for layer in model.layers if isinstance(layer, Calibration)]
    return found[0] if found else None


def uncompiled(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with the same architecture and weights (batch-norm statistics
    included) but no optimiser: what is saved, and what an ensemble holds, so that a file
    carries no AdamW moments, not even those of a member nested inside it."""
    copy = model.__class__.from_config(_without_compile(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def _without_compile(config: object) -> object:
    """``config`` (a model's ``get_config()``) with every ``compile_config`` removed: a
    compiled model nested inside another is otherwise rebuilt compiled, optimiser included."""
    if isinstance(config, dict):
        return {k: _without_compile(v) for k, v in config.items() if k != "compile_config"}
    if isinstance(config, list):
        return [_without_compile(v) for v in config]
    return config


def ensemble_members(model: keras.Model) -> list[keras.Model]:
    """The member models of an :func:`ensemble`, or ``[model]`` for a single model."""
    names = [layer.name for layer in model.layers]
    if "mean_probability" not in names:
        return [model]
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def fingerprint(networks: Sequence[keras.Model]) -> str:
    """A short fingerprint (16 hex digits of SHA-1) of every weight of ``networks``, in order:
    equal fingerprints mean the same trained weights."""
    digest = hashlib.sha1()
    for network in networks:
        for weights in network.get_weights():
            digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()[:16]


def members_digest(model: keras.Model) -> str:
    """The :func:`fingerprint` of the member networks of an ensemble (of ``model`` itself when
    it is a single network), whatever follows them (a calibration layer): two models with the
    same digest average the same networks."""
    return fingerprint(ensemble_members(model))
