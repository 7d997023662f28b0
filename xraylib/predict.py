"""Use a trained model on image files: load it, check each input, predict, keep going past bad
files.

The final model of notebook 06 lives in ``data/models/final.keras``; its decision threshold,
chosen on validation, is stored beside it in ``final.json`` so the command line applies the
same operating point the notebook reported, and its input-quality gate (:mod:`xraylib.quality`)
in ``final_gate.npz``: an image the gate flags is answered "not assessed" unless forced.
Without a path, :func:`load_model`, :func:`load_gate` and :func:`saved_threshold` use
:func:`final_model_path`: the run's own ``final.keras`` when there is one, else the committed
one, so ``xraylib predict`` also works under ``XRAY_PROFILE=smoke``.

>>> model = load_model()                                            # doctest: +SKIP
>>> gate = load_gate(model)                                         # doctest: +SKIP
>>> paths = ["a.jpeg", "b.dcm"]                                     # doctest: +SKIP
>>> table, errors = predict_images(model, paths, saved_threshold(), gate)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from xraylib import config, data, quality
from xraylib.errors import ModelError
from xraylib.train import save_model

FINAL_NAME = "final"
#: What a flagged image is answered unless forced.
NOT_ASSESSED = "not assessed"


def default_model_path() -> Path:
    """``data/models/final.keras`` of this run's outputs: where :func:`save_final` writes the
    model notebook 06 hands over (under ``smoke``, in the scratch output folder)."""
    return config.models_dir() / f"{FINAL_NAME}.keras"


def final_model_path() -> Path:
    """The hand-over model to read: :func:`default_model_path` when it exists, else the
    committed ``data/models/final.keras`` of the project (which may not exist either)."""
    own = default_model_path()
    return own if own.is_file() else config.ROOT / "data" / "models" / f"{FINAL_NAME}.keras"


def load_model(path: str | Path | None = None) -> keras.Model:
    """Load a saved ``.keras`` model (default :func:`final_model_path`).

    Raises :class:`ModelError` when the file is missing or cannot be read as a Keras model.

    >>> model = predict.load_model()  # doctest: +SKIP
    >>> deeper = predict.load_model("data/models/cnn_deeper.keras")  # doctest: +SKIP
    """
    path = Path(path) if path is not None else final_model_path()
    if not path.is_file():
        raise ModelError(f"{path}: no such model file (train one with `xraylib train`)")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a readable Keras model (not a .keras zip archive)")
    from xraylib import models  # noqa: F401  registers its custom layers

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:  # Keras raises many types for a bad file; all mean "unusable"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"{path}: not a readable Keras model ({reason})") from None


def save_final(
    model: keras.Model, threshold: float, path: str | Path | None = None, **facts: object
) -> Path:
    """Save the hand-over model and, beside it (same name, ``.json``), its threshold, input
    size and any other ``facts`` a user of the model needs (e.g. ``assumed_prior`` for the
    prior-shift correction, the declared ``adaptation``).

    The ``.json`` file is strict JSON (a NaN or infinite value raises ``ValueError``).
    Returns the model path (default :func:`default_model_path`).
    """
    path = save_model(model, path if path is not None else default_model_path())
    info = {
        "threshold": float(threshold),
        "model": model.name,
        "image_size": int(model.input_shape[1]),
        **facts,
    }
    path.with_suffix(".json").write_text(json.dumps(info, indent=2, allow_nan=False) + "\n")
    return path


def saved_info(path: str | Path | None = None) -> dict:
    """Everything :func:`save_final` stored beside the model at ``path`` (default
    :func:`final_model_path`): threshold, model name, image size, and facts such as
    ``assumed_prior`` and the declared ``adaptation``; ``{}`` when there is no ``.json`` file.

    Raises :class:`ModelError` (one line) when that file is not a JSON object.

    >>> predict.saved_info()["assumed_prior"]  # doctest: +SKIP
    0.742...
    """
    path = Path(path) if path is not None else final_model_path()
    info = path.with_suffix(".json")
    if not info.is_file():
        return {}
    try:
        facts = json.loads(info.read_text())
    except ValueError as err:  # JSONDecodeError is a ValueError
        raise ModelError(f"{info}: malformed JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(facts, dict):
        raise ModelError(f"{info}: malformed, not a JSON object")
    return facts


def saved_threshold(path: str | Path | None = None, default: float = 0.5) -> float:
    """The threshold stored beside the model at ``path`` (default :func:`final_model_path`)
    by :func:`save_final`, or ``default`` when there is none.

    Raises :class:`ModelError` (one line) when that ``.json`` file is malformed.

    >>> threshold = predict.saved_threshold()  # doctest: +SKIP
    >>> predict.saved_threshold("data/models/cnn_deeper.keras")  # doctest: +SKIP
    0.5
    """
    info = (Path(path) if path is not None else final_model_path()).with_suffix(".json")
    if not info.is_file():
        return default
    facts = saved_info(path)
    try:
        threshold = float(facts["threshold"])
    except (ValueError, KeyError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelError(
            f"{info}: malformed, no readable threshold ({type(err).__name__}: {reason})"
        ) from None
    if not 0 <= threshold <= 1:
        raise ModelError(f"{info}: threshold {threshold} is not between 0 and 1")
    return threshold


def load_gate(model: keras.Model, path: str | Path | None = None) -> quality.Gate:
    """The input-quality gate saved beside the model file at ``path`` (default
    :func:`final_model_path`; ``NAME_gate.npz``) when it was fitted for ``model``, else the
    reference-free :func:`quality.basic_gate`, whose ``note`` says why checks are off.

    Raises :class:`ModelError` (one line) when the gate file is unreadable.

    >>> gate = predict.load_gate(model)  # doctest: +SKIP
    >>> gate.complete, gate.threshold  # doctest: +SKIP
    """
    found = quality.gate_path(Path(path) if path is not None else final_model_path())
    if not found.is_file():
        return quality.basic_gate(model, f"no quality reference beside the model ({found.name})")
    gate = quality.load_gate(found)
    if gate.digest != quality.weights_digest(model):
        return quality.basic_gate(model, f"{found.name} was fitted for another model")
    return gate


def predict_images(
    model: keras.Model,
    paths: Iterable[str | Path],
    threshold: float = 0.5,
    gate: quality.Gate | None = None,
    force: bool = False,
    batch_size: int = 64,
    ages: Iterable[float | None] | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Check and predict every readable image of ``paths`` (JPEG, PNG or DICOM).

    Each image is read like the training data (grayscale, resized to the model's input) and
    checked by ``gate`` (default :func:`quality.basic_gate`: size, colour, view, blank and the
    population checks only). ``ages``, one per path in years (``None`` or NaN: unknown), are
    stated ages for files that carry none (PNG, JPEG, a DICOM without age tags): a DICOM
    file's own age wins (:mod:`xraylib.population`).
    Returns, in the order given, a table with columns

    * ``path``;
    * ``prediction``: PNEUMONIA when the probability is at least ``threshold``, else NORMAL;
      ``"not assessed"`` for a flagged image unless ``force``;
    * ``probability`` of PNEUMONIA (NaN when not assessed);
    * ``flags``: the image's :class:`quality.Flag` list (empty when clean, kept when forced);
    * ``ood_score``: its out-of-distribution score (NaN without a gate reference);
    * ``age``: the patient's age in years the age check used (NaN: unknown, not checked);
    * ``not_checked``: ``{check code: why}`` for each population check that could not run
      (e.g. ``{"body_part": "no BodyPartExamined tag"}``);

    and the list of ``(path, error message)`` of the files that could not be read.

    >>> model, threshold = predict.load_model(), predict.saved_threshold()  # doctest: +SKIP
    >>> paths = ["my_xrays/a.jpeg", "my_xrays/b.dcm"]  # doctest: +SKIP
    >>> gate = predict.load_gate(model)  # doctest: +SKIP
    >>> table, errors = predict.predict_images(model, paths, threshold, gate)  # doctest: +SKIP
    >>> own = data.scan_images("my_xrays")  # its ages.csv, if any  # doctest: +SKIP
    >>> predict.predict_images(model, own.frame.path, ages=own.frame.age)  # doctest: +SKIP
    """
    gate = gate or quality.basic_gate(model)
    size = int(model.input_shape[1])
    names = [str(path) for path in paths]
    stated = [None] * len(names) if ages is None else [_known(age) for age in ages]
    if len(stated) != len(names):
        raise ValueError(f"{len(stated)} ages for {len(names)} images")
    good: list[str] = []
    items: list[data.Prepared] = []
    errors: list[tuple[str, str]] = []
    for path, age in zip(names, stated, strict=True):
        try:
            item = data.inspect_image(path, size)
        except data.ImageError as err:
            errors.append((path, str(err)))
            continue
        items.append(dataclasses.replace(item, subject=item.subject.with_stated_age(age)))
        good.append(path)
    probabilities = np.zeros(0)
    if items:
        batch = np.stack([item.pixels for item in items])
        probabilities = np.concatenate(
            [
                np.asarray(model.predict_on_batch(batch[i : i + batch_size])).ravel()
                for i in range(0, len(batch), batch_size)
            ]
        )
    flags, scores = gate.check(model, items)
    normal, pneumonia = config.CLASS_NAMES
    answered = np.array([force or not found for found in flags], dtype=bool)
    table = pd.DataFrame(
        {
            "path": good,
            "prediction": np.where(
                answered, np.where(probabilities >= threshold, pneumonia, normal), NOT_ASSESSED
            ),
            "probability": np.where(answered, probabilities, np.nan).astype(float),
            "flags": pd.Series(flags, dtype=object),
            "ood_score": np.asarray(scores, dtype=float),
            "age": np.array([item.subject.age for item in items], dtype=float),
            "not_checked": pd.Series([item.subject.not_checked for item in items], dtype=object),
        }
    )
    return table, errors


