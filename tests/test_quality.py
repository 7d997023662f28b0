"""The input-quality gate: flags with reasons, "not assessed" unless forced, a folder verdict,
and the declared out-of-distribution set that measures it. Phantoms only, no real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xraylib import data, dicom, ood, plots, population, predict, quality, results, synthetic
from xraylib.__main__ import main

SIZE = 32


def pictures(n: int, seed: int) -> list[np.ndarray]:
    """``n`` phantom chest X-rays of 120×120 pixels, half with pneumonia."""
    rng = np.random.default_rng(seed)
    return [synthetic.phantom(rng, 120, 120, bool(i % 2))[0] for i in range(n)]


@pytest.fixture(scope="module")
def phantoms() -> np.ndarray:
    """200 validation-like phantoms prepared at the model's input size."""
    return np.stack([data.prepare(x, SIZE).pixels for x in pictures(200, seed=1)])


@pytest.fixture(scope="module")
def cnn():
    from xraylib import models

    return models.build_cnn(SIZE, filters=(8, 16), dense_units=8, name="tiny")


@pytest.fixture(scope="module")
def gate(cnn, phantoms) -> quality.Gate:
    return quality.fit_gate(cnn, phantoms, seed=0)


def strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def phantom_picture(seed: int = 5) -> np.ndarray:
    return pictures(1, seed)[0]


def codes(gate: quality.Gate, cnn, image: np.ndarray, **facts) -> set[str]:
    item = data.prepare(image, SIZE, **facts)
    return {flag.code for flag in gate.check(cnn, [item])[0][0]}


# --------------------------------------------------------------------------- the checks


def test_a_clean_phantom_gets_no_flag(gate, cnn):
    assert codes(gate, cnn, phantom_picture()) == set()


def test_a_negative_is_flagged_inverted(gate, cnn):
    assert "inverted" in codes(gate, cnn, 255 - phantom_picture())


def test_a_thumbnail_is_flagged_too_small(gate, cnn):
    small = np.asarray(Image.fromarray(phantom_picture()).resize((10, 10)))
    assert "too_small" in codes(gate, cnn, small)


