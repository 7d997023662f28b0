"""The series reads as a lesson: seven core notebooks a student follows in about two hours,
each within its prose budget and ending with exercises, then optional appendices that open the
same way, one of them the exercises' solutions, which never read the test set."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from xraylib import config

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
CORE = [path for path in NOTEBOOKS if "_appendix_" not in path.stem]
APPENDICES = [path for path in NOTEBOOKS if "_appendix_" in path.stem]
#: The appendices of the series, after the seven core notebooks.
EXPECTED_APPENDICES = [
    "08_appendix_adaptation_and_shift",
    "09_appendix_input_gate_and_dicom",
    "10_appendix_exercise_solutions",
]
SOLUTIONS = config.NOTEBOOKS_DIR / "10_appendix_exercise_solutions.ipynb"
#: Words of markdown prose per core notebook, and in all core notebooks together.
WORDS_PER_CORE_NOTEBOOK = 1300
WORDS_IN_CORE = 7500


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def prose_words(path: Path) -> int:
    """Words of the notebook's markdown cells (split on white space)."""
    return sum(len(cell.source.split()) for cell in _cells(path) if cell.cell_type == "markdown")


def _ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def test_the_series_is_seven_core_notebooks_then_the_appendices() -> None:
    assert [path.name[:2] for path in CORE] == [f"{k:02d}" for k in range(1, 8)]
    assert _ids(APPENDICES) == EXPECTED_APPENDICES


@pytest.mark.parametrize("path", CORE, ids=_ids(CORE))
def test_a_core_notebook_keeps_its_prose_within_budget(path: Path) -> None:
    words = prose_words(path)
    assert words <= WORDS_PER_CORE_NOTEBOOK, (
        f"{path.name}: {words} words of markdown, more than {WORDS_PER_CORE_NOTEBOOK}"
    )


def test_the_core_notebooks_together_keep_their_prose_within_budget() -> None:
    words = {path.stem: prose_words(path) for path in CORE}
    assert sum(words.values()) <= WORDS_IN_CORE, f"{sum(words.values())} words in all: {words}"


@pytest.mark.parametrize("path", CORE, ids=_ids(CORE))
def test_a_core_notebook_ends_with_three_to_five_exercises(path: Path) -> None:
    last = _cells(path)[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Exercises\n"), (
        f"{path.name} does not end with a markdown cell headed '## Exercises'"
    )
    exercises = re.findall(r"^\d+\. ", last.source, re.MULTILINE)
    assert 3 <= len(exercises) <= 5, f"{path.name}: {len(exercises)} exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_notebook_opens_with_title_question_time_and_the_setup_cell(path: Path) -> None:
    cells = _cells(path)
    header, setup = cells[0], cells[1]
    assert header.cell_type == "markdown"
    assert re.match(rf"# {path.name[:2]} · \S", header.source), f"{path.name}: no '# NN · title'"
    assert "**Question.**" in header.source, f"{path.name}: the header states no question"
    time_line = re.search(r"^\*\*Time\.\*\*(.*?)(?:\n\n|\Z)", header.source, re.M | re.S)
    assert time_line and "read" in time_line[1] and "full profile" in time_line[1], (
        f"{path.name}: the header's **Time.** line gives no reading time and full-profile run time"
    )
    assert setup.cell_type == "code" and "xraylib.setup()" in setup.source, (
        f"{path.name}: the second cell is not the setup cell"
    )


def test_the_solutions_have_a_section_per_core_notebook() -> None:
    headings = re.findall(
        r"^## (\d\d) · ",
        "\n".join(cell.source for cell in _cells(SOLUTIONS) if cell.cell_type == "markdown"),
        re.MULTILINE,
    )
    assert headings == [f"{k:02d}" for k in range(1, 8)]


def test_the_solutions_never_load_test_images() -> None:
    code = "\n".join(cell.source for cell in _cells(SOLUTIONS) if cell.cell_type == "code")
    for reads_test in ("load_test", "x_test", "y_test", "test_predictions"):
        assert reads_test not in code, f"the solutions use {reads_test}"
