"""README tables generated from the results files, so the numbers there cannot go stale.

``README.md`` holds blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers.
:func:`update_readme` rewrites them from ``data/results/`` (``make presentation`` calls it), and
a test checks that the committed README equals what the committed results give.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from xraylib import config, results
from xraylib.errors import XrayError
from xraylib.evaluate import format_with_ci
from xraylib.results import RUN_06

README = config.ROOT / "README.md"
TEST_METRICS = ["accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc", "pr_auc"]
COMPARISON_COLUMNS = ["model", "source", "accuracy", "sensitivity", "specificity", "roc_auc"]
LEDGER_METRICS = ["accuracy", "sensitivity", "specificity", "roc_auc"]


def results_markdown(results_dir: Path | None = None) -> str:
    """The test-set results (plain and adapted) with 95% bootstrap CIs, as a Markdown table.

    Raises :class:`XrayError` (one line) when ``metrics.csv`` is missing.
    """
    metrics = results.read_table(results.METRICS_FILE, results_dir, RUN_06)
    tests = metrics[metrics.split == "test"]
    header = "| model | adaptation | threshold | " + " | ".join(TEST_METRICS) + " | n |"
    lines = [header, "|" + "---|" * (len(TEST_METRICS) + 4)]
    for _, row in tests.iterrows():
        cells = [format_with_ci(row, m) for m in TEST_METRICS]
        lines.append(
            f"| {row.model} | {row.adaptation} | {row.threshold:.3f} | "
            + " | ".join(cells)
            + f" | {int(row.n)} |"
        )
    return "\n".join(lines)


def ledger_sentence(ledger: pd.DataFrame) -> str:
    """ "The official test set has been read N times (M rows)." for the ledger table."""
    reads = ledger["read"].nunique()
    return (
        f"The official test set has been read {reads} time{'s' * (reads != 1)} "
        f"({len(ledger)} row{'s' * (len(ledger) != 1)})."
    )


def ledger_markdown(results_dir: Path | None = None) -> str:
    """Every row of the test ledger (``test_ledger.csv``: one row each time a final model is
    scored on the official test set) as a Markdown table, after a sentence counting the reads.

    Raises :class:`XrayError` (one line) when ``test_ledger.csv`` is missing.
    """
    ledger = results.read_table(
        results.LEDGER_FILE, results_dir, RUN_06, dtype={"commit": str, "notebook": str}
    )
    columns = ["read", "date", "commit", "model", "adaptation", "threshold", *LEDGER_METRICS, "n"]
    lines = [
        ledger_sentence(ledger),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for _, row in ledger.iterrows():
        cells = [str(row[c]).replace("|", "\\|") for c in columns[:5]]
        cells += [f"{row.threshold:.3f}", *(format_with_ci(row, m) for m in LEDGER_METRICS)]
        lines.append("| " + " | ".join([*cells, str(int(row.n))]) + " |")
    return "\n".join(lines)


#: The adaptation each test read declared (``data/models/final.json`` of its commit; reads 1-3
#: reported AdaBN, their only adaptation). A new read adds its entry.
DECLARED_ADAPTATION: dict[int, str] = {
    1: "AdaBN",
    2: "AdaBN",
    3: "AdaBN",
    4: "AdaBN + prior shift (EM)",
    5: "AdaBN",
    6: "AdaBN",
}
_METRIC_NAMES = {"roc_auc": "ROC AUC"}


def _missed(row: pd.Series, targets: dict[str, float]) -> list[str]:
    """``"metric value < target"`` for each of ``targets`` that ``row`` misses."""
    return [
        f"{_METRIC_NAMES.get(m, m)} {row[m]:.3f} < {t}" for m, t in targets.items() if row[m] < t
    ]


def targets_markdown(results_dir: Path | None = None) -> str:
    """Both sets of quality targets, and every test read (its model as trained and with its
    declared adaptation, from ``test_ledger.csv``) against each, as a sentence and a table.

    Raises :class:`XrayError` (one line) when the ledger is missing or a read has no entry in
    :data:`DECLARED_ADAPTATION`.
    """
    ledger = results.read_table(
        results.LEDGER_FILE, results_dir, RUN_06, dtype={"commit": str, "notebook": str}
    )
    first = {m: t for (result, m), t in results.FIRST_TARGETS.items() if result == "plain"}
    earlier = ", ".join(f"{_METRIC_NAMES.get(m, m)} ≥ {t}" for m, t in first.items())
    current = "; ".join(
        f"{_which(result)} {_METRIC_NAMES.get(m, m)} ≥ {t}"
        for (result, m), t in results.TARGETS.items()
    )
    undeclared = sorted(set(ledger["read"]) - set(DECLARED_ADAPTATION))
    if undeclared:
        raise XrayError(
            f"test read {undeclared[0]} has no entry in report.DECLARED_ADAPTATION: add the "
            "adaptation its final.json declares"
        )
    judged_early = ledger[ledger["date"] < results.TARGETS_CHANGED_ON]
    last_early = int(judged_early["read"].max())
    lowest = judged_early.loc[judged_early.adaptation == "none", "specificity"].min()
    lines = [
        f"Reads 1–{last_early} were judged against the earlier targets "
        f"(commit fafaa1b): {earlier}, all four by the model as trained or with its adaptation. "
        f"On {results.TARGETS_CHANGED_ON}, after those reads had shown a test specificity of "
        f"{lowest:.2f}, commit 2c06fbf replaced them by the current targets ({current}), and "
        "the specificity target went. Every read against both sets:",
        "",
        "| read | model | declared adaptation | earlier targets: as trained | earlier targets: "
        "adapted | current targets |",
        "|---|---|---|---|---|---|",
    ]
    for read, rows in ledger.groupby("read", sort=True):
        plain = rows[rows.adaptation == "none"].iloc[-1]
        adapted = rows[rows.adaptation == DECLARED_ADAPTATION[read]].iloc[-1]
        cells = []
        for row in (plain, adapted):
            missed = _missed(row, first)
            cells.append(
                f"{len(first) - len(missed)} of {len(first)}"
                + (f"; missed {', '.join(missed)}" if missed else "")
            )
        check = results.target_check(plain, adapted)
        missed_now = [
            f"{_which(r.result)} {_METRIC_NAMES.get(r.metric, r.metric)} {r.achieved:.3f} < "
            f"{r.target}"
            for r in check[~check.met].itertuples()
        ]
        cells.append(
            f"{int(check.met.sum())} of {len(check)}"
            + (f"; missed {', '.join(missed_now)}" if missed_now else "")
        )
        lines.append(
            f"| {read} | {plain.model} | {DECLARED_ADAPTATION[read]} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def comparison_markdown(results_dir: Path | None = None) -> str:
    """Our test results next to published ones and the "always PNEUMONIA" answer
    (``comparison.csv``, written by notebook 06) as a Markdown table; unknown values are "–".

    Raises :class:`XrayError` (one line) when ``comparison.csv`` is missing.
    """
    table = results.read_table(results.COMPARISON_FILE, results_dir, RUN_06)
    lines = ["| " + " | ".join(COMPARISON_COLUMNS) + " |", "|" + "---|" * len(COMPARISON_COLUMNS)]
    for _, row in table.iterrows():
        cells = [str(row[c]).replace("|", "\\|") for c in COMPARISON_COLUMNS[:2]] + [
            "–" if pd.isna(row[m]) else f"{row[m]:.3f}" for m in COMPARISON_COLUMNS[2:]
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bench_markdown(results_dir: Path | None = None) -> str:
    """The ``bench`` measurements (``data/results/bench.json``) as a Markdown table.

    Raises :class:`XrayError` (one line) when ``bench.json`` is missing.
    """
    bench = results.load_bench(results_dir)
    rate = bench["train_images_per_s"]
    rows = [
        ("training, decode every JPEG every epoch", f"{rate['decode_every_epoch']:.1f} images/s"),
        ("training, xraylib cached tf.data", f"{rate['xraylib']:.1f} images/s"),
        ("speed-up", f"{bench['speedup']:.2f}×"),
        ("input pipeline share of step time", f"{100 * bench['pipeline_share']:.2f}%"),
        ("predict one image, warm (median)", f"{bench['predict_ms_warm']:.1f} ms"),
        ("predict in batches of 64", f"{bench['predict_images_per_s']:.1f} images/s"),
        (
            "augmentation's share of a training step (final policy)",
            f"{100 * bench['augmentation_share']:.1f}% "
            f"({bench['augmentation_ms']['block']:.1f} of "
            f"{bench['augmentation_ms']['train_step']:.1f} ms)",
        ),
        *(
            (
                f"augmentation layer {name}: xraylib's / Keras'",
                f"{ms['xraylib']:.1f} / {ms['keras']:.1f} ms per batch",
            )
            # a bench.json written before bench timed the layers has none
            for name, ms in bench.get("layers_ms", {}).items()
        ),
    ]
    lines = ["| measurement | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    lines.append(
        f"\n{bench['model']}, {bench['image_size']} px, batch {bench['batch_size']}, "
        f"{bench['n_images']} training images, {bench['device']}; "
        f"{bench['decode_side']}."
    )
    return "\n".join(lines)


def gate_markdown(results_dir: Path | None = None) -> str:
    """The input-quality gate measured on the declared out-of-distribution set
    (``data/results/gate.csv``, written by appendix 09) as a Markdown table: share flagged per
    kind and per check, target and whether it is met. A one-line note when not measured yet.
    """
    from xraylib import quality

    table = results.optional_table(results.GATE_FILE, results_dir)
    if table is None:
        return f"Not measured yet: appendix 09 writes `data/results/{results.GATE_FILE}`."
    codes = [code for code in quality.CODES if code in table.columns]
    header = ["kind", "images", "flagged", *(c.replace("_", " ") for c in codes), "target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples(index=False):
        share = [f"{100 * getattr(row, name):.1f}%" for name in ("flagged", *codes)]
        bound = "≤ " if row.kind == "validation" else "≥ " if row.target < 1 else ""
        target = f"{bound}{100 * row.target:.0f}%" if row.target == row.target else "–"
        met = {"True": "yes", "False": "no"}.get(str(row.met), "–")
        lines.append("| " + " | ".join([row.kind, str(row.images), *share, target, met]) + " |")
    return "\n".join(lines)


def verdict_markdown(results_dir: Path | None = None) -> str:
    """The README's "In plain words" paragraph: the final model, validation against test, the
    declared adaptation and the targets of :data:`results.TARGETS`, every number from
    ``metrics.csv`` and ``final.json``.

    Raises :class:`XrayError` (one line) when a results file is missing.
    """
    res = results.Results(results_dir)
    final, plain, adapted = res.final, res.plain, res.adapted
    size = f", {final['image_size']} px" if "image_size" in final else ""
    check = results.target_check(plain, adapted)
    missed = [
        f"{r.metric} {_which(r.result)} {r.achieved:.3f} < {r.target}"
        for r in check[~check.met].itertuples()
    ]
    targets = (
        f"It meets {int(check.met.sum())} of {len(check)} targets; missed: {'; '.join(missed)}."
        if missed
        else f"It meets all {len(check)} targets."
    )
    return (
        f"**In plain words:** the final model (`{final.get('model', plain.model)}`{size}) scores a "
        f"validation ROC AUC of {res.validation.roc_auc:.4f} and a test ROC AUC of "
        f"{plain.roc_auc:.3f}. At the threshold chosen on validation ({plain.threshold:.3f}) it "
        f"catches {100 * plain.sensitivity:.1f}% of test pneumonias and clears "
        f"{100 * plain.specificity:.1f}% of normal X-rays (accuracy {plain.accuracy:.3f}); "
        + (
            "no adaptation was declared (the model as trained did best on the simulated site). "
            if res.adaptation == "none"
            else f"with the declared adaptation ({res.adaptation}), sensitivity "
            f"{adapted.sensitivity:.3f}, specificity {adapted.specificity:.3f}, accuracy "
            f"{adapted.accuracy:.3f}. "
        )
        + targets
    )


def _which(result: str) -> str:
    """``"as trained"`` or ``"adapted"`` for a row of :func:`results.target_check`."""
    return "as trained" if result == "plain" else "adapted"


def originals_markdown(results_dir: Path | None = None) -> str:
    """What a user with the original downloads should expect: the final model's answers on
    training images read from the copy the committed run used and from originals
    (``data/results/originals.csv``, written by appendix 09), as one sentence."""
    table = results.optional_table(results.ORIGINALS_FILE, results_dir)
    if table is None:
        return f"Not measured yet: appendix 09 writes `data/results/{results.ORIGINALS_FILE}`."
    row = table.iloc[0]
    return (
        f"Measured on {int(row.pairs)} training images read from both (appendix 09, final "
        f"model): the probability of pneumonia moves by {row.mean_abs_diff:.4f} on average "
        f"(at most {row.max_abs_diff:.3f}), and {int(row.label_flips)} of {int(row.pairs)} "
        "answers change side of the threshold."
    )


BLOCKS: dict[str, Callable[[], str]] = {
    "verdict": verdict_markdown,
    "results": results_markdown,
    "ledger": ledger_markdown,
    "targets": targets_markdown,
    "comparison": comparison_markdown,
    "bench": bench_markdown,
    "gate": gate_markdown,
    "originals": originals_markdown,
}


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
