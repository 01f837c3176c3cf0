"""The two-tower task behind every W2VV-family model: loss, and the one encoding and ranking path.

:class:`W2VVModel` wires a text encoder, a visual encoder and a loss; its ``encode_text``,
``encode_items`` and ``search`` are what training, evaluation, the pipeline, the recipes and the CLI
call to embed sentences and items (cosine by default: rows are L2-normalised). Build one with
:func:`w2vvx.models.build_model`, which returns the serializable :class:`~w2vvx.models.W2VVRetriever`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.models import torch_train_step
from w2vvx.models.configs import ModelConfig
from w2vvx.models.input_checks import FiniteBatches, check_finite_rows, check_token_ids, float_features, numeric_array
from w2vvx.models.w2vv_backbone import TEXT_INPUTS, W2VVBackbone
from w2vvx.vectors import l2_normalize


def build_loss(config: ModelConfig):
    """``(loss, temperature)`` of ``config``: the loss object and, for ``learnable_temperature``, its τ layer.

    Example:
        >>> from w2vvx.models import get_config
        >>> loss, temperature = build_loss(get_config("w2vvpp"))
        >>> type(loss).__name__, temperature
        ('TripletRankingLoss', None)
    """
    from w2vvx.layers import LearnableTemperature
    from w2vvx.losses import get_loss

    loss_kwargs = dict(config.loss_kwargs)
    loss_fn = get_loss(config.loss, **loss_kwargs)
    temperature = None
    if config.learnable_temperature:
        low, high = config.temperature_range
        temperature = LearnableTemperature(initial=loss_kwargs.get("temperature", 0.07), min_value=low,
                                           max_value=high, learnable=True, name="temperature")
    return loss_fn, temperature


def predict_batches(encoder, batches) -> np.ndarray:
    """Run ``encoder`` in inference mode over ``batches`` (a sequence of inputs, or a PyDataset of ``(x,)``).

    The one batched-inference loop of w2vvx (``predict_on_batch``: no progress bar, dropout off).

    Example:
        >>> encoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> predict_batches(encoder, [np.zeros((4, 3)), np.zeros((1, 3))]).shape
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


def _positive_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


