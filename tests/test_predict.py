"""Prediction on files: any image mode works, bad files are reported and skipped; the committed
final model ships with its input gate, so a fresh clone flags a negative."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xraylib import config, data, dicom, errors, models, predict, quality, results, synthetic
from xraylib.__main__ import main

SIZE = 32
#: The hand-over model of the repository and the gate committed beside it.
COMMITTED_MODEL = config.ROOT / "data" / "models" / "final.keras"
COMMITTED_GATE = results.gate_path(COMMITTED_MODEL)


@pytest.fixture(scope="module")
def model() -> models.keras.Model:
    return models.build_cnn(SIZE, filters=(8, 16), dense_units=8)


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    """One file per case: good images in several PIL modes, and three unusable files."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    files = {
        "gray.jpeg": Image.fromarray(gray),
        "rgb.JPG": Image.fromarray(np.stack([gray] * 3, -1)),
        "rgba.png": Image.fromarray(np.stack([gray] * 3 + [np.full_like(gray, 255)], -1)),
        "sixteen.png": Image.fromarray(gray.astype(np.uint16) * 256),
        "palette.png": Image.fromarray(gray).convert("P"),
    }
    paths = {}
    for name, image in files.items():
        image.save(tmp_path / name)
        paths[name] = tmp_path / name
    assert Image.open(paths["sixteen.png"]).mode.startswith("I")
    full = (tmp_path / "gray.jpeg").read_bytes()
    (tmp_path / "truncated.jpeg").write_bytes(full[: len(full) // 2])
    (tmp_path / "empty.jpeg").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image")
    for name in ("truncated.jpeg", "empty.jpeg", "notes.png"):
        paths[name] = tmp_path / name
    paths["missing.jpeg"] = tmp_path / "missing.jpeg"
    return paths


def test_every_readable_mode_is_predicted_and_bad_files_are_reported(model, images) -> None:
    good = ["gray.jpeg", "rgb.JPG", "rgba.png", "sixteen.png", "palette.png"]
    bad = ["truncated.jpeg", "empty.jpeg", "notes.png", "missing.jpeg"]
    order = [
        "gray.jpeg",
        "truncated.jpeg",
        "rgb.JPG",
        "empty.jpeg",
        "rgba.png",
        "notes.png",
        "sixteen.png",
        "missing.jpeg",
        "palette.png",
    ]
    table, errors = predict.predict_images(model, [images[n] for n in order], threshold=0.5)
    assert table.columns.tolist() == [
        "path",
        "prediction",
        "probability",
        "flags",
        "ood_score",
        "age",
        "not_checked",
    ]
    assert [Path(p).name for p in table.path] == good
    assert table.probability.between(0, 1).all()
    assert set(table.prediction) <= set(config.CLASS_NAMES)
    assert [Path(path).name for path, _ in errors] == bad
    assert all("\n" not in message and Path(path).name in message for path, message in errors)


def test_probabilities_are_those_of_the_model_on_the_training_preprocessing(model, images) -> None:
    table, _ = predict.predict_images(
        model, [images["gray.jpeg"], images["rgba.png"]], threshold=0.0
    )
    expected = model.predict(
        np.stack(
            [data.read_image(images["gray.jpeg"], SIZE), data.read_image(images["rgba.png"], SIZE)]
        ),
        verbose=0,
    )
    np.testing.assert_allclose(table.probability, expected.ravel(), atol=1e-6)
    assert (table.prediction == "PNEUMONIA").all()


def test_only_bad_files_give_an_empty_table(model, images) -> None:
    table, errors = predict.predict_images(model, [images["empty.jpeg"]])
    assert table.empty and table.columns.tolist() == [
        "path",
        "prediction",
        "probability",
        "flags",
        "ood_score",
        "age",
        "not_checked",
    ]
    assert len(errors) == 1


def test_missing_or_unreadable_model_raises_model_error(tmp_path) -> None:
    with pytest.raises(predict.ModelError, match="no such model file"):
        results.load_model(tmp_path / "absent.keras")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(predict.ModelError, match="not a readable Keras model") as caught:
        results.load_model(broken)
    assert "\n" not in str(caught.value)


@pytest.fixture
def no_committed_model(tmp_path, monkeypatch) -> Path:
    """A project root without a committed ``data/models/final.keras``; returns it."""
    root = tmp_path / "project"
    monkeypatch.setattr(config, "ROOT", root)
    return root


def test_default_model_is_final_keras_in_the_models_folder(no_committed_model) -> None:
    assert results.default_model_path() == config.models_dir() / "final.keras"
    with pytest.raises(predict.ModelError, match="final.keras"):
        results.load_model()


def test_without_a_model_of_the_run_the_committed_one_is_used(model, no_committed_model) -> None:
    committed = no_committed_model / "data" / "models" / "final.keras"
    committed.parent.mkdir(parents=True)
    results.save_final(model, 0.3, committed)
    assert not results.default_model_path().exists()
    assert results.final_model_path() == committed
    assert results.saved_threshold() == pytest.approx(0.3)
    assert results.load_model().name == model.name
    results.save_final(model, 0.6)  # a model of this run's own takes precedence
    assert results.final_model_path() == results.default_model_path()
    assert results.saved_threshold() == pytest.approx(0.6)


@pytest.mark.parametrize("content", ["{not json", "{}", '{"threshold": "high"}', "[1]"])
def test_a_malformed_threshold_file_raises_a_one_line_model_error(tmp_path, content) -> None:
    (tmp_path / "final.json").write_text(content)
    with pytest.raises(predict.ModelError, match="final.json") as caught:
        results.saved_threshold(tmp_path / "final.keras")
    assert "\n" not in str(caught.value)


def test_save_final_stores_the_model_and_its_threshold(model, images, no_committed_model) -> None:
    assert results.saved_threshold() == 0.5
    path = results.save_final(model, 0.27)
    assert path == results.default_model_path()
    assert results.saved_threshold() == pytest.approx(0.27)
    reloaded = results.load_model()
    table, _ = predict.predict_images(reloaded, [images["gray.jpeg"]])
    original, _ = predict.predict_images(model, [images["gray.jpeg"]])
    np.testing.assert_allclose(table.probability, original.probability, atol=1e-6)


def test_copy_agreement_compares_the_same_training_images_in_two_copies(phantom_root, tmp_path):
    from xraylib import models as builders

    originals = tmp_path / "originals"
    shutil.copytree(phantom_root / "train", originals / "train")
    shutil.copytree(phantom_root / "test", originals / "test")  # never read
    model = builders.build_cnn(32, filters=(4,), name="tiny")
    same = predict.copy_agreement(model, phantom_root, originals, threshold=0.5, n=10)
    assert same.pairs == 10 and same.mean_abs_diff == 0 and same.label_flips == 0
    with pytest.raises(errors.ModelError, match="no train"):
        predict.copy_agreement(model, phantom_root, tmp_path / "empty", threshold=0.5)


# --------------------------------------------------------------- the committed model and gate


@pytest.fixture(scope="module")
def committed_model() -> models.keras.Model:
    return results.load_model(COMMITTED_MODEL)


def _committed_gate_file() -> None:
    """Fail (never skip) when the gate is not beside the committed model, as in a fresh clone
    where it is missing or git-ignored."""
    assert COMMITTED_GATE.is_file(), (
        f"{COMMITTED_GATE.relative_to(config.ROOT)} is missing: the input gate is part of the "
        "final model and is committed beside it (notebook 06 fits it on validation)"
    )


def test_the_committed_final_model_has_its_committed_gate(committed_model) -> None:
    _committed_gate_file()
    gate = predict.load_gate(committed_model, COMMITTED_MODEL)
    assert gate.complete and gate.note == "", gate.note  # fitted for these very weights
    assert gate.digest == quality.weights_digest(committed_model)
    assert gate.image_size == results.saved_info(COMMITTED_MODEL)["image_size"]


def test_the_gate_beside_the_final_model_is_not_git_ignored() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    relative = str(COMMITTED_GATE.relative_to(config.ROOT))
    done = subprocess.run(
        ["git", "-C", str(config.ROOT), "check-ignore", "-v", relative],
        capture_output=True,
        text=True,
    )
    if done.returncode == 128:  # not a git checkout
        pytest.skip(f"git check-ignore: {done.stderr.strip()}")
    assert done.returncode == 1, f"{relative} is git-ignored: {done.stdout.strip()}"


def test_predict_with_the_committed_model_flags_a_negative_inverted(tmp_path, capsys) -> None:
    _committed_gate_file()
    picture, _ = synthetic.phantom(np.random.default_rng(7), 512, 512, pneumonia=False)
    paths = {"negative.png": 255 - picture, "upright.png": picture}
    for name, pixels in paths.items():
        Image.fromarray(pixels).save(tmp_path / name)
    assert results.final_model_path() == COMMITTED_MODEL  # what `xraylib predict` reads
    status = main(["predict", *(str(tmp_path / name) for name in paths), "--json"])
    captured = capsys.readouterr()
    assert "checks off" not in captured.err  # the gate beside the model was found and used
    assert status == 3
    negative, upright = json.loads(captured.out)
    assert "inverted" in {flag["code"] for flag in negative["flags"]}
    assert negative["prediction"] == predict.NOT_ASSESSED and negative["probability"] is None
    # a phantom is no real X-ray (out of distribution is expected), but its polarity is right
    assert "inverted" not in {flag["code"] for flag in upright["flags"]}


def test_predict_with_the_committed_model_flags_an_adult_by_the_file_s_own_tags(
    tmp_path, capsys
) -> None:
    """Issue 27: a DICOM whose tags say PatientAge 062Y, BodyPartExamined CHEST, ViewPosition
    PA was answered without a warning; it is now not assessed, with the age and the range."""
    _committed_gate_file()
    picture, _ = synthetic.phantom(np.random.default_rng(7), 512, 512, pneumonia=False)
    tags = {"PatientAge": "062Y", "BodyPartExamined": "CHEST"}
    adult = dicom.write(tmp_path / "adult.dcm", picture, view_position="PA", tags=tags)
    assert main(["predict", str(adult), "--json"]) == 3
    captured = capsys.readouterr()
    (row,) = json.loads(captured.out)
    assert row["prediction"] == predict.NOT_ASSESSED and row["age"] == 62
    (age,) = [flag for flag in row["flags"] if flag["code"] == "age"]
    assert age["reason"].startswith("age 62 years (PatientAge 062Y) is outside the training")
    assert "population's 1–5 years (Kermany et al. 2018" in age["reason"]
    assert row["not_checked"] == {} and "PatientAge 062Y" in captured.err
