#!/usr/bin/env python3
"""Where the torch train step's speed on a GPU comes from: the same library model through ``fit``, step variants.

Each variant trains the library's named model (``build_model(get_config(NAME))`` at the lineage's sizes,
as ``bench_train.py``) with ``model.fit`` on NumPy arrays and reports samples/s, the best of the timed
epochs (the clock synchronises the GPU at each epoch's start and end):

- ``graph``: the default: CUDA graph of the whole step, batches from pinned memory;
- ``keras-data``: CUDA graph, batches through Keras's own NumPy data path (``shuffle="batch"``);
- ``eager``: ``model.cuda_graphs = False`` (the same step, run op by op);
- ``keras-step``: Keras's own torch ``train_step`` (what w2vvx used before ``TorchTrainStep``);
- ``packed-gru``: ``eager`` with the GRU packed on CUDA as well (an experiment: the library runs cuDNN
  over the padded batch on CUDA).

Usage: python benchmarks/bench_torch_step.py [--config w2vvpp] [--batches 128,1024]
       [--variants graph,keras-data,eager,keras-step,packed-gru] [--steps 30] [--epochs 2] [--threads 4]
"""
import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
VARIANTS = ("graph", "keras-data", "eager", "keras-step", "packed-gru")


def rate(name, batch, variant, steps, epochs):
    import keras
    import torch

    from bench_train import SIZES, random_inputs
    from w2vvx.layers import recurrent
    from w2vvx.models import build_model, get_config

    original_gru = recurrent.torch_fused_gru
    if variant == "packed-gru":
        recurrent.torch_fused_gru = functools.partial(original_gru, packed=True)
    try:
        published = get_config(name)
        config = published.replace(embed_dim=SIZES["embed"], gru_units=SIZES["gru"], w2v_dim=SIZES["w2v"],
                                   **({"common_space_dim": SIZES["space"]} if published.common_space_dim else {}))
        keras.utils.set_random_seed(0)
        model = build_model(config, gru_vocab_size=SIZES["vocab"], bow_vocab_size=SIZES["vocab"],
                            visual_dim=SIZES["visual"])
        model.cuda_graphs = variant in ("graph", "keras-data")
        if variant == "keras-step":
            model.train_step = lambda data: keras.Model.train_step(model, data)
        x = random_inputs(batch * steps, negatives=config.loss == "ctl")
        synchronize = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        seconds = []

        class EpochClock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                synchronize()
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                synchronize()
                seconds.append(time.perf_counter() - self.start)

        history = model.fit(x, batch_size=batch, epochs=1 + epochs, verbose=0, callbacks=[EpochClock()],
                            shuffle="batch" if variant == "keras-data" else False)
    finally:
        recurrent.torch_fused_gru = original_gru
    step = model.torch_train_step
    return {"config": name, "batch": batch, "variant": variant, "samples_per_s": round(batch * steps / min(seconds[1:])),
            "cuda_graphs": None if step is None else len(step.graphs),
            "refused": None if step is None else sorted(set(step.refused.values())),
            "loss": [round(float(value), 4) for value in history.history["loss"]]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="w2vvpp")
    parser.add_argument("--batches", default="128,1024")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=30, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after a warm-up epoch")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; expected a comma-separated subset of {list(VARIANTS)}")
    if os.environ["KERAS_BACKEND"] != "torch":
        parser.error(f"this benchmark measures the torch backend; KERAS_BACKEND is {os.environ['KERAS_BACKEND']!r}")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for batch in (int(b) for b in args.batches.split(",") if b.strip()):
        for variant in variants:
            print(json.dumps(rate(args.config, batch, variant, args.steps, args.epochs)), flush=True)


if __name__ == "__main__":
    main()
