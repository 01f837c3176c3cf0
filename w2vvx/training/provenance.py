"""A record of what a run was trained on: ``<run_dir>/provenance.json``, checked on resume and load.

:func:`record_provenance` / :func:`check_resume_provenance`: ``provenance.json`` records a fingerprint of
the training and validation captions (count and SHA-256 of the sentence ids and texts), the feature
folder (name, shape, ``id.txt`` and ``feature.bin`` fingerprints), the word vectors, the digests of the
run's vocabularies (:func:`record_vocabularies`; the vocabularies themselves live only in the model) and
the selected ``best.keras``. Resuming on other data, loading a ``best.keras`` copied from another run,
or searching an index encoded by another run (:mod:`w2vvx.training.run_dir`) is refused with
:class:`~w2vvx.errors.ProvenanceError`, which lists what differs.

A file's fingerprint is its size and the SHA-256 of its content (of the first and last MiB for files
over 16 MiB: a re-download, a truncation or another file of the same size changes it; the file's
modification time is recorded but not compared, so copying a run folder keeps it valid).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional

from w2vvx.errors import ProvenanceError
from w2vvx.io.json_files import read_json_object

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "provenance.json"
PROVENANCE_FORMAT = 1
_FULL_HASH_LIMIT = 16 * 2 ** 20
_EDGE_BYTES = 2 ** 20


# -- fingerprints -----------------------------------------------------------------------------------
def file_fingerprint(path) -> Dict:
    """``{"size", "sha256", "hashed", "mtime"}`` of a file; ``hashed`` is ``"all"`` or ``"first+last MiB"``.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
        >>> _ = open(path, "w").write("abc")
        >>> file_fingerprint(path)["sha256"][:12], file_fingerprint(path)["size"]
        ('ba7816bf8f01', 3)
    """
    path = Path(path)
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if stat.st_size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(2 ** 20), b""):
                digest.update(block)
            hashed = "all"
        else:
            digest.update(handle.read(_EDGE_BYTES))
            handle.seek(stat.st_size - _EDGE_BYTES)
            digest.update(handle.read(_EDGE_BYTES))
            hashed = "first+last MiB"
    return {"size": int(stat.st_size), "sha256": digest.hexdigest(), "hashed": hashed,
            "mtime": datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc).isoformat(
                timespec="seconds")}


def captions_fingerprint(captions) -> Dict:
    """``{"count", "sha256"}`` of a caption list (``Caption`` objects or ``(item_id, text)`` pairs), or of
    ``{language: captions}``.

    Example:
        >>> captions_fingerprint([("a", "a dog")])["count"]
        1
    """
    if isinstance(captions, dict):
        return {str(language): captions_fingerprint(value) for language, value in sorted(captions.items())}
    digest = hashlib.sha256()
    count = 0
    for caption in captions:
        if hasattr(caption, "sent_id"):
            key, text = caption.sent_id, caption.text
        else:
            key, text = caption[0], caption[1]
        digest.update(f"{key}\t{text}\n".encode("utf-8", errors="surrogatepass"))
        count += 1
    return {"count": count, "sha256": digest.hexdigest()}


def features_fingerprint(features) -> Dict:
    """A BigFile's folder name, shape and ``id.txt``/``feature.bin`` fingerprints; other feature sources
    are recorded by type only (they cannot be checked)."""
    folder = getattr(features, "path", None)
    if folder is None or not (Path(folder) / "id.txt").is_file():
        return {"kind": type(features).__name__}
    folder = Path(folder)
    return {"kind": "bigfile", "name": folder.name, "shape": [int(v) for v in features.shape],
            "id.txt": _comparable(file_fingerprint(folder / "id.txt")),
            "feature.bin": _comparable(file_fingerprint(folder / "feature.bin")),
            "path": str(folder)}


def _comparable(fingerprint: Dict) -> Dict:
    return {key: fingerprint[key] for key in ("size", "sha256", "hashed", "mtime")}


def _folder_fingerprints(folder: Path) -> Dict[str, Dict]:
    if not folder.is_dir():
        return {}
    return {str(path.relative_to(folder)): _comparable(file_fingerprint(path))
            for path in sorted(folder.rglob("*")) if path.is_file() and not path.name.startswith(".")}


def word_vectors_fingerprint(word_vectors) -> Optional[Dict]:
    if word_vectors is None:
        return None
    if isinstance(word_vectors, (str, os.PathLike)):
        path = Path(word_vectors)
        if path.is_file():
            return {"name": path.name, **_comparable(file_fingerprint(path))}
        if path.is_dir():
            return {"name": path.name, "files": _folder_fingerprints(path)}
        return {"name": path.name}
    from w2vvx.text.bilingual_vectors import is_language_mapping

    if is_language_mapping(word_vectors):
        return {"per_language": {language: word_vectors_fingerprint(value) for language, value in word_vectors.items()}}
    return {"kind": type(word_vectors).__name__}


# -- provenance -------------------------------------------------------------------------------------
#: Entries compared on resume, with the words used in messages.
DATA_ENTRIES = {"train_captions": "training captions", "val_captions": "validation captions",
                "features": "training features", "val_features": "validation features",
                "word_vectors": "word vectors"}


def data_provenance(train_captions, val_captions, features, val_features=None, word_vectors=None) -> Dict:
    """The data entries of ``provenance.json`` for a training (see the module docstring)."""
    record = {"train_captions": captions_fingerprint(train_captions),
              "val_captions": captions_fingerprint(val_captions),
              "features": features_fingerprint(features),
              "word_vectors": word_vectors_fingerprint(word_vectors)}
    record["val_features"] = (record["features"] if val_features is None or val_features is features
                              else features_fingerprint(val_features))
    return record


def read_provenance(run_dir) -> Optional[Dict]:
    """The run's ``provenance.json``, or ``None`` for a run written before w2vvx recorded it."""
    path = Path(run_dir) / PROVENANCE_FILE
    if not path.is_file():
        return None
    record = read_json_object(path, fix="the run folder is damaged: train again in a new folder",
                              error=ProvenanceError)
    if record.get("format") != PROVENANCE_FORMAT:
        raise ProvenanceError("unknown provenance format; it was written by another w2vvx version", path=path)
    return record


