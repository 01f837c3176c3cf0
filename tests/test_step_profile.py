"""Guards against per-element Python loops and host synchronisations inside a training step.

On a GPU every host scalar read (``aten::_local_scalar_dense``) stalls the device, and a per-index
Python loop turns one kernel into thousands. Both are visible on the CPU: the torch profiler counts
the ATen ops and host reads of one ``train_on_batch`` of the library's ``w2vvpp`` model, and a loop
over batch elements shows up as op counts that grow with the batch size. On JAX and TensorFlow the
cheap check is that the compiled train step is traced once, not once per batch.
"""
import collections
from pathlib import Path

import numpy as np
import pytest

import keras

from w2vvx.models import build_model, get_config

VOCAB, LENGTH, VISUAL = 200, 16, 12
MAX_HOST_READS = 2  # a step needs none today; a couple leaves room for an optimizer's bookkeeping
MAX_ATEN_OPS = 6000  # about 3,800 today (most of it the CPU GRU's per-step ops); the BoW loop alone was 16,000+


def _model(name="w2vvpp", **overrides):
    config = get_config(name, gru_units=16, embed_dim=8, w2v_dim=8, common_space_dim=16, **overrides)
    return build_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=VISUAL)


def _batch(size, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, LENGTH + 1, size)
    lengths[0] = LENGTH  # every batch spans all steps: op counts may grow with steps, never with rows
    ids = rng.integers(1, VOCAB, (size, LENGTH)).astype("int32")
    ids[np.arange(LENGTH)[None] >= lengths[:, None]] = 0
    return {"tokens": ids, "bow_tokens": ids, "visual": rng.random((size, VISUAL), dtype="float32")}


def _skip_without_fast_paths():
    """Keras's own torch step (what runs with the fast paths off) does copy host values: nothing to guard."""
    from w2vvx.backend import fast_path_status

    if not fast_path_status().enabled:
        pytest.skip(f"guards w2vvx's torch step; the backend fast paths are off ({fast_path_status().reason})")


def _torch_step_ops(model, batch):
    from torch.profiler import ProfilerActivity, profile

    model.train_on_batch(batch)  # warm-up: optimizer variables, lazy builds
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        model.train_on_batch(batch)
    return collections.Counter(event.name for event in profiler.events() if event.name.startswith("aten::"))


@pytest.mark.parity
@pytest.mark.parametrize("name", ["w2vvpp", "w2vv_attention_ctl"])
def test_torch_train_step_has_no_host_reads_or_per_element_loops(name):
    if keras.backend.backend() != "torch":
        pytest.skip("profiles the torch backend's train step (run with KERAS_BACKEND=torch)")
    _skip_without_fast_paths()
    keras.utils.set_random_seed(0)
    model = _model(name)
    small = _torch_step_ops(model, _batch(16))
    large = _torch_step_ops(model, _batch(64))
    host_reads = large["aten::_local_scalar_dense"]
    assert host_reads <= MAX_HOST_READS, (
        f"{name}: one torch train step reads {host_reads} scalars on the host (each a device synchronisation "
        f"on a GPU); at most {MAX_HOST_READS} expected")
    total = sum(large.values())
    assert total <= MAX_ATEN_OPS, (
        f"{name}: one torch train step issues {total} ATen ops (bound {MAX_ATEN_OPS}); most frequent: "
        f"{large.most_common(5)}")
    grew = {op: (small[op], large[op]) for op in large if large[op] > 2 * small[op] + 8}
    assert not grew, (
        f"{name}: ATen op counts grow with the batch size (batch 16 -> 64), a per-element Python loop: {grew}")


@pytest.mark.parity
def test_compiled_train_step_is_traced_once():
    if keras.backend.backend() not in ("jax", "tensorflow"):
        pytest.skip("checks the compiled train step of JAX/TensorFlow")
    keras.utils.set_random_seed(0)
    model = _model()
    traced = []
    original_train_step = model.train_step

    def counting_train_step(*args):  # Python code of a compiled step runs only while it is traced
        traced.append(1)
        return original_train_step(*args)

    model.train_step = counting_train_step
    model.train_on_batch(_batch(16, seed=0))  # traced here (TensorFlow traces twice while creating variables)
    first = len(traced)
    for seed in (1, 2, 3):
        model.train_on_batch(_batch(16, seed=seed))
    assert first >= 1, "the counting wrapper saw no trace of the first step; the check sees nothing"
    assert len(traced) == first, (
        f"the {keras.backend.backend()} train step was traced again ({len(traced) - first} times) for 3 more "
        "batches of the same shape: something in the step depends on Python values of the batch")


def _host_values_turned_into_tensors(model, batch):
    """Every host value (Python number, tuple, list, NumPy array) turned into a torch tensor by
    ``torch.as_tensor``/``torch.tensor`` during one train step, w2vvx's and Keras's code alike (the batch
    itself is wrapped with ``torch.from_numpy``). On CUDA each is a copy that waits for the GPU, and a CUDA
    graph of the step cannot hold it."""
    model.train_on_batch(batch)  # builds the optimizer; it also resets the metrics, which fit does per epoch
    return _host_values_turned_into_tensors_in(model.train_step, batch)  # what fit calls for each batch


def _host_values_turned_into_tensors_in(function, argument):
    import traceback

    import torch

    made = collections.Counter()
    originals = {"as_tensor": torch.as_tensor, "tensor": torch.tensor}

    def counting(original):
        def wrapper(data, *args, **kwargs):
            if not isinstance(data, torch.Tensor):
                frame = next(f for f in reversed(traceback.extract_stack()[:-1])
                             if "/torch/" not in f.filename and "/keras/src/backend/" not in f.filename)
                made[f"{Path(frame.filename).name}:{frame.lineno} {frame.line}"] += 1
            return original(data, *args, **kwargs)
        return wrapper

    torch.as_tensor, torch.tensor = counting(originals["as_tensor"]), counting(originals["tensor"])
    try:
        function(argument)
    finally:
        torch.as_tensor, torch.tensor = originals["as_tensor"], originals["tensor"]
    return made


