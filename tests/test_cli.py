"""The command line: ``python -m xraylib scan | synthetic | download | train | predict | bench``.

Most tests call :func:`xraylib.__main__.main` in-process; a few run the real entry point in a
subprocess to prove it works and that user errors never print a traceback.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xraylib import bench, config, data, evaluate
from xraylib.__main__ import main


def jpeg_bytes(shade: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (12, 10), shade).save(buffer, "JPEG")
    return buffer.getvalue()


def make_layout(root: Path, splits=("train", "test")) -> Path:
    for split in splits:
        for label, name in (
            ("NORMAL", "IM-0001-0001.jpeg"),
            ("NORMAL", "IM-0002-0001.jpeg"),
            ("PNEUMONIA", "person1_bacteria_1.jpeg"),
            ("PNEUMONIA", "person2_virus_2.jpeg"),
        ):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(jpeg_bytes())
    return root


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A usable folder with one empty and one truncated file and some junk."""
    root = make_layout(tmp_path / "xrays")
    (root / "train" / "NORMAL" / "empty.jpeg").write_bytes(b"")
    whole = jpeg_bytes()
    (root / "train" / "PNEUMONIA" / "cut.jpeg").write_bytes(whole[: len(whole) // 2])
    (root / "train" / "NORMAL" / ".DS_Store").write_bytes(b"x")
    return root


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xraylib", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def strict_json(text: str) -> object:
    """``text`` parsed as strict JSON: ``NaN``, ``Infinity`` and ``-Infinity`` are errors."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- scan


def test_scan_prints_counts_and_one_line_per_skipped_file(layout, capsys):
    assert main(["scan", str(layout)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"data: {layout}" in out
    assert "train: NORMAL 2  PNEUMONIA 2" in out
    assert " test: NORMAL 2  PNEUMONIA 2" in out
    assert "ignored: 1 junk or non-data files" in out
    assert "skipped: 2" in out
    skipped = [line for line in out if line.startswith("  skipped ")]
    assert len(skipped) == 2
    assert "  skipped train/NORMAL/empty.jpeg: empty file (0 bytes)" in skipped
    assert any(line.startswith("  skipped train/PNEUMONIA/cut.jpeg: truncated") for line in skipped)


def test_scan_json_prints_the_documented_object(layout, capsys):
    assert main(["scan", str(layout), "--json"]) == 0
    captured = capsys.readouterr()
    report = strict_json(captured.out)
    assert set(report) == {"root", "counts", "ignored", "skipped"}
    assert report["root"] == str(layout)
    assert report["counts"] == {
        "train": {"NORMAL": 2, "PNEUMONIA": 2},
        "test": {"NORMAL": 2, "PNEUMONIA": 2},
    }
    assert report["ignored"] == 1
    assert [s["path"] for s in report["skipped"]] == [
        "train/NORMAL/empty.jpeg",
        "train/PNEUMONIA/cut.jpeg",
    ]
    assert all(set(s) == {"path", "reason"} and s["reason"] for s in report["skipped"])
    assert captured.err == ""


def no_usable_normal(tmp_path: Path) -> Path:
    root = make_layout(tmp_path / "broken")
    for image in (root / "train" / "NORMAL").iterdir():
        image.write_bytes(b"<html>not found</html>")
    return root


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "does-not-exist", "no such folder"),
        (lambda tmp: make_layout(tmp / "only-train", splits=("train",)), "train/ and test/"),
        (no_usable_normal, "NORMAL: no usable image"),
    ],
    ids=["missing-folder", "no-train-test", "class-without-usable-image"],
)
def test_scan_of_an_unusable_folder_exits_2_with_one_line(tmp_path, capsys, make, message):
    assert main(["scan", str(make(tmp_path))]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("xraylib scan: ")
    assert message in lines[0]
    assert captured.out == ""


def test_scan_entry_point_runs_as_a_module(layout, tmp_path):
    result = run_module("scan", layout, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["train"] == {"NORMAL": 2, "PNEUMONIA": 2}
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "make",
    [lambda tmp: tmp / "does-not-exist", no_usable_normal],
    ids=["missing-folder", "class-without-usable-image"],
)
def test_scan_entry_point_errors_are_one_line_without_traceback(tmp_path, make):
    result = run_module("scan", make(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("xraylib scan: ")


# --------------------------------------------------------------------------- synthetic


def test_synthetic_writes_a_usable_phantom_set(tmp_path, capsys):
    target = tmp_path / "phantoms"
    assert main(["synthetic", str(target), "--per-class", "5"]) == 0
    assert str(target) in capsys.readouterr().out
    found = data.scan(target, progress=False)
    assert found.counts()["train"]["NORMAL"] == 5
    assert found.counts()["train"]["PNEUMONIA"] == 15
    assert found.skipped == []


def test_synthetic_seed_option_changes_the_images(tmp_path):
    assert main(["synthetic", str(tmp_path / "a"), "--per-class", "2", "--seed", "1"]) == 0
    assert main(["synthetic", str(tmp_path / "b"), "--per-class", "2", "--seed", "2"]) == 0
    first = sorted((tmp_path / "a").rglob("*.jpeg"))[0]
    second = tmp_path / "b" / first.relative_to(tmp_path / "a")
    assert not second.exists() or first.read_bytes() != second.read_bytes()


# --------------------------------------------------------------------------- download


def test_download_from_a_local_zip_installs_the_images(tmp_path, capsys):
    archive = tmp_path / "ChestXRay2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for split in ("train", "test"):
            for label, name in (
                ("NORMAL", "IM-0001-0001.jpeg"),
                ("PNEUMONIA", "person1_bacteria_1.jpeg"),
            ):
                zf.writestr(f"chest_xray/{split}/{label}/{name}", jpeg_bytes())
        zf.writestr("__MACOSX/chest_xray/train/NORMAL/._IM-0001-0001.jpeg", b"junk")
    dest = tmp_path / "data" / "chest_xray"
    assert main(["download", "--from", str(archive), "--dest", str(dest)]) == 0
    assert f"data ready in {dest}" in capsys.readouterr().out
    assert data.scan(dest, progress=False).counts() == {
        "train": {"NORMAL": 1, "PNEUMONIA": 1},
        "test": {"NORMAL": 1, "PNEUMONIA": 1},
    }


def test_download_offline_fails_with_one_line_pointing_to_from(tmp_path, capsys):
    url = f"http://127.0.0.1:{closed_port()}/x.zip"
    status = main(["download", "--url", url, "--dest", str(tmp_path / "chest_xray")])
    assert status != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "--from" in lines[0]
    assert not (tmp_path / "chest_xray").exists()


def test_download_from_a_missing_file_fails_with_one_line(tmp_path, capsys):
    status = main(
        [
            "download",
            "--from",
            str(tmp_path / "nothing.zip"),
            "--dest",
            str(tmp_path / "chest_xray"),
        ]
    )
    assert status != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0]


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["scan"],
        ["scan", "somewhere", "--colour"],
        ["synthetic", "somewhere", "--per-class", "many"],
    ],
    ids=["no-command", "unknown-command", "scan-without-dir", "unknown-option", "not-a-number"],
)
def test_a_bad_argument_is_an_argparse_error(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "usage: xraylib" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("variable", "value", "argv", "message"),
    [
        ("XRAY_PROFILE", "fast", ["presentation"], "XRAY_PROFILE='fast' is not a profile"),
        ("XRAY_SEED", "forty-two", ["train", "--epochs", "1"], "XRAY_SEED='forty-two'"),
    ],
    ids=["bad-profile", "bad-seed"],
)
def test_a_bad_environment_variable_exits_2_with_one_line(
    variable, value, argv, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(variable, value)
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"xraylib {argv[0]}: ") and message in lines[0]


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("scan", "download", "synthetic"))


# --------------------------------------------------------------------------- strict JSON


def test_train_and_predict_print_strict_json_with_undefined_metrics_as_null(
    phantom_root, tmp_path, capsys, monkeypatch
):
    measured = evaluate.compute_metrics

    def with_undefined_precision(*args, **kwargs):  # a model that never says PNEUMONIA
        return measured(*args, **kwargs) | {"precision": float("nan"), "f1": float("inf")}

    monkeypatch.setattr(evaluate, "compute_metrics", with_undefined_precision)
    model = tmp_path / "model.keras"
    argv = ["train", "--data", str(phantom_root), "--epochs", "1", "--image-size", "32"]
    assert main([*argv, "--out", str(model)]) == 0
    last = strict_json(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["validation"]["precision"] is None
    assert last["validation"]["f1"] is None
    assert 0 <= last["validation"]["roc_auc"] <= 1

    images = sorted((phantom_root / "test" / "NORMAL").iterdir())[:2]
    assert main(["predict", *map(str, images), "--model", str(model), "--json"]) == 0
    rows = strict_json(capsys.readouterr().out)
    assert [row["path"] for row in rows] == list(map(str, images))
    assert all(0 <= row["probability"] <= 1 for row in rows)


def test_bench_json_is_strict_on_screen_and_in_bench_json(monkeypatch, capsys):
    result = {"speedup": float("nan"), "images_per_s": np.float32(261.8), "devices": ["CPU:0"]}
    monkeypatch.setattr(bench, "throughput", lambda **settings: result)
    assert main(["bench", "--json"]) == 0
    shown = strict_json(capsys.readouterr().out)
    assert shown == {"speedup": None, "images_per_s": pytest.approx(261.8), "devices": ["CPU:0"]}
    assert strict_json((config.results_dir() / "bench.json").read_text()) == shown
