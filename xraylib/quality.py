"""The input-quality gate: is an image something the model can answer for?

A model scores whatever it is given, with confidence: a negative, a thumbnail, a holiday photo.
The gate puts flags on such inputs, each with a reason, and a flagged image is answered
"not assessed" (:mod:`xraylib.predict`). The checks, cheapest first:

* ``too_small``: the short side is below the model's input size. Every training image was
  shrunk to that size (the copies it learned from are 224 px or more); a smaller one would be
  *enlarged*, a blur the model never saw.
* ``colour``: more than 1% of the pixels are coloured (:func:`xraylib.data.colour_share`); a
  radiograph is gray even when stored as RGB.
* ``lateral``: the DICOM View Position says lateral (``LL``, ``RL``); the model saw frontal
  (PA/AP) views only. Files without that tag cannot be checked this way.
* ``blank``: no structure (pixel standard deviation under 4 gray levels).
* ``inverted``: likely negative polarity (a MONOCHROME1 image read naively): the image
  correlates *negatively* with the average validation X-ray (32×32, each standardised), so
  its negative matches the X-rays the model knows better than the image does. An image on
  its side or upside down often correlates negatively too, and is flagged by the same check.
* ``out_of_distribution``: the Mahalanobis distance (Lee et al., NeurIPS 2018) of the
  image's penultimate-layer features (the input of each member's output layer, members side
  by side for an ensemble) from those of the validation images, with a Ledoit–Wolf shrunk
  covariance. No label is used. The threshold is the ``1 - false_flag_rate`` quantile of
  *out-of-fold* validation distances (each fold scored by a fit on the other folds), so it
  holds for new images from the training hospital, not only for the ones it was fitted on.
* ``age``: the patient's age (a DICOM file's ``PatientAge``, else ``StudyDate`` minus
  ``PatientBirthDate``; for PNG and JPEG an age the user states) is outside the training
  population's (:data:`xraylib.population.AGES`, from the data card: children aged one to
  five). An image of unknown age is not checked.
* ``body_part``: a DICOM ``BodyPartExamined`` that is present and not the chest.

The population checks (the last two, :mod:`xraylib.population`) judge whom the image shows,
not the picture: an adult's clean X-ray passes every other check and still lies outside what
the model learned. What could not be checked is listed per image
(:attr:`xraylib.population.Subject.not_checked`).

The reference the polarity and out-of-distribution checks need is fitted once on validation
with the final model (:func:`fit_gate`) and saved beside it (``final_gate.npz``); without it
(:func:`basic_gate`) only the other checks run.

Example::

    gate = quality.fit_gate(model, splits.x_val)
    gate.save(results.gate_path(results.final_model_path())) # final_gate.npz
    item = data.inspect_image("chest.dcm", gate.image_size)
    flags, scores = gate.check(model, [item])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from PIL import Image

from xraylib import config, data, models, population
from xraylib.errors import ModelError, first_line

#: The flag codes of the picture, in the order the checks run (the declared
#: out-of-distribution set of :mod:`xraylib.ood` measures these).
IMAGE_CODES = ("too_small", "colour", "lateral", "blank", "inverted", "out_of_distribution")
#: The flag codes of whom the image shows (:mod:`xraylib.population`), checked after those.
POPULATION_CODES = ("age", "body_part")
#: Every flag code, in the order the checks run.
CODES = IMAGE_CODES + POPULATION_CODES
#: DICOM View Position values of a lateral projection.
LATERAL_VIEWS = ("LL", "RL", "LAT", "LATERAL")
#: Share of coloured pixels above which an image is not a radiograph.
COLOUR_SHARE = 0.01
#: Pixel standard deviation (gray levels) under which an image is blank.
BLANK_STD = 4.0
#: Side of the small picture on which polarity is judged.
POLARITY_SIDE = 32


@dataclass(frozen=True)
class Flag:
    """One reason not to trust the model's answer on an image.

    Attributes:
        code: one of :data:`CODES`.
        reason: one line for a person, with the measured value.
    """

    code: str
    reason: str

    def to_json(self) -> dict[str, str]:
        """``{"code": ..., "reason": ...}``, as ``predict --json`` prints it."""
        return {"code": self.code, "reason": self.reason}


@dataclass
class Gate:
    """The checks and their reference, fitted for one model (see the module doc).

    Attributes:
        image_size: the model's input side, also the smallest short side accepted.
        model: name of the model the reference was fitted with.
        digest: fingerprint of that model's weights (:func:`weights_digest`).
        mean_image: the standardised average validation image (32×32), or ``None``.
        feature_mean: mean penultimate-layer features of validation, or ``None``.
        precision: inverse of their shrunk covariance, or ``None``.
        threshold: Mahalanobis distance above which an image is out of distribution.
        reference_scores: the out-of-fold distances of the validation images.
        validation_flag_rate: share of validation images with any flag (out of fold).
        note: why the polarity and out-of-distribution checks are off (``""`` when on).
    """

    image_size: int
    model: str
    digest: str
    mean_image: np.ndarray | None = None
    feature_mean: np.ndarray | None = None
    precision: np.ndarray | None = None
    threshold: float = float("inf")
    reference_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    validation_flag_rate: float = float("nan")
    note: str = ""

    @property
    def complete(self) -> bool:
        """Whether the polarity and out-of-distribution checks have their reference."""
        return self.mean_image is not None and self.precision is not None

    def scores(self, model: keras.Model, pixels: np.ndarray) -> np.ndarray:
        """Out-of-distribution scores (Mahalanobis distances) of ``(n, S, S, 1)`` uint8 images;
        NaN for every image when the gate has no reference."""
        if self.feature_mean is None or self.precision is None:
            return np.full(len(pixels), np.nan)
        return _mahalanobis(features(model, pixels), self.feature_mean, self.precision)

    def check(
        self, model: keras.Model, items: Sequence[data.Prepared]
    ) -> tuple[list[list[Flag]], np.ndarray]:
        """Flags of each prepared image (an empty list when clean) and its out-of-distribution
        score (NaN without a reference).

        Example::

            item = data.inspect_image("chest.png", gate.image_size)
            flags, scores = gate.check(model, [item])
        """
        if not items:
            return [], np.zeros(0)
        pixels = np.stack([item.pixels for item in items])
        scores = self.scores(model, pixels)
        flags = _image_flags(items, pixels, self.image_size, self.mean_image)
        for item, found, score in zip(items, flags, scores, strict=True):
            if score > self.threshold:
                found.append(
                    Flag(
                        "out_of_distribution",
                        f"unlike the validation X-rays: distance {score:.1f} > threshold "
                        f"{self.threshold:.1f}",
                    )
                )
            found += population_flags(item.subject)
        return flags, scores

    def save(self, path: str | Path) -> Path:
        """Write the gate to ``path`` — beside its model: :func:`xraylib.results.gate_path` — as a
        NumPy ``.npz`` archive (no pickle); return the path."""
        path = Path(path)
        facts = {
            "image_size": self.image_size,
            "model": self.model,
            "digest": self.digest,
            "threshold": self.threshold,
            "validation_flag_rate": self.validation_flag_rate,
        }
        arrays = {
            name: value
            for name in ("mean_image", "feature_mean", "precision")
            if (value := getattr(self, name)) is not None
        }
        with config.atomic_path(path) as partial, partial.open("wb") as handle:
            np.savez(
                handle,
                facts=np.array(json.dumps(facts, allow_nan=False)),
                reference_scores=self.reference_scores,
                **arrays,
            )
        return path


def read_gate(path: str | Path) -> Gate:
    """Read a gate written by :meth:`Gate.save`.

    Raises :class:`ModelError` (one line) when the file is missing or not a gate.

    Example::

        gate = quality.read_gate(results.gate_path(results.final_model_path()))
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such gate file (fit one with quality.fit_gate)")
    try:
        with np.load(path, allow_pickle=False) as stored:
            facts = json.loads(str(stored["facts"]))
            arrays = {name: stored[name] for name in stored.files if name != "facts"}
        return Gate(
            image_size=int(facts["image_size"]),
            model=str(facts["model"]),
            digest=str(facts["digest"]),
            threshold=float(facts["threshold"]),
            validation_flag_rate=float(facts["validation_flag_rate"]),
            **arrays,
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(f"{path}: not a readable quality gate ({first_line(err)})") from None


def basic_gate(model: keras.Model, why: str = "no quality reference") -> Gate:
    """The checks that need no reference (size, colour, view, blank, age, body part) for
    ``model``; its ``note`` says ``why`` and which checks are off."""
    note = f"{why}: polarity and out-of-distribution checks off (fit one: quality.fit_gate)"
    return Gate(int(model.input_shape[1]), model.name, weights_digest(model), note=note)


def weights_digest(model: keras.Model) -> str:
    """A short fingerprint of the weights the gate's features come from (each member network up
    to its output layer): a gate fits only the networks it was made with, whatever is put after
    them (an ensemble average, a calibration layer)."""
    return models.fingerprint(_extractors(model))


def fit_gate(
    model: keras.Model,
    x_val: np.ndarray,
    false_flag_rate: float = 0.01,
    folds: int = 5,
    seed: int = config.DEFAULT_SEED,
) -> Gate:
    """Fit the gate's reference on validation images with the model it will guard.

    Args:
        model: the final model (a single network or an ensemble).
        x_val: validation images ``(n, S, S, 1)`` uint8 at the model's input size.
        false_flag_rate: share of out-of-fold validation distances above the threshold.
        folds: folds of the out-of-fold distances.
        seed: fold assignment (default 42; a notebook passes ``profile.seed``).

    Example::

        gate = quality.fit_gate(final_model, final_splits.x_val)
        gate.save(results.gate_path(results.save_final(final_model, threshold)))
    """
    from sklearn.model_selection import KFold

    size = int(model.input_shape[1])
    if x_val.shape[1:3] != (size, size):
        raise ValueError(f"x_val is {x_val.shape[1]} px; the model takes {size} px")
    x_val = np.asarray(x_val, dtype=np.uint8)
    mean_image = _standardised(np.mean(_small(x_val), axis=0))
    found = features(model, x_val)
    oof = np.empty(len(found))
    for fit_rows, held_out in KFold(folds, shuffle=True, random_state=seed).split(found):
        mean, precision = _reference(found[fit_rows])
        oof[held_out] = _mahalanobis(found[held_out], mean, precision)
    threshold = float(np.quantile(oof, 1 - false_flag_rate))
    items = [data.Prepared(x, size, size, "L") for x in x_val]
    flagged = [
        bool(image_flags or score > threshold)
        for image_flags, score in zip(
            _image_flags(items, x_val, size, mean_image), oof, strict=True
        )
    ]
    mean, precision = _reference(found)
    return Gate(
        size,
        model.name,
        weights_digest(model),
        mean_image,
        mean,
        precision,
        threshold,
        oof,
        float(np.mean(flagged)),
    )


def features(model: keras.Model, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Penultimate-layer features ``(n, d)`` of ``pixels``: the input of the output layer of
    each member network, side by side (one block per member of an ensemble)."""
    blocks = [
        extractor.predict(pixels, batch_size=batch_size, verbose=0)
        for extractor in _extractors(model)
    ]
    return np.concatenate([b.reshape(len(pixels), -1) for b in blocks], axis=1).astype(np.float64)


def _extractors(model: keras.Model) -> list[keras.Model]:
    """One model per member network, from the input to its last ``Dense`` layer's input."""
    nested = [
        layer for layer in model.layers if isinstance(layer, keras.Model) and _has_dense(layer)
    ]
    if nested:
        return [extractor for sub in nested for extractor in _extractors(sub)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError(f"model {model.name!r} has no Dense output layer to take features from")
    return [keras.Model(model.inputs, dense[-1].input)]


def _has_dense(model: keras.Model) -> bool:
    """Whether ``model`` (or a model inside it) has a ``Dense`` layer: a member network, not an
    augmentation block."""
    return any(
        isinstance(layer, keras.layers.Dense)
        or (isinstance(layer, keras.Model) and _has_dense(layer))
        for layer in model.layers
    )


def _reference(found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and precision (inverse Ledoit–Wolf covariance) of feature rows."""
    from sklearn.covariance import LedoitWolf

    fitted = LedoitWolf().fit(found)
    return fitted.location_, np.linalg.pinv(fitted.covariance_)


def _mahalanobis(found: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    centred = found - mean
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", centred, precision, centred), 0.0))


def _small(pixels: np.ndarray) -> np.ndarray:
    """``(n, S, S, 1)`` uint8 images as ``(n, 32, 32)`` float box averages."""
    side = (POLARITY_SIDE, POLARITY_SIDE)
    return np.stack(
        [np.asarray(Image.fromarray(p[..., 0]).resize(side, Image.Resampling.BOX)) for p in pixels]
    ).astype(np.float64)


def _standardised(image: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation over the last two axes (a flat image stays 0)."""
    centred = image - image.mean(axis=(-2, -1), keepdims=True)
    spread = centred.std(axis=(-2, -1), keepdims=True)
    return centred / np.where(spread > 0, spread, 1.0)


def polarity_scores(pixels: np.ndarray, mean_image: np.ndarray) -> np.ndarray:
    """Correlation of each ``(n, S, S, 1)`` image with the standardised average validation
    image: positive for X-rays as the model knows them, negative for their negatives."""
    return (_standardised(_small(pixels)) * mean_image).mean(axis=(1, 2))


def _image_flags(
    items: Sequence[data.Prepared],
    pixels: np.ndarray,
    min_side: int,
    mean_image: np.ndarray | None,
) -> list[list[Flag]]:
    """Every check but the out-of-distribution one, for each image (polarity only with a
    reference, and not for a blank image)."""
    polarity = polarity_scores(pixels, mean_image) if mean_image is not None else None
    flags = []
    for i, item in enumerate(items):
        found = _basic_flags(item, min_side)
        if polarity is not None and polarity[i] < 0 and not _coded(found, "blank"):
            found.append(
                Flag(
                    "inverted",
                    f"likely inverted (a negative) or not an upright frontal chest X-ray: "
                    f"correlation {polarity[i]:+.2f} with the average validation X-ray",
                )
            )
        flags.append(found)
    return flags


def _basic_flags(item: data.Prepared, min_side: int) -> list[Flag]:
    """The checks that need no reference: size, colour, view, blank."""
    found = []
    if min(item.width, item.height) < min_side:
        found.append(
            Flag(
                "too_small",
                f"too small: {item.width}×{item.height} px, the model needs a short side of at "
                f"least {min_side} px (it would see an enlarged, blurred image)",
            )
        )
    if item.colour > COLOUR_SHARE:
        found.append(
            Flag("colour", f"colour image ({item.colour:.0%} of pixels coloured), not a radiograph")
        )
    if item.view_position in LATERAL_VIEWS:
        found.append(
            Flag(
                "lateral",
                f"lateral view (DICOM View Position {item.view_position}); the model saw "
                "frontal PA/AP views only",
            )
        )
    spread = float(item.pixels.std())
    if spread < BLANK_STD:
        found.append(
            Flag("blank", f"blank or uniform image (pixel standard deviation {spread:.1f})")
        )
    return found


def population_flags(subject: population.Subject) -> list[Flag]:
    """The ``age`` and ``body_part`` flags of an image's subject (none for an unknown fact).

    >>> adult = population.Subject(62.0, "PatientAge 062Y")
    >>> [flag.code for flag in quality.population_flags(adult)]
    ['age']
    """
    found = []
    youngest, oldest = population.AGES
    if subject.age is not None and not population.in_ages(subject.age):
        found.append(
            Flag(
                "age",
                f"age {subject.age:.3g} years ({subject.age_from}) is outside the training "
                f"population's {youngest}–{oldest} years ({population.SOURCE})",
            )
        )
    if subject.body_part and subject.body_part.upper() not in population.CHEST:
        found.append(
            Flag(
                "body_part",
                f"body part {subject.body_part} (DICOM BodyPartExamined), not the chest the "
                "model learned from",
            )
        )
    return found


def _coded(flags: Sequence[Flag], code: str) -> bool:
    return any(flag.code == code for flag in flags)


@dataclass
class FolderCheck:
    """What :func:`check_folder` found in a folder of images.

    Attributes:
        images: images checked.
        counts: images carrying each flag code (every code of :data:`CODES`, 0 included).
        flagged: images with at least one flag.
        expected_rate: share of validation images the gate flags (out of fold).
        p_value: one-sided binomial probability of at least ``flagged`` flags at that rate.
        pneumonia_rate: pneumonia rate of the unflagged images estimated without labels (EM of
            :func:`xraylib.adapt.prior_shift`), ``None`` without a training rate or images.
        assumed_prior: the pneumonia rate the model's probabilities assume.
        verdict: one plain-language sentence.
    """

    images: int
    counts: dict[str, int]
    flagged: int
    expected_rate: float
    p_value: float
    pneumonia_rate: float | None
    assumed_prior: float | None
    verdict: str

    def to_json(self) -> dict:
        """The check as ``xraylib check --json`` prints it."""
        return dict(self.__dict__)


#: A folder differs when this few of its flags would happen by chance at validation's rate.
DIFFERS_P = 0.01


def shift_evidence(
    model: keras.Model,
    gate: Gate,
    x_new: np.ndarray,
    p_new: np.ndarray,
    p_val: np.ndarray,
    assumed_prior: float,
) -> pd.DataFrame:
    """Label-free evidence of whether new images differ from validation, one row each for
    ``validation`` and ``new``: the images, the share the gate calls out of distribution (for
    validation its out-of-fold rate), the median distance, and the pneumonia rate estimated from
    the probabilities without labels (EM, :func:`xraylib.adapt.prior_shift`, starting from the
    rate the probabilities assume). No label of the new images is used.

    Example::

        quality.shift_evidence(model, gate, x_test, p_test, p_val, 0.74)
    """
    from xraylib import adapt

    distances = {"validation": gate.reference_scores, "new": gate.scores(model, x_new)}
    probabilities = {"validation": p_val, "new": p_new}
    rows = [
        {
            "set": name,
            "images": len(found),
            "out_of_distribution": float(np.mean(found > gate.threshold)),
            "median_distance": float(np.median(found)),
            "estimated_pneumonia_rate": adapt.prior_shift(probabilities[name], assumed_prior).prior,
        }
        for name, found in distances.items()
    ]
    return pd.DataFrame(rows).set_index("set")


def check_folder(
    table: pd.DataFrame, gate: Gate, assumed_prior: float | None = None
) -> FolderCheck:
    """Judge a folder as a whole from :func:`xraylib.predict.predict_images`'s table of it
    (best made with ``force=True``, so every probability is there).

    The folder *differs* from the training images when more of its images are flagged than
    validation's rate makes plausible (one-sided binomial test, p < 0.01); the pneumonia rate
    is estimated from the unflagged images' probabilities without labels.

    Example::

        table, _ = predict.predict_images(model, paths, 0.5, gate, force=True)
        quality.check_folder(table, gate, assumed_prior=0.5).verdict
    """
    from scipy.stats import binomtest

    from xraylib import adapt

    codes = [{flag.code for flag in found} for found in table["flags"]]
    counts = {code: sum(code in c for c in codes) for code in CODES}
    n, flagged = len(codes), sum(bool(c) for c in codes)
    rate = gate.validation_flag_rate if np.isfinite(gate.validation_flag_rate) else 0.02
    p_value = binomtest(flagged, n, max(rate, 1e-3), alternative="greater").pvalue if n else 1.0
    clean = table.loc[[not c for c in codes], "probability"].dropna().to_numpy(float)
    estimate = None
    if assumed_prior is not None and clean.size:
        estimate = adapt.prior_shift(clean, assumed_prior).prior
    share = f"{flagged} of {n} images flagged ({flagged / max(n, 1):.0%}; validation {rate:.1%})"
    if not gate.complete:
        verdict = f"cannot tell: {gate.note}; {share}"
    elif p_value < DIFFERS_P:
        verdict = f"differs from the training images: {share} — check on a labelled sample first"
    else:
        verdict = f"looks like the training images: {share}"
    return FolderCheck(n, counts, flagged, rate, float(p_value), estimate, assumed_prior, verdict)
