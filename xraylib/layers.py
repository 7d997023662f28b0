"""Custom Keras layers of xraylib: augmentation steps Keras lacks or does more slowly, and the
Platt calibration of an ensemble's probability.

Each layer is registered with Keras under ``xraylib>ClassName`` (package ``xraylib``), the name
the saved model files carry, so ``keras.models.load_model`` finds it once this module is
imported (:mod:`xraylib.models` imports it). The augmentation layers take images in
``[0, 255]``, act only with ``training=True`` and follow Keras' preprocessing layers' seeding
(one :class:`keras.random.SeedGenerator` each). :func:`xraylib.models.augmentation` assembles
them, with Keras' built-ins, into a policy; ``python -m xraylib bench`` times each custom
augmentation layer against the built-in it replaces.
"""

from __future__ import annotations

import math

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
    pair). Hand-written because it is faster: ``python -m xraylib bench`` timed it at 5.8 ms
    against 10.1 ms for Keras' three layers (TensorFlow's normal sampler) on a batch of 32
    images of 128 px (2-core CPU); Keras' ``GaussianNoise`` also takes a standard deviation
    of at most 1, so it needs the two rescalings.
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
    each a little blur); one pass keeps the image sharper and costs about a third:
    ``python -m xraylib bench`` timed 9.4 ms against 27.1 ms for the three Keras layers on a
    batch of 32 images of 128 px (2-core CPU).
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
    image followed by a choice. (Blurring only a part of each batch would change the
    distribution.)

    Kept so that the models trained with it load; :func:`xraylib.models.augmentation` now uses
    Keras' ``RandomGaussianBlur``, because this layer is no faster (``python -m xraylib
    bench``: 4.9 against 5.0 ms, and 3.6 against 3.4 ms, on a batch of 32 images of 128 px,
    2-core CPU).
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
