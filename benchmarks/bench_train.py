#!/usr/bin/env python3
"""Training throughput of the W2VV++-shaped model on each Keras backend against the plain-PyTorch reference.

Shapes follow the lineage (anchors §1.5): vocabulary 10,000, embedding 500, GRU 1024 unidirectional mean-pooled
over real tokens, sentence lengths 8-32 padded to 32, word2vec 500, visual 2048, common space 2048, batch 128,
max-violation ranking loss (margin 0.2), RMSprop, global gradient clip 2. Every measurement runs in its own
subprocess with the same thread count: the reference (``../shared/bench/torch_reference.py``), NumPy's float32
matmul (the roofline yardstick) and one process per backend (``KERAS_BACKEND`` set before keras is imported).

Usage:
    python benchmarks/bench_train.py [--threads 2] [--steps 10] [--warmup 3] [--quick] [--clock cpu|wall]
                                     [--backends jax,tensorflow,torch] [--profile]

On a shared machine use ``--threads 1 --clock cpu`` (the default with one thread): every process, the reference
included (its ``time.perf_counter`` is swapped for ``time.process_time``), then times its steps in CPU seconds,
which other processes competing for the cores barely change; wall-clock ratios taken minutes apart do not
survive a changing load.
Prints a Markdown table: backend, samples/s, ratio vs reference, useful GFLOP/s, fraction of NumPy matmul rate.
"Useful" GFLOP counts the GRU only over real tokens (padding excluded), forward + backward = 3x forward.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "bench" / "torch_reference.py"
SHAPES = dict(batch=128, vocab=10000, embed=500, gru=1024, w2v=500, visual=2048, space=2048, maxlen=32)
BACKENDS = ("jax", "tensorflow", "torch")


def thread_env(threads):
    """Environment that pins every math library of a child process to ``threads`` threads."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[name] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    xla = env.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in xla:
        xla += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["XLA_FLAGS"] = xla.strip()
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def useful_gflop_per_sample(mean_length, s=SHAPES):
    """Forward+backward (3x forward) matmul GFLOP of one sample, GRU counted over real tokens only."""
    gru = 3 * 2 * (s["embed"] * s["gru"] + s["gru"] * s["gru"]) * mean_length
    fc = 2 * (s["vocab"] + s["w2v"] + s["gru"]) * s["space"] + 2 * s["visual"] * s["space"]
    return 3 * (gru + fc) / 1e9


