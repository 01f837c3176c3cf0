"""TensorBoard event files of the per-epoch logs, on every Keras backend.

``keras.callbacks.TensorBoard`` writes through ``tf.summary`` and so needs the TensorFlow backend. The
``tensorboard`` package has its own event-file writer that needs no TensorFlow (PyTorch's
``SummaryWriter`` uses it too); :class:`EpochEventWriter` writes the epoch logs with it, in the layout
Keras uses (``<log_dir>/train`` for the training loss and learning rate, ``<log_dir>/validation`` for the
``val_*`` metrics, tags ``epoch_<name>``), so ``tensorboard --logdir <run>/logs`` shows training and
validation curves side by side whatever the backend.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Dict, Optional

import keras

logger = logging.getLogger(__name__)


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (its event-file writer) can be imported."""
    try:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: F401
    except ImportError:
        return False
    return True


class EpochEventWriter(keras.callbacks.Callback):
    """After every epoch, write its numeric logs as TensorBoard scalars (step = epoch number, from 0).

    Args:
        log_dir: the folder of the event files (``train/`` and ``validation/`` are created under it).

    Example:
        >>> import tempfile
        >>> writer = EpochEventWriter(tempfile.mkdtemp())
        >>> writer.on_epoch_end(0, {"loss": 1.5, "val_i2t_map": 0.25})
        >>> writer.on_train_end()
        >>> sorted(p.name for p in writer.log_dir.iterdir())
        ['train', 'validation']
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: Dict[str, object] = {}

    def _writer(self, part: str):
        if part not in self._writers:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            folder = self.log_dir / part
            folder.mkdir(parents=True, exist_ok=True)
            self._writers[part] = EventFileWriter(str(folder))
        return self._writers[part]

    def write(self, step: int, logs: Dict[str, float]) -> None:
        """Write ``logs`` (``val_<name>`` to ``validation/`` as ``epoch_<name>``, the rest to ``train/``)."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        values: Dict[str, list] = {}
        for key, value in logs.items():
            number = _scalar(value)
            if number is None:
                continue
            part, name = ("validation", key[len("val_"):]) if key.startswith("val_") else ("train", key)
            if name == "lr":
                name = "learning_rate"
            values.setdefault(part, []).append(Summary.Value(tag=f"epoch_{name}", simple_value=number))
        now = time.time()
        for part, summary_values in values.items():
            writer = self._writer(part)
            writer.add_event(Event(wall_time=now, step=int(step), summary=Summary(value=summary_values)))
            writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.write(epoch, dict(logs or {}))

    def on_train_end(self, logs=None):
        self.close()

    def close(self) -> None:
        """Flush and close the event files (a later epoch opens new ones)."""
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _scalar(value) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
