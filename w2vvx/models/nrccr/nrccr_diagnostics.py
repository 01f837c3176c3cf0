"""Where NRCCR's cross-attention looks: how often a source token's attention peaks on its translation.

The cross-attention of :class:`~w2vvx.models.NRCCRBackbone` reads the machine translation (keys and
values) with the source tokens as queries. When the word translations are known (the synthetic
collection's lexicon, :mod:`w2vvx.datasets.synthetic_language`; a bilingual dictionary otherwise),
:func:`attention_alignment` measures the share of source tokens, among those whose translation occurs
in the MT sentence, whose attention (averaged over the heads) peaks on a translation.
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Set

import numpy as np

from w2vvx.errors import ConfigError


def translation_ids(word_pairs: Mapping[str, Iterable[str]], vocab) -> Dict[int, Set[int]]:
    """``{source word id: {ids of its translations}}`` for the words of ``word_pairs`` in ``vocab``.

    Example:
        >>> from w2vvx.text import Vocabulary
        >>> vocab = Vocabulary(["dog", "狗", "cat", "猫"])
        >>> translation_ids({"dog": ["狗"], "cat": ["猫", "猫咪"], "cow": ["牛"]}, vocab)
        {2: {3}, 4: {5}}
    """
    table = {}
    for word, translations in word_pairs.items():
        if isinstance(translations, str):
            translations = [translations]
        targets = {vocab.id(t) for t in translations if t and t in vocab}
        if word in vocab and targets:
            table.setdefault(vocab.id(word), set()).update(targets)
    return table


def alignment_rate(attention, source_ids, target_ids, translations: Mapping[int, Set[int]]) -> dict:
    """Share of source tokens whose attention peaks on a translation (among those with one in the MT).

    Args:
        attention: ``(N, Ls, Lt)`` attention probabilities (source positions over MT positions).
        source_ids, target_ids: ``(N, Ls)`` / ``(N, Lt)`` token ids (0 = padding).
        translations: ``{source id: {target ids}}`` (see :func:`translation_ids`).

    Returns:
        ``{"rate": float, "tokens": int, "chance": float}``: the hit share, the number of source tokens
        counted, and the share a uniform attention would hit (translation positions / real MT tokens).

    Example:
        >>> attention = np.array([[[0.9, 0.1], [0.8, 0.2]]])
        >>> alignment_rate(attention, np.array([[5, 6]]), np.array([[7, 8]]), {5: {7}, 6: {8}})
        {'rate': 0.5, 'tokens': 2, 'chance': 0.5}
    """
    attention = np.asarray(attention)
    source_ids, target_ids = np.asarray(source_ids), np.asarray(target_ids)
    if attention.shape != source_ids.shape + target_ids.shape[1:] or len(source_ids) != len(target_ids):
        raise ConfigError(f"attention {attention.shape} must be (N, Ls, Lt) for source ids {source_ids.shape} and "
                          f"target ids {target_ids.shape}")
    hits = counted = 0
    chance = 0.0
    for row in range(len(source_ids)):
        real = target_ids[row] != 0
        for position, token in enumerate(source_ids[row]):
            wanted = translations.get(int(token))
            if not token or not wanted:
                continue
            targets = np.isin(target_ids[row], list(wanted)) & real
            if not targets.any():
                continue
            counted += 1
            scores = np.where(real, attention[row, position], -np.inf)
            hits += bool(targets[int(np.argmax(scores))])
            chance += float(targets.sum() / real.sum())
    return {"rate": hits / counted if counted else float("nan"), "tokens": counted,
            "chance": chance / counted if counted else float("nan")}


def cross_attention_map(model, source, target, batch_size: int = 256) -> np.ndarray:
    """``(N, Ls, Lt)``: the cross-attention of an NRCCR model (inference mode, averaged over heads).

    Args:
        model: an :class:`~w2vvx.models.NRCCRRetriever` (or its backbone).
        source, target: token inputs ``{"tokens", "bow_tokens"}`` of aligned source and MT sentences.
        batch_size: rows per call.
    """
    import keras

    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "cross_attention"):
        raise ConfigError(f"{type(model).__name__} has no cross-attention; pass an NRCCR model")
    maps = []
    for start in range(0, len(source["tokens"]), batch_size):
        rows = slice(start, start + batch_size)
        # predict_on_batch: one compiled function per shape, reused (an eager call of the GRU's scan
        # compiles again every time on JAX, and a long process runs out of memory maps)
        src = backbone.token_encoder.predict_on_batch({key: value[rows] for key, value in source.items()})
        mt = backbone.token_encoder.predict_on_batch({key: value[rows] for key, value in target.items()})
        _, probabilities = backbone.cross_attention.attention(
            src["token_states"], mt["token_states"], query_mask=src["token_mask"], value_mask=mt["token_mask"],
            training=False, return_attention=True)
        maps.append(np.asarray(keras.ops.convert_to_numpy(keras.ops.mean(probabilities, axis=1)), np.float64))
    return np.concatenate(maps, axis=0)


def attention_alignment(model, source, target, translations: Mapping[int, Set[int]], batch_size: int = 256) -> dict:
    """:func:`alignment_rate` of the model's cross-attention on aligned (source, MT) token inputs.

    Example:
        >>> from w2vvx.models import build_nrccr_model, get_config
        >>> config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_nrccr_model(config, gru_vocab_size=10, bow_vocab_size=10, visual_dim=4,
        ...                           weights={"num_heads": 2})
        >>> ids = np.array([[2, 3, 0]], "int32")
        >>> attention_alignment(model, {"tokens": ids, "bow_tokens": ids}, {"tokens": ids + 4, "bow_tokens": ids + 4},
        ...                     {2: {6}, 3: {7}})["tokens"]
        2
    """
    attention = cross_attention_map(model, source, target, batch_size=batch_size)
    return alignment_rate(attention, source["tokens"], target["tokens"], translations)


def shared_block_gradient_norms(model, batch) -> Dict[str, Dict[str, float]]:
    """Per loss term, the gradient norm reaching each shared block of an NRCCR model on one batch.

    The blocks: ``word_gru`` (word embedding + GRU, shared by every view), ``attention`` (the attention
    block: self-attention of every view and, shared, the cross-attention of the teacher) and
    ``text_head`` (the mapping into the common space). The model and its statistics are left unchanged.
    To measure again on later batches or epochs, keep :func:`shared_block_gradients` (compiled once on JAX).

    Args:
        model: an :class:`~w2vvx.models.NRCCRRetriever`.
        batch: one training batch ``x`` (``AlignedTripletDataset`` rows).

    Returns:
        ``{term: {block: norm}}`` for the active terms (``discriminator`` included when adversarial).

    Example:
        >>> from w2vvx.models import build_nrccr_model, get_config
        >>> config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_nrccr_model(config, gru_vocab_size=10, bow_vocab_size=10, visual_dim=4,
        ...                           weights={"num_heads": 2})
        >>> ids = np.array([[2, 3, 0], [4, 5, 6]], "int32")
        >>> batch = {f"{view}_{key}": ids for view in ("src", "mt", "bt") for key in ("tokens", "bow_tokens")}
        >>> norms = shared_block_gradient_norms(model, {**batch, "visual": np.ones((2, 4), "float32")})
        >>> sorted(norms["similarity"]), norms["discriminator"]["word_gru"]
        (['attention', 'text_head', 'word_gru'], 0.0)
    """
    return shared_block_gradients(model)(batch)


def shared_block_gradients(model):
    """:func:`shared_block_gradient_norms` of ``model`` as a reusable callable ``batch -> {term: {block: norm}}``.

    Example:
        >>> from w2vvx.models import build_nrccr_model, get_config
        >>> config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_nrccr_model(config, gru_vocab_size=10, bow_vocab_size=10, visual_dim=4,
        ...                           weights={"num_heads": 2})
        >>> sorted(shared_block_gradients(model).groups)
        ['attention', 'text_head', 'word_gru']
    """
    from w2vvx.backend.term_gradients import TermGradientNorms

    backbone = getattr(model, "backbone", None)
    if backbone is None or not hasattr(backbone, "cross_attention") or not hasattr(model, "loss_terms"):
        raise ConfigError(f"{type(model).__name__} is not an NRCCR model (NRCCRRetriever)")
    encoder = backbone.token_encoder.trainable_variables
    attention = {id(variable) for variable in backbone.cross_attention.trainable_variables}
    head = {id(variable) for variable in backbone.text_head.trainable_variables}
    groups = {"word_gru": [variable for variable in encoder if id(variable) not in attention | head],
              "attention": list(backbone.cross_attention.trainable_variables),
              "text_head": list(backbone.text_head.trainable_variables)}
    return TermGradientNorms(model, model.loss_terms, groups)
