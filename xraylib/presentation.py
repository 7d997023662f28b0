"""Build ``presentation.pdf`` for a hospital manager or clinician from the results files.

Every number on the slides is read from ``data/results/`` and ``final.json`` (written by the
executed notebooks) and every picture from ``images/`` or drawn here from those numbers;
nothing is typed in. Results are told as natural frequencies ("of 100 children with
pneumonia, it flags 98"). Each slide is one small function of :data:`SLIDES`, so a slide can
be changed without reading the others. Rebuild with ``python -m xraylib presentation``
(``make presentation``) after re-running the notebooks.

Figures are made with matplotlib's object-oriented API and never registered with pyplot, so
importing this module leaves the matplotlib backend of the process (e.g. a notebook's inline
backend) as it was.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import cast

import matplotlib.image as mpimg
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.transforms import Bbox

from xraylib import config, predict, results
from xraylib.errors import XrayError
from xraylib.notebook import series

SLIDE = (13.33, 7.5)
INK, ACCENT, MUTED, CALM = "#1b2a41", "#c0392b", "#7f8c8d", "#2e86c1"
FLAGGED, MISSED, CLEARED, NEEDLESS = "#c0392b", "#f5b7b1", "#aed6f1", "#e67e22"
#: Where a slide's figure goes (left, bottom, width, height as fractions of the slide): the
#: whole slide below the title and headline, well over half of it.
CONTENT = (0.05, 0.08, 0.90, 0.62)
#: The ledger slide shows at most this many (the latest) rows, so they stay readable.
LEDGER_ROWS_SHOWN = 14
RUN_06 = "run notebook 06 first (make notebooks)"
MISSING = "execute the notebooks first (make notebooks)"
METRIC_NAMES = {
    "accuracy": "accuracy",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "roc_auc": "ROC AUC",
}


class Results:
    """The results files a presentation needs, with one-line errors when one is missing.

    Attributes:
        metrics, counts, comparison, ledger: ``metrics.csv``, ``counts.csv`` (by split),
            ``comparison.csv`` and ``test_ledger.csv``.
        final: the facts stored beside the final model (``final.json``; ``{}`` if none).
        plain, adapted, validation: the test row as trained, the test row with the declared
            adaptation and the validation row of the ``@final`` model.
    """

    def __init__(self, results_dir: Path, images_dir: Path):
        self.results_dir, self.images_dir = results_dir, images_dir
        self.metrics = self._csv("metrics.csv", dtype={"notebook": str})
        self.counts = self._csv("counts.csv").set_index("split")
        self.comparison = self._csv("comparison.csv")
        self.ledger = self._csv(results.LEDGER_FILE, dtype={"commit": str, "notebook": str})
        self.final = predict.saved_info()
        self.plain, self.adapted = self._test_rows()
        self.validation = self._validation_row()

    def _csv(self, name: str, **options) -> pd.DataFrame:
        path = self.results_dir / name
        if not path.exists():
            raise XrayError(f"{path} is missing: {MISSING}")
        return pd.read_csv(path, **options)

    def image(self, name: str) -> Path:
        """``images/<name>.png``; a one-line :class:`XrayError` when it is missing."""
        path = self.images_dir / f"{name}.png"
        if not path.exists():
            raise XrayError(f"{path} is missing: {MISSING}")
        return path

    def _no_row(self, what: str) -> XrayError:
        return XrayError(f"{self.results_dir / 'metrics.csv'} has {what}: {RUN_06}")

    def _test_rows(self) -> tuple[pd.Series, pd.Series]:
        """The test row as trained (adaptation ``none``) and the adapted one: the adaptation
        ``final.json`` declares, else (older files) the first test row with any adaptation."""
        tests = self.metrics[self.metrics.split == "test"]
        adaptation = tests.get("adaptation", pd.Series("none", index=tests.index)).fillna("none")
        plain = tests[adaptation == "none"]
        declared = self.final.get("adaptation")
        adapted = tests[adaptation == declared] if declared else tests[adaptation != "none"]
        if plain.empty:
            raise self._no_row("no test row as trained (adaptation none)")
        if adapted.empty:
            raise self._no_row(f"no test row with adaptation {declared or 'other than none'}")
        return plain.iloc[0], adapted.iloc[0]

    def _validation_row(self) -> pd.Series:
        metrics = self.metrics
        final = metrics[(metrics.split == "val") & metrics.model.astype(str).str.endswith("@final")]
        if final.empty:
            raise self._no_row("no validation row of a model ending with @final")
        return final.iloc[0]

    @property
    def adaptation(self) -> str:
        """The name of the declared adaptation, e.g. ``"AdaBN + prior shift (EM)"``."""
        return str(self.adapted.get("adaptation", "adaptation"))

    def test_count(self, label: str) -> int:
        """Number of ``label`` (NORMAL, PNEUMONIA or total) images of the official test set."""
        return int(self.counts.loc["test", label])


def per_100(rate: float) -> int:
    """A rate as a whole number of 100 children: ``per_100(0.9821) == 98``."""
    return int(round(100 * float(rate)))


def flagged_sentence(row: pd.Series) -> str:
    """A result in natural frequencies, e.g. "Of 100 children with pneumonia, it flags 98;
    of 100 healthy children, it sends 34 for a needless second look." """
    return (
        f"Of 100 children with pneumonia, it flags {per_100(row.sensitivity)}; of 100 healthy "
        f"children, it sends {per_100(1 - row.specificity)} for a needless second look."
    )


