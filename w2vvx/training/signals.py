"""Stopping training at a safe point on SIGINT (Ctrl-C) or SIGTERM: :class:`GracefulStop` and the
:class:`TrainingStopped` it raises."""
from __future__ import annotations

import logging
from typing import Dict, Optional

import keras

logger = logging.getLogger(__name__)


class TrainingStopped(KeyboardInterrupt):
    """Raised at a safe point of training after SIGINT (Ctrl-C) or SIGTERM; ``signal_name`` says which."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


class GracefulStop(keras.callbacks.Callback):
    """Stop training at a safe point when SIGINT (Ctrl-C) or SIGTERM (``kill``, schedulers, ``docker stop``) arrives.

    While installed (:meth:`install` ... :meth:`restore`, around ``model.fit``), the signal handler only
    records the signal; the callback raises :class:`TrainingStopped` at the next batch or epoch boundary
    (placed first among the callbacks, before validation and checkpoint writing), so the last complete
    checkpoint stays and no temporary is left half-written. A handler that only sets a flag cannot be lost:
    Python's default Ctrl-C handler raises ``KeyboardInterrupt`` wherever the main thread happens to be,
    and one raised inside a finalizer (``__del__``) is printed and dropped. Outside the training loop
    (preparing the text side) a signal raises at once. A second signal raises at once too.

    A signal the process ignores when training starts (``SIG_IGN``: e.g. SIGINT in a background job of a
    non-interactive shell, or under ``nohup``-like launchers) stays ignored, as Python itself does.

    Example:
        >>> stop = GracefulStop()
        >>> stop.received is None
        True
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self):
        super().__init__()
        self.received: Optional[str] = None
        self._in_loop = False
        self._previous: Dict[int, object] = {}

    def install(self) -> "GracefulStop":
        """Install the handlers (main thread only; elsewhere a no-op)."""
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return self
        for name in self.SIGNALS:
            number = getattr(signal, name, None)
            if number is None:
                continue
            previous = signal.getsignal(number)
            if previous is signal.SIG_IGN:
                logger.debug("%s is ignored by this process; training will not stop on it", name)
                continue
            self._previous[number] = previous
            signal.signal(number, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers that were installed before :meth:`install`."""
        import signal

        for number, previous in self._previous.items():
            signal.signal(number, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}
        self._in_loop = False

    def __enter__(self) -> "GracefulStop":
        return self.install()

    def __exit__(self, *exc) -> bool:
        self.restore()
        return False

    def _handle(self, number, frame) -> None:
        import signal

        name = signal.Signals(number).name
        if self.received is not None or not self._in_loop:
            self.received = self.received or name
            raise TrainingStopped(name)
        self.received = name
        logger.warning("%s received: stopping at the end of this batch (send it again to stop at once)", name)

    def check(self) -> None:
        """Raise :class:`TrainingStopped` if a signal was received."""
        if self.received is not None:
            raise TrainingStopped(self.received)

    def on_train_begin(self, logs=None):
        self._in_loop = True
        self.check()

    def on_train_end(self, logs=None):
        self._in_loop = False

    def on_epoch_begin(self, epoch, logs=None):
        self.check()

    def on_train_batch_begin(self, batch, logs=None):
        # the boundary before a batch rather than after one: a callback with on_train_batch_end makes Keras
        # turn every batch's logs into Python floats on the main thread, a GPU wait per step
        self.check()

    def on_epoch_end(self, epoch, logs=None):
        self.check()
