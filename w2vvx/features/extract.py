"""Extract a feature BigFile from an image folder: batched, resumable, written atomically.

Work in progress lives in ``<out>.partial/`` beside the output: ``settings.json`` (model, weights, image
size, the ids to do) and one ``chunk-NNNNN.npy`` + ``chunk-NNNNN.txt`` (vectors, ids) per finished
batch, each written atomically. A killed extraction started again with the same settings skips the
finished batches; different settings are refused (``resume=False`` starts over). When every batch is
done the BigFile appears at ``out`` in one step and the partial folder is removed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, ResumeError
from w2vvx.io.atomic import atomic_path
from w2vvx.io.bigfile import BigFileWriter

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
SETTINGS_FILE = "settings.json"


def partial_dir(out) -> Path:
    """The folder holding the finished batches of an extraction into ``out``."""
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


def _ids_digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:16]


def _start(partial: Path, settings: dict, resume: bool) -> int:
    """Prepare ``partial``; return the number of finished chunks to skip."""
    path = partial / SETTINGS_FILE
    if partial.is_dir() and resume and path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored != settings:
            changed = sorted(key for key in set(stored) | set(settings) if stored.get(key) != settings.get(key))
            raise ResumeError(f"an unfinished extraction in {partial} used other settings ({', '.join(changed)} "
                              "differ); run it again with the same settings to resume, or pass resume=False "
                              "(CLI: --restart) to start over")
        done = 0
        while (partial / f"chunk-{done:05d}.npy").is_file() and (partial / f"chunk-{done:05d}.txt").is_file():
            done += 1
        return done
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(settings, sort_keys=True), encoding="utf-8")
    return 0


def run_extraction(out, ids: List[str], load, model, batch_size: int = 32, overwrite: bool = False,
                   resume: bool = True, progress: bool = False, extra_settings: Optional[dict] = None) -> Path:
    """Run ``model`` over ``load(ids_of_batch)`` batch by batch into the BigFile ``out`` (resumable).

    Args:
        out: the BigFile folder to create.
        ids: the item ids, in output order.
        load: ``list of ids -> (B, S, S, 3)`` float32 images.
        model: a :class:`~w2vvx.features.backbones.FeatureModel`.
        batch_size: images per model call (and per saved chunk).
        overwrite: replace an existing ``out``.
        resume: continue an unfinished extraction with the same settings.
        progress: show a progress bar (``keras.utils.Progbar``).
        extra_settings: more fields that must match for a resume (e.g. frame sampling).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if not ids:
        raise ConfigError("no images to extract features from")
    settings = {**model.describe(), "batch_size": batch_size, "n_items": len(ids), "ids": _ids_digest(ids),
                **(extra_settings or {})}
    partial = partial_dir(out)
    done = _start(partial, settings, resume)
    n_chunks = (len(ids) + batch_size - 1) // batch_size
    if done:
        logger.warning("resuming the extraction into %s: %d of %d batches were done", out, done, n_chunks)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(len(ids), unit_name="image")
        bar.update(min(done * batch_size, len(ids)))
    for chunk in range(done, n_chunks):
        names = ids[chunk * batch_size:(chunk + 1) * batch_size]
        vectors = model(load(names))
        with atomic_path(partial / f"chunk-{chunk:05d}.npy", mode_suffix=".npy") as tmp:
            np.save(tmp, vectors.astype(np.float32), allow_pickle=False)
        with atomic_path(partial / f"chunk-{chunk:05d}.txt") as tmp:  # written second: marks the chunk done
            tmp.write_text("\n".join(names) + "\n", encoding="utf-8")
        if bar is not None:
            bar.update(min((chunk + 1) * batch_size, len(ids)))
    with BigFileWriter(out, dim=model.dim, overwrite=overwrite) as writer:
        for chunk in range(n_chunks):
            names = (partial / f"chunk-{chunk:05d}.txt").read_text(encoding="utf-8").split("\n")[:-1]
            writer.add(names, np.load(partial / f"chunk-{chunk:05d}.npy", allow_pickle=False))
    shutil.rmtree(partial, ignore_errors=True)
    return out


def extract_image_features(image_dir, out, model: str = "resnet152", weights="imagenet",
                           image_size: Optional[int] = None, batch_size: int = 32, overwrite: bool = False,
                           resume: bool = True, progress: bool = False, feature_model=None) -> Path:
    """Features of every image of ``image_dir`` as a BigFile at ``out``, keyed by file name without extension.

    Args:
        image_dir: a folder of images (see :func:`w2vvx.features.images.list_images` for the id rule).
        out: the BigFile folder to create (e.g. ``<root>/<coll>/FeatureData/pyresnet152-pool5os``).
        model, weights, image_size: see :func:`w2vvx.features.backbones.build_feature_model`.
        batch_size: images per model call.
        overwrite: replace an existing ``out``.
        resume: continue a killed extraction (same settings) instead of starting over.
        progress: show a progress bar.
        feature_model: an already built :class:`~w2vvx.features.backbones.FeatureModel` (then ``model``,
            ``weights`` and ``image_size`` are ignored).

    Returns:
        ``out``.

    Example:
        >>> extract_image_features("photos", "FeatureData/resnet152", weights="imagenet")  # doctest: +SKIP
    """
    from w2vvx.features.backbones import build_feature_model
    from w2vvx.features.images import list_images, load_batch

    images = list_images(image_dir)
    net = feature_model or build_feature_model(model, weights=weights, image_size=image_size)
    return run_extraction(out, list(images), lambda names: load_batch([images[n] for n in names], net.image_size),
                          net, batch_size=batch_size, overwrite=overwrite, resume=resume, progress=progress)

