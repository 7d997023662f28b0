"""Draw ``presentation.pdf`` for a hospital manager or clinician: ten slides laid out around
what :mod:`xraylib.narrative` says.

Every number on the slides is read from ``data/results/`` and ``final.json`` (written by the
executed notebooks, loaded by :class:`xraylib.results.Results`) and every picture from
``images/`` or drawn here from those numbers; nothing is typed in. The slides say how often
the official test set was read (the ledger) and claim no difference between test and check
images that a results file does not measure (``shift.csv``, when there is one). No model id,
commit hash or method acronym is shown: those are in the README. Each slide is one small
function of :data:`SLIDES`, so a slide can be changed without reading the others. Rebuild
with ``python -m xraylib presentation`` (``make presentation``) after re-running the notebooks.

Figures are made with matplotlib's object-oriented API and never registered with pyplot, so
importing this module leaves the matplotlib backend of the process (e.g. a notebook's inline
backend) as it was.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import cast

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from xraylib import config, results
from xraylib.errors import XrayError
from xraylib.narrative import (
    CENTRE,
    METRIC_NAMES,
    PER,
    PREVALENCES,
    chosen_step,
    compared_name,
    cover_sentence,
    handed_over,
    is_none,
    latest_result,
    more_or_fewer,
    natural_frequencies,
    of_children,
    parts,
    per_100,
    plain_adaptation,
    read_history,
    reads_sentence,
    share_in_words,
    shift_sentence,
    short_name,
    target_verdict,
    targets_changed_sentence,
    which_result,
    whole,
)

SLIDE = (13.33, 7.5)
INK, ACCENT, MUTED, CALM = "#1b2a41", "#c0392b", "#7f8c8d", "#2e86c1"
FLAGGED, MISSED, CLEARED, NEEDLESS = "#c0392b", "#f5b7b1", "#aed6f1", "#e67e22"
#: Where a slide's figure goes (left, bottom, width, height as fractions of the slide): the
#: whole slide below the title and headline, well over half of it.
CONTENT = (0.05, 0.08, 0.90, 0.62)


# ---------------------------------------------------------------------------- slide parts


def _image(name: str) -> Path:
    """``images/<name>.png``; a one-line :class:`XrayError` when it is missing."""
    path = config.images_dir() / f"{name}.png"
    if not path.exists():
        raise XrayError(f"{path} is missing: {results.MISSING}")
    return path


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


def _grid(ax: Axes, groups: list[tuple[int, str]], columns: int = 50) -> None:
    """One small square per child, ``columns`` a row, coloured by ``groups`` in order:
    ``[(45, red), (5, pink), …]`` colours the first 45 red, the next 5 pink, and so on."""
    colors = [color for n, color in groups for _ in range(n)]
    rows = math.ceil(len(colors) / columns)
    xs = [k % columns for k in range(len(colors))]
    ys = [rows - 1 - k // columns for k in range(len(colors))]
    box, size = ax.get_position(), cast(Figure, ax.figure).get_size_inches()
    cell = min(box.width * size[0] / columns, box.height * size[1] / rows)  # inches
    side = 0.8 * 72 * cell  # a square's side in points, a fifth of it gap
    ax.scatter(xs, ys, s=side**2, marker="s", c=colors, linewidths=0)
    ax.set_xlim(-0.6, columns - 0.4)
    ax.set_ylim(-0.6, rows - 0.4)
    ax.set_aspect("equal", anchor="W")
    ax.axis("off")


# ---------------------------------------------------------------------------- the slides


def slide_title(res: results.Results) -> Figure:
    """What the project is, its headline result in natural frequencies, what X-rays look like."""
    fig = _slide("Can a computer flag pneumonia on child X-rays?", cover_sentence(res))
    _picture(fig, _image("01_sample_grid"), (0.04, 0.05, 0.92, 0.56))
    return fig


def slide_data(res: results.Results) -> Figure:
    """How many X-rays of each kind served each part (training, check set, official test),
    from where, and why accuracy alone says little."""
    counts = res.counts
    always = counts.loc["test", "PNEUMONIA"] / counts.loc["test", "total"]
    fig = _slide(
        f"{int(counts.loc['total', 'total']):,} X-rays of children, most with pneumonia",
        f"Because pneumonia is so common here, answering 'pneumonia' for every X-ray is already "
        f"right {per_100(always)} times in 100 — so we report what happens to X-rays with and "
        "without pneumonia separately.",
    )
    ax = fig.add_axes((0.17, 0.27, 0.47, 0.33))
    shown = parts(res)
    labels = [textwrap.fill(part.name, 12) for part in shown]
    normal = [part.normal or 0 for part in shown]
    pneumonia = [part.pneumonia or 0 for part in shown]
    unknown = [part.total if part.pneumonia is None else 0 for part in shown]
    ax.barh(labels, normal, 0.6, color=CLEARED, label="healthy (NORMAL)")
    ax.barh(labels, pneumonia, 0.6, left=normal, color=FLAGGED, label="pneumonia")
    ax.barh(labels, unknown, 0.6, color=MUTED)
    gap = max(part.total for part in shown) * 0.02
    for k, part in enumerate(shown):
        ax.text(
            part.total + gap,
            k,
            f"{part.total:,}",
            va="bottom",
            fontsize=17,
            color=INK,
            weight="bold",
        )
        classes = (
            "classes not counted"
            if part.pneumonia is None
            else f"{part.normal:,} healthy · {part.pneumonia:,} pneumonia"
        )
        ax.text(part.total + gap, k, classes, va="top", fontsize=14, color=INK)
    ax.invert_yaxis()
    ax.set_xlabel("X-rays", fontsize=14)
    ax.legend(fontsize=15, frameon=False, loc="lower left", bbox_to_anchor=(0, 1), ncol=2)
    _bare(ax)
    note = (
        f"The check set was split off the training X-rays, keeping each child's X-rays together, "
        f"to choose the model. All from one hospital: {CENTRE} (Kermany et al. 2018)."
    )
    if res.children:
        note += (
            f" The {res.test_count('total')} test X-rays are of {res.children['total']:,} "
            f"children: {res.test_count('NORMAL')} healthy X-rays{of_children(res, 'NORMAL')}, "
            f"{res.test_count('PNEUMONIA')} with pneumonia{of_children(res, 'PNEUMONIA')}."
        )
    fig.text(0.04, 0.17, textwrap.fill(note, 100), fontsize=16, color=INK, va="top")
    return fig


def _flow(ax: Axes, steps: list[str]) -> None:
    """Boxes joined by arrows, the last one highlighted."""
    ax.set_xlim(0, len(steps))
    ax.set_ylim(0, 1)
    ax.axis("off")
    for k, text in enumerate(steps):
        last = k == len(steps) - 1
        ax.add_patch(
            FancyBboxPatch(
                (k + 0.08, 0.05),
                0.74,
                0.9,
                boxstyle="round,pad=0.02",
                color=ACCENT if last else CALM,
                alpha=0.2 if last else 0.15,
            )
        )
        ax.text(k + 0.45, 0.5, text, ha="center", va="center", fontsize=17, color=INK)
        if not last:
            ax.add_patch(
                FancyArrowPatch(
                    (k + 0.84, 0.5), (k + 1.06, 0.5), arrowstyle="-|>", mutation_scale=30, color=INK
                )
            )


def _timeline(ax: Axes, history: pd.DataFrame) -> None:
    """The reads of the test set on a line: a filled dot for a new model, a ring for the same
    model read again."""
    n = len(history)
    ax.set_xlim(0.4, n + 0.6)
    ax.set_ylim(-1.2, 1)
    ax.axis("off")
    ax.plot([0.6, n + 0.4], [0, 0], color=MUTED, lw=2, zorder=1)
    for k, read in enumerate(history.itertuples(), start=1):
        ax.plot(
            k,
            0,
            "o",
            ms=22,
            mew=3,
            color=ACCENT,
            markerfacecolor="white" if read.again else ACCENT,
            zorder=2,
        )
        ax.text(k, 0.45, f"read {read.read}", ha="center", fontsize=16, weight="bold", color=INK)
        model = f"model {read.model}" + (", again" if read.again else "")
        ax.text(k, -0.45, f"{read.date}\n{model}", ha="center", va="top", fontsize=14, color=INK)


def slide_method(res: results.Results) -> Figure:
    """How the model was chosen (on a check set) and how often the official test set was read,
    with what that means."""
    training, check, _ = parts(res)
    target = pd.to_numeric(pd.Series([res.validation.get("target_sensitivity")]))[0]
    rule = (
        f"set to catch {per_100(target)} of 100 pneumonias in the check set"
        if pd.notna(target)
        else "set on the check set"
    )
    times = "once" if res.reads == 1 else f"{res.reads} times"
    fig = _slide(f"Chosen on a check set; test set read {times}", reads_sentence(res))
    steps = [
        f"{training.total:,}\nX-rays to\nlearn from,\n{check.total:,} to\ncheck with",
        chosen_step(res),
        f"alarm level\n{textwrap.fill(rule, 18)}",
        f"{res.test_count('total')} official\ntest X-rays,\nread {times}",
    ]
    _flow(fig.add_axes((0.05, 0.36, 0.90, 0.30)), steps)
    _timeline(fig.add_axes((0.05, 0.06, 0.90, 0.26)), read_history(res.ledger))
    fig.text(
        0.05,
        0.04,
        "● a new model   ○ the same model read again",
        fontsize=13,
        color=ACCENT,
    )
    return fig


def slide_frequencies(res: results.Results) -> Figure:
    """The headline result as two icon arrays: 100 X-rays with and 100 without pneumonia,
    as trained (the declared adjustment's result in the headline)."""
    row = res.plain
    flagged, needless = per_100(row.sensitivity), per_100(1 - row.specificity)
    adjusted = (
        ""
        if is_none(res.adaptation)
        else f"; {plain_adaptation(res.adaptation, short=True)}: "
        f"{per_100(res.adapted.sensitivity)} and {per_100(1 - res.adapted.specificity)}"
    )
    fig = _slide(
        f"Of 100 X-rays with pneumonia, it flags {flagged}",
        f"…and of 100 healthy X-rays, it sends {needless} for a needless second look "
        f"(official test set, as trained{adjusted}).",
    )
    sick, healthy = fig.add_axes((0.04, 0.15, 0.42, 0.48)), fig.add_axes((0.52, 0.15, 0.42, 0.48))
    _icon_array(sick, flagged, FLAGGED, MISSED, "100 X-rays with pneumonia")
    _icon_array(healthy, needless, NEEDLESS, CLEARED, "100 healthy X-rays")
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


def slide_rarer(res: results.Results) -> Figure:
    """What a flag means where pneumonia is rarer than in the test set, per 1,000 children."""
    row, which = latest_result(res)
    screenings = [natural_frequencies(row.sensitivity, row.specificity, p) for p in PREVALENCES]
    rarest = screenings[0]
    test_rate = res.test_count("PNEUMONIA") / res.test_count("total")
    fig = _slide(
        "Rarer pneumonia: most flags are false alarms"
        if 2 * rarest.caught < rarest.flags
        else "Rarer pneumonia: most flags are still right",
        f"In the official test set {per_100(test_rate)} of 100 X-rays show pneumonia. Where "
        f"fewer children have it, per {PER:,} children X-rayed (from the test result of {which}):",
    )
    for k, (prevalence, s) in enumerate(zip(PREVALENCES, screenings, strict=True)):
        x = 0.04 + 0.49 * k
        fig.text(
            x,
            0.635,
            f"If {per_100(prevalence)} in 100 children have pneumonia",
            fontsize=19,
            weight="bold",
            color=CALM,
        )
        _grid(
            fig.add_axes((x, 0.345, 0.44, 0.27)),
            [
                (s.caught, FLAGGED),
                (s.missed, MISSED),
                (s.false_flags, NEEDLESS),
                (s.healthy - s.false_flags, CLEARED),
            ],
        )
        lines = [
            (f"■ {s.sick:,} have pneumonia: {s.caught:,} flagged, {s.missed:,} missed", FLAGGED),
            (f"■ {s.healthy:,} do not: {s.false_flags:,} flagged all the same", NEEDLESS),
        ]
        for j, (text, color) in enumerate(lines):
            fig.text(x, 0.29 - 0.055 * j, text, fontsize=15, color=color, weight="bold")
        fig.text(
            x,
            0.17,
            textwrap.fill(
                f"Of its {s.flags:,} flags, {s.caught:,} have pneumonia: "
                f"{share_in_words(s.caught, s.flags)}.",
                40,
            ),
            fontsize=19,
            color=INK,
            va="top",
        )
    fig.text(
        0.04,
        0.05,
        "A flag: the model calls the X-ray PNEUMONIA. This assumes it catches and clears as "
        "many, per 100, as in the official test set.",
        fontsize=13,
        color=MUTED,
    )
    return fig


def slide_adaptation(res: results.Results) -> Figure:
    """The model as trained against the adjustment declared before the latest read (re-tuned
    on the new images without their diagnoses), per 100 X-rays, and what ``shift.csv``
    measures (or that it is not measured). The other adjustments scored for comparison are
    in notebook 06, not here; only one that did better in hindsight is named."""
    tests = res.metrics[res.metrics.split == "test"].copy()
    tests["adaptation"] = tests.get("adaptation", pd.Series("none", index=tests.index))
    tests = tests.fillna({"adaptation": "none"})
    before, after = (
        per_100(1 - res.plain.specificity),
        per_100(1 - res.adapted.specificity),
    )
    others = tests[~tests.adaptation.isin(["none", res.adaptation])]
    fewest = others.loc[others.specificity.idxmax()] if len(others) else None
    better = (
        f" In hindsight another step gives {per_100(1 - fewest.specificity)}; we keep the one "
        "fixed before."
        if fewest is not None and per_100(1 - fewest.specificity) < after
        else ""
    )
    if is_none(res.adaptation):
        fig = _slide(
            "No adjustment to the new images",
            "The model is handed over as trained; adjustments to new images were scored for "
            "comparison only.",
        )
        rows = {"as trained": res.plain}
    else:
        fig = _slide(
            "Adjusting to new images without diagnoses",
            f"Decided before the latest read: the model is {handed_over(res)}, to how they "
            "look. Needless second looks per 100 healthy test X-rays: "
            f"{before} as trained, {after} {plain_adaptation(res.adaptation, short=True)}."
            f"{better}",
        )
        rows = {"as trained": res.plain, plain_adaptation(res.adaptation, short=True): res.adapted}
    ax = fig.add_axes((0.3, 0.25, 0.6, 0.3))
    names = list(rows)
    flagged = [per_100(row.sensitivity) for row in rows.values()]
    needless = [per_100(1 - row.specificity) for row in rows.values()]
    y = range(len(names))
    ax.barh([k - 0.2 for k in y], flagged, 0.38, color=FLAGGED, label="pneumonias flagged (of 100)")
    ax.barh(
        [k + 0.2 for k in y],
        needless,
        0.38,
        color=NEEDLESS,
        label="needless second looks (of 100 healthy)",
    )
    for k in y:
        ax.text(flagged[k] + 1, k - 0.2, str(flagged[k]), va="center", fontsize=17)
        ax.text(needless[k] + 1, k + 0.2, str(needless[k]), va="center", fontsize=17)
    ax.set_yticks(list(y), [textwrap.fill(name, 16) for name in names])
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.legend(fontsize=15, frameon=False, loc="lower center", bbox_to_anchor=(0.4, 1), ncol=2)
    _bare(ax)
    ax.tick_params(axis="y", labelsize=17)
    fig.text(
        0.04,
        0.16,
        textwrap.fill(shift_sentence(res), 105),
        fontsize=15,
        color=INK,
        va="top",
    )
    return fig


def _first_targets(fig: Figure, res: results.Results, x: float, y: float) -> None:
    """The latest read against :data:`xraylib.results.FIRST_TARGETS`, one coloured line per
    metric with the value as trained and adjusted, and whether either result meets all."""
    check = results.target_check(res.plain, res.adapted, results.FIRST_TARGETS)
    fig.text(
        x, y, "The first targets,\nlatest read", fontsize=17, weight="bold", color=INK, va="top"
    )
    for k, (metric, rows) in enumerate(check.groupby("metric", sort=False)):
        values = ", ".join(
            f"{item.achieved:.3f} {which_result(item.result, res.adaptation)}"
            for item in rows.itertuples()
        )
        met = "met" if rows.met.all() else "not met" if not rows.met.any() else "met by one"
        fig.text(
            x,
            y - 0.11 - 0.1 * k,
            f"{METRIC_NAMES[str(metric)]} ≥ {rows.target.iloc[0]:g}: {met}\n{values}",
            fontsize=14,
            color=CALM if rows.met.all() else ACCENT,
            va="top",
        )
    whole_set = check.groupby("result", sort=False).met.all()
    fig.text(
        x,
        y - 0.12 - 0.1 * check.metric.nunique(),
        "All four met " + which_result(whole_set.idxmax(), res.adaptation)
        if whole_set.any()
        else "Neither result meets all four.",
        fontsize=15,
        weight="bold",
        color=CALM if whole_set.any() else ACCENT,
        va="top",
    )


def slide_target(res: results.Results) -> Figure:
    """Whether the project's quality targets are met, each as a value against its line, and
    the latest read against the first targets, which were changed after reads had been seen
    (:data:`xraylib.results.FIRST_TARGETS`)."""
    check = results.target_check(res.plain, res.adapted)
    changed = targets_changed_sentence(res)
    fig = _slide("Does it meet the quality targets?", f"{target_verdict(res)} {changed}".strip())
    ax = fig.add_axes((0.22, 0.17, 0.34 if changed else 0.5, 0.4))
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
            fontsize=15,
            color=color,
            transform=ax.get_yaxis_transform(),
        )
        lowest = min(lowest, float(item.achieved))
        labels.append(
            f"{METRIC_NAMES[str(item.metric)]},\n{which_result(item.result, res.adaptation)}"
        )
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(lowest - 0.02, 1.01)
    ax.set_title("The targets now, latest read", fontsize=17, weight="bold", color=INK, loc="left")
    ax.set_xlabel("score (1 = perfect) · black line: target · bar: 95% range", fontsize=13)
    _bare(ax)
    if changed:
        _first_targets(fig, res, 0.72, 0.64)
    fig.text(
        0.04,
        0.06,
        "ROC AUC: how often an X-ray with pneumonia is ranked above a healthy one.",
        fontsize=13,
        color=INK,
    )
    return fig


