"""A small phantom data set in the real layout, for tests and smoke runs without the real data.

Each phantom is a crude chest: a body ellipse, two darker lung fields, a bright spine and heart,
plus noise. PNEUMONIA phantoms carry one bright, blurred *opacity* inside a lung, so a small CNN
can learn the task and Grad-CAM can be checked against where the opacity really is. File names
follow the real patterns (``IM-0115-0001.jpeg``, ``NORMAL2-IM-0927-0001.jpeg``,
``person12_bacteria_40.jpeg``, ``person12_virus_41.jpeg``), several images per patient, with
the real class imbalance (about 1:3 in train, 1:1.7 in test).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: images per class relative to ``per_class`` (the train NORMAL count), like the real split
SHARES = {
    ("train", "NORMAL"): 1.0,
    ("train", "PNEUMONIA"): 3.0,
    ("val", "NORMAL"): 0.1,
    ("val", "PNEUMONIA"): 0.1,
    ("test", "NORMAL"): 0.6,
    ("test", "PNEUMONIA"): 1.0,
}


def phantom(
    rng: np.random.Generator, width: int, height: int, pneumonia: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One phantom as a ``(height, width)`` uint8 array and the boolean mask of its opacity
    (all False for a NORMAL phantom)."""
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]

    def ellipse(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0

    img = np.full((height, width), 20.0)
    img[ellipse(0.5, 0.55, 0.45, 0.5)] = 150
    shift = rng.normal(0, 0.02, size=2)
    lungs = [(0.3 + shift[0], 0.5 + shift[1]), (0.7 + shift[0], 0.5 + shift[1])]
    for cx, cy in lungs:
        img[ellipse(cx, cy, 0.14, 0.3)] = 60
    img[ellipse(0.5, 0.5, 0.04, 0.45)] = 200
    img[ellipse(0.56, 0.62, 0.1, 0.1)] = 170
    mask = np.zeros((height, width), dtype=bool)
    if pneumonia:
        cx, cy = lungs[rng.integers(2)]
        cx, cy = cx + rng.uniform(-0.05, 0.05), cy + rng.uniform(-0.15, 0.15)
        mask = ellipse(cx, cy, 0.08, 0.1)
        distance = np.hypot((xx - cx) / 0.08, (yy - cy) / 0.1)
        img += 110 * np.clip(1.2 - distance, 0, 1)
    img += rng.normal(0, 12, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def make_arrays(
    n: int, image_size: int = 64, seed: int = 0, pneumonia_share: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` phantoms in memory: images ``(n, S, S, 1)`` uint8, labels ``(n,)`` (1 =
    PNEUMONIA) and opacity masks ``(n, S, S)``."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pneumonia_share).astype(np.int64)
    pairs = [phantom(rng, image_size, image_size, bool(label)) for label in y]
    return (np.stack([p[0] for p in pairs])[..., None], y, np.stack([p[1] for p in pairs]))


def _file_names(
    split: str, label: str, count: int, rng: np.random.Generator, first_patient: int
) -> list[str]:
    """``count`` real-pattern names, 1–3 images per patient."""
    names: list[str] = []
    patient = first_patient
    while len(names) < count:
        patient += 1
        for k in range(1, int(rng.integers(1, 4)) + 1):
            if label == "PNEUMONIA":
                kind = "bacteria" if rng.random() < 0.65 else "virus"
                names.append(f"person{patient}_{kind}_{patient * 3 + k}.jpeg")
            elif patient % 2:
                names.append(f"IM-{patient:04d}-{k:04d}.jpeg")
            else:
                names.append(f"NORMAL2-IM-{patient:04d}-{k:04d}.jpeg")
    return names[:count]


def make_synthetic(root: str | Path, per_class: int = 40, seed: int = 0) -> Path:
    """Write a phantom data set to ``root/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg``.

    ``per_class`` is the number of NORMAL training images; the other counts follow
    :data:`SHARES`. Image sizes vary (aspect not square) like real radiographs.
    Returns ``root``.

    Example::

        make_synthetic("/tmp/phantoms", per_class=10)
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for number, ((split, label), share) in enumerate(SHARES.items()):
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        count = max(2, round(per_class * share))
        for name in _file_names(split, label, count, rng, first_patient=1000 * (number + 1)):
            width, height = int(rng.integers(112, 176)), int(rng.integers(96, 144))
            pixels, _ = phantom(rng, width, height, label == "PNEUMONIA")
            Image.fromarray(pixels).save(folder / name, quality=90)
    return root
