"""Whom the model answers for: the data card of its training images, and what an input says
about its patient.

The data card (:data:`SOURCE`): 5,856 chest X-rays (anterior–posterior) of pediatric patients
aged one to five years, from routine care at Guangzhou Women and Children's Medical Center
(Kermany et al. 2018, *Cell* 172(5):1122). The model has seen no adult, no infant under one
year and no other body part, so the input-quality gate (:mod:`xraylib.quality`) flags an image
whose patient lies outside that population:

* ``age``: the age, in years, is outside :data:`AGES`. The range is read as whole years of
  age, as the card states it: a child is "five" until the sixth birthday, so an age ``a`` is
  inside when ``1 <= a < 6`` (``018M`` = 1.5 years is inside, ``072M`` = 6 years and
  ``004W`` = 0.08 years are not).
* ``body_part``: a body part is named and it is not the chest (:data:`CHEST`).

Where the facts come from: a DICOM file's own tags (``PatientAge``, else ``StudyDate`` minus
``PatientBirthDate``; ``BodyPartExamined``; read by :func:`xraylib.dicom.read`), or, for PNG and
JPEG files, which carry no tags, an age the user states: ``xraylib predict --age YEARS`` for
the images given, or an ``ages.csv`` file (:data:`AGES_FILE`, columns ``file,age``) in a folder
read by :func:`xraylib.data.scan_images` (``xraylib check FOLDER``, notebook 07). A file's own
age wins over a stated one. A fact that is unknown is not checked, and :class:`Subject` says
why (``predict --json``: ``not_checked``).

>>> population.in_ages(3.0), population.in_ages(62.0)
(True, False)
>>> population.stated_years(" 4.5 "), population.stated_years("")
(4.5, None)
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from xraylib.errors import DataError

#: The data card the population below comes from.
SOURCE = (
    "Kermany et al. 2018: children aged one to five, Guangzhou Women and Children's Medical Center"
)
#: The training population's ages in years, ``(youngest, oldest)``: whole years of age, so
#: inside means ``AGES[0] <= age < AGES[1] + 1`` (see the module doc).
AGES = (1, 5)
#: ``BodyPartExamined`` values (upper case) that mean the chest.
CHEST = ("CHEST", "THORAX", "LUNG")
#: The file in a folder of PNG or JPEG images that states their patients' ages.
AGES_FILE = "ages.csv"
#: Why a PNG or JPEG file's facts are unknown until stated.
UNTAGGED = {
    "age": f"PNG and JPEG carry no age tag; state it (predict --age, or {AGES_FILE} in the folder)",
    "body_part": "PNG and JPEG carry no BodyPartExamined tag",
}


@dataclass(frozen=True)
class Subject:
    """What an image says, or its user states, about whom and what it shows.

    Attributes:
        age: the patient's age in years, ``None`` when unknown.
        age_from: where the age comes from, e.g. ``PatientAge 062Y`` or ``stated``.
        body_part: the DICOM ``BodyPartExamined`` as written, ``""`` when absent.
        not_checked: check code (``age``, ``body_part``) → why it could not run, one line;
            empty for an image whose facts are known (or not asked for, e.g. validation).
    """

    age: float | None = None
    age_from: str = ""
    body_part: str = ""
    not_checked: dict[str, str] = field(default_factory=dict)

    def with_stated_age(self, years: float | None, source: str = "stated") -> Subject:
        """This subject with a stated age where it has none of its own (the file's own age
        wins; ``None`` states nothing)."""
        if years is None or self.age is not None:
            return self
        rest = {code: why for code, why in self.not_checked.items() if code != "age"}
        return replace(self, age=float(years), age_from=source, not_checked=rest)


def in_ages(years: float) -> bool:
    """Whether an age in years lies inside the training population's :data:`AGES`."""
    return AGES[0] <= years < AGES[1] + 1


def stated_years(value: object) -> float | None:
    """An age stated by a user (a number of years ≥ 0, as text or a number); ``None`` for an
    empty value or NaN (unknown).

    Raises ``ValueError`` with a short reason for anything else (``"abc"``, ``-3``).
    """
    text = str(value).strip()
    if not text or text.lower() == "nan":
        return None
    try:
        years = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of years") from None
    if not math.isfinite(years) or years < 0:
        raise ValueError(f"{text!r} is not a number of years (0 or more)")
    return years


def read_ages(folder: str | Path) -> tuple[dict[str, float | None], list[tuple[str, str]]]:
    """The ages stated in ``folder/ages.csv`` (columns ``file``, the path relative to the
    folder as ``a.png`` or ``NORMAL/a.png``, and ``age`` in years; an empty cell means unknown).

    Returns ``{file: years or None}`` and ``(file, reason)`` for each bad value (the reason
    names the value; with the file in front it is a one-line error); both empty when there is
    no such file. Raises :class:`DataError` (one line) when the CSV lacks a ``file`` or ``age``
    column.

    Example::

        ages, bad = population.read_ages("my_xrays")
        bad
        # [('b.png', "ages.csv: age 'abc' is not a number of years")]
    """
    path = Path(folder).expanduser() / AGES_FILE
    if not path.is_file():
        return {}, []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = csv.DictReader(handle)
        if not {"file", "age"} <= set(rows.fieldnames or []):
            raise DataError(f"{path}: needs the columns file,age (has {rows.fieldnames})")
        ages, bad = {}, []
        for row in rows:
            name = Path(row["file"].strip()).as_posix()
            try:
                ages[name] = stated_years(row["age"] or "")
            except ValueError as err:
                bad.append((name, f"{AGES_FILE}: age {err}"))
    return ages, bad
