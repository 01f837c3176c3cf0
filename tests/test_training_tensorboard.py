"""TensorBoard event files on every backend (issue 22)."""
import keras
import numpy as np
import pytest

from w2vvx.training.callbacks import tensorboard_callback


def _read_scalars(folder):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    scalars = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                number = value.simple_value if value.HasField("simple_value") else None
                if number is None:  # TensorFlow's writer stores scalars as tensors
                    number = float(np.asarray(value.tensor.float_val or value.tensor.double_val)[0])
                scalars.setdefault(value.tag, []).append((event.step, number))
    return scalars


@pytest.mark.parity
def test_tensorboard_event_files_on_every_backend(tmp_path):
    pytest.importorskip("tensorboard")
    board = tensorboard_callback(tmp_path / "logs")
    assert board is not None, f"no TensorBoard logs on {keras.backend.backend()}"

    class Metrics(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_i2t_map"] = 0.5 + epoch
            logs["lr"] = 1e-3

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), "float32")
    model.fit(x, np.zeros((8, 1), "float32"), epochs=2, batch_size=4, verbose=0, callbacks=[Metrics(), board])
    train, validation = _read_scalars(tmp_path / "logs" / "train"), _read_scalars(tmp_path / "logs" / "validation")
    assert [step for step, _ in train["epoch_loss"]] == [0, 1]
    assert [value for _, value in validation["epoch_i2t_map"]] == pytest.approx([0.5, 1.5])
    assert train["epoch_learning_rate"][0][1] == pytest.approx(1e-3)