@pytest.mark.parity
@pytest.mark.parametrize("name, overrides", [
    ("w2vvpp", {}), ("w2vv_attention_ctl", {}), ("w2vv_infonce", {}),
    ("w2vv_infonce", {"learnable_temperature": False}), ("w2vv_1tok", {"learnable_temperature": False})])
def test_torch_train_step_copies_no_host_value_at_all(name, overrides):
    if keras.backend.backend() != "torch":
        pytest.skip("watches the torch backend's tensor creation (run with KERAS_BACKEND=torch)")
    _skip_without_fast_paths()
    keras.utils.set_random_seed(0)
    batch = _batch(16)
    if get_config(name).loss == "ctl":
        batch["negative_visual"] = np.random.default_rng(1).random((16, VISUAL), dtype="float32")
    if get_config(name).loss == "one_to_k":  # (B, K, L): one caption per language, K = 2
        second = _batch(16, seed=1)["tokens"]
        batch["tokens"] = batch["bow_tokens"] = np.stack([batch["tokens"], second], axis=1)
    made = _host_values_turned_into_tensors(_model(name, **overrides), batch)
    assert not made, (
        f"{name} {overrides}: a torch train step turns host values into device tensors (a GPU wait each, and the step "
        f"can no longer be captured as a CUDA graph): {dict(made)}")


@pytest.mark.parity
def test_nrccr_forward_and_backward_copy_no_host_value():
    """NRCCR trains with Adam, whose update reads its step counter on the host: on CUDA the graph then
    holds the forward and backward pass (``TorchTrainStep.gradients``), which must copy no host value."""
    if keras.backend.backend() != "torch":
        pytest.skip("watches the torch backend's tensor creation (run with KERAS_BACKEND=torch)")
    _skip_without_fast_paths()
    import torch

    from w2vvx.backend.torch_train_step import TorchTrainStep
    from w2vvx.models.nrccr import build_nrccr_model

    keras.utils.set_random_seed(0)
    config = get_config("nrccr", gru_units=16, embed_dim=8, w2v_dim=8, common_space_dim=16)
    model = build_nrccr_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=VISUAL,
                              weights={"num_heads": 2, "feature": 0.3, "backtranslation": 0.5})
    batch = {"visual": np.random.default_rng(1).random((16, VISUAL), dtype="float32")}
    for view, seed in (("src", 0), ("mt", 1), ("bt", 2)):
        tokens = _batch(16, seed=seed)["tokens"]
        batch.update({f"{view}_tokens": tokens, f"{view}_bow_tokens": tokens})
    model.train_on_batch(batch)
    step = TorchTrainStep(model)
    variables = model.trainable_weights[:]
    tracker = next(metric for metric in model.metrics if metric.name == "loss")
    x = {name: keras.ops.convert_to_tensor(value) for name, value in batch.items()}  # on the model's device

    made = _host_values_turned_into_tensors_in(lambda inputs: step.gradients(inputs, None, None, variables, tracker), x)
    assert not made, f"NRCCR's forward/backward turns host values into device tensors: {dict(made)}"


def _nrccr_model_and_batch(size):
    from w2vvx.models.nrccr import build_nrccr_model

    config = get_config("nrccr", gru_units=16, embed_dim=8, w2v_dim=8, common_space_dim=16)
    model = build_nrccr_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=VISUAL,
                              weights={"num_heads": 2, "feature": 0.3, "backtranslation": 0.5})
    batch = {"visual": np.random.default_rng(1).random((size, VISUAL), dtype="float32")}
    for view, seed in (("src", 0), ("mt", 1), ("bt", 2)):
        tokens = _batch(size, seed=seed)["tokens"]
        batch.update({f"{view}_tokens": tokens, f"{view}_bow_tokens": tokens})
    return model, batch


@pytest.mark.parity
def test_nrccr_torch_train_step_has_no_host_reads_or_per_element_loops():
    """NRCCR's whole torch step (three text views, cross-attention, Adam): the CPU-visible part of its GPU
    bound. Host scalar reads stall a GPU; op counts that grow with the batch are a per-element loop."""
    if keras.backend.backend() != "torch":
        pytest.skip("profiles the torch backend's train step (run with KERAS_BACKEND=torch)")
    _skip_without_fast_paths()
    keras.utils.set_random_seed(0)
    model, small_batch = _nrccr_model_and_batch(16)
    small = _torch_step_ops(model, small_batch)
    large = _torch_step_ops(model, _nrccr_model_and_batch(64)[1])
    host_reads = large["aten::_local_scalar_dense"]
    assert host_reads <= MAX_HOST_READS, (
        f"nrccr: one torch train step reads {host_reads} scalars on the host (each a device synchronisation "
        f"on a GPU); at most {MAX_HOST_READS} expected; most frequent ops: {large.most_common(5)}")
    total = sum(large.values())
    assert total <= 3 * MAX_ATEN_OPS, (
        f"nrccr: one torch train step issues {total} ATen ops (bound {3 * MAX_ATEN_OPS}: three text views); "
        f"most frequent: {large.most_common(5)}")
    grew = {op: (small[op], large[op]) for op in large if large[op] > 2 * small[op] + 8}
    assert not grew, f"nrccr: ATen op counts grow with the batch size (batch 16 -> 64): {grew}"
