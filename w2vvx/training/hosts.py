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

The :class:`~w2vvx.training.Trainer` (and so ``w2vvx train``) trains on several JAX processes through
:class:`HostGroup`: every process runs the same trainer; the model is built inside ``DataParallel`` over
the devices of every process, so the step is one program over the global batch (negatives from it, one
dropout mask over it, the gradient of the global batch's loss: the same steps as one process with the
same batch); process ``p`` feeds rows ``[p·B/P, (p+1)·B/P)`` of every batch the sampling draws; process 0
alone writes the run folder and validates, on a copy of the weights on its own device
(:func:`~w2vvx.backend.single_device`), and its validation logs, hence the learning-rate and early-stop
decisions, are broadcast to the others. Values cross processes as JSON or arrays, never pickled.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Iterator, Mapping, Optional

import keras
import numpy as np

from w2vvx.backend import single_device
from w2vvx.errors import ConfigError, DistributedError
from w2vvx.training.distributed import ShardedBatches, SharedLogs

logger = logging.getLogger(__name__)


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


def initialize_hosts_when_asked(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
                                process_id: Optional[int] = None, cluster: bool = False,
                                environ: Optional[Mapping[str, str]] = None) -> Optional[HostSettings]:
    """:func:`initialize_hosts` when the arguments or the environment ask for several processes, else nothing.

    Several processes are asked for by ``num_processes`` > 1 (an argument, ``W2VVX_NUM_PROCESSES`` or
    ``KERAS_DISTRIBUTION_NUM_PROCESSES``) or by ``cluster=True`` (JAX reads a SLURM or Open MPI launch).

    Args:
        coordinator, num_processes, process_id: as :func:`initialize_hosts`.
        cluster: let JAX find the processes of a SLURM / Open MPI launch itself.
        environ: the environment to read (default ``os.environ``).

    Returns:
        The settings joined with, or ``None`` when this process trains alone.

    Example:
        >>> initialize_hosts_when_asked(environ={}) is None
        True
    """
    settings = host_settings(coordinator, num_processes, process_id, environ)
    if not cluster and (settings.num_processes or 1) < 2:
        if settings.coordinator is not None or settings.process_id is not None:
            raise ConfigError(f"a coordinator ({settings.coordinator}) or a process id ({settings.process_id}) is "
                              "given but not the number of processes; give --num-processes N (W2VVX_NUM_PROCESSES), "
                              "or --cluster under SLURM / Open MPI")
        return None
    return initialize_hosts(settings.coordinator, settings.num_processes, settings.process_id, environ)


