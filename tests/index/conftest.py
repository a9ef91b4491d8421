"""Index fixtures: real embedders loaded once per session (the tiny store is tests/conftest.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kgrag.index.embedders import SentenceTransformerEmbedder, USEEmbedder, minilm_path

DATA = Path(__file__).parents[1] / "kg" / "data"


@pytest.fixture(scope="session")
def use_embedder() -> Iterator[USEEmbedder]:
    emb = USEEmbedder()
    yield emb
    emb.close()


@pytest.fixture(scope="session")
def minilm_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(minilm_path(), name="minilm")