def _known(age: float | None) -> float | None:
    """A stated age, ``None`` for a missing one or NaN."""
    return None if age is None or age != age else float(age)


def copy_agreement(
    model: keras.Model,
    copies: str | Path,
    originals: str | Path,
    threshold: float,
    n: int = 200,
    seed: int = 0,
) -> pd.Series:
    """How far the model's answers depend on which copy of the data set it reads: ``n``
    training images (drawn with ``seed``) found under the same ``train/LABEL/NAME`` in both
    folders — e.g. the 224-px redistributed copies the committed run used and full-size (or
    aspect-kept) originals — predicted from each.

    Returns ``pairs``, ``mean_abs_diff`` and ``max_abs_diff`` of the probabilities and
    ``label_flips`` (pairs on opposite sides of ``threshold``). Only ``train/`` is read: the
    test images stay out of everything but notebook 06.

    >>> predict.copy_agreement(model, "data/chest_xray", "~/originals", 0.5)  # doctest: +SKIP
    """
    pairs = []
    for label in config.CLASS_NAMES:
        folder = Path(originals).expanduser() / "train" / label
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            twin = Path(copies).expanduser() / "train" / label / path.name
            if twin.is_file():
                pairs.append((twin, path))
    if not pairs:
        raise ModelError(f"{originals}: no train/NORMAL or train/PNEUMONIA file also in {copies}")
    rng = np.random.default_rng(seed)
    chosen = [pairs[i] for i in sorted(rng.choice(len(pairs), min(n, len(pairs)), replace=False))]
    size = int(model.input_shape[1])
    p = [
        model.predict(np.stack([data.read_image(pair[k], size) for pair in chosen]), verbose=0)
        .ravel()
        .astype(float)
        for k in (0, 1)
    ]
    diff = np.abs(p[0] - p[1])
    return pd.Series(
        {
            "pairs": len(chosen),
            "mean_abs_diff": float(diff.mean()),
            "max_abs_diff": float(diff.max()),
            "label_flips": int(np.sum((p[0] >= threshold) != (p[1] >= threshold))),
        }
    )
