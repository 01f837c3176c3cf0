"""The torch train step (``w2vvx.backend.torch_train_step``) computes Keras's update, eagerly and as a CUDA graph."""
import numpy as np
import pytest

import keras

from w2vvx.models import build_model, get_config
from random_batches import random_token_batch

VOCAB, LENGTH, VISUAL = 40, 7, 12


def _model(optimizer=None):
    keras.utils.set_random_seed(3)
    config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, dropout=0.0,
                        clipnorm=0.05)  # a small norm, so clipping acts on every step
    model = build_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=VISUAL)
    if optimizer is not None:
        model.compile(optimizer=optimizer)
    return model


def _data(count=22, seed=0):
    return random_token_batch(count, LENGTH, VOCAB, VISUAL, seed)


def _weights(model):
    return [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.trainable_weights]


def _torch_only():
    from w2vvx.backend import fast_path_status

    if keras.backend.backend() != "torch":
        pytest.skip("the torch train step (run with KERAS_BACKEND=torch)")
    if not fast_path_status().enabled:
        pytest.skip(f"the backend fast paths are off ({fast_path_status().reason})")


def _adam():
    return keras.optimizers.Adam(1e-2, global_clipnorm=0.05)


def _adamw_with_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=2, decay_rate=0.5)
    return keras.optimizers.AdamW(schedule, weight_decay=0.01, global_clipnorm=0.05)


@pytest.mark.parity
@pytest.mark.parametrize("optimizer", [None, _adam, _adamw_with_schedule], ids=["rmsprop", "adam", "adamw-schedule"])
def test_fast_step_matches_keras_own_step(optimizer):
    _torch_only()
    data = _data()
    fast = _model(optimizer and optimizer())
    fast.fit(data, batch_size=8, epochs=2, shuffle=False, verbose=0)
    keras_step = _model(optimizer and optimizer())
    keras_step.train_step = lambda batch: keras.Model.train_step(keras_step, batch)  # Keras's torch step
    history = keras_step.fit(data, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert int(fast.optimizer.iterations.numpy()) == int(keras_step.optimizer.iterations.numpy()) == 6
    for ours, theirs in zip(_weights(fast), _weights(keras_step)):
        np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=2e-6)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parity
def test_fit_from_pinned_batches_equals_fit_on_arrays():
    _torch_only()
    from w2vvx.backend.torch_train_step import pinned_batches

    data = _data()
    from_arrays, from_loader = _model(), _model()
    expected = from_arrays.fit(data, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    got = from_loader.fit(pinned_batches(data, 8, shuffle=False), epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    for ours, theirs in zip(_weights(from_loader), _weights(from_arrays)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parity
@pytest.mark.parametrize("optimizer", [None, _adam, _adamw_with_schedule],
                         ids=["whole-step", "adam-update-eager", "adamw-schedule-update-eager"])
def test_cuda_graph_step_equals_eager_step(optimizer):
    _torch_only()
    import torch

    if not torch.cuda.is_available():
        pytest.skip("CUDA graphs need a CUDA GPU")
    data = _data(count=70)
    graphed, eager = _model(optimizer and optimizer()), _model(optimizer and optimizer())
    eager.cuda_graphs = False
    for model in (graphed, eager):  # 8 full batches of 8 (3 eager warm-up, capture, 4 replays) + 6 rows
        model.fit(data, batch_size=8, epochs=1, shuffle=False, verbose=0)
    step = graphed.torch_train_step
    assert len(step.graphs) == 1 and not step.refused, step.refused
    assert int(graphed.optimizer.iterations.numpy()) == int(eager.optimizer.iterations.numpy()) == 9
    for ours, theirs in zip(_weights(graphed), _weights(eager)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parity
def test_adam_update_is_left_out_of_the_graph():
    _torch_only()
    from w2vvx.backend.torch_train_step import TorchTrainStep

    assert TorchTrainStep(_model(optimizer=_adam())).whole_step is False
    assert TorchTrainStep(_model(optimizer=_adamw_with_schedule())).whole_step is False
    assert TorchTrainStep(_model()).whole_step is True  # RMSprop at a fixed learning rate


@pytest.mark.parity
def test_loss_scaling_keeps_keras_own_step():
    """The gradients must be unscaled before they are clipped, which Keras's update does."""
    _torch_only()
    from w2vvx.backend.torch_train_step import uses_fast_step

    assert uses_fast_step(_model())
    assert not uses_fast_step(_model(optimizer=keras.optimizers.RMSprop(1e-3, loss_scale_factor=128.0)))
    assert not uses_fast_step(_model(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())))
