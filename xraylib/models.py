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
:func:`ensemble` averages several trained models into one model file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="xraylib")
class RandomGamma(layers.Layer):
    """Random gamma correction of images in ``[0, 255]``: ``255·(x/255)^γ`` with
    ``log γ`` uniform in ``[-factor, factor]``, one γ per image; identity outside training.

    Gamma is how two detectors or two exposure settings differ in their grey-level curve
    (Keras has no gamma layer; this one follows its preprocessing layers' seeding).
    """

    def __init__(self, factor: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training: bool = True):
        images = keras.ops.cast(images, self.compute_dtype)
        if not training:
            return images
        shape = (keras.ops.shape(images)[0], 1, 1, 1)
        log_gamma = keras.random.uniform(
            shape, -self.factor, self.factor, seed=self.generator, dtype=self.compute_dtype
        )
        scaled = keras.ops.clip(images / 255.0, 0.0, 1.0)
        # x^γ as exp(γ log x) (0 stays 0): TensorFlow's pow is about four times slower on CPU
        return 255.0 * keras.ops.exp(keras.ops.exp(log_gamma) * keras.ops.log(scaled))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return super().get_config() | {"factor": self.factor, "seed": self.seed}


@keras.saving.register_keras_serializable(package="xraylib")
class RandomNoise(layers.Layer):
    """Gaussian noise of standard deviation ``stddev`` of the grey range (``255·stddev``)
    added to each pixel of images in ``[0, 255]`` during training; identity outside it.

    What ``Rescaling(1/255) → GaussianNoise(stddev) → Rescaling(255)`` did in earlier
    versions, in one layer (no rounding at inference), with the normal numbers made by the
    Box–Muller transform of uniform ones (``√(-2 log u₁)·cos 2πu₂`` and ``… sin 2πu₂``, two per
    pair): on CPU that is about half the time of TensorFlow's own normal sampler.
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = stddev, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training: bool = True):
        images = keras.ops.cast(images, "float32")
        if not training:
            return images
        n, height, width, channels = keras.ops.shape(images)
        half = (n, (height + 1) // 2, width, channels)
        uniform = 1.0 - keras.random.uniform(half, seed=self.generator)  # in (0, 1]
        radius = (255.0 * self.stddev) * keras.ops.sqrt(-2.0 * keras.ops.log(uniform))
        turn = (2 * math.pi) * keras.random.uniform(half, seed=self.generator)
        noise = keras.ops.concatenate(
            [radius * keras.ops.cos(turn), radius * keras.ops.sin(turn)], axis=1
        )
        return images + (
            noise if isinstance(height, int) and height % 2 == 0 else noise[:, :height]
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return super().get_config() | {"stddev": self.stddev, "seed": self.seed}


def _unit_grid(images) -> tuple:
    """Row and column coordinates in ``[0, 1)`` of a batch of images, shaped to broadcast
    against ``(N, S, S, 1)``."""
    side = keras.ops.shape(images)[1]
    steps = keras.ops.cast(keras.ops.arange(side), "float32") / keras.ops.cast(side, "float32")
    return keras.ops.reshape(steps, (1, -1, 1, 1)), keras.ops.reshape(steps, (1, 1, -1, 1))


def _per_image(layer: layers.Layer, images, low: float = 0.0, high: float = 1.0):
    """One uniform number per image, from ``layer``'s seed generator."""
    shape = (keras.ops.shape(images)[0], 1, 1, 1)
    return keras.random.uniform(shape, low, high, seed=layer.generator, dtype="float32")