def random_batch(s=SHAPES, seed=1):
    """Random batch with the reference's recipe: lengths 8..maxlen, post-padded ids, BoW counts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, s["maxlen"] + 1, size=s["batch"])
    ids = rng.integers(1, s["vocab"], size=(s["batch"], s["maxlen"])).astype("int32")
    ids[np.arange(s["maxlen"])[None, :] >= lengths[:, None]] = 0
    bow = np.zeros((s["batch"], s["vocab"]), "float32")
    np.add.at(bow, (np.repeat(np.arange(s["batch"]), s["maxlen"]), ids.ravel()), 1.0)
    bow[:, 0] = 0
    w2v = rng.normal(size=(s["batch"], s["w2v"])).astype("float32")
    visual = rng.random((s["batch"], s["visual"]), dtype="float32")
    return {"tokens": ids, "bow": bow, "w2v": w2v, "visual": visual}, lengths


def build_w2vvpp(keras, s=SHAPES, dropout=0.2, gru="masked"):
    """The W2VV++ text and visual encoders at benchmark sizes; output = [text ‖ visual] embeddings (B, 2*space).

    The library's builder (``w2vvx.models.builder``) is not there yet, so the model is assembled here
    from Keras layers and ``w2vvx.layers.recurrent.MaskedGRU``.
    """
    from keras import ops

    from w2vvx.layers.recurrent import MaskedGRU

    tokens = keras.Input((s["maxlen"],), dtype="int32", name="tokens")
    bow = keras.Input((s["vocab"],), name="bow")
    w2v = keras.Input((s["w2v"],), name="w2v")
    visual = keras.Input((s["visual"],), name="visual")
    embedded = keras.layers.Embedding(s["vocab"], s["embed"], mask_zero=True)(tokens)
    if gru == "keras":  # the straightforward model: Keras's own GRU (carried outputs; pooling masks them)
        states = keras.layers.GRU(s["gru"], return_sequences=True, reset_after=True)(embedded)
        states = states * ops.expand_dims(ops.cast(ops.not_equal(tokens, 0), states.dtype), -1)
    else:
        states = MaskedGRU(s["gru"], return_sequences=True, zero_output_for_mask=True)(embedded)
    lengths = ops.sum(ops.cast(ops.not_equal(tokens, 0), "float32"), axis=1, keepdims=True)
    gru_mean = ops.sum(states, axis=1) / ops.maximum(lengths, 1.0)
    text = keras.layers.Concatenate()([bow, w2v, gru_mean])

    def embed(x):
        x = keras.layers.Dense(s["space"], activation="tanh")(x)
        x = keras.layers.Dropout(dropout)(x)
        return keras.layers.UnitNormalization()(x)

    text_embedding = embed(text)
    output = keras.layers.Concatenate()([text_embedding, embed(visual)])
    model = keras.Model({"tokens": tokens, "bow": bow, "w2v": w2v, "visual": visual}, output)
    model.text_encoder = keras.Model({"tokens": tokens, "bow": bow, "w2v": w2v}, text_embedding)
    return model


def max_violation_loss(margin, space):
    """VSE++ max-violation hinge, both directions, summed (as the reference); y_true is unused."""
    import keras
    from keras import ops

    class MaxViolation(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return per_sample(y_pred)

    def per_sample(y_pred):
        text, visual = y_pred[:, :space], y_pred[:, space:]
        scores = ops.matmul(text, ops.transpose(visual))
        diagonal = ops.diagonal(scores)
        off_diagonal = 1.0 - ops.eye(ops.shape(scores)[0], dtype=scores.dtype)
        cost_text = ops.relu(margin + scores - diagonal[:, None]) * off_diagonal
        cost_visual = ops.relu(margin + scores - diagonal[None, :]) * off_diagonal
        return ops.max(cost_text, axis=1) + ops.max(cost_visual, axis=0)

    return MaxViolation(reduction="sum", name="max_violation")


def set_backend_threads(backend, threads):
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        return f"torch.get_num_threads()={torch.get_num_threads()}"
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return f"tf intra={tf.config.threading.get_intra_op_parallelism_threads()} inter=1"
    return f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"


def clock(args):
    return time.process_time if args.clock == "cpu" else time.perf_counter


def run_keras_worker(args):
    backend = os.environ["KERAS_BACKEND"]
    import keras
    import numpy as np

    thread_info = set_backend_threads(backend, args.threads)
    keras.utils.set_random_seed(0)
    model = build_w2vvpp(keras, gru=args.gru)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-4, rho=0.99, global_clipnorm=2.0),
                  loss=max_violation_loss(0.2, SHAPES["space"]))
    x, lengths = random_batch()
    y = np.zeros((SHAPES["batch"], 1), "float32")
    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    now = clock(args)
    start = now()
    for _ in range(args.steps):
        loss = model.train_on_batch(x, y)
    elapsed = now() - start
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    gflop = useful_gflop_per_sample(float(lengths.mean()))
    rate = args.steps * SHAPES["batch"] / elapsed
    print(json.dumps({"impl": f"{backend} ({args.gru} GRU)", "samples_per_s": rate, "gflop_per_sample": gflop,
                      "gflops": rate * gflop,
                      "threads": thread_info, "loss": float(np.asarray(loss))}))


def run_numpy_worker(args):
    import numpy as np

    rng = np.random.default_rng(0)
    n = 2048
    a = rng.random((n, n), dtype="float32")
    b = rng.random((n, n), dtype="float32")
    a @ b
    repeats = 5
    now = clock(args)
    start = now()
    for _ in range(repeats):
        a @ b
    elapsed = now() - start
    print(json.dumps({"impl": "numpy_matmul", "gflops": repeats * 2 * n ** 3 / elapsed / 1e9}))


def run_child(command, threads, backend=None):
    env = thread_env(threads)
    if backend:
        env["KERAS_BACKEND"] = backend
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.stderr.strip() and "--profile" in command:
        print(done.stderr, file=sys.stderr)
    if done.returncode != 0:
        print(f"[{backend or command[1]}] failed (exit {done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for every child process (default 2)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per backend")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    parser.add_argument("--quick", action="store_true", help="3 timed steps after 2 warm-up steps")
    parser.add_argument("--clock", choices=["cpu", "wall"], default=None,
                        help="time steps in process CPU seconds or wall seconds (default: cpu with 1 thread)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--compare-keras-gru", action="store_true",
                        help="also time each backend with keras.layers.GRU instead of MaskedGRU")
    parser.add_argument("--gru", choices=["masked", "keras"], default="masked", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary of each backend's steps")
    parser.add_argument("--worker", choices=["keras", "numpy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup = 3, 2
    if args.threads < 1 or args.steps < 1 or args.warmup < 0:
        parser.error(f"--threads and --steps must be >= 1 and --warmup >= 0, got "
                     f"{args.threads}, {args.steps}, {args.warmup}")
    if args.clock is None:
        args.clock = "cpu" if args.threads == 1 else "wall"
    if args.worker == "keras":
        return run_keras_worker(args)
    if args.worker == "numpy":
        return run_numpy_worker(args)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"--backends: unknown {unknown}; expected a comma-separated subset of {list(BACKENDS)}")
    if not REFERENCE.is_file():
        parser.error(f"the reference script {REFERENCE} is missing (it sits in ../shared/bench beside the checkout)")
    me = [sys.executable, str(Path(__file__).resolve()), "--threads", str(args.threads),
          "--steps", str(args.steps), "--warmup", str(args.warmup), "--clock", args.clock]
    me += ["--profile"] if args.profile else []
    print(f"threads per process: {args.threads}; clock: {args.clock}; "
          f"steps: {args.steps} timed after {args.warmup} warm-up; batch {SHAPES['batch']}; "
          f"cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}")
    numpy_rate = run_child(me + ["--worker", "numpy"], args.threads)["gflops"]
    swap_clock = "time.perf_counter = time.process_time; " if args.clock == "cpu" else ""
    reference_launcher = (f"import runpy, sys, time; {swap_clock}sys.argv = sys.argv[1:]; "
                          "runpy.run_path(sys.argv[0], run_name='__main__')")
    reference = run_child([sys.executable, "-c", reference_launcher, str(REFERENCE), "--steps", str(args.steps),
                           "--warmup", str(args.warmup), "--threads", str(args.threads), "--json"], args.threads)
    rows = [("torch_reference", reference)]
    for backend in backends:
        rows.append((f"{backend} (MaskedGRU)", run_child(me + ["--worker", "keras"], args.threads, backend)))
        if args.compare_keras_gru:
            rows.append((f"{backend} (keras.layers.GRU)",
                         run_child(me + ["--worker", "keras", "--gru", "keras"], args.threads, backend)))
    gflop = reference["gflop_per_sample"]
    print(f"\nuseful work: {gflop:.3f} GFLOP/sample (padding excluded); "
          f"NumPy float32 matmul: {numpy_rate:.1f} GFLOP/s\n")
    print("| backend | samples/s | vs reference | useful GFLOP/s | fraction of NumPy matmul | threads |")
    print("|---|---:|---:|---:|---:|---|")
    for name, result in rows:
        if result is None:
            print(f"| {name} | failed | | | | |")
            continue
        rate = result["samples_per_s"]
        print(f"| {name} | {rate:.1f} | {rate / reference['samples_per_s']:.2f}x | {rate * gflop:.1f} | "
              f"{rate * gflop / numpy_rate:.2f} | {result.get('threads', args.threads)} |")


if __name__ == "__main__":
    main()
