"""Each protocol is implemented once (w2vvx.evaluation.protocols): the pipeline (do-all) and the recipes give the
same numbers on the same inputs; do-all stops on an interrupted fit; NRCCR results come with the baseline warning.

The models are stand-ins with the retriever API (``encode_text`` / ``encode_items``), so these tests check the
protocol wiring without training."""
import types
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from w2vvx.evaluation.baselines import NRCCR_MEASURED
from w2vvx.io.bigfile import BigFile, write_bigfile
from w2vvx.io.captions import write_captions
from w2vvx.io.imagesets import write_imageset

ITEMS = [f"COCO_val2014_{n:012d}" for n in range(12)]
DIM = 6


class FakeModel:
    """Sentences: mean of per-word vectors (the item word is close to its item's feature); items: their features."""

    def __init__(self, seed, features):
        self.seed, self.features = seed, features

    def _word(self, word):
        rng = np.random.default_rng([self.seed, zlib.crc32(word.encode())])
        vector = rng.normal(size=DIM)
        if word.startswith("w") and word[1:].isdigit():
            vector = 0.4 * vector + self.features[int(word[1:])]
        return vector

    def encode_text(self, captions, language=None):
        return np.stack([np.mean([self._word(w) for w in c.text.split()], axis=0) for c in captions])

    def encode_items(self, features, item_ids):
        bigfile = features
        return np.stack([bigfile.read_rows([bigfile.index(item)])[0] for item in item_ids])


def _run(model, run_dir="run"):
    return types.SimpleNamespace(model=model, run_dir=run_dir)


def _sentences(tag, split, n_per_item, seed):
    rng = np.random.default_rng(seed)
    pairs = []
    for position, item in enumerate(ITEMS):
        for index in range(n_per_item):
            noise = " ".join(f"x{int(v)}" for v in rng.integers(0, 8, size=3))
            pairs.append((f"{item}#{tag}#{index}", f"w{position} {noise}"))
    return pairs


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).normal(size=(len(ITEMS), DIM)).astype(np.float32)


@pytest.fixture
def coco_cn_data(tmp_path, vectors):
    """The same sentences in the do-all layout (collection 'toy') and in COCO-CN's split collections."""
    from recipes.coco_cn import EN, FEATURE_COLLECTION, ZH

    root = tmp_path / "root"
    text = {("en", split): _sentences("enc", split, 1, seed) for seed, split in enumerate(("train", "val", "test"))}
    text.update({("zh", split): _sentences("zh", split, 2, 10 + seed)
                 for seed, split in enumerate(("train", "val", "test"))})
    mt = _sentences("zhb", "train", 2, 20)
    toy = root / "toy"
    write_bigfile(toy / "FeatureData" / "feat", ITEMS, vectors)
    write_bigfile(root / FEATURE_COLLECTION / "FeatureData" / "feat", ITEMS, vectors)
    for split in ("train", "val", "test"):
        write_imageset(toy / "ImageSets" / f"toy{split}.txt", ITEMS)
        write_captions(toy / "TextData" / f"toy{split}.caption.txt", text[("en", split)])
        write_captions(toy / "TextData" / f"toy{split}_zh.caption.txt", text[("zh", split)])
        for language, names in (("en", EN), ("zh", ZH)):
            name = names[split]
            write_imageset(root / name / "ImageSets" / f"{name}.txt", ITEMS)
            write_captions(root / name / "TextData" / f"{name}.caption.txt", text[(language, split)])
    write_captions(toy / "TextData" / "toytrain_google_enc2zh.caption.txt", mt)
    write_captions(root / ZH["train"] / "TextData" / f"{ZH['train']}_zhb.caption.txt", mt)
    return root


def _models(vectors):
    return {"source": FakeModel(1, vectors), "human": FakeModel(2, vectors), "mt": FakeModel(3, vectors)}


def _same_rows(left, right):
    """The same metrics (per-query ranks, kept by do-all for MRV, are not compared)."""
    def metrics(row):
        return {key: value for key, value in row.items() if not isinstance(value, (np.ndarray, list))}

    assert sorted(metrics(left)) == sorted(metrics(right))
    for key, value in metrics(left).items():
        assert value == pytest.approx(right[key], abs=1e-9), key


