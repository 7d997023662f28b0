"""The data specification: file names, scanning, decoding, caching, splits and tf.data.

Every test makes its own small images; only the ``realdata`` tests read the real data set.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from xraylib import data

SIZE = 16  # image side used by the tests that decode


# --------------------------------------------------------------------------- helpers


def gradient(width: int = 64, height: int = 48, top: int = 255) -> np.ndarray:
    """A left-to-right ramp from 0 to ``top``."""
    return np.tile(np.linspace(0, top, width), (height, 1))


def jpeg_bytes(shade: int = 100, size: tuple[int, int] = (24, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gradient(*size).astype(np.uint8) // 2 + shade // 2).save(buffer, "JPEG")
    return buffer.getvalue()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gradient().astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def make_layout(
    root: Path, splits=("train", "test"), labels=("NORMAL", "PNEUMONIA"), per_folder: int = 2
) -> Path:
    """``root/{split}/{label}/`` with ``per_folder`` small valid JPEGs of real-pattern names."""
    for s, split in enumerate(splits):
        for label in labels:
            for k in range(per_folder):
                name = (
                    f"person{s * 10 + k}_bacteria_{k}.jpeg"
                    if label.upper() == "PNEUMONIA"
                    else f"IM-{s * 10 + k:04d}-0001.jpeg"
                )
                write(root / split / label / name, jpeg_bytes(40 * k))
    return root


def file_count(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


# Odd but valid images: (file name, PIL image, save format); all must be usable.
def _odd_images() -> list[tuple[str, Image.Image, str]]:
    ramp = gradient().astype(np.uint8)
    rgb = np.stack([ramp] * 3, axis=-1)
    opaque = np.full_like(ramp, 255)
    return [
        ("IM-0101-0001.jpeg", Image.fromarray(rgb), "JPEG"),
        ("IM-0102-0001.png", Image.fromarray(np.dstack([rgb, opaque])), "PNG"),  # RGBA
        ("IM-0103-0001.png", Image.fromarray(ramp).convert("P"), "PNG"),
        ("IM-0104-0001.png", Image.fromarray(np.dstack([ramp, opaque]), "LA"), "PNG"),
        ("IM-0105-0001.png", Image.fromarray(gradient(top=65535).astype(np.uint16)), "PNG"),
        ("IM-0106-0001.jpeg", Image.fromarray(rgb).convert("CMYK"), "JPEG"),
        ("IM-0107-0001.jpeg", Image.fromarray(ramp), "PNG"),  # a PNG named .jpeg
        ("IM-0108-0001.JPEG", Image.fromarray(ramp), "JPEG"),
        ("IM-0109-0001.jpg", Image.fromarray(ramp), "JPEG"),
        ("IM-0110-0001.PNG", Image.fromarray(ramp), "PNG"),
        ("IM-0111-0001.png", Image.new("L", (1, 1), 128), "PNG"),
        ("IM-0112-0001.jpeg", Image.new("L", (2, 3), 128), "JPEG"),
    ]


ODD_IMAGES = _odd_images()
ODD_MODES = {
    "IM-0101": "RGB",
    "IM-0102": "RGBA",
    "IM-0103": "P",
    "IM-0104": "LA",
    "IM-0105": "I;16",
    "IM-0106": "CMYK",
}


def broken_files() -> dict[str, bytes]:
    """Files with an image extension that no decoder can fully read, by name."""
    whole_jpeg, whole_png = jpeg_bytes(size=(64, 48)), png_bytes()
    garbage = np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes()
    return {
        "empty.jpeg": b"",
        "truncated.jpeg": whole_jpeg[: len(whole_jpeg) // 2],
        "page.jpeg": b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n",
        "garbage_after_header.png": whole_png[:33] + garbage,  # signature + IHDR, then noise
        "corrupt_pixels.png": whole_png[:60] + bytes(200),  # chunks start, image data broken
    }


JUNK = [
    "train/NORMAL/.DS_Store",
    "train/NORMAL/Thumbs.db",
    "train/NORMAL/._IM-0001-0001.jpeg",
    "train/NORMAL/__MACOSX/IM-0001-0001.jpeg",
    "__MACOSX/train/NORMAL/._x.jpeg",
    "train/PNEUMONIA/.ipynb_checkpoints/person1_bacteria_1-checkpoint.jpeg",
    "README.txt",
]


@pytest.fixture(scope="module")
def messy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid layout plus every odd image, every broken file and every kind of junk."""
    root = make_layout(tmp_path_factory.mktemp("messy"))
    for name, image, fmt in ODD_IMAGES:
        image.save(root / "train" / "NORMAL" / name, fmt)
    for name, content in broken_files().items():
        write(root / "train" / "PNEUMONIA" / name, content)
    for rel in JUNK:
        write(root / rel, jpeg_bytes())
    return root


