"""Side-by-side performance measurements (``python -m xraylib bench``).

Measured in one process on the final model (``data/models/final.keras``, the file
``xraylib predict`` uses; an ensemble counts as one model) and the same number of images (drawn
from the *training* images only, never the test set; at most as many as there are), at the
final model's image size (``final.json``):

* **training images/s** of the final recipe's architecture (a fresh copy, new weights, of the
  final model's first member) for one epoch fed (a) the way the classic notebooks do it —
  every JPEG decoded and resized in every epoch by ``keras.utils.image_dataset_from_directory``
  — and (b) from xraylib's cache of decoded uint8 arrays through ``tf.data``. Side (a) must decode
  files of the size users download (about 2000×1700 px), whatever the size of the images at
  hand, so bench always writes that many full-size synthetic JPEGs for it and says so in its
  ``decode_side`` field;
* **input-pipeline share**: the time to iterate the cached pipeline alone, as a share of the
  time of a training epoch fed by it;
* **prediction** with the final model itself: warm single-image latency (median of repeats of
  `predict_on_batch`, the call `xraylib predict` uses) and images/s in batches.

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

from xraylib import config, data, models, predict, synthetic, train
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


def _trainee(final, steps_per_epoch: int):
    """A fresh, compiled copy (same layers, new weights) of the final model's first member:
    the final recipe's architecture, to time training with (compiled with the default
    :class:`~xraylib.train.Recipe`; the optimiser's settings barely change the step time)."""
    import keras

    model = keras.models.clone_model(models.ensemble_members(final)[0])
    train.compile_model(model, train.Recipe(), steps_per_epoch, epochs=2)
    return model


def run(
    n_images: int = 512,
    batch_size: int = 32,
    repeats: int = 50,
    model_path: str | Path | None = None,
) -> dict:
    """Measure and return the table as a dict (see the module docstring for each field).

    ``model_path`` is the final model (default :func:`xraylib.predict.final_model_path`).
    ``n_images`` is clamped to the number of training images; fewer than two batches of them,
    ``repeats`` below 1 or an unreadable model file raise :class:`XrayError` (one line).
    """
    import keras
    import tensorflow as tf

    if repeats < 1:
        raise XrayError(f"bench: repeats must be at least 1, not {repeats}")
    final = predict.load_model(model_path)
    image_size = int(predict.saved_info(model_path).get("image_size", final.input_shape[1]))
    seed = config.set_seed()
    cached = data.load_scan(image_size=image_size, progress=False)
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
    model = _trainee(final, steps_per_epoch=n_images // batch_size)

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

    latency_s, predict_s = _predict_seconds(final, x, repeats)

    return {
        "train_images_per_s": {
            "decode_every_epoch": round(n_images / decode_s, 1),
            "xraylib": round(n_images / xraylib_s, 1),
        },
        "speedup": round(decode_s / xraylib_s, 2),
        "pipeline_share": round(pipeline_s / xraylib_s, 4),
        "predict_ms_warm": round(1000 * latency_s, 2),
        "predict_images_per_s": round(n_images / predict_s, 1),
        "device": _device_text(tf),
        "image_size": image_size,
        "batch_size": batch_size,
        "n_images": n_images,
        "decode_side": f"the decode side uses {n_images} synthetic {FULL_SIZE[0]}×{FULL_SIZE[1]} "
        "JPEGs, the size of the downloaded originals",
        "model": _describe(final, model),
    }


def _predict_seconds(model, x: np.ndarray, repeats: int) -> tuple[float, float]:
    """Warm single-image latency (median of ``repeats`` calls of ``predict_on_batch``) and the
    time to predict all of ``x`` in batches of 64, both in seconds, after a warm-up of each."""
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
    return float(np.median(latencies)), time.perf_counter() - start


def _describe(final, trainee) -> str:
    """What was measured, e.g. "final model final (3 members, 305,000 weights); training
    speed of a fresh copy of member cnn_a (101,665 weights)"."""
    members = models.ensemble_members(final)
    count = f"{len(members)} members, " if len(members) > 1 else ""
    which = f"member {members[0].name}" if len(members) > 1 else members[0].name
    return (
        f"final model {final.name} ({count}{final.count_params():,} weights); training speed "
        f"of a fresh copy of {which} ({trainee.count_params():,} weights)"
    )


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
