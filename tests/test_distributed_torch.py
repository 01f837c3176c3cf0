"""Training on several torch processes (``torchrun``): equal to one process on the global batch.

Two CPU processes (gloo, loopback 127.0.0.1) are started as subprocesses with ``KERAS_BACKEND=torch``
and the variables ``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so these
tests run on the TensorFlow leg of the suite too. The library's ``w2vvpp`` trained for a few steps on
its half of each global batch (embeddings gathered with gradients, gradients averaged) must take the
same steps as one process on the whole batch, and differ from per-process negatives; a Trainer run
over both processes must leave one run folder written by process 0; a process that dies must stop
the other with a DistributedError instead of a hang.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.training.distributed import ShardedBatches, launch_environment

REPO = Path(__file__).resolve().parents[1]
STEPS = 3

EQUALITY = textwrap.dedent(
    """
    import json, os, sys, time
    T0 = time.time()
    from pathlib import Path
    import numpy as np
    import keras, torch
    sys.path.insert(0, sys.argv[1])
    from w2vvx.models import build_model, get_config
    from w2vvx.training.distributed import ProcessGroup, gather_rows
    from test_training_trainer import _make_collection, _tiny_config
    from w2vvx.training import Trainer

    BATCH, VOCAB, LENGTH, VISUAL, STEPS = 8, 40, 6, 12, int(sys.argv[3])
    print("TIME import", time.time() - T0, file=sys.stderr)
    group = ProcessGroup.join()
    rank, world = group.rank, group.world_size
    config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, dropout=0.0)
    batches = []
    for step in range(STEPS):
        rng = np.random.default_rng(step)
        ids = rng.integers(1, VOCAB, (BATCH, LENGTH)).astype("int32")
        ids[:, 4:] = 0
        batches.append({"tokens": ids, "bow_tokens": ids, "visual": rng.random((BATCH, VISUAL), dtype="float32")})

    def grads(model):
        return [np.asarray(v.value.grad.detach()).copy() for v in model.trainable_variables]

    keras.utils.set_random_seed(1 + rank)  # different initial weights: distribute() must copy process 0's
    model = build_model(config, VOCAB, VOCAB, VISUAL)
    group.distribute(model)
    start = [w.copy() for w in model.get_weights()]
    rows = BATCH // world
    losses, first_grads = [], None
    for batch in batches:
        shard = {k: v[rank * rows:(rank + 1) * rows] for k, v in batch.items()}
        losses.append(float(np.asarray(model.train_on_batch(shard))))
        first_grads = first_grads or grads(model)
    weights = model.get_weights()
    out = {}
    if rank == 0:
        reference = build_model(config, VOCAB, VOCAB, VISUAL)
        reference.set_weights(start)
        single, single_grads = [], None
        for batch in batches:
            single.append(float(np.asarray(reference.train_on_batch(batch))))
            single_grads = single_grads or grads(reference)
        probe = build_model(config, VOCAB, VOCAB, VISUAL)
        probe.set_weights(start)
        half = {k: v[:rows] for k, v in batches[0].items()}
        shard_loss = float(keras.ops.convert_to_numpy(probe.compute_loss(half, y_pred=probe(half), training=False)))
        diff = lambda a, b: max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
        out = {"losses": losses, "single_losses": single, "shard_loss": shard_loss,
               "max_gradient_difference": diff(first_grads, single_grads),
               "max_gradient": max(float(np.max(np.abs(g))) for g in single_grads),
               "max_weight_difference": diff(weights, reference.get_weights()),
               "max_weight_change": diff(start, reference.get_weights())}
    text = torch.arange(4.0).reshape(4, 1) + 100 * rank  # K=2 language blocks of 2 rows each
    out["language_blocks"] = gather_rows(text, world, groups=2).reshape(-1).tolist()
    print("TIME steps", time.time() - T0, file=sys.stderr)
    root = Path(sys.argv[2])
    # one copy per process: two processes writing one folder at once race on its final rename
    features, train_captions, val_captions = _make_collection(root / f"data{rank}")
    result = Trainer(_tiny_config(max_epochs=2, dropout=0.0), root / "run", train_captions, features,
                     val_captions, verbose=0, seed=3).fit()
    out.update(rank=rank, epochs=result.epochs_done, history=result.history, weights_after=[
        float(np.sum(np.abs(w))) for w in model.get_weights()])
    print("TIME trainer", time.time() - T0, file=sys.stderr)
    print("RESULT " + json.dumps(out), flush=True)
    """
)

DEATH = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from w2vvx.errors import DistributedError
    from w2vvx.models import build_model, get_config
    from w2vvx.training.distributed import ProcessGroup

    group = ProcessGroup.join()
    model = build_model(get_config("w2vvpp", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8), 9, 9, 3)
    group.distribute(model)
    if group.rank == 1:
        os._exit(7)  # dies without a word, as a killed process does
    ids = np.ones((2, 3), "int32")
    try:
        with group.failures():
            model.train_on_batch({"tokens": ids, "bow_tokens": ids, "visual": np.ones((2, 3), "float32")})
    except DistributedError as error:
        print("STOPPED " + str(error), flush=True)
        sys.exit(3)
    print("NO ERROR", flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(script, *args, timeout=240, extra_env=None):
    """Two processes of ``script`` with torchrun's variables, on loopback; returns [(rc, stdout, stderr)]."""
    pytest.importorskip("torch")
    port = str(_free_port())
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    processes = []
    for rank in range(2):
        env = dict(os.environ, KERAS_BACKEND="torch", RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                   LOCAL_WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1",
                   TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=python_path, CUDA_VISIBLE_DEVICES="",
                   **(extra_env or {}))
        processes.append(subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            results.append((process.returncode, out, err))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return results


def _result(stdout: str) -> dict:
    line = [line for line in stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_two_torch_processes_train_as_one_process_on_the_global_batch(tmp_path):
    results = _launch(EQUALITY, REPO / "tests", tmp_path, STEPS)
    for rc, out, err in results:
        assert rc == 0, err[-4000:]
        print([line for line in err.splitlines() if line.startswith("TIME")])
    main, other = (_result(out) for _, out, _ in results)
    print({key: value for key, value in main.items() if key not in ("history", "weights_after")})
    assert main["max_weight_change"] > 1e-4  # the steps really trained
    for distributed, single in zip(main["losses"], main["single_losses"]):
        assert distributed == pytest.approx(single, rel=1e-5, abs=1e-6)
    assert main["max_gradient"] > 1e-3
    assert main["max_gradient_difference"] < 1e-5
    assert main["max_weight_difference"] < 1e-5
    # Negatives from the shard alone give another loss: the distributed loss used the global batch.
    assert abs(main["shard_loss"] - main["single_losses"][0]) > 1e-3
    # Both processes ended with the same weights, and the Trainer ran its epochs on both.
    assert main["weights_after"] == pytest.approx(other["weights_after"], rel=1e-6)
    assert main["epochs"] == other["epochs"] == 2
    assert main["history"] == other["history"]  # process 0's validation logs, broadcast
    # 1-to-K text rows are K language blocks: each block is gathered on its own, in process order
    assert main["language_blocks"] == other["language_blocks"] == [0, 1, 100, 101, 2, 3, 102, 103]
    run = tmp_path / "run"
    assert (run / "best.keras").is_file() and (run / "history.csv").is_file()
    assert [path.name for path in (run / "checkpoints").iterdir()] == ["epoch-0002"]
    assert len((run / "history.csv").read_text().splitlines()) == 3


@pytest.mark.slow
def test_a_dead_process_stops_the_others_with_a_clear_error():
    results = _launch(DEATH, timeout=240, extra_env={"W2VVX_DIST_TIMEOUT": "60"})
    (main_rc, main_out, main_err), (dead_rc, _, _) = results
    assert dead_rc == 7
    assert main_rc == 3, main_out + main_err[-3000:]
    assert "another process of this run died" in main_out and "--resume" in main_out


def test_launch_environment_reads_torchrun_variables():
    env = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.2", "MASTER_PORT": "29500"}
    launch = launch_environment(env)
    assert (launch.rank, launch.world_size, launch.local_rank, launch.master_addr, launch.master_port) == \
        (1, 4, 1, "10.0.0.2", 29500)
    assert launch_environment({"WORLD_SIZE": "1"}) is None
    with pytest.raises(ConfigError, match="MASTER_ADDR"):
        launch_environment({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_PORT": "1"})
    with pytest.raises(ConfigError, match="outside"):
        launch_environment(dict(env, RANK="4"))


class _Batches(keras.utils.PyDataset):
    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.epochs = []

    def __len__(self):
        return 2

    def __getitem__(self, index):
        rows = np.arange(self.batch_size) + 100 * index
        return ({"visual": rows, "tokens": rows[:, None] * np.ones((1, 3), int)},)

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def test_sharded_batches_split_every_global_batch_in_process_order():
    data = _Batches(6)
    shards = [ShardedBatches(data, rank, 3) for rank in range(3)]
    for index in range(len(data)):
        joined = np.concatenate([shard[index][0]["visual"] for shard in shards])
        assert joined.tolist() == data[index][0]["visual"].tolist()
        assert shards[1][index][0]["tokens"].shape == (2, 3)
    shards[0].set_epoch(4)
    assert data.epochs == [4]
    with pytest.raises(ConfigError, match="multiple of 4"):
        ShardedBatches(_Batches(6), 0, 4)


def test_a_short_last_batch_gives_every_process_the_same_number_of_rows():
    class Short(_Batches):
        def __getitem__(self, index):
            rows = np.arange(self.batch_size if index == 0 else (5, 1)[index - 1]) + 100 * index
            return ({"visual": rows},)

        def __len__(self):
            return 3

    data = Short(6)
    shards = [ShardedBatches(data, rank, 2) for rank in range(2)]
    assert [shard[1][0]["visual"].tolist() for shard in shards] == [[100, 101], [102, 103]]  # row 104 left out
    assert [shard[2][0]["visual"].tolist() for shard in shards] == [[200], [200]]  # fewer rows than processes


def test_torchrun_variables_on_another_backend_are_refused(monkeypatch):
    if keras.backend.backend() == "torch":
        pytest.skip("the refusal concerns JAX and TensorFlow")
    from w2vvx.training.distributed import ProcessGroup

    env = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    with pytest.raises(ConfigError, match="torch backend"):
        ProcessGroup.join(environ=env)
