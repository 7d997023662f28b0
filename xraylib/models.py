"""Model builders: a dense baseline, one configurable CNN and the augmentation block.

Every model takes grayscale ``uint8`` images of shape ``(S, S, 1)`` and outputs the probability
of PNEUMONIA. Scaling to ``[0, 1]`` happens inside the model (a ``Rescaling`` layer), so the
same uint8 arrays feed training, evaluation and the command line. Augmentation, when asked for,
is a block of Keras preprocessing layers inside the model: active in ``fit``, a no-op in
``predict`` and ``evaluate``.

``build_cnn`` is the one builder for every CNN iteration of the notebooks; each keyword is one
design decision (depth and width, padding, batch norm, dropout, L2, the head, augmentation).
Its convolution layers are named ``block{i}_conv`` so Grad-CAM can find the last one.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def augmentation(
    rotation: float = 0.05,
    zoom: float = 0.1,
    translation: float = 0.05,
    contrast: float = 0.1,
    brightness: float = 0.1,
    horizontal_flip: bool = False,
) -> keras.Sequential:
    """Return a block of random transformations for images in ``[0, 255]``.

    Factors follow the Keras layers (rotation as a fraction of a full turn, zoom and
    translation as fractions of the side); a factor of 0 leaves that transformation out.
    Horizontal flips are off by default: a flipped chest X-ray puts the heart on the wrong side.
    The block is active only when the model is called with ``training=True`` (inside ``fit``).

    >>> geometric = xraylib.augmentation(contrast=0, brightness=0)  # doctest: +SKIP
    >>> model = xraylib.build_cnn(96, augment=geometric)  # doctest: +SKIP
    """
    steps: list[layers.Layer] = []
    if rotation:
        steps.append(layers.RandomRotation(rotation, fill_mode="constant", name="rotation"))
    if zoom:
        steps.append(layers.RandomZoom(zoom, fill_mode="constant", name="zoom"))
    if translation:
        steps.append(
            layers.RandomTranslation(
                translation, translation, fill_mode="constant", name="translation"
            )
        )
    if contrast:
        steps.append(layers.RandomContrast(contrast, value_range=(0, 255), name="contrast"))
    if brightness:
        steps.append(layers.RandomBrightness(brightness, value_range=(0, 255), name="brightness"))
    if horizontal_flip:
        steps.append(layers.RandomFlip("horizontal", name="flip"))
    return keras.Sequential(steps, name="augmentation")


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Compile ``model`` with Adam, binary cross-entropy and the project's metrics.

    The metrics are named ``accuracy``, ``precision``, ``recall``, ``auc`` (ROC) and
    ``pr_auc`` (precision-recall), so the history has ``auc`` and ``val_auc`` columns.
    Returns the same model.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(name="auc"),
            keras.metrics.AUC(curve="PR", name="pr_auc"),
        ],
    )
    return model


def build_dense(
    image_size: int = 128,
    widths: Sequence[int] = (256, 64),
    dropout: float = 0.3,
    learning_rate: float = 1e-3,
    name: str = "dense",
) -> keras.Model:
    """Build and compile the dense baseline: flattened pixels, a stack of ReLU layers, sigmoid.

    It ignores that neighbouring pixels belong together, which is what the CNNs add.

    >>> model = xraylib.build_dense(96, widths=(256, 64), dropout=0.3)  # doctest: +SKIP
    >>> model.output_shape  # doctest: +SKIP
    (None, 1)
    """
    inputs = keras.Input((image_size, image_size, 1), dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(widths, start=1):
        x = layers.Dense(width, activation="relu", name=f"dense{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="pneumonia")(x)
    return compile_model(keras.Model(inputs, outputs, name=name), learning_rate)


def build_cnn(
    image_size: int = 128,
    filters: Sequence[int] = (32, 64, 128),
    kernel_size: int = 3,
    stem_stride: int = 2,
    padding: str = "same",
    batch_norm: bool = True,
    dropout: float = 0.3,
    l2: float = 0.0,
    pooling: str = "gap",
    dense_units: int = 64,
    augment: keras.layers.Layer | None = None,
    learning_rate: float = 1e-3,
    name: str = "cnn",
) -> keras.Model:
    """Build and compile a CNN: one block per entry of ``filters``, then a small dense head.

    Each block is ``Conv2D → (BatchNormalization) → ReLU → MaxPool 2×2`` (the first
    convolution with stride ``stem_stride``); its layers are
    named ``block{i}_conv``, ``block{i}_bn``, ``block{i}_relu`` and ``block{i}_pool``.

    Args:
        image_size: side of the square grayscale input.
        filters: number of filters of each block; its length is the depth.
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
        learning_rate: Adam learning rate.
        name: model name (shown in summaries and results tables).

    >>> model = xraylib.build_cnn(96, filters=(16, 32, 64))  # doctest: +SKIP
    >>> model.get_layer("block3_conv").filters  # doctest: +SKIP
    64
    """
    if pooling not in ("gap", "flatten"):
        raise ValueError(f"pooling must be 'gap' or 'flatten', not {pooling!r}")
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input((image_size, image_size, 1), dtype="uint8", name="image")
    x = augment(inputs) if augment is not None else inputs
    x = layers.Rescaling(1 / 255, name="rescale")(x)
    for i, width in enumerate(filters, start=1):
        x = layers.Conv2D(
            width,
            kernel_size,
            strides=stem_stride if i == 1 else 1,
            padding=padding,
            use_bias=not batch_norm,
            kernel_regularizer=regularizer,
            name=f"block{i}_conv",
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=0.9, name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
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
    return compile_model(keras.Model(inputs, outputs, name=name), learning_rate)


#: The five CNN designs of notebook 03, one decision added at a time; keyword arguments of
#: :func:`build_cnn`. Notebook 04 rebuilds the best one with augmentation. Example:
#: ``xraylib.build_cnn(96, **xraylib.CNN_DESIGNS["cnn_deeper"], name="cnn_deeper")``.
CNN_DESIGNS: dict[str, dict] = {
    "cnn_plain": dict(
        filters=(32, 64, 128), batch_norm=False, dropout=0.0, pooling="flatten", dense_units=64
    ),
    "cnn_regularised": dict(
        filters=(32, 64, 128),
        batch_norm=False,
        dropout=0.4,
        l2=1e-4,
        pooling="flatten",
        dense_units=64,
    ),
    "cnn_bn_gap": dict(
        filters=(32, 64, 128), batch_norm=True, dropout=0.4, l2=1e-4, pooling="gap", dense_units=64
    ),
    "cnn_bn_gap_weighted": dict(
        filters=(32, 64, 128), batch_norm=True, dropout=0.4, l2=1e-4, pooling="gap", dense_units=64
    ),
    "cnn_deeper": dict(
        filters=(32, 64, 128, 256),
        batch_norm=True,
        dropout=0.4,
        l2=1e-4,
        pooling="gap",
        dense_units=64,
    ),
}
