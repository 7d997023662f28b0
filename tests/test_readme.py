"""The README's code runs as pasted, and its result tables equal the committed results and
describe the committed final model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from xraylib import config, report
from xraylib.errors import XrayError

README = (config.ROOT / "README.md").read_text()
COMMITTED_RESULTS = config.ROOT / "data" / "results"


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_example_runs_as_pasted_in_a_new_notebook_kernel(phantom_root, tmp_path):
    code = re.search(
        r"```python\n(.*?)```", _section("Use xraylib in your own notebook"), re.DOTALL
    ).group(1)
    env = {
        **os.environ,
        "XRAY_PROFILE": "smoke",
        "XRAY_DATA_DIR": str(phantom_root),
        "XRAY_OUTPUT_DIR": str(tmp_path),
        "MPLBACKEND": "Agg",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "'roc_auc'" in done.stdout


def test_readme_results_table_equals_metrics_csv():
    assert report.readme_block("results") == report.results_markdown(COMMITTED_RESULTS)


def test_readme_bench_table_equals_bench_json():
    assert report.readme_block("bench") == report.bench_markdown(COMMITTED_RESULTS)


def test_bench_measured_the_committed_final_model():
    """bench.json (and so the README's bench block) names the model it measured: the committed
    ``data/models/final.keras`` — the name and input size of ``final.json``, its weight count."""
    from xraylib import results

    final = config.ROOT / "data" / "models" / "final.keras"
    info = results.saved_info(final)
    bench = json.loads((COMMITTED_RESULTS / "bench.json").read_text())
    measured = re.match(r"final model (\S+) \((?:\d+ members, )?([\d,]+) weights\)", bench["model"])
    assert measured, f"bench.json does not say which model it measured: {bench['model']!r}"
    name, weights = measured.group(1), int(measured.group(2).replace(",", ""))
    stale = "bench.json measured another model than data/models/final.keras; re-run `make bench`"
    assert (name, bench["image_size"]) == (info["model"], info["image_size"]), stale
    assert weights == results.load_model(final).count_params(), stale
    block = report.readme_block("bench")
    assert f"final model {info['model']} (" in block and f", {info['image_size']} px," in block


def test_readme_gate_table_equals_gate_csv():
    assert report.readme_block("gate") == report.gate_markdown(COMMITTED_RESULTS)


def test_readme_originals_sentence_equals_originals_csv():
    assert report.readme_block("originals") == report.originals_markdown(COMMITTED_RESULTS)


def test_originals_sentence_reads_its_numbers_from_the_file(tmp_path):
    assert "Not measured yet" in report.originals_markdown(tmp_path)
    (tmp_path / "originals.csv").write_text(
        "pairs,mean_abs_diff,max_abs_diff,label_flips\n200,0.0013,0.11,1\n"
    )
    sentence = report.originals_markdown(tmp_path)
    assert "200 training images" in sentence and "0.0013" in sentence and "1 of 200" in sentence


def test_gate_table_marks_targets_per_kind(tmp_path):
    (tmp_path / "gate.csv").write_text(
        "kind,images,flagged,too_small,inverted,target,met\n"
        "validation,748,0.011,0.0,0.0,0.02,True\n"
        "negative,200,0.9,0.0,0.9,0.95,False\n"
        "cropped,200,0.5,0.0,0.3,,\n"
    )
    rows = report.gate_markdown(tmp_path).splitlines()[2:]
    assert rows[0].endswith("| 1.1% | 0.0% | 0.0% | ≤ 2% | yes |")
    assert rows[1].endswith("| ≥ 95% | no |") and rows[2].endswith("| – | – |")


def test_readme_names_the_test_command_that_ci_runs():
    assert "make test" in _section("The two commands")
    assert "make test" in (config.ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("name", ["results", "bench"])
def test_a_missing_generated_block_is_reported_by_name(name):
    with pytest.raises(ValueError, match=name):
        report.readme_block(name, text="no blocks here")


def test_committed_notebooks_have_no_unfilled_placeholders_and_core_ones_say_what_we_learned():
    """Every notebook has its prose written; a core notebook (not an appendix) also says what
    it learned."""
    import nbformat

    for path in sorted((config.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
        assert "@@" not in prose, f"{path.name} has an unfilled placeholder"
        assert "written from this run's outputs" not in prose, f"{path.name}: prose not written"
        if "_appendix_" not in path.stem:
            assert "## What we learned" in prose, path.name
        assert cells[0].source.startswith("# "), f"{path.name} lacks a title header"


def test_readme_targets_block_equals_the_ledger():
    assert report.readme_block("targets") == report.targets_markdown(COMMITTED_RESULTS)


def test_the_latest_read_declared_the_adaptation_of_the_committed_final_model():
    import pandas as pd

    ledger = pd.read_csv(COMMITTED_RESULTS / "test_ledger.csv")
    final = json.loads((config.ROOT / "data" / "models" / "final.json").read_text())
    assert report.DECLARED_ADAPTATION[int(ledger["read"].max())] == final["adaptation"]


def _ledger(path, *rows):
    """A test ledger of ``rows``: ``(read, adaptation, accuracy, sensitivity, specificity,
    roc_auc)``; reads 1-3 dated before the targets changed, later ones after."""
    lines = ["read,date,model,adaptation,accuracy,sensitivity,specificity,roc_auc"]
    lines += [
        f"{r},{'2026-11-23' if r <= 3 else '2026-12-01'},m{r},{a},{acc},{sens},{spec},{auc}"
        for r, a, acc, sens, spec, auc in rows
    ]
    (path / "test_ledger.csv").write_text("\n".join(lines) + "\n")


def test_every_read_is_shown_against_both_target_sets(tmp_path):
    _ledger(
        tmp_path,
        (1, "none", 0.95, 0.98, 0.90, 0.98),
        (1, "AdaBN", 0.90, 0.96, 0.80, 0.97),
        (6, "none", 0.86, 0.99, 0.65, 0.967),
        (6, "AdaBN", 0.93, 0.97, 0.80, 0.97),
    )
    block = report.targets_markdown(tmp_path)
    assert "specificity ≥ 0.85" in block and "a test specificity of 0.90" in block
    rows = block.splitlines()[4:]
    assert rows[0] == (
        "| 1 | m1 | AdaBN | 4 of 4 | 0 of 4; missed accuracy 0.900 < 0.93, ROC AUC 0.970 < "
        "0.975, sensitivity 0.960 < 0.97, specificity 0.800 < 0.85 | 3 of 4; missed adapted "
        "accuracy 0.900 < 0.92 |"
    )
    assert rows[1].startswith("| 6 | m6 | AdaBN | 1 of 4; missed accuracy 0.860 < 0.93")
    assert rows[1].endswith("| 4 of 4 |")


def test_a_read_without_a_declared_adaptation_is_reported_by_number(tmp_path):
    _ledger(tmp_path, (99, "none", 0.9, 0.9, 0.9, 0.9))
    with pytest.raises(XrayError, match="read 99"):
        report.targets_markdown(tmp_path)
