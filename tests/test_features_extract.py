"""Features from pixels: image folders and video frames into BigFiles (offline: random or local weights)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from w2vvx.errors import ConfigError, DataFormatError, ResumeError
from w2vvx.io.bigfile import BigFile
from w2vvx.io.frames import read_video2frames

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image is not installed (pip install w2vvx[test])")

SIZE = 64


def _save(folder, name, pixels):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels)).convert("RGB").save(folder / name)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for name, pixels in (("astronaut.jpg", skimage_data.astronaut()), ("coffee.png", skimage_data.coffee()),
                         ("chelsea.jpg", skimage_data.chelsea()), ("rocket.jpeg", skimage_data.rocket())):
        _save(folder, name, pixels)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def net():
    from w2vvx.features import build_feature_model

    return build_feature_model("resnet50", weights="none", image_size=SIZE)


def test_image_folder_to_bigfile_keyed_by_file_name_without_extension(photos, net, tmp_path):
    from w2vvx.features import extract_image_features
    from w2vvx.features.images import load_batch

    out = extract_image_features(photos, tmp_path / "feat", feature_model=net, batch_size=3)
    features = BigFile(out)
    assert features.names == ["astronaut", "chelsea", "coffee", "rocket"] and features.shape == (4, 2048)
    expected = net(load_batch([photos / "coffee.png"], SIZE))[0]
    np.testing.assert_allclose(features.read_rows([2])[0], expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(features.read_rows([0]), features.read_rows([1]))  # different photos differ
    assert not (tmp_path / "feat.partial").exists()  # the work folder is gone once the BigFile is written
    with pytest.raises(ConfigError, match="exists"):
        extract_image_features(photos, out, feature_model=net)


def test_killed_extraction_resumes_where_it_stopped(photos, net, tmp_path):
    from w2vvx.features import extract_image_features

    calls = []

    class Killed(Exception):
        pass

    class Dies:  # dies in batch number ``die_at`` (1-based), as a killed process would
        name, weights, image_size, dim = net.name, net.weights, net.image_size, net.dim
        describe = net.describe

        def __init__(self, die_at=None):
            self.die_at = die_at

        def __call__(self, images):
            calls.append(len(images))
            if len(calls) == self.die_at:
                raise Killed
            return net(images)

    with pytest.raises(Killed):
        extract_image_features(photos, tmp_path / "feat", feature_model=Dies(die_at=2), batch_size=2)
    assert not (tmp_path / "feat").exists() and (tmp_path / "feat.partial" / "chunk-00000.npy").is_file()
    calls.clear()
    out = extract_image_features(photos, tmp_path / "feat", feature_model=Dies(), batch_size=2)
    assert calls == [2]  # only the second batch was computed again
    fresh = extract_image_features(photos, tmp_path / "fresh", feature_model=net, batch_size=4)
    np.testing.assert_allclose(BigFile(out).matrix, BigFile(fresh).matrix, rtol=1e-4, atol=1e-4)


def test_resume_with_other_settings_is_refused(photos, net, tmp_path):
    from w2vvx.features.extract import extract_image_features, partial_dir

    partial_dir(tmp_path / "feat").mkdir()
    (partial_dir(tmp_path / "feat") / "settings.json").write_text(json.dumps({"model": "resnet152"}))
    with pytest.raises(ResumeError, match="other settings"):
        extract_image_features(photos, tmp_path / "feat", feature_model=net)
    assert BigFile(extract_image_features(photos, tmp_path / "feat", feature_model=net, resume=False)).shape[0] == 4


def test_id_rule_errors_name_the_files(tmp_path):
    from w2vvx.features import list_images

    _save(tmp_path / "a", "dog.jpg", skimage_data.coffee())
    _save(tmp_path / "a", "dog.png", skimage_data.coffee())
    with pytest.raises(DataFormatError, match=r"two images have the id 'dog' \(dog.jpg and dog.png\)"):
        list_images(tmp_path / "a")
    _save(tmp_path / "b", "my dog.jpg", skimage_data.coffee())
    with pytest.raises(DataFormatError, match="whitespace"):
        list_images(tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(DataFormatError, match="no image files"):
        list_images(tmp_path / "c")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "broken.jpg").write_bytes(b"not a jpeg")
    from w2vvx.features.images import load_image

    with pytest.raises(DataFormatError, match="broken.jpg.*cannot read this image"):
        load_image(tmp_path / "d" / "broken.jpg", SIZE)


def test_local_weights_file_and_bad_choices(photos, net, tmp_path):
    from w2vvx.features import build_feature_model
    from w2vvx.features.images import load_batch

    import keras

    weights = tmp_path / "mobilenet.weights.h5"
    keras.utils.set_random_seed(1)
    source = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3),
                                                 pooling="avg")
    source.save_weights(weights)
    loaded = build_feature_model("mobilenet_v3_small", weights=str(weights), image_size=SIZE)
    batch = load_batch([photos / "astronaut.jpg", photos / "rocket.jpeg"], SIZE)
    expected = keras.ops.convert_to_numpy(source(batch))
    np.testing.assert_array_equal(loaded(batch), expected)
    keras.utils.set_random_seed(2)
    other = build_feature_model("mobilenet_v3_small", weights="none", image_size=SIZE)
    assert not np.array_equal(other(batch), expected)  # the file's weights were used, not a fresh start
    with pytest.raises(ConfigError, match="unknown feature model 'vgg'"):
        build_feature_model("vgg", weights="none")
    with pytest.raises(Exception, match="weights file not found"):
        build_feature_model("resnet50", weights=str(tmp_path / "missing.h5"))


def test_clip_without_keras_hub_names_the_install():
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        from w2vvx.features import build_feature_model

        with pytest.raises(ConfigError, match="pip install keras-hub"):
            build_feature_model("clip_vit_b32", weights="imagenet")
    else:
        pytest.skip("keras-hub is installed: the missing-package message cannot be shown")


def test_video_frame_folders_give_frame_and_mean_bigfiles(net, tmp_path):
    from w2vvx.features import extract_video_features

    videos = tmp_path / "videos"
    frames = {"v1": [skimage_data.astronaut(), skimage_data.coffee(), skimage_data.rocket()],
              "v2": [skimage_data.chelsea()]}
    for video, images in frames.items():
        for number, pixels in enumerate(images):
            _save(videos / video, f"frame{number * 5 + (10 if video == 'v1' and number == 2 else 0)}.jpg", pixels)
    out, mean_out = extract_video_features(videos, tmp_path / "frames", feature_model=net, batch_size=2)
    per_frame, pooled = BigFile(out), BigFile(mean_out)
    assert read_video2frames(out / "video2frames.txt") == {"v1": ["v1_0", "v1_1", "v1_2"], "v2": ["v2_0"]}
    assert per_frame.names == ["v1_0", "v1_1", "v1_2", "v2_0"] and pooled.names == ["v1", "v2"]
    np.testing.assert_allclose(pooled.read_rows([0])[0], per_frame.read_rows([0, 1, 2]).mean(axis=0), rtol=1e-5,
                               atol=1e-5)
    assert mean_out.name == "frames_mean"


def test_cli_extract_features(photos, tmp_path):
    from w2vvx.cli import cli

    result = CliRunner().invoke(cli, ["extract-features", str(photos), "--out", str(tmp_path / "feat"),
                                      "--model", "mobilenet_v3_small", "--weights", "none", "--image-size", str(SIZE)])
    assert result.exit_code == 0, result.output
    assert "4 images x 576" in result.output and BigFile(tmp_path / "feat").shape == (4, 576)
    help_text = CliRunner().invoke(cli, ["extract-features", "--help"]).output
    assert "imagenet|none|FILE" in help_text


def test_tiny_image_needs_no_weights_and_tells_photos_apart(photos):
    from w2vvx.features import build_feature_model
    from w2vvx.features.images import load_batch

    tiny = build_feature_model("tiny_image")
    assert (tiny.dim, tiny.image_size) == (432, 48)
    grey = tiny(np.full((1, 48, 48, 3), 127.5, np.float32))
    assert grey.shape == (1, 432) and np.abs(grey).max() == 0.0  # mid-grey is the centre
    features = tiny(load_batch([photos / "astronaut.jpg", photos / "coffee.png"], 48))
    cosine = features[0] @ features[1] / np.linalg.norm(features[0]) / np.linalg.norm(features[1])
    assert cosine < 0.9
    with pytest.raises(ConfigError, match="multiple of 12"):
        build_feature_model("tiny_image", image_size=50)


def test_video_files_without_a_decoder_name_the_install(tmp_path):
    from w2vvx.features import extract_video_features

    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "clip1.mp4").write_bytes(b"\x00" * 64 + b"not a video")
    try:
        import av  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="clip1.mp4.*pip install av"):
            extract_video_features(tmp_path / "videos", tmp_path / "frames", model="tiny_image")
    else:
        with pytest.raises(DataFormatError, match="cannot decode"):
            extract_video_features(tmp_path / "videos", tmp_path / "frames", model="tiny_image")
    assert not (tmp_path / "frames").exists()
