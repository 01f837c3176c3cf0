"""Training on several processes launched by ``torchrun``: one model replica per process (torch backend).

``torchrun --nproc_per_node N $(which w2vvx) --backend torch train ...`` (or a Python script that
builds a :class:`~w2vvx.training.Trainer`, run under ``torchrun``) starts N processes; each finds the
launcher's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``,
see :func:`launch_environment`) and the trainer then, through :class:`ProcessGroup`:

- joins the process group (NCCL when CUDA is visible, one GPU per process by ``LOCAL_RANK``; gloo on
  CPUs), with a timeout (:data:`TIMEOUT_ENV`, default :data:`DEFAULT_TIMEOUT_S` s) so that a process
  left alone by a dead peer stops with a :class:`~w2vvx.errors.DistributedError` instead of hanging;
- gives process ``r`` of ``W`` the rows ``[r·B/W, (r+1)·B/W)`` of every global batch of ``B`` (the batch
  the sampling chooses on one process, same seed: the epoch visits the data exactly as on one device;
  :class:`ShardedBatches`);
- gathers the embeddings of all processes *with their gradients* before the loss (an all-gather whose
  backward all-reduces the gradient; :meth:`ProcessGroup.gather_outputs`), so in-batch
  negatives come from the global batch and every process computes the global batch's loss;
- averages the gradients over the processes before clipping and the optimizer's update
  (:class:`AveragingTorchTrainStep`, the library's torch step plus one all-reduce). With the gather's
  backward (a sum over processes) the averaged gradient is the gradient of the global batch's loss,
  as on one device;
- lets only process 0 write the run folder (lock, provenance, vocabularies, checkpoints, ``best.keras``,
  ``history.csv``, plots, logs) and validate; the validation logs and every decision taken from them
  (learning-rate halving, early stop) are process 0's, broadcast to the others.

Dropout masks differ per process (their seeds are offset by the rank), as in any data-parallel run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import logging
import os
from typing import Iterator, Mapping, Optional

import keras
import numpy as np

from w2vvx.errors import ConfigError, DistributedError
from w2vvx.backend import TorchTrainStep, clipping_done_by_the_step, fast_path_status, scales_loss

logger = logging.getLogger(__name__)

#: the environment variable with the process group's timeout in seconds (a lost peer is noticed then)
TIMEOUT_ENV = "W2VVX_DIST_TIMEOUT"
#: default timeout: process 0 may prepare the vocabularies and word vectors while the others wait
DEFAULT_TIMEOUT_S = 1800


@dataclasses.dataclass(frozen=True)
class LaunchEnvironment:
    """What ``torchrun`` (or another launcher that sets the same variables) told this process."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


def launch_environment(environ: Optional[Mapping[str, str]] = None) -> Optional[LaunchEnvironment]:
    """The launcher's description of this process, or ``None`` outside a launch of several processes.

    Args:
        environ: the environment to read (default ``os.environ``).

    Raises:
        ConfigError: ``WORLD_SIZE`` > 1 but the other variables are missing or not numbers.

    Example:
        >>> launch_environment({}) is None
        True
        >>> launch_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1",
        ...                     "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}).rank
        1
    """
    environ = os.environ if environ is None else environ
    if environ.get("WORLD_SIZE", "1").strip() in ("", "1"):
        return None
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    missing = [name for name in names if not environ.get(name, "").strip()]
    if missing:
        raise ConfigError(f"WORLD_SIZE={environ.get('WORLD_SIZE')} says this process is one of several, but "
                          f"{missing} are not set; launch with torchrun (it sets RANK, WORLD_SIZE, LOCAL_RANK, "
                          "MASTER_ADDR, MASTER_PORT) or unset WORLD_SIZE to train in one process")
    try:
        env = LaunchEnvironment(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ["LOCAL_RANK"]),
                                environ["MASTER_ADDR"], int(environ["MASTER_PORT"]))
    except ValueError:
        raise ConfigError(f"RANK, WORLD_SIZE, LOCAL_RANK and MASTER_PORT must be integers, got "
                          f"{[environ[name] for name in names]}") from None
    if not 0 <= env.rank < env.world_size:
        raise ConfigError(f"RANK={env.rank} is outside 0..WORLD_SIZE-1 ({env.world_size - 1})")
    return env


def _timeout_s(environ: Mapping[str, str]) -> float:
    text = environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return float(DEFAULT_TIMEOUT_S)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    return value