@keras.saving.register_keras_serializable(package="w2vvx")
class W2VVModel(keras.Model):
    """Two-tower model whose training loss compares the text and visual embeddings of a batch.

    Build it with :func:`w2vvx.models.build_model` (a :class:`~w2vvx.models.W2VVRetriever`); this
    constructor wires ready-made parts (subclasses such as NRCCR's model do).

    Inputs (``call`` and ``fit``): a dict with ``"tokens"`` and ``"bow_tokens"`` (``(B, L)`` int32,
    post-padded, 0 = padding), ``"visual"`` (``(B, D)`` float32, or ``(B, T, D)`` frames), and for
    the pairwise contrastive loss optionally ``"negative_visual"`` (one negative per sentence, drawn
    outside the batch by the data pipeline). For the 1-to-K loss the token inputs are
    ``(B, K, L)``: the K captions of each item; they are encoded language-major (row ``k·B + i``).
    ``fit`` takes these dicts as ``x`` and no ``y``.

    Outputs of ``call``: ``{"text": ..., "visual": ...}`` (plus ``"negative_visual"`` when given).

    Args:
        text_encoder: functional model ``{"tokens", "bow_tokens"} → (B, E)``.
        visual_encoder: functional model ``(B, D) | (B, T, D) → (B, E)``.
        loss_fn: a loss from :mod:`w2vvx.losses` (``call(visual, text)``).
        temperature: optional :class:`w2vvx.layers.LearnableTemperature` passed to the loss.
        build_settings: the backbone hyperparameters (config dict, vocabulary sizes, visual dim,
            frames); ``get_config`` stores them so ``from_config`` rebuilds the model.
        preprocessor: optional :class:`~w2vvx.models.W2VVPreprocessor`, so that ``encode_text`` and
            ``search`` take raw sentences.

    Example:
        >>> from w2vvx.models import build_model, get_config
        >>> config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12)
        >>> model.encode_items(np.ones((3, 12), "float32")).shape
        (3, 16)
    """

    def __init__(self, text_encoder, visual_encoder, loss_fn, temperature=None, build_settings=None,
                 preprocessor=None, **kwargs):
        super().__init__(**kwargs)
        self.text_encoder = text_encoder
        self.visual_encoder = visual_encoder
        self.loss_fn = loss_fn
        self.temperature = temperature
        self.build_settings = dict(build_settings or {})
        self.preprocessor = preprocessor
        self.built = True

    def build(self, input_shape=None):
        self.built = True

    def check_token_ids(self, inputs, where: str = "token inputs") -> None:
        """Raise ConfigError when a token id of ``inputs`` (NumPy) is outside the model's vocabularies."""
        check_token_ids(inputs, self.build_settings.get("gru_vocab_size"), self.build_settings.get("bow_vocab_size"),
                        where=where)

    @staticmethod
    def _text_inputs(inputs):
        missing = [key for key in TEXT_INPUTS if key not in inputs]
        if missing:
            raise ConfigError(f"model inputs lack {missing}; expected a dict with keys "
                              f"{list(TEXT_INPUTS)} and 'visual' (got {sorted(inputs)})")
        text = {key: inputs[key] for key in TEXT_INPUTS}
        if len(text["tokens"].shape) == 3:  # (B, K, L) → (K·B, L), language-major
            text = {key: ops.reshape(ops.transpose(value, (1, 0, 2)), (-1, ops.shape(value)[-1]))
                    for key, value in text.items()}
        return text

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

    _check_visual = check_visual_shape  # the name subclasses used before it was public

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            raise ConfigError(f"{type(self).__name__} expects a dict of inputs (tokens, bow_tokens, visual), "
                              f"got {type(inputs).__name__}")
        outputs = {"text": self.text_encoder(self._text_inputs(inputs), training=training)}
        for key in ("visual", "negative_visual"):
            if key in inputs:
                self.check_visual_shape(tuple(inputs[key].shape), key)
                outputs[key] = self.visual_encoder(inputs[key], training=training)
        return outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Apply the configured loss to (visual, text) embeddings; ``y`` is not used."""
        if y_pred is None:
            y_pred = self(x, training=training)
        if training and self.embedding_gather is not None:  # several processes: the global batch
            y_pred = self.embedding_gather(y_pred)
        if "visual" not in y_pred:
            raise ConfigError("training/evaluation inputs need the key 'visual' (visual features of the batch)")
        visual = y_pred["visual"]
        if "negative_visual" in y_pred:
            visual = ops.concatenate([visual, y_pred["negative_visual"]], axis=0)
        if self.temperature is not None:
            loss = self.loss_fn(visual, y_pred["text"], sample_weight, temperature=self.temperature())
        else:
            loss = self.loss_fn(visual, y_pred["text"], sample_weight)
        for extra in self.losses:
            loss = loss + ops.cast(extra, loss.dtype)
        return loss

    #: on torch/CUDA, capture the train step as a CUDA graph per input shape (see
    #: :mod:`w2vvx.models.torch_train_step`); set False on an instance to keep every step eager
    cuda_graphs = True
    #: on torch, the class of the train step (:mod:`w2vvx.training.distributed` sets one that averages
    #: the gradients of several processes)
    torch_step_class = torch_train_step.TorchTrainStep
    #: ``y_pred -> y_pred`` over the global batch, set by :mod:`w2vvx.training.distributed` when several
    #: processes train (embeddings gathered with their gradients: in-batch negatives from every process)
    embedding_gather = None

    def train_step(self, *args):
        """Keras's train step; on torch, :class:`~w2vvx.models.torch_train_step.TorchTrainStep` (no GPU waits)."""
        if keras.backend.backend() != "torch" or not torch_train_step.uses_fast_step(self):
            return super().train_step(*args)
        step = getattr(self, "_torch_step", None)
        if step is None or step.optimizer is not self.optimizer or step.cuda_graphs != self.cuda_graphs \
                or type(step) is not self.torch_step_class:
            step = self._torch_step = self.torch_step_class(self, cuda_graphs=self.cuda_graphs)
        return step(*args)

    @property
    def torch_train_step(self):
        """The :class:`~w2vvx.models.torch_train_step.TorchTrainStep` serving ``fit`` on torch (its
        ``graphs`` and ``refused`` say which input shapes run as CUDA graphs); None before the first step."""
        return getattr(self, "_torch_step", None)

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """Keras's ``fit``; on torch/CUDA a dict of arrays is fed from pinned memory (:func:`~w2vvx.models.torch_train_step.pinned_batches`)."""
        if hasattr(x, "keys") and all(isinstance(value, np.ndarray) for value in x.values()):
            self.check_token_ids(x, where="fit inputs")  # on the host, once: never inside the compiled step
        plain = (not args and y is None and kwargs.get("sample_weight") is None and not kwargs.get("class_weight")
                 and not kwargs.get("validation_split") and kwargs.get("shuffle", True) != "batch")
        if plain and keras.backend.backend() == "torch" and hasattr(x, "keys") and self.trainable_weights \
                and all(isinstance(value, np.ndarray) for value in x.values()) \
                and self.trainable_weights[0].value.device.type == "cuda":
            batch_size = _positive_batch_size(32 if batch_size is None else batch_size)
            x = torch_train_step.pinned_batches(x, batch_size, kwargs.pop("shuffle", True))
            batch_size, kwargs["shuffle"] = None, False  # the loader shuffles
        return super().fit(x, y, batch_size, *args, **kwargs)

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
        batch_size = _positive_batch_size(batch_size)
        if _is_token_dict(inputs):
            text = {key: numeric_array(inputs[key], f"encode_text: {key!r}") for key in TEXT_INPUTS}
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
        batch_size = _positive_batch_size(batch_size)
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

    # -- saving ------------------------------------------------------------------------------------
    def save_for_inference(self, path) -> Path:
        """Write a ``.keras`` file without optimizer state (about half the size of ``model.save``).

        ``keras.saving.load_model(path)`` (after ``import w2vvx``) gives back the model, preprocessor
        and vocabularies included; it is not compiled. The file appears atomically.
        """
        from w2vvx.io.atomic import atomic_path

        path = Path(path)
        if path.suffix != ".keras":
            raise ConfigError(f"{path}: an inference export is a .keras file; name it <something>.keras")
        clone = self.inference_copy()
        with atomic_path(path, mode_suffix=".keras") as tmp:
            clone.save(tmp, overwrite=True)
        return path

    def inference_copy(self) -> "W2VVModel":
        """An uncompiled copy of this model with the same weights (and preprocessor vocabularies)."""
        clone = type(self).from_config(self.get_config())
        weights = self.get_weights()
        if len(clone.weights) != len(weights):
            raise ConfigError(f"{type(self).__name__}.from_config(get_config()) rebuilds {len(clone.weights)} "
                              f"weights instead of {len(weights)}; the model cannot be copied")
        clone.set_weights(weights)
        if self.preprocessor is not None:
            if getattr(clone, "preprocessor", None) is None:
                clone.preprocessor = type(self.preprocessor).from_config(self.preprocessor.get_config())
            clone.preprocessor.set_vocabularies(self.preprocessor.gru_vocab, self.preprocessor.bow_vocab)
        return clone

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self.build_settings}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        name = config.pop("name", None)
        config.pop("trainable", None)
        backbone = W2VVBackbone(**config)
        loss_fn, temperature = build_loss(backbone.model_config)
        return cls(backbone.text_encoder, backbone.visual_encoder, loss_fn, temperature=temperature,
                   build_settings=config, name=name)
