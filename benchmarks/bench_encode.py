#!/usr/bin/env python3
"""Query encoding throughput (sentences/s) of the W2VV++-shaped text encoder per Keras backend, batch 1 and 256.

Same model and sizes as ``bench_train.py`` (vocabulary 10,000, embedding 500, GRU 1024, word2vec 500, common
space 2048, sentence lengths 8-32 padded to 32); inference mode (``predict_on_batch``, dropout off). Each backend
runs in its own subprocess with the same thread count.

Usage: python benchmarks/bench_encode.py [--threads 2] [--seconds 5] [--backends jax,tensorflow,torch]
With ``--threads 1`` the timing is in process CPU seconds (robust to other processes sharing the cores).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import BACKENDS, SHAPES, build_w2vvpp, random_batch, set_backend_threads, thread_env  # noqa: E402

BATCH_SIZES = (1, 256)


def run_worker(args):
    backend = os.environ["KERAS_BACKEND"]
    import keras
    import numpy as np

    thread_info = set_backend_threads(backend, args.threads)
    keras.utils.set_random_seed(0)
    encoder = build_w2vvpp(keras).text_encoder
    results = {"impl": backend, "threads": thread_info}
    for batch in BATCH_SIZES:
        full, _ = random_batch(dict(SHAPES, batch=batch), seed=batch)
        queries = {name: full[name] for name in ("tokens", "bow", "w2v")}
        encoder.predict_on_batch(queries)  # compile / warm up
        encoder.predict_on_batch(queries)
        now = time.process_time if args.threads == 1 else time.perf_counter  # CPU seconds resist a shared machine
        calls, start = 0, now()
        while calls < 2 or now() - start < args.seconds:
            np.asarray(encoder.predict_on_batch(queries))
            calls += 1
        results[f"batch_{batch}"] = calls * batch / (now() - start)
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for every child process (default 2)")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per backend and batch size")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads < 1 or args.seconds <= 0:
        parser.error(f"--threads must be >= 1 and --seconds > 0, got {args.threads}, {args.seconds}")
    if args.worker:
        return run_worker(args)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"--backends: unknown {unknown}; expected a comma-separated subset of {list(BACKENDS)}")
    clock = "cpu" if args.threads == 1 else "wall"
    print(f"threads per process: {args.threads}; clock: {clock}; cpu count {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| backend | batch 1 sentences/s | batch 256 sentences/s | threads |")
    print("|---|---:|---:|---|")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--threads", str(args.threads),
               "--seconds", str(args.seconds)]
    for backend in backends:
        env = thread_env(args.threads)
        env["KERAS_BACKEND"] = backend
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {backend} | failed | failed | |")
            print(done.stderr[-3000:], file=sys.stderr)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {backend} | {result['batch_1']:.1f} | {result['batch_256']:.1f} | {result['threads']} |", flush=True)


if __name__ == "__main__":
    main()