@pytest.fixture(scope="module")
def messy(messy_root: Path) -> data.Scan:
    return data.scan(messy_root, progress=False)


@pytest.fixture(scope="module")
def phantom_frame(phantom_root: Path) -> pd.DataFrame:
    return data.scan(phantom_root, progress=False).frame


# --------------------------------------------------------------------------- patient ids


@pytest.mark.parametrize(
    ("name", "patient", "subtype"),
    [
        ("person1_bacteria_1.jpeg", "person1", "bacteria"),
        ("person1_virus_6.jpeg", "person1", "virus"),
        ("person1000_virus_1681.jpeg", "person1000", "virus"),
        ("person1000_bacteria_2931.jpeg", "person1000", "bacteria"),
        ("person447_virus_921_1.jpeg", "person447", "virus"),
        ("person1_virus_6_2.jpeg", "person1", "virus"),
        ("IM-0115-0001.jpeg", "IM-0115", "none"),
        ("IM-0011-0001-0001.jpeg", "IM-0011", "none"),
        ("NORMAL2-IM-0927-0001.jpeg", "NORMAL2-IM-0927", "none"),
        ("NORMAL2-IM-1427-0001-0002.jpeg", "NORMAL2-IM-1427", "none"),
        ("PERSON3_BACTERIA_12.JPEG", "PERSON3", "bacteria"),
        ("IM-0115-0001.JPEG", "IM-0115", "none"),
        ("NORMAL2-IM-0927-0001.jpg", "NORMAL2-IM-0927", "none"),
        ("scan_from_clinic.png", "scan_from_clinic", "none"),
        ("odd.JPEG", "odd", "none"),
    ],
)
def test_patient_id_and_subtype_follow_the_file_name(name, patient, subtype):
    assert data.parse_patient(name) == (patient, subtype)


def test_patient_id_ignores_the_folder():
    assert data.parse_patient("/x/train/PNEUMONIA/person7_virus_9.jpeg") == ("person7", "virus")


def test_images_of_one_patient_share_the_id():
    ids = {
        data.parse_patient(n)[0]
        for n in ("person5_bacteria_10.jpeg", "person5_bacteria_11.jpeg", "person5_virus_12.jpeg")
    }
    assert ids == {"person5"}
    assert data.parse_patient("IM-0001-0001.jpeg") != data.parse_patient("IM-0002-0001.jpeg")


# --------------------------------------------------------------------------- read_image


@pytest.mark.parametrize(("name", "image", "fmt"), ODD_IMAGES, ids=[n for n, _, _ in ODD_IMAGES])
def test_read_image_gives_a_grayscale_uint8_square_for_any_mode(tmp_path, name, image, fmt):
    path = tmp_path / name
    image.save(path, fmt)
    array = data.read_image(path, SIZE)
    assert array.shape == (SIZE, SIZE, 1)
    assert array.dtype == np.uint8


