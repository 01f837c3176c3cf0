#!/usr/bin/env python3
"""Training throughput of the library's named models through ``model.fit``, against plain PyTorch.

What is measured is the product: ``w2vvx.models.build_model(get_config(NAME), ...)`` at the lineage's
sizes (vocabulary 10,000 for the GRU and the BoW, embedding 500, GRU 1024, word2vec 500, visual 2048,
common space 2048; anchors §1.5), or with ``--size small`` the ``small`` preset that the main job trains
(GRU 128, embeddings 64, vocabulary 2,000), compiled with the config's own optimizer, trained by
``model.fit`` on NumPy arrays (random post-padded sentences of 8-32 tokens, padded to 32). ``nrccr`` is
built by ``build_nrccr_model`` with NRCCR's default loss weights and trains on three views of each
sentence (source, machine translation, back-translation): its rate is per visual item, not comparable
one to one with the single-encoder reference.

One measurement is one process: a warm-up ``fit`` of ``--warmup`` batches (compilation, cuDNN autotuning),
then one timed ``fit`` epoch of ``--steps`` batches (default 20). The baseline is ``torch_reference.py``
(plain PyTorch, packed GRU, the W2VV++ model with a max-violation loss and RMSprop) with the same warm-up,
steps, batch, device and threads. ``--repeats`` rounds (default 3) run every implementation once per
round, in the same order (reference, then each model on each backend: ABAB interleaving), so that a
change of the machine's load touches every column alike. A cell is the median samples/s with min-max;
a ratio is taken per round against that round's reference, then summarised the same way.

The table is printed as Markdown and written as JSON (``--out``, default
``benchmarks/results/train_<device>_<size>_t<threads>.json``) with the command, the machine (CPU model,
cores, threads, RAM), the load average before and after every measurement, package versions and the
git commit. ``--check STORED.json`` reruns what the stored table holds (its own options unless given
again) and exits with status 1, one ``FAIL`` line per ratio, when a rerun's median ratio lies outside the
stored min-max widened by ``--floor`` (default 5%) of the stored median (``_common.check_tables``).

Usage:
    python benchmarks/bench_train.py [--configs w2vvpp,w2vv_attention_ctl] [--batches 128]
        [--backends jax,tensorflow,torch] [--device auto|cpu|gpu] [--size lineage|small] [--steps 20]
        [--warmup 3] [--repeats 3] [--precision float32] [--threads 1] [--out PATH] [--check STORED]

On a CPU every child is pinned to ``--threads`` threads (OpenMP, BLAS, TensorFlow's pools, XLA's
Eigen pool, ``torch.set_num_threads``). With ``--threads 1`` on the CPU steps are timed in process CPU
seconds (the reference too), which other processes competing for the cores barely change; otherwise
in wall seconds.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import check_tables, machine_info, summarize_rows, uptime_load  # noqa: E402

SIZES = dict(vocab=10000, embed=500, gru=1024, w2v=500, visual=2048, space=2048, maxlen=32, min_length=8)
#: the ``small`` preset that the main job trains (``w2vvx.models.sizes``: GRU 128, embeddings 64; the test
#: ``tests/test_bench_check.py`` keeps the two equal); vocabulary of a small collection
SMALL_SIZES = dict(SIZES, vocab=2000, embed=64, gru=128, w2v=64)
BACKENDS = ("jax", "tensorflow", "torch")
REFERENCE = "torch_reference"
MIN_TIMED_STEPS = 20


def _portable_path(word):
    """A command-line word with this checkout's location taken out (a stored table names no machine's paths)."""
    for root, shown in ((str(REPO) + os.sep, ""), (str(REPO.parent) + os.sep, "../")):
        word = word.replace(root, shown)
    return word


def thread_env(threads):
    """Environment that pins the math libraries of a child process to ``threads`` threads."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[name] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["OMP_WAIT_POLICY"] = env.get("OMP_WAIT_POLICY", "PASSIVE")
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "multi_thread_eigen" not in f and "intra_op" not in f]
    if threads == 1:  # XLA's CPU runtime ignores OMP_NUM_THREADS and starts one Eigen thread per core
        flags += ["--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1"]
    env["XLA_FLAGS"] = " ".join(flags)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def pin_threads(threads):
    """Pin this process's math libraries to ``threads`` threads (call before keras is imported)."""
    os.environ.update({k: v for k, v in thread_env(threads).items() if k != "PYTHONPATH"})
    if "torch" in os.environ.get("KERAS_BACKEND", "") or "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)


