"""xraylib: an honest pediatric chest X-ray (NORMAL vs PNEUMONIA) classifier, as a library.

The notebooks in ``notebooks/`` tell the story; this package holds everything they use twice.
"""

__version__ = "0.1.0"