def test_coco_cn_rows_of_do_all_and_of_the_recipe_are_the_same(coco_cn_data, vectors, monkeypatch):
    import w2vvx.pipeline as pipeline
    import w2vvx.training.trainer as trainer
    from recipes import coco_cn

    models = _models(vectors)
    by_dir = {"source_en": "source", "target_zh_human": "human", "target_zh": "mt", "en": "source", "zh": "human",
              "zh_mt": "mt"}
    monkeypatch.setattr(pipeline, "_train", lambda *args, **kwargs: None)
    monkeypatch.setattr(trainer, "load_run", lambda run_dir: _run(models[by_dir[run_dir.name]], run_dir))
    monkeypatch.setattr(coco_cn, "train", lambda config, run_dir, *args, **kwargs: _run(models[by_dir[run_dir.name]]))

    settings = pipeline.DoAllSettings(config="w2vv_attention_ctl", collection="toy", rootpath=str(coco_cn_data),
                                      size="tiny", generate=False, run_root=str(coco_cn_data / "do_all"))
    do_all = pipeline.run_do_all(settings).metrics
    recipe = coco_cn.run(coco_cn_data, coco_cn_data / "recipe", "feat", train_word_vectors=True, all_queries=True)

    for label, prefix, cm in (("COCO-CN", "", "CM-human"), ("MT", "MT: ", "CM-MT")):
        weight = next(key for key in recipe if key.startswith(prefix + "CLM")).split("w=")[1].rstrip(")")
        _same_rows(do_all[f"[{label}] CL (zh)"], recipe[prefix + "CL"])
        _same_rows(do_all[f"[{label}] {cm} (zh)"], recipe[prefix + "CM"])
        _same_rows(do_all[f"[{label}] CLM (zh, w={weight})"], recipe[f"{prefix}CLM (w={weight})"])
    # the stand-in models are not random: the protocol sees the item words
    assert do_all["[COCO-CN] CL (zh)"]["t2i_r1"] > 100.0 / len(ITEMS)


@pytest.fixture
def nrccr_data(tmp_path, vectors):
    """A collection in NRCCR's single-folder layout, with MT of the training captions and of the queries."""
    root = tmp_path / "root"
    folder = root / "vtx"
    write_bigfile(folder / "FeatureData" / "feat", ITEMS, vectors)
    files = {"train": _sentences("enc", "train", 2, 0), "train_google_enc2zh": _sentences("enc2zh", "train", 2, 1),
             "val_zh": _sentences("zh", "val", 2, 2), "val_google_zh2enc": _sentences("zh2enc", "val", 2, 3),
             "test": _sentences("enc", "test", 2, 4), "test_zh": _sentences("zh", "test", 2, 5),
             "test_google_zh2enc": _sentences("zh2enc", "test", 2, 6), "val": _sentences("enc", "val", 2, 7),
             "test_de": _sentences("de", "test", 2, 8), "val_de": _sentences("de", "val", 2, 9),
             "train_google_enc2de": _sentences("enc2de", "train", 2, 10)}
    for name, pairs in files.items():
        write_captions(folder / "TextData" / f"vtx{name}.caption.txt", pairs)
    for split in ("train", "val", "test"):
        write_imageset(folder / "ImageSets" / f"vtx{split}.txt", ITEMS)
    return root


class FakeTrainer:
    """Stands in for a trainer: ``fit`` reports a finished (or, with ``interrupted``, a stopped) run."""

    calls = []
    interrupted = False
    signal = "SIGINT"

    def __init__(self, *args, **kwargs):
        self.run_dir = args[1] if len(args) > 1 else kwargs.get("run_dir")
        FakeTrainer.calls.append(self.run_dir)

    def fit(self, resume=False):
        signal = FakeTrainer.signal if FakeTrainer.interrupted else None
        return types.SimpleNamespace(interrupted=FakeTrainer.interrupted, signal=signal, history=[], epochs_done=1)


