"""Use a trained model on image files: check each input, predict, keep going past bad files.

The final model of notebook 06 and its sidecars are kept by the results store
(:mod:`xraylib.results`): ``data/models/final.keras``, its decision threshold, chosen on
validation, in ``final.json`` (so the command line applies the same operating point the
notebook reported), and its input-quality gate (:mod:`xraylib.quality`) in ``final_gate.npz``:
an image the gate flags is answered "not assessed" unless forced. Without a path,
:func:`load_gate`, like :func:`xraylib.results.load_model` and
:func:`xraylib.results.saved_threshold`, uses :func:`xraylib.results.final_model_path`: the
run's own ``final.keras`` when there is one, else the committed one, so ``xraylib predict``
also works under ``XRAY_PROFILE=smoke``.

Example::

    model = results.load_model()
    gate = load_gate(model)
    paths = ["a.jpeg", "b.dcm"]
    table, errors = predict_images(model, paths, results.saved_threshold(), gate)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from xraylib import config, data, models, quality, results
from xraylib.errors import ModelError

#: What a flagged image is answered unless forced.
NOT_ASSESSED = "not assessed"


def committed_final(ensemble: keras.Model, path: str | Path | None = None) -> dict:
    """The facts of the hand-over model at ``path`` (default
    :func:`xraylib.results.default_model_path`) — ``calibration``, ``threshold``,
    ``adaptation``, … (:func:`xraylib.results.saved_info`) — when it was made from
    ``ensemble``'s members (the same weights, :func:`xraylib.models.members_digest`), so a
    re-run of notebook 06 loads them instead of fitting them again; ``{}`` otherwise. One line
    says which.

    Example::

        handover = predict.committed_final(ensemble)
        handover.get("threshold")
        # 0.490...
    """
    path = Path(path) if path is not None else results.default_model_path()
    facts = results.saved_info(path) if path.is_file() else {}
    if facts and models.members_digest(results.load_model(path)) == models.members_digest(ensemble):
        scale, bias = facts["calibration"]
        print(
            f"{path.name} holds these members: its calibration (scale {scale:.3f}, bias "
            f"{bias:.3f}), threshold {facts['threshold']:.3f} and adaptation "
            f"{facts['adaptation']} are loaded, not fitted again"
        )
        return facts
    print(f"no {path.name} of these members: calibration, threshold and adaptation are fitted")
    return {}


def load_gate(model: keras.Model, path: str | Path | None = None) -> quality.Gate:
    """The input-quality gate saved beside the model file at ``path`` (default
    :func:`xraylib.results.final_model_path`; ``NAME_gate.npz``) when it was fitted for
    ``model``, else the reference-free :func:`quality.basic_gate`, whose ``note`` says why
    checks are off.

    Raises :class:`ModelError` (one line) when the gate file is unreadable.

    Example::

        gate = predict.load_gate(model)
        gate.complete, gate.threshold
    """
    found = results.gate_path(Path(path) if path is not None else results.final_model_path())
    if not found.is_file():
        return quality.basic_gate(model, f"no quality reference beside the model ({found.name})")
    gate = quality.read_gate(found)
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

    Example::

        model, threshold = results.load_model(), results.saved_threshold()
        paths = ["my_xrays/a.jpeg", "my_xrays/b.dcm"]
        gate = predict.load_gate(model)
        table, errors = predict.predict_images(model, paths, threshold, gate)
        own = data.scan_images("my_xrays")  # its ages.csv, if any
        predict.predict_images(model, own.frame.path, ages=own.frame.age)
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

    Example::

        predict.copy_agreement(model, "data/chest_xray", "~/originals", 0.5)
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
