#!/usr/bin/env python3
"""Training throughput of the library's named models through ``model.fit``, against plain PyTorch.

What is measured is the product: ``w2vvx.models.build_model(get_config(NAME), ...)`` at the lineage's
sizes (vocabulary 10,000 for the GRU and the BoW, embedding 500, GRU 1024, word2vec 500, visual 2048,
common space 2048; anchors §1.5), compiled with the config's own optimizer, trained by ``model.fit``
on NumPy arrays (random post-padded sentences of 8-32 tokens, padded to 32). ``nrccr`` is built by
``build_nrccr_model`` with NRCCR's default loss weights and trains on three views of each sentence
(source, machine translation, back-translation), three text encodings per sample: its rate is per
visual item, not comparable one to one with the single-encoder reference. Each epoch runs
``--steps`` batches; the first epoch (compilation, cuDNN autotuning) is not counted and the best of
the following ``--epochs`` is reported, as samples per second.

The baseline is ``torch_reference.py`` (plain PyTorch, packed cuDNN GRU on CUDA, the W2VV++ model
with a max-violation loss and RMSprop), run in the same invocation, on the same device and batch
size. Every measurement is its own subprocess with the same thread settings; ``KERAS_BACKEND`` is set
before keras is imported.

Without a GPU one CPU table is printed. When a GPU is visible (``nvidia-smi`` answers), a GPU table
is printed too, with the reference run with ``--device cuda``; ``--device cpu|gpu`` picks one.

Usage:
    python benchmarks/bench_train.py [--configs w2vvpp,w2vv_attention_ctl] [--batches 128]
        [--backends jax,tensorflow,torch] [--device auto|cpu|gpu] [--steps 10] [--epochs 2]
        [--precision float32,mixed_bfloat16] [--threads 2] [--reference PATH]

Set ``OMP_NUM_THREADS`` deliberately (``--threads`` does it for every child). On a shared 2-core
machine use ``--threads 1 --device cpu``: epochs are then timed in process CPU seconds (the reference
too), which other processes competing for the cores barely change.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = REPO.parent / "shared" / "bench" / "torch_reference.py"
SIZES = dict(vocab=10000, embed=500, gru=1024, w2v=500, visual=2048, space=2048, maxlen=32, min_length=8)
BACKENDS = ("jax", "tensorflow", "torch")


def thread_env(threads):
    """Environment that pins the math libraries of a child process to ``threads`` threads."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[name] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def gpu_visible():
    """True when ``nvidia-smi`` lists at least one GPU."""
    if shutil.which("nvidia-smi") is None:
        return False
    done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return done.returncode == 0 and "GPU" in done.stdout


