"""Encode a collection's items into a trained run's retrieval space, written as a BigFile."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.bigfile import BigFileWriter


def encode_items(model, features, out, item_ids: Optional[Sequence[str]] = None, batch_size: int = 1024,
                 overwrite: bool = False, progress: bool = False, normalize: bool = True) -> Path:
    """Encode items with ``model.encode_items`` and write the embeddings as a BigFile.

    The features are read from the memory-mapped BigFile one batch at a time, so collections larger
    than memory work. The output folder appears only when every row is written (a crash or Ctrl-C
    leaves nothing behind; run the command again to restart).

    Args:
        model: a trained retriever (``keras.saving.load_model("best.keras")`` or ``load_run(...).model``).
        features: the items' ``w2vvx.io.BigFile``.
        out: the output BigFile folder.
        item_ids: items to encode (default: every row of ``features``, in file order).
        batch_size: items per model call.
        overwrite: replace an existing ``out``.
        progress: show a Keras progress bar.
        normalize: store unit-norm rows (retrieval in the lineage is by cosine, so an inner-product
            search over the stored rows then gives cosine scores).

    Example:
        >>> run = load_run("runs/w2vvpp")                                   # doctest: +SKIP
        >>> encode_items(run.model, collection.features("resnet"), "encoded")  # doctest: +SKIP
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    expected_dim = _visual_input_dim(model)
    if expected_dim is not None and int(features.ndims) != expected_dim:
        raise DataFormatError(
            f"the features have {features.ndims} dimensions but the model was trained on {expected_dim}-dimensional "
            "visual features; use the feature folder the run was trained with (same extractor)",
            path=getattr(features, "path", None))
    if item_ids is None:
        rows = np.arange(len(features), dtype=np.int64)
        names = list(features.names)
    else:
        names = list(item_ids)
        missing = [item for item in names if item not in features]
        if missing:
            raise ConfigError(f"{len(missing)} items have no feature vector in {features.path} "
                              f"(e.g. {missing[:3]}); check the split and the feature name")
        rows = np.array([features.index(item) for item in names], dtype=np.int64)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(len(rows), unit_name="item")
    writer = None
    try:
        for start in range(0, len(rows), batch_size):
            embeddings = model.encode_items(features.read_rows(rows[start:start + batch_size]),
                                            normalize=normalize, batch_size=batch_size)
            if writer is None:
                writer = BigFileWriter(out, dim=int(embeddings.shape[1]), overwrite=overwrite)
            writer.add(names[start:start + batch_size], embeddings)
            if bar is not None:
                bar.update(min(start + batch_size, len(rows)))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise ConfigError("no items to encode")
    writer.close()
    return Path(out)


def _visual_input_dim(model) -> Optional[int]:
    """The feature dimension the model's visual encoder takes, if it can be read."""
    try:
        dim = model.visual_encoder.inputs[0].shape[-1]
    except (AttributeError, IndexError, TypeError):
        return None
    return None if dim is None else int(dim)
