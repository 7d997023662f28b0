"""The results store: ``metrics.csv``, prediction files, the comparison table, the test ledger.

Notebooks score predictions with :mod:`xraylib.evaluate` and keep them here, so README and
``presentation.pdf`` can be generated from files instead of typed numbers:

* ``data/results/metrics.csv``: one row per (model, split): metrics at a threshold, 95%
  bootstrap intervals and facts about the run (:func:`save_metrics`, :func:`load_metrics`);
* ``data/results/<name>_predictions.csv``: per-image probabilities (:func:`save_predictions`);
* ``data/results/test_ledger.csv``: one row **every time** a final model is scored on the
  official test set, only ever appended (:func:`append_to_ledger`). Its number of reads is how
  a reader checks that the test set was not used to tune anything.

Every file is written atomically (:func:`xraylib.config.atomic_path`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from xraylib import config
from xraylib.errors import XrayError
from xraylib.evaluate import METRICS, bootstrap_ci, compute_metrics, format_with_ci

KEY_COLUMNS = ("model", "split", "threshold")
METRICS_FILE = "metrics.csv"
STRESS_FILE = "stress.csv"
LEDGER_FILE = "test_ledger.csv"
#: Metrics with a 95% interval in the ledger (the others are point estimates).
LEDGER_INTERVALS = ("accuracy", "sensitivity", "specificity", "roc_auc")
#: What to do when a file that notebook 06 writes is missing.
RUN_06 = "run notebook 06 first (make notebooks)"


def _folder(results_dir: Path | None) -> Path:
    folder = Path(results_dir or config.results_dir())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` (without its index) to ``path`` atomically; return the path."""
    with config.atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)
    return path


def load_metrics(results_dir: Path | None = None) -> pd.DataFrame:
    """The results table ``metrics.csv`` (empty, with the key columns, if none yet)."""
    path = Path(results_dir or config.results_dir()) / METRICS_FILE
    if not path.exists():
        return pd.DataFrame(columns=[*KEY_COLUMNS, *METRICS, "n"])
    return pd.read_csv(path, dtype={"notebook": str})


def score_row(
    model_name: str,
    split: str,
    y_true: np.ndarray,
    p: np.ndarray,
    threshold: float,
    extra: Mapping | None = None,
    ci: bool = True,
    groups: np.ndarray | pd.Series | None = None,
    seed: int = config.DEFAULT_SEED,
) -> pd.Series:
    """One results row: ``model, split, threshold``, the metrics, ``n``, ``<metric>_low`` and
    ``<metric>_high`` (95% bootstrap interval, when ``ci``, drawn with ``seed``; resampling
    ``groups`` such as patient ids when given), then the ``extra`` items."""
    values = compute_metrics(y_true, p, threshold)
    row: dict = {
        "model": model_name,
        "split": split,
        "threshold": float(threshold),
        **{name: values[name] for name in METRICS},
        "n": values["n"],
    }
    if ci:
        intervals = bootstrap_ci(y_true, p, threshold, seed=seed, groups=groups)
        for name in METRICS:
            row[f"{name}_low"] = intervals.at[name, "low"]
            row[f"{name}_high"] = intervals.at[name, "high"]
    return pd.Series(row | dict(extra or {}))


def save_metrics(
    model_name: str,
    split: str,
    y_true: np.ndarray,
    p: np.ndarray,
    threshold: float,
    results_dir: Path | None = None,
    extra: Mapping | None = None,
    ci: bool = True,
    groups: np.ndarray | pd.Series | None = None,
    seed: int = config.DEFAULT_SEED,
) -> pd.Series:
    """Score predictions (:func:`score_row`, its intervals drawn with ``seed``) and write
    them as the ``(model_name, split)`` row of ``metrics.csv``, replacing an earlier row of
    that model and split, so a notebook can be re-run. Returns the row.

    >>> row = results.save_metrics("cnn", "val", splits.y_val, p_val, 0.5)  # doctest: +SKIP
    """
    row = score_row(model_name, split, y_true, p, threshold, extra, ci, groups, seed)
    folder = _folder(results_dir)
    table = row.to_frame().T
    old = load_metrics(folder)
    old = old[~((old["model"] == model_name) & (old["split"] == split))]
    if len(old):
        table = pd.concat([old, table], ignore_index=True)
    write_csv(table, folder / METRICS_FILE)
    return row


