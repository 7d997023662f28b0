"""Prose quotes only numbers that an output shows (issue 22).

A decimal number written in a notebook's markdown (``0.156``, ``94.8%``, ``-0.03``, each end
of ``0.120–0.124``) must equal, *at the precision the prose writes it*, some number printed in
that notebook's outputs (stream text, ``text/plain``, ``text/html`` tables; never images):

* prose ``0.12`` is shown by an output ``0.1234`` (rounded to the prose's two places), not by
  ``0.13`` nor by a less precise ``0.1`` (an output with fewer places shows the prose number only
  when it is numerically equal: ``0.15`` shows ``0.150``);
* a prose percentage is shown by a fraction or by a percentage: ``94.8%`` by ``0.948``,
  ``0.9481``, ``94.8`` or ``94.8%``; a prose fraction ``0.948`` by an output ``94.8%``;
* a number that appears in the notebook's code cells is a parameter the reader can see, and
  is exempt; so are the few numbers of :data:`EXEMPT`, each with its reason.

Integers are not checked, nor numbers in inline code, fenced code, LaTeX, link targets,
HTML tags and comments, URLs, DOIs, licence names (``CC BY 4.0``), version strings and IP
addresses (``3.15.1``, ``10.0.0.1``).

The same rule holds README.md (outside its generated ``<!-- NAME:start -->`` blocks, which
``test_readme.py`` compares with the files) against every CSV and JSON file of
``data/results/`` and the source of ``xraylib/config.py`` (the profiles), and presentation.pdf's
text (read with pypdf, a dev dependency, so it runs wherever the tests do) against
``data/results/``, ``data/models/final.json`` and the source of ``xraylib/results.py`` (the
quality targets); tick labels of a plot axis are left out. Another test checks that no text
string of ``xraylib/presentation.py`` types a decimal number in.

A failure lists one line per offending number, e.g.
``notebooks/03_cnn_iterations.ipynb cell 7: 0.156 appears in no output of this notebook``,
where ``cell 7`` is the index in the notebook's list of cells (``nb.cells[7]``, counting
markdown and code cells from 0). Each file is its own test:
``pytest tests/test_prose.py -k 03_cnn`` checks one notebook, ``-k readme`` the README.
"""

from __future__ import annotations

import ast
import csv
import html
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import nbformat
import pytest
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
README = ROOT / "README.md"
RESULTS_DIR = ROOT / "data" / "results"
PRESENTATION = ROOT / "presentation.pdf"

#: Numbers the prose may quote although no output (README, presentation: no results file)
#: shows them: ``file (relative to the project) → {number as written: reason}``. Keep it
#: short; a parameter written in a code cell is exempt without an entry here.
EXEMPT: dict[str, dict[str, str]] = {
    "README.md": {
        "3.11": "the Python version the project requires (pyproject.toml: requires-python)",
    },
    "notebooks/01_eda_class_imbalance.ipynb": {
        "0.79": "measured when the data copy was prepared (its data card); the prose says so",
    },
}

#: The most decimal places a candidate is rounded to (prose rarely writes more than four).
MAX_PLACES = 8
_CONTEXT = Context(prec=60)
_MINUS = "-\u2212"  # hyphen-minus and the minus sign
_NUMBER = re.compile(
    r"(?<![\w.,])"  # not the tail of a word, a longer number or a version
    rf"(?P<sign>[{_MINUS}+]?)"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)"  # 1,341 or 1341
    r"(?P<frac>\.\d+)?"
    rf"(?P<exp>[eE][{_MINUS}+]?\d+)?"
    r"(?P<percent>\s?%)?"
)
#: A dash between two numbers makes a range, not a sign: ``0.12-0.13``, ``0.36–0.56%``.
_RANGE_JOIN = re.compile(r"\s*(?:[-\u2013\u2014]|to)\s*")
#: Text that is not prose: replaced by spaces (so positions and line numbers keep).
_NOT_PROSE = [
    re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL),  # fenced code
    re.compile(r"(`+).+?\1", re.DOTALL),  # inline code
    re.compile(r"<!--.*?-->", re.DOTALL),  # HTML comment
    re.compile(r"\$\$.+?\$\$", re.DOTALL),  # display LaTeX
    re.compile(r"\$[^$\n]+\$"),  # inline LaTeX
    re.compile(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"),  # a link's target: [text](target "title")
    re.compile(r"<[A-Za-z/][^>]*>"),  # an HTML tag and its attributes
    re.compile(r"\b(?:https?://|www\.|doi:)\S+", re.IGNORECASE),  # URL, DOI
    re.compile(r"\bCC[- ]BY(?:[- ](?:SA|NC|ND))*[- ]\d+\.\d+"),  # a licence: CC BY 4.0
    # a header's time line: written by the full-profile run from runtime.csv, checked against
    # that file by test_rerun.py
    re.compile(r"^\*\*Time\.\*\*.*?(?=\n\n|\Z)", re.MULTILINE | re.DOTALL),
]
#: Version strings, IP addresses and dotted dates: three or more dotted parts (2.21.0).
_VERSION = re.compile(r"\bv?\d+(?:\.\d+){2,}\b")
_GENERATED = re.compile(r"<!-- (\w+):start -->.*?<!-- \1:end -->", re.DOTALL)


