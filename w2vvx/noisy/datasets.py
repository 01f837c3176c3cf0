"""The paired-feature datasets of the noisy-label methods, in the file formats MRL's code reads.

penghu-cs/MRL@e0f5c8f ``src/noisydataset.py`` ``cross_modal_dataset`` (file names and valid lengths
lines 28-51, HDF5 keys 52-104, MATLAB keys 121-128; the loader ELRCMR's ``main_noisy.py`` inherits):

* **HDF5** (``wiki``: ``wiki/wiki_deep_doc2vec_data_corr_ae.h5py``, valid 231; ``xmedianet``:
  ``XMediaNet/xmedianet_deep_doc2vec_data.h5py``, valid 4000): datasets ``train_imgs_deep``,
  ``train_imgs_labels``, ``train_text`` or ``train_texts``, ``train_texts_labels``, the same with
  ``test_``, and optionally ``valid_``; without ``valid_`` sets the first ``valid_len`` test pairs
  validate and the rest test. MRL shifts each label array by its minimum; here all arrays of a
  file are shifted by the one minimum over them (the same on files whose splits all hold the lowest class).
* **MATLAB** (``inria``: ``INRIA-Websearch/INRIA-Websearch.mat``): ``tr_img``, ``tr_txt``,
  ``tr_img_lab``, ``tr_txt_lab``, ``val_*``, ``te_*``; labels used as stored (0-based).
* The Wikipedia features of the shared data (``raw_features.mat`` + lists, :mod:`w2vvx.noisy.wikipedia`)
  are split as MRL splits Wikipedia: the first 231 test pairs validate.

The seed's ``--data_name xmedianet`` reads the two-view HDF5 file (MRL's own name for it is
``xmedianet2views``; both are accepted).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.hdf5 import open_hdf5_file

#: data name -> (format, file name under its folder, folder name, default validation length)
LAYOUTS = {
    "wiki": ("h5", "wiki_deep_doc2vec_data_corr_ae.h5py", "wiki", 231),
    "xmedianet": ("h5", "xmedianet_deep_doc2vec_data.h5py", "XMediaNet", 4000),
    "inria": ("mat", "INRIA-Websearch.mat", "INRIA-Websearch", None),
}
ALIASES = {"wikipedia": "wiki", "xmedianet2views": "xmedianet", "inria-websearch": "inria"}
SPLITS = ("train", "valid", "test")


@dataclasses.dataclass(frozen=True)
class PairedSplit:
    """Row ``i`` of ``image`` and of ``text`` is pair ``i``; labels are 0-based, one array per view."""

    image: np.ndarray
    text: np.ndarray
    image_labels: np.ndarray
    text_labels: np.ndarray

    def __len__(self) -> int:
        return len(self.image_labels)

    def as_tuple(self):
        return self.image, self.text, self.image_labels, self.text_labels


@dataclasses.dataclass(frozen=True)
class NoisyDataset:
    name: str
    train: PairedSplit
    valid: PairedSplit
    test: PairedSplit
    num_classes: int


def canonical_name(name: str) -> str:
    """``wiki``, ``xmedianet`` or ``inria`` for any accepted spelling."""
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in LAYOUTS:
        raise ConfigError(f"unknown data name {name!r}; use one of {', '.join(LAYOUTS)} "
                          f"(also accepted: {', '.join(ALIASES)})")
    return key


def _features(array, what: str, path: Path) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 2 or not np.all(np.isfinite(array)):
        raise DataFormatError(f"{what} must be a finite 2-D matrix, got shape {array.shape}"
                              f"{'' if array.ndim != 2 else ' with NaN or infinite values'}", path=path)
    return array


def _labels(array, what: str, path: Path) -> np.ndarray:
    array = np.asarray(array)
    flat = array.reshape(-1)
    if flat.size and not np.all(np.equal(np.mod(flat, 1), 0)):
        raise DataFormatError(f"{what} must hold integer class ids, got values such as {flat[:3].tolist()}", path=path)
    return flat.astype(np.int64)


def _split(image, text, image_labels, text_labels, what: str, path: Path) -> PairedSplit:
    sizes = {len(image), len(text), len(image_labels), len(text_labels)}
    if len(sizes) != 1:
        raise DataFormatError(f"{what}: image, text and label rows must pair up, got {len(image)} images, "
                              f"{len(text)} texts, {len(image_labels)} and {len(text_labels)} labels", path=path)
    return PairedSplit(image, text, image_labels, text_labels)


def _finish(name, splits, path: Path, shift: bool) -> NoisyDataset:
    all_labels = np.concatenate([np.concatenate([s.image_labels, s.text_labels]) for s in splits.values()])
    offset = int(all_labels.min()) if shift and all_labels.size else 0
    if offset:
        splits = {key: PairedSplit(s.image, s.text, s.image_labels - offset, s.text_labels - offset)
                  for key, s in splits.items()}
        all_labels = all_labels - offset
    if all_labels.size and all_labels.min() < 0:
        raise DataFormatError(f"labels must be >= 0, found {int(all_labels.min())}", path=path)
    for key, split in splits.items():
        if len(split) == 0:
            raise DataFormatError(f"the {key} split is empty (valid_len larger than the test set?)", path=path)
    widths = {(s.image.shape[1], s.text.shape[1]) for s in splits.values()}
    if len(widths) != 1:
        raise DataFormatError(f"feature widths differ between splits: {sorted(widths)}", path=path)
    return NoisyDataset(name, splits["train"], splits["valid"], splits["test"], int(all_labels.max()) + 1)


def load_mrl_h5(path, valid_len: int, name: str = "h5") -> NoisyDataset:
    """Read an MRL-format HDF5 file (``wiki``/``xmedianet``; see the module docstring)."""
    path = Path(path)
    with open_hdf5_file(path) as handle:
        def read(key_options, what, kind):
            for key in key_options:
                if key in handle:
                    array = handle[key][()]
                    return _features(array, key, path) if kind == "features" else _labels(array, key, path)
            raise DataFormatError(f"{what}: none of {list(key_options)} found; the file has {sorted(handle.keys())}",
                                  path=path)

        def split(prefix):
            return _split(read([f"{prefix}_imgs_deep"], prefix, "features"),
                          read([f"{prefix}_text", f"{prefix}_texts"], prefix, "features"),
                          read([f"{prefix}_imgs_labels"], prefix, "labels"),
                          read([f"{prefix}_texts_labels"], prefix, "labels"), prefix, path)

        train, test = split("train"), split("test")
        if "valid_imgs_deep" in handle:
            valid = split("valid")
        else:
            if not isinstance(valid_len, int) or valid_len < 1:
                raise ConfigError(f"valid_len must be a positive integer (the file has no valid_ sets), got {valid_len!r}")
            parts = test.as_tuple()
            valid = PairedSplit(*(part[:valid_len] for part in parts))
            test = PairedSplit(*(part[valid_len:] for part in parts))
    return _finish(name, {"train": train, "valid": valid, "test": test}, path, shift=True)


def load_mrl_mat(path, name: str = "inria") -> NoisyDataset:
    """Read an MRL-format MATLAB file (INRIA-Websearch: ``tr_``/``val_``/``te_`` + ``img``/``txt``/``*_lab``)."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise MissingFileError("MATLAB features file not found", path=path)
    try:
        data = scipy.io.loadmat(str(path))
    except (ValueError, OSError, NotImplementedError) as error:
        raise DataFormatError(f"cannot read as a MATLAB v5 file ({error})", path=path) from None
    splits = {}
    for split, prefix in zip(SPLITS, ("tr", "val", "te")):
        keys = [f"{prefix}_img", f"{prefix}_txt", f"{prefix}_img_lab", f"{prefix}_txt_lab"]
        missing = [key for key in keys if key not in data]
        if missing:
            found = sorted(key for key in data if not key.startswith("__"))
            raise DataFormatError(f"matrices {missing} not found; the file has {found}", path=path)
        splits[split] = _split(_features(data[keys[0]], keys[0], path), _features(data[keys[1]], keys[1], path),
                               _labels(data[keys[2]], keys[2], path), _labels(data[keys[3]], keys[3], path), split, path)
    return _finish(name, splits, path, shift=False)


