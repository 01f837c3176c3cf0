"""The ``w2vvx`` group: global options, the registry of built-in commands, the console entry point.

``--backend`` and ``--rootpath`` are options of the group, so they mean the same in any order. The backend
is set in ``KERAS_BACKEND`` before any command imports Keras (nothing here imports it), so the command runs
on it in this process; a backend whose framework is not installed is refused in one line. When neither
``--backend`` nor ``KERAS_BACKEND`` is given and TensorFlow is not installed, the installed backend is used
(:func:`w2vvx.config.choose_keras_backend`). TensorFlow's C++ log lines are silenced unless ``-v``.
"""
from __future__ import annotations

import logging
import os
import sys

import click

from w2vvx.cli.plugins import PluginGroup
from w2vvx.console import run_command_group

BACKENDS = ("tensorflow", "torch", "jax")

#: The built-in commands: ``{name: "module:attribute"}``, each imported only when used (or listed in --help).
#: A new command is one line here and a module exposing a click object (by convention named ``command``).
COMMANDS = {
    "env": "w2vvx.cli.env:command",
    "generate": "w2vvx.cli.generate:command",
    "vocab": "w2vvx.cli.vocab:command",
    "train": "w2vvx.cli.train:command",
    "evaluate": "w2vvx.cli.evaluate:command",
    "encode": "w2vvx.cli.encode:command",
    "index": "w2vvx.cli.index:command",
    "search": "w2vvx.cli.search:command",
    "do-all": "w2vvx.cli.do_all:command",
    "extract-features": "w2vvx.cli.extract_features:command",
    "collection": "w2vvx.cli.collection:command",
    "serve": "w2vvx.cli.serve:command",
}


def _check_backend(ctx, param, value):
    if value is None or value in BACKENDS:
        return value
    source = ctx.get_parameter_source(param.name)
    if source is not None and source.name == "ENVIRONMENT":
        from w2vvx.errors import ConfigError

        raise ConfigError(f"the environment variable KERAS_BACKEND={value!r} names no Keras backend w2vvx runs on; "
                          f"set it to one of {', '.join(BACKENDS)} (e.g. export KERAS_BACKEND=tensorflow), or unset it")
    raise click.BadParameter(f"--backend is {value!r}, which is no backend w2vvx runs on; use one of "
                             f"{', '.join(BACKENDS)}", ctx=ctx, param=param)


def use_backend(backend, where: str = "--backend") -> None:
    """Make the commands of this process run on ``backend`` (``None``: KERAS_BACKEND, else the installed one).

    Raises:
        ConfigError: the backend's framework is not installed, or Keras already runs on another backend in
            this process (a command called from Python after Keras was imported).
    """
    from w2vvx.config import check_backend_installed, choose_keras_backend

    if backend is None:
        choose_keras_backend()
        return
    check_backend_installed(backend, where)
    if "keras" in sys.modules:
        running = sys.modules["keras"].backend.backend()
        if running != backend:
            from w2vvx.errors import ConfigError

            raise ConfigError(f"{where} {backend}: Keras already runs on {running} in this process; set "
                              f"KERAS_BACKEND={backend} before importing keras or w2vvx's models")
    os.environ["KERAS_BACKEND"] = backend


@click.group(cls=PluginGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--backend", default=None, envvar="KERAS_BACKEND", callback=_check_backend,
              metavar="[" + "|".join(BACKENDS) + "]",
              help="Keras backend (default: $KERAS_BACKEND, else tensorflow, else the installed one).")
@click.option("--rootpath", type=click.Path(file_okay=False), default=None,
              help="VisualSearch root folder (overrides $W2VVX_ROOTPATH and common.ini).")
@click.option("-v", "--verbose", count=True, help="More log output (-v info and tracebacks, -vv debug).")
@click.pass_context
def cli(ctx, backend, rootpath, verbose):
    """w2vvx: cross-lingual cross-modal retrieval (Word2VisualVec lineage) on Keras 3."""
    source = ctx.get_parameter_source("backend")
    use_backend(backend, "KERAS_BACKEND is" if source is not None and source.name == "ENVIRONMENT" else "--backend")
    if verbose == 0:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no absl/oneDNN/cpu_feature_guard lines
    # Spinning OpenMP workers slow torch several times over when a core is busy (benchmarks/README.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("w2vvx").setLevel(level)  # INFO lines only with -v
    for noisy in ("jieba", "tensorflow", "absl", "h5py", "gensim", "smart_open", "jax"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING if noisy == "jieba" else logging.ERROR))
    ctx.ensure_object(dict)
    ctx.obj["rootpath"] = rootpath
    ctx.obj["verbose"] = verbose


def main(argv=None):
    """Entry point of the ``w2vvx`` console script (and ``python -m w2vvx.cli``).

    Prints the command's result, or one message and exits with status 2 for bad input (see
    :func:`w2vvx.console.run_command_group`).
    """
    run_command_group(cli, argv, prog_name="w2vvx")


__all__ = ["BACKENDS", "COMMANDS", "cli", "main", "use_backend"]
