"""``requirements.lock`` (the versions that made the committed outputs) still satisfies
``pyproject.toml``; ``environment.yml`` installs from it; ``xraylib.setup()`` says in one line
when the installed versions are other ones. Offline: nothing is downloaded or resolved."""

from __future__ import annotations

import re
import tomllib

import keras
import sklearn
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from xraylib import config, notebook


def declared_requirements() -> list[Requirement]:
    """The dependencies of ``pyproject.toml``: the project's and its ``dev`` extra's."""
    project = tomllib.loads((config.ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [Requirement(text) for text in declared]


def test_lock_pins_every_declared_dependency_within_its_range():
    pins = notebook.locked_versions()
    unmet = []
    for requirement in declared_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": "dev"}):
            continue  # not for this platform
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            unmet.append(f"{requirement} is not pinned")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            unmet.append(f"{requirement} but the lock pins {pinned}")
    assert not unmet, (
        f"requirements.lock no longer satisfies pyproject.toml ({'; '.join(unmet)}): "
        "run `make lock`"
    )


def test_conda_environment_installs_the_lock_with_its_python():
    lines = [line.strip() for line in (config.ROOT / "environment.yml").read_text().splitlines()]
    lock_python = re.search(r"--python-version (\S+)", (config.ROOT / "Makefile").read_text())
    assert lock_python is not None, "`make lock` names no --python-version"
    assert f"- python={lock_python.group(1)}" in lines
    assert lines[-2:] == ["- -r requirements.lock", "- -e ."]


def test_lock_pins_are_read_for_this_platform(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# made by make lock\n"
        "Keras_Tuner==1.4.8\n    # via xraylib (pyproject.toml)\n"
        "numpy==1.0 ; python_full_version < '3.0'\n"
        "numpy==2.4.6 ; python_full_version >= '3.0'\n"
    )
    assert notebook.locked_versions(lock) == {"keras-tuner": "1.4.8", "numpy": "2.4.6"}


def test_version_drift_names_each_key_package_that_differs():
    assert notebook.version_drift({"keras": "0.1.0", "tensorflow-cpu-no-such": "1.0"}) == [
        f"keras {keras.__version__} (lock 0.1.0)"
    ]
    assert notebook.version_drift({"keras": keras.__version__}) == []


def test_setup_warns_in_one_line_when_versions_differ_from_the_lock(tmp_path, monkeypatch, capsys):
    lock = tmp_path / "requirements.lock"
    lock.write_text("keras==0.1.0\nscikit-learn==0.2.0\n")
    monkeypatch.setattr(notebook, "LOCK_FILE", lock)
    notebook.setup(quiet=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert "requirements.lock" in line
    assert f"keras {keras.__version__} (lock 0.1.0)" in line
    assert f"scikit-learn {sklearn.__version__} (lock 0.2.0)" in line


def test_setup_is_silent_about_versions_without_a_lock_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(notebook, "LOCK_FILE", tmp_path / "requirements.lock")
    notebook.setup(quiet=True)
    assert capsys.readouterr().err == ""
