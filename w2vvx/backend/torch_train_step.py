"""The torch training step of W2VV-family models: Keras's step, without waiting for the GPU.

Two things make Keras's own torch step slow on a GPU (measured on an H100, ``w2vvpp`` at the
lineage's sizes: 18 ms of host time per step for 5 ms of GPU kernels at batch 128):

- **Waits.** A Python number or NumPy array that becomes a CUDA tensor is copied from pageable
  memory, and torch then waits for the whole GPU queue. Keras's step does this for the loss
  tracker's batch size, the global-norm clipping's ``1.0 / clipnorm``, the optimizer's step counter
  and every input batch.
- **Host time.** Each Keras layer call and ``keras.ops`` call costs tens of microseconds of Python;
  a step of the W2VV++ model issues about 500 kernels through them.

:class:`TorchTrainStep` computes the same update without either:

- the loss tracker is weighted by a device tensor, the global norm is clipped by
  ``torch.nn.utils.clip_grad_norm_`` (the clipping of PyTorch's W2VV++ and NRCCR code) before the
  optimizer's update (which then does not clip again), and the step counter is incremented in place;
- on CUDA, after a few eager steps of an input shape, the step is captured once as a CUDA graph and
  replayed for every later batch of that shape: the host then only copies the batch in. With RMSprop
  or SGD the graph holds the whole step (forward, loss, backward, clipping, optimizer update, loss
  tracker); with an optimizer that reads its step counter on the host (Adam, as in NRCCR) or a
  learning-rate schedule it holds everything but the update, which runs eagerly after each replay.
  A step that cannot be captured warns once and stays eager;
- :func:`pinned_batches` feeds ``fit``'s arrays from pinned host memory with non-blocking copies.

Everything else (the optimizer's update rule, metrics, callbacks) is Keras's; on the CPU, Keras's
RMSprop and Adam rules are computed in place (:mod:`w2vvx.backend.torch_optimizer_update`: no
temporaries the size of the weights). Loss scaling (a
``LossScaleOptimizer``, as ``mixed_float16`` uses, or a ``loss_scale_factor``) keeps Keras's own step.

The step reaches into Keras's optimizer (the step counter's ``assign_add``, ``global_clipnorm``) and
finds the loss tracker by its name: it runs only where :func:`~w2vvx.backend.versions.fast_path_enabled`
says the installed Keras and torch are the tested ones (:func:`uses_fast_step`).
"""
from __future__ import annotations

import collections
import contextlib
import warnings

import keras
import numpy as np

from w2vvx.backend.torch_optimizer_update import updates_in_place
from w2vvx.backend.versions import fast_path_enabled

WARMUP_STEPS = 3  # eager steps of an input shape before its graph is captured (PyTorch's recipe)
MAX_GRAPHS = 4  # captured input shapes per model; each holds the activations of one step on the GPU


def scales_loss(model) -> bool:
    """Whether ``model``'s optimizer scales the loss (a ``LossScaleOptimizer`` or a ``loss_scale_factor``).

    Example:
        >>> model = keras.Sequential([keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()), loss="mse")
        >>> scales_loss(model)
        True
    """
    optimizer = getattr(model, "optimizer", None)
    return optimizer is not None and (isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
                                      or optimizer.loss_scale_factor is not None)


def uses_fast_step(model) -> bool:
    """Whether :class:`TorchTrainStep` serves ``model`` (else Keras's own step runs).

    Only on the torch backend, with a compiled optimizer, where the fast paths are on
    (:func:`~w2vvx.backend.versions.fast_path_enabled`: tested Keras and torch versions, no
    ``W2VVX_FAST_PATH=0``). Not with loss scaling (:func:`scales_loss`): the gradients must be
    unscaled before they are clipped, inside Keras's update.

    Example:
        >>> model = keras.Sequential([keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> uses_fast_step(model) == (keras.backend.backend() == "torch" and fast_path_enabled())
        True
    """
    return (keras.backend.backend() == "torch" and getattr(model, "optimizer", None) is not None
            and not scales_loss(model) and fast_path_enabled())


def _to_device(value, device):
    """``value`` (a host tensor or array, or a device tensor) on ``device``, copied without waiting."""
    import torch

    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor) and value.device != device:
        return value.to(device, non_blocking=value.is_pinned())
    return value


