"""The test ledger only grows: every row of every committed version of
``data/results/test_ledger.csv`` is still in the file, in its place, unchanged. Columns may be
added (earlier rows stay empty in them). Checked against the git history; without it (no
``.git``, a shallow clone, no git) the test is skipped with the reason, never passed."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import pytest

from xraylib import config

LEDGER = "data/results/test_ledger.csv"


def git(*args: str) -> str:
    """Output of a git command run in the project root; skips the test when git cannot run."""
    if shutil.which("git") is None:
        pytest.skip(f"{LEDGER} history not checked: git is not installed")
    done = subprocess.run(["git", "-C", str(config.ROOT), *args], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"{LEDGER} history not checked: git {args[0]}: {done.stderr.strip()}")
    return done.stdout


def committed_versions() -> list[tuple[str, str]]:
    """``(commit, text)`` of every committed version of the ledger, oldest first."""
    git("rev-parse", "--git-dir")  # not a git checkout: skipped with git's message
    if git("rev-parse", "--is-shallow-repository").strip() == "true":
        pytest.skip(
            f"{LEDGER} history not checked: a shallow clone holds only its latest commits "
            "(`git fetch --unshallow` to check every version)"
        )
    commits = git(
        "log", "--reverse", "--full-history", "--diff-filter=ACMRT", "--format=%H", "--", LEDGER
    )
    versions = [(commit, git("show", f"{commit}:./{LEDGER}")) for commit in commits.split()]
    if not versions:
        pytest.skip(f"{LEDGER} history not checked: no commit holds it")
    return versions


def rows(text: str) -> list[dict[str, str]]:
    """The ledger's rows, by column name (missing values as empty text)."""
    return [
        {column: value or "" for column, value in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


def changes(committed: list[dict[str, str]], current: list[dict[str, str]]) -> list[str]:
    """What happened to each committed row that is not in ``current`` as it was, in its place."""
    found = []
    for number, old in enumerate(committed, start=1):
        if number > len(current):
            found.append(f"row {number} (read {old.get('read')}) removed")
            continue
        new = current[number - 1]
        changed = sorted(
            str(c) for c in old.keys() | new.keys() if old.get(c, "") != new.get(c, "")
        )
        if changed:
            found.append(f"row {number} (read {old.get('read')}) changed in {', '.join(changed)}")
    return found


def test_committed_ledger_rows_are_never_changed_or_removed():
    current = rows((config.ROOT / LEDGER).read_text())
    for commit, text in committed_versions():
        found = changes(rows(text), current)
        assert not found, (
            f"{LEDGER} rows may only be appended; as committed in {commit[:7]}: " + "; ".join(found)
        )


def test_ledger_check_allows_appended_rows_and_new_empty_columns():
    committed = [{"read": "1", "accuracy": "0.8"}]
    assert (
        changes(committed, [{"read": "1", "accuracy": "0.8", "log_loss": ""}, {"read": "2"}]) == []
    )
    assert changes(committed, [{"read": "1", "accuracy": "0.9"}]) == [
        "row 1 (read 1) changed in accuracy"
    ]
    assert changes(committed, [{"read": "1", "accuracy": "0.8", "log_loss": "0.3"}]) == [
        "row 1 (read 1) changed in log_loss"
    ]
    assert changes(committed, []) == ["row 1 (read 1) removed"]