# ---------------------------------------------------------------------------- slide parts


def _slide(title: str, headline: str = "") -> Figure:
    """A blank 16:9 slide with its title, its one headline message and the footer."""
    fig = Figure(figsize=SLIDE)
    fig.text(0.04, 0.95, textwrap.fill(title, 48), fontsize=27, weight="bold", color=INK, va="top")
    fig.add_artist(FancyArrowPatch((0.04, 0.845), (0.96, 0.845), color=ACCENT, lw=2))
    if headline:
        fig.text(0.04, 0.82, textwrap.fill(headline, 88), fontsize=19, color=INK, va="top")
    fig.text(
        0.96,
        0.015,
        "xraylib · teaching project · not a medical device",
        fontsize=10,
        color=MUTED,
        ha="right",
    )
    return fig


def _picture(fig: Figure, path: Path, box: tuple[float, float, float, float] = CONTENT) -> None:
    """Show the image at ``path`` in ``box`` of the slide, as large as its shape allows."""
    ax = fig.add_axes(box)
    ax.imshow(mpimg.imread(path))
    ax.axis("off")


def _bare(ax: Axes) -> None:
    """Remove the frame lines a chart does not need."""
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0, labelsize=16)
    ax.tick_params(axis="x", labelsize=14)


def _icon_array(ax: Axes, marked: int, marked_color: str, rest_color: str, title: str) -> None:
    """100 child icons in a 10×10 grid, the first ``marked`` of them in ``marked_color``."""
    for i in range(100):
        x, y = i % 10, 9 - i // 10
        color = marked_color if i < marked else rest_color
        ax.add_patch(Circle((x, y + 0.22), 0.17, color=color))
        ax.add_patch(
            FancyBboxPatch(
                (x - 0.2, y - 0.38),
                0.4,
                0.4,
                boxstyle="round,pad=0,rounding_size=0.15",
                color=color,
            )
        )
    ax.set_xlim(-0.6, 9.6)
    ax.set_ylim(-0.6, 9.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=18, color=INK, pad=10)


def _legend_line(fig: Figure, x: float, y: float, parts: list[tuple[str, str]]) -> None:
    """Coloured words under an icon array, e.g. ■ 98 flagged  ■ 2 missed."""
    for k, (text, color) in enumerate(parts):
        fig.text(x, y - 0.05 * k, f"■ {text}", fontsize=17, color=color, weight="bold")


def _table(ax: Axes, table: pd.DataFrame, fontsize: int) -> None:
    """``table`` as a plain table filling ``ax``, its header (two lines high) in bold."""
    ax.axis("off")
    chars = [
        max(len(line) for text in [*map(str, table[column]), column] for line in text.split("\n"))
        + 2
        for column in table.columns
    ]
    width_pt = ax.get_position().width * cast(Figure, ax.figure).get_figwidth() * 72
    shown = ax.table(
        cellText=table.to_numpy(),
        colLabels=list(table.columns),
        colWidths=[n / sum(chars) for n in chars],
        loc="upper center",
        cellLoc="center",
        bbox=Bbox.from_bounds(0, 0, 1, 1),
    )
    shown.auto_set_font_size(False)
    # a character is about 0.6 of the font size wide: shrink the font until every column fits
    shown.set_fontsize(min(fontsize, int(width_pt / (0.6 * sum(chars)))))
    for (row, _), cell in shown.get_celld().items():
        cell.set_edgecolor("#d5d8dc")
        if row == 0:
            cell.set_text_props(weight="bold", color=INK)
            cell.set_height(2 * cell.get_height())


