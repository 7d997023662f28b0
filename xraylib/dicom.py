"""Read a DICOM radiograph as the 8-bit grayscale picture the model was trained on, or refuse it.

DICOM is what hospital archives export. pydicom (a core dependency, with the pylibjpeg plugins
for the JPEG, JPEG-LS lossless and JPEG 2000 transfer syntaxes; uncompressed and RLE need no
plugin) decodes the pixels; :func:`read` then applies, in the order the standard gives:

1. the **modality LUT**: rescale slope and intercept, or a modality LUT sequence
   (``pydicom.pixels.apply_modality_lut``);
2. the **VOI LUT**: a VOI LUT sequence, or window centre and width
   (``pydicom.pixels.apply_voi_lut``);
3. the mapping to 0–255: the whole output range of those two steps (found by pushing the
   lowest and highest storable values through them) becomes 0–255, so the window the
   radiographer chose is kept. Without a window, 8-bit pixels stay as they are and deeper
   ones (12/16-bit) are stretched from the image's minimum to its maximum;
4. **MONOCHROME1** (white = low values) is inverted to MONOCHROME2, as is a Presentation LUT
   Shape ``INVERSE``.

Refused with one line (:class:`~xraylib.errors.ImageError`): files without pixel data,
multi-frame images, modalities that are not plain radiographs (accepted: CR, DX, DR, RG or no
modality), palette-colour images, and compressed pixels whose decoder plugin is not installed.
An RGB or YBR file is decoded in colour, for the quality gate to flag. A DICOM file is found
by its ``.dcm``/``.dicom`` extension or, without one, by the ``DICM`` marker at byte 128.

The tags that say whom the image shows are read too (:class:`~xraylib.population.Subject`), for
the gate's population checks: the age from ``PatientAge`` (``nnnD``, ``nnnW``, ``nnnM`` or
``nnnY``: days, weeks, months or years, in years as a float; a year is 365.25 days, a month a
twelfth of a year), else from ``StudyDate`` minus ``PatientBirthDate``; and
``BodyPartExamined``. A missing or unreadable tag leaves its fact unknown, with the reason.

Example::

    picture = dicom.read("chest.dcm")
    picture.pixels.dtype, picture.view_position
    # (dtype('uint8'), 'PA')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np

from xraylib.errors import ImageError, first_line
from xraylib.population import Subject

SUFFIXES = (".dcm", ".dicom")
#: Modalities of projection radiographs: computed, digital, digital (legacy) and general.
RADIOGRAPHS = ("CR", "DX", "DR", "RG")
_PREAMBLE = 128
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")
#: A DICOM Age String (VR AS): three digits and a unit.
_AGE = re.compile(r"(\d{1,3})([DWMY])")
#: Years per unit of an Age String.
AGE_UNITS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


@dataclass(frozen=True)
class Picture:
    """A decoded DICOM image.

    Attributes:
        pixels: ``(rows, columns)`` uint8 grayscale, or ``(rows, columns, 3)`` uint8 RGB for a
            colour file (the caller decides what to do with colour).
        photometric: the file's Photometric Interpretation (``MONOCHROME1``, ``RGB``, …).
        view_position: the View Position tag (``PA``, ``AP``, ``LL``, …), ``""`` when absent.
        modality: the Modality tag, ``""`` when absent.
        subject: the patient's age and the body part, from the tags (see the module doc).
    """

    pixels: np.ndarray
    photometric: str
    view_position: str
    modality: str
    subject: Subject = field(default_factory=Subject)


def is_dicom(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM file: a ``.dcm``/``.dicom`` extension, or ``DICM`` at byte
    128 (the Part 10 preamble) of a file of any name."""
    path = Path(path)
    if path.suffix.lower() in SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(_PREAMBLE)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read(path: str | Path) -> Picture:
    """Decode the DICOM file at ``path`` into 8-bit display values (see the module doc).

    Raises :class:`ImageError` (one line: which file, why) for a file that is not DICOM, has
    no pixel data, holds several frames, comes from a modality that is not a radiograph, or
    needs a decoder plugin that is not installed.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as err:
        raise ImageError(path, f"not a readable DICOM file ({first_line(err)})") from None
    modality = str(ds.get("Modality", "") or "").upper()
    if modality and modality not in RADIOGRAPHS:
        raise ImageError(
            path,
            f"DICOM modality {modality} is not a radiograph (accepted: {', '.join(RADIOGRAPHS)})",
        )
    if "PixelData" not in ds:
        raise ImageError(path, "DICOM file without pixel data (a report or structured data?)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageError(path, f"multi-frame DICOM ({frames} frames); export one image per file")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        raise ImageError(path, "palette-colour DICOM, not a radiograph")
    raw = _pixel_array(ds, path)
    view = str(ds.get("ViewPosition", "") or "").upper()
    if photometric in _COLOUR or raw.ndim == 3:
        pixels = np.asarray(raw, dtype=np.uint8)
    else:
        pixels = _to_display(raw, ds, photometric)
    return Picture(pixels, photometric, view, modality, subject(ds))


def age_years(text: str) -> float:
    """An Age String (``062Y``, ``018M``, ``004W``, ``010D``) in years.

    Raises ``ValueError`` for anything else.

    >>> dicom.age_years("018M"), dicom.age_years("062Y")
    (1.5, 62.0)
    """
    found = _AGE.fullmatch(text.strip().upper())
    if found is None:
        raise ValueError(f"PatientAge {text!r} is not a DICOM age (nnnD, nnnW, nnnM or nnnY)")
    return int(found.group(1)) * AGE_UNITS[found.group(2)]


def subject(ds) -> Subject:
    """Whom a dataset's image shows: the age (``PatientAge``, else ``StudyDate`` minus
    ``PatientBirthDate``) and ``BodyPartExamined``, each with why it is unknown when it is."""
    unknown = {}
    age, age_from, why = None, "", []
    text = str(ds.get("PatientAge", "") or "").strip()
    if text:
        try:
            age, age_from = age_years(text), f"PatientAge {text}"
        except ValueError as err:
            why.append(str(err))
    else:
        why.append("no PatientAge tag")
    if age is None:
        birth = str(ds.get("PatientBirthDate", "") or "").strip()
        study = str(ds.get("StudyDate", "") or "").strip()
        if birth and study:
            try:
                age = _years_between(_date(birth), _date(study))
                age_from = f"StudyDate {study} minus PatientBirthDate {birth}"
            except ValueError as err:
                why.append(str(err))
        else:
            dates = {"PatientBirthDate": birth, "StudyDate": study}
            why.append(" and ".join(f"no {name}" for name, value in dates.items() if not value))
    if age is None:
        unknown["age"] = "; ".join(why)
    part = str(ds.get("BodyPartExamined", "") or "").strip()
    if not part:
        unknown["body_part"] = "no BodyPartExamined tag"
    return Subject(age, age_from, part, unknown)


def _date(text: str) -> date:
    """A DICOM Date (``YYYYMMDD``); ``ValueError`` otherwise."""
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"{text!r} is not a DICOM date (YYYYMMDD)") from None


def _years_between(birth: date, study: date) -> float:
    """Years from ``birth`` to ``study``; ``ValueError`` when the study comes first."""
    if study < birth:
        raise ValueError(f"StudyDate {study:%Y%m%d} is before PatientBirthDate {birth:%Y%m%d}")
    return (study - birth).days / 365.25


def _pixel_array(ds, path: Path) -> np.ndarray:
    """The stored pixel values, or :class:`ImageError` naming the missing decoder."""
    syntax = ds.file_meta.get("TransferSyntaxUID")
    name = getattr(syntax, "name", str(syntax))
    try:
        return ds.pixel_array
    except (NotImplementedError, RuntimeError):
        raise ImageError(
            path,
            f"no decoder installed for DICOM {name} "
            "(pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg)",
        ) from None
    except (ValueError, AttributeError, KeyError) as err:
        raise ImageError(path, f"DICOM pixel data unreadable ({first_line(err)})") from None


def _to_display(raw: np.ndarray, ds, photometric: str) -> np.ndarray:
    """Modality LUT, VOI LUT or window, 0–255 mapping and MONOCHROME1 inversion (module doc)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    bits = int(ds.get("BitsStored", 8) or 8)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    storable = np.array([-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] if signed else [0, 2**bits - 1])
    values = apply_modality_lut(raw, ds).astype(np.float64)
    has_voi = "VOILUTSequence" in ds or "WindowCenter" in ds
    if has_voi:
        values = apply_voi_lut(values, ds).astype(np.float64)
        low, high = apply_voi_lut(apply_modality_lut(storable, ds).astype(np.float64), ds)
    elif bits <= 8:
        low, high = apply_modality_lut(storable, ds)
    else:
        low, high = values.min(), values.max()
    span = float(high) - float(low)
    gray = (values - float(low)) / span * 255.0 if span > 0 else np.zeros_like(values)
    # one inversion either way: the DX module requires Presentation LUT Shape INVERSE *with*
    # MONOCHROME1 (both say "low values are bright"); INVERSE alone asks for it too
    inverse = str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE"
    if photometric == "MONOCHROME1" or inverse:
        gray = 255.0 - gray
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def write(
    path: str | Path,
    pixels: np.ndarray,
    monochrome1: bool = False,
    bits: int = 8,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] = (1.0, 0.0),
    compression: str | None = None,
    modality: str = "DX",
    view_position: str = "PA",
    frames: int = 1,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write ``pixels`` (``(rows, columns)`` stored values, ``uint8`` or ``uint16``) as a minimal
    DICOM radiograph, for tests and demonstrations of :func:`read`.

    Args:
        path: where to write (any name; DICOM is recognised by content).
        pixels: the stored values, already inverted for ``monochrome1``.
        monochrome1: tag the file MONOCHROME1 (white = low values).
        bits: Bits Stored (8, 12 or 16; Bits Allocated is 8 or 16 to match).
        window: ``(centre, width)`` of a VOI window, in rescaled units.
        rescale: ``(slope, intercept)`` of the modality rescale.
        compression: ``None`` (uncompressed), ``"rle"`` (RLE Lossless, pydicom's own encoder)
            or ``"jpeg2000"`` (JPEG 2000 Lossless, the pylibjpeg-openjpeg plugin).
        modality, view_position: the Modality and View Position tags.
        frames: Number of Frames (more than one repeats ``pixels``).
        tags: more tags by keyword, e.g. ``{"PatientAge": "062Y", "BodyPartExamined": "CHEST"}``.

    Example::

        dicom.write("/tmp/chest.dcm", image, monochrome1=True)
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.pixels import set_pixel_data
    from pydicom.uid import (
        JPEG2000Lossless,
        RLELossless,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.ViewPosition = modality, view_position
    stored = np.asarray(pixels, dtype=np.uint8 if bits <= 8 else np.uint16)
    if frames > 1:
        stored = np.stack([stored] * frames)
        ds.NumberOfFrames = frames
    photometric = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    set_pixel_data(ds, stored, photometric, bits, generate_instance_uid=False)
    ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    for keyword, value in (tags or {}).items():
        setattr(ds, keyword, value)
    if compression is not None:
        syntax = {"rle": RLELossless, "jpeg2000": JPEG2000Lossless}[compression]
        ds.compress(syntax, generate_instance_uid=False)
    path = Path(path)
    ds.save_as(path, enforce_file_format=True)
    return path
