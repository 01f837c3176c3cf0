"""Nearest-neighbour search: exact (chunked, memory-mapped galleries) and approximate (faiss/usearch)."""
from w2vvx.search.ann import ANNIndex, available_backends, build_feature_index, default_nlist, load_feature_index
from w2vvx.search.brute_force import BruteForceIndex, search
from w2vvx.search.encode import encode_items
from w2vvx.search.index_store import StoredIndex, build_index, write_index

__all__ = ["ANNIndex", "BruteForceIndex", "available_backends", "build_feature_index", "default_nlist",
           "StoredIndex", "build_index", "encode_items", "load_feature_index", "search", "write_index"]
