"""nbval (``make smoke``): a freshly executed cell that draws a figure must show it inline.

This catches a matplotlib backend regression (figures saved to ``images/`` but not shown in
the notebook) in CI, on the cells nbval has just run.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from nbval.plugin import IPyNbCell

from xraylib import notebook


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After nbval runs a code cell, fail it when it draws but produced no ``image/png``."""
    result = yield
    if (
        isinstance(item, IPyNbCell)
        and notebook.draws_figure(item.cell.source)
        and not notebook.has_figure(item.test_outputs or [])
    ):
        pytest.fail(
            f"{item.path.name} code cell {item.cell_num} draws a figure but shows none inline "
            "(non-inline matplotlib backend?)",
            pytrace=False,
        )
    return result
