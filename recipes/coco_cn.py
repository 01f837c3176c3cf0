"""COCO-CN cross-lingual image retrieval (CL / CM / CLM), as li-xirong/coco-cn ``code/image-retrieval``.

``prepare`` converts the inputs into the lineage's collections: the coco-cn retrieval data archive
(:mod:`recipes.coco_cn_retrieval_data`) or the raw release parts (:mod:`recipes.coco_cn_release`, whose
docstring lists every file and where it is published). ``run`` trains the two models and evaluates them by
the COCO-CN protocol of :mod:`w2vvx.evaluation.protocols` (the one ``w2vvx do-all`` uses).

Protocol (``do_all.sh``): English model on mscoco2014dev-train (selected on -val), Chinese model on the
human-written cococntrain sentences (selected on cococnval); on cococntest (one Chinese query per image,
the first sentence): CM = Chinese query vs image, CL = Chinese query vs the ONE English test sentence of
each image (both mapped by the models, ``zh2en_sim.py``), CLM = w * CL + (1 - w) * CM with w in
{0, 0.01, ..., 0.99} chosen by mIR on cococnval. Metric: mIR of Chinese sentence -> image
(:func:`w2vvx.evaluation.protocols.coco_cn_protocol`). A Baidu MT training file (``cococntrain_zhb``), when
prepared, trains a second Chinese model whose rows are labelled ``MT``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional

from w2vvx.errors import ConfigError, MissingFileError
from w2vvx.io.collection import SplitCollections

from .coco_cn_release import (EN, FEATURE_COLLECTION, RETRIEVAL_FEATURE, ZH, Sources, prepare_steps,
                              read_caption_json, read_tsv_captions)
from .coco_cn_retrieval_data import RetrievalData, retrieval_steps
from .common import (StepRunner, check_inputs, model_config, render_plan, small_scale_trainer_options, train,
                     write_report)

logger = logging.getLogger(__name__)

PUBLISHED = ("coco-cn code/image-retrieval README, mIR on cococntest: base_w2vv CL 0.470 / CM 0.418 / CLM 0.498; "
             "w2vv_attention_ctl (enhanced W2VV) CL 0.481 / CM 0.432 / CLM 0.514",)


def protocol_lines(config: str) -> List[str]:
    return [f"English model ({config}) on {EN['train']}, selected on {EN['val']}",
            f"Chinese model ({config}) on {ZH['train']} (human-written), selected on {ZH['val']}; a second one on "
            f"the Baidu MT {ZH['train']}_zhb when prepared (rows labelled MT)",
            f"CM: {ZH['test']} Chinese query vs image; CL: query vs the ONE English sentence of each image of "
            f"{EN['test']} (zh2en_sim.py); CLM: w*CL + (1-w)*CM, w by mIR on {ZH['val']}",
            "report mIR (and R@K) of Chinese sentence -> image"]


def prepare(rootpath, dry_run: bool = False, force: bool = False, config: str = "w2vv_attention_ctl",
            retrieval_data=None, **source_paths) -> str:
    """Check every input and write the prepared collections (see module docstring); returns the plan.

    Give ``retrieval_data`` (``coco-cn_retrieval_data.tar.gz`` or its folder, plus optionally
    ``features_bigfile``) or the raw parts (``release_dir``, ``coco_captions_dir``, features ...).
    """
    if retrieval_data is not None:
        extra = {k: v for k, v in source_paths.items() if v is not None and k != "features_bigfile"}
        if extra:
            raise ConfigError(f"--retrieval-data already holds the collections; do not also give {sorted(extra)}")
        data = RetrievalData(retrieval_data, source_paths.get("features_bigfile"))
        inputs = data.inputs()
        summaries = check_inputs(inputs)
        steps = retrieval_steps(data, rootpath)
        runner = StepRunner(rootpath, "coco-cn", force=force)
        plan = render_plan("COCO-CN recipe (coco-cn_retrieval_data)", inputs, summaries, steps, runner,
                           protocol_lines(config) + [f"run with --feature {data.feature_name(rootpath)}"], PUBLISHED)
        if not dry_run:
            runner.run(steps)
        return plan
    sources = Sources(**source_paths)
    inputs = sources.inputs()
    summaries = check_inputs(inputs)
    steps = prepare_steps(sources, rootpath)
    runner = StepRunner(rootpath, "coco-cn", force=force)
    plan = render_plan("COCO-CN recipe", inputs, summaries, steps, runner, protocol_lines(config), PUBLISHED)
    if not dry_run:
        runner.run(steps)
    return plan


# ---- run -----------------------------------------------------------------------------------------
def _queries(captions, all_queries: bool):
    if all_queries:
        return list(captions)
    seen, first = set(), []
    for caption in captions:
        if caption.item_id not in seen:
            seen.add(caption.item_id)
            first.append(caption)
    return first


def run(rootpath, run_dir, feature: str, config: str = "w2vv_attention_ctl", small_scale: bool = False,
        max_items: Optional[int] = None, en_word_vectors=None, zh_word_vectors=None, trusted: bool = False,
        all_queries: bool = False, seed: int = 0, verbose: int = 2, max_epochs: Optional[int] = None,
        train_word_vectors: bool = False) -> Dict[str, dict]:
    """Train the models (resumable), compute CL, CM and CLM on cococntest; write ``results.md``.

    COCO-CN trains with pretrained word2vec (English ``vec500flickr30m``, Chinese ``zh_jieba.model``):
    without ``en_word_vectors``/``zh_word_vectors`` the run is refused unless ``train_word_vectors=True``
    (CLI ``--train-word-vectors``) asks for word2vec trained on the captions.

    Rows ``CL``, ``CM``, ``CLM (w=..)`` follow COCO-CN (Chinese model on human-written text); when
    ``cococntrain_zhb`` (Baidu MT) was prepared, rows prefixed ``MT:`` come from a Chinese model trained on it.
    """
    from w2vvx.evaluation.protocols import ProtocolSplit, coco_cn_protocol

    from .lineage import lineage_lines, require_word_vectors

    require_word_vectors(en_word_vectors, train_word_vectors, "COCO-CN's English model",
                         "Flickr-tag word2vec vec500flickr30m, coco-cn README")
    require_word_vectors(zh_word_vectors, train_word_vectors, "COCO-CN's Chinese model",
                         "Chinese wiki word2vec zh_w2v/model/zh_jieba.model, coco-cn README; needs --trusted")
    rootpath, run_dir = Path(rootpath), Path(run_dir)
    en = SplitCollections(rootpath, feature_collection=FEATURE_COLLECTION, **EN)
    zh = SplitCollections(rootpath, feature_collection=FEATURE_COLLECTION, **ZH)
    if not en.feature_dir().joinpath(feature).is_dir():
        raise MissingFileError(f"features {feature!r} not prepared; run `w2vvx recipe coco-cn prepare` first",
                               path=en.feature_dir() / feature)
    features = en.features(feature)
    overrides = {} if max_epochs is None else {"max_epochs": max_epochs}
    settings = model_config(config, small_scale=small_scale, **overrides)

    def limited(captions):
        if max_items is None:
            return list(captions)
        keep = set(list(dict.fromkeys(c.item_id for c in captions))[:max_items])
        return [c for c in captions if c.item_id in keep]

    small = small_scale_trainer_options(small_scale)
    en_run = train(settings, run_dir / "en", limited(en.captions("train")), features, en.captions("val"),
                   word_vectors=en_word_vectors, trusted=trusted, default_language="en", seed=seed, verbose=verbose,
                   **small)
    zh_models = {"": (run_dir / "zh", zh.captions("train"))}
    notes = [f"- Chinese model trained on the human-written {ZH['train']} sentences (COCO-CN do_all.sh)"]
    if zh.caption_path("train", "zhb").is_file():
        zh_models["MT: "] = (run_dir / "zh_mt", zh.captions("train", "zhb"))
        notes.append(f"- rows 'MT: ...': a second Chinese model trained on the Baidu MT {ZH['train']}_zhb")
    else:
        notes.append(f"- MISSING optional file {ZH['train']}_zhb.caption.txt: no MT-trained Chinese model rows")
    results: Dict[str, dict] = {}
    weights = {}
    for prefix, (folder, captions) in zh_models.items():
        zh_run = train(settings, folder, limited(captions), features, zh.captions("val"), word_vectors=zh_word_vectors,
                       trusted=trusted, default_language="zh", seed=seed, verbose=verbose, **small)
        val, test = (ProtocolSplit(_queries(zh.captions(split), all_queries), zh.item_ids(split),
                                   source_sentences=en.captions(split)) for split in ("val", "test"))
        rows, weight = coco_cn_protocol(zh_run.model, en_run.model, features, val, test, metric="mir")
        weights[prefix] = weight
        results.update({prefix + key: value for key, value in rows.items()})
    text_ids, items = test.query_items, list(test.item_ids)
    header = [f"# COCO-CN cross-lingual image retrieval ({settings.name})", "",
              f"- {len(text_ids)} Chinese queries vs {len(items)} images of cococntest; metric of the paper: t2i mIR",
              "- CL: each Chinese query vs the ONE English test sentence of each image (zh2en_sim.py); CLM weight of "
              "CL chosen on cococnval by mIR: " + ", ".join(f"{p or 'COCO-CN '}w={w:.2f}" for p, w in weights.items())]
    header += notes
    header += [line.replace("- ", "- English model ", 1) for line in lineage_lines(settings, en_word_vectors)[3:]]
    header += lineage_lines(settings, zh_word_vectors)[:3]
    header += [line.replace("- ", "- Chinese model ", 1) for line in lineage_lines(settings, zh_word_vectors)[3:]]
    header += ["- small-scale smoke run: numbers are not comparable" if small_scale else "",
               "", "Published:"] + [f"- {line}" for line in PUBLISHED]
    print(write_report(run_dir / "results.md", results, header))
    return results


__all__ = ["EN", "ZH", "FEATURE_COLLECTION", "RETRIEVAL_FEATURE", "Sources", "RetrievalData", "retrieval_steps",
           "read_tsv_captions", "read_caption_json",
           "prepare_steps", "prepare", "run"]
