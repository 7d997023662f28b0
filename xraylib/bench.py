"""Side-by-side performance measurements (``python -m xraylib bench``).

Measured in one process, on the same model and the same number of images (drawn from the
*training* images only, never the test set; at most as many as there are):

* **training images/s** of one epoch fed (a) the way the classic notebooks do it — every JPEG
  decoded and resized in every epoch by ``keras.utils.image_dataset_from_directory`` — and
  (b) from xraylib's cache of decoded uint8 arrays through ``tf.data``. Side (a) must decode
  files of the size users download (about 2000×1700 px), whatever the size of the images at
  hand, so bench always writes that many full-size synthetic JPEGs for it and says so in its
  ``decode_side`` field;
* **input-pipeline share**: the time to iterate the cached pipeline alone, as a share of the
  time of a training epoch fed by it;
* **prediction**: warm single-image latency (median of repeats of `predict_on_batch`, the call
  `xraylib predict` uses) and images/s in batches.

``device`` names the TensorFlow logical devices (``CPU:0``, ``GPU:0``, …) of the run.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from xraylib import config, data, models, synthetic
from xraylib.errors import XrayError

FULL_SIZE = (2000, 1700)


def _full_size_folder(folder: Path, n_images: int, seed: int) -> Path:
    """Write ``n_images`` full-size phantom JPEGs in two class folders (8 distinct images,
    copied; decoding cost does not depend on which phantom it is)."""
    rng = np.random.default_rng(seed)
    originals = []
    for k in range(8):
        pixels, _ = synthetic.phantom(rng, *FULL_SIZE, pneumonia=bool(k % 2))
        path = folder / f"original_{k}.jpeg"
        Image.fromarray(pixels).save(path, quality=90)
        originals.append(path)
    for i in range(n_images):
        label = config.CLASS_NAMES[i % 2]
        (folder / label).mkdir(exist_ok=True)
        shutil.copyfile(originals[i % 8], folder / label / f"image_{i:04d}.jpeg")
    for path in originals:
        path.unlink()
    return folder


def _epoch_seconds(model, dataset) -> float:
    """Seconds of one training epoch over ``dataset`` (after a warm-up epoch)."""
    model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - start


def _iterate_seconds(dataset) -> float:
    start = time.perf_counter()
    for _ in dataset:
        pass
    return time.perf_counter() - start


def run(
    n_images: int = 512, image_size: int | None = None, batch_size: int = 32, repeats: int = 50
) -> dict:
    """Measure and return the table as a dict (see the module docstring for each field).

    ``n_images`` is clamped to the number of training images; fewer than two batches of them
    raise :class:`XrayError` (one line).
    """
    import keras
    import tensorflow as tf

    profile = config.PROFILES["full"]
    image_size = image_size or profile.image_size
    seed = config.set_seed()
    cached = data.load(image_size=image_size, progress=False)
    assert cached.images is not None
    train_rows = np.flatnonzero(cached.frame.split.to_numpy() == "train")
    n_images = min(n_images, len(train_rows))
    if n_images < 2 * batch_size:
        raise XrayError(
            f"{cached.root}: {n_images} training images to bench, fewer than 2 batches of "
            f"{batch_size}; use more images or a smaller batch"
        )
    take = np.random.default_rng(seed).choice(train_rows, n_images, replace=False)
    x, y = cached.images[take], data.labels(cached.frame.iloc[take])
    model = models.build_cnn(image_size)

    with tempfile.TemporaryDirectory() as tmp:
        folder = _full_size_folder(Path(tmp), n_images, seed)
        decoded = keras.utils.image_dataset_from_directory(
            folder,
            labels="inferred",
            label_mode="binary",
            color_mode="grayscale",
            image_size=(image_size, image_size),
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            verbose=False,
        ).map(lambda im, lab: (tf.cast(im, tf.uint8), tf.squeeze(lab, -1)))
        decode_s = _epoch_seconds(model, decoded)

    pipeline = data.make_dataset(x, y, batch_size, shuffle=True, seed=seed)
    xraylib_s = _epoch_seconds(model, pipeline)
    pipeline_s = _iterate_seconds(pipeline)

    one = x[:1]
    model.predict_on_batch(one)
    latencies = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(one)
        latencies.append(time.perf_counter() - start)
    model.predict(x, batch_size=64, verbose=0)
    start = time.perf_counter()
    model.predict(x, batch_size=64, verbose=0)
    predict_s = time.perf_counter() - start

    return {
        "train_images_per_s": {
            "decode_every_epoch": round(n_images / decode_s, 1),
            "xraylib": round(n_images / xraylib_s, 1),
        },
        "speedup": round(decode_s / xraylib_s, 2),
        "pipeline_share": round(pipeline_s / xraylib_s, 4),
        "predict_ms_warm": round(1000 * float(np.median(latencies)), 2),
        "predict_images_per_s": round(n_images / predict_s, 1),
        "device": _device_text(tf),
        "image_size": image_size,
        "batch_size": batch_size,
        "n_images": n_images,
        "decode_side": f"the decode side uses {n_images} synthetic {FULL_SIZE[0]}×{FULL_SIZE[1]} "
        "JPEGs, the size of the downloaded originals",
        "model": f"build_cnn default, {model.count_params():,} weights",
    }


def _device_text(tf) -> str:
    """TensorFlow's logical devices, e.g. ``"TensorFlow devices CPU:0, GPU:0 (x86_64)"``."""
    names = [d.name.removeprefix("/device:") for d in tf.config.list_logical_devices()]
    return (
        f"TensorFlow devices {', '.join(names) or 'none'} "
        f"({platform.processor() or platform.machine()})"
    )


def format_table(result: dict) -> str:
    """The measurements as a small text table."""
    rate = result["train_images_per_s"]
    lines = [
        f"training, decode every epoch : {rate['decode_every_epoch']:>8.1f} images/s",
        f"training, xraylib cache      : {rate['xraylib']:>8.1f} images/s  "
        f"({result['speedup']:.2f}x)",
        f"input pipeline share of step : {100 * result['pipeline_share']:>8.2f} %",
        f"predict, one image (warm)    : {result['predict_ms_warm']:>8.2f} ms",
        f"predict, batches of 64       : {result['predict_images_per_s']:>8.1f} images/s",
        f"{result['model']}, {result['image_size']} px, batch {result['batch_size']}, "
        f"{result['n_images']} training images; {result['device']}",
        result["decode_side"],
    ]
    return "\n".join(lines)
