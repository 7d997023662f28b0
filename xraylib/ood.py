"""The declared out-of-distribution set that measures the input-quality gate.

Things nobody trained on, made from **validation** images only (the official test set stays
out) and from three colour photographs that ship with scikit-learn and matplotlib, so the
measurement needs no download. Each kind is fixed here, before any number is seen:

* ``negative``: the validation X-ray inverted (what a MONOCHROME1 file read naively gives);
* ``thumbnail``: the X-ray shrunk to a short side of 8 px to half the model's input;
* ``colour``: half crops of the colour photographs, half X-rays drawn with a colour map
  (a screenshot of a viewer);
* ``rotated``: the X-ray turned by 90° (either way);
* ``cropped``: a heavy crop — 30–45% of each side at a random place — enlarged to full size;
* ``blank``: a uniform gray level, half of them with faint noise (standard deviation 2).

:func:`measure` reports, per kind, the share of images the gate flags and the share flagged
by each check; for the validation images themselves that share is the false-flag rate, with
out-of-fold distances for the out-of-distribution check (:func:`xraylib.quality.fit_gate`).

Example::

    kinds = ood.make_set(val_paths, image_size=128)
    table = ood.measure(gate, model, kinds, splits.x_val)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from PIL import Image

from xraylib import config, data, quality

KINDS = ("negative", "thumbnail", "colour", "rotated", "cropped", "blank")
#: Detection targets per kind (share flagged); for validation, the most that may be flagged.
FLAG_TARGETS = {
    "validation": 0.02,
    "negative": 0.95,
    "thumbnail": 1.0,
    "colour": 1.0,
    "blank": 1.0,
}
COLOUR_MAPS = ("viridis", "jet", "plasma")


def colour_photos() -> list[np.ndarray]:
    """Three colour photographs shipped with scikit-learn (a temple, a flower) and matplotlib
    (Grace Hopper), as ``(H, W, 3)`` uint8 arrays."""
    from matplotlib import cbook
    from sklearn.datasets import load_sample_image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
        hopper = np.asarray(photo.convert("RGB"))
    return [load_sample_image("china.jpg"), load_sample_image("flower.jpg"), hopper]


def make_set(
    paths: Sequence[str | Path],
    image_size: int,
    per_kind: int = 200,
    seed: int = config.DEFAULT_SEED,
) -> dict[str, list[data.Prepared]]:
    """``per_kind`` images of each of :data:`KINDS`, made from the X-ray files ``paths``
    (validation images) and prepared for a model of ``image_size`` px; the random choices
    drawn with ``seed`` (default 42; a notebook passes ``profile.seed``).

    Example::

        val_paths = splits.frame.loc[splits.frame.subset == "val", "path"]
        kinds = ood.make_set(val_paths, image_size=128, per_kind=200)
    """
    import matplotlib

    rng = np.random.default_rng(seed)
    paths = list(paths)

    def xrays() -> list[np.ndarray]:
        chosen = rng.choice(len(paths), size=per_kind, replace=len(paths) < per_kind)
        return [_gray(paths[i]) for i in chosen]

    def thumbnail(x: np.ndarray) -> np.ndarray:
        side = int(rng.integers(8, max(9, image_size // 2)))
        return np.asarray(Image.fromarray(x).resize((side, side), Image.Resampling.LANCZOS))

    def cropped(x: np.ndarray) -> np.ndarray:
        h, w = x.shape
        ch, cw = (int(n * rng.uniform(0.30, 0.45)) for n in (h, w))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        part = Image.fromarray(x[top : top + ch, left : left + cw])
        return np.asarray(part.resize((w, h), Image.Resampling.LANCZOS))

    def coloured(i: int, x: np.ndarray) -> np.ndarray:
        if i % 2:
            cmap = matplotlib.colormaps[COLOUR_MAPS[i // 2 % len(COLOUR_MAPS)]]
            return (cmap(x / 255.0)[..., :3] * 255).astype(np.uint8)
        photo = photos[i // 2 % len(photos)]
        side = int(rng.integers(200, min(photo.shape[:2]) + 1))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        return photo[top : top + side, left : left + side]

    def blank(i: int) -> np.ndarray:
        level = np.full((224, 224), rng.uniform(0, 255))
        noisy = level + rng.normal(0, 2, level.shape) if i % 2 else level
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)

    photos = colour_photos()
    made = {
        "negative": [255 - x for x in xrays()],
        "thumbnail": [thumbnail(x) for x in xrays()],
        "colour": [coloured(i, x) for i, x in enumerate(xrays())],
        "rotated": [np.rot90(x, k=int(rng.choice([1, 3]))) for x in xrays()],
        "cropped": [cropped(x) for x in xrays()],
        "blank": [blank(i) for i in range(per_kind)],
    }
    return {kind: [data.prepare(x, image_size) for x in made[kind]] for kind in KINDS}


def _gray(path: str | Path) -> np.ndarray:
    """An X-ray file at its own size as ``(H, W)`` uint8 grayscale."""
    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


def measure(
    gate: quality.Gate,
    model: keras.Model,
    kinds: Mapping[str, Sequence[data.Prepared]],
    x_val: np.ndarray,
) -> pd.DataFrame:
    """Share of images the gate flags, per kind, with one column per check.

    The first row, ``validation``, is the false-flag rate on ``x_val`` — the validation images
    the gate was fitted on, in the same order — with the out-of-fold distances the gate kept
    (``gate.reference_scores``) for the out-of-distribution check. Columns: ``kind``,
    ``images``, ``flagged``, one per code of :data:`xraylib.quality.IMAGE_CODES`, ``target``.

    Example::

        ood.measure(gate, model, kinds, splits.x_val)
    """
    if len(gate.reference_scores) != len(x_val):
        raise ValueError(
            f"the gate was fitted on {len(gate.reference_scores)} validation images, "
            f"not these {len(x_val)}"
        )
    size = gate.image_size
    val_items = [data.Prepared(x, size, size, "L") for x in x_val]
    val_flags, _ = quality.Gate(size, gate.model, gate.digest, gate.mean_image).check(
        model, val_items
    )
    for found, score in zip(val_flags, gate.reference_scores, strict=True):
        if score > gate.threshold:
            found.append(quality.Flag("out_of_distribution", "out-of-fold distance"))
    rows = [_row("validation", val_flags)]
    for kind, items in kinds.items():
        rows.append(_row(kind, gate.check(model, list(items))[0]))
    return pd.DataFrame(rows)


def _row(kind: str, flags: Sequence[Sequence[quality.Flag]]) -> dict:
    codes = [{flag.code for flag in found} for found in flags]
    return {
        "kind": kind,
        "images": len(flags),
        "flagged": float(np.mean([bool(c) for c in codes])),
        **{code: float(np.mean([code in c for c in codes])) for code in quality.IMAGE_CODES},
        "target": FLAG_TARGETS.get(kind, np.nan),
    }


def targets_met(table: pd.DataFrame) -> pd.Series:
    """Per row of a :func:`measure` table: whether its target is met (validation flagged at
    most its target, every other kind at least), ``None`` for a kind without a target."""
    met = np.where(
        table["kind"] == "validation",
        table["flagged"] <= table["target"],
        table["flagged"] >= table["target"],
    )
    return pd.Series(
        [bool(m) if t == t else None for m, t in zip(met, table["target"], strict=True)],
        index=table.index,
        name="met",
    )
