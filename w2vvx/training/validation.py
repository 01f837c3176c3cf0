"""The trainer's validation: the validation captions through the model's preprocessor, encoded after each epoch.

The captions are tokenised once, by ``model.preprocessor`` (the text pipeline that ``best.keras``
carries and that the training batches use), into token arrays that are encoded by the model's text
tower after every epoch; the items' visual rows are read batch by batch. One caption list gives a
:class:`~w2vvx.training.callbacks.RetrievalValidation`; ``{language: captions}`` gives a
:class:`~w2vvx.training.callbacks.MultilingualRetrievalValidation` (per-language metrics, their mean,
CCRK's MRV).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import keras

from w2vvx.datasets.batching import EncodeDataset, caption_numbers, caption_pairs, preprocess_captions
from w2vvx.errors import ConfigError
from w2vvx.models.retriever import predict_batches
from w2vvx.training.callbacks import MultilingualRetrievalValidation, RetrievalValidation, selection_key


def validation_inputs(model, val_captions, val_by_language: Optional[Dict[str, list]] = None):
    """Token arrays of the validation captions through ``model.preprocessor`` (``{language: arrays}`` per language).

    Raises:
        ConfigError: the model has no preprocessor.
    """
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None:
        raise ConfigError(f"{type(model).__name__} has no preprocessor, so its validation captions cannot be "
                          "tokenised; build the model with preprocessor=... (the trainer does)")
    if val_by_language is not None:
        return {language: preprocess_captions(preprocessor, captions) for language, captions in val_by_language.items()}
    return preprocess_captions(preprocessor, val_captions)


def validation_encoder(model, val_captions, val_features, val_items: Sequence[str],
                       val_by_language: Optional[Dict[str, list]] = None, batch_size: int = 500) -> Callable:
    """``encode(model) -> (text_emb, item_emb)`` (``({language: text_emb}, item_emb)`` per language).

    Args:
        model: the model being trained; its ``preprocessor`` tokenises the captions (once, here).
        val_captions: validation Captions or ``(item_id, text)`` pairs (ignored with ``val_by_language``).
        val_features: the items' visual features (BigFile or callable).
        val_items: the validation item ids.
        val_by_language: ``{language: captions}`` to encode each language apart.
        batch_size: sentences (items) per model call.
    """
    text_inputs = validation_inputs(model, val_captions, val_by_language)
    item_batches = EncodeDataset.from_features(val_features, val_items, batch_size=batch_size)
    if val_by_language is not None:
        text_batches = {language: EncodeDataset(arrays, batch_size=batch_size) for language, arrays in text_inputs.items()}

        def encode_languages(model):
            return ({language: predict_batches(model.text_encoder, batches)
                     for language, batches in text_batches.items()},
                    predict_batches(model.visual_encoder, item_batches))

        return encode_languages
    batches = EncodeDataset(text_inputs, batch_size=batch_size)

    def encode(model):
        return predict_batches(model.text_encoder, batches), predict_batches(model.visual_encoder, item_batches)

    return encode


def validation_callback(model, val_captions, val_features, val_items: Sequence[str], selection_metric: str,
                        val_by_language: Optional[Dict[str, list]] = None,
                        batch_size: int = 500) -> keras.callbacks.Callback:
    """The per-epoch validation callback of the trainer (see the module docstring).

    Args:
        model, val_captions, val_features, val_items, val_by_language, batch_size: as
            :func:`validation_encoder`.
        selection_metric: the config's model-selection metric, also reported per language.
    """
    encode = validation_encoder(model, val_captions, val_features, val_items, val_by_language, batch_size)
    if val_by_language is None:
        return RetrievalValidation(encode, [item for item, _ in caption_pairs(val_captions)], val_items)
    item_ids = {language: [item for item, _ in caption_pairs(captions)]
                for language, captions in val_by_language.items()}
    keys = {language: [(item, int(number)) for item, number in zip(item_ids[language], caption_numbers(captions))]
            for language, captions in val_by_language.items()}
    language_keys = tuple(dict.fromkeys(("sumr", selection_key(selection_metric))))
    return MultilingualRetrievalValidation(encode, item_ids, val_items, text_keys=keys, language_keys=language_keys)