def wikipedia_dataset(folder, valid_len: int = 231) -> NoisyDataset:
    """The shared Wikipedia features (:func:`~w2vvx.noisy.wikipedia.load_wikipedia`) with MRL's valid/test split."""
    from w2vvx.noisy.wikipedia import load_wikipedia

    data = load_wikipedia(folder)
    train = PairedSplit(data.train.image, data.train.text, data.train.labels, data.train.labels)
    test = data.test
    valid = PairedSplit(test.image[:valid_len], test.text[:valid_len], test.labels[:valid_len], test.labels[:valid_len])
    rest = PairedSplit(test.image[valid_len:], test.text[valid_len:], test.labels[valid_len:], test.labels[valid_len:])
    return _finish("wiki", {"train": train, "valid": valid, "test": rest}, Path(folder), shift=False)


def load_noisy_dataset(name: str, path, valid_len=None) -> NoisyDataset:
    """Load ``name`` (``wiki``, ``xmedianet``, ``inria``) from a file or the folder that holds it.

    For ``wiki`` a folder with ``raw_features.mat`` (the shared data) is read with
    :func:`wikipedia_dataset`; otherwise the MRL file name of :data:`LAYOUTS` is looked up in
    ``path``, ``path/<MRL folder>``.

    Example:
        >>> load_noisy_dataset("xmedianet", "tests/fixtures/noisy").train.image.shape  # doctest: +SKIP
        (24, 12)
    """
    key = canonical_name(name)
    kind, file_name, folder_name, default_valid = LAYOUTS[key]
    valid_len = default_valid if valid_len is None else valid_len
    path = Path(path)
    if key == "wiki" and path.is_dir() and (path / "raw_features.mat").is_file():
        return wikipedia_dataset(path, valid_len)
    candidates = [path] if path.is_file() else [path / file_name, path / folder_name / file_name]
    for candidate in candidates:
        if candidate.is_file():
            if kind == "h5":
                return load_mrl_h5(candidate, valid_len, name=key)
            return load_mrl_mat(candidate, name=key)
    raise MissingFileError(f"no {key} features found; expected {' or '.join(str(c) for c in candidates)}"
                           + (" (or a folder with raw_features.mat)" if key == "wiki" else ""), path=path)
