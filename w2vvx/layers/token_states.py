"""The multi-scale text encoder with its token states as outputs: :class:`MultiScaleTokenEncoder`."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers.multiscale import MultiScaleTextEncoder


@keras.saving.register_keras_serializable(package="w2vvx")
class MultiScaleTokenEncoder(MultiScaleTextEncoder):
    """The W2VV branches, returning the GRU token states instead of a pooled GRU vector.

    The same branches and weights as :class:`MultiScaleTextEncoder`; ``call`` returns a dict:

    * ``"token_states"``: ``(B, L, H)`` GRU states, zero at padded steps;
    * ``"token_mask"``: ``(B, L)`` float, 1 at real tokens;
    * ``"context"``: ``(B, C)`` the other sentence-vector parts ``[BoW ‖ word2vec]`` (only with those
      branches).

    A model pools the token states its own way (NRCCR: a self-attention block, then the mean) and
    concatenates the context, giving a sentence vector of the same width as the multi-scale one.
    Needs the "gru" branch and a unidirectional GRU whose states are kept (``pooling`` not ``"last"``).

    Example:
        >>> import numpy as np
        >>> layer = MultiScaleTokenEncoder(("gru", "bow"), gru_vocab_size=9, bow_vocab_size=7, embed_dim=4,
        ...                                units=3, pooling="mean")
        >>> ids = np.array([[2, 3, 0]], "int32")
        >>> out = layer({"tokens": ids, "bow_tokens": ids})
        >>> tuple(out["token_states"].shape), np.asarray(out["token_mask"]).tolist(), tuple(out["context"].shape)
        ((1, 3, 3), [[1.0, 1.0, 0.0]], (1, 7))
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.gru is None or self.pooling == "last" or self.bidirectional:
            raise ConfigError(f"{type(self).__name__} returns the GRU token states, so it needs the 'gru' branch, "
                              f"pooling='mean' (or 'attention') and a unidirectional GRU; got branches "
                              f"{self.branches}, pooling={self.pooling!r}, bidirectional={self.bidirectional}")

    @property
    def state_dim(self) -> int:
        """H: the size of a token state."""
        return self.gru.output_dim

    @property
    def context_dim(self) -> int:
        """C: the width of ``[BoW ‖ word2vec]`` (0 without those branches)."""
        return self.output_dim - self.state_dim

    def call(self, inputs, training=None):
        self._check_inputs(inputs)
        states, mask = self.gru.token_states(inputs["tokens"], training=training)
        mask = ops.cast(mask, states.dtype)
        # zero the padded steps (the GRU repeats its last state there); this also drops the Keras mask
        # attached to the states, which the attention layers take as explicit masks instead
        outputs = {"token_states": states * mask[:, :, None], "token_mask": mask}
        context = []
        if self.bow is not None:
            context.append(self.bow(inputs["bow_tokens"]))
        if self.w2v is not None:
            context.append(self.w2v(inputs[self.w2v_source]))
        if context:
            outputs["context"] = context[0] if len(context) == 1 else ops.concatenate(context, axis=-1)
        return outputs

    def compute_output_spec(self, inputs, training=None):
        tokens = inputs["tokens"]
        batch, length = tokens.shape[0], tokens.shape[1]
        spec = {"token_states": keras.KerasTensor((batch, length, self.state_dim), dtype=self.compute_dtype),
                "token_mask": keras.KerasTensor((batch, length), dtype=self.compute_dtype)}
        if self.context_dim:
            spec["context"] = keras.KerasTensor((batch, self.context_dim), dtype=self.compute_dtype)
        return spec