class _RandomPatch(layers.Layer):
    """With probability ``rate`` per image, a patch pasted over part of it during training;
    identity outside training. A subclass draws the patch: ``_patch(images)`` returns its mask
    (True inside, per image; any shape that broadcasts against the images) and its grey value.
    Boolean masks and one ``where`` keep it to a few passes over the batch."""

    def __init__(self, rate: float, seed: int | None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.generator = keras.random.SeedGenerator(seed)

    def _patch(self, images) -> tuple:
        raise NotImplementedError

    def call(self, images, training: bool = True):
        images = keras.ops.cast(images, "float32")
        if not training:
            return images
        mask, value = self._patch(images)
        applied = _per_image(self, images) < self.rate
        return keras.ops.where(mask & applied, value, images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return super().get_config() | {"rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="xraylib")
class RandomBorderErase(_RandomPatch):
    """With probability ``rate``, overwrite a band along one random edge of each image (up to
    ``factor`` of the side wide) with black or white: what collimation, a cropped film or a
    padded scan does to the borders. It teaches the network that the borders carry no
    diagnosis (Grad-CAM of the false alarms pointed there). Identity outside training.
    """

    def __init__(self, factor: float, rate: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(rate, seed, **kwargs)
        self.factor = factor

    def _patch(self, images) -> tuple:
        rows, cols = _unit_grid(images)
        width = _per_image(self, images, 0.02, self.factor)
        edge = _per_image(self, images, 0.0, 4.0)
        value = 255.0 * keras.ops.cast(_per_image(self, images) < 0.5, "float32")
        bands = [rows < width, rows >= 1 - width, cols < width, cols >= 1 - width]
        top, bottom, left, right = (
            band & (edge >= i) & (edge < i + 1) for i, band in enumerate(bands)
        )
        return (top | bottom) | (left | right), value  # rows (N, S, 1, 1) | columns (N, 1, S, 1)

    def get_config(self) -> dict:
        return super().get_config() | {"factor": self.factor}


@keras.saving.register_keras_serializable(package="xraylib")
class RandomMarker(_RandomPatch):
    """With probability ``rate``, burn a bright rectangle (``size`` of the side at most) into
    a random corner region of each image, as lead side markers and burned-in text appear on
    films from other sites. Identity outside training.
    """

    def __init__(self, size: float = 0.1, rate: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(rate, seed, **kwargs)
        self.size = size

    def _patch(self, images) -> tuple:
        rows, cols = _unit_grid(images)
        centres = []
        for _ in range(2):  # row, then column: within 25% of either edge
            near = _per_image(self, images, 0.03, 0.25)
            far_side = keras.ops.cast(_per_image(self, images) < 0.5, "float32")
            centres.append(far_side * (1 - near) + (1 - far_side) * near)
        height = _per_image(self, images, 0.3, 1.0) * self.size / 2
        width = _per_image(self, images, 0.3, 1.0) * self.size / 2
        value = _per_image(self, images, 200.0, 255.0)
        inside = (keras.ops.abs(rows - centres[0]) < height) & (
            keras.ops.abs(cols - centres[1]) < width
        )
        return inside, value

    def get_config(self) -> dict:
        return super().get_config() | {"size": self.size}


def affine_matrix(angle, zoom, shift_y, shift_x, height: int, width: int):
    """The ``(N, 8)`` transforms of :func:`keras.ops.image.affine_transform` for a rotation by
    ``angle`` (radians), then a zoom by ``zoom`` (above 1 zooms out), then a shift of the
    content by ``(shift_y, shift_x)`` pixels, one per image, all about the image centre.

    It is the product of the matrices that Keras' ``RandomRotation``, ``RandomZoom`` (one
    factor for both axes) and ``RandomTranslation`` apply in that order: output pixel ``p``
    reads input ``c + zoom · R(angle) · (p - shift - c)``, ``c`` the centre
    ``((width - 1)/2, (height - 1)/2)``. Arguments are ``(N,)`` tensors (or broadcast to it).
    """
    ops = keras.ops
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    a0, a1 = zoom * ops.cos(angle), -zoom * ops.sin(angle)
    b0, b1 = zoom * ops.sin(angle), zoom * ops.cos(angle)
    x0, y0 = cx + shift_x, cy + shift_y  # where the centre of the input lands
    a2, b2 = cx - a0 * x0 - a1 * y0, cy - b0 * x0 - b1 * y0
    zeros = ops.zeros_like(a0)
    return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


@keras.saving.register_keras_serializable(package="xraylib")
class RandomAffine(layers.Layer):
    """Random rotation, zoom and translation of each image, drawn as one affine transform and
    resampled once (bilinear, constant ``fill_value`` outside); identity outside training.

    Per image, with the ranges of the Keras layers it replaces (``RandomRotation(rotation)``,
    ``RandomZoom(zoom)``, ``RandomTranslation(translation, translation)``, in that order):
    the angle is uniform in ``[-rotation, rotation]`` of a full turn, the zoom factor uniform
    in ``[1 - zoom, 1 + zoom]`` for both axes (above 1 zooms out, as in Keras), and the shift
    uniform in ``[-translation, translation]`` of the side, drawn for rows and columns
    separately. The three Keras layers resample the image three times (three bilinear passes,
    each a little blur); one pass costs a third and keeps the image sharper.
    """

    def __init__(
        self,
        rotation: float = 0.0,
        zoom: float = 0.0,
        translation: float = 0.0,
        fill_value: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rotation, self.zoom, self.translation = rotation, zoom, translation
        self.fill_value, self.seed = fill_value, seed
        self.generator = keras.random.SeedGenerator(seed)
        self.supports_jit = False  # as Keras' own affine layers

    def draw(self, batch_size) -> tuple:
        """``(angle, zoom, shift_y, shift_x)`` of ``batch_size`` images: the angle in radians,
        the shifts as fractions of the side."""

        def uniform(low: float, high: float):
            return keras.random.uniform((batch_size,), low, high, seed=self.generator)

        angle = uniform(-self.rotation, self.rotation) * (2 * math.pi)
        zoom = uniform(1.0 - self.zoom, 1.0 + self.zoom)
        shift_y = uniform(-self.translation, self.translation)
        shift_x = uniform(-self.translation, self.translation)
        return angle, zoom, shift_y, shift_x

    def call(self, images, training: bool = True):
        images = keras.ops.cast(images, "float32")
        if not training:
            return images
        shape = keras.ops.shape(images)
        height, width = shape[1], shape[2]
        angle, zoom, shift_y, shift_x = self.draw(shape[0])
        matrix = affine_matrix(angle, zoom, shift_y * height, shift_x * width, height, width)
        return keras.ops.image.affine_transform(
            images, matrix, "bilinear", fill_mode="constant", fill_value=self.fill_value
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return super().get_config() | {
            "rotation": self.rotation,
            "zoom": self.zoom,
            "translation": self.translation,
            "fill_value": self.fill_value,
            "seed": self.seed,
        }


def _blur_axis(images, sigma, axis: int):
    """``images`` convolved along ``axis`` (1: rows, 2: columns) with the normalised 3-tap
    Gaussian ``[w, 1 - 2w, w]`` of ``sigma`` (one per image, shaped ``(N, 1, 1, 1)``),
    zero-padded to the same size. ``w`` is 0 for ``sigma`` near 0 (identity), 1/3 at most."""
    outer = keras.ops.exp(-0.5 / keras.ops.square(sigma))
    weight = outer / (1.0 + 2.0 * outer)
    pads = [[0, 0]] * 4
    pads[axis] = [1, 1]
    padded = keras.ops.pad(images, pads)
    if axis == 1:
        low, high = padded[:, :-2], padded[:, 2:]
    else:
        low, high = padded[:, :, :-2], padded[:, :, 2:]
    return (1.0 - 2.0 * weight) * images + weight * (low + high)


def gaussian_blur3(images, sigma_rows, sigma_cols):
    """``images`` (``(N, H, W, C)``) blurred by a 3×3 Gaussian with standard deviations
    ``sigma_rows`` (down the rows) and ``sigma_cols`` (along the columns), one of each per
    image (``(N, 1, 1, 1)``): what ``keras.ops.image.gaussian_blur(images, (3, 3),
    (sigma_cols, sigma_rows))`` computes for one pair, as two 1-D passes of shifted copies."""
    return _blur_axis(_blur_axis(images, sigma_rows, axis=1), sigma_cols, axis=2)


@keras.saving.register_keras_serializable(package="xraylib")
class RandomBlur(layers.Layer):
    """Random 3×3 Gaussian blur with the distribution of Keras'
    ``RandomGaussianBlur(1.0, kernel_size=3, sigma=blur)``: each image is blurred with
    probability ``rate`` (1/2 there: Keras blurs when one uniform number is below another),
    with σ uniform in ``[0, blur]`` pixels down the rows and, separately, along the columns;
    zero padding at the edges, as Keras. Identity outside training.

    Two differences, neither in what one image can get. σ is drawn per image (Keras draws one
    pair per batch, so a whole batch is equally soft). And the separable kernel is applied by
    :func:`gaussian_blur3`, two weighted sums of shifted copies with one weight per image (the
    images left sharp get σ ≈ 0, weight 0), instead of a depthwise 2-D convolution of every
    image followed by a choice: a handful of element-wise operations, the cost of the other
    photometric layers. (Blurring only a part of each batch would change the distribution.)
    """

    def __init__(self, blur: float, rate: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.blur, self.rate, self.seed = blur, rate, seed
        self.generator = keras.random.SeedGenerator(seed)

    def draw(self, images) -> tuple:
        """Per image, σ down the rows and along the columns, shaped ``(N, 1, 1, 1)``; about 0
        (1e-6, as Keras adds) for the images left sharp."""
        applied = keras.ops.cast(_per_image(self, images) < self.rate, "float32")
        rows = applied * _per_image(self, images, 0.0, self.blur) + 1e-6
        cols = applied * _per_image(self, images, 0.0, self.blur) + 1e-6
        return rows, cols

    def call(self, images, training: bool = True):
        images = keras.ops.cast(images, "float32")
        if not training:
            return images
        return gaussian_blur3(images, *self.draw(images))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return super().get_config() | {"blur": self.blur, "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="xraylib")
class Calibration(layers.Layer):
    """Platt scaling of probabilities: ``sigmoid(scale · logit(p) + bias)``, with ``scale``
    and ``bias`` fitted once (:func:`xraylib.evaluate.fit_calibration`), not trained. The
    order of the images is unchanged, so every ROC AUC is too; only how confident the
    probabilities are, and which pneumonia rate they assume."""

    def __init__(self, scale: float = 1.0, bias: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.bias = float(scale), float(bias)

    def call(self, p):
        # in float64, as :func:`xraylib.evaluate.calibrated` computes it (1 - 1e-7 is not a
        # float32 number)
        p = keras.ops.clip(keras.ops.cast(p, "float64"), 1e-7, 1 - 1e-7)
        log_odds = keras.ops.log(p) - keras.ops.log1p(-p)
        return keras.ops.cast(keras.ops.sigmoid(self.scale * log_odds + self.bias), "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return super().get_config() | {"scale": self.scale, "bias": self.bias}


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
    ranges of the three Keras layers), the blur a :class:`RandomBlur` (the distribution of
    Keras' ``RandomGaussianBlur``, a fraction of its cost) and the noise a
    :class:`RandomNoise`. Models saved with the Keras layers of earlier versions still load:
    they are Keras built-ins (:func:`augmentation_factors` reads their policy back).

    >>> geometric = models.augmentation(contrast=0, brightness=0)  # doctest: +SKIP
    >>> model = models.build_cnn(96, augment=geometric)  # doctest: +SKIP
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
        steps.append(RandomBlur(blur, name="blur"))
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
    ``RandomZoom``, ``RandomTranslation`` and ``RandomGaussianBlur`` in place of
    :class:`RandomAffine` and :class:`RandomBlur`), so ``augmentation(**factors)`` rebuilds
    the same policy with this version's layers.

    >>> block = models.augmentation(**models.AUGMENTATIONS["exposure"])  # doctest: +SKIP
    >>> models.augmentation_factors(block)  # doctest: +SKIP
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

    >>> model = models.build_dense(96, widths=(256, 64), dropout=0.3)  # doctest: +SKIP
    >>> model.output_shape  # doctest: +SKIP
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

    >>> model = models.build_cnn(96, filters=(16, 32, 64))  # doctest: +SKIP
    >>> model.get_layer("block3_conv").filters  # doctest: +SKIP
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

    >>> final = models.ensemble([run.model for run in runs], name="final")  # doctest: +SKIP
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
