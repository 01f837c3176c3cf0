"""MSR-VTT-CN en -> zh with the NRCCR protocol (Test1k-Yu split), from the NRCCR release.

Release (NRCCR README: MSR-VTT-CN text + ResNeXt-101/ResNet-152 features, Baidu Pan / Aliyun; test text
also in the MLCMR repo under ``VisualSearch/msrvtt10kyu/TextData``): ``<source>/msrvtt10kyu/TextData/``
with ``msrvtt10kyutrain.caption.txt`` (English), ``msrvtt10kyutrain_google_enc2zh.caption.txt`` (Google
MT; upstream the training Chinese is MT only), optional back-translation, ``msrvtt10kyu{val,test}_zh``
(Chinese queries; test = 1,000 clips x 1 sentence) with optional ``_google_zh2enc``/``_google_zhc2en`` MT,
and ``<source>/msrvtt10kyu/FeatureData/resnext101-resnet152/`` (frame-level BigFile + ``video2frames.txt``,
or a video-level BigFile). Split Test1k-Yu: 7,010 / 1,000 / 1,000 clips (hybrid_space dataset/README.md).
"""
from __future__ import annotations

from recipes.crosslingual import CrossLingualSpec
from recipes.video import VideoRelease, en_to_zh_caption_inputs, prepare_release, run_release

NAME = "msrvtt10kyu"
TEXT_SOURCE = ("NRCCR MSR-VTT-CN release (github.com/HuiGuanLab/nrccr README: Baidu Pan / Aliyun links); test text "
               "also in github.com/HuiGuanLab/MLCMR VisualSearch/msrvtt10kyu/TextData")
FEATURE_SOURCE = ("NRCCR / dual_encoding MSR-VTT release: ResNeXt-101 + ResNet-152 features "
                  "msrvtt10kyu/FeatureData/resnext101-resnet152 (Baidu Pan / Google Drive)")
PUBLISHED = ("NRCCR README (repo checkpoint), zh queries fused w=0.8: t2v 28.9/56.3/67.3, MedR 4, mAP 41.28 | "
             "v2t 28.9/57.6/69.0, MedR 4, mAP 42.02 | SumR 308",)

RELEASE = VideoRelease(
    name=NAME, feature="resnext101-resnet152", source=TEXT_SOURCE, feature_source=FEATURE_SOURCE,
    captions=en_to_zh_caption_inputs("Chinese queries, 1 per clip"),
    spec=CrossLingualSpec(collection=NAME, target="zh", feature="resnext101-resnet152", train_mt="google_enc2zh",
                          back_translation="google_enc2zh2enc", query_mt="google_zh2enc", published=PUBLISHED),
)


def prepare(source_dir, rootpath, dry_run: bool = False, force: bool = False) -> str:
    """Check the release under ``source_dir`` and put it under ``rootpath/msrvtt10kyu``."""
    return prepare_release(RELEASE, source_dir, rootpath, dry_run=dry_run, force=force)


def run(rootpath, run_dir, small_scale: bool = False, max_items=None, word_vectors=None, trusted: bool = False,
        seed: int = 0, verbose: int = 2):
    """Train and test with the NRCCR protocol on the prepared collection."""
    return run_release(RELEASE, rootpath, run_dir, small_scale=small_scale, max_items=max_items,
                       word_vectors=word_vectors, trusted=trusted, seed=seed, verbose=verbose)
