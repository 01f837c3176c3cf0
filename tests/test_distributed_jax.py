"""Two JAX processes (CPU, gloo collectives, loopback) as one data-parallel job (w2vvx.training.hosts).

Each process is started with ``KERAS_BACKEND=jax`` and joins through :func:`initialize_hosts`; the
library's ``w2vvpp`` trained inside ``keras.distribution.DataParallel`` over both processes' devices,
each process feeding its half of every global batch, must take the same steps as one process on the
whole batch (negatives from the global batch), and differ from per-process negatives. The Trainer run on
both processes must leave one run folder (written by process 0) and the history of the same run on one process.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from w2vvx.errors import ConfigError
from w2vvx.training.hosts import host_settings

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import jax
    from w2vvx.errors import ConfigError
    from w2vvx.models import build_model, get_config
    from w2vvx.training.placement import data_parallel

    pid, count = jax.process_index(), jax.process_count()
    BATCH, VOCAB, LENGTH, VISUAL, STEPS = 8, 40, 6, 12, 3
    config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, dropout=0.0)
    batches = []
    for step in range(STEPS):
        rng = np.random.default_rng(step)
        ids = rng.integers(1, VOCAB, (BATCH, LENGTH)).astype("int32")
        ids[:, 4:] = 0
        batches.append({"tokens": ids, "bow_tokens": ids, "visual": rng.random((BATCH, VISUAL), dtype="float32")})
    from jax.experimental import multihost_utils
    local = lambda w: np.asarray(multihost_utils.process_allgather(w.value, tiled=True))  # global value
    rows = BATCH // count
    keras.utils.set_random_seed(1)
    with keras.distribution.DataParallel(devices=keras.distribution.list_devices()).scope():
        model = build_model(config, VOCAB, VOCAB, VISUAL)
        start = [local(w) for w in model.weights]
        losses = [float(np.asarray(model.train_on_batch({k: v[pid * rows:(pid + 1) * rows] for k, v in b.items()})))
                  for b in batches]
        weights = [local(w) for w in model.weights]
    out = {"process": pid, "count": count, "losses": losses, "devices": len(keras.distribution.list_devices())}
    try:
        with data_parallel(["cpu:0"]):
            pass
    except ConfigError as error:
        out["part_refused"] = "devices of every process" in str(error)
    if pid == 0:
        reference = build_model(config, VOCAB, VOCAB, VISUAL)
        reference.set_weights(start)
        single = [float(np.asarray(reference.train_on_batch(b))) for b in batches]
        half = {k: v[:rows] for k, v in batches[0].items()}
        probe = build_model(config, VOCAB, VOCAB, VISUAL)
        probe.set_weights(start)
        diff = lambda a, b: max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
        out.update(single_losses=single,
                   shard_loss=float(np.asarray(probe.compute_loss(half, y_pred=probe(half), training=False))),
                   max_weight_difference=diff(weights, reference.get_weights()),
                   max_weight_change=diff(start, reference.get_weights()))
    out.update(trainer_run(pid, sys.argv[1]))
    print("RESULT " + json.dumps(out), flush=True)
    """
)

# The Trainer on this process alone, or on every process of the job (each with its own data copy: two
# processes writing one folder at once race on its final rename).
TRAINER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from test_training_trainer import _make_collection, _tiny_config
    from w2vvx.training import Trainer

    def trainer_run(pid, root):
        root = Path(root)
        features, train, val = _make_collection(root / f"data{pid}")
        result = Trainer(_tiny_config(max_epochs=3, dropout=0.1), root / "run", train, features, val, verbose=0,
                         seed=3, tensorboard=False).fit()
        return {"epochs": result.epochs_done, "history": result.history}
    """
)
SCRIPT = "from w2vvx.training.hosts import initialize_hosts\ninitialize_hosts()\n" + TRAINER + SCRIPT
ALONE = TRAINER + textwrap.dedent(
    """
    import json
    print("RESULT " + json.dumps(trainer_run(0, sys.argv[1])), flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_jax_processes_train_as_one_process_on_the_global_batch(tmp_path):
    pytest.importorskip("jax")
    port = _free_port()
    python_path = os.pathsep.join(filter(None, [str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    processes = []
    for process_id in (0, 1, None):  # the job's two processes, and the same Trainer run alone
        env = dict(os.environ, KERAS_BACKEND="jax", OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=python_path, JAX_PLATFORMS="cpu")
        if process_id is not None:
            env.update(W2VVX_COORDINATOR=f"127.0.0.1:{port}", W2VVX_NUM_PROCESSES="2", W2VVX_PROCESS_ID=str(process_id))
        env.pop("XLA_FLAGS", None)
        script, folder = (SCRIPT, tmp_path / "job") if process_id is not None else (ALONE, tmp_path / "alone")
        processes.append(subprocess.Popen([sys.executable, "-c", script, str(folder)], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err[-4000:]
            line = [line for line in out.splitlines() if line.startswith("RESULT ")][-1]
            results.append(json.loads(line[len("RESULT "):]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    main, other, alone = results
    print({key: value for key, value in main.items() if key != "history"})
    assert main["count"] == other["count"] == 2 and main["devices"] == 2
    assert main["losses"] == other["losses"]
    assert main["max_weight_change"] > 1e-4
    for distributed, single in zip(main["losses"], main["single_losses"]):
        assert distributed == pytest.approx(single, rel=1e-5, abs=1e-6)
    assert abs(main["shard_loss"] - main["single_losses"][0]) > 1e-3  # per-process negatives differ
    assert main["max_weight_difference"] < 1e-5
    assert main["part_refused"] and other["part_refused"]
    # The Trainer on both processes: process 0's validation logs on both, the history of one process
    # training alone on the same batches (one program over the global batch: same negatives, same dropout mask)
    assert main["epochs"] == other["epochs"] == alone["epochs"] == 3
    assert main["history"] == other["history"]
    for job_epoch, alone_epoch in zip(main["history"], alone["history"]):
        assert job_epoch["loss"] == pytest.approx(alone_epoch["loss"], rel=1e-5)
        assert job_epoch["val_sumr"] == pytest.approx(alone_epoch["val_sumr"], abs=1e-6)
    run = tmp_path / "job" / "run"  # written by process 0 alone
    assert sorted(path.name for path in run.iterdir()) == ["best.keras", "checkpoints", "config.json", "history.csv",
                                                           "provenance.json", "run.lock", "training.png"]
    assert [path.name for path in (run / "checkpoints").iterdir()] == ["epoch-0003"]


def test_host_settings_from_arguments_then_environment():
    env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:2345", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
           "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    assert host_settings(environ=env) == host_settings("10.0.0.1:1234", 2, 1, environ={})
    assert host_settings(process_id=0, environ=env).process_id == 0
    assert host_settings(environ={}).coordinator is None  # SLURM / Open MPI: JAX finds them itself
    with pytest.raises(ConfigError, match="host:port"):
        host_settings("10.0.0.1", environ={})
    with pytest.raises(ConfigError, match="outside"):
        host_settings("h:1", 2, 2, environ={})