def random_inputs(count, sizes=SIZES, seed=1, negatives=False):
    """Post-padded token ids (lengths min_length..maxlen) and random visual features, as fit's ``x``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.integers(sizes["min_length"], sizes["maxlen"] + 1, size=count)
    ids = rng.integers(1, sizes["vocab"], size=(count, sizes["maxlen"])).astype("int32")
    ids[np.arange(sizes["maxlen"])[None, :] >= lengths[:, None]] = 0
    x = {"tokens": ids, "bow_tokens": ids.copy(),
         "visual": rng.random((count, sizes["visual"]), dtype="float32")}
    if negatives:
        x["negative_visual"] = rng.random((count, sizes["visual"]), dtype="float32")
    return x


def nrccr_inputs(count, weights, sizes=SIZES):
    """NRCCR's training batch: the visual features and one sentence per text view (source, machine
    translation, back-translation) that the active loss terms of ``weights`` need."""
    x = random_inputs(count, sizes)
    views = ["src"] + (["mt"] if weights.needs_translation else []) + (["bt"] if weights.backtranslation else [])
    for seed, view in enumerate(views, start=2):
        tokens = random_inputs(count, sizes, seed=seed)["tokens"]
        x[f"{view}_tokens"], x[f"{view}_bow_tokens"] = tokens, tokens.copy()
    del x["tokens"], x["bow_tokens"]
    return x


def run_keras_worker(args):
    backend = os.environ["KERAS_BACKEND"]
    import keras
    import numpy as np

    from w2vvx.models import build_model, get_config

    if args.precision != "float32":
        keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(0)
    published = get_config(args.config)  # the lineage's sizes; pinned to the reference's shapes below
    config = published.replace(embed_dim=SIZES["embed"], gru_units=SIZES["gru"], w2v_dim=SIZES["w2v"],
                               **({"common_space_dim": SIZES["space"]} if published.common_space_dim else {}))
    count = args.batch * args.steps
    if config.name == "nrccr":
        from w2vvx.models.nrccr import build_nrccr_model

        model = build_nrccr_model(config, gru_vocab_size=SIZES["vocab"], bow_vocab_size=SIZES["vocab"],
                                  visual_dim=SIZES["visual"])
        x = nrccr_inputs(count, model.nrccr_weights)
    else:
        model = build_model(config, gru_vocab_size=SIZES["vocab"], bow_vocab_size=SIZES["vocab"],
                            visual_dim=SIZES["visual"])
        x = random_inputs(count, negatives=config.loss == "ctl")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    epoch_seconds = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = clock()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(clock() - self.start)  # fit syncs the loss at epoch end

    history = model.fit(x, batch_size=args.batch, epochs=1 + args.epochs, shuffle=False, verbose=0,
                        callbacks=[EpochTimer()])
    rate = args.batch * args.steps / min(epoch_seconds[1:])
    from w2vvx.devices import training_device

    device = "cpu" if os.environ.get("CUDA_VISIBLE_DEVICES") == "" else training_device(backend)
    step = getattr(model, "torch_train_step", None)
    graphs = None if step is None else {"captured": len(step.graphs), "refused": sorted(set(step.refused.values()))}
    print(json.dumps({"impl": f"w2vvx {backend}", "samples_per_s": rate, "device": device,
                      "loss": float(np.asarray(history.history["loss"][-1])),
                      "epoch_seconds": [round(s, 3) for s in epoch_seconds], "cuda_graphs": graphs}))


def run_child(command, threads, backend=None, hide_gpu=False):
    env = thread_env(threads)
    if hide_gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    if backend:
        env["KERAS_BACKEND"] = backend
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"[{backend or 'reference'}] failed (exit {done.returncode}):\n{done.stderr[-2500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference_rate(args, device, batch):
    steps = args.steps * args.epochs
    swap_clock = "time.perf_counter = time.process_time; " if args.clock == "cpu" else ""
    launcher = f"import runpy, sys, time; {swap_clock}sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    return run_child([sys.executable, "-c", launcher, str(args.reference), "--steps", str(steps), "--warmup", str(args.steps),
                      "--batch", str(batch), "--threads", str(args.threads), "--device", device, "--json"],
                     args.threads)


def table(args, device):
    torch_device = "cuda" if device == "gpu" else "cpu"
    print(f"\n### {device.upper()}: samples/s of model.fit (best epoch of {args.epochs} after a warm-up epoch of "
          f"{args.steps} steps); ratio = w2vvx / torch_reference on {torch_device}, same run\n")
    print("| model | batch | precision | torch_reference | " + " | ".join(args.backends) + " |")
    print("|---|---:|---|---:|" + "---:|" * len(args.backends))
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "--threads", str(args.threads), "--clock", args.clock,
          "--steps", str(args.steps), "--epochs", str(args.epochs)]
    for batch in args.batches:
        reference = reference_rate(args, torch_device, batch)
        for config in args.configs:
            for precision in args.precision:
                cells = []
                for backend in args.backends:
                    result = run_child(me + ["--config", config, "--batch", str(batch), "--precision", precision],
                                       args.threads, backend, hide_gpu=device == "cpu")
                    if result is None:
                        cells.append("failed")
                    elif reference is None:
                        cells.append(f"{result['samples_per_s']:,.0f}")
                    else:
                        cells.append(f"{result['samples_per_s']:,.0f} ({result['samples_per_s'] / reference['samples_per_s']:.2f}x)")
                    if result is not None:
                        graphs = result.get("cuda_graphs")
                        graphs = "" if not graphs or "cuda" not in result["device"] else \
                            f", CUDA graphs {graphs['captured']} (refused: {graphs['refused'] or 'none'})"
                        print(f"  [{backend} {config} {batch} {precision}] device {result['device']}, epochs "
                              f"{result['epoch_seconds']} s, loss {result['loss']:.4g}{graphs}", file=sys.stderr)
                ref_cell = "failed" if reference is None else f"{reference['samples_per_s']:,.0f}"
                print(f"| {config} | {batch} | {precision} | {ref_cell} | " + " | ".join(cells) + " |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="w2vvpp,w2vv_attention_ctl", help="named configs, comma-separated")
    parser.add_argument("--batches", default="128", help="batch sizes, comma-separated (e.g. 128,1024)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="auto: a CPU table, and a GPU table when nvidia-smi lists a GPU")
    parser.add_argument("--precision", default="float32",
                        help="Keras dtype policies, comma-separated: float32, mixed_bfloat16, mixed_float16")
    parser.add_argument("--steps", type=int, default=10, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up epoch")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every child process")
    parser.add_argument("--clock", choices=["wall", "cpu"], default=None,
                        help="time epochs in wall seconds or process CPU seconds (default: cpu on the CPU with "
                             "--threads 1, robust to other processes; wall otherwise, always on a GPU)")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                        help="torch_reference.py (default: ../shared/bench/torch_reference.py beside the checkout)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads < 1 or args.steps < 1 or args.epochs < 1:
        parser.error(f"--threads, --steps and --epochs must be >= 1, got {args.threads}, {args.steps}, {args.epochs}")
    if args.worker:
        return run_keras_worker(args)
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.precision = [p.strip() for p in args.precision.split(",") if p.strip()]
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--batches must be comma-separated integers, got {args.batches!r}")
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"--backends: unknown {unknown}; expected a comma-separated subset of {list(BACKENDS)}")
    if not args.reference.is_file():
        parser.error(f"the reference script {args.reference} is missing; pass --reference PATH")
    if args.clock is None:
        args.clock = "cpu" if args.threads == 1 and args.device == "cpu" else "wall"
    has_gpu = gpu_visible()
    devices = {"auto": ["cpu"] + (["gpu"] if has_gpu else []), "cpu": ["cpu"], "gpu": ["gpu"]}[args.device]
    if "gpu" in devices and not has_gpu:
        parser.error("--device gpu: nvidia-smi lists no GPU on this machine")
    if args.clock == "cpu" and "gpu" in devices:
        parser.error("--clock cpu cannot time GPU work; use --clock wall (or --device cpu)")
    print(f"clock: {args.clock}; threads per process: {args.threads}; cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}; "
          f"GPU visible: {has_gpu}; sizes {SIZES}")
    for device in devices:
        table(args, device)


if __name__ == "__main__":
    main()
