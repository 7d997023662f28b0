"""xraylib: an honest pediatric chest X-ray (NORMAL vs PNEUMONIA) classifier, as a library.

The notebooks in ``notebooks/`` tell the story; this package holds everything they use twice.
Start a notebook with ``import xraylib; xraylib.setup()``.
"""

import os

# TensorFlow's C++ start-up chatter (CPU instruction sets, missing CUDA) is harmless here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from xraylib.notebook import setup  # noqa: E402

__version__ = "0.1.0"
__all__ = ["setup"]