@functools.lru_cache(maxsize=None)
def _gather_function():
    """The autograd function of :func:`gather_rows` (built on first use: torch is imported only then)."""
    import torch
    import torch.distributed as dist

    class GatherRows(torch.autograd.Function):
        @staticmethod
        def forward(ctx, blocks):  # (groups, b, ...) -> (groups, world·b, ...)
            parts = [torch.empty_like(blocks) for _ in range(dist.get_world_size())]
            dist.all_gather(parts, blocks.contiguous())
            return torch.cat(parts, dim=1)

        @staticmethod
        def backward(ctx, grad):  # the sum over processes of the gradient of this process's rows
            grad = grad.contiguous().clone()
            dist.all_reduce(grad)
            rows = grad.shape[1] // dist.get_world_size()
            return grad[:, dist.get_rank() * rows:(dist.get_rank() + 1) * rows]

    return GatherRows


def gather_rows(tensor, world_size: int, groups: int = 1):
    """Concatenate ``tensor`` of every process along the batch, keeping the gradient path to each.

    Args:
        tensor: a torch tensor ``(groups·b, ...)`` on every process, the same shape everywhere.
        world_size: the number of processes (of the default process group).
        groups: ``tensor`` holds ``groups`` consecutive blocks of ``b`` batch rows (the 1-to-K text
            embeddings are K language blocks); each block is gathered on its own, so the result is
            ``groups`` blocks of ``world_size·b`` rows in process order.

    The backward sums the gradients of every process's copy of the result (one all-reduce): when every
    process computes the same loss of the gathered rows, the gradient reaching a process's rows is
    ``world_size`` times that loss's gradient, and averaging the parameter gradients over the
    processes gives back the one-process gradient.
    """
    rows = tensor.shape[0] // groups
    blocks = tensor.reshape((groups, rows) + tuple(tensor.shape[1:]))
    gathered = _gather_function().apply(blocks)
    return gathered.reshape((groups * rows * world_size,) + tuple(tensor.shape[1:]))


class AveragingTorchTrainStep(TorchTrainStep):
    """:class:`~w2vvx.backend.TorchTrainStep` whose gradients are averaged over the processes (one
    all-reduce of all gradients) before the global-norm clipping and the update."""

    def gradients(self, x, y, sample_weight, variables, tracker):
        import torch
        import torch.distributed as dist

        clipnorm = self.optimizer.global_clipnorm
        with clipping_done_by_the_step(self.optimizer):  # clip the averaged gradients below, not the local ones
            logs = super().gradients(x, y, sample_weight, variables, tracker)
        parameters = [variable.value for variable in variables]
        for parameter in parameters:  # every process reduces the same list, in the same order
            if parameter.grad is None:
                parameter.grad = torch.zeros_like(parameter)
        flat = torch.cat([parameter.grad.reshape(-1) for parameter in parameters])
        dist.all_reduce(flat)
        flat.div_(dist.get_world_size())
        offset = 0
        for parameter in parameters:
            size = parameter.grad.numel()
            parameter.grad.copy_(flat[offset:offset + size].view_as(parameter.grad))
            offset += size
        if clipnorm:
            with torch.no_grad():
                torch.nn.utils.clip_grad_norm_(parameters, clipnorm, foreach=True)
        return logs


