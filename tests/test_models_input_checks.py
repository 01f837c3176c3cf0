"""A Retriever names wrong input shapes (features of another extractor, frames, missing text keys)."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.models import build_model, get_config


def _model(frames=False):
    config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
    return build_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12, frames=frames)


@pytest.mark.parity
def test_visual_features_of_another_dimension_are_named():
    model = _model()
    assert model.visual_input_shape == (12,)
    assert model.encode_visual(np.zeros((3, 12))).shape == (3, 16)
    with pytest.raises(ConfigError, match=r"10 dimensions.*trained on 12-dimensional.*--feature"):
        model.encode_visual(np.zeros((3, 10)))
    with pytest.raises(ConfigError, match=r"shape \(3, 4, 12\).*frames=True"):
        model.encode_visual(np.zeros((3, 4, 12)))
    inputs = {"tokens": np.ones((2, 5), "int32"), "bow_tokens": np.ones((2, 5), "int32"),
              "visual": np.zeros((2, 7), "float32")}
    with pytest.raises(ConfigError, match="7 dimensions"):
        model(inputs)
    with pytest.raises(ConfigError, match="7 dimensions"):
        model.fit(inputs, epochs=1, verbose=0)


def test_frame_models_and_text_inputs_are_checked():
    model = _model(frames=True)
    assert model.encode_visual(np.zeros((2, 5, 12))).shape == (2, 16)
    with pytest.raises(ConfigError, match=r"\(N, T, D\) frame features with D = 12"):
        model.encode_visual(np.zeros((2, 12)))
    with pytest.raises(ConfigError, match=r"\['tokens', 'bow_tokens'\].*got \['tokens'\]"):
        model.encode_text({"tokens": np.ones((2, 5), "int32")})
    with pytest.raises(ConfigError, match=r"shape \(2, 3, 5\); expected \(N, L\)"):
        model.encode_text({"tokens": np.ones((2, 3, 5)), "bow_tokens": np.ones((2, 3, 5))})
