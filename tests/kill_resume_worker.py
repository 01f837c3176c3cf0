"""Subprocess driver of tests/test_kill_resume.py: train (or resume) a tiny run and die where told.

Usage: ``python tests/kill_resume_worker.py COLLECTION_DIR RUN_DIR [--resume]`` with ``W2VVX_TEST_DIE``
set to one of (epochs are 1-based counts of finished epochs, batches 0-based):

* ``batch:<epoch>:<batch>`` - SIGKILL when batch ``<batch>`` of epoch ``<epoch>`` is requested;
* ``checkpoint-write:<epoch>`` - SIGKILL after ``model.npz`` of the checkpoint of ``<epoch>`` is written,
  before ``optimizer.npz`` and ``state.json`` (a half-written checkpoint folder);
* ``checkpoint-commit:<epoch>`` - SIGKILL after that checkpoint folder was moved into place, before
  the older checkpoint is deleted;
* ``best-model-write:<epoch>`` - SIGKILL after ``best.keras`` was written to its temporary file, before
  the rename;
* ``history-write:<epoch>`` - SIGKILL half-way through writing ``history.csv``;
* ``sigint:<epoch>:<batch>`` - send SIGINT (Ctrl-C) to itself at that batch;
* ``sigterm:<epoch>:<batch>`` - send SIGTERM (``kill``, schedulers, ``docker stop``) to itself at that batch;
* ``hold`` - print ``TRAINING`` when the first batch is requested, then wait until a line arrives on
  stdin (the parent does something while the run folder is certainly in use);
* ``announce`` - print ``TRAINING`` when the first batch is requested (the parent then kills the
  process at a random moment).

The hooks wrap library functions from the outside; the library itself has no test hooks. The result
(``epochs_done``, ``interrupted``, history) is printed as one JSON line prefixed with ``RESULT``; the exit
status is 130 after SIGINT, 143 after SIGTERM, 0 otherwise.

The worker stands for a program run in a terminal, where Ctrl-C reaches only foreground processes, whose
SIGINT is never ignored. A process started in the background of a non-interactive shell (``cmd &`` in a
CI script) inherits SIGINT *ignored*, and a SIGINT sent to it does nothing (Python keeps ``SIG_IGN`` and so
does w2vvx). The worker therefore installs Python's default Ctrl-C handler itself, so that the test means
the same thing however the test suite was started.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np


def _die():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install_hook(spec: str) -> None:
    from w2vvx.datasets import batching
    from w2vvx.training import callbacks, checkpoint

    kind, *numbers = spec.split(":")
    numbers = [int(n) for n in numbers]

    if kind in ("batch", "sigint", "sigterm"):
        epoch, batch = numbers
        real_getitem = batching.CaptionBatchDataset.__getitem__

        def getitem(self, index):
            if self.epoch == epoch - 1 and index == batch:
                if kind == "batch":
                    _die()
                os.kill(os.getpid(), signal.SIGINT if kind == "sigint" else signal.SIGTERM)
            return real_getitem(self, index)

        batching.CaptionBatchDataset.__getitem__ = getitem
    elif kind == "checkpoint-write":
        (epoch,) = numbers
        real_save = checkpoint._save_variables

        def save_variables(path, variables):
            real_save(path, variables)
            if path.name == checkpoint.MODEL_VARIABLES and f"epoch-{epoch:04d}" in path.parent.name:
                _die()

        checkpoint._save_variables = save_variables
    elif kind == "checkpoint-commit":
        (epoch,) = numbers
        real_rmtree = checkpoint.shutil.rmtree

        class _Shutil:
            @staticmethod
            def rmtree(path, *args, **kwargs):
                if (Path(path).parent / f"epoch-{epoch:04d}").is_dir():
                    _die()
                return real_rmtree(path, *args, **kwargs)

        checkpoint.shutil = _Shutil
    elif kind == "best-model-write":
        (epoch,) = numbers
        real_save_best = checkpoint.save_best_model

        def save_best_model(run_dir, model):
            state_epoch = len(_STATE["history"]) + 1 if _STATE else None
            if state_epoch == epoch:
                import keras

                real_model_save = keras.Model.save

                def model_save(self, filepath, *args, **kwargs):
                    real_model_save(self, filepath, *args, **kwargs)
                    _die()

                keras.Model.save = model_save
            return real_save_best(run_dir, model)

        callbacks.save_best_model = save_best_model
    elif kind == "history-write":
        (epoch,) = numbers
        real_write = Path.write_text

        def write_text(self, data, *args, **kwargs):
            if self.name.startswith(".history.csv.") and data.count("\n") == epoch + 1:
                real_write(self, data[: len(data) // 2], *args, **kwargs)
                _die()
            return real_write(self, data, *args, **kwargs)

        Path.write_text = write_text
    elif kind == "hold":
        real_getitem = batching.CaptionBatchDataset.__getitem__

        def getitem(self, index):
            if not _STATE.get("announced"):
                _STATE["announced"] = True
                print("TRAINING", flush=True)
                sys.stdin.readline()  # the parent starts a second training into the same folder meanwhile
            return real_getitem(self, index)

        batching.CaptionBatchDataset.__getitem__ = getitem
    elif kind == "announce":
        real_getitem = batching.CaptionBatchDataset.__getitem__

        def getitem(self, index):
            if not _STATE.get("announced"):
                _STATE["announced"] = True
                print("TRAINING", flush=True)  # the parent kills this process at a random moment from now
            return real_getitem(self, index)

        batching.CaptionBatchDataset.__getitem__ = getitem
    elif kind:
        raise SystemExit(f"unknown W2VVX_TEST_DIE {spec!r}")


_STATE = {}


def main(argv):
    signal.signal(signal.SIGINT, signal.default_int_handler)  # see the module docstring
    collection_dir, run_dir = Path(argv[0]), Path(argv[1])
    resume = "--resume" in argv
    from w2vvx.io import BigFile, read_captions
    from w2vvx.models import get_config
    from w2vvx.training import Trainer

    _install_hook(os.environ.get("W2VVX_TEST_DIE", ""))
    config = get_config("base_w2vv", gru_units=8, embed_dim=8, w2v_dim=8, text_mlp=(16,), batch_size=10,
                        max_epochs=4, vocab_min_count=2, dropout=0.2, learning_rate=3e-3,
                        lr_halving_patience=1)
    rng = np.random.default_rng(0)
    words = sorted({w for line in (collection_dir / "train.caption.txt").read_text().split("\n")
                    for w in line.split()[1:]})
    word_vectors = {word: rng.normal(size=8).astype(np.float32) for word in words}
    trainer = Trainer(config, run_dir, read_captions(collection_dir / "train.caption.txt"),
                      BigFile(collection_dir / "feat"), read_captions(collection_dir / "val.caption.txt"),
                      word_vectors=word_vectors, seed=3, verbose=0, tensorboard=False, deterministic=True)
    if os.environ.get("W2VVX_TEST_DIE", "").startswith("best-model-write"):
        real_setup = trainer.setup

        def setup(resume=False):
            model = real_setup(resume=resume)
            _STATE["history"] = trainer.state.history
            return model

        trainer.setup = setup
    result = trainer.fit(resume=resume)
    print("RESULT " + json.dumps({"epochs_done": result.epochs_done, "interrupted": result.interrupted,
                                  "history": result.history}), flush=True)
    if result.interrupted:
        return 143 if result.signal == "SIGTERM" else 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