def set_backend_threads(backend, threads):
    """Pin the current process (``backend`` is about to be imported) and return a line saying how."""
    os.environ["KERAS_BACKEND"] = backend
    pin_threads(threads)
    return (f"threads per process: {threads} (OMP/MKL/OpenBLAS, TF intra-op {threads} / inter-op 1, "
            f"torch.set_num_threads({threads}), XLA_FLAGS={os.environ.get('XLA_FLAGS') or 'default'})")


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


def sized_model(name, size):
    """The library's model ``name`` at ``size`` (``lineage`` or ``small``) and the sizes it was built with."""
    from w2vvx.models import build_model, get_config
    from w2vvx.models.sizes import sized_config

    sizes = SIZES if size == "lineage" else SMALL_SIZES
    published = get_config(name) if size == "lineage" else sized_config(name, "small")
    # the lineage rows share the reference's common space (2048); the small preset keeps its own
    space = {"common_space_dim": sizes["space"]} if published.common_space_dim and size == "lineage" else {}
    config = published.replace(embed_dim=sizes["embed"], gru_units=sizes["gru"], w2v_dim=sizes["w2v"], **space)
    if config.name == "nrccr":
        from w2vvx.models.nrccr import build_nrccr_model

        return build_nrccr_model(config, gru_vocab_size=sizes["vocab"], bow_vocab_size=sizes["vocab"],
                                 visual_dim=sizes["visual"]), config, sizes
    return build_model(config, gru_vocab_size=sizes["vocab"], bow_vocab_size=sizes["vocab"],
                       visual_dim=sizes["visual"]), config, sizes


def run_keras_worker(args):
    backend = os.environ["KERAS_BACKEND"]
    pin_threads(args.threads)
    import keras
    import numpy as np

    from w2vvx.training.placement import dtype_policy, matmul_mode

    keras.utils.set_random_seed(0)
    with dtype_policy(args.precision):
        model, config, sizes = sized_model(args.config, args.size)

    def inputs(count, seed):
        if config.name == "nrccr":
            return nrccr_inputs(count, model.nrccr_weights, sizes)
        return random_inputs(count, sizes, seed=seed, negatives=config.loss == "ctl")

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    epoch_seconds = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = clock()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(clock() - self.start)  # fit syncs the loss at epoch end

    with matmul_mode(args.precision):
        model.fit(inputs(args.batch * args.warmup, 2), batch_size=args.batch, epochs=1, shuffle=False, verbose=0)
        history = model.fit(inputs(args.batch * args.steps, 1), batch_size=args.batch, epochs=1, shuffle=False,
                            verbose=0, callbacks=[EpochTimer()])
    rate = args.batch * args.steps / epoch_seconds[-1]
    from w2vvx.devices import training_device

    device = "cpu" if os.environ.get("CUDA_VISIBLE_DEVICES") == "" else training_device(backend)
    step = getattr(model, "torch_train_step", None)
    graphs = None if step is None else {"captured": len(step.graphs), "refused": sorted(set(step.refused.values()))}
    print(json.dumps({"impl": f"w2vvx {backend}", "samples_per_s": rate, "device": device,
                      "loss": float(np.asarray(history.history["loss"][-1])),
                      "epoch_seconds": round(epoch_seconds[-1], 3), "cuda_graphs": graphs}))


