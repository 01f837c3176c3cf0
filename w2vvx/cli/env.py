"""``w2vvx env``: versions, backend, devices, rootpath, and the device each backend would train on."""
from __future__ import annotations

import os
import platform

import click

from w2vvx.cli.common import settings_of


@click.command("env")
@click.option("--expect-gpu", is_flag=True,
              help="Exit with status 3, naming them, when an installed backend would train on the CPU (the "
                   "set-up runs this after installing the GPU builds).")
@click.pass_context
def command(ctx, expect_gpu):
    """Print the environment: versions, Keras backend, devices, rootpath, each backend's device."""
    import keras
    import numpy

    from w2vvx.devices import describe_backends, device_names

    settings = settings_of(ctx)
    lines = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "w2vvx": _version(),
        "keras": keras.__version__,
        "keras backend": keras.backend.backend(),
        "numpy": numpy.__version__,
        "rootpath": f"{settings.rootpath} ({settings.rootpath_source})",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "devices": ", ".join(device_names()),
    }
    trains_on = describe_backends()
    for backend, device in trains_on.items():
        lines[f"{backend} trains on"] = device
    for package in ("tensorflow", "torch", "jax", "gensim", "jieba", "h5py"):
        lines[package] = _package_version(package)
    width = max(len(key) for key in lines)
    for key, value in lines.items():
        click.echo(f"{key:<{width}}  {value}")
    on_cpu = [backend for backend, device in trains_on.items()
              if device == "cpu" or device.startswith(("cpu:", "error:"))]  # "not installed" is no failure
    if expect_gpu and on_cpu:
        click.echo(f"w2vvx env: GPU builds were expected, but {', '.join(on_cpu)} would not train on a GPU. Check the "
                   "driver (nvidia-smi; torch 2.13's wheel needs CUDA 13, TensorFlow and JAX CUDA 12) and which "
                   "builds pip installed (pip list: a version ending in '+cpu' is a CPU build; pip config list "
                   "shows a find-links or extra index that can supply one), then reinstall.", err=True)
        ctx.exit(3)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("w2vvx")
    except Exception:  # not installed (running from a checkout)
        return "0.1.0 (source checkout)"


def _package_version(name: str) -> str:
    from importlib.metadata import version

    for distribution in ((name, "tensorflow") if name == "tensorflow-cpu" else
                         ("tensorflow-cpu", "tensorflow") if name == "tensorflow" else (name,)):
        try:
            return version(distribution)
        except Exception:
            continue
    return "not installed"
