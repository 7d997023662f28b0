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
  `predict_on_batch`, the call `xraylib predict` uses) and images/s in batches;
* **augmentation share**: the time of the final policy's augmentation block alone on one
  batch, as a share of a training step of the final architecture with that block (medians of
  repeats, in the same run, with ``augmentation_ms``: the block, the step with it and the step
  of the network alone). The block is the policy the first member was trained with, rebuilt
  by this version's :func:`~xraylib.models.augmentation` (see
  :func:`~xraylib.models.augmentation_factors`), so a model trained with the layers of an
  earlier version is timed with today's (the training images/s too); 0 when it has none;
* **custom layers against Keras'** (``layers_ms``): each custom augmentation layer of
  :mod:`xraylib.layers` that stands in for Keras built-ins, timed against them on the same
  batch (``training=True``, medians of repeats, interleaved), with the final policy's factors
  (the ``acquisition`` policy's where it has none): :class:`~xraylib.layers.RandomAffine`
  against ``RandomRotation → RandomZoom → RandomTranslation``,
  :class:`~xraylib.layers.RandomNoise` against ``Rescaling(1/255) → GaussianNoise →
  Rescaling(255)`` and :class:`~xraylib.layers.RandomBlur` against ``RandomGaussianBlur``.
  A custom layer is used only while it is measurably faster (the blur was not: the policies
  use Keras' layer, and ``RandomBlur`` is kept for the models trained with it).

``device`` names the TensorFlow logical devices (``CPU:0``, ``GPU:0``, …) of the run.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from xraylib import config, data, layers, models, results, synthetic, train
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
    """A fresh, compiled copy (same layers, new weights; its augmentation block rebuilt by
    :func:`_current_block`) of the final model's first member: the final recipe's
    architecture, to time training with (compiled with the default
    :class:`~xraylib.train.Recipe`; the optimiser's settings barely change the step time)."""
    member = models.ensemble_members(final)[0]
    return _replace_block(member, _current_block(member), steps_per_epoch)


def throughput(
    n_images: int = 512,
    batch_size: int = 32,
    repeats: int = 50,
    model_path: str | Path | None = None,
    data_dir: str | Path = config.DEFAULT_IMAGES_DIR,
    seed: int = config.DEFAULT_SEED,
) -> dict:
    """Measure and return the table as a dict (see the module docstring for each field).

    ``model_path`` is the final model (default :func:`xraylib.results.final_model_path`);
    the training images come from ``data_dir`` (default ``data/chest_xray``), drawn with
    ``seed`` (default 42); the command line passes the run's profile's.
    ``n_images`` is clamped to the number of training images; fewer than two batches of them,
    ``repeats`` below 1 or an unreadable model file raise :class:`XrayError` (one line).
    """
    import keras
    import tensorflow as tf

    if repeats < 1:
        raise XrayError(f"bench: repeats must be at least 1, not {repeats}")
    final = results.load_model(model_path)
    image_size = int(results.saved_info(model_path).get("image_size", final.input_shape[1]))
    config.set_seed(seed)
    cached = data.load_scan(data_dir, image_size=image_size, progress=False)
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
    member = models.ensemble_members(final)[0]
    block = _current_block(member)
    augment = augmentation_timing(member, block, x[:batch_size], y[:batch_size], min(repeats, 20))
    factors = models.augmentation_factors(block) if block is not None else {}
    versus = layer_timing(x[:batch_size], factors, min(repeats, 20))

    return {
        "train_images_per_s": {
            "decode_every_epoch": round(n_images / decode_s, 1),
            "xraylib": round(n_images / xraylib_s, 1),
        },
        "speedup": round(decode_s / xraylib_s, 2),
        "pipeline_share": round(pipeline_s / xraylib_s, 4),
        "predict_ms_warm": round(1000 * latency_s, 2),
        "predict_images_per_s": round(n_images / predict_s, 1),
        "augmentation_share": augment["share"],
        "augmentation_ms": {k: augment[k] for k in ("block", "train_step", "network_step")},
        "layers_ms": versus,
        "device": _device_text(tf),
        "image_size": image_size,
        "batch_size": batch_size,
        "n_images": n_images,
        "decode_side": f"the decode side uses {n_images} synthetic {FULL_SIZE[0]}×{FULL_SIZE[1]} "
        "JPEGs, the size of the downloaded originals",
        "model": _describe(final, model),
    }


def _current_block(member):
    """``member``'s augmentation block (its layer ``augmentation``) rebuilt by this version's
    :func:`~xraylib.models.augmentation`, or None when it has none (or an empty one)."""
    found = [layer for layer in member.layers if layer.name == "augmentation"]
    if not found or not getattr(found[0], "layers", None):
        return None
    return models.augmentation(**models.augmentation_factors(found[0]))


def _replace_block(member, block, steps_per_epoch: int = 10):
    """A fresh copy of ``member`` (new weights) whose layer ``augmentation`` is ``block`` (an
    identity layer when ``block`` is None), compiled as :func:`_trainee` says."""
    import keras

    def clone(layer):
        if layer.name != "augmentation":
            return layer.__class__.from_config(layer.get_config())
        return block if block is not None else keras.layers.Identity(name="augmentation")

    model = keras.models.clone_model(member, clone_function=clone)
    train.compile_model(model, train.Recipe(), steps_per_epoch, epochs=2)
    return model


def augmentation_timing(member, block, x: np.ndarray, y: np.ndarray, repeats: int = 20) -> dict:
    """Milliseconds (medians of ``repeats``, after a warm-up) of ``block`` alone on the batch
    ``x`` (``training=True``), and of one training step (``train_on_batch``) on ``x, y`` of
    ``member``'s architecture with ``block`` as its layer ``augmentation`` and without one
    (the three interleaved, so a busy machine slows them alike); ``share`` is the block's time
    over the step with it.

    ``block`` None (no augmentation) gives zeros for the block and its share. ``member`` needs
    a layer named ``augmentation`` (as :func:`~xraylib.models.build_cnn` names the block)
    when ``block`` is not None.

    Example::

        bench.augmentation_timing(model, block, x[:32], y[:32])
        # {'block': 14.2, 'train_step': 276.0, 'network_step': 262.3, 'share': 0.0514}
    """
    step = _replace_block(member, None).train_on_batch
    calls = {"network_step": lambda: step(x, y)}
    if block is not None:
        augmented_step = _replace_block(member, block).train_on_batch
        calls["train_step"] = lambda: augmented_step(x, y)
        calls["block"] = _training_call(block, x)
    result = _median_ms(calls, repeats)
    if block is None:
        return result | {"block": 0.0, "train_step": result["network_step"], "share": 0.0}
    return result | {"share": round(result["block"] / result["train_step"], 4)}


def layer_timing(x: np.ndarray, factors: Mapping[str, float], repeats: int = 20) -> dict:
    """Milliseconds (medians of ``repeats``, interleaved, after a warm-up) of each custom
    augmentation layer that stands in for Keras built-ins and of those built-ins, on the batch
    ``x`` with ``training=True``: ``{"affine": {"xraylib": …, "keras": …}, "noise": {…},
    "blur": {…}}``.

    The layers take ``factors`` (keyword arguments of :func:`~xraylib.models.augmentation`);
    a factor that is 0 or missing there is the ``acquisition`` policy's.

    Example::

        bench.layer_timing(x[:32], models.AUGMENTATIONS["acquisition"])
        # {'affine': {'xraylib': 9.4, 'keras': 27.1}, 'noise': {'xraylib': 5.8, 'keras': 10.1}, ...}
    """
    import keras

    f = models.AUGMENTATIONS["acquisition"] | {k: v for k, v in factors.items() if v}
    constant = dict(fill_mode="constant")
    pairs = {
        "affine": (
            layers.RandomAffine(f["rotation"], f["zoom"], f["translation"]),
            [
                keras.layers.RandomRotation(f["rotation"], **constant),
                keras.layers.RandomZoom(f["zoom"], **constant),
                keras.layers.RandomTranslation(f["translation"], f["translation"], **constant),
            ],
        ),
        "noise": (
            layers.RandomNoise(f["noise"]),
            [
                keras.layers.Rescaling(1 / 255),
                keras.layers.GaussianNoise(f["noise"]),
                keras.layers.Rescaling(255),
            ],
        ),
        "blur": (
            layers.RandomBlur(f["blur"]),
            [keras.layers.RandomGaussianBlur(1.0, 3, sigma=f["blur"], value_range=(0, 255))],
        ),
    }
    images = x.astype("float32")  # as the block's earlier layers hand them on
    calls = {}
    for name, (mine, theirs) in pairs.items():
        calls[f"{name}/xraylib"] = _training_call(mine, images)
        calls[f"{name}/keras"] = _training_call(keras.Sequential(theirs), images)
    times = _median_ms(calls, repeats)
    return {name: {k: times[f"{name}/{k}"] for k in ("xraylib", "keras")} for name in pairs}


def _training_call(layer, x: np.ndarray) -> Callable[[], object]:
    """A call of ``layer`` on the batch ``x`` with ``training=True``, traced once
    (``tf.function``), that waits for its result."""
    import tensorflow as tf

    traced = tf.function(lambda images: layer(images, training=True))
    images = tf.constant(x)
    return lambda: traced(images).numpy()


def _median_ms(calls: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Milliseconds per call, the median of ``repeats`` rounds after two warm-up rounds (which
    trace); the calls interleaved within each round, so a busy machine slows them alike."""
    for call in 2 * list(calls.values()):
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: round(1000 * float(np.median(t)), 2) for name, t in times.items()}


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
    rate, aug = result["train_images_per_s"], result["augmentation_ms"]
    lines = [
        f"training, decode every epoch : {rate['decode_every_epoch']:>8.1f} images/s",
        f"training, xraylib cache      : {rate['xraylib']:>8.1f} images/s  "
        f"({result['speedup']:.2f}x)",
        f"input pipeline share of step : {100 * result['pipeline_share']:>8.2f} %",
        f"predict, one image (warm)    : {result['predict_ms_warm']:>8.2f} ms",
        f"predict, batches of 64       : {result['predict_images_per_s']:>8.1f} images/s",
        f"augmentation share of step   : {100 * result['augmentation_share']:>8.2f} %  "
        f"({aug['block']:.1f} of {aug['train_step']:.1f} ms; network alone "
        f"{aug['network_step']:.1f} ms)",
        *(
            f"{name:<7} xraylib / Keras layers: {ms['xraylib']:>8.2f} / {ms['keras']:.2f} ms "
            f"per batch"
            for name, ms in result["layers_ms"].items()
        ),
        f"{result['model']}, {result['image_size']} px, batch {result['batch_size']}, "
        f"{result['n_images']} training images; {result['device']}",
        result["decode_side"],
    ]
    return "\n".join(lines)
