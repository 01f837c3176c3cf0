#!/usr/bin/env python3
"""Where a torch training step of a library model goes on the GPU: kernels, host waits, TF32 or not.

The model is the library's own at the sizes of ``bench_train.py`` (``sized_model``: lineage sizes, or
``--size small``), trained by ``model.fit`` on NumPy arrays as ``bench_train.py`` trains it, on the torch
backend with ``TorchTrainStep`` (CUDA graphs). For every (batch, precision, graphs on/off) the script
runs a warm-up ``fit``, times one ``fit`` epoch of ``--steps`` batches (the GPU synchronised at both ends),
then records ``--profile-steps`` more under ``torch.profiler`` and reports per step:

- wall time and samples/s; GPU kernel time (the sum of the kernels' durations) and the kernel count;
- the host waits (``cudaStreamSynchronize``, ``cudaDeviceSynchronize``, ``cudaMemcpy``), graph launches;
- the ``--top`` kernels by GPU time, with their share.

``--sync-sources`` then trains ``--profile-steps`` more batches under ``torch.cuda.set_sync_debug_mode("warn")``
and counts, per step, the host waits by the line of w2vvx's, Keras's or torch's Python code that caused them
(a wait stalls the host until the GPU has finished the queued work, so the GPU idles while the host then
prepares the next step).

``--matmul`` first times an 8192 x 8192 float32 product in torch (``highest`` and ``high`` = TF32) and in
JAX (``float32`` and the default precision), so that the backends' float32 defaults are measured, not
assumed. Results go to stdout as Markdown and to ``--out`` as JSON.

Usage: KERAS_BACKEND=torch python benchmarks/profile_gpu_step.py [--config nrccr] [--batches 128,1024]
       [--precision float32,tf32] [--graphs on,off] [--steps 50] [--profile-steps 10] [--top 15]
       [--matmul] [--sync-sources] [--out PATH]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import nrccr_inputs, random_inputs, sized_model  # noqa: E402

WAITS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaMemcpy", "cudaMemcpyAsync", "cudaGraphLaunch",
         "cudaLaunchKernel")


def matmul_rates(size=8192, repeats=10):
    """TFLOP/s of a float32 ``size``-cube product: torch at ``highest`` and ``high``; JAX at float32 and default."""
    import torch

    flop = 2 * size ** 3
    a = torch.randn(size, size, device="cuda")
    rates = {}
    previous = torch.get_float32_matmul_precision()
    for mode in ("highest", "high"):
        torch.set_float32_matmul_precision(mode)
        for _ in range(3):
            a @ a
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            a @ a
        torch.cuda.synchronize()
        rates[f"torch {mode}"] = flop * repeats / (time.perf_counter() - start) / 1e12
    torch.set_float32_matmul_precision(previous)
    del a
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return rates
    x = jax.random.normal(jax.random.PRNGKey(0), (size, size), dtype=jnp.float32)
    for label, precision in (("jax float32", "float32"), ("jax default", None)):
        product = jax.jit(lambda m, p=precision: jnp.matmul(m, m, precision=p))
        for _ in range(3):
            product(x).block_until_ready()
        start = time.perf_counter()
        for _ in range(repeats):
            out = product(x)
        out.block_until_ready()
        rates[label] = flop * repeats / (time.perf_counter() - start) / 1e12
    return rates


def sync_sources(fit, steps):
    """Host waits per step of ``fit()`` by the Python line that caused them (torch's sync debug mode)."""
    import collections
    import traceback
    import warnings

    import torch

    counts = collections.Counter()
    original = warnings.showwarning

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchroniz" not in str(message):
            return original(message, category, filename, lineno, file, line)
        frames = [f for f in traceback.extract_stack()[:-1] if "/warnings.py" not in f.filename]
        ours = [f for f in frames if "/torch/" not in f.filename] or frames
        counts[" <- ".join(f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno}" for f in ours[-1:-4:-1])] += 1

    warnings.showwarning = record
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = record
            fit()
            torch.cuda.synchronize()
    finally:
        torch.cuda.set_sync_debug_mode(0)
        warnings.showwarning = original
    return {where: count / steps for where, count in counts.most_common()}


def profile_one(name, size, batch, precision, graphs, steps, profile_steps, top, find_syncs=False):
    import keras
    import torch
    from torch.profiler import ProfilerActivity, profile

    from w2vvx.training.placement import dtype_policy, matmul_mode

    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        model, config, sizes = sized_model(name, size)
    model.cuda_graphs = graphs

    def inputs(count, seed):
        if config.name == "nrccr":
            return nrccr_inputs(count, model.nrccr_weights, sizes)
        return random_inputs(count, sizes, seed=seed, negatives=config.loss == "ctl")

    with matmul_mode(precision):
        model.fit(inputs(batch * 5, 2), batch_size=batch, epochs=1, shuffle=False, verbose=0)
        data = inputs(batch * steps, 1)
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.fit(data, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        torch.cuda.synchronize()
        wall = (time.perf_counter() - start) / steps
        data = inputs(batch * profile_steps, 3)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            model.fit(data, batch_size=batch, epochs=1, shuffle=False, verbose=0)
            torch.cuda.synchronize()
        syncs = None
        if find_syncs:
            data = inputs(batch * profile_steps, 4)
            syncs = sync_sources(lambda: model.fit(data, batch_size=batch, epochs=1, shuffle=False, verbose=0),
                                 profile_steps)
    events = prof.key_averages()
    kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    gpu_us = sum(e.self_device_time_total for e in kernels)
    calls = {e.key: e.count / profile_steps for e in events if e.key in WAITS}
    ranked = sorted(kernels, key=lambda e: e.self_device_time_total, reverse=True)[:top]
    step = getattr(model, "torch_train_step", None)
    return {
        "config": name, "size": size, "batch": batch, "precision": precision, "graphs": graphs,
        "ms_per_step": wall * 1e3, "samples_per_s": batch / wall,
        "gpu_ms_per_step": gpu_us / profile_steps / 1e3,
        "kernels_per_step": sum(e.count for e in kernels) / profile_steps,
        "host_calls_per_step": calls,
        "captured": None if step is None else len(step.graphs),
        "sync_sources_per_step": syncs,
        "top": [{"kernel": e.key[:90], "per_step": e.count / profile_steps,
                 "ms_per_step": e.self_device_time_total / profile_steps / 1e3,
                 "share": e.self_device_time_total / max(gpu_us, 1)} for e in ranked],
    }


def markdown(result):
    lines = [f"### {result['config']} ({result['size']}), batch {result['batch']}, {result['precision']}, "
             f"graphs {'on' if result['graphs'] else 'off'}",
             f"{result['ms_per_step']:.2f} ms/step ({result['samples_per_s']:,.0f} samples/s); GPU kernels "
             f"{result['gpu_ms_per_step']:.2f} ms/step, {result['kernels_per_step']:.0f} kernels/step; captured "
             f"graphs {result['captured']}; host calls/step "
             + ", ".join(f"{k} {v:g}" for k, v in sorted(result["host_calls_per_step"].items())), "",
             "| kernel | per step | ms/step | share |", "|---|---:|---:|---:|"]
    lines += [f"| `{row['kernel']}` | {row['per_step']:g} | {row['ms_per_step']:.3f} | {row['share']:.1%} |"
              for row in result["top"]]
    if result.get("sync_sources_per_step") is not None:
        lines += ["", "| host wait caused by | per step |", "|---|---:|"]
        lines += [f"| `{where}` | {count:g} |" for where, count in result["sync_sources_per_step"].items()]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="nrccr")
    parser.add_argument("--size", choices=["lineage", "small"], default="lineage")
    parser.add_argument("--batches", default="128,1024")
    parser.add_argument("--precision", default="float32,tf32")
    parser.add_argument("--graphs", default="on", help="on, off or on,off: TorchTrainStep's CUDA graphs")
    parser.add_argument("--steps", type=int, default=50, help="timed batches per setting")
    parser.add_argument("--profile-steps", type=int, default=10, help="batches recorded by the profiler")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--matmul", action="store_true", help="first time float32 products in torch and JAX")
    parser.add_argument("--sync-sources", action="store_true", help="count host waits per step by their Python line")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU (torch.cuda.is_available() is False)")
    report = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "results": []}
    if args.matmul:
        report["matmul_tflops"] = matmul_rates()
        print("float32 8192^3 product, TFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                            report["matmul_tflops"].items()), flush=True)
    for batch in (int(b) for b in args.batches.split(",")):
        for precision in args.precision.split(","):
            for graphs in args.graphs.split(","):
                result = profile_one(args.config, args.size, batch, precision, graphs == "on", args.steps,
                                     args.profile_steps, args.top, args.sync_sources)
                report["results"].append(result)
                print(markdown(result) + "\n", flush=True)
                if args.out:
                    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