def update_row(model_name: str, split: str, results_dir: Path | None = None, **values) -> None:
    """Set columns of the ``(model_name, split)`` row of ``metrics.csv``.

    Raises :class:`~xraylib.errors.XrayError` (one line) when there is no such row.
    """
    folder = _folder(results_dir)
    table = load_metrics(folder)
    rows = (table["model"] == model_name) & (table["split"] == split)
    if not rows.any():
        raise XrayError(f"metrics.csv has no row for model {model_name!r} on {split!r}")
    for column, value in values.items():
        table.loc[rows, column] = value
    write_csv(table, folder / METRICS_FILE)


def design_column(rows: pd.DataFrame) -> pd.Series:
    """The design of each row of a ``metrics.csv`` table: its ``design`` column (shared by the
    seeds of one design), or the model's own name where there is none."""
    return rows["design"].fillna(rows["model"]) if "design" in rows else rows["model"]


def best_candidate(
    query: str, by: str = "roc_auc", ascending: bool = False, results_dir: Path | None = None
) -> pd.Series:
    """The best design among the rows of ``metrics.csv`` matching ``query`` (a
    ``DataFrame.query`` string), by the **mean over its seeds** of the column ``by`` (highest
    first unless ``ascending``).

    Rows of one design trained with several seeds share the ``design`` column; a row without
    one is a design of its own. Returns the design's first row (its first seed's numbers) with
    only ``by`` replaced by the seed mean, and ``seeds`` (how many rows it had) added. Raises
    :class:`~xraylib.errors.XrayError` (one line) when no row matches.

    >>> results.best_candidate("notebook == '03' and split == 'val'").model  # doctest: +SKIP
    'cnn_deeper'
    """
    rows = load_metrics(results_dir).query(query)
    if rows.empty:
        raise XrayError(f"no row of metrics.csv matches {query!r}: run the earlier notebooks")
    design = design_column(rows)
    means = rows.groupby(design, sort=False)[by].agg(["mean", "size"])
    best = means.sort_values("mean", ascending=ascending, kind="stable").index[0]
    row = rows[design == best].iloc[0].copy()
    row[by], row["seeds"] = means.loc[best, "mean"], int(means.loc[best, "size"])
    return row


def forget_from(notebook: str, results_dir: Path | None = None) -> int:
    """Remove the validation runs that ``notebook`` and the notebooks after it recorded: their
    rows of ``metrics.csv`` and of ``stress.csv``. Returns how many metrics rows went.

    Notebooks 04 and 05 call it first, so a re-run decides on its own runs only: a seed trained
    after an earlier run's decision, or a design that run tried, never joins the new decision.
    Later notebooks are built on this one, so their rows go too (notebook 06 records again);
    the test ledger is never touched.

    >>> results.forget_from("05")  # doctest: +SKIP
    0
    """
    folder = Path(results_dir or config.results_dir())
    path = folder / METRICS_FILE
    if not path.exists():
        return 0
    table = load_metrics(folder)
    later = pd.to_numeric(table["notebook"], errors="coerce") >= int(notebook)
    if later.any():
        write_csv(table[~later], path)
        stress = folder / STRESS_FILE
        if stress.exists():
            rows = pd.read_csv(stress)
            write_csv(rows[~rows.model.isin(table.model[later])], stress)
    return int(later.sum())


