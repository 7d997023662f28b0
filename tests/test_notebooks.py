"""The committed notebooks show their figures inline, not only as files in ``images/``."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from xraylib import notebook

DRAW = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1]);"


def _figure_notebook(path: Path, *sources: str) -> Path:
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


@pytest.mark.parametrize("path", notebook.series(), ids=lambda path: path.stem)
def test_every_cell_that_draws_shows_its_figure_inline(path):
    missing = notebook.cells_missing_figures(nbformat.read(path, as_version=4))
    assert not missing, (
        f"{path.name}: code cells {missing} draw a figure but hold no image/png output "
        "(executed with a non-inline MPLBACKEND?)"
    )


@pytest.mark.parametrize(
    ("source", "draws"),
    [
        ('plots.plot_class_counts(found.frame, save="01_class_counts");', True),
        ("fig = tuning.plot_trials(trials)", True),
        ("plots.show_examples(images, labels)", True),
        ("fig, ax = plt.subplots()", True),
        ("print(evaluate.compute_metrics(y, p, 0.5))", False),
        ("counts.plot.bar(ax=ax)  # an axes of an existing figure", False),
    ],
)
def test_a_cell_draws_when_it_calls_a_plot_or_show_function(source, draws):
    assert notebook.draws_figure(source) is draws


def test_a_drawing_cell_without_a_png_output_is_named_by_its_code_cell_number():
    book = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# title"),
            nbformat.v4.new_code_cell("import xraylib"),
            nbformat.v4.new_code_cell("plots.plot_roc_pr(y, p, 0.5);"),
        ]
    )
    assert notebook.cells_missing_figures(book) == [1]
    book.cells[2].outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "x"})
    ]
    assert notebook.cells_missing_figures(book) == []


def test_setup_outside_a_kernel_leaves_the_backend_alone():
    assert notebook.inline_figures() is False


def test_the_runner_shows_figures_even_when_the_shell_exports_mplbackend_agg(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = _figure_notebook(tmp_path / "99_figure.ipynb", DRAW)
    notebook.execute([path])
    assert notebook.cells_missing_figures(nbformat.read(path, as_version=4)) == []


def test_setup_in_a_kernel_that_inherited_mplbackend_agg_shows_figures(tmp_path):
    from nbclient import NotebookClient

    path = _figure_notebook(
        tmp_path / "figure.ipynb", "from xraylib import notebook\nnotebook.inline_figures()", DRAW
    )
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, kernel_name="python3").execute(env={**os.environ, "MPLBACKEND": "Agg"})
    assert book.cells[0].outputs[0]["data"]["text/plain"] == "True"
    assert notebook.cells_missing_figures(book) == []


def test_tensorflow_startup_lines_leave_the_saved_outputs_but_errors_and_prints_stay():
    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795571927.277398   25825 port.cc:153] oneDNN custom operations are on.\n"
    )
    error = "E0000 00:00:1795580361.738128    3450 node_def_util.cc:682] NodeDef mentions x\n"
    book = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {"output_type": "stream", "name": "stderr", "text": noise},
                    {"output_type": "stream", "name": "stderr", "text": noise + error},
                    {"output_type": "stream", "name": "stdout", "text": noise},
                ],
            },
            {"cell_type": "markdown", "source": "I0000 is not an output"},
        ]
    }
    cleaned = notebook.without_startup_noise(book)["cells"][0]["outputs"]
    assert [out["text"] for out in cleaned] == [error, noise]


def test_a_finished_progress_bar_leaves_nothing_and_other_stderr_stays() -> None:
    bar = ["\rfit:   0%|   | 0/20", "\rfit:  50%|#  | 10/20", "\r                   \r"]
    book = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    *({"output_type": "stream", "name": "stderr", "text": t} for t in bar),
                    {"output_type": "stream", "name": "stdout", "text": "run: 20 epochs\n"},
                    {"output_type": "stream", "name": "stderr", "text": "a real warning\n"},
                ],
            }
        ]
    }
    outputs = notebook.without_startup_noise(book)["cells"][0]["outputs"]
    assert [o["text"] for o in outputs] == ["run: 20 epochs\n", "a real warning\n"]
    assert notebook.as_terminal_shows("plain\n\nlines\n") == "plain\n\nlines\n"