def test_a_colour_picture_is_flagged_but_a_gray_one_stored_as_rgb_is_not(gate, cnn):
    gray = phantom_picture()
    tinted = np.stack([gray, gray // 2, np.full_like(gray, 40)], axis=-1)
    assert "colour" in codes(gate, cnn, tinted)
    assert "colour" not in codes(gate, cnn, np.stack([gray] * 3, axis=-1))


def test_a_blank_image_is_flagged_blank(gate, cnn):
    assert "blank" in codes(gate, cnn, np.full((100, 100), 128, np.uint8))


def test_a_lateral_dicom_is_flagged_lateral(gate, cnn, tmp_path):
    path = dicom.write(tmp_path / "side.dcm", phantom_picture(), view_position="LL")
    item = data.inspect_image(path, SIZE)
    assert [flag.code for flag in gate.check(cnn, [item])[0][0]] == ["lateral"]


def test_every_flag_has_a_known_code_and_a_one_line_reason(gate, cnn):
    item = data.prepare(np.full((10, 10, 3), (200, 30, 30), np.uint8), SIZE)
    flags = gate.check(cnn, [item])[0][0]
    assert {"too_small", "colour", "blank"} <= {flag.code for flag in flags}
    assert all(flag.code in quality.CODES and "\n" not in flag.reason for flag in flags)


def test_the_threshold_flags_about_the_declared_share_of_validation_out_of_fold(gate):
    flagged = np.mean(gate.reference_scores > gate.threshold)
    assert len(gate.reference_scores) == 200
    assert flagged <= 0.02
    assert gate.validation_flag_rate <= 0.03


def test_a_gate_survives_saving_and_loading_without_pickle(gate, tmp_path):
    path = gate.save(tmp_path / "final_gate.npz")
    with np.load(path, allow_pickle=False) as stored:
        strict_json(str(stored["facts"]))
    loaded = quality.read_gate(path)
    assert (loaded.threshold, loaded.digest, loaded.image_size) == (
        gate.threshold,
        gate.digest,
        gate.image_size,
    )
    np.testing.assert_array_equal(loaded.precision, gate.precision)
    np.testing.assert_array_equal(loaded.reference_scores, gate.reference_scores)


def test_a_broken_gate_file_is_a_one_line_model_error(tmp_path):
    path = tmp_path / "final_gate.npz"
    path.write_bytes(b"not an archive")
    with pytest.raises(predict.ModelError, match="not a readable quality gate") as caught:
        quality.read_gate(path)
    assert "\n" not in str(caught.value)


def test_the_gate_beside_the_model_is_used_only_for_that_model(gate, cnn, tmp_path):
    from xraylib import models

    model_path = results.save_final(cnn, 0.5, tmp_path / "final.keras")
    assert predict.load_gate(cnn, model_path).note.startswith("no quality reference")
    gate.save(results.gate_path(model_path))
    assert predict.load_gate(cnn, model_path).complete
    other = models.build_cnn(SIZE, filters=(8, 16), dense_units=8, name="other")
    assert "fitted for another model" in predict.load_gate(other, model_path).note


def test_a_gate_fits_any_model_built_on_the_same_member_networks():
    from xraylib import models

    members = [
        models.build_cnn(SIZE, filters=(8,), dense_units=4, name=f"member{i}") for i in (1, 2)
    ]
    digest = quality.weights_digest(models.ensemble(members, name="candidate"))
    assert quality.weights_digest(models.ensemble(members, name="final")) == digest
    assert quality.weights_digest(members[0]) != digest


def test_an_ensemble_gives_features_of_every_member(phantoms):
    from xraylib import models

    members = [
        models.build_cnn(SIZE, filters=(8,), dense_units=4, name=f"member{i}") for i in (1, 2)
    ]
    both = models.ensemble(members, name="both")
    assert quality.features(both, phantoms[:5]).shape == (5, 8)


# --------------------------------------------------------------------------- whom it shows

#: name → (DICOM tags, the population flags expected, words of their reasons)
POPULATION_CASES = {
    "3Y": ({"PatientAge": "3Y", "BodyPartExamined": "CHEST"}, [], []),
    "062Y": (
        {"PatientAge": "062Y", "BodyPartExamined": "CHEST"},
        ["age"],
        ["age 62 years (PatientAge 062Y)", "1–5 years", "Kermany et al. 2018"],
    ),
    "018M": ({"PatientAge": "018M"}, [], []),
    "004W": ({"PatientAge": "004W"}, ["age"], ["age 0.0767 years (PatientAge 004W)"]),
    "no_age_with_birth_date": (
        {"PatientBirthDate": "19600101", "StudyDate": "20240101"},
        ["age"],
        ["age 64 years (StudyDate 20240101 minus PatientBirthDate 19600101)"],
    ),
    "no_age_without_birth_date": ({"StudyDate": "20240101"}, [], []),
    "unparseable_age": ({"PatientAge": "sixty"}, [], []),
    "abdomen": (
        {"PatientAge": "004Y", "BodyPartExamined": "ABDOMEN"},
        ["body_part"],
        ["body part ABDOMEN (DICOM BodyPartExamined), not the chest"],
    ),
    "chest_without_body_part": ({"PatientAge": "004Y"}, [], []),
}


@pytest.mark.filterwarnings("ignore:Invalid value for VR AS")
@pytest.mark.parametrize("case", list(POPULATION_CASES))
def test_a_dicom_outside_the_training_population_is_flagged_with_its_reason(
    gate, cnn, tmp_path, case
):
    tags, expected, words = POPULATION_CASES[case]
    path = dicom.write(tmp_path / "chest.dcm", phantom_picture(), tags=tags)
    flags = gate.check(cnn, [data.inspect_image(path, SIZE)])[0][0]
    assert [flag.code for flag in flags] == expected
    reasons = " ".join(flag.reason for flag in flags)
    assert all(word in reasons for word in words), reasons


@pytest.mark.parametrize(
    ("years", "inside"),
    [(0.99, False), (1.0, True), (3.0, True), (5.99, True), (6.0, False), (62.0, False)],
)
def test_the_age_range_is_whole_years_one_to_five(years, inside):
    flags = quality.population_flags(population.Subject(years, "stated"))
    assert (flags == []) == inside


def test_the_age_range_comes_from_the_data_card(monkeypatch):
    monkeypatch.setattr(population, "AGES", (18, 90))
    assert quality.population_flags(population.Subject(62.0, "stated")) == []
    (flag,) = quality.population_flags(population.Subject(3.0, "stated"))
    assert flag.code == "age" and "18–90 years" in flag.reason


def test_a_stated_age_fills_in_only_where_the_file_has_none(gate, cnn, files, tmp_path):
    adult = dicom.write(tmp_path / "adult.dcm", phantom_picture(), tags={"PatientAge": "062Y"})
    paths = [files["clean.png"], adult, files["clean.png"]]
    table, _ = predict.predict_images(cnn, paths, 0.5, gate, ages=[40.0, 3.0, float("nan")])
    assert table.age.tolist()[:2] == [40.0, 62.0] and np.isnan(table.age[2])
    assert [[flag.code for flag in found] for found in table["flags"]] == [["age"], ["age"], []]
    assert "age 40 years (stated)" in table["flags"][0][0].reason
    assert set(table.not_checked[0]) == {"body_part"}
    assert set(table.not_checked[2]) == {"age", "body_part"}


def test_predict_age_flags_a_png_and_json_says_what_was_not_checked(model_file, files, capsys):
    argv = ["predict", str(files["clean.png"]), "--model", str(model_file), "--json"]
    assert main(argv) == 0
    (row,) = strict_json(capsys.readouterr().out)
    assert row["age"] is None and set(row["not_checked"]) == {"age", "body_part"}
    assert main([*argv, "--age", "35"]) == 3
    (row,) = strict_json(capsys.readouterr().out)
    assert row["age"] == 35 and [flag["code"] for flag in row["flags"]] == ["age"]
    assert set(row["not_checked"]) == {"body_part"}
    assert main([*argv, "--age", "4"]) == 0


@pytest.mark.parametrize("value", ["abc", "-2"])
def test_a_bad_age_option_is_an_argparse_error_naming_the_value(files, value, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["predict", str(files["clean.png"]), "--age", value])
    assert caught.value.code == 2
    assert f"argument --age: '{value}' is not a number of years" in capsys.readouterr().err


def test_check_reads_the_ages_csv_of_a_png_folder_and_skips_a_bad_value(
    model_file, tmp_path, capsys
):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, x in enumerate(pictures(5, seed=3)):
        Image.fromarray(x).save(folder / f"{i}.png")
    (folder / "ages.csv").write_text("file,age\n0.png,3\n1.png,abc\n2.png,\n3.png,-1\n4.png,70\n")
    found = data.scan_images(folder, progress=False)
    assert [Path(p).name for p in found.frame.path] == ["0.png", "2.png", "4.png"]
    assert found.frame.age.tolist()[::2] == [3.0, 70.0] and np.isnan(found.frame.age[1])
    assert found.skipped == [
        ("1.png", "ages.csv: age 'abc' is not a number of years"),
        ("3.png", "ages.csv: age '-1' is not a number of years (0 or more)"),
    ]
    main(["check", str(folder), "--model", str(model_file), "--json"])
    result = strict_json(capsys.readouterr().out)
    assert result["images"] == 3 and result["counts"]["age"] == 1
    assert [entry["path"] for entry in result["skipped"]] == ["1.png", "3.png"]
    main(["check", str(folder), "--model", str(model_file)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert "xraylib check: skipped 1.png: ages.csv: age 'abc' is not a number of years" in lines


def test_an_ages_csv_without_its_columns_is_a_one_line_data_error(model_file, tmp_path, capsys):
    folder = tmp_path / "pngs"
    folder.mkdir()
    Image.fromarray(phantom_picture()).save(folder / "a.png")
    (folder / "ages.csv").write_text("name,years\na.png,3\n")
    assert main(["check", str(folder), "--model", str(model_file)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "ages.csv: needs the columns file,age" in line


def test_help_lists_every_flag_code(capsys):
    for command in ("predict", "check"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert all(code in text for code in quality.CODES), text


# --------------------------------------------------------------------------- predict


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    picture = phantom_picture()
    paths = {
        "clean.png": picture,
        "negative.png": 255 - picture,
        "thumb.png": np.asarray(Image.fromarray(picture).resize((12, 12))),
    }
    for name, pixels in paths.items():
        Image.fromarray(pixels).save(tmp_path / name)
    return {name: tmp_path / name for name in paths}


def test_a_flagged_image_is_not_assessed_unless_forced(gate, cnn, files):
    paths = [files["clean.png"], files["negative.png"], files["thumb.png"]]
    table, errors = predict.predict_images(cnn, paths, 0.5, gate)
    assert not errors
    assert table.prediction.tolist()[1:] == [predict.NOT_ASSESSED] * 2
    assert table.prediction[0] in ("NORMAL", "PNEUMONIA") and table["flags"][0] == []
    assert table.probability[1:].isna().all()
    forced, _ = predict.predict_images(cnn, paths, 0.5, gate, force=True)
    assert forced.probability.between(0, 1).all()
    assert [bool(found) for found in forced["flags"]] == [False, True, True]


@pytest.fixture
def model_file(gate, cnn, tmp_path) -> Path:
    path = results.save_final(cnn, 0.5, tmp_path / "model" / "final.keras")
    gate.save(results.gate_path(path))
    return path


def test_predict_json_has_flags_and_exits_3_when_an_image_is_flagged(model_file, files, capsys):
    argv = ["predict", str(files["clean.png"]), str(files["negative.png"]), "--json"]
    assert main([*argv, "--model", str(model_file)]) == 3
    captured = capsys.readouterr()
    rows = strict_json(captured.out)
    assert rows[0]["flags"] == [] and rows[0]["prediction"] in ("NORMAL", "PNEUMONIA")
    assert rows[1]["prediction"] == "not assessed" and rows[1]["probability"] is None
    assert [flag["code"] for flag in rows[1]["flags"]][0] == "inverted"
    assert all(set(flag) == {"code", "reason"} for flag in rows[1]["flags"])
    assert "negative.png" in captured.err and "inverted" in captured.err


def test_predict_exits_0_when_every_image_is_clean(model_file, files, capsys):
    assert main(["predict", str(files["clean.png"]), "--model", str(model_file)]) == 0
    assert capsys.readouterr().err == ""


def test_plain_predict_marks_flagged_lines_and_force_answers_them(model_file, files, capsys):
    argv = ["predict", str(files["thumb.png"]), "--model", str(model_file)]
    assert main(argv) == 3
    line = capsys.readouterr().out.strip()
    assert "not assessed" in line and "FLAGGED too_small" in line
    assert main([*argv, "--force"]) == 3
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[1] in ("NORMAL", "PNEUMONIA") and "FLAGGED too_small" in line


def test_predict_without_a_gate_says_which_checks_are_off(cnn, files, tmp_path, capsys):
    path = results.save_final(cnn, 0.5, tmp_path / "bare" / "final.keras")
    assert main(["predict", str(files["clean.png"]), "--model", str(path)]) == 0
    assert "out-of-distribution checks off" in capsys.readouterr().err


# --------------------------------------------------------------------------- the folder check


def test_a_folder_like_validation_looks_like_the_training_images(gate, cnn):
    items = [data.prepare(x, SIZE) for x in pictures(40, seed=9)]
    flags, scores = gate.check(cnn, items)
    table = predict.pd.DataFrame({"flags": flags, "probability": 0.5, "ood_score": scores})
    result = quality.check_folder(table, gate, assumed_prior=0.5)
    assert result.verdict.startswith("looks like"), result.verdict
    assert result.pneumonia_rate is not None


def test_check_command_says_a_folder_of_negatives_differs(model_file, tmp_path, capsys):
    folder = tmp_path / "negatives"
    folder.mkdir()
    for i, x in enumerate(pictures(12, seed=3)):
        Image.fromarray(255 - x).save(folder / f"{i}.png")
    assert main(["check", str(folder), "--model", str(model_file), "--json"]) == 3
    result = strict_json(capsys.readouterr().out)
    assert result["counts"]["inverted"] == 12 and result["verdict"].startswith("differs")


# --------------------------------------------------------------------------- the OOD set


def test_the_declared_ood_set_is_measured_per_kind(gate, cnn, phantoms, tmp_path):
    paths = []
    for i, x in enumerate(pictures(6, seed=4)):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(x).save(paths[-1])
    kinds = ood.make_set(paths, SIZE, per_kind=8, seed=0)
    assert list(kinds) == list(ood.KINDS) and all(len(v) == 8 for v in kinds.values())
    table = ood.measure(gate, cnn, kinds, phantoms).set_index("kind")
    assert table.index.tolist() == ["validation", *ood.KINDS]
    assert (table.loc[["thumbnail", "colour", "blank"], "flagged"] == 1.0).all()
    assert table.loc["negative", "inverted"] == 1.0
    assert table.loc["validation", "flagged"] <= 0.03
    met = ood.targets_met(table.reset_index())
    assert met.iloc[0] and met.iloc[4] is None


def test_plot_ood_scores_draws_a_folder_against_validation(gate, tmp_path):
    fig = plots.plot_ood_scores(
        gate.reference_scores,
        {"folder": gate.reference_scores * 2},
        gate.threshold,
        save="ood_test",
    )
    assert fig.axes[0].get_xscale() == "log"


def test_help_documents_the_exit_statuses(capsys):
    for argv in (["--help"], ["predict", "--help"], ["check", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = " ".join(capsys.readouterr().out.split()).lower()
        assert "exit status" in text and ", 3 " in text.replace(";", ",")
