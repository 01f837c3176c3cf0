"""The two-tower retrieval task: the one encoding and ranking path of w2vvx, :class:`Retriever`.

``encode_text``, ``encode_items`` and ``search`` are what training, evaluation, the pipeline, the
recipes and the CLI call to embed sentences and items (cosine by default: rows are L2-normalised).
They run the backbone's ``text_encoder`` and ``visual_encoder`` sub-models; a family's task
(:class:`~w2vvx.models.W2VVRetriever`, :class:`~w2vvx.models.NRCCRRetriever`) adds the loss.
"""
from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.models.input_checks import FiniteBatches, check_finite_rows, check_token_ids, float_features, numeric_array
from w2vvx.models.task import Task, positive_batch_size
from w2vvx.vectors import l2_normalize

#: the token inputs of a sentence: GRU-vocabulary ids and BoW-vocabulary ids, ``(B, L)`` int32 each
TEXT_INPUTS = ("tokens", "bow_tokens")


def predict_batches(encoder, batches) -> np.ndarray:
    """Run ``encoder`` in inference mode over ``batches`` (a sequence of inputs, or a PyDataset of ``(x,)``).

    The one batched-inference loop of w2vvx (``predict_on_batch``: no progress bar, dropout off).

    Example:
        >>> import keras
        >>> inputs = keras.Input((3,))
        >>> encoder = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        >>> predict_batches(encoder, [np.ones((4, 3), "float32"), np.ones((1, 3), "float32")]).shape
        (5, 2)
    """
    outputs = []
    for index in range(len(batches)):
        batch = batches[index]
        if isinstance(batch, tuple):
            batch = batch[0]
        outputs.append(np.asarray(keras.ops.convert_to_numpy(encoder.predict_on_batch(batch)), dtype=np.float32))
    if not outputs:
        raise ConfigError("nothing to encode: no rows given")
    return np.concatenate(outputs, axis=0)


def _is_token_dict(inputs) -> bool:
    return hasattr(inputs, "keys") and all(key in inputs for key in TEXT_INPUTS)


def text_inputs(inputs, names=TEXT_INPUTS) -> dict:
    """The token inputs of a batch dict; ``(B, K, L)`` (K captions per item) become ``(K·B, L)``, language-major.

    Example:
        >>> text = text_inputs({"tokens": np.ones((2, 3, 4), "int32"), "bow_tokens": np.ones((2, 3, 4), "int32")})
        >>> tuple(text["tokens"].shape)
        (6, 4)
    """
    missing = [key for key in names if key not in inputs]
    if missing:
        raise ConfigError(f"model inputs lack {missing}; expected a dict with keys "
                          f"{list(names)} and 'visual' (got {sorted(inputs)})")
    text = {key: inputs[key] for key in names}
    if len(text["tokens"].shape) == 3:  # (B, K, L) → (K·B, L), language-major
        text = {key: ops.reshape(ops.transpose(value, (1, 0, 2)), (-1, ops.shape(value)[-1]))
                for key, value in text.items()}
    return text


