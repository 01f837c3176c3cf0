"""NRCCR's visual encoders (nrccr model.py 82-129), COCO-CN's pre-padded GRU, the frame source."""
import keras
import numpy as np
import pytest

from w2vvx.datasets.batching_frames import FrameSequenceFeatures
from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.layers.frame_transformer import FrameTransformerEncoder
from w2vvx.layers.gru_encoder import GRUTextEncoder, pre_pad
from w2vvx.layers.image_projection import ReLUImageProjection
from w2vvx.models import get_config
from w2vvx.models.w2vv.w2vv_backbone import build_visual_encoder


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parity
def test_frame_transformer_shapes_and_padding_frames_change_nothing():
    keras.utils.set_random_seed(0)
    layer = FrameTransformerEncoder(hidden_dim=8, num_heads=2, key_dim=4, max_frames=4, max_positions=5)
    frames = np.random.default_rng(0).normal(size=(2, 3, 6)).astype("float32")
    out = _numpy(layer(frames))
    assert out.shape == (2, 8)
    padded = np.concatenate([frames, np.zeros((2, 1, 6), "float32")], axis=1)  # one padding frame
    np.testing.assert_allclose(_numpy(layer(padded)), out, atol=1e-5)
    # a video's vector does not depend on the other videos of the batch (NRCCR's avg_pool1d would)
    short = frames.copy()
    short[1, 1:] = 0.0
    alone = _numpy(layer(short[1:2, :2]))
    np.testing.assert_allclose(_numpy(layer(short))[1], alone[0], atol=1e-5)
    # frames beyond max_frames are ignored (NRCCR keeps the first 64)
    longer = np.concatenate([padded, np.ones((2, 3, 6), "float32")], axis=1)
    np.testing.assert_allclose(_numpy(layer(longer)), out, atol=1e-5)


@pytest.mark.parity
def test_visual_layers_serialize_round_trip(tmp_path):
    keras.utils.set_random_seed(1)
    frames = keras.Input((None, 6))
    model = keras.Model(frames, FrameTransformerEncoder(hidden_dim=8, num_heads=2, key_dim=4, max_frames=4,
                                                       max_positions=5)(frames))
    image = keras.Input((5,))
    image_model = keras.Model(image, ReLUImageProjection()(image))
    x = np.random.default_rng(1).normal(size=(3, 4, 6)).astype("float32")
    y = np.random.default_rng(2).normal(size=(3, 5)).astype("float32")
    for net, data in ((model, x), (image_model, y)):
        path = tmp_path / f"{net.name}.keras"
        net.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(_numpy(loaded(data)), _numpy(net(data)), atol=1e-5)
    assert (_numpy(image_model(y)) >= 0).all()


def test_visual_encoder_is_selected_by_the_config():
    config = get_config("nrccr", common_space_dim=4, visual_encoder="nrccr_frames", visual_hidden_dim=8,
                        visual_heads=2)
    encoder = build_visual_encoder(config, visual_dim=6, frames=True)
    assert any(isinstance(layer, FrameTransformerEncoder) for layer in encoder.layers)
    assert tuple(encoder(np.ones((2, 3, 6), "float32")).shape) == (2, 4)
    image = build_visual_encoder(get_config("nrccr", common_space_dim=4, visual_encoder="nrccr_image"), visual_dim=6)
    assert any(isinstance(layer, ReLUImageProjection) for layer in image.layers)
    with pytest.raises(ConfigError, match="frame features"):
        build_visual_encoder(config, visual_dim=6, frames=False)
    with pytest.raises(ConfigError, match="common space"):
        build_visual_encoder(get_config("base_w2vv", visual_encoder="nrccr_image"), visual_dim=6)
    with pytest.raises(ConfigError, match="visual_encoder must be one of"):
        get_config("nrccr", visual_encoder="transformer")


@pytest.mark.parity
def test_pre_padded_gru_is_coco_cn_s_unmasked_run():
    np.testing.assert_array_equal(_numpy(pre_pad(np.array([[3, 4, 5, 0], [6, 0, 0, 0], [0, 0, 0, 0]]))),
                                  [[0, 3, 4, 5], [0, 0, 0, 6], [0, 0, 0, 0]])
    keras.utils.set_random_seed(2)
    encoder = GRUTextEncoder(vocab_size=10, embed_dim=4, units=3, pooling="attention", dropout=0.0, padding="pre")
    post = np.array([[3, 4, 0, 0]], "int32")
    result = _numpy(encoder(post))
    # the same as running the encoder's parts over the pre-padded row with no mask at all
    states = encoder.recurrent(encoder.embedding(np.array([[0, 0, 3, 4]], "int32")))
    expected = encoder.attention(states)
    np.testing.assert_allclose(result, _numpy(expected), atol=1e-6)
    masked = GRUTextEncoder(vocab_size=10, embed_dim=4, units=3, pooling="attention", dropout=0.0)
    masked(post)
    masked.set_weights(encoder.get_weights())
    assert not np.allclose(_numpy(masked(post)), _numpy(encoder(post)))  # the padded steps count
    assert GRUTextEncoder.from_config(encoder.get_config()).padding == "pre"


class _Frames:
    names = ["v_1", "v_2", "v_3", "w_1"]

    def read_rows(self, rows):
        return (np.arange(4, dtype="float32")[:, None] + 1.0).repeat(2, axis=1)[rows]


def test_frame_sequence_features_pad_and_truncate():
    source = FrameSequenceFeatures(_Frames(), {"v": ["v_1", "v_2", "v_3", "v_gone"], "w": ["w_1"]}, max_frames=2)
    out = source(["w", "v"])
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[:, :, 0], [[4.0, 0.0], [1.0, 2.0]])
    with pytest.raises(DataFormatError, match="no frame"):
        source(["x"])
