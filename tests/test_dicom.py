"""DICOM input: every DICOM twin of a PNG reaches the model with the PNG's pixels; files the
model cannot use are refused with one line.

The tests write their own DICOM files with pydicom (:func:`xraylib.dicom.write`) from a
phantom chest (:func:`xraylib.synthetic.phantom`), and the same picture as a PNG: the *twin*.
Tolerance: identical pixels for 8-bit files (inverted or compressed included); at most one
gray level for 12/16-bit files with a VOI window, whose mapping to 0–255 rounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from xraylib import data, dicom, models, predict, results, synthetic
from xraylib.errors import ImageError

SIZE = 48
#: a 12/16-bit twin stores ``picture * DEEP_SCALE + DEEP_OFFSET``
DEEP_SCALE, DEEP_OFFSET = 16, 1000
DEEP_TOP = DEEP_OFFSET + 255 * DEEP_SCALE


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    """A phantom chest X-ray, 150×120, 8-bit."""
    return synthetic.phantom(np.random.default_rng(7), 120, 150, pneumonia=True)[0]


@pytest.fixture
def twin(tmp_path: Path, picture: np.ndarray) -> Path:
    """The PNG twin of every DICOM file below."""
    path = tmp_path / "twin.png"
    Image.fromarray(picture).save(path)
    return path


def deep_window(
    low: float = DEEP_OFFSET, high: float = DEEP_TOP, slope: float = 1.0, intercept: float = 0.0
) -> tuple[float, float]:
    """The LINEAR window (centre, width) that maps stored values ``low``–``high``, rescaled,
    onto the whole output range (DICOM PS3.3 C.11.2.1.2.1)."""
    low, high = low * slope + intercept, high * slope + intercept
    return (low + high) / 2 + 0.5, high - low + 1


def deep(x: np.ndarray) -> np.ndarray:
    return x.astype(np.uint16) * DEEP_SCALE + DEEP_OFFSET


CASES = {
    "monochrome2": ({}, lambda x: x, 0),
    "monochrome1": ({"monochrome1": True}, lambda x: 255 - x, 0),
    "rle_monochrome1": ({"monochrome1": True, "compression": "rle"}, lambda x: 255 - x, 0),
    "jpeg2000": ({"compression": "jpeg2000"}, lambda x: x, 0),
    "16bit_window": ({"bits": 16, "window": deep_window()}, deep, 1),
    "16bit_window_monochrome1": (
        {"bits": 16, "monochrome1": True, "window": deep_window(65535 - DEEP_TOP, 65535 - 1000)},
        lambda x: 65535 - deep(x),
        1,
    ),
    "13bit_rescale_window": (
        {"bits": 13, "rescale": (2.0, -100.0), "window": deep_window(slope=2.0, intercept=-100.0)},
        deep,
        1,
    ),
    "16bit_window_jpeg2000": (
        {"bits": 16, "window": deep_window(), "compression": "jpeg2000"},
        deep,
        1,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_dicom_reaches_the_model_with_the_pixels_of_its_png_twin(tmp_path, twin, picture, case):
    options, stored, tolerance = CASES[case]
    path = dicom.write(tmp_path / f"{case}.dcm", stored(picture), **options)
    decoded = dicom.read(path)
    assert decoded.pixels.dtype == np.uint8
    assert np.abs(decoded.pixels.astype(int) - picture).max() <= tolerance
    gap = data.read_image(path, SIZE).astype(int) - data.read_image(twin, SIZE)
    assert np.abs(gap).max() <= tolerance


def test_a_monochrome1_dicom_predicts_within_0_01_of_its_png_twin(tmp_path, twin, picture):
    model = models.build_cnn(SIZE, filters=(8, 16), dense_units=8)
    path = dicom.write(tmp_path / "inverted.dcm", 255 - picture, monochrome1=True)
    table, errors = predict.predict_images(model, [twin, path])
    assert not errors
    assert abs(table.probability[0] - table.probability[1]) < 0.01


def test_a_dicom_without_extension_is_recognised_by_its_preamble(tmp_path, twin, picture):
    path = dicom.write(tmp_path / "IM000001", picture)
    assert dicom.is_dicom(path) and not dicom.is_dicom(twin)
    np.testing.assert_array_equal(data.read_image(path, SIZE), data.read_image(twin, SIZE))


def test_inspect_image_reports_size_mode_and_view_of_a_dicom(tmp_path, picture):
    path = dicom.write(tmp_path / "side.dcm", picture, view_position="LL")
    item = data.inspect_image(path, SIZE)
    assert (item.width, item.height) == (120, 150)
    assert item.mode == "DICOM MONOCHROME2" and item.view_position == "LL"
    assert item.colour == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"frames": 3}, r"multi-frame DICOM \(3 frames\)"),
        ({"modality": "CT"}, "modality CT is not a radiograph"),
        ({"modality": "US"}, "modality US is not a radiograph"),
    ],
    ids=["multi-frame", "ct", "ultrasound"],
)
def test_dicoms_the_model_cannot_use_are_refused_with_one_line(tmp_path, picture, options, message):
    path = dicom.write(tmp_path / "refused.dcm", picture, **options)
    with pytest.raises(ImageError, match=message) as caught:
        data.read_image(path, SIZE)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("modality", ["CR", "DX", "DR", "RG", ""])
def test_radiograph_modalities_and_a_missing_modality_are_accepted(tmp_path, picture, modality):
    path = dicom.write(tmp_path / "ok.dcm", picture, modality=modality)
    assert data.read_image(path, SIZE).shape == (SIZE, SIZE, 1)


def test_a_dicom_without_pixel_data_is_refused(tmp_path, picture):
    path = dicom.write(tmp_path / "report.dcm", picture)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ImageError, match="without pixel data"):
        data.read_image(path, SIZE)


def test_a_missing_decoder_plugin_is_one_line_naming_what_to_install(
    tmp_path, picture, monkeypatch
):
    path = dicom.write(tmp_path / "j2k.dcm", picture, compression="jpeg2000")
    decoder = pydicom.pixels.get_decoder(pydicom.uid.JPEG2000Lossless)
    monkeypatch.setattr(decoder, "_available", {})
    with pytest.raises(
        ImageError, match=r"no decoder installed .*\(pip install pylibjpeg"
    ) as caught:
        data.read_image(path, SIZE)
    assert "\n" not in str(caught.value)


def test_a_colour_dicom_is_read_in_colour_for_the_gate_to_flag(tmp_path, picture):
    path = dicom.write(tmp_path / "colour.dcm", picture)
    ds = pydicom.dcmread(path)
    rgb = np.stack([picture, picture // 2, np.full_like(picture, 40)], axis=-1)
    pydicom.pixels.set_pixel_data(ds, rgb, "RGB", 8)
    ds.save_as(path)
    item = data.inspect_image(path, SIZE)
    assert item.mode == "DICOM RGB" and item.colour > 0.5


def test_a_palette_colour_dicom_is_refused(tmp_path, picture):
    path = dicom.write(tmp_path / "palette.dcm", picture)
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.save_as(path)
    with pytest.raises(ImageError, match="palette-colour DICOM"):
        data.read_image(path, SIZE)


def test_a_dcm_file_that_is_not_dicom_is_refused(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("not a DICOM file")
    with pytest.raises(ImageError, match="not a readable DICOM file"):
        data.read_image(path, SIZE)


def test_scan_images_uses_dicoms_and_skips_refused_ones_with_their_reason(tmp_path, picture):
    folder = tmp_path / "own"
    folder.mkdir()
    Image.fromarray(picture).save(folder / "a.png")
    dicom.write(folder / "b.dcm", 255 - picture, monochrome1=True)
    dicom.write(folder / "C0001", picture)
    dicom.write(folder / "scan.dcm", picture, modality="CT")
    (folder / "notes.txt").write_text("no image")
    found = data.scan_images(folder, progress=False)
    assert sorted(Path(p).name for p in found.frame.path) == ["C0001", "a.png", "b.dcm"]
    assert found.frame.set_index(found.frame.path.map(lambda p: Path(p).name)).loc[
        "b.dcm", "mode"
    ] == ("DICOM MONOCHROME1")
    reasons = dict(found.skipped)
    assert "not a radiograph" in reasons["scan.dcm"]
    assert "not an image file" in reasons["notes.txt"]


def test_scan_of_a_data_set_reads_dicoms_in_the_class_folders(tmp_path, picture):
    for split in ("train", "test"):
        for label in ("NORMAL", "PNEUMONIA"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            dicom.write(folder / "IM-0001-0001.dcm", picture)
    found = data.scan(tmp_path, image_size=SIZE, progress=False)
    assert found.counts() == {s: {"NORMAL": 1, "PNEUMONIA": 1} for s in ("test", "train")}
    assert found.images is not None and found.images.shape == (4, SIZE, SIZE, 1)


@pytest.mark.realdata
def test_a_monochrome1_dicom_of_a_real_xray_predicts_within_0_01_of_its_png_twin(
    real_data_dir, tmp_path
):
    source = next((real_data_dir / "train" / "NORMAL").iterdir())
    pixels = np.asarray(Image.open(source).convert("L"))
    Image.fromarray(pixels).save(tmp_path / "twin.png")
    dicom.write(tmp_path / "twin.dcm", 255 - pixels, monochrome1=True, bits=8)
    table, errors = predict.predict_images(
        results.load_model(), [tmp_path / "twin.png", tmp_path / "twin.dcm"], force=True
    )
    assert not errors
    assert abs(table.probability[0] - table.probability[1]) < 0.01


def test_monochrome1_with_its_required_inverse_presentation_lut_is_inverted_once(tmp_path, picture):
    import pydicom

    path = dicom.write(tmp_path / "dx.dcm", 255 - picture, monochrome1=True)
    ds = pydicom.dcmread(path)
    ds.PresentationLUTShape = "INVERSE"  # what the DX module requires with MONOCHROME1
    ds.save_as(path)
    assert np.abs(dicom.read(path).pixels.astype(int) - picture).max() <= 1


def test_a_deep_image_without_window_is_stretched_from_its_own_minimum(tmp_path, picture):
    stored = (1000 + picture.astype(np.uint16) * 8).astype(np.uint16)  # 1000..3040 of 12 bits
    path = dicom.write(tmp_path / "deep.dcm", stored, bits=12)
    pixels = dicom.read(path).pixels
    assert pixels.min() == 0 and pixels.max() == 255


# --------------------------------------------------------------------------- whom it shows

#: name → (tags written, age read in years or None, where it came from, what is not checked)
SUBJECTS: dict[str, tuple[dict[str, str], float | None, str, set[str]]] = {
    "3Y": ({"PatientAge": "3Y", "BodyPartExamined": "CHEST"}, 3.0, "PatientAge 3Y", set()),
    "062Y": ({"PatientAge": "062Y", "BodyPartExamined": "CHEST"}, 62.0, "PatientAge 062Y", set()),
    "018M": ({"PatientAge": "018M"}, 1.5, "PatientAge 018M", {"body_part"}),
    "004W": ({"PatientAge": "004W"}, 28 / 365.25, "PatientAge 004W", {"body_part"}),
    "010D": ({"PatientAge": "010D"}, 10 / 365.25, "PatientAge 010D", {"body_part"}),
    "no_age_with_birth_date": (
        {"PatientBirthDate": "20200301", "StudyDate": "20230301", "BodyPartExamined": "CHEST"},
        1095 / 365.25,
        "StudyDate 20230301 minus PatientBirthDate 20200301",
        set(),
    ),
    "no_age_without_birth_date": (
        {"StudyDate": "20230301", "BodyPartExamined": "CHEST"},
        None,
        "",
        {"age"},
    ),
    "unparseable_age": (
        {"PatientAge": "three years", "BodyPartExamined": "CHEST"},
        None,
        "",
        {"age"},
    ),
    "unparseable_age_with_birth_date": (
        {"PatientAge": "?", "PatientBirthDate": "19600101", "StudyDate": "20240101"},
        23376 / 365.25,
        "StudyDate 20240101 minus PatientBirthDate 19600101",
        {"body_part"},
    ),
    "abdomen": (
        {"PatientAge": "004Y", "BodyPartExamined": "ABDOMEN"},
        4.0,
        "PatientAge 004Y",
        set(),
    ),
}


@pytest.mark.filterwarnings("ignore:Invalid value for VR AS")  # 3Y, as some archives write it
@pytest.mark.parametrize("case", list(SUBJECTS))
def test_the_patient_s_age_and_body_part_are_read_from_the_tags(tmp_path, picture, case):
    tags, age, source, unchecked = SUBJECTS[case]
    path = dicom.write(tmp_path / "chest.dcm", picture, tags=tags)
    subject = data.inspect_image(path, SIZE).subject
    assert subject.age == pytest.approx(age) if age is not None else subject.age is None
    assert subject.age_from == source
    assert subject.body_part == tags.get("BodyPartExamined", "")
    assert set(subject.not_checked) == unchecked


@pytest.mark.filterwarnings("ignore:Invalid value for VR AS")
def test_what_is_not_checked_says_which_tags_were_missing_or_unreadable(tmp_path, picture):
    cases = {
        "bare": ({}, "no PatientAge tag; no PatientBirthDate and no StudyDate"),
        "study_only": ({"StudyDate": "20230301"}, "no PatientAge tag; no PatientBirthDate"),
        "bad_age": (
            {"PatientAge": "abc"},
            "PatientAge 'abc' is not a DICOM age (nnnD, nnnW, nnnM or nnnY); "
            "no PatientBirthDate and no StudyDate",
        ),
        "born_after": (
            {"PatientBirthDate": "20250101", "StudyDate": "20240101"},
            "no PatientAge tag; StudyDate 20240101 is before PatientBirthDate 20250101",
        ),
    }
    for name, (tags, why) in cases.items():
        path = dicom.write(tmp_path / f"{name}.dcm", picture, tags=tags)
        subject = data.inspect_image(path, SIZE).subject
        assert subject.not_checked == {"age": why, "body_part": "no BodyPartExamined tag"}, name


def test_a_png_says_its_age_and_body_part_are_not_checked(twin):
    subject = data.inspect_image(twin, SIZE).subject
    assert subject.age is None and set(subject.not_checked) == {"age", "body_part"}
    assert "--age" in subject.not_checked["age"] and "ages.csv" in subject.not_checked["age"]
