"""Training and inference batches over a collection (``keras.utils.PyDataset``).

One name space for the batching modules, split by concept:

- :mod:`~w2vvx.datasets.batching_captions`: :class:`CaptionBatchDataset`, training batches of one caption
  list with the items' visual rows;
- :mod:`~w2vvx.datasets.batching_sampling`: which captions an epoch visits, ``sampling="items"`` (W2VV,
  danieljf24/w2vv ``util/dataset.py``: distinct items per batch, one random caption each,
  ``ceil(#sentences / B)`` steps) or ``"captions"`` (COCO-CN, W2VV++, NRCCR: every caption once per
  epoch, shuffled);
- :mod:`~w2vvx.datasets.batching_multilingual`: :class:`MultilingualBatchDataset`, K aligned captions per
  item (CCRK's 1-to-K loss), and :func:`tag_captions` (a language tag on every caption of a
  ``{language: captions}`` mapping);
- :mod:`~w2vvx.datasets.batching_text`: :func:`caption_pairs`, :func:`preprocess_captions` (token arrays
  through the model's preprocessor),
  :func:`caption_numbers`;
- :mod:`~w2vvx.datasets.batching_visual`: :class:`VisualReader`, :class:`EncodeDataset` (inference).

With ``negatives=True`` a batch also carries, for every sentence, the features of one random item that
is not in the batch (the negative pair of the enhanced W2VV's contrastive loss, coco-cn
``utils/dataset.py`` 77-118). A batch depends only on ``(seed, epoch, index)``: Keras may prefetch,
shuffle or repeat calls, and a resumed run sees the same batches as an uninterrupted one.
"""
from __future__ import annotations

from w2vvx.datasets.batching_captions import CaptionBatchDataset
from w2vvx.datasets.batching_multilingual import MultilingualBatchDataset, tag_captions
from w2vvx.datasets.batching_sampling import SAMPLING_MODES, caption_epoch_plan, check_sampling, item_epoch_plan
from w2vvx.datasets.batching_text import caption_numbers, caption_pairs, preprocess_captions
from w2vvx.datasets.batching_visual import EncodeDataset, FeatureSource, VisualReader

__all__ = ["CaptionBatchDataset", "MultilingualBatchDataset", "EncodeDataset", "VisualReader", "FeatureSource",
           "SAMPLING_MODES", "check_sampling", "item_epoch_plan", "caption_epoch_plan", "caption_numbers",
           "caption_pairs", "preprocess_captions", "tag_captions"]