def slide_published(res: results.Results) -> Figure:
    """Pneumonias flagged and healthy X-rays cleared, per 100, next to published models and
    the trivial answer (accuracy only beside the names: it misleads here)."""
    table = res.comparison.dropna(subset=["accuracy"]).reset_index(drop=True)
    published = table[
        ~table.model.str.startswith("xraylib") & ~table.source.str.startswith("computed")
    ]
    complete = published.dropna(subset=["sensitivity", "specificity"])
    best = (complete if len(complete) else published).sort_values("accuracy").iloc[-1]
    ours = res.plain
    caught, cleared = per_100(ours.sensitivity), per_100(ours.specificity)
    headline = (
        f"On the same official test set, ours (as trained) flags {caught} of 100 pneumonia "
        f"X-rays and clears {cleared} of 100 healthy ones; {short_name(best.model)} "
        "(pre-trained on millions of photos)"
    )
    if pd.notna(best.sensitivity) and pd.notna(best.specificity):
        theirs = per_100(best.sensitivity), per_100(best.specificity)
        headline += (
            f" flags {theirs[0]} and clears {theirs[1]}: ours catches "
            f"{more_or_fewer(caught, theirs[0], 'pneumonias')} but clears "
            f"{more_or_fewer(cleared, theirs[1], 'healthy X-rays')}."
        )
    else:
        headline += f" labels {per_100(best.accuracy)} of 100 X-rays correctly."
    fig = _slide("Compared with published work", headline)
    ax = fig.add_axes((0.36, 0.1, 0.57, 0.5))
    names = [
        f"{compared_name(r.model, res)}\n{per_100(r.accuracy)} of 100 X-rays right"
        for r in table.itertuples()
    ]
    y = range(len(table))
    for offset, column, color, label in [
        (-0.2, "sensitivity", FLAGGED, "pneumonia X-rays flagged (of 100)"),
        (0.2, "specificity", CALM, "healthy X-rays cleared (of 100)"),
    ]:
        values = table[column]
        known = [k for k in y if pd.notna(values[k])]
        ax.barh(
            [k + offset for k in known],
            [per_100(values[k]) for k in known],
            0.38,
            color=color,
            label=label,
        )
        for k in y:
            text = str(per_100(values[k])) if pd.notna(values[k]) else "not reported"
            ax.text(
                (per_100(values[k]) if pd.notna(values[k]) else 0) + 1,
                k + offset,
                text,
                va="center",
                fontsize=14,
                color=INK if pd.notna(values[k]) else MUTED,
            )
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.legend(fontsize=14, frameon=False, loc="upper center", bbox_to_anchor=(0.45, 1.14), ncol=2)
    _bare(ax)
    ax.tick_params(axis="y", labelsize=13)
    return fig


