"""One module owns the files a run keeps: only :mod:`xraylib.results` (the results store) names,
opens, writes or globs ``data/results/``, ``data/models/`` and ``data/tuning/``'s files, saves
or loads a model file, or names a model's sidecars (``final.json``, ``NAME_gate.npz``).

The scan reads each module's source (not its docstrings, which may name the files they
describe) for three kinds of access: a call of the folders' accessors in :mod:`xraylib.config`,
a string that names a store file or folder, and Keras' model saving or loading.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import xraylib

PACKAGE = Path(xraylib.__file__).parent
#: The store itself, and config, which says where the output folders are.
OWNERS = {"results", "config"}
FOLDER_ACCESSORS = {"results_dir", "models_dir", "tuning_dir"}
#: A string naming a store file, a store file's ending or a store folder.
STORE_NAME = re.compile(
    r"""^(?:
        .*\.(?:keras)
      | .*_gate\.npz
      | .*_predictions\.csv
      | (?:.*/)?(?:metrics|stress|test_ledger|runtime|counts|comparison|shift|gate|originals
                 |trials)\.csv
      | (?:.*/)?(?:bench|final)\.json
      | data/(?:results|models|tuning)/?
    )$""",
    re.VERBOSE,
)
#: A store folder's name as a part of a path (``ROOT / "data" / "models"``).
FOLDER_PART = {"results", "models", "tuning", "history"}
#: Keras' own ways to read a model file.
KERAS_LOADERS = {"load_model", "save_model"}


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the string nodes that are docstrings (module, class or function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def store_access(source: str) -> list[str]:
    """Every place in ``source`` (one module's text) that reaches the store's files without
    the store: ``"line N: what"``, in order."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    path_parts = {
        id(side)
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
        for side in (node.left, node.right)
    }
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.Attribute) and node.attr in FOLDER_ACCESSORS:
            what = f"the folder accessor {node.attr}"
        elif isinstance(node, ast.Name) and node.id in FOLDER_ACCESSORS:
            what = f"the folder accessor {node.id}" if id(node) in called else None
        elif isinstance(node, ast.Attribute) and node.attr in KERAS_LOADERS:
            owner = ast.unparse(node.value)
            if owner.split(".")[0] in {"keras", "tf", "tensorflow"}:
                what = f"Keras' {owner}.{node.attr}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = STORE_NAME.match(node.value) and id(node) not in docstrings
            if named or (node.value in FOLDER_PART and id(node) in path_parts):
                what = f"the store name {node.value!r}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"save", "save_weights"}
            and "model" in ast.unparse(node.func.value).lower()
        ):
            what = f"a model saved by {ast.unparse(node.func)}"
        if what:
            found.append((node.lineno, what))
    return [f"line {line}: {what}" for line, what in sorted(set(found))]


def modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(PACKAGE.glob("*.py"))}


def test_the_scan_finds_each_kind_of_access():
    source = '''
"""A docstring may say metrics.csv and data/models/final.keras."""
import keras
from xraylib import config

def f(model, name):
    """And so may this one: bench.json."""
    config.results_dir() / "metrics.csv"
    keras.models.load_model(config.ROOT / "data" / "models" / f"{name}.keras")
    models.uncompiled(model).save("x")
    return "no file here", f"{name}_gate.npz", "data/results", "trials.csv"
'''
    found = store_access(source)
    assert found == [
        "line 8: the folder accessor results_dir",
        "line 8: the store name 'metrics.csv'",
        "line 9: Keras' keras.models.load_model",
        "line 9: the store name '.keras'",
        "line 9: the store name 'models'",
        "line 10: a model saved by models.uncompiled(model).save",
        "line 11: the store name '_gate.npz'",
        "line 11: the store name 'data/results'",
        "line 11: the store name 'trials.csv'",
    ]
    assert store_access('"""metrics.csv"""\nx = "results of the search"\n') == []


def test_the_store_itself_reaches_the_files():
    found = store_access(modules()["results"].read_text())
    assert any("results_dir" in line for line in found)
    assert any("load_model" in line for line in found)


@pytest.mark.parametrize("name", sorted(set(modules()) - OWNERS))
def test_only_the_store_reaches_the_results_and_model_files(name: str):
    found = store_access(modules()[name].read_text())
    assert not found, f"xraylib/{name}.py reaches the store's files: " + "; ".join(found)