@contextlib.contextmanager
def clipping_done_by_the_step(optimizer):
    """Within this context ``optimizer`` does not clip by global norm: the step has clipped already.

    Example:
        >>> optimizer = keras.optimizers.SGD(global_clipnorm=1.0)
        >>> with clipping_done_by_the_step(optimizer):
        ...     print(optimizer.global_clipnorm)
        None
        >>> optimizer.global_clipnorm
        1.0
    """
    clipnorm = optimizer.global_clipnorm
    optimizer.global_clipnorm = None
    try:
        yield
    finally:
        optimizer.global_clipnorm = clipnorm


@contextlib.contextmanager
def _step_counter_in_place(counter):
    """Keras's ``apply`` ends with ``iterations.assign_add(1)``; on torch that Python 1 is copied to the
    device and the copy waits for the GPU (and is refused inside a CUDA graph). Add in place instead."""
    def assign_add(value):
        counter.value.add_(value)
        return counter

    counter.assign_add = assign_add
    try:
        yield
    finally:
        del counter.assign_add


def _update_is_capturable(optimizer) -> bool:
    """Whether ``optimizer``'s update runs on the device alone (no host read of its step counter)."""
    if not isinstance(optimizer, (keras.optimizers.RMSprop, keras.optimizers.SGD)):
        return False  # e.g. Adam computes its bias correction from the step counter, a host value
    schedule = isinstance(optimizer.get_config().get("learning_rate"), dict)
    return not (schedule or optimizer.use_ema or optimizer.gradient_accumulation_steps)


class _CapturedStep:
    def __init__(self, graph, inputs, logs, gradients=None):
        self.graph, self.inputs, self.logs = graph, inputs, logs
        self.gradients = gradients  # set when the optimizer's update runs eagerly after each replay


