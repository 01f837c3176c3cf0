#!/usr/bin/env python3
"""GFLOP/s of one float32 matrix product per backend on the CPU: the ceiling every model step here works under.

The product is the GRU's per-step recurrent one at the lineage's sizes (``--shape 128x1024x3072``: batch x units x
3·units). Each backend runs in its own process pinned to ``--threads`` threads (``bench_train.thread_env``; at one
thread also to one core, as ``bench_train.py`` pins its children), the
product compiled as its train step would compile it (JAX ``jit``, TensorFlow ``tf.function``, torch eager, NumPy's
BLAS as a yardstick), timed in process CPU seconds over ``--steps`` products after two warm-ups; ``--repeats``
rounds run the backends in the same order, and a cell is the median with min-max.

Usage:
    python benchmarks/bench_matmul_cpu.py [--threads 1] [--shape 128x1024x3072] [--steps 50] [--repeats 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BACKENDS = ("numpy", "torch", "jax", "tensorflow")


def measure(backend, shape, steps):
    import numpy as np

    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.random((m, k), dtype="float32"), rng.random((k, n), dtype="float32")
    if backend == "numpy":
        run = lambda: a @ b  # noqa: E731
    elif backend == "torch":
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        run = lambda: ta @ tb  # noqa: E731
    elif backend == "jax":
        import jax

        product = jax.jit(lambda x, y: x @ y)
        ja, jb = jax.numpy.asarray(a), jax.numpy.asarray(b)
        run = lambda: product(ja, jb).block_until_ready()  # noqa: E731
    else:
        import tensorflow as tf

        product = tf.function(lambda x, y: tf.matmul(x, y))
        ta, tb = tf.constant(a), tf.constant(b)
        run = lambda: product(ta, tb).numpy()  # noqa: E731
    run()
    run()
    start = time.process_time()
    for _ in range(steps):
        run()
    return 2 * m * k * n * steps / (time.process_time() - start) / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shape", default="128x1024x3072", help="M x K x N of the product (default 128x1024x3072)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        shape = tuple(int(size) for size in args.shape.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) <= 0:
        parser.error(f"--shape must be three positive sizes MxKxN, e.g. 128x1024x3072; got {args.shape!r}")
    backends = args.backends.split(",")
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"--backends takes {', '.join(BACKENDS)}; got {unknown}")
    if args.child:
        print(json.dumps({"gflops": measure(args.child, shape, args.steps)}))
        return 0
    from bench_train import one_core, thread_env

    env = thread_env(args.threads)
    results = {backend: [] for backend in backends}
    for round_index in range(args.repeats):
        for backend in backends:
            child_env = dict(env, KERAS_BACKEND=backend if backend != "numpy" else "tensorflow")
            done = subprocess.run([sys.executable, __file__, "--child", backend, "--shape", args.shape,
                                   "--steps", str(args.steps), "--threads", str(args.threads)],
                                  env=child_env, capture_output=True, text=True,
                                  preexec_fn=one_core if args.threads == 1 else None)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            results[backend].append(json.loads(done.stdout.strip().splitlines()[-1])["gflops"])
            print(f"  round {round_index + 1}: {backend}: {results[backend][-1]:.1f} GFLOP/s", flush=True)
    load = os.getloadavg()[0]
    print(f"\n{args.shape} float32, {args.threads} thread(s), GFLOP/s per process CPU second, median (min-max) of "
          f"{args.repeats} rounds; load average {load:.2f}\n")
    print("| backend | GFLOP/s |\n|---|---:|")
    for backend in backends:
        values = results[backend]
        print(f"| {backend} | {statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