def process_count() -> int:
    """How many processes this JAX job has (1 when :func:`initialize_hosts` was not called, or off JAX)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return int(jax.process_count())


class LocalValidation(keras.callbacks.Callback):
    """Run a validation callback on process 0's own copy of the trained weights, on its own device.

    Args:
        validation: a callback that reads ``self.model`` at the end of an epoch (the trainer's validation).

    The copy is the model's :meth:`~w2vvx.models.task.Task.inference_copy`, made at the first epoch and
    given the trained weights (each process holds them whole: data-parallel variables are replicated)
    before every validation, which then runs inside :func:`~w2vvx.backend.single_device`.
    """

    def __init__(self, validation: keras.callbacks.Callback):
        super().__init__()
        self.validation = validation
        self.copy = None

    def on_epoch_end(self, epoch, logs=None):
        if self.copy is None:
            self.copy = self.model.inference_copy()
        else:
            self.copy.set_weights(self.model.get_weights())
        self.validation.set_model(self.copy)
        with single_device():
            self.validation.on_epoch_end(epoch, logs)


_COLLECTIVE_WORDS = ("gloo", "nccl", "connection", "timed out", "timeout", "deadline", "heartbeat", "coordination",
                     "peer", "unavailable")


class HostGroup:
    """This process's membership of a multi-process JAX job (:func:`initialize_hosts`), for the Trainer.

    Args:
        rank: this process (``jax.process_index()``).
        world_size: the number of processes (``jax.process_count()``).

    Same interface as the torch launch's :class:`~w2vvx.training.distributed.ProcessGroup`; create it with
    :meth:`join`.

    Example:
        >>> HostGroup.join() is None  # a process alone (no initialize_hosts) has no group
        True
        >>> HostGroup(rank=1, world_size=2).is_main
        False
    """

    def __init__(self, rank: int, world_size: int):
        self.rank, self.world_size = int(rank), int(world_size)

    @property
    def is_main(self) -> bool:
        """Process 0: the one that writes the run folder."""
        return self.rank == 0

    @classmethod
    def join(cls) -> Optional["HostGroup"]:
        """The group of this JAX job, or ``None`` when this process is alone (or not on JAX)."""
        if process_count() < 2:
            return None
        import jax

        group = cls(jax.process_index(), jax.process_count())
        logger.info("process %d of %d of a multi-process JAX job (%d devices in all)", group.rank, group.world_size,
                    len(jax.devices()))
        return group

    def close(self) -> None:
        """Nothing to release: the JAX job ends with the processes."""

    # -- collectives ---------------------------------------------------------------------------------
    def broadcast(self, value):
        """Process 0's ``value`` (JSON: numbers, strings, lists, dicts, None) on every process."""
        from jax.experimental import multihost_utils

        data = np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8) if self.is_main else None
        size = int(np.asarray(multihost_utils.broadcast_one_to_all(np.int32(0 if data is None else data.size))))
        buffer = data if data is not None else np.zeros(size, np.uint8)
        shared = np.asarray(multihost_utils.broadcast_one_to_all(buffer), dtype=np.uint8)
        return json.loads(shared.tobytes().decode("utf-8"))

    def share_outcome(self, outcome: Optional[Path]):
        """Process 0: pass the checkpoint it found (a path or ``None``) or the exception its set-up raised;
        the others: receive it, raising process 0's error as a :class:`~w2vvx.errors.DistributedError`."""
        if isinstance(outcome, BaseException):
            shared = self.broadcast(["error", f"{type(outcome).__name__}: {outcome}"])
        else:
            shared = self.broadcast(["ok", None if outcome is None else str(outcome)])
        if shared[0] == "error":
            if not self.is_main:
                raise DistributedError(f"process 0 of {self.world_size} failed to set the run up ({shared[1]}); "
                                       "every process stops")
            return outcome
        return None if shared[1] is None else Path(shared[1])

    def share_word_vectors(self, prepared):
        """Process 0's initial word vectors on every process (the others prepared the vocabularies alone).

        Every process then builds the same model from the same values: JAX checks, variable by variable,
        that the processes of a job create equal replicated values.

        Args:
            prepared: this process's :class:`~w2vvx.training.prepare.PreparedText` (same vocabularies everywhere).

        Returns:
            ``prepared`` with process 0's ``gru_embedding``, ``w2v_embedding``, ``w2v_vocab_embedding``.
        """
        from jax.experimental import multihost_utils

        names = ("gru_embedding", "w2v_embedding", "w2v_vocab_embedding")
        shapes = self.broadcast({name: None if getattr(prepared, name) is None else list(getattr(prepared, name).shape)
                                 for name in names} | {"word_vectors": prepared.word_vectors})
        arrays = {}
        for name in names:
            if shapes[name] is not None:
                local = getattr(prepared, name) if self.is_main else np.zeros(shapes[name], np.float32)
                arrays[name] = np.asarray(multihost_utils.broadcast_one_to_all(np.asarray(local, np.float32)))
            else:
                arrays[name] = None
        return dataclasses.replace(prepared, word_vectors=shapes["word_vectors"], **arrays)

    def distribute(self, model) -> None:
        """Give every process process 0's variables (weights, optimizer state): its word vectors or
        checkpoint are the run's."""
        from jax.experimental import multihost_utils

        optimizer = getattr(model, "optimizer", None)
        variables = list(model.variables) + (list(optimizer.variables) if optimizer is not None else [])
        shared = multihost_utils.broadcast_one_to_all([np.asarray(variable.value) for variable in variables])
        for variable, value in zip(variables, shared):
            variable.assign(np.asarray(value))

    def shard(self, dataset) -> ShardedBatches:
        """This process's slice of every batch of ``dataset``."""
        return ShardedBatches(dataset, self.rank, self.world_size)

    def callback(self, seed: int) -> SharedLogs:
        """The callback that shares process 0's logs (one program over the global batch draws one dropout
        mask for it, so no per-process seeds are needed)."""
        return SharedLogs(self)

    def validation(self, callback: keras.callbacks.Callback) -> keras.callbacks.Callback:
        """Process 0's validation, on its own copy of the weights."""
        return LocalValidation(callback)

    @contextlib.contextmanager
    def failures(self) -> Iterator[None]:
        """Turn a collective that failed (a peer died, stopped, or timed out) into a clear DistributedError."""
        try:
            yield
        except Exception as error:  # JAX raises its runtime errors as one class, whatever the cause
            text = str(error).lower()
            if isinstance(error, (DistributedError, ConfigError)) or not any(word in text for word in _COLLECTIVE_WORDS):
                raise
            raise DistributedError(
                f"process {self.rank} of {self.world_size}: another process of this JAX job died, stopped or did not "
                f"answer ({type(error).__name__}: {str(error).splitlines()[0]}); every process stops. The last "
                "complete epoch's checkpoint is intact: launch every process again with --resume "
                "(Trainer.fit(resume=True))") from error
