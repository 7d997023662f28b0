"""pytest set-up shared by the test suite and the doctests of ``xraylib/`` (collected with
``--doctest-modules``, see ``pyproject.toml``): every example in a docstring sees NumPy as
``np`` and each xraylib module by its short name, as a notebook that imported them would."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import xraylib


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    doctest_namespace["np"] = np
    doctest_namespace["xraylib"] = xraylib
    for module in pkgutil.iter_modules(xraylib.__path__):
        if not module.name.startswith("_"):
            doctest_namespace[module.name] = importlib.import_module(f"xraylib.{module.name}")
