"""Distributed search and training on loopback: a keras-tuner chief with two workers, a worker
that dies, two ``MultiWorkerMirroredStrategy`` workers, a ``MirroredStrategy`` over two logical
CPUs. Every process is a fresh Python with a time limit; the data are 32-px phantoms."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.distributed

LIMIT_S = 150
PHANTOMS = """
    import pandas as pd
    from xraylib import synthetic
    from xraylib.data import Splits
    x, y, _ = synthetic.make_arrays(96, 32, seed=0)
    splits = Splits(x[:64], y[:64], x[64:], y[64:], pd.DataFrame(), 32)
"""
TUNER_PROCESS = (
    PHANTOMS
    + """
    import json, os, sys
    from xraylib import cluster, tuning
    role, worker_id, oracle, trials, minutes, dies = sys.argv[1:]
    if dies == "dies":  # a crash in the middle of this worker's first trial
        tuning.CnnHyperModel.fit = lambda *args, **kwargs: os._exit(3)
    cluster.set_role(role, worker_id or None, oracle)
    result = tuning.search(
        splits, overwrite=role == "chief", max_trials=int(trials), minutes=float(minutes),
        max_epochs=1, lost_after_s=6, verbose=0)
    print(json.dumps({**result.to_json(), "trial_ids": list(result.trials.trial_id)}))
"""
)
MULTIWORKER_PROCESS = (
    PHANTOMS
    + """
    import json, sys
    from xraylib import distribute, models
    model, losses = distribute.train_multiworker(
        lambda: models.build_cnn(32, filters=(8, 16), dense_units=8), splits.x_train,
        splits.y_train, epochs=2, batch_size=16, seed=1)
    kernel = model.get_layer("block1_conv").kernel.numpy()
    print(json.dumps({"losses": losses, "kernel_sum": float(kernel.sum())}))
"""
)
MIRRORED_PROCESS = (
    """
    import json
    from xraylib import distribute
    devices = distribute.use_logical_cpus(2)
"""
    + PHANTOMS
    + """
    from xraylib import models, train
    strategy = distribute.strategy()
    with strategy.scope():
        model = models.build_cnn(32, filters=(8, 16), dense_units=8)
        result = train.fit(model, splits, train.Recipe(epochs=2), seed=1, verbose=0)
    print(json.dumps({"devices": devices, "strategy": type(strategy).__name__,
                      "replicas": strategy.num_replicas_in_sync,
                      "losses": result.history["loss"].tolist()}))
"""
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A fresh Python running ``script`` with ``args``; output captured."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )


def finish(process: subprocess.Popen, limit_s: float = LIMIT_S) -> tuple[int, dict | None]:
    """Wait at most ``limit_s`` for ``process`` (killed after); its exit code and the JSON
    object on the last line of its output."""
    try:
        out, err = process.communicate(timeout=max(limit_s, 1))
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"process still running after the time limit:\n{err[-3000:]}")
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if process.returncode == 0 and not last.startswith("{"):
        pytest.fail(f"no result printed:\n{err[-3000:]}")
    return process.returncode, json.loads(last) if last.startswith("{") else None


def finish_all(processes: list[subprocess.Popen]) -> list[tuple[int, dict | None]]:
    """:func:`finish` for processes that run together, within one shared time limit."""
    end = time.monotonic() + LIMIT_S
    try:
        return [finish(p, end - time.monotonic()) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()


def trials_table(chief: dict) -> pd.DataFrame:
    return pd.read_csv(Path(chief["directory"]) / "trials.csv", dtype={"trial_id": str})


def test_chief_and_two_workers_run_a_search_to_the_end():
    oracle = f"127.0.0.1:{free_port()}"
    processes = [start(TUNER_PROCESS, "chief", "", oracle, "4", "5", "lives")]
    processes += [
        start(TUNER_PROCESS, "worker", tuner, oracle, "4", "5", "lives")
        for tuner in ("tuner0", "tuner1")
    ]
    (code_c, chief), (code_0, worker0), (code_1, worker1) = finish_all(processes)
    assert (code_c, code_0, code_1) == (0, 0, 0)
    trials = trials_table(chief)
    assert len(trials) == 4 and trials.trial_id.is_unique
    assert set(trials.status) == {"COMPLETED"}
    assert set(worker0["trial_ids"]).isdisjoint(worker1["trial_ids"])
    assert sorted(worker0["trial_ids"] + worker1["trial_ids"]) == sorted(trials.trial_id)
    assert worker0["trial_ids"] and worker1["trial_ids"], "both workers ran trials"
    assert set(trials.tuner) == {"tuner0", "tuner1"}
    assert chief["role"] == "chief" and chief["completed"] == 4
    assert trials.handmade.sum() == 1  # the hand-made design is a trial here too
    best = trials.loc[trials.stress_log_loss.idxmin()]  # the series' objective
    assert chief["best_objective"] == pytest.approx(best.stress_log_loss)
    assert chief["best"]["blocks"] == best.blocks


def test_a_worker_that_dies_mid_trial_does_not_hang_the_others():
    oracle = f"127.0.0.1:{free_port()}"
    chief_process = start(TUNER_PROCESS, "chief", "", oracle, "3", "5", "lives")
    try:  # first a worker that crashes in its first trial, then one that does the rest
        assert finish(start(TUNER_PROCESS, "worker", "tuner1", oracle, "3", "5", "dies"))[0] == 3
        survivor = start(TUNER_PROCESS, "worker", "tuner0", oracle, "3", "5", "lives")
        (code_c, chief), (code_0, worker0) = finish_all([chief_process, survivor])
    finally:
        chief_process.kill()
    assert (code_c, code_0) == (0, 0)
    trials = trials_table(chief)
    assert list(trials.trial_id) == ["0", "1", "2"]
    assert list(trials.status) == ["FAILED", "COMPLETED", "COMPLETED"]
    assert list(trials.tuner) == ["tuner1", "tuner0", "tuner0"]
    assert worker0["trial_ids"] == ["1", "2"]
    assert chief["completed"] == 2 and chief["best_objective"] is not None


def test_two_multiworker_mirrored_workers_train_in_step():
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = [
        start(
            MULTIWORKER_PROCESS,
            env={
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                )
            },
        )
        for index in (0, 1)
    ]
    (code_0, first), (code_1, second) = finish_all(processes)
    assert (code_0, code_1) == (0, 0)
    assert all(math.isfinite(loss) for loss in first["losses"])
    assert first["losses"] == pytest.approx(second["losses"])
    assert first["kernel_sum"] == pytest.approx(second["kernel_sum"])


def test_mirrored_strategy_over_two_logical_cpus_trains_with_fit():
    code, result = finish(start(MIRRORED_PROCESS))
    assert code == 0
    assert result["strategy"] == "MirroredStrategy" and result["replicas"] == 2
    assert len(result["devices"]) == 2
    assert all(math.isfinite(loss) for loss in result["losses"])
