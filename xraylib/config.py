"""Project paths, run profiles and seeding: the one place that knows where things live.

Paths are found from the package location, not the working directory, so a notebook in
``notebooks/`` and a script anywhere agree. Three environment variables steer a run; they are
read by :func:`profile` alone, which the entry points call once (:func:`xraylib.setup` in a
notebook, the command line, the notebook runner) and pass down: a library function takes its
settings as arguments, with the full profile's values (:data:`DEFAULT_PROFILE`) as defaults.

* ``XRAY_PROFILE``: ``full`` (default, the committed results) or ``smoke`` (a few hundred
  images, one or two epochs; used by CI to re-execute the notebooks in minutes).
* ``XRAY_DATA_DIR``: where the images are (default ``data/chest_xray``).
* ``XRAY_SEED``: the seed of every random choice (default 42).

Under ``smoke`` every output (figures, results, models) goes to a scratch folder
(``XRAY_OUTPUT_DIR``, default ``$TMPDIR/xraylib-smoke``) so a CI run never overwrites the
committed outputs of a full run.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from xraylib.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
DEFAULT_IMAGES_DIR = DATA_DIR / "chest_xray"
CACHE_DIR = DATA_DIR / "cache"
NOTEBOOKS_DIR = ROOT / "notebooks"
CLASS_NAMES = ("NORMAL", "PNEUMONIA")
#: The seed of every random choice when none is given (``XRAY_SEED`` overrides it).
DEFAULT_SEED = 42


@dataclass(frozen=True)
class Profile:
    """Settings of one run: one kind of run (full or smoke), its seed and its data folder.

    Attributes:
        name: ``"full"`` or ``"smoke"``.
        image_size: side of the square grayscale input, in pixels.
        batch_size: training batch size.
        epochs: epoch budget of one training in notebooks 02–05's comparisons.
        per_class: images kept per split and class (``None``: all of them).
        tuner_trials: trials of the keras-tuner search, promoted Hyperband trials included
            (one Hyperband iteration whose longest trial trains ``epochs``).
        tuner_minutes: wall-clock guard of the search (a trial it cuts short is failed).
        search_image_size: input side of the search's trials (notebook 05).
        final_image_size: input side of the final recipe (notebooks 04-05).
        final_epochs: epoch budget of each run of the final recipe.
        policy_seeds: seeds per augmentation policy on which the final policy is decided (the
            first in notebook 04, the others in 05).
        ensemble_members: seeds of the chosen policy in the final ensemble (notebook 05 adds
            those beyond ``policy_seeds``); all of them are members.
        seed: the seed of every random choice (:data:`DEFAULT_SEED`; ``XRAY_SEED``).
        data_dir: the folder of the images (``data/chest_xray``; ``XRAY_DATA_DIR``).

    >>> smoke = profile("smoke")
    >>> smoke.image_size, smoke.epochs, smoke.per_class
    (64, 2, 60)
    """

    name: str
    image_size: int
    batch_size: int
    epochs: int
    per_class: int | None
    tuner_trials: int
    tuner_minutes: float
    search_image_size: int
    final_image_size: int
    final_epochs: int
    policy_seeds: int
    ensemble_members: int
    seed: int = DEFAULT_SEED
    data_dir: Path = DEFAULT_IMAGES_DIR


PROFILES: dict[str, Profile] = {
    "full": Profile(
        "full",
        image_size=96,
        batch_size=32,
        epochs=10,
        per_class=None,
        tuner_trials=30,
        tuner_minutes=40.0,
        search_image_size=64,
        final_image_size=128,
        final_epochs=20,
        policy_seeds=2,
        ensemble_members=3,
    ),
    "smoke": Profile(
        "smoke",
        image_size=64,
        batch_size=32,
        epochs=2,
        per_class=60,
        tuner_trials=2,
        tuner_minutes=5.0,
        search_image_size=64,
        final_image_size=64,
        final_epochs=2,
        policy_seeds=2,
        ensemble_members=2,
    ),
}


#: The settings a library function uses when it is given none: the full profile, seed 42,
#: the images in ``data/chest_xray``, whatever the environment says.
DEFAULT_PROFILE = PROFILES["full"]


def profile(name: str | None = None) -> Profile:
    """The settings of this run, read from the environment: the profile ``name`` (default the
    one ``XRAY_PROFILE`` selects, else full) with ``XRAY_SEED`` and ``XRAY_DATA_DIR``.

    Only the entry points call it (:func:`xraylib.setup`, the command line, the notebook
    runner); they pass the result down. Raises :class:`~xraylib.errors.ConfigError` (one line)
    for an unknown profile or a seed that is not an integer.

    >>> profile("smoke").epochs
    2
    """
    key = _profile_name() if name is None else name.strip().lower()
    if key not in PROFILES:
        raise ConfigError(
            f"XRAY_PROFILE={key!r} is not a profile; use one of {', '.join(sorted(PROFILES))}"
        )
    text = os.environ.get("XRAY_SEED", str(DEFAULT_SEED))
    try:
        seed = int(text)
    except ValueError:
        raise ConfigError(
            f"XRAY_SEED={text!r} is not an integer seed (e.g. XRAY_SEED=42)"
        ) from None
    folder = os.environ.get("XRAY_DATA_DIR")
    data_dir = Path(folder).expanduser().resolve() if folder else DEFAULT_IMAGES_DIR
    return replace(PROFILES[key], seed=seed, data_dir=data_dir)


def _profile_name() -> str:
    return os.environ.get("XRAY_PROFILE", "full").strip().lower()


def output_dir() -> Path:
    """Root of everything a run writes: the project itself under ``full``, a scratch folder
    under ``smoke`` (``XRAY_OUTPUT_DIR`` or ``$TMPDIR/xraylib-smoke``)."""
    if _profile_name() == "full":
        return ROOT
    env = os.environ.get("XRAY_OUTPUT_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "xraylib-smoke"


def images_dir() -> Path:
    """Where figures go (``images/``)."""
    return _made(output_dir() / "images")


def results_dir() -> Path:
    """Where metrics and predictions go (``data/results/``)."""
    return _made(output_dir() / "data" / "results")


def models_dir() -> Path:
    """Where trained models go (``data/models/``)."""
    return _made(output_dir() / "data" / "models")


def tuning_dir() -> Path:
    """Where keras-tuner keeps its trials (``data/tuning/``)."""
    return _made(output_dir() / "data" / "tuning")


def _made(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Write a file atomically: yield a temporary name beside ``path`` (same suffix, unique to
    the process), then rename it to ``path`` when the block succeeds, or delete it when it
    fails. Readers and concurrent writers never see half a file.

    Example::

        with atomic_path(Path("results.csv")) as temporary:
            table.to_csv(temporary, index=False)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def set_seed(value: int) -> int:
    """Seed Python, NumPy and Keras and make TensorFlow ops deterministic.

    Call it before building each model: the same seed then gives the same weights, the same
    shuffling and the same history on this CPU. Returns the seed used.

    >>> config.set_seed(42)
    42
    >>> model = models.build_cnn(96, filters=(16, 32, 64))
    """
    import keras
    import tensorflow as tf

    random.seed(value)
    np.random.seed(value)
    keras.utils.set_random_seed(value)
    tf.config.experimental.enable_op_determinism()
    return value
