"""MSR-VTT-CN en -> zh: the NRCCR method and protocol, from the NRCCR release (collection ``msrvttcn``).

Release (NRCCR README "NRCCR on MSRVTT10K-CN": ``msrvtt10k-resnext101_resnet152.tar.gz`` features and
``cn_caption`` text, Baidu Pan / Aliyun), NRCCR's single-folder collection ``msrvttcn``
(``do_all_msrvttcn.sh`` ``collection=msrvttcn``; file names of ``trainer_vid.py`` / ``tester_vid.py``)::

    <source>/msrvttcn/TextData/msrvttcntrain.caption.txt                  English training captions
    <source>/msrvttcn/TextData/msrvttcntrain_google_enc2zh.caption.txt    their Google MT into Chinese
    <source>/msrvttcn/TextData/msrvttcntrain_google_enc2zh2enc.caption.txt back-translation (optional)
    <source>/msrvttcn/TextData/msrvttcn{val,test}_zh.caption.txt          Chinese queries
    <source>/msrvttcn/TextData/msrvttcn{val,test}_google_zh2enc.caption.txt their MT into English (optional)
    <source>/msrvttcn/FeatureData/resnext101-resnet152/                   frame-level BigFile + video2frames.txt

NRCCR's ``do_test_msrvttcn.sh`` and tester name the collection ``msrvtt10kcn`` (``testCollection=msrvtt10kcn``,
files ``msrvtt10kcn/TextData/msrvtt10kcntest_zh.caption.txt``): that folder and file prefix are accepted
too. The MLCMR copy of the test text (``VisualSearch/msrvtt10kyu/TextData``, ``_google_zhc2en``) is accepted
when renamed to ``msrvttcn``. Split Test1k-Yu: 7,010 / 1,000 / 1,000 clips (hybrid_space dataset/README.md).
"""
from __future__ import annotations

from .crosslingual import CrossLingualSpec
from .video import VideoRelease, en_to_zh_caption_inputs, prepare_release, run_release

NAME = "msrvttcn"
TEXT_SOURCE = ("NRCCR MSR-VTT-CN release (github.com/HuiGuanLab/nrccr README: Baidu Pan / Aliyun links); test text "
               "also in github.com/HuiGuanLab/MLCMR VisualSearch/msrvtt10kyu/TextData (rename msrvtt10kyu to msrvttcn)")
FEATURE_SOURCE = ("NRCCR / dual_encoding MSR-VTT release: ResNeXt-101 + ResNet-152 features "
                  "msrvttcn/FeatureData/resnext101-resnet152, msrvtt10k-resnext101_resnet152.tar.gz (Baidu Pan)")
PUBLISHED = ("NRCCR README (repo checkpoint), zh queries fused w=0.8: t2v 28.9/56.3/67.3, MedR 4, mAP 41.28 | "
             "v2t 28.9/57.6/69.0, MedR 4, mAP 42.02 | SumR 308",)

RELEASE = VideoRelease(
    name=NAME, feature="resnext101-resnet152", folder_names=(NAME, "msrvtt10kcn"), source=TEXT_SOURCE, feature_source=FEATURE_SOURCE,
    captions=en_to_zh_caption_inputs("Chinese queries, 1 per clip"),
    spec=CrossLingualSpec(collection=NAME, target="zh", feature="resnext101-resnet152", train_mt="google_enc2zh",
                          back_translation="google_enc2zh2enc", query_mt="google_zh2enc", published=PUBLISHED),
)


def prepare(source_dir, rootpath, dry_run: bool = False, force: bool = False) -> str:
    """Check the release under ``source_dir`` and put it under ``rootpath/msrvttcn``."""
    return prepare_release(RELEASE, source_dir, rootpath, dry_run=dry_run, force=force)


def run(rootpath, run_dir, small_scale: bool = False, max_items=None, word_vectors=None, trusted: bool = False,
        seed: int = 0, verbose: int = 2, max_epochs=None, visual_encoder=None):
    """Train NRCCR and test with its protocol on the prepared collection (frame transformer when frames exist)."""
    return run_release(RELEASE, rootpath, run_dir, small_scale=small_scale, max_items=max_items,
                       word_vectors=word_vectors, trusted=trusted, seed=seed, verbose=verbose, max_epochs=max_epochs,
                       visual_encoder=visual_encoder)
