"""README tables generated from the results files, so the numbers there cannot go stale.

``README.md`` holds blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers.
:func:`update_readme` rewrites them from ``data/results/`` (``make presentation`` calls it), and
a test checks that the committed README equals what the committed results give.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from xraylib import config

README = config.ROOT / "README.md"
TEST_METRICS = ["accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc", "pr_auc"]


def _with_ci(row: pd.Series, metric: str) -> str:
    low, high = row.get(f"{metric}_low"), row.get(f"{metric}_high")
    if low is None or pd.isna(low):
        return f"{row[metric]:.3f}"
    return f"{row[metric]:.3f} ({low:.3f}–{high:.3f})"


def results_markdown(results_dir: Path | None = None) -> str:
    """The test-set results (plain and adapted) with 95% bootstrap CIs, as a Markdown table."""
    metrics = pd.read_csv(Path(results_dir or config.results_dir()) / "metrics.csv")
    tests = metrics[metrics.split == "test"]
    header = "| model | adaptation | threshold | " + " | ".join(TEST_METRICS) + " | n |"
    lines = [header, "|" + "---|" * (len(TEST_METRICS) + 4)]
    for _, row in tests.iterrows():
        cells = [_with_ci(row, m) for m in TEST_METRICS]
        lines.append(
            f"| {row.model} | {row.adaptation} | {row.threshold:.3f} | "
            + " | ".join(cells)
            + f" | {int(row.n)} |"
        )
    return "\n".join(lines)


def bench_markdown(results_dir: Path | None = None) -> str:
    """The ``bench`` measurements (``data/results/bench.json``) as a Markdown table."""
    bench = json.loads((Path(results_dir or config.results_dir()) / "bench.json").read_text())
    rate = bench["train_images_per_s"]
    rows = [
        ("training, decode every JPEG every epoch", f"{rate['decode_every_epoch']:.1f} images/s"),
        ("training, xraylib cached tf.data", f"{rate['xraylib']:.1f} images/s"),
        ("speed-up", f"{bench['speedup']:.2f}×"),
        ("input pipeline share of step time", f"{100 * bench['pipeline_share']:.2f}%"),
        ("predict one image, warm (median)", f"{bench['predict_ms_warm']:.1f} ms"),
        ("predict in batches of 64", f"{bench['predict_images_per_s']:.1f} images/s"),
    ]
    lines = ["| measurement | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    lines.append(
        f"\n{bench['model']}, {bench['image_size']} px, batch {bench['batch_size']}, "
        f"{bench['n_images']} images, {bench['device']}. Decode side: "
        f"{bench['decode_side']}."
    )
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {"results": results_markdown, "bench": bench_markdown}


def _find(name: str, text: str) -> re.Match:
    """The block ``name`` in ``text``; ``ValueError`` naming it when it is missing."""
    pattern = rf"<!-- {name}:start -->\n?(.*?)\n?<!-- {name}:end -->"
    found = re.search(pattern, text, re.DOTALL)
    if not found:
        raise ValueError(f"{README}: no <!-- {name}:start --> … <!-- {name}:end --> block")
    return found


def readme_block(name: str, text: str | None = None) -> str:
    """The current content of block ``name`` in the README (or in ``text``)."""
    return _find(name, README.read_text() if text is None else text).group(1)


def update_readme(path: Path = README) -> Path:
    """Rewrite every generated block of the README from the results files."""
    text = path.read_text()
    for name, make in BLOCKS.items():
        found = _find(name, text)
        block = f"<!-- {name}:start -->\n{make()}\n<!-- {name}:end -->"
        text = text[: found.start()] + block + text[found.end() :]
    path.write_text(text)
    return path
