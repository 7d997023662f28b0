"""Rules between xraylib's modules, read from the sources: the run's settings are read from the
environment in a few known places only, and a public name means one thing in the package."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import xraylib

PACKAGE = Path(xraylib.__file__).parent

#: The modules allowed to read the environment or the run's profile, and how often they do.
#: ``config`` reads ``XRAY_*``; the entry points (``__main__``: the command line,
#: ``notebook``: :func:`xraylib.setup` and the notebook runner) call ``config.profile()`` once
#: each and pass the result down. The others speak a library's protocol, which is made of
#: environment variables: keras-tuner's chief and workers find each other by
#: ``KERASTUNER_*`` (``cluster``), TensorFlow's multi-worker strategy reads ``TF_CONFIG``
#: (``distribute``), and the package silences TensorFlow's C++ log before it loads
#: (``__init__``).
ALLOWED = {
    "config": 4,
    "__main__": 1,
    "notebook": 3,
    "cluster": 7,
    "distribute": 1,
    "__init__": 1,
}


def environment_reads(source: str) -> int:
    """How many times ``source`` touches ``os.environ`` or ``os.getenv``, imports either from
    ``os``, or calls ``config.profile(…)`` or ``config.seed(…)``."""
    found = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            found += pair in {("os", "environ"), ("os", "getenv")}
            found += pair in {("config", "profile"), ("config", "seed")}
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += sum(alias.name in {"environ", "getenv"} for alias in node.names)
    return found


def test_environment_reads_are_counted_from_the_source():
    source = (
        "import os\nfrom os import getenv\nfrom xraylib import config\n"
        "a = os.environ.get('X')\nb = os.getenv('Y')\nc = config.profile()\n"
        "d = config.seed()\ne = config.DEFAULT_SEED\n"
    )
    assert environment_reads(source) == 5


def test_only_config_and_the_entry_points_read_the_environment():
    found = Counter()
    for path in sorted(PACKAGE.glob("*.py")):
        if count := environment_reads(path.read_text()):
            found[path.stem] = count
    assert dict(found) == ALLOWED, (
        "a library function takes its settings as arguments; only config and the entry points "
        "read the environment or the profile"
    )


def public_definitions(source: str) -> set[str]:
    """The public (no leading underscore) names that ``source`` defines at its top level:
    functions, classes and assigned names (``TYPE_CHECKING`` imports and re-exports are not
    definitions)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def test_public_definitions_are_read_from_the_source():
    source = "X = 1\nY: int = 2\n_z = 3\ndef f(): pass\nclass C: pass\nimport os\n"
    assert public_definitions(source) == {"X", "Y", "f", "C"}


def test_no_public_name_is_defined_in_two_modules():
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem != "__init__":
            for name in public_definitions(path.read_text()):
                where.setdefault(name, []).append(path.stem)
    twice = {name: modules for name, modules in where.items() if len(modules) > 1}
    assert not twice, f"one meaning per name; defined in several modules: {twice}"
