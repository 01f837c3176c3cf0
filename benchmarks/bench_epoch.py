#!/usr/bin/env python3
"""Seconds per training epoch of the library's own models at the lineage's sizes, on each Keras backend.

The model is the library's: ``build_model(get_config(<config>, batch_size=128), gru_vocab_size=10000,
bow_vocab_size=10000, visual_dim=2048)`` (GRU 1024, word embedding 500, mean word2vec 500, text MLP 2048 → 2048
from the config defaults), trained with ``model.fit`` on a ``keras.utils.PyDataset`` of random batches shaped
like ``CaptionBatchDataset``'s: ``tokens`` (B, 32) int32 post-padded with lengths 8-32, ``bow_tokens`` (B, 32)
int32 (a stopword-filtered subset, shorter), ``visual`` (B, 2048) float32 >= 0, plus ``negative_visual`` for the
pairwise contrastive loss (as the trainer adds for ``loss == "ctl"``); no y. A few distinct batches are made
up front and served in turn, so data loading costs nothing here: the numbers are the model's steps.

Each (config, backend) runs in its own subprocess with ``KERAS_BACKEND`` set and every math library pinned to
``--threads`` threads (``bench_train.thread_env``). A callback records both wall time (``time.perf_counter``) and
process CPU time (``time.process_time``, all threads summed) at the end of every batch; the first ``--warmup``
steps (tracing/compilation) are excluded and the next ``--steps`` are timed. Epoch time = seconds per step ×
ceil(sentences / batch) for each ``--epoch-sizes`` entry (one caption per item per step, as the trainer).

Usage:
    python benchmarks/bench_epoch.py [--threads 2] [--steps 10] [--warmup 2]
        [--configs w2vv_attention_ctl,base_w2vv] [--backends tensorflow,torch,jax]
        [--epoch-sizes "COCO-CN=20021,VATEX=259910"] [--batch-size 128] [--quick]

On a loaded machine the wall time includes waiting for the cores; CPU seconds barely depend on the load but
count every thread (with 2 threads, CPU s/step is up to 2x the wall time of an idle machine). Both are printed.
On a shared machine, also run with ``OMP_WAIT_POLICY=PASSIVE`` in the environment (passed to the children and
printed): PyTorch's OpenMP threads otherwise spin at every barrier while their partner thread waits for a core,
which made torch 7-9x slower in wall time here (see benchmarks/README.md).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, machine_line, markdown_table
from bench_train import set_backend_threads, thread_env

BACKENDS = ("tensorflow", "torch", "jax")
CONFIGS = ("w2vv_attention_ctl", "base_w2vv")
FULL_SIZES = dict(vocab=10000, visual=2048, maxlen=32, min_length=8)
QUICK_SIZES = dict(vocab=300, visual=64, maxlen=12, min_length=3)
QUICK_OVERRIDES = dict(embed_dim=16, w2v_dim=16, gru_units=16, text_mlp=(32,))
DEFAULT_EPOCHS = "COCO-CN train=20021,VATEX train=259910"
DISTINCT_BATCHES = 4


def random_batches(batch_size, sizes, negatives, count=DISTINCT_BATCHES, seed=0):
    """``count`` input dicts shaped like ``CaptionBatchDataset`` batches (ids 0 = padding, 1 = unknown)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    maxlen, vocab = sizes["maxlen"], sizes["vocab"]
    positions = np.arange(maxlen)[None, :]
    batches = []
    for _ in range(count):
        lengths = rng.integers(sizes["min_length"], maxlen + 1, size=batch_size)
        tokens = rng.integers(2, vocab, size=(batch_size, maxlen)).astype("int32")
        tokens[positions >= lengths[:, None]] = 0
        bow_lengths = np.maximum(1, (lengths * rng.uniform(0.5, 1.0, size=batch_size)).astype(int))
        bow_tokens = rng.integers(2, vocab, size=(batch_size, maxlen)).astype("int32")
        bow_tokens[positions >= bow_lengths[:, None]] = 0
        x = {"tokens": tokens, "bow_tokens": bow_tokens,
             "visual": rng.random((batch_size, sizes["visual"]), dtype="float32")}
        if negatives:
            x["negative_visual"] = rng.random((batch_size, sizes["visual"]), dtype="float32")
        batches.append(x)
    return batches


def run_worker(args):
    """One (config, backend): fit ``warmup + steps`` batches, print one JSON line of timings."""
    backend = os.environ["KERAS_BACKEND"]
    import keras
    import numpy as np

    from w2vvx.models.builder import build_model
    from w2vvx.models.configs import get_config

    thread_info = set_backend_threads(backend, args.threads)
    keras.utils.set_random_seed(0)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    config = get_config(args.worker_config, batch_size=args.batch_size, **(QUICK_OVERRIDES if args.quick else {}))
    model = build_model(config, gru_vocab_size=sizes["vocab"], bow_vocab_size=sizes["vocab"],
                        visual_dim=sizes["visual"], word_vectors=None)
    batches = random_batches(config.batch_size, sizes, negatives=config.loss == "ctl")
    total_steps = args.warmup + args.steps

    class RandomBatches(keras.utils.PyDataset):
        def __len__(self):
            return total_steps

        def __getitem__(self, index):
            return (batches[index % len(batches)],)

    class StepClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.marks = []
            self.losses = []

        def on_train_begin(self, logs=None):
            self.marks.append((time.perf_counter(), time.process_time()))

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(float(np.asarray(logs["loss"])))  # waits for the step (async dispatch)
            self.marks.append((time.perf_counter(), time.process_time()))

    step_clock = StepClock()
    model.fit(RandomBatches(), epochs=1, shuffle=False, verbose=0, callbacks=[step_clock])
    marks = step_clock.marks
    first_wall, first_cpu = (marks[1][0] - marks[0][0], marks[1][1] - marks[0][1])
    start, end = marks[args.warmup], marks[total_steps]
    print(json.dumps({
        "config": config.name, "backend": backend, "threads": thread_info,
        "jit_compile": getattr(model, "jit_compile", None), "params": int(model.count_params()),
        "first_step_wall_s": first_wall, "first_step_cpu_s": first_cpu,
        "step_wall_s": (end[0] - start[0]) / args.steps, "step_cpu_s": (end[1] - start[1]) / args.steps,
        "final_loss": step_clock.losses[-1], "finite": bool(np.isfinite(step_clock.losses).all()),
    }))


