"""A run folder's records: its lock, its provenance, and which run encoded an index (``encoded_by.json``).

The run folder's guards live in their own modules, imported here under their old names:

* :mod:`w2vvx.training.run_lock`: :class:`RunDirLock`, one training per run folder;
* :mod:`w2vvx.training.provenance`: ``provenance.json`` (what the run was trained on), checked on resume
  and when a run is loaded;
* here: :func:`record_encoding` / :func:`check_encoding`, the record an index of item embeddings keeps of
  the model that encoded it, so that searching it with another run's model is refused.

Example:
    >>> import tempfile
    >>> index, run = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> record_encoding(index, run)
    >>> check_encoding(index, run)  # the same run (no best.keras recorded yet): accepted
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from w2vvx.errors import ProvenanceError
from w2vvx.io.json_files import read_json_object
from w2vvx.training.provenance import (PROVENANCE_FILE, captions_fingerprint, check_features_for_run,
                                       check_loaded_run, check_resume_provenance, data_provenance,
                                       features_fingerprint, file_fingerprint, model_fingerprint,
                                       provenance_differences, read_provenance, record_best_model,
                                       record_provenance, record_vocabularies, same_fingerprint,
                                       write_provenance)
from w2vvx.training.run_lock import LOCK_FILE, RunDirLock

logger = logging.getLogger(__name__)

ENCODED_BY_FILE = "encoded_by.json"


def record_encoding(index_dir, run_dir) -> None:
    """Write ``<index_dir>/encoded_by.json``: which run's model encoded the items of an index."""
    from w2vvx.io.atomic import atomic_path

    entry = {"run": Path(run_dir).name, "best_model": model_fingerprint(run_dir)}
    with atomic_path(Path(index_dir) / ENCODED_BY_FILE) as tmp:
        tmp.write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def check_encoding(index_dir, run_dir) -> None:
    """Refuse to search an index encoded by another run's model.

    Raises:
        ProvenanceError: ``encoded_by.json`` names another model; an index without it (encoded by an
            older w2vvx) is accepted with a warning.
    """
    path = Path(index_dir) / ENCODED_BY_FILE
    if not path.is_file():
        logger.warning("%s: the index does not say which model encoded it (no %s); its scores are only "
                       "meaningful if this run encoded it (w2vvx encode)", index_dir, ENCODED_BY_FILE)
        return
    entry = read_json_object(path, fix="encode the index again (w2vvx encode)", error=ProvenanceError)
    expected = model_fingerprint(run_dir)
    encoded = entry.get("best_model")
    if expected is None or encoded is None:
        return
    if not same_fingerprint(encoded, expected):
        raise ProvenanceError(
            f"this index was encoded by the model of run {entry.get('run')!r} (sha256 {encoded['sha256'][:12]}), not "
            f"by the model of {run_dir} (sha256 {expected['sha256'][:12]}); its vectors live in another space. "
            f"Encode the items with this run (w2vvx encode {run_dir} --out ...) or search with the run that "
            "encoded them", path=index_dir)


__all__ = ["RunDirLock", "LOCK_FILE", "PROVENANCE_FILE", "ENCODED_BY_FILE", "file_fingerprint",
           "captions_fingerprint", "features_fingerprint", "data_provenance", "read_provenance", "write_provenance",
           "record_provenance", "check_resume_provenance", "record_vocabularies", "record_best_model",
           "check_loaded_run", "check_features_for_run", "model_fingerprint", "record_encoding", "check_encoding",
           "provenance_differences"]
