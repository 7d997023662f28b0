"""Notebook support: the one-call setup cell, and executing the series in place.

Every notebook starts with::

    import xraylib
    xraylib.setup()

which checks versions, seeds everything, sets the plot style, shows figures inline (whatever
``MPLBACKEND`` the kernel inherited) and prints what the run will use. It is where a notebook
reads its settings (``XRAY_PROFILE``, ``XRAY_SEED``, ``XRAY_DATA_DIR``): it returns them as a
:class:`~xraylib.config.Profile`, which the notebook passes on; in a checkout it also
says, in one line, which key packages differ from ``requirements.lock`` (the versions that made
the committed outputs).
``python -m xraylib notebooks`` (``make notebooks``) executes the series in order and records
each notebook's wall time in ``data/results/runtime.csv`` as soon as that notebook finishes.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from xraylib import config, results
from xraylib.errors import XrayError

MIN_VERSIONS = {"tensorflow": "2.16", "keras": "3.8", "sklearn": "1.4"}
#: The exact environment that made the committed outputs (``make lock`` writes it; present in
#: a checkout, not in an installed package).
LOCK_FILE = config.ROOT / "requirements.lock"
#: The packages whose versions move the numbers; :func:`setup` names those that differ from
#: the lock (only those the lock pins on this platform: ``tensorflow-cpu`` on Linux x86-64).
KEY_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "keras-tuner",
    "scikit-learn",
    "numpy",
    "pandas",
    "matplotlib",
)
#: Resolution of the figures embedded in notebooks (``images/`` files keep ``save_fig``'s).
INLINE_DPI = 100
#: A call that makes a figure: a ``plot_``/``show_`` function of a module, or pyplot.
DRAWS = re.compile(r"\b\w+\.(?:plot|show)_\w*\(|\bplt\.(?:subplots|figure|imshow|plot)\(")
#: TensorFlow's start-up lines on stderr that ``TF_CPP_MIN_LOG_LEVEL`` cannot silence (absl
#: logs below the threshold until it is initialised: tensorflow/tensorflow#100442): absl's
#: notice and INFO/WARNING records such as "oneDNN custom operations are on". Errors stay.
STARTUP_NOISE = re.compile(
    r"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    r"STDERR|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] .*)\n?",
    re.MULTILINE,
)


def check_versions(found: dict[str, str]) -> None:
    """Raise :class:`~xraylib.errors.XrayError` (one line) when one of ``found`` (installed
    versions by :data:`MIN_VERSIONS` name) is older than its minimum there (Python's own
    minimum, 3.11, is the package's ``requires-python``). Release numbers are compared
    (``packaging.version``), so a pre-release of a minimum version (``2.16.0rc1``) passes.

    >>> notebook.check_versions({"tensorflow": "2.21.0", "keras": "3.15.1", "sklearn": "1.9"})
    >>> notebook.check_versions({"tensorflow": "2.21.0", "keras": "3.7.0", "sklearn": "1.9"})
    Traceback (most recent call last):
    xraylib.errors.XrayError: keras 3.7.0 is older than 3.8: run `make setup`
    """
    from packaging.version import Version

    for name, minimum in MIN_VERSIONS.items():
        if Version(found[name]).release < Version(minimum).release:
            raise XrayError(f"{name} {found[name]} is older than {minimum}: run `make setup`")


def setup(seed: int | None = None, quiet: bool = False) -> config.Profile:
    """Check versions, seed Python/NumPy/Keras, set the plot style; print the run's settings.

    Inside a Jupyter kernel, figures are shown inline even when the kernel inherited a
    non-inline ``MPLBACKEND`` (such as ``Agg``). When :data:`LOCK_FILE` exists and a key
    package's version differs from it (:func:`version_drift`), one line on stderr says so, even
    when ``quiet``. Returns the run's settings (:func:`xraylib.config.profile`, with ``seed``
    when given) for the notebook to pass on.

    Example::

        profile = xraylib.setup()
        splits = data.load_splits(profile=profile)
        model = models.build_cnn(profile.image_size)
    """
    import keras
    import sklearn
    import tensorflow as tf

    from xraylib import plots

    check_versions(
        {"tensorflow": tf.__version__, "keras": keras.__version__, "sklearn": sklearn.__version__}
    )
    tf.get_logger().setLevel("ERROR")
    profile = config.profile()
    if seed is not None:
        profile = dataclasses.replace(profile, seed=seed)
    config.set_seed(profile.seed)
    inline_figures()
    plots.set_style()
    pd.set_option("display.precision", 4)  # tables show 4 decimals, not 16
    pd.set_option("display.max_colwidth", 120)  # long model names are not cut
    if not quiet:
        print(
            f"python {platform.python_version()} · tensorflow {tf.__version__} · "
            f"keras {keras.__version__} · scikit-learn {sklearn.__version__}"
        )
        print(
            f"profile: {profile.name} · lessons {profile.image_size} px, {profile.epochs} "
            f"epochs · search {profile.search_image_size} px · final recipe "
            f"{profile.final_image_size} px, {profile.final_epochs} epochs · batch "
            f"{profile.batch_size} · seed {profile.seed}"
        )
        print(f"data: {_shown(profile.data_dir)} · outputs: {_shown(config.output_dir())}")
    drift = version_drift(locked_versions(LOCK_FILE)) if LOCK_FILE.is_file() else []
    if drift:
        print(
            f"xraylib: not the versions of requirements.lock, which made the committed outputs "
            f"({', '.join(drift)}): numbers may differ; `make setup` installs the locked ones",
            file=sys.stderr,
        )
    return profile


def locked_versions(path: Path = LOCK_FILE) -> dict[str, str]:
    """The pinned version of every package of a ``requirements.lock`` (``name==version``
    lines) whose environment marker holds on this machine, by normalised name.

    Example::

        notebook.locked_versions()["keras"]
        # '3.15.1'
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate():
            (pin,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = pin.version
    return pins


def version_drift(pins: dict[str, str]) -> list[str]:
    """``"NAME INSTALLED (lock PINNED)"`` for every one of :data:`KEY_PACKAGES` that ``pins``
    holds and whose installed version is another one (or ``absent``).

    Example::

        notebook.version_drift({"keras": "3.0.0"})
        # ['keras 3.15.1 (lock 3.0.0)']
    """
    from importlib import metadata

    from packaging.version import Version

    drift = []
    for name in KEY_PACKAGES:
        if name not in pins:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "absent"
        if installed == "absent" or Version(installed) != Version(pins[name]):
            drift.append(f"{name} {installed} (lock {pins[name]})")
    return drift


def inline_figures() -> bool:
    """Switch matplotlib to the inline backend (PNG at :data:`INLINE_DPI`) when running in
    a Jupyter kernel; return whether it did. Outside a kernel nothing changes.

    >>> notebook.inline_figures()  # in a plain Python process
    False
    """
    ipython = sys.modules.get("IPython")  # always loaded in a kernel; never imported here
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    shell.run_line_magic("matplotlib", "inline")
    set_matplotlib_formats("png", dpi=INLINE_DPI)
    return True


def draws_figure(source: str) -> bool:
    """Whether a code cell's ``source`` makes a figure (see :data:`DRAWS`).

    >>> notebook.draws_figure('plots.plot_class_counts(found.frame, save="01_counts");')
    True
    """
    return DRAWS.search(source) is not None


def has_figure(outputs: Sequence[dict]) -> bool:
    """Whether a cell's ``outputs`` include an embedded PNG."""
    return any("image/png" in out.get("data", {}) for out in outputs)


def cells_missing_figures(book: dict) -> list[int]:
    """Numbers (0-based, as nbval counts) of the code cells of ``book`` that draw a figure
    but hold no embedded PNG."""
    code = [cell for cell in book["cells"] if cell["cell_type"] == "code"]
    return [
        number
        for number, cell in enumerate(code)
        if draws_figure(cell["source"]) and not has_figure(cell.get("outputs", []))
    ]


def as_terminal_shows(text: str) -> str:
    """``text`` as a terminal leaves it: of each line redrawn with carriage returns (a text
    progress bar), only what was drawn last; a line that ends cleared to blanks disappears.

    >>> as_terminal_shows("a\\rab\\r  \\r\\nkept\\n")
    'kept\\n'
    """
    kept = []
    for line in text.replace("\r\n", "\n").split("\n"):
        last = line.rsplit("\r", 1)[-1]
        if "\r" in line and not last.strip():
            continue
        kept.append(last)
    return "\n".join(kept)


def _is_stderr(output: dict) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def without_startup_noise(book: dict) -> dict:
    """``book`` (an executed notebook) without TensorFlow's start-up log lines
    (:data:`STARTUP_NOISE`) in its stderr outputs, and with progress bars as a terminal leaves
    them: consecutive stderr outputs are joined, then :func:`as_terminal_shows` keeps the last
    drawing of each line (a finished :mod:`xraylib.progress` bar leaves nothing); a stream left
    empty is dropped."""
    for cell in book["cells"]:
        if cell["cell_type"] != "code":
            continue
        kept: list[dict] = []
        for out in cell["outputs"]:
            if _is_stderr(out) and kept and _is_stderr(kept[-1]):
                kept[-1]["text"] += out["text"]
            else:
                kept.append(out)
        for out in kept:
            if _is_stderr(out):
                out["text"] = as_terminal_shows(STARTUP_NOISE.sub("", out["text"]))
        cell["outputs"] = [out for out in kept if out.get("output_type") != "stream" or out["text"]]
    return book


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

    Each notebook runs with its own folder as the working directory in a fresh ``python3``
    kernel, started without ``MPLBACKEND`` so that figures are shown inline; TensorFlow's
    start-up log lines are left out of the saved outputs (:func:`without_startup_noise`). Its row of
    ``runtime.csv`` (notebook, profile, seconds, finished; rows replaced by name) is written
    as soon as it finishes, so an interrupted series keeps the times of the notebooks already
    done; under the full profile the header's time line is rewritten with the measured time
    (:func:`stamp_time`). A failing cell raises :class:`~xraylib.errors.XrayError` naming
    the notebook and the first line of the error; the notebooks before it stay executed.
    Returns the whole runtime table.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from xraylib import results

    kernel_env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    profile = config.profile()  # the kernels read the same variables in their setup cell
    done = pd.DataFrame()
    for path in notebooks or series():
        path = Path(path).resolve()
        print(f"executing {path.name} ({profile.name} profile) …", flush=True)
        book = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        try:
            NotebookClient(
                book,
                timeout=timeout,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            ).execute(env=kernel_env)
        except CellExecutionError as err:
            first = (err.evalue.strip().splitlines() or [""])[0]
            raise XrayError(f"{path.name} failed: {err.ename}: {first}") from None
        seconds = time.perf_counter() - start
        if profile.name == "full":
            stamp_time(book, seconds, machine())
        nbformat.write(without_startup_noise(book), path)
        print(f"  done in {seconds / 60:.1f} min", flush=True)
        done = results.record_runtime(
            {
                "notebook": path.stem,
                "profile": profile.name,
                "seconds": round(seconds, 1),
                "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": machine(),
            }
        )
    return done


def machine() -> str:
    """The machine a notebook ran on, for ``runtime.csv``: CPU model, cores and the widest
    vector extension (training speed differs up to threefold between machines).

    Example::

        notebook.machine()
        # 'AMD EPYC, 2 cores, AVX-512'
    """
    model, flags = platform.machine(), ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == platform.machine():
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value
    vector = "AVX-512" if "avx512f" in flags.split() else "AVX2" if "avx2" in flags.split() else ""
    return ", ".join(part for part in (model, f"{os.cpu_count()} cores", vector) if part)


#: Reading speed of the prose, for a notebook's reading time (:func:`reading_minutes`).
WORDS_PER_MINUTE = 200
#: What is not read as words in a markdown cell: link targets, HTML tags, code spans.
_NOT_READ = re.compile(r"\]\([^)]*\)|<[^>]+>|`[^`]*`")
_WORD = re.compile(r"[^\W_](?:[\w'’.-]*\w)?")


def prose_words(book: dict) -> int:
    """Words of the markdown cells of ``book`` (a notebook), link targets, HTML tags, code
    spans and the header's time line (:data:`TIME_LINE`) left out.

    >>> notebook.prose_words({"cells": [{"cell_type": "markdown", "source": "Read [this](a/b)."}]})
    2
    """
    cells = (cell["source"] for cell in book["cells"] if cell["cell_type"] == "markdown")
    return sum(
        len(_WORD.findall(_NOT_READ.sub(" ", TIME_LINE.sub(" ", "".join(source)))))
        for source in cells
    )


def reading_minutes(book: dict) -> int:
    """Minutes to read ``book``'s prose at :data:`WORDS_PER_MINUTE` (at least 1)."""
    return max(1, round(prose_words(book) / WORDS_PER_MINUTE))


#: The header's time line (the first cell's paragraph that starts with ``**Time.**``).
TIME_LINE = re.compile(r"^\*\*Time\.\*\*.*?(?=\n\n|\Z)", re.MULTILINE | re.DOTALL)


def time_line(book: dict, seconds: float, machine: str) -> str:
    """The header's time line of ``book`` (a notebook): its reading time
    (:func:`reading_minutes`) and the wall time of a full-profile run on ``machine``.

    >>> book = {"cells": [{"cell_type": "markdown", "source": "word " * 400}]}
    >>> notebook.time_line(book, 90.0, "a 2-core CPU").split("); ")[1]
    '1.5 min to run under the full profile on a 2-core CPU (runtime.csv).'
    """
    return (
        f"**Time.** About {reading_minutes(book)} min to read (the prose at {WORDS_PER_MINUTE} "
        f"words a minute; figures and code take longer); {seconds / 60:.1f} min to run under "
        f"the full profile on {machine} ({results.RUNTIME_FILE})."
    )


def stamp_time(book: dict, seconds: float, machine: str) -> None:
    """Write :func:`time_line` into ``book``'s header (its first cell), replacing the time line
    there. Raises :class:`XrayError` when the header has none."""
    header = book["cells"][0]
    source = "".join(header["source"])
    if not TIME_LINE.search(source):
        raise XrayError("the notebook's first cell has no **Time.** line to update")
    line = time_line(book, seconds, machine)
    header["source"] = TIME_LINE.sub(lambda _: line, source, count=1)