@pytest.mark.parametrize(
    ("name", "image", "fmt"), ODD_IMAGES[:10], ids=[n for n, _, _ in ODD_IMAGES[:10]]
)
def test_read_image_keeps_the_gray_levels_of_a_ramp(tmp_path, name, image, fmt):
    """Dark stays dark, mid stays mid, bright stays bright, whatever the mode."""
    path = tmp_path / name
    image.save(path, fmt)
    row = data.read_image(path, SIZE)[SIZE // 2, :, 0].astype(int)
    assert row[0] < 20
    assert abs(row[SIZE // 2] - 128) < 15
    assert row[-1] > 235
    assert (np.diff(row) >= -3).all()  # increasing, up to JPEG noise


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    top = tmp_path / "top.png"
    Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16)).save(top)
    mid = tmp_path / "mid.png"
    Image.fromarray(np.full((20, 20), 32768, dtype=np.uint16)).save(mid)
    ramp = tmp_path / "ramp.png"
    Image.fromarray(gradient(top=65535).astype(np.uint16)).save(ramp)
    assert Image.open(top).mode.startswith("I")
    assert (data.read_image(top, SIZE) == 255).all()
    assert (data.read_image(mid, SIZE) == 128).all()
    row = data.read_image(ramp, SIZE)[SIZE // 2, :, 0].astype(int)
    assert abs(row[SIZE // 2] - 128) < 12  # clipping would push the middle to 255


def test_twelve_bit_images_use_the_full_range(tmp_path):
    path = tmp_path / "ct.png"
    Image.fromarray(np.full((20, 20), 4095, dtype=np.uint16)).save(path)
    assert (data.read_image(path, SIZE) == 255).all()


def test_transparent_pixels_become_black(tmp_path):
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # white but fully transparent
    path = tmp_path / "clear.png"
    Image.fromarray(rgba).save(path)
    assert (data.read_image(path, SIZE) == 0).all()


@pytest.mark.parametrize("name", list(broken_files()))
def test_read_image_of_a_broken_file_raises_a_one_line_image_error(tmp_path, name):
    path = write(tmp_path / name, broken_files()[name])
    with pytest.raises(data.ImageError) as caught:
        data.read_image(path, SIZE)
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message


def test_read_image_of_a_missing_file_raises_image_error(tmp_path):
    with pytest.raises(data.ImageError, match="no such file"):
        data.read_image(tmp_path / "nothing.jpeg", SIZE)


# --------------------------------------------------------------------------- scan: files


def test_scan_classifies_every_file_as_usable_ignored_or_skipped(messy_root, messy):
    assert len(messy.frame) + len(messy.ignored) + len(messy.skipped) == file_count(messy_root)


def test_scan_counts_usable_images_per_split_and_label(messy):
    assert messy.counts() == {
        "train": {"NORMAL": 2 + len(ODD_IMAGES), "PNEUMONIA": 2},
        "test": {"NORMAL": 2, "PNEUMONIA": 2},
    }


def test_scan_frame_has_the_documented_columns(messy):
    assert list(messy.frame.columns) == data.FRAME_COLUMNS
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in messy.frame.path)
    assert set(messy.frame.subtype) <= {"bacteria", "virus", "none"}
    assert (messy.frame.width > 0).all() and (messy.frame.height > 0).all()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.jpeg", "empty"),
        ("truncated.jpeg", "truncated"),
        ("page.jpeg", "not an image"),
        ("garbage_after_header.png", ""),
        ("corrupt_pixels.png", ""),
    ],
)
def test_broken_files_are_skipped_with_their_reason(messy, name, reason):
    reasons = dict(messy.skipped)
    rel = f"train/PNEUMONIA/{name}"
    assert rel in reasons
    assert reason in reasons[rel]
    assert reasons[rel] and "\n" not in reasons[rel]
    assert not messy.frame.path.str.endswith(name).any()


def test_skipped_paths_are_relative_to_the_root(messy):
    assert all(not Path(p).is_absolute() for p, _ in messy.skipped)


@pytest.mark.parametrize(("name", "image", "fmt"), ODD_IMAGES, ids=[n for n, _, _ in ODD_IMAGES])
def test_odd_but_valid_images_are_usable(messy, name, image, fmt):
    rows = messy.frame[messy.frame.path.str.endswith("/" + name)]
    assert len(rows) == 1
    assert rows.iloc[0].label == "NORMAL"
    assert (rows.iloc[0].width, rows.iloc[0].height) == image.size


def test_scan_records_the_original_mode(messy):
    modes = dict(zip(messy.frame.patient_id, messy.frame["mode"], strict=True))
    for patient, mode in ODD_MODES.items():
        assert modes[patient] == mode or (mode == "I;16" and modes[patient].startswith("I"))


@pytest.mark.parametrize("rel", JUNK)
def test_junk_is_ignored_and_counted(messy, rel):
    assert rel in messy.ignored
    assert rel not in dict(messy.skipped)
    assert not messy.frame.path.str.endswith(rel).any()


def test_a_non_image_file_in_a_class_folder_is_skipped(tmp_path):
    root = make_layout(tmp_path)
    write(root / "train" / "NORMAL" / "notes.txt", b"hello")
    found = data.scan(root, progress=False)
    assert [p for p, _ in found.skipped] == ["train/NORMAL/notes.txt"]


def test_a_skipped_file_keeps_its_reason_when_its_folder_holds_a_colon(tmp_path):
    root = make_layout(tmp_path / "scans: 2024")
    write(root / "train" / "NORMAL" / "empty.jpeg", b"")
    found = data.scan(root, progress=False)
    assert found.skipped == [("train/NORMAL/empty.jpeg", "empty file (0 bytes)")]


def test_an_image_error_carries_its_path_and_reason(tmp_path):
    with pytest.raises(data.ImageError) as raised:
        data.read_image(tmp_path / "a: b.png", 64)
    assert (raised.value.path, raised.value.reason) == (str(tmp_path / "a: b.png"), "no such file")
    assert str(raised.value) == f"{tmp_path / 'a: b.png'}: no such file"


def test_images_outside_the_split_class_folders_are_skipped_other_files_ignored(tmp_path):
    root = make_layout(tmp_path)
    for rel in ("train/IM-0009-0001.jpeg", "extra/person9_virus_1.PNG", "val/x/y/IM-1-1.jpg"):
        write(root / rel, jpeg_bytes())
    for rel in ("MANIFEST.csv", "README", "train/notes.txt"):
        write(root / rel, b"not data")
    found = data.scan(root, progress=False)
    assert found.skipped == [
        ("extra/person9_virus_1.PNG", data.OUTSIDE),
        ("train/IM-0009-0001.jpeg", data.OUTSIDE),
        ("val/x/y/IM-1-1.jpg", data.OUTSIDE),
    ]
    assert data.OUTSIDE == "outside the train|val|test/NORMAL|PNEUMONIA folders"
    assert sorted(found.ignored) == ["MANIFEST.csv", "README", "train/notes.txt"]
    assert found.counts()["train"] == {"NORMAL": 2, "PNEUMONIA": 2}


def test_scan_with_an_image_size_returns_aligned_arrays(messy_root, messy):
    sized = data.scan(messy_root, image_size=SIZE, progress=False)
    assert sized.images is not None
    assert sized.images.shape == (len(sized.frame), SIZE, SIZE, 1)
    assert sized.images.dtype == np.uint8
    pd.testing.assert_frame_equal(sized.frame, messy.frame)
    first = sized.frame.path.iloc[0]
    np.testing.assert_array_equal(sized.images[0], data.read_image(first, SIZE))


def test_scan_json_report_has_the_documented_keys(messy):
    report = messy.to_json()
    assert set(report) == {"root", "counts", "ignored", "skipped"}
    assert report["ignored"] == len(JUNK)
    assert {s["path"] for s in report["skipped"]} == {
        f"train/PNEUMONIA/{n}" for n in broken_files()
    }
    assert all(set(s) == {"path", "reason"} for s in report["skipped"])


# --------------------------------------------------------------------------- scan: layouts


def test_kaggle_nesting_is_found(tmp_path):
    make_layout(tmp_path / "chest_xray" / "chest_xray", splits=("train", "val", "test"))
    write(tmp_path / "chest_xray" / "__MACOSX" / "chest_xray" / "train" / "._x.jpeg", b"x")
    found = data.scan(tmp_path, progress=False)
    assert found.root == tmp_path / "chest_xray" / "chest_xray"
    assert set(found.counts()) == {"train", "val", "test"}


def test_mendeley_layout_without_val_is_usable(tmp_path):
    make_layout(tmp_path / "chest_xray")
    found = data.scan(tmp_path, progress=False)
    assert set(found.counts()) == {"train", "test"}
    frame = data.make_splits(found.frame, seed=0)  # only 4 patients to split: still works
    assert set(frame.subset) == {"train", "val", "test"}
    assert data.shared_patients(frame) == set()


def test_folder_names_in_any_case_are_recognised(tmp_path):
    make_layout(tmp_path, splits=("Train", "TEST"), labels=("normal", "Pneumonia"))
    found = data.scan(tmp_path, progress=False)
    assert found.counts() == {
        "train": {"NORMAL": 2, "PNEUMONIA": 2},
        "test": {"NORMAL": 2, "PNEUMONIA": 2},
    }


def test_a_class_without_usable_image_is_a_data_error_naming_the_folder(tmp_path):
    root = make_layout(tmp_path)
    folder = root / "test" / "PNEUMONIA"
    shutil.rmtree(folder)
    write(folder / "empty.jpeg", b"")
    with pytest.raises(data.DataError, match="no usable image") as caught:
        data.scan(root, progress=False)
    assert str(folder) in str(caught.value)


def test_a_missing_class_folder_is_a_data_error_naming_it(tmp_path):
    root = make_layout(tmp_path)
    shutil.rmtree(root / "train" / "NORMAL")
    with pytest.raises(data.DataError) as caught:
        data.scan(root, progress=False)
    assert str(root / "train" / "NORMAL") in str(caught.value)


def test_the_error_names_the_folder_as_spelled_on_disk(tmp_path):
    root = make_layout(tmp_path, labels=("normal", "pneumonia"))
    for image in (root / "train" / "normal").iterdir():
        image.write_bytes(b"not a picture")
    with pytest.raises(data.DataError) as caught:
        data.scan(root, progress=False)
    assert str(root / "train" / "normal") in str(caught.value)


def test_a_path_that_does_not_exist_is_a_data_error(tmp_path):
    with pytest.raises(data.DataError, match="no such folder"):
        data.scan(tmp_path / "nowhere", progress=False)


def test_a_folder_without_train_and_test_is_a_data_error(tmp_path):
    make_layout(tmp_path, splits=("train",))
    with pytest.raises(data.DataError, match="train/ and test/"):
        data.scan(tmp_path, progress=False)


def test_data_errors_are_one_line(tmp_path):
    with pytest.raises(data.DataError) as caught:
        data.scan(tmp_path, progress=False)
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- load (cache)


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    return make_layout(tmp_path / "images", splits=("train", "val", "test"))


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("decoded an image although the cache is valid")

    monkeypatch.setattr(data, "_decode", fail)


def count_decoding(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = data._decode

    def counted(path, image_size):
        calls.append(path)
        return real(path, image_size)

    monkeypatch.setattr(data, "_decode", counted)
    return calls


def test_second_load_reads_the_cache_without_decoding(small_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    assert len(list(cache.glob("*.npz"))) == 1
    forbid_decoding(monkeypatch)
    second = data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(second.images, first.images)
    pd.testing.assert_frame_equal(second.frame, first.frame)
    assert second.root == first.root
    assert second.ignored == first.ignored
    assert second.skipped == first.skipped


def test_cache_keeps_skipped_and_ignored_files(small_root, tmp_path, monkeypatch):
    write(small_root / "train" / "NORMAL" / "empty.jpeg", b"")
    write(small_root / "train" / "NORMAL" / ".DS_Store", b"x")
    cache = tmp_path / "cache"
    first = data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    forbid_decoding(monkeypatch)
    second = data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    assert second.skipped == first.skipped == [("train/NORMAL/empty.jpeg", "empty file (0 bytes)")]
    assert second.ignored == first.ignored == ["train/NORMAL/.DS_Store"]


def test_adding_a_file_rebuilds_the_cache(small_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    before = data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    write(small_root / "train" / "NORMAL" / "IM-0999-0001.jpeg", jpeg_bytes(200))
    decoded = count_decoding(monkeypatch)
    after = data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    assert decoded
    assert len(after.frame) == len(before.frame) + 1
    assert len(after.images) == len(before.images) + 1


@pytest.mark.parametrize("change", ["mtime", "size"])
def test_changing_a_file_rebuilds_the_cache(small_root, tmp_path, monkeypatch, change):
    cache = tmp_path / "cache"
    data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    image = next((small_root / "train" / "NORMAL").iterdir())
    if change == "mtime":
        stat = image.stat()
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    else:
        with image.open("ab") as file:  # bytes after the JPEG end marker: still decodable
            file.write(b"\0" * 16)
    decoded = count_decoding(monkeypatch)
    data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    assert decoded
    assert len(list(cache.glob("*.npz"))) == 2


def test_cache_is_keyed_by_image_size(small_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    small = data.load_scan(small_root, 8, cache_dir=cache, progress=False)
    large = data.load_scan(small_root, 12, cache_dir=cache, progress=False)
    assert small.images.shape[1:] == (8, 8, 1)
    assert large.images.shape[1:] == (12, 12, 1)
    assert sorted(p.name.split("_")[1] for p in cache.glob("*.npz")) == ["12px", "8px"]
    forbid_decoding(monkeypatch)
    again = data.load_scan(small_root, 8, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(again.images, small.images)


def test_load_leaves_no_partial_cache_file(small_root, tmp_path):
    cache = tmp_path / "cache"
    data.load_scan(small_root, SIZE, cache_dir=cache, progress=False)
    assert [p.suffix for p in cache.iterdir()] == [".npz"]
    assert not any("part" in p.name for p in cache.iterdir())


def test_the_partial_cache_file_is_unique_to_the_process(small_root, tmp_path, monkeypatch):
    written: list[str] = []
    savez = np.savez

    def recording_savez(path, **arrays):
        written.append(str(path))
        savez(path, **arrays)

    monkeypatch.setattr(np, "savez", recording_savez)
    data.load_scan(small_root, SIZE, cache_dir=tmp_path / "cache", progress=False)
    assert len(written) == 1 and f".{os.getpid()}.tmp.npz" in written[0]


# --------------------------------------------------------------------------- splits


def metadata_frame(seed: int = 0, normal: int = 300, pneumonia: int = 900) -> pd.DataFrame:
    """A scan-like frame of real-pattern names, 1–3 images per patient (no image files)."""
    rng = np.random.default_rng(seed)
    rows, patient = [], 0
    for split, label, count in [
        ("train", "NORMAL", normal),
        ("train", "PNEUMONIA", pneumonia),
        ("val", "NORMAL", 8),
        ("val", "PNEUMONIA", 8),
        ("test", "NORMAL", 60),
        ("test", "PNEUMONIA", 100),
    ]:
        made = 0
        while made < count:
            patient += 1
            kind = "bacteria" if patient % 3 else "virus"
            for k in range(int(rng.integers(1, 4))):
                name = (
                    f"person{patient}_{kind}_{made}.jpeg"
                    if label == "PNEUMONIA"
                    else f"IM-{patient:04d}-{k + 1:04d}.jpeg"
                )
                rows.append(
                    (
                        f"/data/{split}/{label}/{name}",
                        split,
                        label,
                        *data.parse_patient(name),
                        100,
                        100,
                        "L",
                    )
                )
                made += 1
    return pd.DataFrame(rows, columns=data.FRAME_COLUMNS)


@pytest.fixture(scope="module")
def pooled() -> pd.DataFrame:
    return metadata_frame()


@pytest.fixture(scope="module")
def split(pooled: pd.DataFrame) -> pd.DataFrame:
    return data.make_splits(pooled, seed=7)


def normal_share(frame: pd.DataFrame) -> float:
    return float((frame.label == "NORMAL").mean())


def test_no_patient_in_both_train_and_val(split):
    assert data.shared_patients(split) == set()
    train = set(split.patient_id[split.subset == "train"])
    val = set(split.patient_id[split.subset == "val"])
    assert train and val and not train & val


def test_test_set_is_untouched(pooled, split):
    assert (split.subset[pooled.split == "test"] == "test").all()
    assert (split.subset[pooled.split != "test"] != "test").all()
    assert split.drop(columns="subset").equals(pooled)


def test_validation_is_about_15_percent_of_train_and_val(split):
    pool = split[split.subset != "test"]
    share = (pool.subset == "val").mean()
    assert 0.10 <= share <= 0.20


def test_validation_keeps_the_class_ratio_of_train(split):
    train, val = split[split.subset == "train"], split[split.subset == "val"]
    assert abs(normal_share(val) - normal_share(train)) <= 0.03


def test_official_val_images_are_pooled_into_train_and_val(split):
    official = split[split.split == "val"]
    assert len(official) == 16
    assert set(official.subset) <= {"train", "val"}


def test_splits_are_fixed_by_the_seed(pooled, split):
    again = data.make_splits(pooled, seed=7)
    pd.testing.assert_series_equal(again.subset, split.subset)
    other = data.make_splits(pooled, seed=8)
    assert not other.subset.equals(split.subset)
    assert data.shared_patients(other) == set()


def test_splits_default_to_seed_42_whatever_the_environment_says(pooled, split, monkeypatch):
    monkeypatch.setenv("XRAY_SEED", "7")
    default = data.make_splits(pooled)
    pd.testing.assert_series_equal(default.subset, data.make_splits(pooled, seed=42).subset)
    assert not default.subset.equals(split.subset)  # split: seed 7


def test_splits_of_scanned_phantoms_keep_patients_apart(phantom_frame):
    frame = data.make_splits(phantom_frame, seed=0)
    assert data.shared_patients(frame) == set()
    assert (frame.subset[frame.split == "test"] == "test").all()
    assert {"train", "val"} <= set(frame.subset[frame.split != "test"])


def test_labels_are_one_for_pneumonia(pooled):
    y = data.labels(pooled)
    assert y.dtype == np.int64
    assert y.sum() == (pooled.label == "PNEUMONIA").sum()
    assert set(y[pooled.label.to_numpy() == "NORMAL"]) == {0}


@pytest.mark.filterwarnings("error")
def test_subsample_keeps_whole_patients_and_about_per_class_images(phantom_frame):
    per_class = 10
    kept = phantom_frame.loc[data.subsample(phantom_frame, per_class, seed=0)]
    most_per_patient = phantom_frame.groupby("patient_id").size().max()
    for (split_name, label), group in phantom_frame.groupby(["split", "label"]):
        chosen = kept[(kept.split == split_name) & (kept.label == label)]
        assert min(per_class, len(group)) <= len(chosen) < per_class + most_per_patient
        whole = group[group.patient_id.isin(chosen.patient_id)]
        assert len(whole) == len(chosen), "a patient's images were split up"


def test_subsample_is_fixed_by_the_seed(phantom_frame):
    first = data.subsample(phantom_frame, 10, seed=0)
    assert first.equals(data.subsample(phantom_frame, 10, seed=0))
    assert not first.equals(data.subsample(phantom_frame, 10, seed=1))
    assert first.is_unique and first.is_monotonic_increasing


def test_load_splits_gives_aligned_train_and_val_arrays(phantom_root):
    from xraylib import config

    splits = data.load_splits(
        phantom_root, profile=config.PROFILES["smoke"], seed=0, progress=False
    )
    size = config.PROFILES["smoke"].image_size
    assert splits.x_train.shape == (len(splits.y_train), size, size, 1)
    assert splits.x_val.shape == (len(splits.y_val), size, size, 1)
    assert splits.x_train.dtype == np.uint8
    assert len(splits.y_train) == (splits.frame.subset == "train").sum()
    assert data.shared_patients(splits.frame) == set()
    assert splits.root == data.find_root(phantom_root)
    x_test, y_test, test = data.load_test(splits)  # from splits.root
    assert len(x_test) == len(y_test) == len(test) == (splits.frame.subset == "test").sum()
    assert test.path.str.startswith(str(splits.root)).all()


@pytest.mark.parametrize(("variable", "value"), [("XRAY_PROFILE", "smoke"), ("XRAY_SEED", "7")])
def test_load_splits_gives_the_same_splits_whatever_the_environment_says(
    phantom_root, monkeypatch, variable, value
):
    def load() -> data.Splits:
        return data.load_splits(phantom_root, image_size=16, progress=False)

    monkeypatch.setenv("XRAY_PROFILE", "full")
    before = load()
    monkeypatch.setenv(variable, value)
    after = load()
    assert before.frame.equals(after.frame)
    assert np.array_equal(before.x_train, after.x_train)
    assert len(before.frame) == len(data.load_scan(phantom_root, 16, progress=False).frame)


def test_load_test_refuses_images_other_than_those_the_splits_chose(small_root, tmp_path):
    from xraylib import config

    smoke = config.PROFILES["smoke"]
    splits = data.load_splits(small_root, profile=smoke, seed=0, progress=False)
    other = make_layout(tmp_path / "other")  # same layout and names, another folder
    with pytest.raises(data.DataError, match="not those the splits chose"):
        data.load_test(splits, other)


# --------------------------------------------------------------------------- tf.data


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 1), np.uint8)
    return x, np.arange(10) % 2


def order(dataset) -> list[int]:
    return [int(v) for xb, _ in dataset for v in xb.numpy()[:, 0, 0, 0]]


def test_dataset_yields_uint8_images_and_float32_labels_in_batches(arrays):
    x, y = arrays
    batches = list(data.make_dataset(x, y, batch_size=4))
    assert [tuple(xb.shape) for xb, _ in batches] == [(4, 4, 4, 1), (4, 4, 4, 1), (2, 4, 4, 1)]
    assert [tuple(yb.shape) for _, yb in batches] == [(4,), (4,), (2,)]
    assert all(xb.dtype.name == "uint8" and yb.dtype.name == "float32" for xb, yb in batches)
    assert order(batches) == list(range(10))  # no shuffle: the order of x


def test_shuffled_dataset_keeps_images_with_their_labels(arrays):
    x, y = arrays
    for xb, yb in data.make_dataset(x, y, batch_size=3, shuffle=True, seed=1):
        np.testing.assert_array_equal(xb.numpy()[:, 0, 0, 0] % 2, yb.numpy())


def test_shuffle_is_fixed_by_the_seed(arrays):
    x, y = arrays
    first = data.make_dataset(x, y, batch_size=4, shuffle=True, seed=3)
    second = data.make_dataset(x, y, batch_size=4, shuffle=True, seed=3)
    epochs = [order(first), order(first)]
    assert [order(second), order(second)] == epochs
    assert sorted(epochs[0]) == list(range(10))
    assert epochs[0] != list(range(10))
    assert epochs[0] != epochs[1]  # a new order every epoch
    assert order(data.make_dataset(x, y, batch_size=4, shuffle=True, seed=4)) != epochs[0]


@pytest.mark.parametrize("y", [[0, 1, 1, 1], [0, 0, 1], [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1]])
def test_class_weights_match_scikit_learn_balanced(y):
    from sklearn.utils.class_weight import compute_class_weight

    expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=np.array(y))
    weights = data.class_weights(np.array(y))
    assert weights == pytest.approx({0: expected[0], 1: expected[1]})
    assert data.class_weights(y) == weights  # a list works too
    n, counts = len(y), np.bincount(y, minlength=2)
    assert weights == {k: n / (2 * counts[k]) for k in (0, 1)}  # the hand-written formula's


def test_class_weights_of_one_class_are_an_error() -> None:
    with pytest.raises(ValueError, match="both classes"):
        data.class_weights([1, 1, 1])


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_scan(real_data_dir: Path) -> data.Scan:
    return data.scan(real_data_dir, progress=False)


@pytest.mark.realdata
def test_real_data_counts_and_nothing_skipped(real_scan):
    assert real_scan.counts() == {
        "train": {"NORMAL": 1341, "PNEUMONIA": 3875},
        "val": {"NORMAL": 8, "PNEUMONIA": 8},
        "test": {"NORMAL": 234, "PNEUMONIA": 390},
    }
    assert real_scan.skipped == []


@pytest.mark.realdata
def test_real_data_split_keeps_patients_apart_and_the_class_ratio(real_scan):
    frame = data.make_splits(real_scan.frame)
    assert data.shared_patients(frame) == set()
    train, val = frame[frame.subset == "train"], frame[frame.subset == "val"]
    assert abs(normal_share(val) - normal_share(train)) <= 0.03
    assert 0.10 <= len(val) / (len(val) + len(train)) <= 0.20
    assert (frame.subset[frame.split == "test"] == "test").all()
    assert (frame.subset == "test").sum() == 624


def test_scan_images_reads_any_folder_labels_known_subfolders_and_reports_bad_files(tmp_path):
    from PIL import Image

    for name in ("NORMAL/a.jpeg", "PNEUMONIA/b.png", "loose.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("L", (20, 30), 90).save(tmp_path / name)
    (tmp_path / "NORMAL" / "cut.jpeg").write_bytes(
        (tmp_path / "NORMAL" / "a.jpeg").read_bytes()[:60]
    )
    (tmp_path / "notes.txt").write_text("not an x-ray")
    (tmp_path / ".DS_Store").write_bytes(b"junk")

    found = data.scan_images(tmp_path, progress=False)

    labels = dict(zip(found.frame.path.map(lambda p: Path(p).name), found.frame.label, strict=True))
    assert labels == {"a.jpeg": "NORMAL", "b.png": "PNEUMONIA", "loose.jpg": "unknown"}
    assert set(found.frame.split) == {"own"}
    assert found.ignored == [".DS_Store"]
    reasons = dict(found.skipped)
    assert reasons["notes.txt"].startswith("not an image file")
    assert "NORMAL/cut.jpeg" in reasons


def test_scan_images_without_a_usable_image_says_so_in_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(data.DataError, match="no usable image"):
        data.scan_images(tmp_path, progress=False)
