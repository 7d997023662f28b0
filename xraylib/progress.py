"""Progress bars for long work: text bars on stderr that disappear when the work is done.

A ``tqdm`` *widget* (``tqdm.auto`` in Jupyter) is saved in an executed notebook as a frozen
bar ("0/5856") that looks like a hang; a text bar redraws one line with carriage returns, and
with ``leave=False`` it clears that line at the end. The notebook runner keeps what a terminal
would show of such a stream (:func:`xraylib.notebook.as_terminal_shows`), so a committed
notebook keeps no bar, only the summary line the caller prints.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def bar(
    items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it"
) -> Iterator[T]:
    """``items`` with a text progress bar on stderr that is cleared when they are exhausted."""
    yield from tqdm(items, total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)


def counter(total: int, desc: str = "", unit: str = "it") -> tqdm:
    """A text bar on stderr to ``update()`` by hand and ``close()`` (cleared when closed)."""
    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)