class ShardedBatches(keras.utils.PyDataset):
    """Process ``rank``'s slice of every batch of ``dataset`` (a batch dataset of the library).

    Args:
        dataset: yields ``(x,)`` batches of ``dataset.batch_size`` rows (``CaptionBatchDataset`` ...);
            its epoch bookkeeping (``set_epoch``, ``on_epoch_end``) is delegated to it. A short last batch
            of ``n`` rows is split too, so that every process computes the same shapes: each process takes
            ``n // world_size`` rows and the last ``n % world_size`` rows are left out (fewer rows than
            processes: each takes one, some twice).
        rank, world_size: this process and the number of processes; the batch size must be a multiple
            of ``world_size`` (each process then encodes the same number of rows).

    Example:
        >>> class Batches(keras.utils.PyDataset):
        ...     batch_size = 4
        ...     def __len__(self): return 1
        ...     def __getitem__(self, index): return ({"a": np.arange(4)},)
        >>> ShardedBatches(Batches(), rank=1, world_size=2)[0][0]["a"].tolist()
        [2, 3]
    """

    def __init__(self, dataset, rank: int, world_size: int):
        super().__init__()
        batch_size = int(getattr(dataset, "batch_size", 0) or 0)
        if batch_size < world_size or batch_size % world_size:
            raise ConfigError(f"the global batch of {batch_size} rows cannot be split evenly over {world_size} "
                              f"processes; use a batch_size that is a multiple of {world_size} (--set "
                              f"batch_size=...) or another number of processes")
        self.dataset, self.rank, self.world_size = dataset, int(rank), int(world_size)
        self.rows = batch_size // world_size

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        (batch,) = self.dataset[index]
        size = len(next(iter(batch.values())))
        if size == self.rows * self.world_size:
            start = self.rank * self.rows
            return ({key: value[start:start + self.rows] for key, value in batch.items()},)
        rows = max(1, size // self.world_size)  # a short last batch: equal shapes on every process
        picked = (self.rank * rows + np.arange(rows)) % size
        return ({key: np.asarray(value)[picked] for key, value in batch.items()},)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


class SharedLogs(keras.callbacks.Callback):
    """Every process ends the epoch with process 0's logs (its validation metrics).

    Args:
        group: the processes' group; its ``broadcast(value)`` gives process 0's value everywhere.

    Place it after the validation callback (which runs on process 0 only) and before the schedule.
    """

    def __init__(self, group):
        super().__init__()
        self.group = group

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        shared = self.group.broadcast({key: float(np.asarray(value)) for key, value in logs.items()})
        logs.clear()
        logs.update(shared)


class ProcessLogs(SharedLogs):
    """:class:`SharedLogs`, and dropout reseeded per rank (each torch replica draws its own masks)."""

    def __init__(self, group: "ProcessGroup", seed: int):
        super().__init__(group)
        self.seed = int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        if self.group.rank:  # after EpochSync: process 0 draws as one process would, the others differently
            keras.utils.set_random_seed(int(np.random.SeedSequence([self.seed, epoch, self.group.rank])
                                            .generate_state(1)[0]))


class ProcessGroup:
    """This process's membership of a ``torchrun`` launch: collectives, sharding and the model's wiring.

    Args:
        env: the launch (:func:`launch_environment`).
        timeout_s: seconds a collective waits for the other processes before failing.

    Use :meth:`join` to create it (it initialises ``torch.distributed`` unless already done).
    """

    def __init__(self, env: LaunchEnvironment, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.env, self.timeout_s = env, float(timeout_s)
        self.rank, self.world_size = env.rank, env.world_size
        self.owns_group = False

    @property
    def is_main(self) -> bool:
        """Process 0: the one that writes the run folder."""
        return self.rank == 0

    @classmethod
    def join(cls, env: Optional[LaunchEnvironment] = None,
             environ: Optional[Mapping[str, str]] = None) -> Optional["ProcessGroup"]:
        """Join the launch's process group (``None`` outside a launch of several processes).

        Raises:
            ConfigError: the Keras backend is not torch (JAX/TensorFlow distribute through
                ``--devices``), or the launch variables are wrong.
        """
        environ = os.environ if environ is None else environ
        env = env or launch_environment(environ)
        if env is None:
            return None
        if keras.backend.backend() != "torch":
            raise ConfigError(f"this process is one of {env.world_size} launched processes (WORLD_SIZE), which "
                              f"w2vvx trains with on the torch backend; the {keras.backend.backend()} backend "
                              "distributes through --devices / Trainer(devices=...) instead (see "
                              "docs/distributed.md); run with --backend torch or without torchrun")
        import torch
        import torch.distributed as dist

        group = cls(env, _timeout_s(environ))
        if not dist.is_initialized():
            cuda = torch.cuda.is_available()
            if cuda:
                torch.cuda.set_device(env.local_rank)  # Keras's "cuda" device is this process's GPU
            dist.init_process_group("nccl" if cuda else "gloo", rank=env.rank, world_size=env.world_size,
                                    timeout=datetime.timedelta(seconds=group.timeout_s))
            group.owns_group = True
        elif dist.get_world_size() != env.world_size or dist.get_rank() != env.rank:
            raise ConfigError(f"torch.distributed is initialised as rank {dist.get_rank()} of "
                              f"{dist.get_world_size()}, but the launch says {env.rank} of {env.world_size}")
        logger.info("process %d of %d joined the process group (%s)", env.rank, env.world_size, dist.get_backend())
        return group

    def close(self) -> None:
        """Leave the process group if :meth:`join` created it."""
        import torch.distributed as dist

        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self.owns_group = False

    # -- collectives ---------------------------------------------------------------------------------
    def broadcast(self, value):
        """Process 0's ``value`` (any picklable object made by the library) on every process."""
        import torch.distributed as dist

        holder = [value if self.is_main else None]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def share_outcome(self, outcome):
        """Process 0: pass the outcome of a step only it takes (a value, or the exception it raised);
        the others: receive it, raising process 0's error as a :class:`DistributedError`."""
        if isinstance(outcome, BaseException):
            shared = self.broadcast(("error", f"{type(outcome).__name__}: {outcome}"))
        else:
            shared = self.broadcast(("ok", outcome))
        if shared[0] == "error" and not self.is_main:
            raise DistributedError(f"process 0 of {self.world_size} failed to set the run up ({shared[1]}); "
                                   "every process stops")
        return shared[1]

    def share_word_vectors(self, prepared):
        """``prepared`` as it is: process 0's weights, word vectors included, are broadcast once the model is
        built (:meth:`broadcast_model`)."""
        return prepared

    def broadcast_model(self, model) -> None:
        """Copy process 0's variables (weights, optimizer state) to the others; then offset the dropout seed
        states by the rank so that every process draws its own masks."""
        import torch
        import torch.distributed as dist

        optimizer = getattr(model, "optimizer", None)
        variables = list(model.variables) + (list(optimizer.variables) if optimizer is not None else [])
        with torch.no_grad():
            for variable in variables:
                dist.broadcast(variable.value.data, src=0)
            if self.rank:
                for variable in model.non_trainable_variables:
                    if "seed_generator" in variable.path:
                        variable.value.data[..., 0] += self.rank

    def gather_outputs(self, y_pred: dict) -> dict:
        """The model's outputs over the global batch: every output gathered with its gradient.

        Rows are counted in units of the visual batch (a 1-to-K text output holds K blocks of it).
        """
        rows = int(y_pred["visual"].shape[0]) if "visual" in y_pred else min(int(v.shape[0]) for v in y_pred.values())
        gathered = {}
        for key, value in y_pred.items():
            count = int(value.shape[0])
            if count % rows:
                raise ConfigError(f"output {key!r} has {count} rows, not a multiple of the batch's {rows}; it "
                                  "cannot be gathered over processes")
            gathered[key] = gather_rows(value, self.world_size, groups=count // rows)
        return gathered

    # -- wiring --------------------------------------------------------------------------------------
    def distribute(self, model) -> None:
        """Wire ``model`` (a compiled W2VV-family model) for this launch: same weights everywhere, global
        negatives, averaged gradients; CUDA graphs are off (the step holds collectives)."""
        if not hasattr(model, "embedding_gather"):
            raise ConfigError(f"{type(model).__name__} cannot gather its embeddings over processes; train a "
                              "W2VV-family model (a w2vvx.models.Retriever)")
        if scales_loss(model):
            raise ConfigError("training on several processes does not support loss scaling (precision "
                              "'mixed_float16'); use 'mixed_bfloat16' or 'float32'")
        status = fast_path_status()
        if not status.enabled:  # Keras's own step would not average the gradients
            raise ConfigError(f"training on several processes needs w2vvx's torch train step (it averages the "
                              f"gradients over the processes), and the backend fast paths are off "
                              f"({status.reason}); "
                              "expected the tested Keras and torch versions (w2vvx.backend.versions) and W2VVX_FAST_PATH "
                              "unset, 1 or force")
        self.broadcast_model(model)
        model.cuda_graphs = False
        model.embedding_gather = self.gather_outputs
        model.torch_step_class = AveragingTorchTrainStep

    def shard(self, dataset) -> ShardedBatches:
        """This process's slice of every batch of ``dataset``."""
        return ShardedBatches(dataset, self.rank, self.world_size)

    def callback(self, seed: int) -> ProcessLogs:
        return ProcessLogs(self, seed)

    def validation(self, callback: keras.callbacks.Callback) -> keras.callbacks.Callback:
        """Process 0's validation: each process holds its own replica, so it runs as it is."""
        return callback

    @contextlib.contextmanager
    def failures(self) -> Iterator[None]:
        """Turn a collective that failed (a peer died, stopped, or timed out) into a clear DistributedError."""
        import torch.distributed as dist

        try:
            yield
        except (dist.DistBackendError, RuntimeError) as error:
            if isinstance(error, DistributedError) or not _collective_error(error):
                raise
            raise DistributedError(
                f"process {self.rank} of {self.world_size}: another process of this run died, stopped or did not "
                f"answer within {self.timeout_s:.0f} s ({type(error).__name__}: {str(error).splitlines()[0]}); "
                f"every process stops. The last complete epoch's checkpoint is intact: run the same launch again "
                f"with --resume (Trainer.fit(resume=True)); set {TIMEOUT_ENV} to wait longer") from error


def _collective_error(error: BaseException) -> bool:
    import torch.distributed as dist

    if isinstance(error, dist.DistBackendError):
        return True
    text = str(error).lower()
    return any(word in text for word in ("gloo", "nccl", "connection", "timed out", "timeout", "peer"))