@dataclass(frozen=True)
class Number:
    """A number as written.

    Attributes:
        text: the characters as written, e.g. ``"94.8%"`` or ``"−0.03"``.
        value: its signed value on the written scale (``94.8`` for ``"94.8%"``).
        percent: whether it is written as a percentage.
        start: its offset in the text it was read from.
    """

    text: str
    value: Decimal
    percent: bool
    start: int = 0

    @property
    def places(self) -> int:
        """Decimal places as written: 3 for ``0.120``, 0 for ``1341``."""
        return max(0, -int(self.value.as_tuple().exponent))

    @property
    def is_decimal(self) -> bool:
        """Whether it is written with a decimal point (the only numbers the prose check reads)."""
        return "." in self.text


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` with every match of ``pattern`` replaced by spaces (newlines kept)."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def numbers_in(text: str) -> list[Number]:
    """Every number in ``text`` (integers too), version strings left out.

    A hyphen or dash right after a digit joins a range and is not a sign (``0.12-0.13`` gives
    ``0.12`` and ``0.13``); thousands separators are read (``1,341`` is 1341); in a range whose
    second end is a percentage the first end is one too (``0.36–0.56%``).

    >>> [n.text for n in numbers_in("between −0.03 and +0.04, 1,341 images, 1.1–2.3%")]
    ['−0.03', '+0.04', '1,341', '1.1', '2.3%']
    """
    text = _blank(text, _VERSION)
    found: list[Number] = []
    for match in _NUMBER.finditer(text):
        sign = "-" if match["sign"] in _MINUS and match["sign"] else ""
        digits = match["int"].replace(",", "") + (match["frac"] or "")
        exponent = (match["exp"] or "").replace("\u2212", "-")
        try:
            value = Decimal(sign + digits + exponent)
        except InvalidOperation:  # pragma: no cover - the pattern only matches numbers
            continue
        found.append(
            Number(
                match[0].rstrip("% ") + ("%" if match["percent"] else ""),
                value,
                bool(match["percent"]),
                match.start(),
            )
        )
    for k in range(len(found) - 1):
        first, second = found[k], found[k + 1]
        between = text[first.start + len(first.text) : second.start]
        if second.percent and not first.percent and _RANGE_JOIN.fullmatch(between):
            found[k] = Number(first.text, first.value, True, first.start)
    return found


def prose_text(markdown: str) -> str:
    """``markdown`` with everything that is not prose blanked out (see :data:`_NOT_PROSE`)."""
    for pattern in _NOT_PROSE:
        markdown = _blank(markdown, pattern)
    return markdown


def prose_numbers(markdown: str) -> list[Number]:
    """The decimal numbers of a markdown text's prose (see the module docstring).

    >>> [n.text for n in prose_numbers("AUC 0.961 (`lr=0.001`), 94.8%, [v](x/0.5), 2.21.0, 7")]
    ['0.961', '94.8%']
    """
    return [number for number in numbers_in(prose_text(markdown)) if number.is_decimal]


class Shown:
    """The numbers a set of outputs shows, indexed for a look-up at any precision."""

    def __init__(self, numbers: Iterable[Number] = ()):
        self._fractions: set[tuple[int, Decimal]] = set()
        self._percents: set[tuple[int, Decimal]] = set()
        for number in numbers:
            self.add(number)

    def add(self, number: Number) -> None:
        """Index one output number: as a fraction and as a percentage.

        An output ``0.948`` reads as the fraction 0.948 and as the percentage 94.8; ``94.8``
        also as the percentage 94.8; ``94.8%`` as the percentage 94.8 and the fraction 0.948.
        """
        value = number.value
        if number.percent:
            self._index(self._percents, value)
            self._index(self._fractions, value.scaleb(-2))
        else:
            self._index(self._fractions, value)
            self._index(self._percents, value)
            self._index(self._percents, value.scaleb(2))

    @staticmethod
    def _index(into: set[tuple[int, Decimal]], value: Decimal) -> None:
        """Add ``value`` rounded to 0 … :data:`MAX_PLACES` places, both ways of rounding a tie.

        Rounding to more places than ``value`` has is exact, so a less precise output only
        shows a prose number equal to it (``0.15`` shows ``0.150``, not ``0.152``).
        """
        for places in range(MAX_PLACES + 1):
            unit = Decimal(1).scaleb(-places)
            for rounding in (ROUND_HALF_UP, ROUND_HALF_EVEN):
                try:
                    into.add((places, value.quantize(unit, rounding, _CONTEXT)))
                except InvalidOperation:  # too many digits for the context: no such look-up
                    break

    def __contains__(self, number: object) -> bool:
        """Whether ``number`` (a :class:`Number` of prose) is shown at its own precision."""
        if not isinstance(number, Number):
            return False
        index = self._percents if number.percent else self._fractions
        return (number.places, number.value) in index

    def __len__(self) -> int:
        return len(self._fractions)


def _text(value: Any) -> str:
    """A notebook field as one string (nbformat keeps lists of lines in files)."""
    return "".join(value) if isinstance(value, list) else str(value)


def html_text(markup: str) -> str:
    """The text of an HTML fragment (a pandas table): tags and styles out, entities decoded."""
    markup = re.sub(r"<(style|script)\b.*?</\1>", " ", markup, flags=re.DOTALL | re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def output_texts(notebook: dict[str, Any]) -> Iterator[str]:
    """The text of every output a reader sees: streams, ``text/*`` results; never images or
    tracebacks."""
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                yield _text(output["text"])
            elif output["output_type"] in ("execute_result", "display_data"):
                for mime, content in output.get("data", {}).items():
                    if mime == "text/html":
                        yield html_text(_text(content))
                    elif mime.startswith("text/"):
                        yield _text(content)


def code_sources(notebook: dict[str, Any]) -> Iterator[str]:
    """The source of every code cell."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            yield _text(cell["source"])


def shown_by(texts: Iterable[str]) -> Shown:
    """Every number in ``texts``, indexed."""
    return Shown(number for text in texts for number in numbers_in(text))


def notebook_problems(
    notebook: dict[str, Any], name: str, exempt: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """Check one notebook's prose against its outputs.

    Args:
        notebook: the notebook (nbformat node or plain dict in nbformat 4 layout).
        name: how a failure line names it (``notebooks/03_cnn_iterations.ipynb``).
        exempt: numbers as written that need no output (with their reasons).

    Returns:
        The count of decimal numbers checked and one line per number no output shows.
    """
    exempt = exempt or {}
    shown, in_code = shown_by(output_texts(notebook)), shown_by(code_sources(notebook))
    checked, problems = 0, []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for number in prose_numbers(_text(cell["source"])):
            checked += 1
            if number in shown or number in in_code or number.text in exempt:
                continue
            problems.append(
                f"{name} cell {index}: {number.text} appears in no output of this notebook"
            )
    return checked, problems


def readme_prose(readme: str) -> str:
    """The README with its generated blocks blanked (their lines kept, so line numbers hold)."""
    return _blank(readme, _GENERATED)


def file_texts(folder: Path) -> Iterator[str]:
    """Every cell of every CSV file and every value of every JSON file under ``folder``.

    JSON numbers keep their written digits (``parse_float=str``); a CSV is read cell by cell,
    so ``0.5,600`` is two numbers, not one with a thousands separator.
    """
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".csv":
            yield from (cell for row in csv.reader(io.StringIO(path.read_text())) for cell in row)
        elif path.suffix == ".json":
            yield from _json_values(json.loads(path.read_text(), parse_float=str, parse_int=str))


def _json_values(value: Any) -> Iterator[str]:
    """The leaves (and keys) of a parsed JSON value as strings."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_values(item)
    else:
        yield str(value)


def text_problems(
    text: str, name: str, where: str, shown: Shown, exempt: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """Check the decimal numbers of a plain text (README prose, a PDF page) against ``shown``.

    Returns the count checked and one line per number not shown:
    ``{name} line {n}: {number} appears in {where}``.
    """
    exempt = exempt or {}
    checked, problems = 0, []
    for number in prose_numbers(text):
        checked += 1
        if number in shown or number.text in exempt:
            continue
        line = text.count("\n", 0, number.start) + 1
        problems.append(f"{name} line {line}: {number.text} appears in {where}")
    return checked, problems


def _report(checked: int, problems: list[str]) -> str:
    return f"{len(problems)} of {checked} decimal numbers are shown nowhere:\n" + "\n".join(
        problems
    )


# -- the committed files ---------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_prose_quotes_only_numbers_its_outputs_show(path: Path) -> None:
    name = path.relative_to(ROOT).as_posix()
    notebook = nbformat.read(path, as_version=4)
    checked, problems = notebook_problems(notebook, name, EXEMPT.get(name))
    assert not problems, _report(checked, problems)


def _results_shown(*extra: Path) -> Shown:
    """Numbers of every file under ``data/results/`` and of the source files ``extra``."""
    texts = list(file_texts(RESULTS_DIR))
    texts += [path.read_text() for path in extra]
    return shown_by(texts)


def test_readme_prose_quotes_only_numbers_of_the_results_files() -> None:
    shown = _results_shown(ROOT / "xraylib" / "config.py")
    checked, problems = text_problems(
        readme_prose(README.read_text()),
        "README.md",
        "no file of data/results/ nor xraylib/config.py",
        shown,
        EXEMPT.get("README.md"),
    )
    assert not problems, _report(checked, problems)


def pdf_pages(path: Path) -> list[str]:
    """The text of each page of a PDF, laid out as on the page (pypdf's layout mode: one line
    of text per printed line, so an axis's tick labels stay on a line of their own)."""
    from pypdf import PdfReader

    return [page.extract_text(extraction_mode="layout") for page in PdfReader(path).pages]


def is_axis(line: str) -> bool:
    """Whether a line of text is a plot axis: only numbers, at least three, evenly spaced.

    >>> is_axis("0.825 0.850 0.875 0.900"), is_axis("0.961 0.957 0.2")
    (True, False)
    """
    numbers = numbers_in(line)
    if len(numbers) < 3 or re.sub(r"[\d.,%\s\-]", "", line):
        return False
    steps = {b.value - a.value for a, b in zip(numbers, numbers[1:], strict=False)}
    return len(steps) == 1


def pdf_problems(path: Path) -> tuple[int, list[str]]:
    """The decimal numbers of a PDF's text (plot axes left out) checked against the results
    files, ``final.json`` and the targets of ``xraylib/results.py``: as :func:`text_problems`,
    summed over the pages."""
    shown = _results_shown(ROOT / "data" / "models" / "final.json", ROOT / "xraylib" / "results.py")
    checked, problems = 0, []
    for page, text in enumerate(pdf_pages(path), start=1):
        prose = "\n".join("" if is_axis(line) else line for line in text.splitlines())
        count, found = text_problems(
            prose,
            f"{path.name} page {page}",
            "no file of data/results/, final.json nor the targets of xraylib/results.py",
            shown,
            EXEMPT.get(path.name),
        )
        checked += count
        problems += found
    return checked, problems


def test_presentation_quotes_only_numbers_of_the_results_files() -> None:
    checked, problems = pdf_problems(PRESENTATION)
    assert checked, "no decimal number read from presentation.pdf: is its text extractable?"
    assert not problems, _report(checked, problems)


def test_a_pdf_number_no_results_file_shows_fails_and_an_axis_does_not(tmp_path: Path) -> None:
    """The PDF check on a one-page PDF: a typed-in number fails with its page, a plot axis's
    evenly spaced tick labels are left out."""
    figure = Figure(figsize=(6, 4))
    figure.text(0.1, 0.9, "sensitivity 0.8642 on the check set")
    figure.add_axes((0.1, 0.2, 0.8, 0.5), yticks=[]).set_xticks([0.25, 0.5, 0.75])
    figure.savefig(tmp_path / "slides.pdf")
    checked, problems = pdf_problems(tmp_path / "slides.pdf")
    assert checked == 1 and len(problems) == 1
    assert problems[0].startswith("slides.pdf page 1 line 1: 0.8642 appears in no file")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ``id`` of every docstring node of a module, class or function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def typed_in_numbers(source: str) -> list[tuple[int, str]]:
    """Decimal numbers typed into the text strings of Python ``source``: ``(line, number)``.

    Docstrings are not text a reader of the output sees and are left out, and so are the
    values of ``key=value`` style specifications (``"round,pad=0.02"``, a matplotlib box).

    >>> typed_in_numbers('text = f"AUC {auc:.3f} against 0.968"\\nbox = "round,pad=0.02"')
    [(1, '0.968')]
    """
    tree = ast.parse(source)
    skipped = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skipped
        ):
            text = re.sub(r"=[-\d.]+", "=", node.value)
            found += [(node.lineno, number.text) for number in prose_numbers(text)]
    return sorted(found)


def test_presentation_types_no_decimal_number_into_its_text() -> None:
    """Every number of the slides comes from the results files, none from presentation.py."""
    path = ROOT / "xraylib" / "presentation.py"
    typed = typed_in_numbers(path.read_text())
    assert not typed, "\n".join(
        f"xraylib/presentation.py line {line}: {number} is typed into a text string"
        for line, number in typed
    )


@pytest.mark.parametrize("name", sorted(EXEMPT))
def test_every_exemption_is_still_quoted(name: str) -> None:
    """An exemption whose number the prose no longer writes is removed from :data:`EXEMPT`."""
    path = ROOT / name
    if path.suffix == ".ipynb":
        notebook = nbformat.read(path, as_version=4)
        cells = [cell for cell in notebook.cells if cell.cell_type == "markdown"]
        written = {number.text for cell in cells for number in prose_numbers(cell.source)}
    elif path.suffix == ".pdf":
        written = {number.text for page in pdf_pages(path) for number in prose_numbers(page)}
    else:
        written = {number.text for number in prose_numbers(readme_prose(path.read_text()))}
    unused = sorted(set(EXEMPT[name]) - written)
    assert not unused, f"{name}: exempt numbers no longer in the prose: {unused}"


# -- the matcher on tiny synthetic notebooks ---------------------------------------------------


def _notebook(markdown: str, *outputs: dict[str, Any], code: str = "x") -> dict[str, Any]:
    """A notebook of one code cell with ``outputs`` (stream text or mime bundles), then one
    markdown cell (cell 1)."""
    made = []
    for output in outputs:
        if "text" in output:
            made.append(nbformat.v4.new_output("stream", name="stdout", text=output["text"]))
        else:
            made.append(nbformat.v4.new_output("display_data", data=output))
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(code, outputs=made),
            nbformat.v4.new_markdown_cell(markdown),
        ]
    )


def _failing(markdown: str, *outputs: dict[str, Any], code: str = "x") -> list[str]:
    """The numbers of ``markdown`` that the outputs do not show."""
    _, problems = notebook_problems(_notebook(markdown, *outputs, code=code), "nb.ipynb")
    return [line.split(": ", 1)[1].split(" appears")[0] for line in problems]


def test_a_number_an_output_shows_passes_and_one_it_does_not_fails_with_its_cell() -> None:
    book = _notebook("ROC AUC 0.961, log-loss 0.156.", {"text": "roc_auc 0.9610, n 624\n"})
    checked, problems = notebook_problems(book, "notebooks/03_cnn_iterations.ipynb")
    assert checked == 2
    assert problems == [
        "notebooks/03_cnn_iterations.ipynb cell 1: 0.156 appears in no output of this notebook"
    ]


def test_a_prose_number_matches_an_output_at_the_prose_precision() -> None:
    shows = {"text": "0.1234 0.125 0.15 0.9\n"}
    assert _failing("0.12 and 0.123 and 0.1234", shows) == []
    assert _failing("0.13 (a tie rounds either way) and 0.150", shows) == []
    assert _failing("0.124", shows) == ["0.124"]  # 0.1234 rounds to 0.123
    assert _failing("0.1235", shows) == ["0.1235"]  # more places than any output
    assert _failing("0.90 but not 0.901", shows) == ["0.901"]  # 0.9 shows only 0.90


def test_percentages_and_fractions_show_each_other() -> None:
    for output in ("0.948", "0.9481", "94.8", "94.8%", "94.81 %"):
        assert _failing("it catches 94.8% of pneumonias", {"text": output}) == [], output
    assert _failing("sensitivity 0.948", {"text": "94.8%"}) == []
    assert _failing("94.8%", {"text": "0.947"}) == ["94.8%"]
    assert _failing("0.9481", {"text": "94.8%"}) == ["0.9481"]  # the output is less precise
    assert _failing("94.8", {"text": "0.948"}) == ["94.8"]  # a plain number is no percentage


def test_both_ends_of_a_range_are_checked() -> None:
    shows = {"text": "lowest 0.1201, highest 0.1238, 0.12 0.13\n"}
    assert _failing("between 0.120–0.124 and 0.12-0.13", shows) == []
    assert _failing("between 0.120–0.125", shows) == ["0.125"]
    assert _failing("flagged 1.1–2.3%", {"text": "0.011 0.023"}) == []  # a percent range
    assert _failing("from 0.12 to 0.13", shows) == []


def test_negative_numbers_keep_their_sign() -> None:
    assert _failing("a gap between −0.03 and +0.04", {"text": "gap -0.031 0.04"}) == []
    assert _failing("a gap of −0.03", {"text": "gap 0.03"}) == ["−0.03"]
    assert [n.value for n in numbers_in("0.12-0.13, -0.5, x-0.2")] == [
        Decimal("0.12"),
        Decimal("0.13"),
        Decimal("-0.5"),
        Decimal("0.2"),
    ]


def test_numbers_in_an_html_table_and_with_thousands_separators_are_read() -> None:
    table = {
        "text/html": "<table><tr><th>roc_auc</th><td>0.9609</td><td>1,341.5</td></tr></table>",
        "text/plain": "<a table>",
    }
    assert _failing("AUC 0.961 on 1341.5 images", table) == []
    assert [n.value for n in numbers_in("1,341 images; 5,856")] == [Decimal(1341), Decimal(5856)]


def test_images_and_integers_are_not_read() -> None:
    figure = {"image/png": "iVBOR 0.961", "text/plain": "<Figure size 640x480 with 1 Axes>"}
    assert _failing("AUC 0.961 on 624 images", figure) == ["0.961"]
    assert _failing("624 images, 99% of them, 2026-11-30", {"text": ""}) == []


def test_code_numbers_links_versions_and_dates_are_not_prose() -> None:
    markdown = (
        "`threshold=0.37` and ``0.5``; [notebook 0.2](x_0.3.ipynb); <img width='0.4'> "
        "Keras 3.15.1 at 10.0.0.1:8000; $p = 0.05$; doi:10.17632/rscbjbr9sj; CC BY 4.0; "
        "https://example.org/v1.2/; <!-- 0.6 -->\n```python\nlr = 0.001\n```\n"
    )
    assert [n.text for n in prose_numbers(markdown)] == ["0.2"]  # the link's text is prose


def test_a_number_in_a_code_cell_is_exempt() -> None:
    assert _failing("dropout (0.4) before the head", {"text": "done"}, code="dropout=0.4") == []
    assert _failing("dropout (0.4) before the head", {"text": "done"}, code="dropout=0.3") == [
        "0.4"
    ]


def test_the_exemption_list_exempts_by_the_number_as_written() -> None:
    book = _notebook("published 0.928 (Kermany et al. 2018)", {"text": "0.93"})
    assert notebook_problems(book, "nb.ipynb", {"0.928": "published, with its citation"}) == (1, [])


def test_readme_generated_blocks_are_left_out_and_lines_kept() -> None:
    readme = "intro 0.5\n<!-- results:start -->\n| 0.857 |\n<!-- results:end -->\nthen 0.25\n"
    prose = readme_prose(readme)
    checked, problems = text_problems(prose, "README.md", "no results file", shown_by(["0.5"]))
    assert checked == 2
    assert problems == ["README.md line 5: 0.25 appears in no results file"]


def test_results_files_are_read_cell_by_cell(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('model,auc\n"plain, 0.371",0.5\n')
    (tmp_path / "b.json").write_text('{"speedup": 3.95, "model": "405,793 weights"}')
    shown = shown_by(file_texts(tmp_path))
    for text in ("0.371", "0.50", "3.95", "405793.0"):
        assert prose_numbers(text)[0] in shown, text
    assert prose_numbers("0.5600")[0] not in shown


def test_an_axis_is_a_line_of_evenly_spaced_numbers() -> None:
    assert is_axis("    0.825 0.850 0.875 0.900 0.925")
    assert not is_axis("0.961: met (target 0.96)")
    assert not is_axis("0.825 0.850 0.900")
