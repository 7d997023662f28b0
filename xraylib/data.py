"""Find, validate, split and cache the chest X-ray images, and feed them to Keras.

The data set comes in several layouts (Mendeley ``chest_xray/{train,test}``, the Kaggle copy's
``chest_xray/chest_xray/{train,val,test}``, or a plain ``{train,val,test}`` folder). :func:`scan`
finds the split folders in any of them and classifies every file below:

* a **usable** image: any mode PIL can open *and fully decode* (L, RGB, RGBA, P, LA, I;16,
  CMYK, …) with a ``.jpeg``/``.jpg``/``.png`` extension in any case, or a DICOM radiograph
  (``.dcm``, or no extension and the ``DICM`` preamble; read by :mod:`xraylib.dicom`);
* **ignored** junk, counted: ``.DS_Store``, ``Thumbs.db``, ``._*`` AppleDouble files,
  ``__MACOSX/``, ``.ipynb_checkpoints/``, and non-image files outside the split/class folders
  (``MANIFEST.csv``, a README);
* a **skipped** file, reported with its reason: empty, truncated, not an image, or an image
  file lying outside the ``train|val|test/NORMAL|PNEUMONIA`` folders (it has no label).

Images enter the models as grayscale ``uint8`` squares. Resizing squashes the whole image to
the square (the aspect ratio is *not* kept), as the classic notebooks and the redistributed
224×224 copies do, with Lanczos filtering; 16-bit images are scaled to 8 bits, never clipped,
by a bit depth *guessed from the image's maximum value* (≤255: 8-bit, ≤4095: 12-bit, else
16-bit); a DICOM file uses its own rescale, window and photometric tags instead
(:mod:`xraylib.dicom`). :func:`load_scan` decodes every image once and caches the arrays under
``data/cache/``, keyed by image size and a fingerprint of the file list, so later epochs and
later notebooks never decode a JPEG again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from xraylib import config, dicom, population
from xraylib.errors import DataError, ImageError
from xraylib.progress import bar

if TYPE_CHECKING:
    import tensorflow as tf

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}
JUNK_FOLDERS = {"__macosx", ".ipynb_checkpoints"}
FRAME_COLUMNS = ["path", "split", "label", "patient_id", "subtype", "width", "height", "mode"]
OUTSIDE = "outside the train|val|test/NORMAL|PNEUMONIA folders"
#: Two channels that differ by more than this many gray levels make a pixel coloured.
COLOUR_LEVELS = 24
_GRAY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


@dataclass
class Scan:
    """What :func:`scan` found under ``root``.

    Attributes:
        root: the folder that holds the split folders.
        frame: one row per usable image (columns ``FRAME_COLUMNS``; ``path`` is absolute).
        ignored: junk files, relative to ``root``.
        skipped: ``(relative path, reason)`` of every file that could not be used.
        images: ``(N, S, S, 1)`` uint8 array aligned with ``frame`` when an image size was
            asked for, else ``None``.
    """

    root: Path
    frame: pd.DataFrame
    ignored: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    images: np.ndarray | None = None

    def counts(self) -> dict[str, dict[str, int]]:
        """Usable images per split and label, e.g. ``{"train": {"NORMAL": 1341, ...}}``."""
        table = self.frame.groupby(["split", "label"]).size()
        return {
            s: {lab: int(n) for lab, n in table[s].items()}
            for s in SPLITS
            if s in table.index.get_level_values(0)
        }

    def to_json(self) -> dict:
        """The report as the ``scan --json`` command prints it."""
        return {
            "root": str(self.root),
            "counts": self.counts(),
            "ignored": len(self.ignored),
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


@dataclass
class Splits:
    """Training and validation arrays plus the metadata of every image.

    ``frame`` has one row per usable image of all splits with a ``subset`` column
    (``train``/``val``/``test``); the arrays hold only the train and validation subsets: the
    test images are read separately, once, by :func:`load_test`, from ``root`` (the data
    folder :func:`load_splits` read; ``None`` for hand-made splits, meaning
    ``data/chest_xray``).

    Example::

        splits = data.load_splits(profile.data_dir, image_size=96)
        splits.x_val.shape, splits.y_val.mean()
        splits.frame.groupby(["subset", "label"]).size()
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    frame: pd.DataFrame
    image_size: int
    root: Path | None = None

    def __repr__(self) -> str:
        return (
            f"Splits(train={len(self.y_train)} ({int(self.y_train.sum())} pneumonia), "
            f"val={len(self.y_val)} ({int(self.y_val.sum())} pneumonia), "
            f"image_size={self.image_size})"
        )


