"""Notebook support: the one-call setup cell, and executing the series in place.

Every notebook starts with::

    import xraylib
    xraylib.setup()

which checks versions, seeds everything, sets the plot style and prints what the run will use.
``python -m xraylib notebooks`` (``make notebooks``) executes the series in order and records
each notebook's wall time in ``data/results/runtime.csv``.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from xraylib import config

MIN_VERSIONS = {"tensorflow": "2.16", "keras": "3.0", "sklearn": "1.4"}


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def setup(seed: int | None = None, quiet: bool = False) -> config.Profile:
    """Check versions, seed Python/NumPy/Keras, set the plot style; print the run's settings.

    Returns the active :class:`~xraylib.config.Profile`.
    """
    import keras
    import sklearn
    import tensorflow as tf

    from xraylib import plots

    assert sys.version_info >= (3, 10), "xraylib needs Python 3.10 or newer"
    found = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "sklearn": sklearn.__version__,
    }
    for name, minimum in MIN_VERSIONS.items():
        assert _version_tuple(found[name]) >= _version_tuple(minimum), (
            f"{name} {found[name]} is older than {minimum}: run `make setup`"
        )
    tf.get_logger().setLevel("ERROR")
    used_seed = config.set_seed(seed)
    plots.set_style()
    profile = config.profile()
    if not quiet:
        print(
            f"python {platform.python_version()} · tensorflow {tf.__version__} · "
            f"keras {keras.__version__} · scikit-learn {sklearn.__version__}"
        )
        print(
            f"profile: {profile.name} (images {profile.image_size}px, batch "
            f"{profile.batch_size}, up to {profile.epochs} epochs) · seed {used_seed}"
        )
        print(f"data: {_shown(config.data_dir())} · outputs: {_shown(config.output_dir())}")
    return profile


def _shown(path: Path) -> str:
    """A path relative to the project when inside it (no machine-specific prefixes)."""
    try:
        return path.absolute().relative_to(config.ROOT).as_posix() or "."
    except ValueError:
        return str(path)


def series() -> list[Path]:
    """The numbered notebooks, in reading order."""
    return sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def execute(notebooks: Sequence[Path] | None = None, timeout: int = 3600) -> pd.DataFrame:
    """Execute notebooks in place, in order, and record their wall times.

    Each notebook runs with its own folder as the working directory in a fresh kernel of this
    Python. Rows of ``runtime.csv`` (notebook, profile, seconds, finished) are replaced by name.
    """
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for path in notebooks or series():
        path = Path(path).resolve()
        print(f"executing {path.name} ({config.profile().name} profile) …", flush=True)
        book = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(
            book,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
        seconds = time.perf_counter() - start
        nbformat.write(book, path)
        print(f"  done in {seconds / 60:.1f} min", flush=True)
        rows.append(
            {
                "notebook": path.stem,
                "profile": config.profile().name,
                "seconds": round(seconds, 1),
                "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            }
        )
    table = config.results_dir() / "runtime.csv"
    done = pd.DataFrame(rows)
    if table.exists():
        earlier = pd.read_csv(table)
        done = pd.concat([earlier[~earlier.notebook.isin(done.notebook)], done])
    done = done.sort_values("notebook").reset_index(drop=True)
    done.to_csv(table, index=False)
    return done