def _table_font(rows: int) -> int:
    """A table's font size: as large as its number of rows lets it be on a slide."""
    return 16 if rows <= 8 else 14 if rows <= 12 else 12


def _which(result: object) -> str:
    """How a slide names a target's result: "as trained" or "adjusted"."""
    return "as trained" if result == "plain" else "adjusted"


def _short_name(model: str) -> str:
    """A comparison row's model name without its parenthesised details."""
    return model.split(" (")[0]


# ---------------------------------------------------------------------------- the slides


def slide_title(res: Results) -> Figure:
    """What the project is, its headline result in natural frequencies, what X-rays look like."""
    fig = _slide(
        "Can a computer flag pneumonia on child X-rays?",
        f"Tested on {res.test_count('total')} X-rays it had never seen. "
        + flagged_sentence(res.adapted),
    )
    _picture(fig, res.image("01_sample_grid"), (0.04, 0.06, 0.92, 0.64))
    return fig


def slide_data(res: Results) -> Figure:
    """How many X-rays of each kind, and why accuracy alone says little."""
    counts = res.counts
    always = counts.loc["test", "PNEUMONIA"] / counts.loc["test", "total"]
    fig = _slide(
        f"{int(counts.loc['total', 'total']):,} children's X-rays, most with pneumonia",
        f"Because pneumonia is so common here, answering 'pneumonia' for every child is already "
        f"right {per_100(always)} times in 100 — so we report what happens to sick and to "
        "healthy children separately.",
    )
    ax = fig.add_axes((0.2, 0.1, 0.75, 0.52))
    splits = [s for s in ("train", "test") if s in counts.index]
    names = {"train": "learning from", "test": "final test (never seen)"}
    normal, pneumonia = counts.loc[splits, "NORMAL"], counts.loc[splits, "PNEUMONIA"]
    labels = [names[s] for s in splits]
    ax.barh(labels, normal, color=CLEARED, label="healthy (NORMAL)")
    ax.barh(labels, pneumonia, left=normal, color=FLAGGED, label="pneumonia")
    for k in range(len(splits)):
        ax.text(
            normal.iloc[k] / 2,
            k,
            f"{int(normal.iloc[k]):,}",
            ha="center",
            va="center",
            fontsize=16,
            color=INK,
        )
        ax.text(
            normal.iloc[k] + pneumonia.iloc[k] / 2,
            k,
            f"{int(pneumonia.iloc[k]):,}",
            ha="center",
            va="center",
            fontsize=16,
            color="white",
        )
    ax.invert_yaxis()
    ax.set_xlabel("X-rays", fontsize=14)
    ax.legend(fontsize=15, frameon=False, loc="lower right")
    _bare(ax)
    return fig


def _chosen_step(n_models: int, validation: pd.DataFrame) -> str:
    """The method slide's second box: how many models were tried and what the final one is
    (an average of several trainings when it is an ensemble)."""
    members = pd.to_numeric(validation.get("members", pd.Series(dtype=float)), errors="coerce")
    k = int(members.max()) if members.notna().any() else 1
    if k > 1:
        return f"{n_models} models\ntried; the final\naverages {k} trainings"
    return f"{n_models} models\ntried, 1 chosen\non the check set"