# --------------------------------------------------------------------------- names and ids

_PERSON = re.compile(r"^(person\d+)_(bacteria|virus)_", re.IGNORECASE)
_IM = re.compile(r"^((?:NORMAL\d+-)?IM-\d+)-", re.IGNORECASE)


def parse_patient(filename: str) -> tuple[str, str]:
    """Patient id and pneumonia subtype from a file name of the data set.

    >>> parse_patient("person1_bacteria_1.jpeg")
    ('person1', 'bacteria')
    >>> parse_patient("NORMAL2-IM-0927-0001.jpeg")
    ('NORMAL2-IM-0927', 'none')

    A name of no known pattern is its own patient (its stem), subtype ``"none"``.
    """
    name = Path(filename).name
    if m := _PERSON.match(name):
        return m.group(1), m.group(2).lower()
    if m := _IM.match(name):
        return m.group(1), "none"
    return Path(name).stem, "none"


def is_junk(relative: PurePath) -> bool:
    """Whether a path (relative to the data folder, or an archive entry) is system junk:
    ``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, ``._*`` AppleDouble files, or anything in or
    named ``__MACOSX`` or ``.ipynb_checkpoints``.

    >>> is_junk(PurePath("train/NORMAL/._IM-0001.jpeg")), is_junk(PurePath("train/x.jpeg"))
    (True, False)
    """
    name = relative.name
    return (
        name.lower() in JUNK_NAMES
        or name.startswith("._")
        or any(part.lower() in JUNK_FOLDERS for part in relative.parts)
    )


# --------------------------------------------------------------------------- locating the data


def split_root(paths: Iterable[PurePosixPath]) -> PurePosixPath | None:
    """The shallowest folder with both a ``train`` and a ``test`` entry (any case), given
    relative paths of files or folders (a zip archive's entries, a folder's listing);
    ``PurePosixPath(".")`` is the top itself, ``None`` when there is no such folder.

    >>> split_root(map(PurePosixPath, ["x/chest_xray/train/a.png", "x/chest_xray/test/b.png"]))
    PurePosixPath('x/chest_xray')
    """
    children: dict[PurePosixPath, set[str]] = defaultdict(set)
    for path in paths:
        for folder in (path, *path.parents[:-1]):
            children[folder.parent].add(folder.name.lower())
    roots = [folder for folder, names in children.items() if {"train", "test"} <= names]
    return min(roots, key=lambda folder: (len(folder.parts), str(folder)), default=None)


def find_root(root: str | Path) -> Path:
    """The folder under ``root`` (itself or a descendant, at most three levels down) that
    holds ``train`` and ``test`` (:func:`split_root` of its folders).

    Raises :class:`DataError` when ``root`` does not exist or holds no such folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"no such folder: {root}")
    folders = []
    for folder, dirs, _ in os.walk(root):
        relative = PurePosixPath(Path(folder).relative_to(root).as_posix())
        dirs[:] = sorted(d for d in dirs if d.lower() not in JUNK_FOLDERS)
        folders += [relative / d for d in dirs]
        if len(relative.parts) >= 3:
            dirs.clear()
    found = split_root(folders)
    if found is None:
        raise DataError(
            f"{root} has no train/ and test/ folders (expected e.g. chest_xray/train/"
            f"NORMAL/*.jpeg); get the data with `python -m xraylib download`"
        )
    return root / found


def _list_files(root: Path) -> list[Path]:
    """Every file below ``root``, sorted, as paths relative to it."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(folder).relative_to(root)
        found += [base / f for f in sorted(files)]
    return found