def forget_final(results_dir: Path | None = None) -> int:
    """Remove the final evaluation from ``metrics.csv``: every ``test`` row and every row whose
    model ends with ``@final``. Returns how many rows were removed (0 when there is no file).

    Notebook 06 calls it before recording, so a re-run with another winner starts from a
    clean table instead of leaving the previous winner's test rows beside the new ones. The
    ledger keeps every read regardless.
    """
    path = Path(results_dir or config.results_dir()) / METRICS_FILE
    if not path.exists():
        return 0
    table = load_metrics(path.parent)
    final = (table["split"] == "test") | table["model"].astype(str).str.endswith("@final")
    if final.any():
        write_csv(table[~final], path)
    return int(final.sum())


def save_predictions(
    name: str,
    frame: pd.DataFrame,
    p: np.ndarray | Mapping[str, np.ndarray],
    threshold: float | None = None,
    results_dir: Path | None = None,
    data_dir: Path | None = None,
) -> Path:
    """Write ``<name>_predictions.csv``: the rows of ``frame`` (one per image, in the order of
    the predictions) with the probabilities of PNEUMONIA.

    ``p`` is one array (column ``probability``) or a mapping of column name to array (several
    models side by side). Given a threshold, each probability column ``c`` gets a
    ``c_label`` (or ``predicted``) column with the class it implies. Paths inside the data
    folder ``data_dir`` (a notebook passes ``profile.data_dir``) are written relative to it.
    Returns the path.
    """
    columns = {"probability": p} if not isinstance(p, Mapping) else dict(p)
    table = frame.reset_index(drop=True).copy()
    if "path" in table and data_dir is not None:  # no machine-specific prefixes
        root = Path(data_dir).absolute()
        table["path"] = [
            Path(x).relative_to(root).as_posix() if Path(x).is_relative_to(root) else x
            for x in table.path
        ]
    normal, pneumonia = config.CLASS_NAMES
    for column, values in columns.items():
        table[column] = np.asarray(values, dtype=float).ravel()
        if threshold is not None:
            label = "predicted" if column == "probability" else f"{column}_label"
            table[label] = np.where(table[column] >= threshold, pneumonia, normal)
    return write_csv(table, _folder(results_dir) / f"{name}_predictions.csv")


def summary_table(rows: Mapping[str, pd.Series], digits: int = 3) -> pd.DataFrame:
    """Results rows side by side: one row per metric, one column per entry of ``rows``, each
    cell as :func:`~xraylib.evaluate.format_with_ci` writes it."""
    table = {}
    for name, row in rows.items():
        cells = {metric: format_with_ci(row, metric, digits) for metric in METRICS}
        cells["threshold"] = f"{row['threshold']:.{digits}f}"
        cells["n"] = str(int(row["n"]))
        table[name] = cells
    return pd.DataFrame(table)


#: The metrics of the comparison with published results.
PUBLISHED_METRICS = ("accuracy", "sensitivity", "specificity", "roc_auc")

#: Published results on the same 624 official test images (point estimates only).
PUBLISHED = [
    {
        "model": "Kermany et al. 2018 (Inception V3, ImageNet transfer, full-size images)",
        "source": "Cell 172(5):1122, Figure 6",
        "accuracy": 0.928,
        "sensitivity": 0.932,
        "specificity": 0.901,
        "roc_auc": 0.968,
    },
    {
        "model": "MedMNIST v2 ResNet-50 (PneumoniaMNIST, 224 px)",
        "source": "Yang et al. 2023, Scientific Data 10:41",
        "accuracy": 0.884,
        "sensitivity": np.nan,
        "specificity": np.nan,
        "roc_auc": 0.962,
    },
]


