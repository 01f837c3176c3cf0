"""Inputs checked where they enter (issue 23, bad cases 1, 3, 4, 5): query words, vocabulary assets, token
ids on every backend, NaN/Inf feature rows. Each test failed before the check existed."""
import shutil
import warnings
import zipfile

import keras
import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, QueryError, UnknownWordsWarning, W2VVXError, W2VVXWarning
from w2vvx.models import W2VVPreprocessor, W2VVRetriever, build_model, get_config
from w2vvx.text import Vocabulary

VOCAB = Vocabulary(["dog", "runs", "cat", "sleeps", "grass", "red", "hund", "katze", "狗", "猫", "草地"])
VISUAL_DIM = 6


@pytest.fixture(scope="module")
def model():
    config = get_config("w2vvpp", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8, dropout=0.0)
    pre = W2VVPreprocessor(VOCAB, VOCAB, languages=["en", "zh"], maxlen=6)
    return build_model(config, len(VOCAB), len(VOCAB), visual_dim=VISUAL_DIM, preprocessor=pre)


ITEMS = np.random.default_rng(0).normal(size=(5, VISUAL_DIM)).astype("float32")


# -- 1. queries whose words the model does not know -------------------------------------------------------------
@pytest.mark.parametrize("query, language", [("一只狗在草地上奔跑", "en"), ("a dog runs", "zh"),
                                             ("qqzx wvvk", "en")])
def test_a_query_none_of_whose_words_is_known_is_an_error_naming_query_and_languages(model, query, language):
    with pytest.raises(QueryError) as info:
        model.search([query], items=ITEMS, k=2, language=language)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, W2VVXError)
    assert repr(query) in message and f"language {language!r}" in message and "['en', 'zh']" in message
    with pytest.raises(QueryError):
        model.encode_text(["a dog runs", query], language=language)


def test_the_wrong_language_no_longer_ranks_like_the_empty_query(model):
    """Before: the three unrelated English sentences through zh gave identical (empty-query) embeddings."""
    for sentence in ("a dog runs", "a red car", "the cat sleeps"):
        with pytest.raises(QueryError, match="none of its words"):
            model.encode_text([sentence], language="zh")
    assert np.isfinite(model.encode_text(["狗 在 草地"], language="zh")).all()


def test_a_query_mostly_unknown_warns_naming_it_and_a_known_one_is_silent(model):
    with pytest.warns(UnknownWordsWarning, match="'the blue dog jumps high'.* 4 of its 5 words"):
        model.encode_text(["the blue dog jumps high"], language="en")
    assert issubclass(UnknownWordsWarning, W2VVXWarning) and issubclass(W2VVXWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.encode_text(["a dog runs", "cat sleeps"], language="en")
        model.encode_text(["", "!!!"], language="en")  # no word at all: the documented empty sentence


def test_token_inputs_and_captions_are_data_and_not_checked_as_queries(model):
    from w2vvx.io.captions import Caption

    inputs = model.preprocessor(["qqzx wvvk"], check_queries=False)
    assert inputs["tokens"][0, :2].tolist() == [1, 1]
    assert np.isfinite(model.encode_text(inputs)).all()
    assert np.isfinite(model.encode_text([Caption("v#enc#0", "v", "enc", 0, "qqzx")])).all()


# -- 3. a vocabulary asset that lost a line ---------------------------------------------------------------------
def _drop_line(data: bytes) -> bytes:
    lines = data.decode("utf-8").splitlines(keepends=True)
    return "".join(lines[:3] + lines[4:]).encode("utf-8")


def test_a_keras_file_whose_vocabulary_lost_a_line_is_refused_naming_the_asset(model, tmp_path):
    path = model.save_for_inference(tmp_path / "m.keras")
    assert np.allclose(keras.saving.load_model(path).encode_text(["a dog"]), model.encode_text(["a dog"]), atol=1e-6)
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info, _drop_line(data) if info.filename.endswith("gru_vocab.txt") else data)
    from w2vvx.io.archives import load_keras_model

    with pytest.raises(DataFormatError) as info:
        load_keras_model(broken)  # what load_run and the CLI use
    assert str(info.value).startswith(f"{broken}: the vocabulary asset gru_vocab.txt of this saved model holds 12 "
                                      "entries") and "saved with 13" in str(info.value)
    with pytest.raises(ValueError, match="vocabulary asset gru_vocab.txt .* holds 12 entries"):
        keras.saving.load_model(broken)  # Keras wraps the error in its own ValueError


def test_a_preset_folder_whose_vocabulary_lost_a_line_is_refused(model, tmp_path):
    preset = model.save_to_preset(tmp_path / "preset")
    W2VVRetriever.from_preset(preset)
    asset = next(preset.rglob("bow_vocab.txt"))
    asset.write_bytes(_drop_line(asset.read_bytes()))
    with pytest.raises(DataFormatError, match=r"bow_vocab.txt.*edited or damaged"):
        W2VVRetriever.from_preset(preset)


def test_a_model_saved_before_digests_still_loads(model, tmp_path):
    config = model.preprocessor.get_config()
    config.pop("vocabulary_digests")
    old = W2VVPreprocessor.from_config(config)
    folder = tmp_path / "assets"
    folder.mkdir()
    model.preprocessor.save_assets(folder)
    old.load_assets(folder)
    assert old.gru_vocab == VOCAB


