"""Proof of the one-artifact API: train a tiny run, load its best.keras with plain Keras in a fresh process on
another backend, rank raw Chinese and German sentences against item features by cosine, and get the ranking of the
library's evaluation path (load_run + the model's preprocessor + evaluate_retrieval's cosine scores)."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from w2vvx.datasets.synthetic import generate_collection
from w2vvx.io import Collection
from w2vvx.models import sized_config
from w2vvx.training.trainer import Trainer, load_run
from w2vvx.vectors import l2_normalize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OTHER_BACKEND = "jax" if keras.backend.backend() != "jax" else "torch"

LOADER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    import w2vvx  # registers the classes: nothing else is imported from w2vvx
    model = keras.saving.load_model(sys.argv[1])  # safe mode
    job = json.load(open(sys.argv[2], encoding="utf-8"))
    items = np.load(sys.argv[3])
    out = {"backend": keras.backend.backend(), "class": type(model).__name__,
           "compiled": getattr(model, "optimizer", None) is not None}
    for language, sentences in job.items():
        pairs = [(str(number), text) for number, text in enumerate(sentences)]  # captions: not checked as queries
        scores = model.encode_text(pairs, language=language) @ model.encode_items(items).T
        out[language] = scores.tolist()
    json.dump(out, open(sys.argv[4], "w"))
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("visualsearch")
    generate_collection(root, name="toy", scale="tiny", languages=("zh", "de"), feature_dim=32, seed=1,
                        feature_name="feat32")
    collection = Collection(root, "toy")
    train = (collection.captions("train") + collection.captions("train", "google_enc2zh")
             + collection.captions("train", "google_enc2de"))
    config = sized_config("w2vvpp", "smoke", max_epochs=2)
    run_dir = root / "run"
    Trainer(config, run_dir, train, collection.features("feat32"), collection.captions("val"), verbose=0,
            tensorboard=False).fit()
    return collection, run_dir


def test_best_keras_ranks_raw_sentences_on_another_backend_as_the_evaluation_path(trained, tmp_path):
    collection, run_dir = trained
    features = collection.features("feat32")
    items = collection.item_ids("test")
    run = load_run(run_dir)
    item_emb = run.model.encode_items(features, item_ids=items, normalize=False)
    job, expected = {}, {}
    for language in ("zh", "de"):
        captions = collection.captions("test", language)[:12]
        job[language] = [caption.text for caption in captions]
        text_emb = run.model.encode_text(captions, normalize=False)
        expected[language] = l2_normalize(text_emb) @ l2_normalize(item_emb).T  # evaluate_retrieval's cosine
    (tmp_path / "job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    np.save(tmp_path / "items.npy", features.read(items, order="request")[1])
    env = dict(os.environ, KERAS_BACKEND=OTHER_BACKEND, PYTHONPATH=REPO)
    done = subprocess.run([sys.executable, "-c", LOADER, str(run_dir / "best.keras"), str(tmp_path / "job.json"),
                           str(tmp_path / "items.npy"), str(tmp_path / "out.json")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert (out["backend"], out["class"], out["compiled"]) == (OTHER_BACKEND, "W2VVRetriever", False)
    for language in ("zh", "de"):
        scores = np.asarray(out[language])
        np.testing.assert_allclose(scores, expected[language], atol=2e-4)
        assert (np.argsort(-scores, axis=1)[:, :5] == np.argsort(-expected[language], axis=1)[:, :5]).mean() > 0.95
        assert np.abs(scores).max() <= 1.0 + 1e-5  # cosine


def test_inference_export_has_no_optimizer_state_and_presets_round_trip(trained, tmp_path):
    from w2vvx.models import build_optimizer

    _, run_dir = trained
    run = load_run(run_dir)
    sentences = ["一 只 狗 在 跑", "ein Hund läuft"]
    model = run.model.inference_copy()
    model.compile(optimizer=build_optimizer(model.model_config))
    tokens = np.ones((4, 5), "int32")
    model.fit({**{key: tokens for key in model.text_input_names}, "visual": np.ones((4, 32), "float32")}, epochs=1,
              verbose=0)  # text_input_names: w2v_tokens too when the word2vec branch reads them
    model.save(tmp_path / "full.keras")
    model.save_for_inference(tmp_path / "light.keras")
    assert os.path.getsize(tmp_path / "light.keras") < 0.7 * os.path.getsize(tmp_path / "full.keras")
    assert os.path.getsize(run_dir / "best.keras") < 0.7 * os.path.getsize(tmp_path / "full.keras")
    preset = run.model.save_to_preset(tmp_path / "preset")
    from w2vvx.models import W2VVRetriever

    again = W2VVRetriever.from_preset(preset)
    for language, sentence in zip(("zh", "de"), sentences):
        np.testing.assert_allclose(again.encode_text([sentence], language=language),
                                   run.model.encode_text([sentence], language=language), atol=1e-6)