def _classify(relative: Path) -> tuple[str, str] | None:
    """``(split, label)`` of a file inside a split/class folder, else ``None``."""
    parts = [p.lower() for p in relative.parts]
    if len(parts) < 3 or parts[0] not in SPLITS or parts[1].upper() not in config.CLASS_NAMES:
        return None
    return parts[0], parts[1].upper()


# --------------------------------------------------------------------------- decoding


def _to_gray(img: Image.Image) -> Image.Image:
    """Any PIL mode → mode ``L``. Integer and float images (16/32-bit) are scaled by a bit
    depth guessed from their maximum value: 255, 4095 (12-bit) or 65535; never clipped."""
    if img.mode.startswith("I") or img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max(initial=0.0)
        depth = 255.0 if top <= 255 else 4095.0 if top <= 4095 else 65535.0
        return Image.fromarray(np.clip(arr / depth * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("L")


@dataclass(frozen=True)
class Prepared:
    """One image as the model takes it, with the facts about the original that the input
    quality gate (:mod:`xraylib.quality`) judges.

    Attributes:
        pixels: ``(S, S, 1)`` uint8 grayscale, resized as for training.
        width, height: the original size in pixels.
        mode: the PIL mode (``L``, ``RGB``, …) or ``DICOM <photometric interpretation>``.
        colour: share of the original's pixels whose colour channels differ by more than
            :data:`COLOUR_LEVELS` gray levels (0 for a grayscale image, even one stored as RGB).
        view_position: the DICOM View Position (``PA``, ``AP``, ``LL``…); ``""`` when unknown.
        subject: the patient's age and the body part (:class:`xraylib.population.Subject`),
            from a DICOM file's tags; unknown, with the reason, for PNG and JPEG.
    """

    pixels: np.ndarray
    width: int
    height: int
    mode: str
    colour: float = 0.0
    view_position: str = ""
    subject: population.Subject = field(default_factory=population.Subject)


def colour_share(rgb: np.ndarray) -> float:
    """Share of the pixels of an ``(H, W, 3)`` image whose channels differ by more than
    :data:`COLOUR_LEVELS` gray levels: 0 for a gray picture stored as RGB."""
    rgb = np.asarray(rgb, dtype=np.int16)
    return float((rgb.max(axis=-1) - rgb.min(axis=-1) > COLOUR_LEVELS).mean())


def prepare(
    image: np.ndarray,
    image_size: int,
    mode: str = "",
    view_position: str = "",
    subject: population.Subject | None = None,
) -> Prepared:
    """An in-memory image — ``(H, W)`` or ``(H, W, 1)`` gray, or ``(H, W, 3)`` RGB, uint8 —
    prepared exactly as an image file is (grayscale, resized with Lanczos to the square).

    >>> item = data.prepare(np.zeros((300, 200), np.uint8), image_size=96)
    >>> item.pixels.shape, (item.width, item.height)
    ((96, 96, 1), (200, 300))
    """
    array = np.asarray(image, dtype=np.uint8)
    array = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
    colour = colour_share(array) if array.ndim == 3 else 0.0
    picture = Image.fromarray(array)
    return Prepared(
        _resized(picture, image_size),
        picture.width,
        picture.height,
        mode or picture.mode,
        colour,
        view_position,
        subject or population.Subject(),
    )


def _resized(img: Image.Image, image_size: int) -> np.ndarray:
    """``img`` in grayscale, squashed to ``(S, S, 1)`` uint8 with Lanczos filtering."""
    gray = _to_gray(img).resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.uint8)[..., None]


def _decode(path: Path, image_size: int | None) -> tuple[int, int, str, np.ndarray | None]:
    """Fully decode one file; return its original width, height, mode and, if asked, the
    ``(S, S, 1)`` uint8 array. Raises :class:`ImageError` with the reason."""
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    if dicom.is_dicom(path):
        picture = dicom.read(path)
        height, width = picture.pixels.shape[:2]
        array = prepare(picture.pixels, image_size).pixels if image_size else None
        return width, height, f"DICOM {picture.photometric}", array
    try:
        with Image.open(path) as img:
            width, height, mode = img.width, img.height, img.mode
            if img.format == "JPEG":
                img.draft("L", (image_size or 256, image_size or 256))
            img.load()
            if image_size is None:
                return width, height, mode, None
            return width, height, mode, _resized(img, image_size)
    except UnidentifiedImageError:
        raise ImageError(path, "not an image PIL can read") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(path, f"truncated or corrupt image ({err})") from None


def read_image(path: str | Path, image_size: int) -> np.ndarray:
    """One image file (JPEG, PNG or DICOM) as a ``(S, S, 1)`` uint8 grayscale array, prepared
    as for training.

    Raises :class:`ImageError` (one line: which file, why) for a missing or bad file.

    Example::

        x = data.read_image("my_xray.png", image_size=96)
        x.shape, x.dtype
        # ((96, 96, 1), dtype('uint8'))
    """
    return inspect_image(path, image_size).pixels


def inspect_image(path: str | Path, image_size: int) -> Prepared:
    """One image file prepared as :func:`read_image` does, with the facts about the original
    that the quality gate judges: size, mode, colour, DICOM view position, and the patient's
    age and the body part from a DICOM file's tags (unknown for PNG and JPEG).

    Raises :class:`ImageError` (one line: which file, why) for a missing or bad file.

    Example::

        item = data.inspect_image("chest.dcm", image_size=96)
        item.width, item.height, item.view_position
        # (2048, 2500, 'PA')
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(path, "no such file")
    if path.stat().st_size and dicom.is_dicom(path):
        picture = dicom.read(path)
        return prepare(
            picture.pixels,
            image_size,
            f"DICOM {picture.photometric}",
            picture.view_position,
            picture.subject,
        )
    width, height, mode, pixels = _decode(path, image_size)
    assert pixels is not None
    colour = 0.0 if mode in _GRAY_MODES else _colour_of_file(path)
    untagged = population.Subject(not_checked=dict(population.UNTAGGED))
    return Prepared(pixels, width, height, mode, colour, subject=untagged)


def _colour_of_file(path: Path) -> float:
    """:func:`colour_share` of an image file in a colour mode (decoded at most ~512 px)."""
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (512, 512))
        rgb = img.convert("RGBA") if img.mode in ("RGBA", "LA", "PA", "P") else img
        if rgb.mode == "RGBA":
            rgb = Image.alpha_composite(Image.new("RGBA", rgb.size, (0, 0, 0, 255)), rgb)
        return colour_share(np.asarray(rgb.convert("RGB")))


# --------------------------------------------------------------------------- scanning


def scan(
    root: str | Path, image_size: int | None = None, progress: bool = True, workers: int = 2
) -> Scan:
    """Classify every file under ``root`` and fully decode every candidate image.

    Args:
        root: the data folder in any supported layout.
        image_size: also return the images resized to this square size (see module doc).
        progress: show a tqdm bar.
        workers: decoding threads (PIL releases the GIL while decoding).

    Raises:
        DataError: no such folder, no train/test, or a class with no usable image.

    Example::

        found = data.scan("data/chest_xray", progress=False)
        found.counts()["test"]
        # {'NORMAL': 234, 'PNEUMONIA': 390}
    """
    root = find_root(root)
    files = _list_files(root)
    ignored, candidates, skipped = [], [], []
    for rel in files:
        where = _classify(rel)
        is_image = _is_candidate(root / rel)
        if is_junk(rel) or (where is None and not is_image):
            ignored.append(rel.as_posix())
        elif where is None:
            skipped.append((rel.as_posix(), OUTSIDE))
        elif not is_image:
            skipped.append((rel.as_posix(), _not_an_image(rel)))
        else:
            candidates.append((rel, *where))
    found = _decode_all(root, candidates, ignored, skipped, image_size, progress, workers)
    _check_usable(root, found.frame)
    return found


def _is_candidate(path: Path) -> bool:
    """Whether ``path`` should be decoded: an image extension, or a DICOM file."""
    return path.suffix.lower() in IMAGE_SUFFIXES or dicom.is_dicom(path)


def _not_an_image(rel: Path) -> str:
    return f"not an image file ({rel.suffix or 'no extension'})"


def _decode_all(
    root: Path,
    candidates: list[tuple[Path, str, str]],
    ignored: list[str],
    skipped: list[tuple[str, str]],
    image_size: int | None,
    progress: bool,
    workers: int = 2,
) -> Scan:
    """Decode every ``(relative path, split, label)`` candidate in threads; bad files join
    ``skipped`` with their reason, good ones become rows (and arrays, given ``image_size``)."""

    def inspect(item: tuple[Path, str, str]):
        try:
            return _decode(root / item[0], image_size)
        except ImageError as err:
            return err.reason

    with ThreadPoolExecutor(max(1, workers)) as pool:
        decoded = pool.map(inspect, candidates)
        if progress:
            decoded = bar(decoded, total=len(candidates), desc=f"scan {root.name}", unit="img")
        results = list(decoded)
    rows, arrays = [], []
    for (rel, split, label), result in zip(candidates, results, strict=True):
        if isinstance(result, str):
            skipped.append((rel.as_posix(), result))
            continue
        width, height, mode, array = result
        patient, subtype = parse_patient(rel.name)
        rows.append((str(root / rel), split, label, patient, subtype, width, height, mode))
        arrays.append(array)
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    images = np.stack(arrays) if image_size and arrays else None
    return Scan(root, frame, ignored, sorted(skipped), images)


def scan_images(folder: str | Path, progress: bool = True) -> Scan:
    """Classify every file under any folder of X-rays, e.g. your own, without a split layout.

    Same rules as :func:`scan` (junk ignored, bad files skipped with their reason); ``split``
    is ``"own"``, and ``label`` is the parent folder's name when it is NORMAL or PNEUMONIA (a
    labelled sample), else ``"unknown"``. Raises :class:`DataError` when ``folder`` does not
    exist or holds no usable image.

    The ages an ``ages.csv`` in ``folder`` states (:func:`xraylib.population.read_ages`) are the
    frame's ``age`` column, in years (NaN: unknown), for the gate's age check
    (``predict.predict_images(..., ages=own.frame.age)``); an image whose age is not a number
    is skipped with the value in its reason.

    Example::

        own = data.scan_images("~/my_xrays", progress=False)
        own.frame[["path", "label", "age"]], own.skipped
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"no such folder: {root}")
    ages, bad_ages = population.read_ages(root)
    bad = dict(bad_ages)
    ignored, skipped, candidates = [], [], []
    for rel in _list_files(root):
        parent = rel.parent.name.upper()
        if rel.as_posix() == population.AGES_FILE:
            continue  # the folder's statement of ages, read above
        if rel.as_posix() in bad:
            skipped.append((rel.as_posix(), bad[rel.as_posix()]))
        elif is_junk(rel):
            ignored.append(rel.as_posix())
        elif not _is_candidate(root / rel):
            skipped.append((rel.as_posix(), _not_an_image(rel)))
        else:
            candidates.append((rel, "own", parent if parent in config.CLASS_NAMES else "unknown"))
    found = _decode_all(root, candidates, ignored, skipped, None, progress)
    if found.frame.empty:
        raise DataError(f"{root}: no usable image (.jpeg, .jpg, .png or DICOM)")
    relative = [Path(path).relative_to(root).as_posix() for path in found.frame.path]
    found.frame["age"] = np.array([ages.get(rel) for rel in relative], dtype=float)
    return found