@pytest.fixture
def fake_trainer():
    FakeTrainer.calls, FakeTrainer.interrupted, FakeTrainer.signal = [], False, "SIGINT"
    return FakeTrainer


def test_nrccr_rows_of_do_all_and_of_the_recipe_are_the_same(nrccr_data, vectors, monkeypatch, fake_trainer, capsys):
    import w2vvx.training.nrccr as nrccr
    import w2vvx.training.trainer as trainer
    from recipes.crosslingual import CrossLingualSpec, run_crosslingual
    from w2vvx.pipeline import DoAllSettings, run_do_all

    model = FakeModel(4, vectors)
    monkeypatch.setattr(trainer, "load_run", lambda run_dir: _run(model, run_dir))
    monkeypatch.setattr(nrccr, "nrccr_trainer_for_collection", lambda collection, config, run_dir, *a, **k:
                        fake_trainer(config, run_dir))
    monkeypatch.setattr(nrccr, "NRCCRTrainer", fake_trainer)
    result = run_do_all(DoAllSettings(config="nrccr", collection="vtx", rootpath=str(nrccr_data), size="tiny",
                                      generate=False, run_root=str(nrccr_data / "do_all")))
    spec = CrossLingualSpec(collection="vtx", target="zh", feature="feat", train_mt="google_enc2zh",
                            query_mt="google_zh2enc", native_weights=(1.0, 0.8))
    recipe = run_crosslingual(spec, nrccr_data, nrccr_data / "recipe")
    _same_rows(result.metrics["CM (zh)"], recipe["native w=1"])
    _same_rows(result.metrics["fused (zh, 0.8/0.2)"], recipe["native w=0.8"])
    assert recipe["native w=0.8"]["sumr"] != recipe["native w=1"]["sumr"]  # the fusion changes the ranking
    # both print the measured comparison with the baseline, once, as a warning block
    printed = capsys.readouterr().out
    assert printed.count("warning: NRCCR has not beaten its baseline") == 1 and NRCCR_MEASURED[0] in printed
    assert "warning: NRCCR has not beaten its baseline" in result.markdown_path.read_text(encoding="utf-8")
    assert result.warning.splitlines()[0].startswith("warning:")


def test_do_all_nrccr_cli_prints_the_baseline_warning_with_its_results(nrccr_data, vectors, monkeypatch,
                                                                       fake_trainer):
    import w2vvx.training.nrccr as nrccr
    import w2vvx.training.trainer as trainer
    from w2vvx.cli import cli

    monkeypatch.setattr(trainer, "load_run", lambda run_dir: _run(FakeModel(4, vectors), run_dir))
    monkeypatch.setattr(nrccr, "nrccr_trainer_for_collection", lambda collection, config, run_dir, *a, **k:
                        fake_trainer(config, run_dir))
    out = CliRunner().invoke(cli, ["--rootpath", str(nrccr_data), "do-all", "nrccr", "--collection", "vtx",
                                   "--size", "tiny", "--run-root", str(nrccr_data / "run"), "--quiet"])
    assert out.exit_code == 0, out.output
    results, _, warning = out.output.partition("warning: NRCCR has not beaten its baseline")
    assert "CM (zh)" in results and warning, out.output
    assert NRCCR_MEASURED[0] in warning and "untested on the original features" in warning


@pytest.mark.parametrize("config", ["w2vv_attention_ctl", "nrccr"])
def test_do_all_stops_after_an_interrupted_fit_instead_of_training_the_next_model(nrccr_data, monkeypatch, config,
                                                                                  fake_trainer):
    import w2vvx.training.nrccr as nrccr
    import w2vvx.training.trainer as trainer
    from w2vvx.pipeline import DoAllSettings, run_do_all
    from w2vvx.training.signals import TrainingStopped

    fake_trainer.interrupted = True
    monkeypatch.setattr(trainer, "Trainer", fake_trainer)
    monkeypatch.setattr(nrccr, "nrccr_trainer_for_collection", lambda collection, config, run_dir, *a, **k:
                        fake_trainer(config, run_dir))
    monkeypatch.setattr(trainer, "load_run", lambda run_dir: pytest.fail("an interrupted run must not be evaluated"))
    settings = DoAllSettings(config=config, collection="vtx", rootpath=str(nrccr_data), size="tiny", generate=False,
                             target_languages=("zh", "de"), run_root=str(nrccr_data / "run"))
    with pytest.raises(TrainingStopped) as stopped:
        run_do_all(settings)
    assert stopped.value.signal_name == "SIGINT"
    assert len(fake_trainer.calls) == 1, fake_trainer.calls  # the next model was not trained
    assert not (nrccr_data / "run" / "results.md").exists()


