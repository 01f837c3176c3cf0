#!/usr/bin/env python3
"""The GRU path that ``MaskedGRU`` takes on this backend against the plain scan over every padded step.

Two measurements on the current ``KERAS_BACKEND`` (CPU, ``--threads`` per process, process CPU seconds):

* ``fit``: one ``model.fit`` step of the library's ``--config`` at lineage sizes, or ``--size small`` (``bench_train.py``'s
  model and random post-padded sentences of ``--lengths`` tokens, padded to 32), once with the layers as
  built (``use_fast_path=True``: ``tf_packed_gru`` on TensorFlow, ``packed_gru`` on torch,
  ``jax_packed_gru`` on JAX) and once with every ``MaskedGRU`` set to ``use_fast_path=False`` (the plain scan);
* ``gru``: the GRU alone (``MaskedGRU``, 500 → 1024, batch 128, forward and backward of a loss on its
  mean output), ``use_fast_path=False`` (the plain scan) against ``use_fast_path=True`` (the path
  the layer takes on this backend);
* ``packed`` (torch only): the GRU alone over the packed batch, forward and backward, ATen's packed GRU
  (``torch.nn.GRU`` on a ``PackedSequence``, what ``torch_reference.py`` runs) against
  :func:`w2vvx.backend.torch_packed_gru.packed_gru` (what ``MaskedGRU`` runs on torch's CPU). In this
  row's table "plain scan" means ATen.

Each (measurement, variant) is one process; ``--repeats`` rounds run them in the same order (ABAB), and a
cell is the median seconds per step with min-max over the rounds; the ratio is plain / variant per round.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/bench_gru_paths.py [--config w2vvpp] [--steps 8]
        [--repeats 3] [--threads 1] [--lengths 8-32] [--size lineage|small]
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


def run_variant(args):
    import bench_train

    bench_train.pin_threads(args.threads)
    import keras
    import numpy as np

    base = bench_train.SIZES if args.size == "lineage" else bench_train.SMALL_SIZES
    sizes = dict(base, min_length=args.min_length, maxlen=32)
    if args.measure == "fit":
        keras.utils.set_random_seed(0)
        model, config, _ = bench_train.sized_model(args.config, args.size)
        if args.variant == "plain":
            from w2vvx.layers.recurrent import MaskedGRU

            for layer in model._flatten_layers():
                if isinstance(layer, MaskedGRU):
                    layer.use_fast_path = False

        def inputs(count, seed):
            return bench_train.random_inputs(count, sizes, seed=seed, negatives=config.loss == "ctl")

        model.fit(inputs(128 * 3, 2), batch_size=128, epochs=1, shuffle=False, verbose=0)
        data = inputs(128 * args.steps, 1)
        start = time.process_time()
        model.fit(data, batch_size=128, epochs=1, shuffle=False, verbose=0)
        return (time.process_time() - start) / args.steps
    if args.measure == "packed":
        return packed_alone(args, sizes)
    return gru_alone(args, sizes, np)


def seconds_per_call(run, steps):
    """Process CPU seconds per call of ``run`` over ``steps`` calls, after two warm-up calls."""
    run()
    run()
    start = time.process_time()
    for _ in range(steps):
        run()
    return (time.process_time() - start) / steps


def packed_alone(args, sizes):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    from w2vvx.backend.torch_packed_gru import packed_gru

    generator = torch.Generator().manual_seed(0)
    batch, steps, features, units = 128, sizes["maxlen"], sizes["embed"], sizes["gru"]
    x = torch.randn(batch, steps, features, generator=generator, requires_grad=True)
    lengths = torch.randint(sizes["min_length"], steps + 1, (batch,), generator=generator)
    aten = torch.nn.GRU(features, units, batch_first=True)
    keras_layout = [torch.randn(features, 3 * units, generator=generator) * 0.02,
                    torch.randn(units, 3 * units, generator=generator) * 0.02, torch.zeros(2, 3 * units)]
    for weight in keras_layout:
        weight.requires_grad_()

    def run():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        if args.variant == "plain":
            states, weights = aten(packed)[0].data, list(aten.parameters())
        else:
            states, weights = packed_gru(packed.data, packed.batch_sizes, *keras_layout), keras_layout
        return torch.autograd.grad(states.square().mean(), [x] + weights)
    return seconds_per_call(run, args.steps)


def gru_alone(args, sizes, np):
    import keras
    from keras import ops

    from w2vvx.layers.recurrent import MaskedGRU

    rng = np.random.default_rng(0)
    batch, steps, features, units = 128, sizes["maxlen"], sizes["embed"], sizes["gru"]
    x = rng.normal(size=(batch, steps, features)).astype("float32")
    lengths = rng.integers(sizes["min_length"], steps + 1, size=batch).astype("int32")
    mask = np.arange(steps)[None, :] < lengths[:, None]
    layer = MaskedGRU(units, return_sequences=True, use_fast_path=args.variant != "plain")
    layer.build((None, steps, features))

    def loss(weights, x):
        out, _ = layer.stateless_call(weights, [], x, mask=mask)
        out = ops.where(mask[..., None], out, 0.0)
        return ops.sum(ops.mean(out, axis=1) ** 2)

    weights = [v.value for v in layer.trainable_variables]
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        step = jax.jit(jax.grad(loss, argnums=(0, 1)))
        run = lambda: jax.block_until_ready(step(weights, x))  # noqa: E731
    elif backend == "tensorflow":
        import tensorflow as tf

        x_t = tf.constant(x)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch([x_t] + weights)
                value = loss(weights, x_t)
            return tape.gradient(value, [x_t] + weights)

        run = lambda: [tf.convert_to_tensor(g).numpy() for g in step()]  # noqa: E731
    else:
        import torch

        x_t = torch.tensor(x, requires_grad=True)

        def run():
            return torch.autograd.grad(loss(weights, x_t), [x_t] + [w for w in weights])
    return seconds_per_call(run, args.steps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="w2vvpp")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lengths", default="8-32", help="sentence lengths min-max, max 32 (default 8-32)")
    parser.add_argument("--size", choices=["lineage", "small"], default="lineage",
                        help="model sizes of the fit measure: lineage, or the small preset the main job trains")
    parser.add_argument("--measures", default="fit,gru",
                        help="fit, gru and (torch) packed, comma-separated (default fit,gru)")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.min_length = int(args.lengths.split("-")[0])
    if args.lengths.split("-")[-1] != "32" or not 1 <= args.min_length <= 32:
        parser.error(f"--lengths must be MIN-32 with 1 <= MIN <= 32, got {args.lengths!r}")
    if args.variant:
        print(json.dumps({"seconds_per_step": run_variant(args)}))
        return 0
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    unknown = set(args.measures.split(",")) - {"fit", "gru", "packed"}
    if unknown or ("packed" in args.measures.split(",") and backend != "torch"):
        parser.error(f"--measures takes fit, gru and packed (packed with KERAS_BACKEND=torch only), "
                     f"got {args.measures!r} on {backend}")
    env = dict(os.environ, KERAS_BACKEND=backend, OMP_NUM_THREADS=str(args.threads))
    results = {}
    for round_index in range(args.repeats):
        for measure in args.measures.split(","):
            for variant in ("plain", "fast"):
                command = [sys.executable, __file__, "--variant", variant, "--measure", measure,
                           "--config", args.config, "--steps", str(args.steps), "--threads", str(args.threads),
                           "--lengths", args.lengths, "--size", args.size]
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return 1
                seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds_per_step"]
                results.setdefault((measure, variant), []).append(seconds)
                print(f"  round {round_index + 1}: {measure} {variant}: {seconds:.3f} s/step", flush=True)
    fast_names = {"fit": "as built (use_fast_path=True)", "gru": "the layer's path (use_fast_path=True)",
                  "packed": "packed_gru (plain = ATen's packed GRU)"}
    print(f"\n{backend}, lengths {args.lengths}, {args.threads} thread(s), process CPU s per step, median (min-max) "
          f"of {args.repeats} rounds; commit {_commit()}\n")
    print("| measure | plain scan | variant | variant s/step | plain / variant |\n|---|---:|---|---:|---:|")
    for measure in args.measures.split(","):
        plain, fast = results[(measure, "plain")], results[(measure, "fast")]
        ratios = [p / f for p, f in zip(plain, fast)]
        print(f"| {measure} | {_cell(plain)} | {fast_names[measure]} | {_cell(fast)} | {_cell(ratios, 'x')} |")
    return 0


def _cell(values, unit=""):
    return (f"{statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})")


def _commit():
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent)
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