def _check_usable(root: Path, frame: pd.DataFrame) -> None:
    """Raise :class:`DataError` unless train and test each have both classes."""
    for split in ("train", "test"):
        for label in config.CLASS_NAMES:
            if not ((frame.split == split) & (frame.label == label)).any():
                named = [
                    p
                    for p in root.glob("*/*")
                    if p.is_dir() and p.parent.name.lower() == split and p.name.upper() == label
                ]
                raise DataError(
                    f"{named[0] if named else root / split / label}: no usable image "
                    f"(missing folder or every file skipped)"
                )


# --------------------------------------------------------------------------- cache


def _fingerprint(root: Path, image_size: int) -> str:
    """A hash of every file's relative path, size and modification time, and the size."""
    digest = hashlib.sha1(f"v1 {image_size}".encode())
    for rel in _list_files(root):
        stat = (root / rel).stat()
        digest.update(f"{rel.as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def load_scan(
    root: str | Path = config.DEFAULT_IMAGES_DIR,
    image_size: int = config.DEFAULT_PROFILE.image_size,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> Scan:
    """:func:`scan` with images, cached: the first call decodes, later calls read one file.

    Args:
        root: data folder (default ``data/chest_xray``; a notebook passes ``profile.data_dir``).
        image_size: square size (default 96, the full profile's).
        cache_dir: where cache files live (default ``data/cache``).

    The cache file is ``xray_{size}px_{fingerprint}.npz``; adding, removing or changing any
    file changes the fingerprint and rebuilds it. It is written under a temporary name unique
    to the process, then renamed, so concurrent runs never read a half-written cache.

    Example::

        found = data.load_scan(profile.data_dir, image_size=96, progress=False)
        found.images.shape[1:]
        # (96, 96, 1)
    """
    root = find_root(root)
    cache_dir = Path(cache_dir or config.CACHE_DIR)
    cache = cache_dir / f"xray_{image_size}px_{_fingerprint(root, image_size)}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            frame = pd.DataFrame(meta["frame"], columns=FRAME_COLUMNS)
            frame["path"] = [str(root / p) for p in frame.path]
            return Scan(
                root, frame, meta["ignored"], [tuple(s) for s in meta["skipped"]], stored["images"]
            )
    result = scan(root, image_size, progress=progress)
    assert result.images is not None
    stored_frame = result.frame.assign(
        path=[Path(p).relative_to(root).as_posix() for p in result.frame.path]
    )
    meta = {
        "frame": stored_frame.to_dict("list"),
        "ignored": result.ignored,
        "skipped": result.skipped,
    }
    with config.atomic_path(cache) as partial:
        np.savez(partial, images=result.images, meta=np.array(json.dumps(meta)))
    return result


# --------------------------------------------------------------------------- splits


def subsample(frame: pd.DataFrame, per_class: int, seed: int) -> pd.Index:
    """Index of about ``per_class`` images per split and label, drawn by whole patients."""
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for _, group in frame.groupby(["split", "label"], sort=True):
        patients = np.asarray(group.patient_id.unique(), dtype=object)
        rng.shuffle(patients)
        sizes = group.groupby("patient_id").size()
        taken = patients[: int(np.searchsorted(sizes[patients].cumsum().to_numpy(), per_class)) + 1]
        keep += group.index[group.patient_id.isin(taken)].tolist()
    return pd.Index(sorted(keep))


def make_splits(
    frame: pd.DataFrame, val_fraction: float = 0.15, seed: int = config.DEFAULT_SEED
) -> pd.DataFrame:
    """Add a ``subset`` column: a patient-grouped, label-stratified validation split.

    Train and the official val folder are pooled and split into ``round(1 / val_fraction)``
    patient-grouped, stratified folds (7 for the default, so about one seventh, 14%, of the
    images); the first fold, with about the same class ratio, goes to validation and **no
    patient is on both sides**. The official test set stays the test set. Fixed by ``seed``
    (default 42).

    Example::

        splits = make_splits(scan("data/chest_xray").frame, seed=42)
    """
    from sklearn.model_selection import StratifiedGroupKFold

    frame = frame.copy()
    frame["subset"] = np.where(frame.split == "test", "test", "train")
    pool = frame.index[frame.subset == "train"]
    # a tiny data set cannot have more folds than its larger class has patients
    patients = frame.loc[pool].groupby("label").patient_id.nunique().max()
    folds = StratifiedGroupKFold(
        n_splits=max(2, min(round(1 / val_fraction), patients)), shuffle=True, random_state=seed
    )
    _, val_rows = next(folds.split(pool, frame.loc[pool, "label"], frame.loc[pool, "patient_id"]))
    frame.loc[pool[val_rows], "subset"] = "val"
    return frame


def shared_patients(frame: pd.DataFrame, a: str = "train", b: str = "val") -> set[str]:
    """Patient ids present in both subsets ``a`` and ``b`` (should be empty).

    Example::

        data.shared_patients(splits.frame, "train", "val")
        # set()
    """
    ids = frame.groupby("subset").patient_id.agg(set)
    return ids.get(a, set()) & ids.get(b, set())


def labels(frame: pd.DataFrame) -> np.ndarray:
    """0/1 labels (1 = PNEUMONIA) of the rows of ``frame``."""
    return (frame.label == "PNEUMONIA").to_numpy(dtype=np.int64)


def load_splits(
    root: str | Path | None = None,
    profile: config.Profile = config.DEFAULT_PROFILE,
    seed: int | None = None,
    progress: bool = True,
    image_size: int | None = None,
) -> Splits:
    """Everything a training notebook needs: cached images split into train and validation.

    Args:
        root: data folder (default ``profile.data_dir``).
        profile: the run's settings (default :data:`xraylib.config.DEFAULT_PROFILE`: the full
            profile, seed 42, ``data/chest_xray``): its image size, its per-class subsample
            (``smoke``), its seed and its data folder, unless given here.
        seed: seed of the subsample and the split (default ``profile.seed``).
        progress: show a progress bar while images are decoded the first time.
        image_size: square size (default ``profile.image_size``).

    The validation split depends on the seed only, never on the image size.

    Example::

        profile = xraylib.setup()
        splits = data.load_splits(profile=profile)
        splits.x_train.shape[1:]
        # (96, 96, 1)
    """
    seed = profile.seed if seed is None else seed
    image_size = image_size or profile.image_size
    found = load_scan(root or profile.data_dir, image_size, progress=progress)
    frame = found.frame
    if profile.per_class:
        frame = frame.loc[subsample(frame, profile.per_class, seed)]
    frame = make_splits(frame, seed=seed)
    train, val = (frame.index[frame.subset == s] for s in ("train", "val"))
    assert found.images is not None
    return Splits(
        found.images[train],
        labels(frame.loc[train]),
        found.images[val],
        labels(frame.loc[val]),
        frame,
        image_size,
        found.root,
    )


def load_test(
    splits: Splits, root: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The official test images, labels and metadata for the subset chosen in ``splits``.

    Reads from ``root``, by default the folder ``splits`` was loaded from. Raises
    :class:`DataError` when the images found there are not the ones ``splits`` chose (the
    folder changed since, or another folder). Only the final evaluation notebook calls this,
    once.
    """
    found = load_scan(
        root or splits.root or config.DEFAULT_IMAGES_DIR, splits.image_size, progress=False
    )
    test = splits.frame[splits.frame.subset == "test"]
    assert found.images is not None
    reloaded = found.frame.path.reindex(test.index)
    if reloaded.isna().any() or list(map(os.path.abspath, reloaded)) != list(
        map(os.path.abspath, test.path)
    ):
        raise DataError(
            f"{found.root}: the test images there are not those the splits chose "
            "(the folder changed?): run load_splits() again"
        )
    return found.images[test.index], labels(test), test


# --------------------------------------------------------------------------- tf.data


def class_weights(y: Iterable[int]) -> dict[int, float]:
    """'Balanced' class weights ``n / (2 · n_class)`` (scikit-learn's
    ``compute_class_weight("balanced")``), as the dict Keras' ``class_weight`` takes.

    Labels of one class only raise ``ValueError``: there is nothing to balance.

    >>> class_weights([0, 1, 1, 1])
    {0: 2.0, 1: 0.6666666666666666}
    """
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(list(y) if not isinstance(y, np.ndarray) else y)
    if np.unique(y).size < 2:
        raise ValueError("class weights need labels of both classes")
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=y)
    return {0: float(weights[0]), 1: float(weights[1])}


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = False,
    seed: int = config.DEFAULT_SEED,
) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data.Dataset`` of ``(uint8 images, float32 labels)``.

    With ``shuffle`` the order changes every epoch, reproducibly for a given ``seed`` (42).
    Images stay uint8: the model's Rescaling layer scales them.

    Example::

        val_set = data.make_dataset(splits.x_val, splits.y_val, batch_size=32)
        images, labels = next(iter(val_set))
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, np.asarray(y, dtype=np.float32)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
