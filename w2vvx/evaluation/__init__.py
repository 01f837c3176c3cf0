"""Retrieval metrics (t2i / i2t), score fusion, the cross-lingual routes (CL/CM/CLM), the protocols on trained models
(COCO-CN, NRCCR query translation), MRV and results tables (NumPy)."""
from w2vvx.evaluation.crosslingual import (clm_rows, cosine_scores, cross_lingual_scores, cross_modal_scores,
                                           first_sentence_per_item, translation_fusion_rows)
from w2vvx.evaluation.fusion import (fuse_scores, minmax_normalize, minmax_normalize_matrix, normalize_scores,
                                     query_translation_fusion, rank_normalize, search_fusion_weight, sentence_to_item_scores)
from w2vvx.evaluation.metrics import evaluate_from_scores, evaluate_retrieval, l2_normalize
from w2vvx.evaluation.mrv import aligned_mrv, caption_keys, mean_rank_variance, mrv_from_results
from w2vvx.evaluation.protocols import (ProtocolSplit, caption_rows, coco_cn_protocol, coco_cn_scores,
                                        query_translation_protocol, query_translation_scores)
from w2vvx.evaluation.report import DEFAULT_COLUMNS, ResultsTable, format_results

__all__ = [
    "clm_rows", "cosine_scores", "cross_lingual_scores", "cross_modal_scores", "first_sentence_per_item",
    "translation_fusion_rows",
    "DEFAULT_COLUMNS", "ResultsTable", "evaluate_from_scores", "evaluate_retrieval", "format_results",
    "fuse_scores", "l2_normalize", "mean_rank_variance", "minmax_normalize", "minmax_normalize_matrix", "mrv_from_results",
    "normalize_scores", "query_translation_fusion", "rank_normalize", "search_fusion_weight",
    "sentence_to_item_scores", "aligned_mrv", "caption_keys", "ProtocolSplit", "caption_rows", "coco_cn_protocol",
    "coco_cn_scores", "query_translation_protocol", "query_translation_scores",
]