class Retriever(Task):
    """A text-to-item retriever: a backbone with ``text_encoder`` and ``visual_encoder`` sub-models.

    Inputs of ``call``: a dict with ``"tokens"`` and ``"bow_tokens"`` (``(B, L)`` int32, post-padded,
    0 = padding, or ``(B, K, L)``: K captions per item, encoded language-major, row ``k·B + i``),
    ``"visual"`` (``(B, D)`` float32, or ``(B, T, D)`` frames), optionally ``"negative_visual"``.
    Outputs: ``{"text": ..., "visual": ...}`` (plus ``"negative_visual"`` when given). The backbone
    exposes ``gru_vocab_size`` / ``bow_vocab_size`` (token ids are checked against them on the host).

    Example:
        >>> from w2vvx.models import build_model, get_config
        >>> config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12)
        >>> isinstance(model, Retriever), model.encode_items(np.ones((3, 12), "float32")).shape
        (True, (3, 16))
    """

    @property
    def text_encoder(self):
        """The backbone's text sub-model ``{"tokens", "bow_tokens"} → (B, E)``."""
        return self.backbone.text_encoder

    @property
    def visual_encoder(self):
        """The backbone's visual sub-model ``(B, D) | (B, T, D) → (B, E)``."""
        return self.backbone.visual_encoder

    @property
    def model_config(self):
        """The :class:`~w2vvx.models.ModelConfig` of the backbone."""
        return self.backbone.model_config

    def check_token_ids(self, inputs, where: str = "token inputs") -> None:
        """Raise ConfigError when a token id of ``inputs`` (NumPy) is outside the model's vocabularies."""
        check_token_ids(inputs, getattr(self.backbone, "gru_vocab_size", None),
                        getattr(self.backbone, "bow_vocab_size", None), where=where,
                        w2v_vocab_size=getattr(self.backbone, "w2v_vocab_size", None))

    @property
    def text_input_names(self) -> tuple:
        """The token inputs of the text tower (``"w2v_tokens"`` too when its word2vec branch reads them)."""
        return tuple(getattr(self.backbone, "text_input_names", TEXT_INPUTS))

    def check_fit_inputs(self, x) -> None:
        self.check_token_ids(x, where="fit inputs")

    @property
    def visual_input_shape(self) -> tuple:
        """``(D,)`` or ``(T, D)`` (``T`` None): the per-item shape the visual encoder takes."""
        return tuple(self.visual_encoder.inputs[0].shape[1:])

    def check_visual_shape(self, shape, name: str = "visual") -> None:
        """Raise a ConfigError when features of ``shape`` (batch first) do not fit the visual encoder."""
        expected = self.visual_input_shape
        dim = shape[-1] if len(shape) else None
        frames = "(N, T, D) frame" if len(expected) == 2 else "(N, D)"
        if len(shape) != len(expected) + 1:
            if len(expected) == 2:
                hint = "pass a (T, D) frame sequence per item"
            elif len(shape) == 3:
                hint = "pass one feature row per item (frame-level features need a model built with frames=True)"
            else:
                hint = "pass one feature row per item"
            raise ConfigError(f"{name} features have shape {tuple(shape)}, but this model takes {frames} features "
                              f"with D = {expected[-1]}; {hint}")
        if isinstance(dim, (int, np.integer)) and expected[-1] is not None and int(dim) != int(expected[-1]):
            raise ConfigError(f"{name} features have {int(dim)} dimensions, but this model was trained on "
                              f"{int(expected[-1])}-dimensional features; use the features of the extractor the "
                              "model was trained with (CLI: --feature <the run's feature folder>) or train a "
                              f"model on these {int(dim)}-dimensional features")

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            raise ConfigError(f"{type(self).__name__} expects a dict of inputs (tokens, bow_tokens, visual), "
                              f"got {type(inputs).__name__}")
        text = text_inputs(inputs, self.text_input_names)
        if "visual" in inputs:
            self.check_visual_shape(tuple(inputs["visual"].shape), "visual")
            outputs = dict(self.backbone({**text, "visual": inputs["visual"]}, training=training))
        else:
            outputs = {"text": self.text_encoder(text, training=training)}
        if "negative_visual" in inputs:
            self.check_visual_shape(tuple(inputs["negative_visual"].shape), "negative_visual")
            outputs["negative_visual"] = self.visual_encoder(inputs["negative_visual"], training=training)
        return outputs

    # -- the one encoding path ----------------------------------------------------------------------
    def preprocess(self, sentences, language: Optional[str] = None) -> dict:
        """Token inputs of raw ``sentences`` (strings, Captions or ``(item_id, text)`` pairs)."""
        if self.preprocessor is None:
            raise ConfigError("this model has no preprocessor, so it cannot tokenise sentences: pass token "
                              "inputs {'tokens', 'bow_tokens'}, or load the best.keras of a w2vvx run (it "
                              "holds its vocabularies)")
        text = self.preprocessor(sentences, language=language)
        self.check_token_ids(text, where="the preprocessor's output (its vocabularies do not match the model)")
        return text

    def encode_text(self, inputs, language: Optional[str] = None, normalize: bool = True,
                    batch_size: int = 256) -> np.ndarray:
        """Text embeddings ``(N, E)`` float32 of sentences, unit-norm rows by default (cosine).

        Args:
            inputs: raw sentences (a str, a list of str, ``w2vvx.io.Caption`` objects in the language
                of their tag, ``(item_id, text)`` pairs) or already tokenised inputs: a dict with
                ``"tokens"`` and ``"bow_tokens"`` ``(N, L)`` int32 arrays.
            language: the language of plain strings (``"en"``, ``"zh"``, ``"de"`` ... or a caption
                tag); default: the language the model was trained on.
            normalize: L2-normalise the rows (rank by cosine). ``False`` gives the raw embeddings.
            batch_size: sentences per model call.
        """
        batch_size = positive_batch_size(batch_size)
        if _is_token_dict(inputs):
            missing = [key for key in self.text_input_names if key not in inputs]
            if missing:
                raise ConfigError(f"encode_text: this model also reads {missing} (its word2vec branch averages the "
                                  "word-vector vocabulary); give raw sentences or the preprocessor's full output")
            text = {key: numeric_array(inputs[key], f"encode_text: {key!r}") for key in self.text_input_names}
            for key, value in text.items():
                if value.ndim != 2:
                    raise ConfigError(f"encode_text: {key!r} has shape {value.shape}; expected (N, L) token ids, "
                                      "one padded row per caption")
            if text["tokens"].shape[0] != text["bow_tokens"].shape[0]:
                raise ConfigError(f"encode_text: 'tokens' has {text['tokens'].shape[0]} rows but 'bow_tokens' "
                                  f"{text['bow_tokens'].shape[0]}; give one row per caption in both")
            self.check_token_ids(text, where="encode_text")
            text = {key: value.astype("int32") for key, value in text.items()}
        elif hasattr(inputs, "keys"):
            raise ConfigError(f"encode_text expects sentences or a dict with {list(TEXT_INPUTS)} (token ids), "
                              f"got {sorted(inputs)}")
        else:
            text = self.preprocess(inputs, language=language)
            text = {key: text[key] for key in self.text_input_names}
        size = len(text["tokens"])
        batches = [{key: value[start:start + batch_size] for key, value in text.items()}
                   for start in range(0, size, batch_size)]
        embeddings = predict_batches(self.text_encoder, batches)
        return l2_normalize(embeddings) if normalize else embeddings

    def encode_items(self, features, item_ids: Optional[Sequence[str]] = None, normalize: bool = True,
                     batch_size: int = 256) -> np.ndarray:
        """Item embeddings ``(N, E)`` float32, unit-norm rows by default (cosine).

        Args:
            features: an ``(N, D)`` (or ``(N, T, D)`` frames) array, or, with ``item_ids``, a
                ``w2vvx.io.BigFile`` (read batch by batch, memory-mapped) or a callable
                ``item_ids -> array``. A BigFile without ``item_ids`` encodes all its rows in file order.
            item_ids: the items to encode from a BigFile or callable, in this order.
            normalize: L2-normalise the rows (rank by cosine). ``False`` gives the raw embeddings.
            batch_size: items per model call.

        Raises:
            ConfigError: the features' shape or dimension D differs from the model's visual input.
        """
        batch_size = positive_batch_size(batch_size)
        if item_ids is None and hasattr(features, "names") and hasattr(features, "read_rows"):
            item_ids = list(features.names)
        if item_ids is not None:
            from w2vvx.datasets.batching import EncodeDataset

            dataset = EncodeDataset.from_features(features, list(item_ids), batch_size=batch_size)
            if len(dataset):
                self.check_visual_shape(np.shape(dataset[0][0]))
            embeddings = predict_batches(self.visual_encoder, FiniteBatches(dataset, list(item_ids), batch_size))
        else:
            if callable(features) and not isinstance(features, np.ndarray):
                raise ConfigError("a callable feature source needs item_ids (the items to read)")
            features = float_features(features)
            self.check_visual_shape(features.shape)
            check_finite_rows(features)
            embeddings = predict_batches(self.visual_encoder, [features[start:start + batch_size]
                                                               for start in range(0, len(features), batch_size)])
        return l2_normalize(embeddings) if normalize else embeddings

    def encode_visual(self, features, batch_size: int = 256) -> np.ndarray:
        """Raw (not normalised) item embeddings of ``(N, D)`` features: ``encode_items(..., normalize=False)``."""
        return self.encode_items(features, normalize=False, batch_size=batch_size)

    def search(self, sentences, items=None, k: int = 10, language: Optional[str] = None,
               item_ids: Optional[Sequence[str]] = None, index=None, batch_size: int = 256):
        """Rank items for each sentence by cosine: ``(ids, scores)`` of shape ``(n_sentences, k)``, best first.

        Args:
            sentences: what :meth:`encode_text` takes (raw sentences or token inputs).
            items: item features (what :meth:`encode_items` takes), encoded now; or leave it ``None``
                and pass ``index``.
            k: results per sentence.
            language: the language of plain-string sentences.
            item_ids: ids of ``items`` (default: row numbers, or the BigFile's ids).
            index: an index of encoded items instead of ``items``: a
                :class:`~w2vvx.search.BruteForceIndex` or :class:`~w2vvx.search.ANNIndex` (its rows
                are compared by cosine: the queries are unit-norm, so build it over
                ``encode_items`` output or with ``normalize=True``/``metric="cos"``).
            batch_size: rows per model call.
        """
        from w2vvx.search.brute_force import BruteForceIndex

        if (items is None) == (index is None):
            raise ConfigError("give the items to rank either as features (items=...) or as an index of "
                              "encoded items (index=...), not both")
        queries = self.encode_text(sentences, language=language, batch_size=batch_size)
        if index is None:
            source = callable(items) or hasattr(items, "read_rows")  # a BigFile or an ids -> array callable
            if source and item_ids is None and hasattr(items, "names"):
                item_ids = list(items.names)
            gallery = self.encode_items(items, item_ids=item_ids if source else None, batch_size=batch_size)
            if item_ids is not None and len(item_ids) != len(gallery):
                raise ConfigError(f"got {len(item_ids)} item_ids for {len(gallery)} items; give one id per item")
            index = BruteForceIndex(gallery, ids=item_ids)
        return index.search(queries, k=k)
