"""All configuration in one place: ``Settings`` read from ``KGRAG_*`` variables and ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kgrag.limits import MAX_NEW_TOKENS, MAX_TOP_K

#: The generator backends ``KGRAG_GENERATOR`` picks from.
GENERATORS = ("hf", "openai")


class Settings(BaseSettings):
    """kgrag's settings; every field can be set as ``KGRAG_<FIELD>`` in the environment.

    Library code receives a ``Settings`` (or plain values from it) as an argument; nothing reads
    a global.
    """

    model_config = SettingsConfigDict(env_prefix="KGRAG_", env_file=".env", extra="ignore")

    store: Path = Field(Path("kg/store/default"), description="KG store folder used by default")
    index: Path = Field(Path("indexes/default"), description="vector index folder used by default")
    index_build: bool = Field(
        False, description="`kgrag serve` builds a missing or stale index in the background (answering without it "
        "until it is done) instead of waiting for one that `kgrag build-index` writes"
    )
    default_sources: tuple[str, ...] = Field(
        ("cmekg", "hpo", "mondo", "icd10cm", "drugs", "mesh", "ddi"), description="sources of the default store"
    )
    sources_dir: Path = Field(
        Path("kg/sources"), description="downloaded source archives (`make tcm-archive`: herbiv's, for the tcm source)"
    )
    intent_embedder: str = Field(
        "use-multilingual", description="sentence embedder that reads a question's intent when no cue matches "
        "(kgrag.retrieval.intent_model; the default index's, so with the index no second model); none: cues only"
    )
    log_level: str = Field("WARNING", description="logging level of the CLI and service")

    # the answering model (kgrag.generation)
    generator: str = Field(
        "hf", description="who generates the answers: 'hf' (the model below, in this process) or 'openai' "
        "(an OpenAI-compatible server at KGRAG_OPENAI_BASE_URL: vLLM, SGLang, TGI, llama.cpp, Ollama)"
    )
    model: str = Field(
        "qwen2.5-0.5b-instruct",
        description="model to serve: a name `kgrag model prepare` knows, or a local Hugging Face model folder",
    )
    model_dir: Path = Field(
        Path.home() / ".cache" / "kgrag" / "models", description="where `kgrag model prepare` writes models"
    )
    adapter: str = Field(
        "default",
        description="LoRA adapter on top of the model: 'default' (the adapter kgrag ships for the default model, "
        "adapters/; none for other models), 'none', or a peft adapter folder",
    )
    device: str = Field("auto", description="auto (cuda when there is a GPU), cpu, cuda or cuda:N")
    allow_remote_code: bool = Field(False, description="allow models whose code lives in their folder")
    prompt_format: str | None = Field(None, description="chatml, llama2, alpaca or baichuan; None: detect")

    # the upstream server (KGRAG_GENERATOR=openai; kgrag.generation.upstream)
    openai_base_url: str | None = Field(
        None, description="the OpenAI-compatible server's base URL, up to /v1 (http://127.0.0.1:8080/v1)"
    )
    openai_model: str | None = Field(None, description="the model name the upstream server serves")
    openai_api_key: SecretStr | None = Field(None, description="sent as 'Authorization: Bearer …' when set")
    openai_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="seconds to connect, and to wait for the first and for each next piece "
        "of an answer, before the request fails with 503"
    )
    openai_max_context: int = Field(
        8192, ge=256, description="the upstream model's context in tokens (bounds the grounded prompt)"
    )

    # the service (api/)
    host: str = Field("127.0.0.1", description="address `kgrag serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="port `kgrag serve` listens on")
    max_batch: int = Field(16, ge=1, le=256, description="requests generated together on the model")
    max_queue: int = Field(64, ge=1, description="requests waiting beyond which the service answers 503")
    top_k: int = Field(8, ge=1, le=MAX_TOP_K, description="facts put into the prompt by default")
    max_new_tokens: int = Field(384, ge=1, le=MAX_NEW_TOKENS, description="answer length cap by default")
    repetition_penalty: float = Field(1.1, ge=1.0, le=2.0, description="keeps small models from looping")

    def intent_embedder_name(self) -> str | None:
        """The intent embedder, or None when ``KGRAG_INTENT_EMBEDDER`` is ``none``, ``off`` or empty."""
        raw = self.intent_embedder.strip()
        return None if raw.lower() in ("", "none", "off") else raw

    @field_validator("generator")
    @classmethod
    def _known_generator(cls, value: str) -> str:
        if value not in GENERATORS:
            raise ValueError(f"generator must be one of {', '.join(GENERATORS)}; got {value!r}")
        return value

    @model_validator(mode="after")
    def _upstream_named(self) -> Settings:
        if self.generator == "openai":
            missing = [f"KGRAG_{n.upper()}" for n in ("openai_base_url", "openai_model") if not getattr(self, n)]
            if missing:
                raise ValueError(f"KGRAG_GENERATOR=openai needs {' and '.join(missing)}")
            if not str(self.openai_base_url).startswith(("http://", "https://")):
                raise ValueError(f"openai_base_url must start with http:// or https://; got {self.openai_base_url!r}")
        return self

    def index_path(self) -> Path | None:
        """The vector index to load, or None when ``KGRAG_INDEX`` is ``none``, ``off`` or empty."""
        raw = str(self.index).strip()
        return None if raw.lower() in ("", ".", "none", "off") else Path(raw)


def get_settings() -> Settings:
    return Settings()
