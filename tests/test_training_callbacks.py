"""The W2VV epoch rules (best model, LR halving, early stop), checkpoints, CSV and plot."""
import keras
import numpy as np
import pytest

from w2vvx.errors import ConfigError, ResumeError
from w2vvx.training.callbacks import (LineageSchedule, RunRecorder, get_learning_rate, selection_key,
                                      set_learning_rate)
from w2vvx.training.checkpoint import (TrainerState, latest_checkpoint, list_checkpoints, load_checkpoint,
                                       read_state, save_checkpoint)


def _model(units=3, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((2,))
    hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(units)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3, clipnorm=5.0), loss="mse")
    return model


def _run_schedule(values, tmp_path=None, **kwargs):
    model = _model()
    state = TrainerState(lr=1e-3)
    schedule = LineageSchedule(state, "val_map", run_dir=tmp_path, **kwargs)
    schedule.set_model(model)
    lrs = []
    for epoch, value in enumerate(values):
        logs = {"val_map": value}
        schedule.on_epoch_end(epoch, logs)
        lrs.append(logs["lr"])
        if model.stop_training:
            break
    return state, lrs


def test_lr_halves_without_improvement_and_each_lr_lasts_three_epochs():
    # improvement in epochs 0-1, then none: the first LR has run 3 epochs at epoch 2 -> halve; the
    # next halvings come every third bad epoch (w2vv_trainer.py lr_count rule)
    state, lrs = _run_schedule([0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 2.5e-4])
    assert state.best_metric == 0.2 and state.best_epoch == 1 and state.bad_epochs == 6


@pytest.mark.parametrize("optimizer", ["rmsprop", "loss-scaled"])
def test_set_learning_rate_assigns_the_variable_the_update_reads(optimizer):
    """Through ``optimizer.learning_rate``: a loss-scaled optimizer's inner optimizer gets it (its update
    reads that one; the wrapper's own ``_learning_rate`` variable is never read)."""
    model = _model()
    if optimizer == "loss-scaled":
        model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.RMSprop(1e-3)), loss="mse")
    variable = model.optimizer.learning_rate if optimizer == "rmsprop" else model.optimizer.inner_optimizer.learning_rate
    set_learning_rate(model, 2.5e-4)
    assert get_learning_rate(model) == pytest.approx(2.5e-4)
    assert float(keras.ops.convert_to_numpy(variable)) == pytest.approx(2.5e-4)


def test_set_learning_rate_of_an_uncompiled_model_says_what_it_expected():
    inputs = keras.Input((2,))
    with pytest.raises(ConfigError, match="not compiled with an optimizer"):
        set_learning_rate(keras.Model(inputs, keras.layers.Dense(1)(inputs)), 1e-3)


def test_early_stop_after_more_than_patience_bad_epochs(tmp_path):
    state, lrs = _run_schedule([0.5] + [0.4] * 20, tmp_path=tmp_path, patience=10)
    assert state.stopped_early and len(lrs) == 12  # best at epoch 0, stop at the 11th bad epoch
    assert (tmp_path / "best.keras").is_file()


def test_per_epoch_decay_multiplies_the_lr():
    _, lrs = _run_schedule([0.1, 0.2, 0.3], decay_per_epoch=0.99)
    assert lrs == pytest.approx([1e-3 * 0.99, 1e-3 * 0.99 ** 2, 1e-3 * 0.99 ** 3])


def test_nan_metric_is_never_best():
    state, _ = _run_schedule([float("nan"), 0.1])
    assert state.best_epoch == 1


def test_selection_metric_names():
    assert [selection_key(name) for name in ("v2t_map", "t2v_mir", "sum_recall", "t2v_sum_recall")] == [
        "i2t_map", "t2i_mir", "sumr", "t2i_sum_recall"]
    with pytest.raises(ConfigError, match="selection metric"):
        selection_key("accuracy")


def _train_a_little(model, steps=3, callbacks=()):
    x = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    model.fit(x, x[:, :1], epochs=steps, verbose=0, shuffle=False, callbacks=list(callbacks))


@pytest.mark.parity
def test_checkpoint_round_trip_restores_weights_optimizer_and_rng(tmp_path):
    model = _model()
    _train_a_little(model)
    state = TrainerState(epochs_done=3, lr=5e-4, best_metric=0.5, best_epoch=1, history=[{"epoch": 1, "loss": 2.0}])
    save_checkpoint(tmp_path, model, state)
    restored = _model(seed=1)
    loaded = load_checkpoint(latest_checkpoint(tmp_path), restored)
    assert loaded == state
    for original, copy in zip(model.variables + model.optimizer.variables,
                              restored.variables + restored.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(copy), keras.ops.convert_to_numpy(original))
    # same state -> same next training epoch (dropout masks included; the trainer's EpochSync reseeds the
    # global RNGs each epoch, which PyTorch uses for dropout)
    reseed = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: keras.utils.set_random_seed(5))
    for copy in (model, restored):
        _train_a_little(copy, 1, callbacks=[reseed])
    for original, copy in zip(model.weights, restored.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(copy), keras.ops.convert_to_numpy(original), rtol=1e-6)


def test_only_the_newest_complete_checkpoint_is_kept(tmp_path):
    model = _model()
    for epoch in (1, 2):
        save_checkpoint(tmp_path, model, TrainerState(epochs_done=epoch))
    (tmp_path / "checkpoints" / ".epoch-0003.x.tmp").mkdir()  # interrupted write
    assert [path.name for path in list_checkpoints(tmp_path)] == ["epoch-0002"]
    assert read_state(latest_checkpoint(tmp_path)).epochs_done == 2


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    save_checkpoint(tmp_path, _model(units=3), TrainerState(epochs_done=1))
    with pytest.raises(ResumeError, match="shape"):
        load_checkpoint(latest_checkpoint(tmp_path), _model(units=4))


def test_recorder_writes_csv_plot_and_checkpoint(tmp_path):
    model = _model()
    state = TrainerState()
    recorder = RunRecorder(state, tmp_path, monitor="val_map")
    recorder.set_model(model)
    for epoch, (loss, value) in enumerate([(2.0, 0.1), (1.5, 0.3)]):
        recorder.on_epoch_end(epoch, {"loss": loss, "val_map": value, "lr": get_learning_rate(model)})
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,val_map,lr" and lines[2].startswith("2,1.5,0.3")
    assert (tmp_path / "training.png").read_bytes()[:4] == b"\x89PNG"
    assert read_state(latest_checkpoint(tmp_path)).epochs_done == 2


def test_no_w2vvx_callback_reads_the_logs_of_every_batch():
    """A callback with ``on_train_batch_end`` (or ``on_batch_end``) makes Keras convert every batch's logs to
    Python floats on the main thread: on a GPU, a wait for the device after each step."""
    import inspect

    import keras

    from w2vvx.training import callbacks, event_log, schedules, signals

    classes = [cls for module in (callbacks, event_log, schedules, signals)
               for _, cls in inspect.getmembers(module, inspect.isclass) if cls.__module__ == module.__name__]
    for cls in classes:
        if issubclass(cls, keras.callbacks.Callback):
            for hook in ("on_train_batch_end", "on_batch_end"):
                assert getattr(cls, hook) is getattr(keras.callbacks.Callback, hook), (
                    f"{cls.__name__}.{hook} makes every training step wait for the GPU; use on_train_batch_begin "
                    "(called without logs) or an epoch hook")