def published_comparison(rows: Mapping[str, pd.Series], y_test: np.ndarray) -> pd.DataFrame:
    """Our test rows next to published results and the trivial "always PNEUMONIA" baseline
    computed on ``y_test``.

    Columns: ``model, source, accuracy, sensitivity, specificity, roc_auc``. Published rows
    are taken from the papers (no interval, unknown values NaN); ours carry their threshold in
    the source column.
    """
    always = compute_metrics(y_test, np.ones(len(y_test)))
    table = [
        {
            "model": f"xraylib: {name}",
            "source": f"this project, threshold {row['threshold']:.3f}",
            **{m: float(row[m]) for m in PUBLISHED_METRICS},
        }
        for name, row in rows.items()
    ]
    table += PUBLISHED
    table.append(
        {
            "model": "always PNEUMONIA (no model)",
            "source": "computed on the test labels",
            **{m: always[m] for m in PUBLISHED_METRICS},
        }
    )
    return pd.DataFrame(table)


def load_ledger(results_dir: Path | None = None) -> pd.DataFrame:
    """The test ledger (empty if the test set was never read)."""
    path = Path(results_dir or config.results_dir()) / LEDGER_FILE
    if not path.exists():
        return pd.DataFrame(columns=["read", "date", "commit", "model", "adaptation"])
    return pd.read_csv(path, dtype={"commit": str, "notebook": str})


def count_test_reads(results_dir: Path | None = None) -> int:
    """How many times a final model was scored on the official test set (ledger reads)."""
    ledger = load_ledger(results_dir)
    return int(ledger["read"].nunique()) if len(ledger) else 0


def _commit() -> str:
    """The short hash of the project's checked-out commit, or ``"unknown"``."""
    try:
        out = subprocess.run(
            ["git", "-C", str(config.ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def append_to_ledger(
    rows: Sequence[pd.Series],
    model: str,
    recipe: str,
    adaptations: Sequence[str],
    notebook: str = "06",
    note: str = "",
    results_dir: Path | None = None,
) -> pd.DataFrame:
    """Append one read of the test set to ``test_ledger.csv``: one line per scored row.

    ``rows`` are test rows (:func:`score_row`), ``adaptations`` their short adaptation names
    (``"none"`` for the plain model). All lines share the next ``read`` number, today's date
    and the commit. Earlier lines are never changed. Returns the lines appended.
    """
    folder = _folder(results_dir)
    ledger = load_ledger(folder)
    read = int(ledger["read"].max()) + 1 if len(ledger) else 1
    lines = []
    for row, adaptation in zip(rows, adaptations, strict=True):
        line = {
            "read": read,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "commit": _commit(),
            "notebook": notebook,
            "model": model,
            "recipe": recipe,
            "adaptation": adaptation,
            "threshold": float(row["threshold"]),
            **{name: float(row[name]) for name in METRICS},
            "n": int(row["n"]),
        }
        for name in LEDGER_INTERVALS:
            for side in ("low", "high"):
                line[f"{name}_{side}"] = row.get(f"{name}_{side}", np.nan)
        line["note"] = note
        lines.append(line)
    new = pd.DataFrame(lines)
    table = pd.concat([ledger, new], ignore_index=True) if len(ledger) else new
    write_csv(table, folder / LEDGER_FILE)
    return new


#: The quality targets on the official test set, everything chosen on validation:
#: ``(result, metric) → minimum``; ``plain`` is the model as trained, ``adapted`` the model
#: with its declared label-free adaptation.
TARGETS: dict[tuple[str, str], float] = {
    ("plain", "roc_auc"): 0.96,
    ("adapted", "accuracy"): 0.92,
    ("adapted", "sensitivity"): 0.95,
    ("adapted", "roc_auc"): 0.965,
}


def target_check(plain: Mapping, adapted: Mapping) -> pd.DataFrame:
    """One row per target of :data:`TARGETS`: ``result, metric, target, achieved, met``.

    >>> results.target_check(rows["none"], rows[declared])  # doctest: +SKIP
    """
    rows = {"plain": plain, "adapted": adapted}
    return pd.DataFrame(
        [
            {
                "result": result,
                "metric": metric,
                "target": minimum,
                "achieved": float(rows[result][metric]),
                "met": bool(float(rows[result][metric]) >= minimum),
            }
            for (result, metric), minimum in TARGETS.items()
        ]
    )
