"""The public API: ``xraylib``'s submodules plus ``setup``, each name meaning one thing."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import xraylib
from xraylib import errors

ERROR_NAMES = (
    "XrayError",
    "ConfigError",
    "DataError",
    "ImageError",
    "ModelError",
    "DownloadError",
    "TuningError",
)


def test_all_names_the_submodules_and_setup():
    assert set(xraylib.__all__) == {*xraylib.SUBMODULES, "setup"}
    for name in xraylib.SUBMODULES:
        assert inspect.ismodule(getattr(xraylib, name)), name
    assert xraylib.setup is importlib.import_module("xraylib.notebook").setup


def test_every_public_name_means_the_same_object_before_and_after_importing_submodules():
    code = (
        "import importlib, xraylib\n"
        "before = {n: getattr(xraylib, n) for n in xraylib.__all__}\n"
        "for n in xraylib.SUBMODULES: importlib.import_module('xraylib.' + n)\n"
        "after = {n: getattr(xraylib, n) for n in xraylib.__all__}\n"
        "changed = [n for n in before if before[n] is not after[n]]\n"
        "assert not changed, changed\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_importing_xraylib_does_not_load_tensorflow():
    code = "import sys, xraylib; assert 'tensorflow' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_functions_are_reached_through_their_submodule_only():
    for name in ("fit", "build_cnn", "load_splits", "load", "metrics", "XrayError"):
        assert not hasattr(xraylib, name), name


def test_every_error_class_is_reachable_from_xraylib_errors():
    for name in ERROR_NAMES:
        error = getattr(errors, name)
        assert issubclass(error, errors.XrayError), name
        assert error.__module__ == "xraylib.errors", name


def test_every_error_class_defined_in_the_package_lives_in_xraylib_errors():
    for name in xraylib.SUBMODULES:
        module = importlib.import_module(f"xraylib.{name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Exception) and cls.__module__.startswith("xraylib"):
                assert cls.__module__ == "xraylib.errors", f"{name}.{cls_name}"
