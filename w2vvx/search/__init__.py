"""Nearest-neighbour search: exact (chunked, memory-mapped galleries) and approximate (faiss/usearch)."""
from w2vvx.search.ann import ANNIndex, available_backends, build_feature_index, default_nlist, load_feature_index
from w2vvx.search.brute_force import BruteForceIndex, search
from w2vvx.search.encode import encode_items

__all__ = ["ANNIndex", "BruteForceIndex", "available_backends", "build_feature_index", "default_nlist",
           "encode_items", "load_feature_index", "search"]