def test_protocol_splits_check_what_each_cl_route_needs(vectors):
    from w2vvx.errors import ConfigError
    from w2vvx.evaluation.protocols import ProtocolSplit, coco_cn_scores
    from w2vvx.io.captions import Caption

    model = FakeModel(0, vectors)
    features = types.SimpleNamespace(index=ITEMS.index, read_rows=lambda rows: vectors[rows])
    queries = [Caption(f"{ITEMS[0]}#zh#0", ITEMS[0], "zh", 0, "w0")]
    with pytest.raises(ConfigError, match="source_sentences"):
        coco_cn_scores(model, model, features, ProtocolSplit(queries, ITEMS[:2]), visual_space=True)
    with pytest.raises(ConfigError, match="machine translation"):
        coco_cn_scores(model, model, features, ProtocolSplit(queries, ITEMS[:2]), visual_space=False)
    with pytest.raises(ConfigError, match="one translation per query"):
        coco_cn_scores(model, model, features, ProtocolSplit(queries, ITEMS[:2], query_translations=queries * 2),
                       visual_space=False)
    cl, cm = coco_cn_scores(model, model, features, ProtocolSplit(queries, ITEMS[:2], query_translations=queries),
                            visual_space=False)
    assert cl.shape == cm.shape == (1, 2) and np.allclose(cl, cm)  # same model, query = its translation


def test_a_recipe_stops_on_sigterm_with_the_signal_it_got(tmp_path, monkeypatch, fake_trainer):
    import w2vvx.training.trainer as trainer
    from recipes.common import train
    from w2vvx.training.signals import TrainingStopped

    fake_trainer.interrupted, fake_trainer.signal = True, "SIGTERM"
    monkeypatch.setattr(trainer, "Trainer", fake_trainer)
    monkeypatch.setattr(trainer, "load_run", lambda run_dir: pytest.fail("an interrupted run must not be loaded"))
    with pytest.raises(TrainingStopped) as stopped:
        train("w2vvpp", tmp_path / "run", [], None, [])
    assert str(stopped.value) == "SIGTERM"  # the CLI exits with 143


def test_query_translation_scores_take_token_inputs_as_the_nrccr_trainer_gives_them():
    """The NRCCR trainer's validation tokenises its captions once: a token dict is encoded as is, not as its keys."""
    from w2vvx.errors import ConfigError
    from w2vvx.evaluation.protocols import query_translation_scores

    class TokenModel:
        def encode_text(self, inputs, language=None):
            assert isinstance(inputs, dict), f"got {inputs!r} instead of the token inputs"
            return np.asarray(inputs["tokens"], dtype=np.float32)

    native = {"tokens": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), "bow_tokens": np.zeros((3, 2))}
    translated = {"tokens": np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), "bow_tokens": np.zeros((3, 2))}
    items = np.eye(2, dtype=np.float32)
    native_scores, translated_scores = query_translation_scores(TokenModel(), items, native, translated)
    assert native_scores.shape == translated_scores.shape == (3, 2)
    np.testing.assert_allclose(native_scores[0], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(translated_scores[0], [0.0, 1.0], atol=1e-6)
    short = {"tokens": translated["tokens"][:2], "bow_tokens": translated["bow_tokens"][:2]}
    with pytest.raises(ConfigError, match="2 query translations for 3 queries"):
        query_translation_scores(TokenModel(), items, native, short)
