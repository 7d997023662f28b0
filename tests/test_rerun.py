"""Re-executing the series reads the test set no new time when the final model is unchanged:
notebook 06 loads the committed calibration and threshold, and its recomputed test
predictions, when they are the last read's, append nothing to the ledger."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from xraylib import models, notebook, predict, results, train
from xraylib.errors import XrayError

SIZE = 16


def _member(name: str, seed: int) -> keras.Model:
    train.new_session(seed)
    inputs = keras.Input((SIZE, SIZE, 1), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x), name=name)


@pytest.fixture
def test_set() -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, SIZE, SIZE, 1), dtype=np.uint8)
    labels = np.where(rng.random(40) < 0.6, "PNEUMONIA", "NORMAL")
    frame = pd.DataFrame({"path": [f"test/{label}/{i}.jpeg" for i, label in enumerate(labels)]})
    return images, frame.assign(label=labels)


def _read(model: keras.Model, images, frame, folder, threshold: float = 0.5) -> pd.DataFrame:
    """What notebook 06 does with the test set: score, then record the read."""
    y = (frame.label == "PNEUMONIA").to_numpy(int)
    p = model.predict(images, verbose=0).ravel()
    row = results.score_row("final", "test", y, p, threshold, ci=False)
    return results.record_test_read(
        {"none": row}, frame, {"p_none": p}, "final", "tiny", threshold, folder
    )


def test_an_unchanged_model_appends_no_read_and_a_changed_one_appends_one(
    test_set, tmp_path, capsys
) -> None:
    images, frame = test_set
    model = models.ensemble([_member("a", 1), _member("b", 2)], name="final")
    first = _read(model, images, frame, tmp_path)
    assert first["read"].tolist() == [1] and results.count_test_reads(tmp_path) == 1
    ledger = (tmp_path / results.LEDGER_FILE).read_text()
    predictions = (tmp_path / "test_predictions.csv").read_text()

    again = _read(model, images, frame, tmp_path)  # re-executed with the same model
    assert "match read 1" in capsys.readouterr().out
    assert again["read"].tolist() == [1]
    assert (tmp_path / results.LEDGER_FILE).read_text() == ledger
    assert (tmp_path / "test_predictions.csv").read_text() == predictions

    changed = models.ensemble([_member("a", 1), _member("b", 3)], name="final")
    _read(changed, images, frame, tmp_path)
    assert "read 2 appended" in capsys.readouterr().out
    assert results.count_test_reads(tmp_path) == 2
    _read(changed, images, frame, tmp_path, threshold=0.4)  # another operating point: a read
    assert results.count_test_reads(tmp_path) == 3


def test_the_committed_final_model_of_the_same_members_is_loaded_not_fitted(
    tmp_path, capsys
) -> None:
    members = [_member("a", 1), _member("b", 2)]
    final = models.ensemble(members, name="final", calibration=(0.9, 0.6))
    path = results.save_final(
        final, 0.49, tmp_path / "final.keras", adaptation="AdaBN", calibration=[0.9, 0.6]
    )
    handover = predict.committed_final(models.ensemble(members, name="final_ensemble"), path)
    assert handover["calibration"] == [0.9, 0.6] and handover["threshold"] == 0.49
    assert "loaded, not fitted again" in capsys.readouterr().out
    other = models.ensemble([members[0], _member("b", 5)], name="final_ensemble")
    assert predict.committed_final(other, path) == {}
    assert predict.committed_final(other, tmp_path / "none.keras") == {}
    assert "are fitted" in capsys.readouterr().out


def test_a_notebook_header_states_its_reading_time_and_its_full_profile_run_time() -> None:
    book = {"cells": [{"cell_type": "markdown", "source": "word " * 900 + "[a link](x/y.md)"}]}
    assert notebook.prose_words(book) == 902 and notebook.reading_minutes(book) == 5
    book["cells"][0]["source"] = "# Title\n\n**Time.** old line\n\n**Question.** Why?"
    notebook.stamp_time(book, 672.0, "AMD EPYC, 2 cores")
    header = book["cells"][0]["source"]
    assert "**Time.** old line" not in header and header.endswith("\n\n**Question.** Why?")
    assert "11.2 min to run under the full profile on AMD EPYC, 2 cores (runtime.csv)." in header
    with pytest.raises(XrayError, match="no \\*\\*Time"):
        notebook.stamp_time({"cells": [{"cell_type": "markdown", "source": "# T"}]}, 1.0, "m")


def test_every_header_states_the_committed_full_run_of_its_notebook() -> None:
    import nbformat

    runtimes = results.committed_runtime()
    full = runtimes[runtimes.profile == "full"].set_index("notebook")
    for path in notebook.series():
        book = nbformat.read(path, as_version=4)
        row = full.loc[path.stem]
        expected = notebook.time_line(book, row.seconds, row.machine)
        assert expected in book.cells[0].source, f"{path.name}: header time line is not {expected}"


def test_a_read_of_images_under_the_data_folder_is_matched_by_its_relative_paths(
    test_set, tmp_path, capsys
) -> None:
    images, frame = test_set
    data_dir = tmp_path / "chest_xray"
    absolute = frame.assign(path=[str(data_dir / p) for p in frame.path])
    model = models.ensemble([_member("a", 1), _member("b", 2)], name="final")
    y = (frame.label == "PNEUMONIA").to_numpy(int)
    p = {"p_none": model.predict(images, verbose=0).ravel()}
    row = results.score_row("final", "test", y, p["p_none"], 0.5, ci=False)
    for _ in range(2):
        results.record_test_read(
            {"none": row}, absolute, p, "final", "tiny", 0.5, tmp_path, data_dir=data_dir
        )
    assert pd.read_csv(tmp_path / "test_predictions.csv").path.tolist() == frame.path.tolist()
    assert "match read 1" in capsys.readouterr().out and results.count_test_reads(tmp_path) == 1
