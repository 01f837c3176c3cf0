"""Visual rows of items for batches: :class:`VisualReader` and the inference :class:`EncodeDataset`.

Part of :mod:`w2vvx.datasets.batching`.
"""
from __future__ import annotations

import math
from typing import Callable, List, Mapping, Optional, Sequence, Union

import keras
import numpy as np

from w2vvx.errors import ConfigError, DataFormatError

FeatureSource = Union["BigFile", Callable[[Sequence[str]], np.ndarray]]  # noqa: F821


class VisualReader:
    """Maps item ids to visual rows, from a BigFile (row indices, read per batch) or a callable.

    Example:
        >>> import numpy as np
        >>> reader = VisualReader(lambda ids: np.ones((len(ids), 2), "float32"), ["a", "b"])
        >>> reader.read(np.array([1, 1])).shape
        (2, 2)
    """

    def __init__(self, features, item_ids: Sequence[str]):
        self.features = features
        self.item_ids = list(item_ids)
        self.rows = None
        if hasattr(features, "read_rows") and hasattr(features, "names"):
            lookup = {name: row for row, name in enumerate(features.names)}
            self.rows = np.array([lookup.get(item, -1) for item in self.item_ids], dtype=np.int64)
        elif not callable(features):
            raise ConfigError(
                f"features must be a w2vvx.io.BigFile or a callable item_ids -> array, got {type(features).__name__}")

    def missing(self) -> List[str]:
        if self.rows is None:
            return []
        return [item for item, row in zip(self.item_ids, self.rows) if row < 0]

    def read(self, item_indices: np.ndarray) -> np.ndarray:
        if self.rows is not None:
            return self.features.read_rows(self.rows[item_indices])
        vectors = np.asarray(self.features([self.item_ids[i] for i in item_indices]), dtype=np.float32)
        if len(vectors) != len(item_indices):
            raise DataFormatError(
                f"the features callable returned {len(vectors)} rows for {len(item_indices)} item ids")
        return vectors


class EncodeDataset(keras.utils.PyDataset):
    """Inference batches in order, for ``model.predict`` or a loop over ``predict_on_batch``.

    Args:
        inputs: a mapping of equally long arrays (token ids) or one array (visual rows).
        batch_size: rows per batch.

    Use :meth:`from_features` to read visual rows per batch from a BigFile.

    Example:
        >>> import numpy as np
        >>> data = EncodeDataset({"tokens": np.zeros((5, 3), "int32")}, batch_size=2)
        >>> len(data), data[2][0]["tokens"].shape
        (3, (1, 3))
    """

    def __init__(self, inputs: Union[Mapping[str, np.ndarray], np.ndarray, Callable[[int, int], object]],
                 batch_size: int = 256, size: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if callable(inputs) and not isinstance(inputs, np.ndarray):
            if size is None:
                raise ConfigError("EncodeDataset with a callable source needs size= (the number of rows)")
            self._slice = inputs
        elif isinstance(inputs, Mapping):
            lengths = {key: len(value) for key, value in inputs.items()}
            if len(set(lengths.values())) > 1:
                raise ConfigError(f"inputs of different lengths: {lengths}")
            size = next(iter(lengths.values()), 0)
            self._slice = lambda start, stop: {key: np.asarray(value[start:stop]) for key, value in inputs.items()}
        else:
            inputs = np.asarray(inputs)
            size = len(inputs)
            self._slice = lambda start, stop: inputs[start:stop]
        self.size = int(size)
        self.batch_size = int(batch_size)

    @classmethod
    def from_features(cls, features: FeatureSource, item_ids: Sequence[str], batch_size: int = 256,
                      **kwargs) -> "EncodeDataset":
        """Visual rows of ``item_ids`` read batch by batch (unknown ids raise a DataFormatError)."""
        item_ids = list(item_ids)
        reader = VisualReader(features, item_ids)
        missing = reader.missing()
        if missing:
            raise DataFormatError(
                f"{len(missing)} item ids have no row in {getattr(features, 'path', 'the features')} "
                f"(e.g. {', '.join(missing[:5])}); use the feature file of the same collection",
                path=getattr(features, "path", None))
        return cls(lambda start, stop: reader.read(np.arange(start, stop)), batch_size, size=len(item_ids),
                   **kwargs)

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        start = index * self.batch_size
        return (self._slice(start, min(start + self.batch_size, self.size)),)
