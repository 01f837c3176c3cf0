"""What each recipe trains, as the method's original code does it: results-header lines and word-vector policy.

Every results header names the sampling, learning-rate schedule, visual encoder and text features of the
run (:func:`lineage_lines`). Recipes whose method trained with pretrained word vectors (COCO-CN: English
Flickr-tag word2vec ``vec500flickr30m``, Chinese wiki ``zh_jieba.model``; coco-cn
``code/image-retrieval/README.md`` and ``w2vv_trainer.py`` ``get_we_parameter``) refuse to train their own
unless asked (:func:`require_word_vectors`, CLI ``--train-word-vectors``).
"""
from __future__ import annotations

from typing import List, Optional

from w2vvx.errors import ConfigError

SAMPLING = {
    "items": "items (W2VV: distinct items per batch, one random caption each; danieljf24/w2vv util/dataset.py)",
    "captions": "captions (every caption once per epoch, shuffled; coco-cn utils/dataset.py, w2vvpp data_provider.py, "
                "nrccr util/tag_data_provider_*.py)",
}
SCHEDULES = {
    "halving": "halving (W2VV / COCO-CN / NRCCR: x{decay:g} per epoch, halve after {patience} epochs at a rate "
               "without improvement)",
    "plateau": "plateau (W2VV++ model.py: StepLR x{decay:g} per epoch + ReduceLROnPlateau(max, 0.5, patience "
               "{patience}), chained)",
    "plateau_torch12": "plateau_torch12 (W2VV++ under PyTorch 1.2: closed-form StepLR x{decay:g}^epoch, a plateau "
                       "halving lasts one epoch, patience {patience})",
}
VISUAL = {
    "mean": "mean (frames mean-pooled; vectors as given) -> projection",
    "nrccr_image": "nrccr_image (ReLU(Linear D->D), nrccr model.py 121-129) -> projection",
    "nrccr_frames": "nrccr_frames (Linear+LayerNorm+ReLU, position embedding, one attention layer, mean over <= "
                    "{max_frames} frames; nrccr model.py 82-117) -> projection",
}


def lineage_lines(config, word_vectors=None, visual_note: Optional[str] = None) -> List[str]:
    """Results-header lines naming the run's sampling, schedule, visual encoder and text features.

    Example:
        >>> from w2vvx.models.configs import get_config
        >>> lineage_lines(get_config("w2vvpp"), word_vectors="vec500flickr30m")[0][:27]
        '- sampling: captions (every'
    """
    # W2VV (util/text2vec.py 65-108) averages every non-stopword token with a pretrained vector and W2VV++
    # (txt2vec.py 62-76, bigfile.py read: set(requested)) the distinct ones: ModelConfig.w2v_words
    text = {"bow": (f"mean word2vec over the non-stopwords of the BoW vocabulary (min count {config.vocab_min_count}) "
                    "that have a vector"),
            "pretrained": "mean word2vec over every non-stopword token that has a vector, whatever its count (W2VV)",
            "pretrained_unique": ("mean word2vec over the distinct non-stopwords that have a vector, whatever their "
                                  "count (W2VV++)")}[config.w2v_words]
    gru = ("GRU input pre-padded, GRU and attention over all steps unmasked (COCO-CN)" if config.gru_padding == "pre"
           else "GRU over the real tokens (post-padded, masked)")
    vectors = (f"pretrained word vectors {word_vectors}" if word_vectors is not None
               else "word2vec trained on the training captions")
    return [f"- sampling: {SAMPLING[config.sampling]}",
            "- schedule: " + SCHEDULES[config.lr_schedule].format(decay=config.lr_decay,
                                                                 patience=config.lr_halving_patience),
            "- visual encoder: " + VISUAL[config.visual_encoder].format(max_frames=config.max_frames)
            + (f"; {visual_note}" if visual_note else ""),
            f"- text features: {', '.join(config.text_branches)}; {text}; {gru}; {vectors}"]


def require_word_vectors(word_vectors, train_word_vectors: bool, what: str, which: str) -> None:
    """Refuse to train word2vec silently when the method used pretrained vectors.

    Args:
        word_vectors: the vectors given (None: none).
        train_word_vectors: the user asked for word2vec trained on the captions.
        what: the method, for the message. which: the vectors the method used.

    Example:
        >>> require_word_vectors(None, True, "COCO-CN", "vec500flickr30m")
    """
    if word_vectors is None and not train_word_vectors:
        raise ConfigError(f"{what} trains with pretrained word vectors ({which}); pass them with --word-vectors "
                          "(Python: word_vectors=...), or pass --train-word-vectors (train_word_vectors=True) to "
                          "train word2vec on the training captions instead (not the method's setting)")


__all__ = ["lineage_lines", "require_word_vectors"]
