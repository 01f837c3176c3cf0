"""One text pipeline (issue #19 item 1): training batches, validation and ``encode_text`` tokenise through the
model's preprocessor; a language name means the same language at every entry point; a run folder holds its
vocabularies once (inside ``best.keras``)."""
import zipfile

import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.io import Caption

ZH = "一只 狗 在 草地 上 跑"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch run of the trainer tests' tiny collection, and the trainer that made it."""
    from test_training_trainer import _make_collection, _tiny_config

    from w2vvx.training import Trainer

    root = tmp_path_factory.mktemp("pipeline")
    features, train, val = _make_collection(root)
    trainer = Trainer(_tiny_config(max_epochs=1), root / "run", train, features, val, verbose=0, seed=3,
                      tensorboard=False)
    trainer.fit()
    return trainer, train, val


def test_training_batches_validation_and_encode_text_share_the_token_ids(trained):
    from w2vvx.io.archives import load_keras_model
    from w2vvx.models import Retriever
    from w2vvx.training.validation import validation_encoder, validation_inputs

    trainer, train, val = trained
    model = trainer.model
    assert model.preprocessor is trainer.preprocessor  # the model carries the pipeline the trainer built
    batches = trainer.training_batches()
    expected = model.preprocess(train)  # what encode_text runs on raw captions
    for key in ("tokens", "bow_tokens"):
        np.testing.assert_array_equal(batches.text_arrays[key], expected[key])
    assert batches.text_arrays["tokens"].any() and batches.text_arrays["bow_tokens"].any()
    # one batch, as model.fit gets it: its rows are the preprocessor's rows of the drawn captions
    (x,) = batches.get_batch(0, epoch=0)
    rows = [np.flatnonzero((expected["tokens"] == row).all(axis=1)) for row in x["tokens"]]
    assert all(len(found) for found in rows)
    validation = validation_inputs(model, val)
    for key in ("tokens", "bow_tokens"):
        np.testing.assert_array_equal(validation[key], model.preprocess(val)[key])
    text_emb, _ = validation_encoder(model, val, trainer.val_features, trainer.val_items)(model)
    np.testing.assert_allclose(text_emb, model.encode_text(val, normalize=False), rtol=1e-5, atol=1e-6)
    # best.keras carries the same pipeline: the loaded model tokenises as the training batches did
    loaded = load_keras_model(trainer.run_dir / "best.keras", expected_class=Retriever)
    np.testing.assert_array_equal(loaded.preprocessor(train)["tokens"], batches.text_arrays["tokens"])


def test_the_run_folder_holds_the_vocabularies_once(trained):
    trainer = trained[0]
    run_dir = trainer.run_dir
    assert not (run_dir / "prepared").exists()
    with zipfile.ZipFile(run_dir / "best.keras") as archive:
        vocabularies = sorted(name.rsplit("/", 1)[-1] for name in archive.namelist() if "vocab" in name)
    assert vocabularies == ["bow_vocab.txt", "gru_vocab.txt", "w2v_vocab.txt"]  # w2v: the mean-word2vec words
    files = [path for path in run_dir.rglob("*") if path.is_file() and path.name != "best.keras"]
    assert not [path for path in files if "vocab" in path.name]
    words = [word for word in trainer.preprocessor.gru_vocab.words[2:]]
    for path in files:  # no other file lists the vocabulary (provenance.json keeps digests only)
        if path.suffix in (".json", ".txt", ".csv"):
            text = path.read_text(encoding="utf-8")
            assert not all(f"{word} " in text or f'"{word}"' in text for word in words), path


def test_resume_builds_the_same_vocabularies_and_checks_them(trained, tmp_path):
    import shutil

    from test_training_trainer import _tiny_config

    from w2vvx.training import Trainer
    from w2vvx.training.provenance import read_provenance

    trainer, train, val = trained
    run_dir = tmp_path / "run"
    shutil.copytree(trainer.run_dir, run_dir)
    resumed = Trainer(_tiny_config(max_epochs=2), run_dir, train, trainer.features, val, verbose=0, seed=3,
                      tensorboard=False)
    assert resumed.fit(resume=True).epochs_done == 2
    assert resumed.prepared.gru_embedding is None  # resuming neither loads nor trains word vectors
    digests = resumed.preprocessor.vocabulary_digests_now()
    assert digests == trainer.preprocessor.vocabulary_digests_now() == read_provenance(run_dir)["vocabularies"]


def _names():
    """A Chinese caption given as the code, as the lineage's tags, and in a tagged Caption."""
    return ["zh", "zhc", "enc2zh", "google_enc2zh"]


def test_a_language_name_resolves_identically_at_every_entry_point():
    from w2vvx.datasets.batching import tag_captions
    from w2vvx.models import W2VVPreprocessor
    from w2vvx.text import SentenceFeaturizer, Vocabulary, caption_language, resolve_language, tokenize_captions
    from w2vvx.text.tokenizers import Tokenizer
    from w2vvx.training.prepare import prepare_vocabularies

    vocab = Vocabulary(["dog", "狗", "草地", "跑"])
    expected_tokens = Tokenizer("zh")(ZH)
    expected_ids = SentenceFeaturizer("zh", vocab, vocab)(ZH)["tokens"]
    reference = W2VVPreprocessor(vocab, vocab, languages=["en", "zh"])
    for name in _names():
        assert resolve_language(name) == "zh", name
        assert caption_language(Caption(f"v#{name}#0", "v", name, 0, ZH)) == "zh", name
        assert caption_language(("v", ZH), default=name) == "zh", name
        assert Tokenizer(name).language == "zh" and Tokenizer(name)(ZH) == expected_tokens, name
        assert tokenize_captions([("v", ZH)], default_language=name)[0] == [expected_tokens], name
        np.testing.assert_array_equal(SentenceFeaturizer(name, vocab, vocab)(ZH)["tokens"], expected_ids)
        np.testing.assert_array_equal(reference([ZH], language=name)["tokens"][0], expected_ids)
        np.testing.assert_array_equal(reference([Caption(f"v#{name}#0", "v", name, 0, ZH)])["tokens"][0],
                                      expected_ids)
        pre = W2VVPreprocessor(vocab, vocab, languages=["en", name], default_language=name)
        assert pre.languages == ["en", "zh"] and pre.default_language == "zh", name
        np.testing.assert_array_equal(pre([ZH])["tokens"][0], expected_ids)
        assert prepare_vocabularies([("v", ZH)], min_count=1, default_language=name).languages == ["zh"], name
        assert tag_captions({name: [("v", ZH)]})[name][0].tag == name  # its tag then resolves as above
    for entry in (resolve_language, Tokenizer):
        with pytest.raises(ConfigError, match="'xx'"):
            entry("xx")
    with pytest.raises(ConfigError, match="not 'google_enc2de'"):
        reference([ZH], language="google_enc2de")  # resolves to de, which this model was not trained on


def test_encode_text_takes_a_caption_tag_as_language():
    import keras

    from w2vvx.models import W2VVPreprocessor, build_model, get_config
    from w2vvx.text import Vocabulary

    vocab = Vocabulary(["dog", "狗", "草地", "跑"])
    keras.utils.set_random_seed(0)
    config = get_config("w2vvpp", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8)
    model = build_model(config, gru_vocab_size=len(vocab), bow_vocab_size=len(vocab), visual_dim=3,
                        preprocessor=W2VVPreprocessor(vocab, vocab, languages=["en", "zh"]))
    expected = model.encode_text([ZH], language="zh")
    for name in _names():
        np.testing.assert_allclose(model.encode_text([ZH], language=name), expected, rtol=1e-6)
