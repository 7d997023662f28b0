"""The phantom data set: real layout, real naming, real imbalance, opacities where the masks say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xraylib import data, synthetic


@pytest.fixture(scope="module")
def phantom_scan(phantom_root: Path) -> data.Scan:
    return data.scan(phantom_root, progress=False)


@pytest.fixture(scope="module")
def phantoms() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return synthetic.make_arrays(40, image_size=48, seed=0)


def test_phantoms_are_written_in_the_real_layout(phantom_root):
    for split in ("train", "val", "test"):
        for label in ("NORMAL", "PNEUMONIA"):
            files = list((phantom_root / split / label).iterdir())
            assert files and all(f.suffix == ".jpeg" for f in files)


def test_every_phantom_is_usable(phantom_root, phantom_scan):
    assert phantom_scan.root == phantom_root
    assert phantom_scan.skipped == []
    assert phantom_scan.ignored == []
    assert len(phantom_scan.frame) == len(list(phantom_root.rglob("*.jpeg")))


def test_phantom_counts_follow_the_real_imbalance(phantom_scan):
    counts = phantom_scan.counts()
    assert counts["train"]["NORMAL"] == 30
    assert counts["train"]["PNEUMONIA"] == 90  # about 3 × NORMAL, as in the real train split
    assert 1.3 <= counts["test"]["PNEUMONIA"] / counts["test"]["NORMAL"] <= 2.0
    assert counts["val"]["NORMAL"] >= 2 and counts["val"]["PNEUMONIA"] >= 2


def test_phantom_names_parse_to_patients_with_several_images(phantom_scan):
    frame = phantom_scan.frame
    names = frame.path.map(lambda p: Path(p).name)
    normal, pneumonia = frame.label == "NORMAL", frame.label == "PNEUMONIA"
    assert names[normal].str.match(r"^(NORMAL2-)?IM-\d{4}-\d{4}\.jpeg$").all()
    assert names[pneumonia].str.match(r"^person\d+_(bacteria|virus)_\d+\.jpeg$").all()
    assert names[normal].str.startswith("NORMAL2-").any()
    assert names[normal].str.startswith("IM-").any()
    assert set(frame.subtype[pneumonia]) == {"bacteria", "virus"}
    assert set(frame.subtype[normal]) == {"none"}
    images_per_patient = frame.groupby("patient_id").size()
    assert images_per_patient.max() > 1
    assert len(images_per_patient) < len(frame)
    # a patient belongs to one split and one label
    assert (frame.groupby("patient_id")[["split", "label"]].nunique() == 1).all().all()


def test_phantoms_are_grayscale_with_varied_non_square_sizes(phantom_scan):
    frame = phantom_scan.frame
    assert set(frame["mode"]) == {"L"}
    assert (frame.width != frame.height).any()
    assert frame.width.nunique() > 5 and frame.height.nunique() > 5


def test_make_synthetic_returns_its_root_and_is_fixed_by_the_seed(tmp_path):
    first = synthetic.make_synthetic(tmp_path / "a", per_class=5, seed=3)
    second = synthetic.make_synthetic(tmp_path / "b", per_class=5, seed=3)
    other = synthetic.make_synthetic(tmp_path / "c", per_class=5, seed=4)
    assert first == tmp_path / "a"

    def contents(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.jpeg")}

    assert contents(first) == contents(second)
    assert contents(first) != contents(other)


def test_make_arrays_shapes_and_types(phantoms):
    x, y, masks = phantoms
    assert x.shape == (40, 48, 48, 1) and x.dtype == np.uint8
    assert y.shape == (40,) and set(np.unique(y)) == {0, 1}
    assert masks.shape == (40, 48, 48) and masks.dtype == bool


def test_normal_phantoms_have_empty_masks(phantoms):
    _, y, masks = phantoms
    assert not masks[y == 0].any()


def test_pneumonia_masks_mark_the_brighter_opacity(phantoms):
    x, y, masks = phantoms
    for image, mask in zip(x[y == 1, ..., 0].astype(float), masks[y == 1], strict=True):
        assert 0.005 < mask.mean() < 0.2  # a blob, not nothing, not the whole chest
        inside, outside = image[mask].mean(), image[~mask].mean()
        assert inside > outside + 15
        assert inside > 100  # far brighter than a clear lung field (about 60)


def test_opacity_lies_inside_the_lungs(phantoms):
    _, y, masks = phantoms
    for mask in masks[y == 1]:
        rows, cols = np.nonzero(mask)
        size = mask.shape[0]
        centre_x, centre_y = cols.mean() / size, rows.mean() / size
        assert 0.1 < centre_x < 0.9 and 0.2 < centre_y < 0.8
        assert abs(centre_x - 0.5) > 0.1  # left or right lung, not the spine


def test_make_arrays_is_fixed_by_the_seed(phantoms):
    again = synthetic.make_arrays(40, image_size=48, seed=0)
    for a, b in zip(phantoms, again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = synthetic.make_arrays(40, image_size=48, seed=1)
    assert not np.array_equal(other[0], phantoms[0])


def test_pneumonia_share_of_make_arrays(phantoms):
    _, y_all_normal, _ = synthetic.make_arrays(10, image_size=16, pneumonia_share=0.0)
    _, y_all_sick, _ = synthetic.make_arrays(10, image_size=16, pneumonia_share=1.0)
    assert y_all_normal.sum() == 0 and y_all_sick.sum() == 10


def test_phantom_files_decode_like_the_arrays_look(phantom_scan):
    """A written phantom reads back as a chest: bright body, darker lungs, dark border."""
    path = phantom_scan.frame.path.iloc[0]
    with Image.open(path) as img:
        pixels = np.asarray(img, dtype=float)
    h, w = pixels.shape
    border = pixels[:, : w // 20].mean()
    lung = pixels[h // 2 - 3 : h // 2 + 3, int(w * 0.3) - 2 : int(w * 0.3) + 2].mean()
    body = pixels[int(h * 0.9) - 2 : int(h * 0.9) + 2, w // 2 - 12 : w // 2 - 8].mean()
    assert border < lung < body
