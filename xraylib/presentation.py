"""Build ``presentation.pdf`` for a non-technical audience from the results files and figures.

Every number on the slides is read from ``data/results/`` (written by the executed notebooks)
and every picture from ``images/``; nothing is typed in. Rebuild with
``python -m xraylib presentation`` (``make presentation``) after re-running the notebooks.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from xraylib import config  # noqa: E402
from xraylib.errors import XrayError  # noqa: E402
from xraylib.evaluate import confusion, format_with_ci  # noqa: E402
from xraylib.notebook import series  # noqa: E402

SLIDE = (13.33, 7.5)
INK, ACCENT, MUTED = "#1b2a41", "#c0392b", "#5d6d7e"


class Results:
    """The results files a presentation needs, with one-line errors when one is missing."""

    def __init__(self, results: Path, images: Path):
        self.results, self.images = results, images
        self.metrics = self._csv("metrics.csv", dtype={"notebook": str})
        self.counts = self._csv("counts.csv")
        self.comparison = self._csv("comparison.csv")
        self.predictions = self._csv("test_predictions.csv")

    def _csv(self, name: str, **options) -> pd.DataFrame:
        path = self.results / name
        if not path.exists():
            raise XrayError(f"{path} is missing: execute the notebooks first (make notebooks)")
        return pd.read_csv(path, **options)

    def image(self, name: str) -> Path:
        path = self.images / f"{name}.png"
        if not path.exists():
            raise XrayError(f"{path} is missing: execute the notebooks first (make notebooks)")
        return path

    def final_rows(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        """The test rows as trained and with AdaBN, and the ``@final`` validation row.

        Raises :class:`XrayError` (one line) when notebook 06 has not written them.
        """
        metrics = self.metrics
        tests = metrics[metrics.split == "test"]
        adaptation = tests.get("adaptation", pd.Series("none", index=tests.index)).fillna("none")
        plain, adapted = tests[adaptation == "none"], tests[adaptation != "none"]
        final = metrics[(metrics.split == "val") & metrics.model.astype(str).str.endswith("@final")]
        for rows, what in (
            (plain, "no test row as trained (adaptation none)"),
            (adapted, "no test row with adaptation"),
            (final, "no validation row of a model ending with @final"),
        ):
            if rows.empty:
                raise XrayError(f"{self.results / 'metrics.csv'} has {what}: run notebook 06 first")
        return plain.iloc[0], adapted.iloc[0], final.iloc[0]


def _slide(
    pdf: PdfPages,
    title: str,
    bullets: Sequence[str] = (),
    image: Path | None = None,
    table: pd.DataFrame | None = None,
) -> None:
    """One 16:9 slide: a title, bullets on the left, a picture or table on the right (a table
    of more than four columns spans the slide below the bullets)."""
    fig = plt.figure(figsize=SLIDE)
    fig.text(0.04, 0.92, textwrap.fill(title, 60), fontsize=24, weight="bold", color=INK, va="top")
    fig.add_artist(plt.Line2D([0.04, 0.96], [0.80, 0.80], color=ACCENT, lw=2))
    wide = table is not None and len(table.columns) > 4
    text_width = 0.42 if (image is not None or (table is not None and not wide)) else 0.9
    y = 0.74
    for bullet in bullets:
        wrapped = textwrap.fill(bullet, width=int(110 * text_width))
        fig.text(
            0.05,
            y,
            "•  " + wrapped.replace("\n", "\n    "),
            fontsize=15,
            color=INK,
            va="top",
            linespacing=1.35,
        )
        y -= 0.075 * (wrapped.count("\n") + 1) + 0.03
    if image is not None:
        ax = fig.add_axes((0.5, 0.05, 0.47, 0.76))
        ax.imshow(plt.imread(image))
        ax.axis("off")
    if table is not None:
        box = (0.05, 0.06, 0.9, y - 0.08) if wide or not bullets else (0.5, 0.08, 0.47, 0.66)
        ax = fig.add_axes(box)
        ax.axis("off")
        shown = ax.table(
            cellText=table.to_numpy(),
            colLabels=list(table.columns),
            loc="upper center",
            cellLoc="center",
            colWidths=_column_widths(table),
        )
        shown.auto_set_font_size(False)
        shown.set_fontsize(12)
        shown.scale(1, 1.8)
    fig.text(
        0.96,
        0.02,
        "xraylib · teaching project · not a medical device",
        fontsize=9,
        color=MUTED,
        ha="right",
    )
    pdf.savefig(fig)
    plt.close(fig)


def _column_widths(table: pd.DataFrame) -> list[float]:
    """Column widths (fractions of the table) proportional to the longest text in each."""
    longest = [max([len(str(c))] + [len(str(v)) for v in table[c]]) + 2 for c in table.columns]
    return [n / sum(longest) for n in longest]


#: The project's quality target on the official test set (issue "Final evaluation").
TARGET = {"accuracy": 0.93, "roc_auc": 0.975, "sensitivity": 0.97, "specificity": 0.85}


def _target_verdict(plain: pd.Series, adapted: pd.Series) -> str:
    """One sentence: does either result meet every part of :data:`TARGET`?"""
    wanted = ", ".join(
        f"{name.replace('roc_auc', 'ROC AUC')} ≥ {value}" for name, value in TARGET.items()
    )
    met = [
        label
        for label, row in (("as trained", plain), ("with adaptation", adapted))
        if all(row[name] >= value for name, value in TARGET.items())
    ]
    if met:
        return f"Meets the project's target ({wanted}): {' and '.join(met)}."
    short = [
        name.replace("roc_auc", "ROC AUC")
        for name, value in TARGET.items()
        if adapted[name] < value
    ]
    return (
        f"Neither result meets the project's target ({wanted}); even with adaptation it "
        f"falls short on {', '.join(short)}."
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def build(out: str | Path | None = None) -> Path:
    """Write the slides to ``out`` (default ``presentation.pdf`` in the project); return it."""
    res = Results(config.results_dir(), config.images_dir())
    out = Path(out) if out else config.output_dir() / "presentation.pdf"
    plain, adapted, val = res.final_rows()
    counts = res.counts.set_index("split")
    validation = res.metrics[res.metrics.split == "val"]
    n_models = int((~validation.model.astype(str).str.contains("@")).sum())
    n_cnn_designs = int((pd.to_numeric(validation.get("notebook"), errors="coerce") == 3).sum())
    target = pd.to_numeric(val.get("target_sensitivity"), errors="coerce")
    threshold_why = (
        f"to catch at least {100 * target:.0f}% of pneumonias there"
        if pd.notna(target)
        else "without looking at the test set"
    )
    # counts for the model the error slide's heat maps show: the AdaBN-adapted one
    predictions = res.predictions
    (tn, fp), (fn, tp) = confusion(
        (predictions.label == "PNEUMONIA").to_numpy(),
        predictions.p_adabn.to_numpy(),
        adapted.threshold,
    )

    with PdfPages(out) as pdf:
        _slide(
            pdf,
            "Can a small neural network flag pneumonia on children's chest X-rays?",
            [
                "A teaching project: every step from raw images to an honest test result, in "
                f"{len(series())} notebooks anyone can re-run.",
                f"{int(counts.loc['total', 'total']):,} pediatric chest X-rays (Kermany et al., "
                "Cell 2018, CC BY 4.0), labelled NORMAL or PNEUMONIA.",
                f"Final model, judged once on {int(plain.n)} unseen test images. As trained: "
                f"sensitivity {_pct(plain.sensitivity)}, specificity {_pct(plain.specificity)}; "
                "with on-site adaptation (AdaBN, explained below with the results): "
                f"sensitivity {_pct(adapted.sensitivity)}, specificity "
                f"{_pct(adapted.specificity)}.",
            ],
        )
        _slide(
            pdf,
            "The problem",
            [
                "Pneumonia is a leading cause of death in children under five; a chest X-ray is "
                "the usual way to confirm it.",
                "Reading X-rays takes trained radiologists, who are scarce in many places.",
                "A tool that sorts X-rays by how likely they show pneumonia could help a "
                "clinician prioritise — if its errors are known and honest.",
            ],
        )
        _slide(
            pdf,
            "The data — and its imbalance",
            [
                f"Training images: {int(counts.loc['train', 'PNEUMONIA']):,} pneumonia vs "
                f"{int(counts.loc['train', 'NORMAL']):,} normal, about "
                f"{counts.loc['train', 'PNEUMONIA'] / counts.loc['train', 'NORMAL']:.1f} to 1.",
                f"Official test set: {int(counts.loc['test', 'PNEUMONIA'])} pneumonia, "
                f"{int(counts.loc['test', 'NORMAL'])} normal. Answering 'pneumonia' every time "
                f"is already {_pct(counts.loc['test', 'PNEUMONIA'] / counts.loc['test', 'total'])}"
                " accurate — so accuracy alone says little.",
                "We check models on children the model never saw in training (no child in both "
                "sets).",
            ],
            image=res.image("01_class_counts"),
        )
        _slide(
            pdf,
            "How we built it",
            [
                f"{n_models} models compared on validation data: a simple baseline, "
                f"{n_cnn_designs} convolutional designs, augmentation variants and an automated "
                "search.",
                "Each change was one hypothesis, kept only if validation results improved.",
                f"Chosen: {plain.model}; its decision threshold ({val.threshold:.2f}) was fixed "
                f"on validation {threshold_why}.",
            ],
            image=res.image("03_comparison_auc"),
        )
        _slide(
            pdf,
            "Results on the unseen test set",
            [
                "Read once, after every choice was made. 95% confidence intervals in brackets.",
                "On-site adaptation (AdaBN): the model re-calibrates its internal statistics on "
                "the new hospital's unlabelled X-rays; no diagnosis labels are used.",
                _target_verdict(plain, adapted),
            ],
            table=pd.DataFrame(
                {
                    "": ["sensitivity", "specificity", "accuracy", "ROC AUC"],
                    "as trained": [
                        format_with_ci(plain, m)
                        for m in ("sensitivity", "specificity", "accuracy", "roc_auc")
                    ],
                    "with adaptation": [
                        format_with_ci(adapted, m)
                        for m in ("sensitivity", "specificity", "accuracy", "roc_auc")
                    ],
                }
            ),
        )
        published = res.comparison.copy()
        for column in published.select_dtypes("number").columns:
            published[column] = published[column].map(lambda v: "–" if pd.isna(v) else f"{v:.3f}")
        _slide(
            pdf,
            "Compared with published work",
            [
                "Kermany et al. used a large network pre-trained on millions of photos; ours is "
                "small and trained from scratch on a laptop-class CPU.",
            ],
            table=published.drop(columns="source"),
        )
        _slide(
            pdf,
            "What the errors look like (with AdaBN)",
            [
                f"With AdaBN, missed pneumonias (false negatives): {fn} of {fn + tp} "
                "pneumonia X-rays.",
                f"Normal X-rays flagged as pneumonia (false positives): {fp} of {fp + tn}.",
                "Heat maps (right: normal X-rays the model called pneumonia) show which regions "
                "drove each decision.",
            ],
            image=res.image("06_gradcam_false_positive"),
        )
        _slide(
            pdf,
            "How a doctor could use it",
            [
                "As a second reader or a triage aid: sort the day's X-rays so likely pneumonias "
                "are read first — never as the final word.",
                "Before use at a new site: run it on a batch of local unlabelled X-rays to adapt, "
                "then check it on a labelled local sample.",
                "The probability is shown with every answer; borderline cases go to a human.",
            ],
            image=res.image("06_confusion_adabn"),
        )
        _slide(
            pdf,
            "Limitations",
            [
                "One hospital in China, children aged one to five: adults, other hospitals and "
                "other machines may differ.",
                "Performance drops from training-like data to the test set; it would drop again "
                "at a new site without checking.",
                "No external validation, one label per image, not a medical device.",
            ],
        )
        _slide(
            pdf,
            "Next steps",
            [
                "External validation on X-rays from another hospital.",
                "A prospective reader study: do clinicians with the tool decide better or faster?",
                "Pre-trained networks and higher resolution, compared on the same honest protocol.",
            ],
        )
    return out