class TorchTrainStep:
    """The train step of one compiled torch model; call it with fit's batch, as ``Model.train_step``.

    Args:
        model: a compiled ``keras.Model`` whose ``compute_loss(x, y, y_pred, sample_weight,
            training)`` gives the loss (every W2VV-family model).
        cuda_graphs: on CUDA, capture the step as a CUDA graph per input shape and replay it: the
            whole step with RMSprop or SGD at a fixed or callback-set learning rate (the W2VV and
            W2VV++ set-ups); with other optimizers (Adam: NRCCR) the forward and backward pass,
            the optimizer's update then running eagerly after each replay.

    Example:
        >>> from w2vvx.models import build_model, get_config
        >>> config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12)
        >>> batch = {"tokens": np.ones((4, 5), "int32"), "bow_tokens": np.ones((4, 5), "int32"),
        ...          "visual": np.ones((4, 12), "float32")}
        >>> sorted(model.train_on_batch(batch, return_dict=True))
        ['loss']
    """

    def __init__(self, model, cuda_graphs: bool = True):
        self.model = model
        self.optimizer = model.optimizer
        self.cuda_graphs = cuda_graphs
        self.whole_step = _update_is_capturable(self.optimizer)
        self.graphs = {}
        self.eager_steps = collections.Counter()
        self.refused = {}
        self.side_stream = None
        self.scratch = {}  # the in-place optimizer update's scratch tensors (CPU)

    def __call__(self, data):
        import torch

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.model.trainable_weights[:]
        if not variables:
            warnings.warn("The model does not have any trainable weights.")
            return self.model.compute_metrics(x, y, self.model(x, training=True), sample_weight=sample_weight)
        device = variables[0].value.device
        tracker = next(metric for metric in self.model.metrics if metric.name == "loss")  # new at each compile
        graphable = self.cuda_graphs and device.type == "cuda" and y is None and sample_weight is None \
            and isinstance(x, dict) and all(hasattr(value, "shape") for value in x.values())
        if graphable:
            key = (tuple((name, tuple(value.shape), str(value.dtype)) for name, value in sorted(x.items())),
                   tuple(id(variable) for variable in variables), id(tracker))
            captured = self.graphs.get(key)
            if captured is not None:
                for name, value in x.items():  # host batches go straight into the graph's inputs
                    if isinstance(value, np.ndarray):
                        value = torch.from_numpy(value)
                    captured.inputs[name].copy_(value, non_blocking=True)
                captured.graph.replay()
                if captured.gradients is not None:
                    self.update(variables, captured.gradients)
                return captured.logs
        x = keras.tree.map_structure(lambda value: _to_device(value, device), x)
        if not graphable or key in self.refused or len(self.graphs) >= MAX_GRAPHS:
            return self._step(x, y, sample_weight, variables, tracker)
        self.eager_steps[key] += 1
        if self.eager_steps[key] <= WARMUP_STEPS:
            # PyTorch's capture recipe: warm up on a side stream (lazy initialisation happens there)
            self.side_stream = self.side_stream or torch.cuda.Stream(device)
            self.side_stream.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(self.side_stream):
                logs = self._step(x, y, sample_weight, variables, tracker)
            torch.cuda.current_stream(device).wait_stream(self.side_stream)
            return logs
        return self._capture(key, x, variables, tracker)

    def _capture(self, key, x, variables, tracker):
        import torch

        inputs = {name: value.clone() for name, value in x.items()}
        graph = torch.cuda.CUDAGraph()
        self.model.zero_grad()
        try:
            # thread_local: Keras reads the logs of earlier steps in a callback thread meanwhile
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                if self.whole_step:
                    logs = self._step(inputs, None, None, variables, tracker)
                else:
                    logs = self.gradients(inputs, None, None, variables, tracker)
        except Exception as error:  # noqa: BLE001 - any op that cannot be captured: train eagerly instead
            self.refused[key] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            warnings.warn(f"w2vvx: this train step cannot be captured as a CUDA graph ({self.refused[key]}); "
                          "it runs eagerly (slower on a GPU).", RuntimeWarning, stacklevel=2)
            self.model.zero_grad()
            return self._step(x, None, None, variables, tracker)
        # the graph writes the gradients into these tensors at every replay (later eager steps of other
        # shapes give the variables new .grad tensors, so the update must not read variable.grad)
        gradients = None if self.whole_step else [variable.value.grad for variable in variables]
        self.graphs[key] = _CapturedStep(graph, inputs, logs, gradients)
        graph.replay()  # capturing records the step without running it
        if gradients is not None:
            self.update(variables, gradients)
        return logs

    def gradients(self, x, y, sample_weight, variables, tracker):
        """Forward, loss, loss tracker, backward and global-norm clipping (what a graph holds when the
        optimizer's update cannot be captured); returns fit's logs."""
        import torch

        model, optimizer = self.model, self.optimizer
        y_pred = model(x, training=True)
        model.zero_grad()
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        batch_size = next(value for value in keras.tree.flatten(x) if value is not None).shape[0]
        tracker.update_state(loss.detach(), sample_weight=torch.full((), batch_size, dtype=loss.dtype,
                                                                     device=loss.device))
        optimizer.scale_loss(loss).backward()
        if optimizer.global_clipnorm:
            with torch.no_grad():
                torch.nn.utils.clip_grad_norm_([variable.value for variable in variables
                                                if variable.value.grad is not None],
                                               optimizer.global_clipnorm, foreach=True)
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def update(self, variables, gradients):
        """The optimizer's update (Keras's rule; on the CPU computed in place where
        :func:`~w2vvx.backend.torch_optimizer_update.in_place_rule` has it), with the gradients already
        clipped and the counter added in place."""
        import torch

        optimizer = self.optimizer
        on_cpu = variables[0].value.device.type == "cpu"
        in_place = updates_in_place(optimizer, self.scratch) if on_cpu else contextlib.nullcontext()
        with torch.no_grad(), clipping_done_by_the_step(optimizer), _step_counter_in_place(optimizer.iterations), \
                in_place:
            optimizer.apply(gradients, variables)

    def _step(self, x, y, sample_weight, variables, tracker):
        logs = self.gradients(x, y, sample_weight, variables, tracker)
        self.update(variables, [variable.value.grad for variable in variables])
        return logs


class _ArrayRows:
    """Row access to a dict of equal-length arrays, a batch at a time (``torch.utils.data`` style)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __len__(self):
        return len(next(iter(self.arrays.values())))

    def __getitems__(self, rows):
        import torch

        rows = np.asarray(rows)
        return {name: torch.from_numpy(np.ascontiguousarray(array[rows])) for name, array in self.arrays.items()}


def pinned_batches(x, batch_size, shuffle):
    """A ``torch.utils.data.DataLoader`` over a dict of arrays that yields batches in pinned memory.

    ``fit`` on such a loader copies each batch to the GPU without waiting for it (Keras converts
    NumPy batches with a copy that waits for the GPU queue). ``shuffle`` as ``fit``'s: True draws a
    new order every epoch.

    Example:
        >>> loader = pinned_batches({"a": np.arange(10)}, batch_size=4, shuffle=False)
        >>> [batch["a"].tolist() for batch in loader]
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    """
    import torch

    return torch.utils.data.DataLoader(_ArrayRows(x), batch_size=batch_size, shuffle=bool(shuffle),
                                       collate_fn=lambda batch: batch, pin_memory=torch.cuda.is_available())
