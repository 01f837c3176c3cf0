"""VATEX en -> zh: the NRCCR method and protocol, from the NRCCR release (collection ``vatex``).

Release (NRCCR README "NRCCR on VATEX": ``vatex-i3d.tar.gz`` features and ``vatex_caption`` text, on
Baidu Pan / Aliyun; its README draws the folder as ``VATEX/``, ``do_all_vatex.sh`` uses
``collection=vatex``: both are accepted; text also in the MLCMR repo), file names of ``trainer_vid.py``:
``<source>/vatex/TextData/`` with ``vatextrain.caption.txt`` (English, 10 per video),
``vatextrain_google_enc2zh.caption.txt`` (Google MT), ``vatextrain_google_enc2zh2enc.caption.txt``
(back-translation, optional), ``vatex{val,test}_zh.caption.txt`` (human Chinese, 10 per video) and
``vatex{val,test}_google_zh2enc.caption.txt`` (or ``_google_zhc2en``: MT of the Chinese queries), and
``<source>/vatex/FeatureData/i3d_kinetics/`` (frame-level BigFile + ``video2frames.txt``).
Split 25,991 / 1,500 / 1,500 videos (HGR partition; hybrid_space dataset/README.md).
"""
from __future__ import annotations

from .crosslingual import CrossLingualSpec
from .video import VideoRelease, en_to_zh_caption_inputs, prepare_release, run_release

NAME = "vatex"
TEXT_SOURCE = ("NRCCR VATEX release (github.com/HuiGuanLab/nrccr README: Baidu Pan / Aliyun links); the val/test "
               "text also in github.com/HuiGuanLab/MLCMR VisualSearch/vatex/TextData")
FEATURE_SOURCE = "NRCCR VATEX release: I3D (Kinetics) frame features vatex/FeatureData/i3d_kinetics (Baidu Pan)"
PUBLISHED = ("NRCCR README (repo checkpoint), zh queries fused w=0.8: t2v 30.8/64.4/74.6, MedR 3, mAP 45.78 | "
             "v2t 43.1/72.3/81.4, MedR 2, mAP 32.57 | SumR 366.5",
             "English-only reference on the same split (hybrid_space README): SumR 400.3")

RELEASE = VideoRelease(
    name=NAME, feature="i3d_kinetics", folder_names=("vatex", "VATEX"), source=TEXT_SOURCE, feature_source=FEATURE_SOURCE,
    captions=en_to_zh_caption_inputs("human Chinese queries"),
    spec=CrossLingualSpec(collection=NAME, target="zh", feature="i3d_kinetics", train_mt="google_enc2zh",
                          back_translation="google_enc2zh2enc", query_mt="google_zh2enc", published=PUBLISHED),
)


def prepare(source_dir, rootpath, dry_run: bool = False, force: bool = False) -> str:
    """Check the release under ``source_dir`` and put it under ``rootpath/vatex`` (see module docstring)."""
    return prepare_release(RELEASE, source_dir, rootpath, dry_run=dry_run, force=force)


def run(rootpath, run_dir, small_scale: bool = False, max_items=None, word_vectors=None, trusted: bool = False,
        seed: int = 0, verbose: int = 2, max_epochs=None, visual_encoder=None):
    """Train NRCCR and test with its protocol (frame transformer over the I3D frames when they were prepared)."""
    return run_release(RELEASE, rootpath, run_dir, small_scale=small_scale, max_items=max_items,
                       word_vectors=word_vectors, trusted=trusted, seed=seed, verbose=verbose, max_epochs=max_epochs,
                       visual_encoder=visual_encoder)