def write_provenance(run_dir, record: Dict) -> None:
    from w2vvx.io.atomic import atomic_path

    record = {"format": PROVENANCE_FORMAT, **record}
    with atomic_path(Path(run_dir) / PROVENANCE_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _describe(entry) -> str:
    if entry is None:
        return "none"
    if not isinstance(entry, dict):
        return repr(entry)
    if "count" in entry and "sha256" in entry:
        return f"{entry['count']} captions, sha256 {entry['sha256'][:12]}"
    if entry.get("kind") == "bigfile":
        return (f"BigFile {entry.get('name')!r} of shape {tuple(entry.get('shape', ()))}, id.txt sha256 "
                f"{entry['id.txt']['sha256'][:12]}, feature.bin sha256 {entry['feature.bin']['sha256'][:12]}")
    if "sha256" in entry:
        return f"{entry.get('name', 'file')} ({entry['size']} bytes, sha256 {entry['sha256'][:12]})"
    if entry and all(isinstance(value, dict) for value in entry.values()):
        return "{" + ", ".join(f"{key}: {_describe(value)}" for key, value in entry.items()) + "}"
    return json.dumps(entry, sort_keys=True)


def same_fingerprint(stored, current) -> bool:
    """Two recorded fingerprints are equal up to what is recorded but not compared (mtime, absolute path)."""
    if isinstance(stored, dict) and isinstance(current, dict):
        keys = (set(stored) | set(current)) - {"mtime", "path"}
        return all(same_fingerprint(stored.get(key), current.get(key)) for key in keys)
    return stored == current


def provenance_differences(stored: Dict, current: Dict, entries=DATA_ENTRIES) -> List[str]:
    """One line per entry whose fingerprint differs: ``"<what>: <then> (recorded) vs <now> (given)"``.

    Entries that cannot be checked (a feature source that is not a BigFile, on either side) are skipped.

    Example:
        >>> provenance_differences({"train_captions": {"count": 1, "sha256": "aa"}},
        ...                        {"train_captions": {"count": 2, "sha256": "bb"}})
        ['training captions: 1 captions, sha256 aa (recorded) vs 2 captions, sha256 bb (given now)']
    """
    out = []
    for key, words in entries.items():
        if key not in stored and key not in current:
            continue
        then, now = stored.get(key), current.get(key)
        uncheckable = [entry for entry in (then, now)
                       if isinstance(entry, dict) and "kind" in entry and entry.get("kind") != "bigfile"]
        if uncheckable:
            continue
        if not same_fingerprint(then, now):
            out.append(f"{words}: {_describe(then)} (recorded) vs {_describe(now)} (given now)")
    return out


def record_provenance(run_dir, data: Dict) -> None:
    """Write ``provenance.json`` for a training that starts (data entries; the vocabulary is added by
    :func:`record_vocabulary`, the best model by :func:`record_best_model`)."""
    write_provenance(run_dir, dict(data))


def check_resume_provenance(run_dir, data: Dict) -> None:
    """Refuse to resume ``run_dir`` on data other than the data it was trained on.

    Raises:
        ProvenanceError: listing every entry that differs (captions, features, word vectors).
    """
    stored = read_provenance(run_dir)
    if stored is None:
        logger.warning("%s has no %s (written by an older w2vvx): cannot check that --resume uses the same data",
                       run_dir, PROVENANCE_FILE)
        return
    differences = provenance_differences(stored, data)
    if differences:
        raise ProvenanceError(
            "this run was trained on other data than given now; resuming would continue on a mixture:\n  "
            + "\n  ".join(differences) + "\nresume with the same data (caption variant, --feature, word "
            "vectors), or start a new run folder (or --overwrite to start this one again)", path=run_dir)


def record_vocabularies(run_dir, digests: Dict) -> None:
    """Add the digests of the run's vocabularies (``{asset: {"count", "sha256"}}``, see
    :meth:`w2vvx.models.W2VVPreprocessor.vocabulary_digests_now`) to ``provenance.json``.

    Only digests: the vocabularies themselves are stored once, inside the model (``best.keras``).
    """
    record = read_provenance(run_dir) or {}
    record.pop("format", None)
    record["vocabularies"] = dict(digests)
    write_provenance(run_dir, record)


def _vocabulary_differences(recorded: Dict, digests: Dict) -> List[str]:
    return [f"{name}: {(recorded.get(name) or {}).get('count')} words, sha256 "
            f"{str((recorded.get(name) or {}).get('sha256'))[:12]} (recorded) vs {(digests.get(name) or {}).get('count')} "
            f"words, sha256 {str((digests.get(name) or {}).get('sha256'))[:12]} (now)"
            for name in sorted(set(recorded) | set(digests)) if recorded.get(name) != digests.get(name)
            and not (name == "w2v_vocab.txt" and name not in recorded)]  # recorded before w2vvx built one


def check_resume_vocabularies(run_dir, digests: Dict) -> None:
    """Refuse to resume when the vocabularies built again from the training captions are not the recorded ones.

    Raises:
        ProvenanceError: a word would get another id than the checkpoint's weights were trained with
            (the tokenizers or the stopword lists changed since the run started).
    """
    record = read_provenance(run_dir)
    recorded = None if record is None else record.get("vocabularies")
    if recorded is None:
        logger.warning("%s: %s records no vocabulary digests (written by an older w2vvx): cannot check that the "
                       "vocabularies built again for --resume are the ones the run started with", run_dir,
                       PROVENANCE_FILE)
        return
    differences = _vocabulary_differences(recorded, digests)
    if differences:
        raise ProvenanceError(
            "the vocabularies built again from the training captions differ from those this run was trained "
            "with, so words would map to other words' embeddings:\n  " + "\n  ".join(differences)
            + "\nresume with the w2vvx version (tokenizers, stopword lists) that started the run, or start a new "
            "run folder", path=run_dir)


def record_best_model(run_dir, model_name: str = "best.keras") -> None:
    """Add the fingerprint of the just-saved ``best.keras`` to ``provenance.json``."""
    record = read_provenance(run_dir)
    if record is None:
        return
    record.pop("format", None)
    record["best_model"] = _comparable(file_fingerprint(Path(run_dir) / model_name))
    write_provenance(run_dir, record)


def check_loaded_run(run_dir, model_name: str = "best.keras", vocabularies: Optional[Dict] = None) -> Optional[Dict]:
    """Check that a run folder's model is the one its training wrote.

    Args:
        run_dir: the run folder.
        model_name: the model file (``best.keras``).
        vocabularies: the digests of the loaded model's vocabularies, checked against the recorded ones
            when given.

    Returns the provenance record (``None`` for runs of older w2vvx versions, with a warning).

    Raises:
        ProvenanceError: ``best.keras`` is not the one the training saved (copied from another run, or
            replaced), or its vocabularies are not the run's.
    """
    run_dir = Path(run_dir)
    record = read_provenance(run_dir)
    if record is None:
        logger.warning("%s has no %s (written by an older w2vvx): cannot check that its model belongs to it",
                       run_dir, PROVENANCE_FILE)
        return None
    problems = []
    expected_model = record.get("best_model")
    model_path = run_dir / model_name
    if expected_model is not None and model_path.is_file() and model_name == "best.keras":
        actual = _comparable(file_fingerprint(model_path))
        if not same_fingerprint(expected_model, actual):
            problems.append(f"{model_name}: {actual['size']} bytes, sha256 {actual['sha256'][:12]}, but this run "
                            f"saved {expected_model['size']} bytes, sha256 {expected_model['sha256'][:12]} (was it "
                            "copied from another run?)")
    elif expected_model is None and model_path.is_file() and model_name == "best.keras":
        logger.warning("%s: the run has not recorded saving %s (killed right after saving it, or the file was "
                       "copied in); resume the run to be sure", run_dir, model_name)
    recorded = record.get("vocabularies")
    if vocabularies is not None and recorded is not None:
        problems += [f"the vocabulary of {model_name} {line}" for line in
                     _vocabulary_differences(recorded, vocabularies)]
    if problems:
        raise ProvenanceError("the model in this run folder and the run's records do not belong together:\n  "
                              + "\n  ".join(problems) + "\nuse the run folder the model was trained in, or train "
                              "again", path=run_dir)
    return record


def check_features_for_run(run_dir, features, what: str = "features") -> None:
    """Warn when ``features`` is not the feature folder (by name) the run was trained on."""
    record = read_provenance(run_dir)
    if record is None:
        return
    trained = record.get("features") or {}
    name = getattr(getattr(features, "path", None), "name", None)
    if trained.get("kind") == "bigfile" and name is not None and name != trained.get("name"):
        logger.warning("%s: the run was trained on features %r but %s come from %r; scores mean little across "
                       "feature types (pass --feature %s)", run_dir, trained.get("name"), what, name,
                       trained.get("name"))


def model_fingerprint(run_dir) -> Optional[Dict]:
    """The recorded fingerprint of a run's ``best.keras`` (``None`` if not recorded)."""
    record = read_provenance(run_dir)
    return None if record is None else record.get("best_model")


__all__ = ["PROVENANCE_FILE", "file_fingerprint", "captions_fingerprint", "features_fingerprint",
           "word_vectors_fingerprint", "data_provenance", "read_provenance", "write_provenance", "record_provenance",
           "check_resume_provenance", "record_vocabularies", "check_resume_vocabularies", "record_best_model",
           "check_loaded_run", "check_features_for_run", "model_fingerprint", "provenance_differences",
           "same_fingerprint"]
