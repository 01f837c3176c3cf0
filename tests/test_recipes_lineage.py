"""Recipes train what the method trained: Multi30K Task 2 in de/fr/cs, msrvtt10kcn, pretrained word vectors."""
import shutil

import pytest
from click.testing import CliRunner

from recipes import coco_cn, msrvtt_cn, multi30k
from recipes.cli import recipes
from recipes.lineage import lineage_lines
from w2vvx.errors import ConfigError
from w2vvx.models.configs import get_config


@pytest.mark.parametrize("lang", ["fr", "cs"])
def test_multi30k_task2_dry_run_from_nrccr_release_names(fixtures_dir, tmp_path, lang):
    root = tmp_path / "root"
    result = CliRunner().invoke(recipes, ["multi30k", "prepare", "--nrccr-dir",
                                          str(fixtures_dir / "releases" / "multi30k_task2"), "--task", "2",
                                          "--lang", lang, "--rootpath", str(root), "--dry-run"])
    assert result.exit_code == 0, result.output
    for name in (f"Flickr30ktrain_enc.caption.txt", f"Flickr30ktrain_google_enc2{lang}.caption.txt",
                 f"multi30kval_{lang}.caption.txt", f"multi30ktest_{lang}_2016.caption.txt",
                 f"multi30ktest_google_{lang}2enc_2016.caption.txt"):
        assert f"TextData/{name}" in result.output
    assert {"fr": "482.1", "cs": "467.1"}[lang] in result.output and not root.exists()


def test_multi30k_task2_prepares_five_captions_per_image(fixtures_dir, tmp_path):
    root = tmp_path / "root"
    multi30k.prepare(nrccr_dir=fixtures_dir / "releases" / "multi30k_task2", rootpath=root, task=2, lang="fr")
    text = root / "multi30k" / "TextData"
    assert len((text / "multi30ktask2train.caption.txt").read_text(encoding="utf-8").splitlines()) == 60
    assert (text / "multi30ktask2train_google_enc2fr.caption.txt").is_file()
    assert multi30k.spec_for(root, 2, "fr", "resnet_152").visual_encoder == "nrccr_image"
    assert multi30k.spec_for(root, 2, "fr", "resnet_152", visual_encoder="mean").visual_encoder == "mean"


def test_raw_task2_stays_english_german_only(tmp_path):
    with pytest.raises(ConfigError, match="--nrccr-dir"):
        multi30k.prepare(source_dir=tmp_path, rootpath=tmp_path / "root", task=2, lang="cs", dry_run=True)


def test_msrvtt10kcn_folder_and_file_names_are_accepted(fixtures_dir, tmp_path):
    # NRCCR's do_test_msrvttcn.sh: testCollection=msrvtt10kcn, files msrvtt10kcn/TextData/msrvtt10kcn<split>...
    source = fixtures_dir / "releases" / "msrvttcn" / "msrvttcn"
    target = tmp_path / "release" / "msrvtt10kcn"
    shutil.copytree(source, target)
    for path in (target / "TextData").iterdir():
        path.rename(path.with_name(path.name.replace("msrvttcn", "msrvtt10kcn", 1)))
    plan = msrvtt_cn.prepare(tmp_path / "release", tmp_path / "root", dry_run=True)
    assert "msrvtt10kcn/TextData/msrvtt10kcntrain_google_enc2zh.caption.txt" in plan
    assert "msrvtt10kcn/TextData/msrvtt10kcntest_zh.caption.txt" in plan


def test_coco_cn_refuses_to_train_its_own_word_vectors_unless_asked(tmp_path):
    with pytest.raises(ConfigError, match="--train-word-vectors"):
        coco_cn.run(tmp_path, tmp_path / "run", feature="f")
    with pytest.raises(ConfigError, match="zh_jieba"):
        coco_cn.run(tmp_path, tmp_path / "run", feature="f", en_word_vectors=tmp_path / "vec")


def test_results_header_names_sampling_schedule_visual_encoder_and_text():
    lines = lineage_lines(get_config("nrccr", visual_encoder="nrccr_frames"), word_vectors=None)
    text = "\n".join(lines)
    assert "sampling: captions" in text and "schedule: halving" in text
    assert "visual encoder: nrccr_frames" in text and "<= 64 frames" in text
    assert "text features: gru, bow, w2v" in text and "trained on the training captions" in text
    text = "\n".join(lineage_lines(get_config("w2vvpp", gru_padding="pre"), word_vectors="vec500flickr30m"))
    assert "schedule: plateau" in text and "pre-padded" in text and "vec500flickr30m" in text
    assert "distinct non-stopwords that have a vector" in text  # w2v_words="pretrained_unique"
    assert "every non-stopword token that has a vector" in "\n".join(lineage_lines(get_config("base_w2vv")))
