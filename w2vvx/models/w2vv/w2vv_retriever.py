"""The W2VV retrieval task: backbone + preprocessor + loss, :class:`W2VVRetriever`."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.models.configs import ModelConfig
from w2vvx.models.retriever import Retriever
from w2vvx.models.w2vv.w2vv_backbone import W2VVBackbone
from w2vvx.models.w2vv.w2vv_preprocessor import W2VVPreprocessor


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


@keras.saving.register_keras_serializable(package="w2vvx")
class W2VVRetriever(Retriever):
    """A trainable, saveable cross-lingual text-to-item retriever, in the style of keras-hub tasks.

    ``fit`` on token inputs (see :class:`~w2vvx.models.retriever.Retriever`; ``fit`` takes the input
    dicts as ``x`` and no ``y``), then ``encode_text(sentences, language=...)``,
    ``encode_items(features)`` and ``search(sentences, items, k)`` on raw sentences: all rank by cosine
    by default. ``get_config`` serialises the parts (backbone, preprocessor, loss, temperature), so
    ``keras.saving.load_model(path)`` in a new process (after ``import w2vvx``), on any backend, gives
    back a model that encodes raw sentences; the vocabularies travel inside the ``.keras`` file.

    Args:
        backbone: the :class:`W2VVBackbone` (the two towers), called by the task.
        preprocessor: a :class:`W2VVPreprocessor` (``None``: ``encode_text`` then needs token inputs).
        loss_fn: the training loss (``call(visual, text)``); default: the one of ``backbone.model_config``.
            For the pairwise contrastive loss the inputs may hold ``"negative_visual"`` (one negative
            per sentence, drawn outside the batch by the data pipeline); for the 1-to-K loss the token
            inputs are ``(B, K, L)``.
        temperature: a learnable temperature layer; default: one when the config asks for it.

    Example:
        >>> import numpy as np
        >>> from w2vvx.models import get_config
        >>> from w2vvx.text import Vocabulary
        >>> vocab = Vocabulary(["dog", "runs", "cat", "sleeps", "hund"])
        >>> config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> retriever = W2VVRetriever(
        ...     W2VVBackbone(config, gru_vocab_size=len(vocab), bow_vocab_size=len(vocab), visual_dim=12),
        ...     W2VVPreprocessor(vocab, vocab, languages=["en", "de"]))
        >>> retriever.encode_text(["a dog runs", "ein hund"], language="en").shape
        (2, 16)
        >>> ids, scores = retriever.search(["ein hund"], items=np.eye(12, dtype="float32")[:3],
        ...                                item_ids=["a", "b", "c"], k=2, language="de")
        >>> ids.shape, bool(scores[0, 0] >= scores[0, 1])
        ((1, 2), True)
    """

    serialized_parts = ("backbone", "preprocessor", "loss_fn", "temperature")

    def __init__(self, backbone: W2VVBackbone, preprocessor=None, loss_fn=None, temperature=None, **kwargs):
        if not isinstance(backbone, W2VVBackbone):
            raise ConfigError(f"backbone must be a W2VVBackbone, got {type(backbone).__name__}")
        if preprocessor is not None and not isinstance(preprocessor, W2VVPreprocessor):
            raise ConfigError(f"preprocessor must be a W2VVPreprocessor or None, got {type(preprocessor).__name__}")
        default_loss, default_temperature = build_loss(backbone.model_config)
        kwargs.setdefault("name", backbone.model_config.name)
        super().__init__(backbone, preprocessor, **kwargs)
        self.loss_fn = default_loss if loss_fn is None else loss_fn
        self.temperature = default_temperature if temperature is None else temperature
        self.built = True

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
        return self.total_loss([loss])

    def total_loss(self, terms):
        """The sum of ``terms`` (scalar tensors) and of the layers' own losses (``self.losses``)."""
        loss = terms[0]
        for term in list(terms[1:]) + list(self.losses):
            loss = loss + ops.cast(term, loss.dtype)
        return loss
