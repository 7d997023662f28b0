"""xraylib: an honest pediatric chest X-ray (NORMAL vs PNEUMONIA) classifier, as a library.

The notebooks in ``notebooks/`` tell the story; this package holds everything they use. In a
notebook of your own::

    import xraylib
    profile = xraylib.setup()                      # versions, seed, plot style
    splits = xraylib.load_splits()                 # cached images, patient-grouped validation
    xraylib.new_session()
    model = xraylib.build_cnn(profile.image_size)
    result = xraylib.fit(model, splits)            # seeded, early stopping on validation AUC

The names below are the public API (``__all__``); they are imported on first use, so
``import xraylib`` stays fast and TensorFlow loads only when a model is needed.
"""

import importlib
import os

# TensorFlow's C++ log lines (CPU instruction sets, a tf.data NodeDef attribute notice) are
# harmless here; errors still reach Python as exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

_PUBLIC = {
    "config": ["profile", "set_seed", "data_dir", "Profile"],
    "data": [
        "scan",
        "scan_images",
        "load",
        "load_splits",
        "make_splits",
        "shared_patients",
        "make_dataset",
        "class_weights",
        "read_image",
        "Splits",
        "DataError",
        "ImageError",
    ],
    "models": ["build_dense", "build_cnn", "augmentation", "CNN_DESIGNS"],
    "train": ["fit", "new_session", "FitResult"],
    "evaluate": [
        "metrics",
        "confusion",
        "choose_threshold",
        "bootstrap_ci",
        "calibration",
        "record",
        "load_metrics",
    ],
    "explain": ["grad_cam"],
    "predict": ["load_model", "predict_images", "saved_threshold"],
    "adapt": ["adabn"],
    "notebook": ["setup"],
    "download": ["download"],
    "synthetic": ["make_synthetic"],
    "errors": ["XrayError", "ConfigError"],
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}
_MODULES = [
    "config",
    "data",
    "models",
    "train",
    "evaluate",
    "plots",
    "explain",
    "predict",
    "adapt",
    "experiment",
    "tuning",
    "distribute",
    "download",
    "synthetic",
]

__all__ = sorted(_WHERE) + _MODULES


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"xraylib.{_WHERE[name]}"), name)
    if name in _MODULES:
        return importlib.import_module(f"xraylib.{name}")
    raise AttributeError(f"module 'xraylib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