def slide_method(res: Results) -> Figure:
    """How the model was chosen: every choice before the test set, as a flow of boxes."""
    validation = res.metrics[res.metrics.split == "val"]
    n_models = int((~validation.model.astype(str).str.contains("@")).sum())
    target = pd.to_numeric(pd.Series([res.validation.get("target_sensitivity")]))[0]
    rule = (
        f"set to catch {per_100(target)} of 100 pneumonias in the check set"
        if pd.notna(target)
        else "set on the check set"
    )
    fig = _slide(
        "Every choice was made before the final test",
        f"{n_models} candidate models were compared on a separate check set; the test X-rays "
        "were used only to measure the chosen one.",
    )
    steps = [
        f"{int(res.counts.loc['train', 'total']):,}\nX-rays to\nlearn from",
        _chosen_step(n_models, validation),
        f"alarm level\n{textwrap.fill(rule, 18)}",
        f"{res.test_count('total')} unseen\ntest X-rays,\nscored",
    ]
    ax = fig.add_axes(CONTENT)
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 1)
    ax.axis("off")
    for k, text in enumerate(steps):
        last = k == len(steps) - 1
        ax.add_patch(
            FancyBboxPatch(
                (k + 0.08, 0.2),
                0.74,
                0.6,
                boxstyle="round,pad=0.02",
                color=ACCENT if last else CALM,
                alpha=0.15 if not last else 0.2,
            )
        )
        ax.text(k + 0.45, 0.5, text, ha="center", va="center", fontsize=18, color=INK)
        if not last:
            ax.add_patch(
                FancyArrowPatch(
                    (k + 0.84, 0.5), (k + 1.06, 0.5), arrowstyle="-|>", mutation_scale=30, color=INK
                )
            )
    ax.text(
        2,
        0.05,
        f"{len(series())} notebooks anyone can re-run, from raw images to this result",
        ha="center",
        fontsize=15,
        color=MUTED,
    )
    return fig


def slide_frequencies(res: Results) -> Figure:
    """The headline result as two icon arrays: 100 sick and 100 healthy children."""
    row = res.adapted
    flagged, needless = per_100(row.sensitivity), per_100(1 - row.specificity)
    fig = _slide(
        f"Of 100 children with pneumonia, it flags {flagged}",
        f"…and of 100 healthy children, it sends {needless} for a needless second look "
        f"(with on-site adjustment: {res.adaptation}).",
    )
    sick, healthy = fig.add_axes((0.04, 0.16, 0.42, 0.5)), fig.add_axes((0.52, 0.16, 0.42, 0.5))
    _icon_array(sick, flagged, FLAGGED, MISSED, "100 children with pneumonia")
    _icon_array(healthy, needless, NEEDLESS, CLEARED, "100 healthy children")
    _legend_line(
        fig, 0.12, 0.11, [(f"{flagged} flagged", FLAGGED), (f"{100 - flagged} missed", "#cd6155")]
    )
    _legend_line(
        fig,
        0.60,
        0.11,
        [
            (f"{needless} needless second look", NEEDLESS),
            (f"{100 - needless} correctly cleared", CALM),
        ],
    )
    return fig


def slide_adaptation(res: Results) -> Figure:
    """What each on-site adjustment (no diagnosis labels) changes, per 100 children."""
    tests = res.metrics[res.metrics.split == "test"].copy()
    tests["adaptation"] = tests.get("adaptation", pd.Series("none", index=tests.index))
    tests = tests.fillna({"adaptation": "none"})
    before, after = per_100(1 - res.plain.specificity), per_100(1 - res.adapted.specificity)
    change = (
        f"fall from {before} to {after}"
        if after < before
        else f"rise from {before} to {after}"
        if after > before
        else f"stay at {after}"
    )
    others = tests[~tests.adaptation.isin(["none", res.adaptation])]
    fewest = others.loc[others.specificity.idxmax()] if len(others) else None
    better = (
        f" {fewest.adaptation} alone would have sent {per_100(1 - fewest.specificity)}; "
        f"{res.adaptation} was the step fixed before the test."
        if fewest is not None and per_100(1 - fewest.specificity) < after
        else ""
    )
    fig = _slide(
        "Adjusting to a new hospital without diagnoses",
        f"Needless second looks per 100 healthy children {change} with "
        f"{res.adaptation}, which only looks at the new hospital's unlabelled X-rays.{better}",
    )
    ax = fig.add_axes((0.30, 0.1, 0.65, 0.5))
    names = ["as trained" if a == "none" else str(a) for a in tests.adaptation]
    flagged = [per_100(v) for v in tests.sensitivity]
    needless = [per_100(1 - v) for v in tests.specificity]
    y = range(len(names))
    ax.barh(
        [k - 0.2 for k in y], flagged, 0.38, color=FLAGGED, label="pneumonias flagged (of 100 sick)"
    )
    ax.barh(
        [k + 0.2 for k in y],
        needless,
        0.38,
        color=NEEDLESS,
        label="needless second looks (of 100 healthy)",
    )
    for k in y:
        ax.text(flagged[k] + 1, k - 0.2, str(flagged[k]), va="center", fontsize=15)
        ax.text(needless[k] + 1, k + 0.2, str(needless[k]), va="center", fontsize=15)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.legend(fontsize=14, frameon=False, loc="upper center", bbox_to_anchor=(0.5, 1.16), ncol=2)
    _bare(ax)
    return fig


