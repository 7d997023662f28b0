"""Fixtures shared by every test module: a quiet, isolated environment and the data sets.

* Every test runs under the ``smoke`` profile, with its outputs in its own temporary folder,
  the image cache in a temporary folder of the session (never ``data/cache`` of the project)
  and matplotlib on the non-interactive Agg backend.
* ``phantom_root``: a small synthetic data set in the real layout, made once per session.
* ``real_data_dir``: the real images (``XRAY_DATA_DIR``, else ``../shared/data/chest_xray``);
  the test is skipped when they are absent. Mark such tests ``@pytest.mark.realdata``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from xraylib import config, data, errors, synthetic


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by the whole session, so phantoms are decoded once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, session_cache_dir: Path
) -> None:
    """Smoke profile, outputs in ``tmp_path/output``, cache in a temporary folder, Agg."""
    monkeypatch.setenv("XRAY_PROFILE", "smoke")
    monkeypatch.setenv("XRAY_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(config, "CACHE_DIR", session_cache_dir)


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phantom data set (30 NORMAL training images, the rest in the real proportions).

    Shared by the session: tests must not modify it (copy it first).
    """
    return synthetic.make_synthetic(tmp_path_factory.mktemp("phantoms"), per_class=30)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real chest X-ray folder; skips the test when it is not there."""
    env = os.environ.get("XRAY_DATA_DIR")
    folder = Path(env).expanduser() if env else config.ROOT.parent / "shared/data/chest_xray"
    try:
        return data.find_root(folder)
    except errors.DataError:
        pytest.skip(f"real data not found in {folder} (set XRAY_DATA_DIR)")


@pytest.fixture
def case() -> tuple[np.ndarray, np.ndarray]:
    """624 predictions like the test set (390 PNEUMONIA), informative, with tied scores."""
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(390, int), np.zeros(234, int)]
    p = np.clip(0.35 * y + rng.random(624) * 0.65, 0, 1).round(2)
    return y, p
