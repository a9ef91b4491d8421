"""Index fixtures: real embedders loaded once per session, a tiny real-format KG store."""

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


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KG store of the CMeKG excerpt (Chinese) and the HPO excerpt (English)."""
    from kgrag.kg.importer import import_sources

    out = tmp_path_factory.mktemp("kg") / "store"
    import_sources([f"cmekg={DATA / 'cmekg' / 'mini.jsonl'}", f"hpo={DATA / 'hpo'}"], out)
    return out