#: The Grad-CAM panels of notebook 06's figures that the errors slide shows, larger:
#: ``(figure, panel from the left counting from 0, caption)``.
GRADCAM_PANELS = (
    ("06_gradcam_false_positive", 1, "healthy, flagged"),
    ("06_gradcam_false_positive", 2, "healthy, flagged"),
    ("06_gradcam_correct_normal", 0, "healthy, cleared:\nheat on the border"),
    ("06_gradcam_correct_normal", 1, "healthy, cleared"),
)


def _panels(path: Path) -> list[np.ndarray]:
    """The image panels of a figure of :func:`xraylib.plots.plot_gradcam`, left to right:
    the runs of inked columns across its middle row wider than a tenth of the figure (the
    colour bar is narrower), each cut to the rows inked across most of its width (the X-ray,
    without its title)."""
    picture = mpimg.imread(path)
    inked = picture[..., :3].min(axis=2) < 0.9
    middle = np.concatenate([[False], inked[len(inked) // 2], [False]]).astype(int)
    edges = np.flatnonzero(np.diff(middle))
    panels = []
    for left, right in zip(edges[::2], edges[1::2], strict=True):
        if right - left < picture.shape[1] / 10:
            continue
        rows = np.flatnonzero(inked[:, left:right].mean(axis=1) > 0.9)
        panels.append(picture[rows.min() : rows.max() + 1, left:right])
    return panels


def slide_errors(res: results.Results) -> Figure:
    """How often it is wrong about healthy X-rays, and where it found evidence for pneumonia
    in four of them (larger panels of notebook 06's Grad-CAM figures, :data:`GRADCAM_PANELS`),
    with what the maps do not show."""
    normal = res.test_count("NORMAL")
    wrong = whole((1 - res.adapted.specificity) * normal)
    model = "" if is_none(res.adaptation) else plain_adaptation(res.adaptation, short=True) + " "
    fig = _slide(
        "Where it found evidence for pneumonia",
        f"{wrong} of the {normal} healthy test X-rays{of_children(res, 'NORMAL')} were flagged "
        f"by the {model}model. Red: where it found the most evidence for pneumonia in that X-ray.",
    )
    figures = {name: _panels(_image(name)) for name in {name for name, _, _ in GRADCAM_PANELS}}
    width = 0.92 / len(GRADCAM_PANELS)
    for k, (name, index, caption) in enumerate(GRADCAM_PANELS):
        ax = fig.add_axes((0.04 + k * width, 0.2, width - 0.01, 0.44))
        ax.imshow(figures[name][index])
        ax.axis("off")
        ax.set_title(caption, fontsize=16, color=ACCENT if "flagged" in caption else CALM)
    fig.text(
        0.04,
        0.17,
        textwrap.fill(
            "Each map is scaled to its own strongest spot, so colours cannot be compared "
            "between X-rays, and a cleared X-ray's map does not show why it was cleared. Some "
            "heat falls on the image border, and in other X-rays on ECG leads: the shortcuts "
            "the training recipe is built against.",
            120,
        ),
        fontsize=14,
        color=INK,
        va="top",
    )
    return fig


def slide_use(res: results.Results) -> Figure:
    """How it could be used, and what is not known yet."""
    fig = _slide(
        "A help to sort the queue — not a diagnosis",
        f"Its alarm level was set to miss few pneumonias ({100 - per_100(res.plain.sensitivity)}"
        " of 100 pneumonia X-rays in the test, as trained), at the cost of extra second looks.",
    )
    columns = {
        "How it could be used": [
            "Sort the day's X-rays so likely pneumonias are read first.",
            "Before use at a new site: re-tune on local unlabelled X-rays, then check on a "
            "labelled local sample.",
            "Show the probability with every answer; borderline cases go to a person.",
        ],
        "What we do not know yet": [
            "Training and test X-rays are from one hospital in China, children aged one to "
            "five; others may differ.",
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
SLIDES: tuple[Callable[[results.Results], Figure], ...] = (
    slide_title,
    slide_data,
    slide_method,
    slide_frequencies,
    slide_rarer,
    slide_adaptation,
    slide_target,
    slide_published,
    slide_errors,
    slide_use,
)


def build(out: str | Path | None = None) -> Path:
    """Write the slides to ``out`` (default ``presentation.pdf`` in the project); return it.

    Raises :class:`XrayError` (one line) naming the results file or figure that is missing.
    """
    res = results.Results()
    out = Path(out) if out else config.output_dir() / "presentation.pdf"
    figures = [make(res) for make in SLIDES]
    with PdfPages(out) as pdf:
        for fig in figures:
            pdf.savefig(fig)
    return out