def target_verdict(res: Results) -> str:
    """One sentence from the numbers: is every target of :data:`results.TARGETS` met?"""
    check = results.target_check(res.plain, res.adapted)
    if check.met.all():
        return "It meets every quality target the project set itself."
    short = [
        f"{METRIC_NAMES[item.metric]} ({_which(item.result)})"
        for item in check[~check.met].itertuples()
    ]
    return f"It misses {len(short)} of {len(check)} quality targets: {', '.join(short)}."


def slide_target(res: Results) -> Figure:
    """Whether the project's quality targets are met, each as a value against its line."""
    check = results.target_check(res.plain, res.adapted)
    fig = _slide(
        "Does it meet the quality target?",
        target_verdict(res) + " Bars: 95% range of what the test set allows us to conclude.",
    )
    ax = fig.add_axes((0.25, 0.14, 0.5, 0.52))
    rows = {"plain": res.plain, "adapted": res.adapted}
    labels = []
    lowest = 0.9
    for k, item in enumerate(check.itertuples()):
        row = rows[str(item.result)]
        low, high = row.get(f"{item.metric}_low"), row.get(f"{item.metric}_high")
        color = CALM if item.met else ACCENT
        if low is not None and high is not None and pd.notna(low) and pd.notna(high):
            ax.plot([low, high], [k, k], color=color, lw=4, alpha=0.4)
            lowest = min(lowest, float(low))
        ax.plot(item.achieved, k, "o", color=color, ms=14)
        ax.plot([item.target] * 2, [k - 0.35, k + 0.35], color=INK, lw=3)
        ax.text(
            1.03,
            k,
            f"{item.achieved:.3f}: "
            + ("met" if item.met else "not met")
            + f"\n(target {item.target:g})",
            va="center",
            fontsize=16,
            color=color,
            transform=ax.get_yaxis_transform(),
        )
        lowest = min(lowest, float(item.achieved))
        labels.append(f"{METRIC_NAMES[str(item.metric)]}, {_which(item.result)}")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(lowest - 0.02, 1.01)
    ax.set_xlabel(
        "score (1 = perfect); black line = target\nROC AUC: how often a sick child is ranked "
        "above a healthy one",
        fontsize=14,
    )
    _bare(ax)
    return fig


def slide_published(res: Results) -> Figure:
    """Accuracy per 100 test X-rays next to published models and the trivial answer."""
    table = res.comparison.dropna(subset=["accuracy"])
    published = table[
        ~table.model.str.startswith("xraylib") & ~table.source.str.startswith("computed")
    ]
    best = published.loc[published.accuracy.idxmax()]
    fig = _slide(
        "Compared with published work",
        f"Out of 100 X-rays of the same test set, ours labels {per_100(res.adapted.accuracy)} "
        f"correctly (adjusted); the best published model ({_short_name(best.model)}, "
        f"pre-trained on millions of photos) {per_100(best.accuracy)}.",
    )
    ax = fig.add_axes((0.38, 0.1, 0.55, 0.58))
    names = [textwrap.fill(_short_name(m), 34) for m in table.model]
    correct = [per_100(v) for v in table.accuracy]
    colors = [FLAGGED if m.startswith("xraylib") else CALM for m in table.model]
    ax.barh(names, correct, color=colors)
    for k, value in enumerate(correct):
        ax.text(value + 1, k, str(value), va="center", fontsize=16)
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xlabel("X-rays labelled correctly, of 100", fontsize=14)
    _bare(ax)
    return fig