def one_core():
    """Pin the calling process to one core (the first it may use): at ``--threads 1`` XLA's CPU runtime runs a
    second thread whatever ``XLA_FLAGS`` say, and the CPU clock would charge it to JAX."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run_child(command, threads, backend=None, hide_gpu=False):
    env = thread_env(threads)
    if hide_gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    if backend:
        env["KERAS_BACKEND"] = backend
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          preexec_fn=one_core if threads == 1 else None)
    if done.returncode != 0:
        print(f"[{backend or 'reference'}] failed (exit {done.returncode}):\n{done.stderr[-2500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference_rate(args, device, batch):
    sizes = SIZES if args.size == "lineage" else SMALL_SIZES
    swap_clock = "time.perf_counter = time.process_time; " if args.clock == "cpu" else ""
    launcher = (f"import runpy, sys, time; {swap_clock}sys.argv = sys.argv[1:]; "
                "runpy.run_path(sys.argv[0], run_name='__main__')")
    shape = ["--vocab", str(sizes["vocab"]), "--embed", str(sizes["embed"]), "--gru", str(sizes["gru"]),
             "--w2v", str(sizes["w2v"]), "--visual", str(sizes["visual"]), "--space", str(sizes["space"])]
    return run_child([sys.executable, "-c", launcher, str(args.reference), "--steps", str(args.steps),
                      "--warmup", str(args.warmup), "--batch", str(batch), "--threads", str(args.threads),
                      "--device", device, "--json", *shape], args.threads)


def row_key(config, batch, precision):
    return f"{config} b{batch} {precision}"


def measure(args, device, on_round=None):
    """``--repeats`` interleaved rounds over the reference and every (config, backend); the table's rows.

    ``on_round(rows, log, rounds_done)``, when given, receives the summary of the rounds done so far after
    each round (so that a run stopped by a time limit keeps its finished rounds)."""
    torch_device = "cuda" if device == "gpu" else "cpu"
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "--threads", str(args.threads), "--clock",
          args.clock, "--steps", str(args.steps), "--warmup", str(args.warmup), "--size", args.size]
    rows, log = {}, []
    for config in args.configs:
        for batch in args.batches:
            for precision in args.precision:
                rows[row_key(config, batch, precision)] = {
                    "config": config, "batch": batch, "precision": precision,
                    "runs": {impl: [] for impl in [REFERENCE] + args.backends}}
    for round_ in range(args.repeats):
        for batch in args.batches:
            before = uptime_load()
            reference = reference_rate(args, torch_device, batch)
            rate = None if reference is None else reference["samples_per_s"]
            log.append({"round": round_, "impl": REFERENCE, "batch": batch, "samples_per_s": rate,
                        "load_before": before, "load_after": uptime_load()})
            print(f"  round {round_ + 1}: {REFERENCE} b{batch}: {rate and f'{rate:,.1f}'} samples/s "
                  f"(load {before['1min']})", file=sys.stderr, flush=True)
            for row in rows.values():
                if row["batch"] == batch:
                    row["runs"][REFERENCE].append(rate)
            for config in args.configs:
                for precision in args.precision:
                    row = rows[row_key(config, batch, precision)]
                    for backend in args.backends:
                        before = uptime_load()
                        result = run_child(me + ["--config", config, "--batch", str(batch), "--precision", precision],
                                           args.threads, backend, hide_gpu=device == "cpu")
                        rate = None if result is None else result["samples_per_s"]
                        row["runs"][backend].append(rate)
                        entry = {"round": round_, "impl": backend, "config": config, "batch": batch,
                                 "precision": precision, "samples_per_s": rate, "load_before": before,
                                 "load_after": uptime_load()}
                        if result is not None:
                            entry.update(device=result["device"], loss=result["loss"],
                                         timed_epoch_s=result["epoch_seconds"], cuda_graphs=result["cuda_graphs"])
                        log.append(entry)
                        print(f"  round {round_ + 1}: {backend} {config} b{batch} {precision}: "
                              f"{rate and f'{rate:,.1f}'} samples/s (load {before['1min']})", file=sys.stderr, flush=True)
        if on_round is not None and round_ + 1 < args.repeats:
            on_round(summarize_rows(rows, REFERENCE), log, round_ + 1)
    return summarize_rows(rows, REFERENCE), log


def markdown(table):
    impls = [REFERENCE] + table["options"]["backends"]
    lines = ["| model | batch | precision | " + " | ".join(impls) + " |", "|---|---:|---|" + "---:|" * len(impls)]
    for row in table["rows"].values():
        cells = []
        for impl in impls:
            rate = row["rate"].get(impl)
            if rate is None:
                cells.append("failed")
                continue
            cell = f"{rate['median']:,.1f} ({rate['min']:,.1f}-{rate['max']:,.1f})"
            ratio = row["ratio"].get(impl)
            if ratio is not None:
                cell += f" **{ratio['median']:.2f}x** ({ratio['min']:.2f}-{ratio['max']:.2f})"
            cells.append(cell)
        lines.append(f"| {row['config']} | {row['batch']} | {row['precision']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


OPTIONS = ("configs", "batches", "backends", "precision", "steps", "warmup", "repeats", "threads", "clock", "size")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default=None, help="named configs, comma-separated (default w2vvpp,w2vv_attention_ctl)")
    parser.add_argument("--batches", default=None, help="batch sizes, comma-separated (default 128)")
    parser.add_argument("--backends", default=None, help="default jax,tensorflow,torch")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="auto: a CPU table, and a GPU table when nvidia-smi lists a GPU")
    parser.add_argument("--size", choices=["lineage", "small"], default=None, help="model sizes (default lineage)")
    parser.add_argument("--precision", default=None,
                        help="precisions, comma-separated: float32 (default), tf32, mixed_bfloat16, mixed_float16 "
                             "(w2vvx.training.placement.PRECISIONS)")
    parser.add_argument("--steps", type=int, default=None, help=f"timed batches per measurement (default {MIN_TIMED_STEPS})")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up batches per measurement (default 3)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of every child process (default 1)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default=None,
                        help="time in wall seconds or process CPU seconds (default: cpu on the CPU with "
                             "--threads 1, robust to other processes; wall otherwise, always on a GPU)")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                        help="torch_reference.py (default: ../shared/bench/torch_reference.py beside the checkout)")
    parser.add_argument("--out", type=Path, default=None, help="JSON table to write (default under benchmarks/results/)")
    parser.add_argument("--check", type=Path, default=None, metavar="STORED",
                        help="rerun the stored table's measurements and exit 1 when a ratio leaves its stored spread")
    parser.add_argument("--floor", type=float, default=None,
                        help="--check: widen the stored min-max by this fraction of the stored median (default 0.05)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stored = None
    if args.check is not None:
        if not args.check.is_file():
            parser.error(f"--check: no stored table at {args.check}")
        stored = json.loads(args.check.read_text())
        if "options" not in stored or "rows" not in stored:
            parser.error(f"--check: {args.check} is not a table written by bench_train.py (no 'options'/'rows')")
    defaults = dict(configs="w2vvpp,w2vv_attention_ctl", batches="128", backends=",".join(BACKENDS),
                    precision="float32", steps=MIN_TIMED_STEPS, warmup=3, repeats=3, threads=1, size="lineage")
    for name in OPTIONS:
        if getattr(args, name) is None:
            value = stored["options"][name] if stored is not None and name in stored["options"] else defaults.get(name)
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            setattr(args, name, value)
    if args.threads < 1 or args.steps < 1 or args.warmup < 1 or args.repeats < 1:
        parser.error(f"--threads, --steps, --warmup and --repeats must be >= 1, got {args.threads}, "
                     f"{args.steps}, {args.warmup}, {args.repeats}")
    if args.worker:
        return run_keras_worker(args)
    args.configs = [c.strip() for c in str(args.configs).split(",") if c.strip()]
    args.backends = [b.strip() for b in str(args.backends).split(",") if b.strip()]
    args.precision = [p.strip() for p in str(args.precision).split(",") if p.strip()]
    try:
        args.batches = [int(b) for b in str(args.batches).split(",") if b.strip()]
    except ValueError:
        parser.error(f"--batches must be comma-separated integers, got {args.batches!r}")
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"--backends: unknown {unknown}; expected a comma-separated subset of {list(BACKENDS)}")
    if not args.reference.is_file():
        parser.error(f"the reference script {args.reference} is missing; pass --reference PATH")
    has_gpu = gpu_visible()
    device = stored["device"] if stored is not None and args.device == "auto" else args.device
    devices = {"auto": ["cpu"] + (["gpu"] if has_gpu else []), "cpu": ["cpu"], "gpu": ["gpu"]}[device]
    if "gpu" in devices and not has_gpu:
        parser.error("--device gpu: nvidia-smi lists no GPU on this machine")
    if args.clock is None:
        args.clock = "cpu" if args.threads == 1 and devices == ["cpu"] else "wall"
    if args.clock == "cpu" and "gpu" in devices:
        parser.error("--clock cpu cannot time GPU work; use --clock wall (or --device cpu)")
    if args.steps < MIN_TIMED_STEPS:
        print(f"warning: {args.steps} timed steps per measurement (< {MIN_TIMED_STEPS}): report the figures only "
              "if every measurement lasted >= 10 s (timed_epoch_s / the rate in the table's log)", file=sys.stderr)
    command = "python benchmarks/bench_train.py " + " ".join(
        _portable_path(word) for word in (sys.argv[1:] if argv is None else argv))
    print(f"clock: {args.clock}; threads per process: {args.threads}; cpu count {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.2f}; GPU visible: {has_gpu}; size {args.size}")
    status = 0
    for device in devices:
        start = uptime_load()
        out = args.out or REPO / "benchmarks" / "results" / f"train_{device}_{args.size}_t{args.threads}.json"
        if stored is not None and args.out is None:
            out = out.with_name(out.stem + "_check.json")
        if len(devices) > 1 and args.out is not None:
            out = out.with_name(f"{out.stem}_{device}{out.suffix}")
        out.parent.mkdir(parents=True, exist_ok=True)

        def table_of(rows, log, rounds_done):
            return {"command": command, "device": device, "machine": dict(machine_info(), threads=args.threads),
                    "load_start": start, "load_end": uptime_load(), "rounds_done": rounds_done,
                    "options": {name: getattr(args, name) for name in OPTIONS}, "rows": rows, "log": log}

        partial = out.with_name(out.stem + "_partial" + out.suffix)
        rows, log = measure(args, device, on_round=lambda *done: partial.write_text(
            json.dumps(table_of(*done), indent=1) + "\n"))
        partial.unlink(missing_ok=True)
        table = table_of(rows, log, args.repeats)
        print(f"\n### {device.upper()}, {args.size} sizes: samples/s of model.fit, median (min-max) of {args.repeats} "
              f"interleaved rounds of {args.steps} timed steps; ratio = w2vvx / {REFERENCE}, per round\n")
        print(markdown(table))
        print(f"\nload average (1 min) {start['1min']} at start, {table['load_end']['1min']} at end; "
              f"commit {table['machine']['git_commit']}{' (dirty)' if table['machine']['git_dirty'] else ''}")
        out.write_text(json.dumps(table, indent=1) + "\n")
        print(f"table written to {out}")
        if stored is not None:
            floor = 0.05 if args.floor is None else args.floor
            problems = check_tables(stored, table, floor)
            for line in problems:
                print(line)
            print(f"check against {args.check}: {'FAILED, ' + str(len(problems)) + ' ratio(s)' if problems else 'passed'}")
            status = 1 if problems else status
    return status


if __name__ == "__main__":
    sys.exit(main())
