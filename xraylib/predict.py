"""Use a trained model on image files: load it, predict, keep going past bad files.

The final model of notebook 06 lives in ``data/models/final.keras``; its decision threshold,
chosen on validation, is stored beside it in ``final.json`` so the command line applies the
same operating point the notebook reported. Without a path, :func:`load_model` and
:func:`saved_threshold` use :func:`final_model_path`: the run's own ``final.keras`` when there
is one, else the committed one, so ``xraylib predict`` also works under ``XRAY_PROFILE=smoke``.

>>> model = load_model()                                            # doctest: +SKIP
>>> table, errors = predict_images(model, ["a.jpeg", "b.png"], saved_threshold())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from xraylib import config, data
from xraylib.errors import ModelError
from xraylib.train import save_model

FINAL_NAME = "final"


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
    from xraylib import models  # noqa: F401  registers the custom layers (RandomGamma)

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:  # Keras raises many types for a bad file; all mean "unusable"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"{path}: not a readable Keras model ({reason})") from None


def save_final(
    model: keras.Model, threshold: float, path: str | Path | None = None, **facts: object
) -> Path:
    """Save the hand-over model and, beside it (same name, ``.json``), its threshold, input
    size and any other ``facts`` a user of the model needs (e.g. ``train_prior`` for the
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
    ``train_prior`` and the declared ``adaptation``; ``{}`` when there is no ``.json`` file.

    Raises :class:`ModelError` (one line) when that file is not a JSON object.

    >>> predict.saved_info()["train_prior"]  # doctest: +SKIP
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


def predict_images(
    model: keras.Model, paths: Iterable[str | Path], threshold: float = 0.5, batch_size: int = 64
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Predict every readable image of ``paths``.

    Each image is read like the training data (grayscale, resized to the model's input).
    Returns a table with columns ``path``, ``label`` (PNEUMONIA when the probability is at
    least ``threshold``) and ``probability`` (of PNEUMONIA), in the order given, and the list
    of ``(path, error message)`` of the files that could not be read.

    >>> model, threshold = predict.load_model(), predict.saved_threshold()  # doctest: +SKIP
    >>> paths = ["my_xrays/a.jpeg", "my_xrays/b.png"]  # doctest: +SKIP
    >>> table, errors = predict.predict_images(model, paths, threshold)  # doctest: +SKIP
    """
    size = int(model.input_shape[1])
    good: list[str] = []
    images: list[np.ndarray] = []
    errors: list[tuple[str, str]] = []
    for path in map(str, paths):
        try:
            images.append(data.read_image(path, size))
            good.append(path)
        except data.ImageError as err:
            errors.append((path, str(err)))
    probabilities = np.zeros(0)
    if images:
        batch = np.stack(images)
        probabilities = np.concatenate(
            [
                np.asarray(model.predict_on_batch(batch[i : i + batch_size])).ravel()
                for i in range(0, len(batch), batch_size)
            ]
        )
    normal, pneumonia = config.CLASS_NAMES
    table = pd.DataFrame(
        {
            "path": good,
            "label": np.where(probabilities >= threshold, pneumonia, normal),
            "probability": probabilities.astype(float),
        }
    )
    return table, errors
