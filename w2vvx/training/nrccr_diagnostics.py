"""Whether NRCCR's teacher and shared token space work: view diagnostics, and the same after every epoch.

* :func:`nrccr_view_diagnostics` measures, on aligned (source, MT) captions, how the views agree and how
  well each retrieves its item: the teacher (cross view) against the student (the MT sentence).
* :class:`NRCCRDiagnostics` writes those R@1 on held-out pairs, the cross-attention's word alignment and
  the gradient each loss term sends into the shared blocks into every epoch's logs, so that
  ``history.csv`` shows whether the distillation teacher ranks better than chance while it trains.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import keras
import numpy as np

from w2vvx.datasets.aligned_captions import align_translations
from w2vvx.datasets.batching import preprocess_captions
from w2vvx.errors import ConfigError

__all__ = ["NRCCRDiagnostics", "nrccr_view_diagnostics"]

#: the blocks whose per-term gradient norms go into the logs (the text head's are left out)
LOGGED_BLOCKS = ("word_gru", "attention")


def nrccr_view_diagnostics(model, source, translations, features, tau: float = 0.07,
                           batch_size: int = 128, max_items: Optional[int] = None,
                           training: bool = False) -> Dict[str, float]:
    """How the NRCCR views of aligned (source, MT) captions agree, and how well each view retrieves.

    Takes one (source, MT) pair per item (the first), encodes them in batches of distinct items, as
    training sees them (``training=True``: dropout and batch statistics, as the loss sees the views;
    ``False``: inference mode), and returns the means over batches of:

    * ``cos_target_cross``, ``cos_target_source``: cosine of the MT embedding (the student) with the
      cross pseudo target (the teacher) and with the source-sentence embedding;
    * ``kl_similarity``: KL(teacher ‖ student) of the similarity view at ``tau`` (the part of its
      cross-entropy the student can still lower; visual→text and text→visual averaged) and
      ``teacher_entropy``;
    * ``r1_source``, ``r1_target``, ``r1_cross``: text→item R@1 (%) of each view inside the batch, i.e.
      whether the teacher ranks the right item higher than the student does.

    Args:
        model: a trained :class:`~w2vvx.models.nrccr.NRCCRRetriever` with the cross-attention (similarity
            or feature weight > 0), e.g. ``load_run(run_dir).model``; its preprocessor tokenises the captions.
        source, translations: caption lists aligned by item and caption index (:func:`align_translations`).
        features: visual features of their items (BigFile or callable).
        tau: temperature of the similarity view (NRCCR: 0.07).
        batch_size: items per batch (NRCCR: 128).
        max_items: use only the first items.
        training: run the model in training mode (dropout on, BatchNorm on batch statistics).

    Returns:
        ``{name: mean over batches}`` and ``batches``.

    Example:
        >>> stats = nrccr_view_diagnostics(run.model, train_en, train_mt, features)  # doctest: +SKIP
        >>> stats["r1_cross"] > stats["r1_target"]                                                 # doctest: +SKIP
    """
    from w2vvx.datasets.batching import EncodeDataset
    from w2vvx.evaluation.metrics import l2_normalize

    source, translations = align_translations(source, translations)
    first: Dict[str, int] = {}
    for position, caption in enumerate(source):
        first.setdefault(str(caption.item_id), position)
    item_ids = list(first)[:max_items] if max_items else list(first)
    keep = [first[item] for item in item_ids]
    if len(keep) < 2:
        raise ConfigError(f"view diagnostics need at least 2 items, got {len(keep)}")
    src_arrays = preprocess_captions(model.preprocessor, [source[p] for p in keep])
    mt_arrays = preprocess_captions(model.preprocessor, [translations[p] for p in keep])
    rows = EncodeDataset.from_features(features, item_ids, batch_size=batch_size)
    visual = np.concatenate([rows[index][0] for index in range(len(rows))], axis=0)
    sums: Dict[str, float] = {}
    batches = 0
    for start in range(0, len(keep), batch_size):
        stop = min(start + batch_size, len(keep))
        if stop - start < 2:
            break
        inputs = {f"src_{key}": value[start:stop] for key, value in src_arrays.items()}
        inputs.update({f"mt_{key}": value[start:stop] for key, value in mt_arrays.items()})
        # the back-translation view is not measured; the source stands in where the model expects it
        inputs.update({f"bt_{key}": value[start:stop] for key, value in src_arrays.items()})
        inputs["visual"] = visual[start:stop]
        # inference: predict_on_batch compiles once per shape (an eager call recompiles the GRU on JAX)
        outputs = model(inputs, training=True) if training else model.predict_on_batch(inputs)
        if "cross" not in outputs:
            raise ConfigError("the model computes no cross embedding (its similarity and feature weights are 0); "
                              "view diagnostics need a model with the cross-attention")
        emb = {name: l2_normalize(np.asarray(keras.ops.convert_to_numpy(outputs[name]), dtype=np.float64))
               for name in ("source", "target", "cross", "visual")}
        values = {"cos_target_cross": np.mean(np.sum(emb["target"] * emb["cross"], axis=1)),
                  "cos_target_source": np.mean(np.sum(emb["target"] * emb["source"], axis=1))}
        student, teacher = emb["visual"] @ emb["target"].T / tau, emb["visual"] @ emb["cross"].T / tau
        kl, entropy = [], []
        for s_logits, t_logits in ((student, teacher), (student.T, teacher.T)):
            log_s, log_t = _log_softmax(s_logits), _log_softmax(t_logits)
            p_t = np.exp(log_t)
            kl.append(np.mean(np.sum(p_t * (log_t - log_s), axis=1)))
            entropy.append(np.mean(-np.sum(p_t * log_t, axis=1)))
        values["kl_similarity"], values["teacher_entropy"] = np.mean(kl), np.mean(entropy)
        diagonal = np.arange(stop - start)
        for view in ("source", "target", "cross"):
            values[f"r1_{view}"] = 100.0 * np.mean(np.argmax(emb[view] @ emb["visual"].T, axis=1) == diagonal)
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + float(value)
        batches += 1
    result = {key: value / batches for key, value in sums.items()}
    result["batches"] = batches
    return result


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class NRCCRDiagnostics(keras.callbacks.Callback):
    """After every epoch, NRCCR's diagnostics as ``diag_*`` columns of the epoch's logs (``history.csv``).

    Columns (only those the arguments allow):

    * ``diag_r1_cross``, ``diag_r1_target``, ``diag_r1_source``: text→item R@1 (%) of the teacher (the
      cross view), the student (the target-language sentence) and the source-language sentence on
      **held-out** aligned pairs, inside batches of ``batch_size`` distinct items, inference mode
      (:func:`nrccr_view_diagnostics`; chance is 100 / ``batch_size``). Needs a model with the
      cross-attention (similarity or feature weight > 0).
    * ``diag_alignment`` and ``diag_alignment_chance``: the share (%) of source tokens of those pairs whose
      cross-attention peaks on one of their translations, and the share a uniform attention would hit
      (:func:`~w2vvx.models.nrccr.attention_alignment`). Needs ``word_translations``.
    * ``diag_grad_<term>_word_gru`` and ``diag_grad_<term>_attention``: per active loss term, the norm of
      its gradient into the word embedding + GRU and into the attention block, on one fixed training
      batch (:func:`~w2vvx.models.nrccr.shared_block_gradients`; the discriminator's own loss, which
      reaches neither by construction, is left out).

    The model is left as found (BatchNorm statistics and dropout seeds included): a run trains the same
    with or without this callback.

    Args:
        source, target: held-out aligned Captions (the source-language role, e.g. the MT of human
            validation queries into English, and the target-language role, e.g. those queries); None
            leaves out the R@1 and alignment columns.
        features: the visual features of their items.
        batch: one training batch ``x`` (:class:`~w2vvx.training.nrccr.AlignedTripletDataset` rows); None
            leaves out the gradient columns.
        word_translations: ``{source word: translations}`` (a bilingual dictionary; the synthetic
            collection's is :func:`w2vvx.datasets.synthetic_vectors.word_translations`).
        batch_size: items per R@1 batch (NRCCR's batch, 128).

    Example:
        >>> from w2vvx.models import build_nrccr_model, get_config
        >>> model = build_nrccr_model(get_config("nrccr", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8),
        ...                           gru_vocab_size=12, bow_vocab_size=12, visual_dim=3, weights={"num_heads": 1})
        >>> words = {"tokens": np.array([[5, 7], [9, 0]], "int32"), "bow_tokens": np.array([[5, 7], [9, 0]], "int32")}
        >>> batch = {f"{view}_{key}": ids for view in ("src", "mt", "bt") for key, ids in words.items()}
        >>> callback = NRCCRDiagnostics(batch={**batch, "visual": np.ones((2, 3), "float32")})
        >>> callback.set_model(model)
        >>> logs = {}
        >>> callback.on_epoch_end(0, logs)
        >>> sorted(logs)[:3]
        ['diag_grad_adversarial_attention', 'diag_grad_adversarial_word_gru', 'diag_grad_backtranslation_attention']
    """

    def __init__(self, source=None, target=None, features=None, batch: Optional[Mapping] = None,
                 word_translations: Optional[Mapping] = None, batch_size: int = 128):
        super().__init__()
        if (source is None) != (target is None):
            raise ConfigError("NRCCRDiagnostics needs both held-out views (source and target captions) or neither")
        if source is not None and features is None:
            raise ConfigError("NRCCRDiagnostics: the held-out pairs need the visual features of their items")
        if word_translations is not None and source is None:
            raise ConfigError("NRCCRDiagnostics: word_translations need held-out pairs (source, target) to align")
        if source is not None:
            source, target = align_translations(source, target, name="held-out target")
        self.source, self.target, self.features = source, target, features
        self.batch = None if batch is None else dict(batch)
        self.word_translations = word_translations
        self.batch_size = int(batch_size)
        self._tokens = None
        self._gradients = None

    def set_model(self, model):
        super().set_model(model)
        self._tokens = self._gradients = None  # both belong to one model (its vocabulary, its variables)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs.update(self.measure())

    def measure(self) -> Dict[str, float]:
        """The ``diag_*`` values of the model as it is now."""
        from w2vvx.models.nrccr import attention_alignment, shared_block_gradients, translation_ids

        model, values = self.model, {}
        if self.source is not None and model.nrccr_weights.needs_cross:
            views = nrccr_view_diagnostics(model, self.source, self.target, self.features,
                                           batch_size=self.batch_size, training=False)
            values.update({f"diag_r1_{view}": views[f"r1_{view}"] for view in ("cross", "target", "source")})
        if self.word_translations is not None:
            if self._tokens is None:
                self._tokens = (preprocess_captions(model.preprocessor, self.source),
                                preprocess_captions(model.preprocessor, self.target),
                                translation_ids(self.word_translations, model.preprocessor.gru_vocab))
            alignment = attention_alignment(model, *self._tokens)
            values["diag_alignment"] = 100.0 * alignment["rate"]
            values["diag_alignment_chance"] = 100.0 * alignment["chance"]
        if self.batch is not None:
            if self._gradients is None:
                self._gradients = shared_block_gradients(model)  # compiled once (JAX)
            norms = self._gradients(self.batch)
            values.update({f"diag_grad_{term}_{block}": blocks[block] for term, blocks in norms.items()
                           if term != "discriminator" for block in LOGGED_BLOCKS})
        return values