def parse_epoch_sizes(text):
    """``"name=sentences,..."`` -> list of (name, sentences)."""
    sizes = []
    for part in text.split(","):
        name, _, count = part.partition("=")
        if not name.strip() or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"--epoch-sizes: expected name=sentences pairs separated by commas "
                             f"(e.g. {DEFAULT_EPOCHS!r}), got {part!r}")
        sizes.append((name.strip(), int(count)))
    return sizes


def duration(seconds):
    """Seconds as ``s`` under a minute, ``m:ss`` under an hour, else ``h:mm:ss``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def run_child(command, threads, backend):
    env = thread_env(threads)
    env["KERAS_BACKEND"] = backend
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        print(f"[{backend}] failed (exit {done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def split_list(text, allowed, option, parser):
    values = [value.strip() for value in text.split(",") if value.strip()]
    unknown = sorted(set(values) - set(allowed)) if allowed else []
    if not values or unknown:
        expected = f"a comma-separated subset of {list(allowed)}" if allowed else "a comma-separated list"
        parser.error(f"{option}: expected {expected}, got {text!r}")
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for every child process (default 2)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation; default 2)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="named configs to time, comma-separated")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--batch-size", type=int, default=128, help="sentences per step (default 128)")
    parser.add_argument("--epoch-sizes", default=DEFAULT_EPOCHS,
                        help=f"training sentences per epoch, name=count pairs (default {DEFAULT_EPOCHS!r})")
    parser.add_argument("--quick", action="store_true",
                        help="tiny model and 2 timed steps after 1 warm-up step: checks the script, not the speed")
    parser.add_argument("--worker-config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup = 2, 1
    if args.threads < 1 or args.steps < 1 or args.warmup < 1 or args.batch_size < 1:
        parser.error(f"--threads, --steps, --warmup and --batch-size must be >= 1, got "
                     f"{args.threads}, {args.steps}, {args.warmup}, {args.batch_size}")
    if args.worker_config:
        return run_worker(args)

    configs = split_list(args.configs, None, "--configs", parser)  # names are checked by get_config in the child
    backends = split_list(args.backends, BACKENDS, "--backends", parser)
    try:
        epoch_sizes = parse_epoch_sizes(args.epoch_sizes)
    except ValueError as error:
        parser.error(str(error))
    me = [sys.executable, str(Path(__file__).resolve()), "--threads", str(args.threads), "--steps", str(args.steps),
          "--warmup", str(args.warmup), "--batch-size", str(args.batch_size)] + (["--quick"] if args.quick else [])
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    print(machine_line())
    print(f"threads per process: {args.threads}; {args.steps} timed steps after {args.warmup} warm-up; "
          f"batch {args.batch_size}; vocab {sizes['vocab']} (GRU and BoW), visual {sizes['visual']}, "
          f"maxlen {sizes['maxlen']}{' (QUICK: tiny model)' if args.quick else ''}; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    rows = []
    for config in configs:
        for backend in backends:
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            result = run_child(me + ["--worker-config", config], args.threads, backend)
            print(f"  {config} on {backend}: {time.perf_counter() - started:.0f} s in all, load average "
                  f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}; "
                  + (f"{result['threads']}, jit_compile={result['jit_compile']}, {result['params']:,} weights, "
                     f"loss {result['final_loss']:.4g}" if result else "failed"), flush=True)
            rows.append((config, backend, result))

    epoch_headers = [f"{name} epoch ({math.ceil(count / args.batch_size)} steps) wall / CPU"
                     for name, count in epoch_sizes]
    headers = (["config", "backend", "first step s (wall)", "s/step wall", "s/step CPU", "samples/s (wall)"]
               + epoch_headers)
    table = []
    for config, backend, result in rows:
        if result is None:
            table.append([config, backend, "failed"] + [""] * (len(headers) - 3))
            continue
        wall, cpu = result["step_wall_s"], result["step_cpu_s"]
        cells = [config, backend + ("" if result["finite"] else " (non-finite loss)"),
                 f"{result['first_step_wall_s']:.1f}", f"{wall:.2f}", f"{cpu:.2f}", f"{args.batch_size / wall:.1f}"]
        for _, count in epoch_sizes:
            steps = math.ceil(count / args.batch_size)
            cells.append(f"{duration(wall * steps)} / {duration(cpu * steps)}")
        table.append(cells)
    print("\n" + markdown_table(headers, table))
    print("\nwall = time.perf_counter; CPU = time.process_time of the child (all its threads). "
          "Epoch = s/step x steps (data loading excluded).")


if __name__ == "__main__":
    main()
