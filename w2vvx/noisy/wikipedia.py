"""Load the Wikipedia cross-modal dataset (Rasiwasia et al., 2010) as shipped in the shared data.

Folder layout (BMC-SDNU/Cross-Modal-Retrieval ``JFSSL/wikipedia_info``): ``raw_features.mat``
(MATLAB v5: ``I_tr`` 2173x128 and ``I_te`` 693x128 SIFT bag-of-words image features, ``T_tr``
2173x10 and ``T_te`` 693x10 LDA text features) and ``trainset_txt_img_cat.list`` /
``testset_txt_img_cat.list`` (TSV ``<text id>\\t<image id>\\t<category 1..10>``, same row order as
the matrices), plus ``categories.list`` (one category name per line).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from w2vvx.errors import DataFormatError, MissingFileError

FEATURES_FILE = "raw_features.mat"
SPLIT_LISTS = {"train": "trainset_txt_img_cat.list", "test": "testset_txt_img_cat.list"}
MATRICES = {"train": ("I_tr", "T_tr"), "test": ("I_te", "T_te")}


@dataclasses.dataclass(frozen=True)
class WikipediaSplit:
    """One split: paired image/text features and 0-based category labels (row i is pair i)."""

    image: np.ndarray  # (N, 128) float32
    text: np.ndarray  # (N, 10) float32
    labels: np.ndarray  # (N,) int64, 0..num_classes-1
    text_ids: tuple
    image_ids: tuple

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class WikipediaData:
    train: WikipediaSplit
    test: WikipediaSplit
    categories: tuple

    @property
    def num_classes(self) -> int:
        return len(self.categories)


def _read_list(path: Path, num_classes: int):
    text_ids, image_ids, labels = [], [], []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                raise DataFormatError(
                    f"expected 3 tab-separated fields '<text id>\\t<image id>\\t<category>', got {len(fields)}: "
                    f"{line.strip()[:80]!r}", path=path, line=line_no)
            try:
                category = int(fields[2])
            except ValueError:
                raise DataFormatError(f"category must be an integer 1..{num_classes}, got {fields[2]!r}",
                                      path=path, line=line_no) from None
            if not 1 <= category <= num_classes:
                raise DataFormatError(f"category must lie in 1..{num_classes}, got {category}", path=path, line=line_no)
            text_ids.append(fields[0])
            image_ids.append(fields[1])
            labels.append(category - 1)
    return tuple(text_ids), tuple(image_ids), np.asarray(labels, dtype=np.int64)


def load_wikipedia(folder) -> WikipediaData:
    """Read the Wikipedia features and category lists from ``folder``.

    Args:
        folder: directory holding ``raw_features.mat``, the two ``*_txt_img_cat.list`` files and
            ``categories.list`` (e.g. ``<shared data>/features/wikipedia``).

    Returns:
        :class:`WikipediaData` with float32 features and 0-based labels.

    Raises:
        MissingFileError: a file is absent.
        DataFormatError: a matrix is missing or mis-shaped, or a list line is malformed.

    Example:
        >>> data = load_wikipedia("/work/shared/data/features/wikipedia")  # doctest: +SKIP
        >>> data.train.image.shape, data.num_classes  # doctest: +SKIP
        ((2173, 128), 10)
    """
    import scipy.io

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError("Wikipedia folder not found; pass the folder that holds raw_features.mat and "
                               "the *_txt_img_cat.list files", path=folder)
    needed = [FEATURES_FILE, "categories.list", *SPLIT_LISTS.values()]
    for name in needed:
        if not (folder / name).is_file():
            raise MissingFileError(f"required Wikipedia file is missing (the folder needs {', '.join(needed)})",
                                   path=folder / name)
    categories = tuple(line.strip() for line in (folder / "categories.list").read_text(encoding="utf-8").splitlines()
                       if line.strip())
    if not categories:
        raise DataFormatError("no category names found (expected one per line)", path=folder / "categories.list")
    try:
        matrices = scipy.io.loadmat(str(folder / FEATURES_FILE))
    except (ValueError, OSError, NotImplementedError) as error:
        raise DataFormatError(f"cannot read as a MATLAB v5 file ({error}); re-download it",
                              path=folder / FEATURES_FILE) from None
    splits = {}
    for split, (image_key, text_key) in MATRICES.items():
        list_path = folder / SPLIT_LISTS[split]
        text_ids, image_ids, labels = _read_list(list_path, len(categories))
        arrays = []
        for key in (image_key, text_key):
            if key not in matrices:
                found = sorted(k for k in matrices if not k.startswith("__"))
                raise DataFormatError(f"matrix {key!r} not found; the file has {found}", path=folder / FEATURES_FILE)
            array = np.asarray(matrices[key], dtype=np.float32)
            if array.ndim != 2 or array.shape[0] != len(labels):
                raise DataFormatError(f"matrix {key!r} has shape {array.shape}, expected ({len(labels)}, D) to match "
                                      f"the {len(labels)} rows of {list_path.name}", path=folder / FEATURES_FILE)
            if not np.all(np.isfinite(array)):
                raise DataFormatError(f"matrix {key!r} holds NaN or infinite values", path=folder / FEATURES_FILE)
            arrays.append(array)
        splits[split] = WikipediaSplit(arrays[0], arrays[1], labels, text_ids, image_ids)
    return WikipediaData(train=splits["train"], test=splits["test"], categories=categories)
