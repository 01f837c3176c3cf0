#!/usr/bin/env python3
"""Where one training step of a library model goes, per part, on the current backend (CPU).

The model is the library's own (``build_model(get_config(NAME))`` at the sizes of ``bench_train.py``:
lineage sizes by default, ``--size small`` for the ``small`` preset that the main job trains). Each part
of its step is run on its own, with the model's own layers and weights, as forward + backward (the
gradient with respect to its weights and its float inputs), compiled the way the backend's train step
compiles it (JAX: ``jax.jit``; TensorFlow: ``tf.function`` with the model's ``jit_compile``; torch:
eager, as ``TorchTrainStep`` on the CPU):

- ``gru``: the GRU text encoder (embedding, dropout, ``MaskedGRU``, pooling) on ``tokens``;
- ``w2v``: the mean word2vec (no trained weights: forward only);
- ``projection``: the text head's first part, the mapping or projection into the common space (its input:
  the GRU and word2vec columns of the sentence vector and the BoW ids, ``BagOfWordsDense``);
- ``visual``: the visual projection;
- ``loss``: the model's loss on the two embeddings;
- ``optimizer``: the model's optimizer applying one gradient per trained weight;
- ``fit step``: one step of ``model.fit`` on NumPy arrays (what ``bench_train.py`` times).

``fit step - sum of parts`` is the rest: concatenation, normalisation, the loss tracker, clipping and
``fit``'s own per-step work (batch slicing, conversion, callbacks). Times are the median over ``--repeats``
calls after two warm-up calls, in process CPU seconds (all of the process's threads) and wall seconds.

Usage: KERAS_BACKEND=jax python benchmarks/profile_train_step.py [--config w2vvpp] [--size lineage|small]
       [--batch 128] [--threads 1] [--repeats 5] [--json]
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import pin_threads, random_inputs, sized_model  # noqa: E402


def _timer(fn, repeats):
    for _ in range(2):
        fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def _forward_backward(backend, fn, variables, inputs, jit_compile):
    """A callable running ``fn(inputs)`` forward and backward (gradient w.r.t. ``variables`` and float inputs)."""
    import keras
    import numpy as np

    float_keys = [k for k, v in inputs.items() if np.asarray(v).dtype.kind == "f"]
    if backend == "jax":
        import jax

        def scalar(values, xs):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return keras.ops.sum(fn(xs))

        differentiable = bool(variables) or bool(float_keys)
        if differentiable:
            grad = jax.jit(jax.grad(lambda values, fx, ix: scalar(values, {**fx, **ix}), argnums=(0, 1)))
        else:
            grad = jax.jit(lambda values, fx, ix: scalar(values, {**fx, **ix}))
        values = [v.value for v in variables]
        fx = {k: jax.numpy.asarray(inputs[k]) for k in float_keys}
        ix = {k: jax.numpy.asarray(v) for k, v in inputs.items() if k not in float_keys}
        return lambda: jax.block_until_ready(grad(values, fx, ix))
    if backend == "tensorflow":
        import tensorflow as tf

        xs = {k: tf.convert_to_tensor(v) for k, v in inputs.items()}

        @tf.function(jit_compile=bool(jit_compile))
        def step():
            with tf.GradientTape() as tape:
                for k in float_keys:
                    tape.watch(xs[k])
                out = tf.reduce_sum(fn(xs))
            return [out] + tape.gradient(out, [v.value for v in variables] + [xs[k] for k in float_keys])  # out: not pruned

        return lambda: [getattr(t, "values", t).numpy() for t in step() if t is not None]  # IndexedSlices: sparse gradient
    import torch

    def step():
        xs = {k: torch.as_tensor(v).requires_grad_(k in float_keys) for k, v in inputs.items()}
        out = fn(xs).sum()
        if out.requires_grad:
            out.backward()
        for v in variables:
            v.value.grad = None
    return step


def _optimizer_step(backend, model):
    import keras
    import numpy as np

    optimizer, variables = model.optimizer, model.trainable_variables
    grads = [keras.ops.convert_to_tensor(np.full(tuple(v.shape), 1e-3, "float32")) for v in variables]
    if backend == "jax":
        import jax

        apply = jax.jit(optimizer.stateless_apply)
        state = [v.value for v in optimizer.variables]
        values = [v.value for v in variables]
        return lambda: jax.block_until_ready(apply(state, grads, values))
    if backend == "tensorflow":
        import tensorflow as tf

        apply = tf.function(lambda: optimizer.apply(grads, variables), jit_compile=bool(model.jit_compile))
        return lambda: apply()
    from w2vvx.backend import TorchTrainStep, uses_fast_step

    if uses_fast_step(model):  # fit's step: the update as TorchTrainStep runs it (in place on the CPU)
        train_step = TorchTrainStep(model, cuda_graphs=False)
        return lambda: train_step.update(variables, grads)
    import torch

    def step():
        with torch.no_grad():
            optimizer.apply(grads, variables)
    return step


def profile(args):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model, config, sizes = sized_model(args.config, args.size)
    x = random_inputs(args.batch * (args.repeats + 3), sizes, negatives=config.loss == "ctl")
    batch = {k: v[:args.batch] for k, v in x.items()}
    model.fit(x, batch_size=args.batch, epochs=1, steps_per_epoch=1, verbose=0)  # compile, build the optimizer
    jit = getattr(model, "jit_compile", False)
    multiscale = model.text_encoder.get_layer("multiscale")
    head = model.text_encoder.get_layer("text_head")  # W2VV++: the common-space projection; W2VV: the mapping
    projection = head.get_layer("projection" if any(layer.name == "projection" for layer in head.layers) else "mapping")
    visual = model.visual_encoder.layers[-1]
    rows = []

    def part(name, fn, variables, inputs):
        rows.append((name, *_timer(_forward_backward(backend, fn, variables, inputs, jit), args.repeats)))

    tokens = {"tokens": batch["tokens"]}
    bow_tokens = {"bow_tokens": batch["bow_tokens"]}
    if multiscale.gru is not None:
        part("gru", lambda xs: multiscale.gru(xs["tokens"], training=True), multiscale.gru.trainable_variables, tokens)
    if multiscale.w2v is not None:
        source = multiscale.w2v_source
        part("w2v", lambda xs: multiscale.w2v(xs[source]), multiscale.w2v.trainable_variables, {source: batch[source]})
    text_dim = multiscale.output_dim
    rng = np.random.default_rng(0)
    sentence = {"sentence": rng.random((args.batch, text_dim), dtype="float32")}
    if projection.bow_vocab_size is None:
        part("projection", lambda xs: projection(xs["sentence"], training=True), projection.trainable_variables,
             sentence)
    else:
        part("projection", lambda xs: projection(xs, training=True), projection.trainable_variables,
             {**sentence, **bow_tokens})
    part("visual", lambda xs: visual(xs["visual"], training=True), visual.trainable_variables,
         {"visual": batch["visual"]})
    space = int(projection.compute_output_shape((None, text_dim))[-1])  # the batch size only is read
    emb = {k: (lambda m: m / np.linalg.norm(m, axis=1, keepdims=True))(rng.standard_normal((args.batch, space)).astype("float32"))
           for k in ("text", "visual")}
    loss_vars = list(model.temperature.trainable_variables) if model.temperature is not None else []
    part("loss", lambda xs: model.loss_fn(xs["visual"], xs["text"]), loss_vars, emb)
    rows.append(("optimizer", *_timer(_optimizer_step(backend, model), args.repeats)))
    epoch_cpu, epoch_wall = [], []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, step, logs=None):
            self.c0, self.w0 = time.process_time(), time.perf_counter()

        def on_train_batch_end(self, step, logs=None):
            epoch_cpu.append(time.process_time() - self.c0)
            epoch_wall.append(time.perf_counter() - self.w0)

    # steps are timed between batch callbacks; Keras syncs the loss only at epoch end on JAX/TF, so
    # time the whole epoch as well and report its per-step average
    c0, w0 = time.process_time(), time.perf_counter()
    model.fit(x, batch_size=args.batch, epochs=1, verbose=0, callbacks=[Timer()])
    steps = len(epoch_cpu)
    fit_cpu, fit_wall = (time.process_time() - c0) / steps, (time.perf_counter() - w0) / steps
    parts_cpu = sum(r[1] for r in rows)
    parts_wall = sum(r[2] for r in rows)
    rows.append(("sum of parts", parts_cpu, parts_wall))
    rows.append(("fit step (epoch / steps)", fit_cpu, fit_wall))
    rows.append(("rest: fit step - parts", fit_cpu - parts_cpu, fit_wall - parts_wall))
    return {"backend": backend, "config": args.config, "size": args.size, "batch": args.batch,
            "threads": args.threads, "jit_compile": str(jit), "fit_steps": steps, "samples_per_s_cpu": args.batch / fit_cpu,
            "rows": [{"part": n, "cpu_s": round(c, 4), "wall_s": round(w, 4)} for n, c, w in rows]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="w2vvpp")
    parser.add_argument("--size", choices=["lineage", "small"], default="lineage")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin_threads(args.threads)
    result = profile(args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['backend']} {result['config']} ({result['size']}) batch {result['batch']}, threads {result['threads']}, "
          f"jit_compile {result['jit_compile']}; load average {os.getloadavg()[0]:.2f}")
    fit_cpu = result["rows"][-2]["cpu_s"]
    print("| part | CPU s | wall s | share of fit step (CPU) |\n|---|---:|---:|---:|")
    for row in result["rows"]:
        print(f"| {row['part']} | {row['cpu_s']:.3f} | {row['wall_s']:.3f} | {100 * row['cpu_s'] / fit_cpu:.0f}% |")


if __name__ == "__main__":
    main()
