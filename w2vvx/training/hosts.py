"""Several JAX processes (hosts) as one data-parallel job, through Keras's own multi-process set-up.

:func:`initialize_hosts` calls ``keras.distribution.initialize`` (on JAX: ``jax.distributed.initialize``)
with a coordinator, a number of processes and this process's id, given as arguments or by the
environment (:func:`host_settings`): the ``W2VVX_COORDINATOR`` / ``W2VVX_NUM_PROCESSES`` /
``W2VVX_PROCESS_ID`` variables, Keras's ``KERAS_DISTRIBUTION_*`` ones, or nothing at all under SLURM or
Open MPI, whose variables JAX reads itself. Afterwards ``keras.distribution.list_devices()`` lists the
devices of every process, and a model built and trained inside
``keras.distribution.DataParallel(devices=keras.distribution.list_devices()).scope()`` takes each
process's own slice of the global batch (process ``p`` of ``P`` feeds rows ``[p·B/P, (p+1)·B/P)``) and
computes the loss over the global batch, so in-batch negatives come from every process, as on one device.
On CPUs the processes exchange data through gloo (``jax_cpu_collectives_implementation``).

The :class:`~w2vvx.training.Trainer` does not train on several JAX processes yet (its validation and
checkpoints read whole arrays on one process); it refuses with a message. Use ``torchrun`` with the
torch backend for a Trainer run on several processes (:mod:`w2vvx.training.distributed`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Optional

import keras

from w2vvx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class HostSettings:
    """The coordinator's ``host:port``, the number of processes and this process's id (``None``: let JAX
    find them, e.g. under SLURM or Open MPI)."""

    coordinator: Optional[str] = None
    num_processes: Optional[int] = None
    process_id: Optional[int] = None


def _integer(name: str, value) -> Optional[int]:
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None


def host_settings(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
                  process_id: Optional[int] = None, environ: Optional[Mapping[str, str]] = None) -> HostSettings:
    """The multi-process settings: the arguments, else ``W2VVX_*`` variables, else ``KERAS_DISTRIBUTION_*``.

    Example:
        >>> host_settings(environ={"W2VVX_COORDINATOR": "10.0.0.1:1234", "W2VVX_NUM_PROCESSES": "2",
        ...                        "W2VVX_PROCESS_ID": "1"})
        HostSettings(coordinator='10.0.0.1:1234', num_processes=2, process_id=1)
    """
    environ = os.environ if environ is None else environ

    def pick(value, *names):
        if value is not None:
            return value
        return next((environ[name] for name in names if environ.get(name, "").strip()), None)

    coordinator = pick(coordinator, "W2VVX_COORDINATOR", "KERAS_DISTRIBUTION_JOB_ADDRESSES")
    if coordinator is not None:
        coordinator = str(coordinator).split(",")[0].strip()  # JAX needs process 0's address only
        if ":" not in coordinator:
            raise ConfigError(f"the coordinator is host:port (process 0's address and a free port), got "
                              f"{coordinator!r}")
    settings = HostSettings(
        coordinator,
        _integer("the number of processes", pick(num_processes, "W2VVX_NUM_PROCESSES",
                                                 "KERAS_DISTRIBUTION_NUM_PROCESSES")),
        _integer("the process id", pick(process_id, "W2VVX_PROCESS_ID", "KERAS_DISTRIBUTION_PROCESS_ID")))
    if settings.num_processes is not None and settings.num_processes < 1:
        raise ConfigError(f"the number of processes must be >= 1, got {settings.num_processes}")
    if None not in (settings.num_processes, settings.process_id) and \
            not 0 <= settings.process_id < settings.num_processes:
        raise ConfigError(f"the process id {settings.process_id} is outside 0..{settings.num_processes - 1}")
    return settings


def initialize_hosts(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
                     process_id: Optional[int] = None, environ: Optional[Mapping[str, str]] = None) -> HostSettings:
    """Join this process to the multi-process JAX job (before any computation); see the module docstring.

    Args:
        coordinator: ``host:port`` of process 0 (default: :func:`host_settings`'s environment).
        num_processes: the number of processes.
        process_id: this process's id, ``0 .. num_processes - 1``.

    Raises:
        ConfigError: not the JAX backend (torch: launch with ``torchrun``; TensorFlow: not supported),
            or inconsistent settings.
    """
    backend = keras.backend.backend()
    if backend != "jax":
        raise ConfigError(f"several hosts through keras.distribution.initialize are supported on the JAX backend; "
                          f"the {backend} backend " + ("trains on several processes under torchrun" if backend ==
                                                       "torch" else "is not supported on several hosts by w2vvx")
                          + " (see docs/distributed.md)")
    import jax

    settings = host_settings(coordinator, num_processes, process_id, environ)
    # CPU devices of different processes exchange data through gloo (without it JAX refuses collectives
    # across CPU processes); GPUs and TPUs keep their own (NCCL, ICI)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize(job_addresses=settings.coordinator, num_processes=settings.num_processes,
                                  process_id=settings.process_id)
    return settings


def process_count() -> int:
    """How many processes this JAX job has (1 when :func:`initialize_hosts` was not called, or off JAX)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return int(jax.process_count())
