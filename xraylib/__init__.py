"""xraylib: an honest pediatric chest X-ray (NORMAL vs PNEUMONIA) classifier, as a library.

The notebooks in ``notebooks/`` tell the story; this package holds everything they use. The
public API is its submodules (``__all__``) plus :func:`setup`; in a notebook of your own::

    import xraylib
    from xraylib import data, models, train

    profile = xraylib.setup()                      # versions, seed, plot style, inline figures
    splits = data.load_splits(profile=profile)     # cached images, patient-grouped validation
    train.new_session(profile.seed)
    model = models.build_cnn(profile.image_size)
    result = train.fit(model, splits, profile=profile)  # seeded, the profile's epochs

The run's settings (``XRAY_PROFILE``, ``XRAY_SEED``, ``XRAY_DATA_DIR``) are read by
:func:`setup` alone; every library function takes them as arguments (default: the full
profile, seed 42, ``data/chest_xray``), so the same call gives the same result whatever the
environment says.

Submodules are imported on first use, so ``import xraylib`` stays fast and TensorFlow loads
only when a model is needed.
"""

import importlib
import os
from typing import TYPE_CHECKING

# TensorFlow's C++ log lines (CPU instruction sets, a tf.data NodeDef attribute notice) are
# harmless here; errors still reach Python as exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if TYPE_CHECKING:
    from xraylib.notebook import setup

__version__ = "0.1.0"

#: The public submodules, in the order a reader meets them.
SUBMODULES = (
    "config",
    "data",
    "dicom",
    "download",
    "synthetic",
    "models",
    "train",
    "evaluate",
    "results",
    "experiment",
    "plots",
    "explain",
    "predict",
    "quality",
    "population",
    "ood",
    "adapt",
    "tuning",
    "cluster",
    "distribute",
    "notebook",
    "errors",
    "bench",
    "presentation",
    "report",
)

__all__ = [*SUBMODULES, "setup"]


def __getattr__(name: str) -> object:
    """Import a submodule (or :func:`~xraylib.notebook.setup`) on first use."""
    if name == "setup":
        return importlib.import_module("xraylib.notebook").setup
    if name in SUBMODULES:
        return importlib.import_module(f"xraylib.{name}")
    raise AttributeError(f"module 'xraylib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