def slide_errors(res: Results) -> Figure:
    """How often it is wrong about healthy children, and where it looked when it was."""
    normal = res.test_count("NORMAL")
    wrong = int(round((1 - res.adapted.specificity) * normal))
    fig = _slide(
        "Where it looked when it was wrong",
        f"{wrong} of {normal} healthy children in the test were flagged. Heat maps (red: what "
        "drove the decision) let a reader judge each flag.",
    )
    _picture(fig, res.image("06_gradcam_false_positive"), (0.03, 0.06, 0.94, 0.62))
    return fig


def ledger_sentence(ledger: pd.DataFrame) -> str:
    """How many times the official test set was read, as one plain sentence."""
    reads = ledger["read"].nunique()
    return (
        f"The test X-rays have been used {reads} time{'s' * (reads != 1)} in all; every use is "
        f"logged below ({len(ledger)} results) and never erased."
    )


def slide_ledger(res: Results) -> Figure:
    """The test-set ledger: one sentence and its rows in a compact table."""
    fig = _slide("How often we looked at the test X-rays", ledger_sentence(res.ledger))
    ledger = res.ledger.tail(LEDGER_ROWS_SHOWN)
    table = pd.DataFrame(
        {
            "use": ledger["read"].astype(int),
            "date": ledger["date"],
            "version": ledger["commit"],
            "model": ledger["model"],
            "adjustment": ledger["adaptation"].fillna("none"),
            "flagged,\nof 100 sick": [per_100(v) for v in ledger.sensitivity],
            "needless looks,\nof 100 healthy": [per_100(1 - v) for v in ledger.specificity],
        }
    )
    height = min(0.6, 0.075 * (len(table) + 2))
    _table(fig.add_axes((0.05, 0.68 - height, 0.9, height)), table, _table_font(len(table)))
    if len(res.ledger) > len(ledger):
        fig.text(
            0.05,
            0.04,
            f"The latest {len(ledger)} of {len(res.ledger)} rows; all are in "
            "data/results/test_ledger.csv.",
            fontsize=13,
            color=MUTED,
        )
    return fig


def slide_use(res: Results) -> Figure:
    """How it could be used, and what is not known yet."""
    fig = _slide(
        "A help to sort the queue — not a diagnosis",
        f"Its alarm level was set to miss few pneumonias ({100 - per_100(res.adapted.sensitivity)}"
        " of 100 in the test), at the cost of extra second looks.",
    )
    columns = {
        "How it could be used": [
            "Sort the day's X-rays so likely pneumonias are read first.",
            "Before use at a new site: adjust on local unlabelled X-rays, then check on a "
            "labelled local sample.",
            "Show the probability with every answer; borderline cases go to a person.",
        ],
        "What we do not know yet": [
            "One hospital in China, children aged one to five: other hospitals, machines and "
            "ages may differ.",
            "No test at a second hospital and no study of doctors using it.",
            "A teaching project, not a medical device.",
        ],
    }
    for k, (heading, points) in enumerate(columns.items()):
        x = 0.05 + 0.47 * k
        fig.text(x, 0.64, heading, fontsize=22, weight="bold", color=CALM if k == 0 else ACCENT)
        y = 0.56
        for point in points:
            text = textwrap.fill(point, 36)
            fig.text(
                x,
                y,
                "•  " + text.replace("\n", "\n    "),
                fontsize=18,
                color=INK,
                va="top",
                linespacing=1.3,
            )
            y -= 0.055 * (text.count("\n") + 1) + 0.05
    return fig


#: The slides, in order; each makes one figure from the results.
SLIDES: tuple[Callable[[Results], Figure], ...] = (
    slide_title,
    slide_data,
    slide_method,
    slide_frequencies,
    slide_adaptation,
    slide_target,
    slide_published,
    slide_errors,
    slide_ledger,
    slide_use,
)


def build(out: str | Path | None = None) -> Path:
    """Write the slides to ``out`` (default ``presentation.pdf`` in the project); return it.

    Raises :class:`XrayError` (one line) naming the results file or figure that is missing.
    """
    res = Results(config.results_dir(), config.images_dir())
    out = Path(out) if out else config.output_dir() / "presentation.pdf"
    figures = [make(res) for make in SLIDES]
    with PdfPages(out) as pdf:
        for fig in figures:
            pdf.savefig(fig)
    return out
