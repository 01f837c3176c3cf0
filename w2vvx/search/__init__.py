"""Nearest-neighbour search: exact (chunked, memory-mapped galleries) and approximate (usearch/faiss)."""
from w2vvx.search.ann import ANNIndex, available_backends
from w2vvx.search.brute_force import BruteForceIndex, search

__all__ = ["ANNIndex", "BruteForceIndex", "available_backends", "search"]
