"""The series reads as a lesson: a short core with exercises, optional appendices after it.

The core notebooks (``01``-``07``) carry the through-line: each holds at most
:data:`CORE_WORDS` words of markdown prose, all of them together at most :data:`SERIES_WORDS`,
and each ends with a markdown cell headed ``## Exercises`` that asks three to five numbered
questions. Every notebook, core or appendix (``NN_appendix_*``), opens with the same header: a
title cell with a **Question.** and a **Time.** paragraph (reading time and run time), then a
setup cell that calls ``xraylib.setup()``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from xraylib import notebook

#: The most words of markdown prose one core notebook may hold (about 15 minutes of reading).
CORE_WORDS = 1300
#: The most words of markdown prose all core notebooks together may hold (about two hours).
SERIES_WORDS = 7500
#: How many exercises a core notebook asks.
EXERCISES = range(3, 6)


def is_appendix(path: Path) -> bool:
    """Whether a notebook of the series is an optional appendix (``NN_appendix_*``)."""
    return path.stem.split("_", 1)[1].startswith("appendix")


def core_notebooks() -> list[Path]:
    """The core notebooks of the series, in reading order."""
    return [path for path in notebook.series() if not is_appendix(path)]


def prose_words(book: nbformat.NotebookNode) -> int:
    """Words of a notebook's markdown cells (whitespace-separated, as a reader counts them)."""
    return sum(len(cell.source.split()) for cell in book.cells if cell.cell_type == "markdown")


def exercises(book: nbformat.NotebookNode) -> list[str]:
    """The numbered exercises of the last cell when it is headed exactly ``## Exercises``."""
    last = book.cells[-1]
    if last.cell_type != "markdown" or not last.source.startswith("## Exercises\n"):
        return []
    return re.findall(r"^\d+\.\s+(.+)", last.source, flags=re.MULTILINE)


def header_problems(book: nbformat.NotebookNode, appendix: bool) -> list[str]:
    """What a notebook's header lacks: the title cell's parts and the setup cell."""
    title = book.cells[0].source if book.cells and book.cells[0].cell_type == "markdown" else ""
    heading = r"# \d\d · Appendix: " if appendix else r"# \d\d · "
    problems = [] if re.match(heading, title) else [f"a first cell titled {heading!r}"]
    problems += [part for part in ("**Question.**", "**Time.** Reading") if part not in title]
    if not re.search(r"\*\*Time\.\*\*[^\n]*\n?[^\n]*running", title):
        problems.append("the run time in the **Time.** paragraph")
    setup = next((cell.source for cell in book.cells if cell.cell_type == "code"), "")
    if "xraylib.setup()" not in setup:
        problems.append("a first code cell calling xraylib.setup()")
    return problems


@pytest.mark.parametrize("path", core_notebooks(), ids=lambda path: path.stem)
def test_a_core_notebook_is_read_in_about_fifteen_minutes(path: Path) -> None:
    words = prose_words(nbformat.read(path, as_version=4))
    assert words <= CORE_WORDS, f"{path.name}: {words} words of prose (at most {CORE_WORDS})"


def test_the_core_is_read_in_about_two_hours() -> None:
    words = {path.name: prose_words(nbformat.read(path, as_version=4)) for path in core_notebooks()}
    assert sum(words.values()) <= SERIES_WORDS, f"{sum(words.values())} words in all: {words}"


@pytest.mark.parametrize("path", core_notebooks(), ids=lambda path: path.stem)
def test_a_core_notebook_ends_with_three_to_five_exercises(path: Path) -> None:
    found = exercises(nbformat.read(path, as_version=4))
    assert len(found) in EXERCISES, (
        f"{path.name}: {len(found)} exercises in a last cell headed '## Exercises' "
        f"(want {EXERCISES.start}-{EXERCISES.stop - 1})"
    )


@pytest.mark.parametrize("path", notebook.series(), ids=lambda path: path.stem)
def test_every_notebook_opens_with_the_same_header(path: Path) -> None:
    problems = header_problems(nbformat.read(path, as_version=4), is_appendix(path))
    assert not problems, f"{path.name} lacks: {', '.join(problems)}"


# -- the checks on tiny synthetic notebooks ----------------------------------------------------

TITLE = "# 08 · Appendix: a topic\n\n**Question.** Why?\n\n**Time.** Reading 5 minutes; running 1."


def _book(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=list(cells))


def test_an_appendix_is_named_by_its_file() -> None:
    assert is_appendix(Path("08_appendix_adaptation_and_shift.ipynb"))
    assert not is_appendix(Path("06_final_evaluation.ipynb"))


def test_exercises_count_only_in_a_last_cell_headed_exercises() -> None:
    asked = nbformat.v4.new_markdown_cell("## Exercises\n\n1. Why?\n2. How?\n   more\n3. Run it.")
    assert len(exercises(_book(asked))) == 3
    late = nbformat.v4.new_markdown_cell("## What we learned\n\n## Exercises\n\n1. Why?")
    assert exercises(_book(late)) == []
    assert exercises(_book(asked, nbformat.v4.new_code_cell("x = 1"))) == []


def test_a_header_without_time_or_setup_is_named() -> None:
    setup = nbformat.v4.new_code_cell("import xraylib\n\nprofile = xraylib.setup()")
    assert header_problems(_book(nbformat.v4.new_markdown_cell(TITLE), setup), True) == []
    bare = nbformat.v4.new_markdown_cell("# 08 · Appendix: a topic\n\n**Question.** Why?")
    problems = header_problems(_book(bare, nbformat.v4.new_code_cell("x = 1")), True)
    assert problems == [
        "**Time.** Reading",
        "the run time in the **Time.** paragraph",
        "a first code cell calling xraylib.setup()",
    ]
    assert header_problems(_book(nbformat.v4.new_markdown_cell(TITLE), setup), False) == []
    core_title = nbformat.v4.new_markdown_cell(TITLE.replace("Appendix: ", ""))
    assert header_problems(_book(core_title, setup), True)[0].startswith("a first cell titled")


def test_prose_words_count_markdown_only() -> None:
    book = _book(nbformat.v4.new_markdown_cell("one two\nthree"), nbformat.v4.new_code_cell("a b"))
    assert prose_words(book) == 3
