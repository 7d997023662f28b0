"""Training on several devices or several machines with ``tf.distribute``.

:func:`strategy` picks the strategy from what it finds:

* ``TF_CONFIG`` names a cluster of several workers → ``MultiWorkerMirroredStrategy``;
* one machine with several GPUs, or a CPU split into logical devices by
  :func:`use_logical_cpus` → ``MirroredStrategy`` over them;
* otherwise the default strategy (one device; its scope changes nothing).

On one machine Keras ``fit`` works with the mirrored strategy: build the model and train it
with ``train.fit`` (which compiles it: the optimiser's variables must be made there too) inside
``strategy.scope()``. The batch size is the *global* batch, split across the devices::

    from xraylib import distribute, models, train
    strategy = distribute.strategy()
    with strategy.scope():
        model = models.build_cnn(splits.image_size)
        result = train.fit(model, splits, train.Recipe())

Across machines, Keras 3 ``fit`` fails under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585), while a custom loop with ``strategy.run`` works:
:func:`train_multiworker` is that loop. Start the same script on every machine with its own
``TF_CONFIG``, e.g. on the first of two::

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}' python train_script.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from xraylib import config, data, train


def use_logical_cpus(count: int) -> list[str]:
    """Split the CPU into ``count`` logical devices (to try a mirrored strategy without GPUs).

    Must run before TensorFlow initialises its devices, i.e. before any model, tensor or
    strategy is made in the process. Returns the device names.

    Example::

        use_logical_cpus(2)
        # ['/device:CPU:0', '/device:CPU:1']
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        raise RuntimeError(
            "TensorFlow devices are already initialised: call "
            "use_logical_cpus() first thing in a fresh process"
        ) from None
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def cluster_workers() -> int:
    """Number of workers that ``TF_CONFIG`` names (0 when it is not set)."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def strategy() -> tf.distribute.Strategy:
    """The distribution strategy for this process (see the module documentation).

    Example::

        with strategy().scope():
            model = models.build_cnn(64)
    """
    if cluster_workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    cpus = tf.config.list_logical_devices("CPU")
    devices = gpus if len(gpus) > 1 else cpus if len(cpus) > 1 and not gpus else []
    if devices:
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return tf.distribute.get_strategy()


def train_multiworker(
    build_model: Callable[[], keras.Model],
    x: np.ndarray,
    y: np.ndarray,
    epochs: int = 1,
    batch_size: int = 32,
    class_weight: str | None = "balanced",
    seed: int = config.DEFAULT_SEED,
    distribution: tf.distribute.Strategy | None = None,
    recipe: train.Recipe | None = None,
) -> tuple[keras.Model, list[float]]:
    """Train with ``MultiWorkerMirroredStrategy`` in a custom loop; return the model and the
    mean training loss of each epoch.

    Every worker runs this with the same ``x``, ``y`` and ``seed``; the data are sharded
    between the workers, gradients are summed across them, so all workers hold the same
    weights after each step (batch-norm moving statistics stay per worker). The chief (worker
    0) is the one that should save the model.

    Args:
        build_model: returns an uncompiled model (e.g. ``lambda: models.build_cnn(64)``);
            it is called, and compiled for ``recipe``, inside the strategy's scope.
        x, y: uint8 images ``(N, S, S, 1)`` and 0/1 labels, the same on every worker.
        epochs: passes over the data.
        batch_size: global batch, split across all replicas; an incomplete last batch is
            dropped.
        class_weight: ``"balanced"`` (as :func:`xraylib.data.class_weights`) or ``None``.
        seed: weight initialisation and shuffling (default 42).
        distribution: the strategy (default :func:`strategy`).
        recipe: optimiser and learning-rate schedule (default ``train.Recipe()``; its
            ``epochs`` and ``class_weight`` are not read: they are arguments here, and the
            loss is plain binary cross-entropy).

    Example::

        model, losses = train_multiworker(lambda: models.build_cnn(64), x, y)
    """
    if len(x) < batch_size:
        raise ValueError(
            f"train_multiworker needs at least one full batch ({batch_size} images), got {len(x)}"
        )
    seed = config.set_seed(seed)
    distribution = distribution or strategy()
    steps = len(x) // batch_size
    with distribution.scope():
        model = build_model()
        train.compile_model(model, recipe or train.Recipe(), steps, epochs)
    weights = data.class_weights(y) if class_weight == "balanced" else {0: 1.0, 1: 1.0}
    dataset = _sharded_dataset(x, y, [weights[0], weights[1]], batch_size, seed)
    batches = distribution.experimental_distribute_dataset(dataset)
    step = _train_step(model, distribution, batch_size)
    losses = []
    for _ in range(epochs):
        losses.append(float(np.mean([float(step(*batch)) for batch in batches])))
    return model, losses


def _sharded_dataset(
    x: np.ndarray, y: np.ndarray, weights: list[float], batch_size: int, seed: int
) -> tf.data.Dataset:
    """Shuffled ``(images, labels, example weights)`` batches, sharded by element."""
    labels = np.asarray(y, dtype=np.float32)
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, labels, np.asarray(weights, dtype=np.float32)[y]))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _train_step(
    model: keras.Model, distribution: tf.distribute.Strategy, batch_size: int
) -> Callable:
    """A compiled step: each replica computes its gradients, the optimizer sums them."""
    loss_fn = keras.losses.BinaryCrossentropy(reduction="none")

    def replica_step(images, labels, weights):
        with tf.GradientTape() as tape:
            predicted = model(images, training=True)
            per_example = loss_fn(labels[:, None], predicted) * weights
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch_size)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def step(images, labels, weights):
        per_replica = distribution.run(replica_step, args=(images, labels, weights))
        return distribution.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return step