# -- 4. token ids out of range, on every backend ----------------------------------------------------------------
@pytest.mark.parametrize("tokens, says", [(13, "holds id 13, but the vocabulary has 13 ids"),
                                          (-1, "holds id -1"), (10 ** 12, "holds id 1000000000000")])
@pytest.mark.parametrize("key", ["tokens", "bow_tokens"])
def test_token_ids_out_of_range_are_an_error_on_every_backend(model, key, tokens, says):
    inputs = {"tokens": np.ones((2, 4), np.int64), "bow_tokens": np.ones((2, 4), np.int64)}
    inputs[key][1, 2] = tokens
    with pytest.raises(ConfigError) as info:
        model.encode_text(inputs)
    assert f"{key!r} row 1, position 2" in str(info.value) and says in str(info.value)


test_token_ids_out_of_range_are_an_error_on_every_backend = pytest.mark.parity(
    test_token_ids_out_of_range_are_an_error_on_every_backend)


@pytest.mark.parity
def test_fit_refuses_out_of_range_ids_before_the_first_step(model):
    model.compile(optimizer="adam")
    x = {"tokens": np.full((4, 3), 2, np.int32), "bow_tokens": np.full((4, 3), 99, np.int32),
         "visual": np.zeros((4, VISUAL_DIM), np.float32)}
    with pytest.raises(ConfigError, match="fit inputs: 'bow_tokens' row 0, position 0 holds id 99"):
        model.fit(x, epochs=1, batch_size=2, verbose=0)


@pytest.mark.parity
def test_a_preprocessor_whose_vocabulary_outgrew_the_model_is_refused(model):
    bigger = Vocabulary(VOCAB.words[2:] + ["extra"])
    copy = model.inference_copy()
    copy.preprocessor.set_vocabularies(bigger, bigger)
    with pytest.raises(ConfigError, match="preprocessor's output.*holds id 13"):
        copy.encode_text(["extra dog"])


def test_token_inputs_of_the_wrong_kind_are_config_errors(model):
    for bad in ({"tokens": [["a"]], "bow_tokens": [["b"]]}, {"tokens": np.full((1, 2), 1.5), "bow_tokens": np.ones((1, 2))},
                {"tokens": np.ones((2, 2), int), "bow_tokens": np.ones((3, 2), int)}, {"tokens": [[1], [1, 2]], "bow_tokens": [[1]]}):
        with pytest.raises(ConfigError):
            model.encode_text(bad)


# -- 5. NaN / Inf features --------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan, 1e39])
def test_non_finite_features_are_refused_naming_the_row(model, value):
    items = ITEMS.astype(np.float64).copy()
    items[3, 1] = value
    with pytest.raises(DataFormatError, match=r"features row 3 \(0-based\) holds NaN or Inf"):
        model.encode_items(items)
    with pytest.raises(DataFormatError, match="row 3"):
        model.search(["a dog runs"], items=items, k=2)


def test_non_finite_rows_of_a_feature_source_name_the_id(model, tmp_path):
    rows = {f"i{n}": ITEMS[n % 5] for n in range(7)}
    rows["i5"] = np.full(VISUAL_DIM, np.inf, np.float32)
    reader = lambda ids: np.stack([rows[i] for i in ids])  # noqa: E731
    with pytest.raises(DataFormatError, match=r"row 5 \(0-based\) \(id 'i5'\)"):
        model.encode_items(reader, item_ids=sorted(rows), batch_size=2)


def test_features_of_the_wrong_kind_are_config_errors(model):
    for bad in (np.zeros((0, VISUAL_DIM)), np.array([["a"] * VISUAL_DIM]), [[1.0], [1.0, 2.0]],
                np.zeros((2, VISUAL_DIM), complex)):
        with pytest.raises(ConfigError):
            model.encode_items(bad)


# -- the io and search API raise the library's classes (subclasses of the matching built-ins) -------------------
def test_bigfile_api_errors_are_library_errors_and_builtins(tmp_path):
    from w2vvx.errors import ArgumentTypeError, OutOfRangeError, UnknownIdError
    from w2vvx.io.bigfile import BigFile, write_bigfile

    write_bigfile(tmp_path / "f", ["a", "b"], np.eye(2))
    bigfile = BigFile(tmp_path / "f")
    with pytest.raises(OutOfRangeError) as info:
        bigfile.read_rows([0, 2])
    assert isinstance(info.value, IndexError) and isinstance(info.value, W2VVXError)
    with pytest.raises(ArgumentTypeError) as info:
        bigfile.read_rows([0.5])
    assert isinstance(info.value, TypeError)
    with pytest.raises(UnknownIdError) as info:
        bigfile.index("zz")
    assert isinstance(info.value, KeyError) and str(info.value).startswith("id 'zz' is not in")
    write_bigfile(tmp_path / "empty", [], np.zeros((0, 3)))  # it raised a raw TypeError
    assert BigFile(tmp_path / "empty").shape == (0, 3)


def test_search_api_errors_are_library_errors():
    from w2vvx.search.brute_force import BruteForceIndex

    for bad in (np.zeros((0, 4)), [["a", "b"]], np.zeros((2, 2), complex), np.zeros(3)):
        with pytest.raises(ConfigError):
            BruteForceIndex(bad)
    assert BruteForceIndex([[1.0, 0.0], [0.0, 1.0]]).search(np.array([[0.0, 1.0]]), k=1)[0].tolist() == [[1]]
