"""The LoRA adapter kgrag ships and serves by default, and the manifest that binds it to what made it.

An adapter is only as good as its match with what it was trained for: the base model's weights,
the KG store whose facts its grounded examples cite, and the service's prompt (system prompt,
facts block). Its ``manifest.json`` records each (the base model's name and GGUF sha256, the store
checksum, a fingerprint of the prompt, the training data's sha256, the command and the commit) and
the adapter file's own sha256; :func:`check_adapter` compares them with what is here now, and a
test fails when one changed without retraining.

Settings: ``KGRAG_ADAPTER`` is ``default`` (the shipped adapter, when the served model is its
base), ``none`` (no adapter) or a peft adapter folder.

Example:
    >>> path = resolve_adapter("default", "qwen2.5-0.5b-instruct")
    >>> problems = check_adapter(path, store_checksum=kg.checksum)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kgrag.atomic import sha256_file as file_sha256
from kgrag.errors import ConfigError
from kgrag.generation.catalog import canonical_name

#: Where the shipped adapters live (the repository's ``adapters/``), by the base model they tune.
ADAPTERS_DIR = Path(__file__).resolve().parents[2] / "adapters"
SHIPPED = {"qwen2.5-0.5b-instruct": "kgqa-qwen2.5-0.5b"}
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "kgrag-adapter"
WEIGHTS = "adapter_model.safetensors"
_OFF = frozenset({"", "none", "off", "false", "0"})


def resolve_adapter(setting: str | Path | None, model: str) -> Path | None:
    """The adapter folder to load for ``model``, or None.

    ``default`` gives the shipped adapter of ``model`` (None when kgrag ships none for it, e.g. the
    small test model); ``none``/``off`` gives None; anything else is a folder that must exist.

    Raises:
        ConfigError: a folder that does not exist or is not a peft adapter; the shipped adapter
            missing from the checkout.
    """
    raw = "" if setting is None else str(setting).strip()
    if raw.lower() in _OFF:
        return None
    if raw.lower() == "default":
        name = SHIPPED.get(canonical_name(model))
        if name is None:
            return None
        path = ADAPTERS_DIR / name
        if not (path / "adapter_config.json").is_file():
            raise ConfigError(f"the shipped adapter {path} is missing; restore it (git checkout adapters/) "
                              "or set KGRAG_ADAPTER=none to serve the base model")
        return path
    path = Path(raw).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(f"adapter: {path} is not a LoRA adapter folder (no adapter_config.json); "
                          "give a peft adapter folder, 'default' or 'none'")
    return path


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The adapter's manifest, or None when it has none.

    Raises:
        ConfigError: a manifest that is not JSON or not an adapter manifest (names the file).
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ConfigError(f"{path}: not a kgrag adapter manifest (format {MANIFEST_FORMAT!r})")
    return data


def adapter_name(folder: Path | None) -> str | None:
    """The name an adapter goes by in ``/ready`` and ``/v1/models``: its manifest's, else its folder's."""
    if folder is None:
        return None
    manifest = read_manifest(folder)
    return str(manifest.get("name") or folder.name) if manifest else folder.name


def prompt_fingerprint() -> str:
    """sha256 of the service's grounded prompt rendered for one fixed question and fact per language:
    it changes when the system prompt, the facts block or the question block change (what the
    adapter was trained to read), and not when a docstring does."""
    from kgrag.generation.prompts import build_grounded_prompt
    from kgrag.retrieval.retriever import RetrievedFact

    fact = RetrievedFact(fact=0, head="x:1", head_name="X", relation="has_symptom", relation_label="symptom",
                         tail="x:2", tail_text="Y", source="src", provenance="file:1", score=1.0)
    texts = []
    for lang, question in (("zh", "X有哪些症状？"), ("en", "What are the symptoms of X?")):
        prompt = build_grounded_prompt(question, [fact], lang=lang, count_tokens=len, max_prompt_tokens=1 << 20)
        texts += [f"{m.role}\n{m.content}" for m in prompt.messages]
    return hashlib.sha256("\n\x00\n".join(texts).encode()).hexdigest()


def check_adapter(folder: Path, *, store_checksum: str | None = None, base_sha256: str | None = None
                  ) -> list[str]:
    """What no longer matches the adapter's manifest, as sentences (empty: all matches).

    Checks the adapter file's sha256, the prompt fingerprint and, when given, the store checksum
    and the base model's GGUF sha256.

    Raises:
        ConfigError: the folder has no manifest.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        raise ConfigError(f"{folder} has no {MANIFEST}: an adapter kgrag ships must say what made it")
    problems = []
    weights = Path(folder) / WEIGHTS
    if not weights.is_file():
        problems.append(f"{weights} is missing")
    elif (have := file_sha256(weights)) != manifest["adapter"]["sha256"]:
        problems.append(f"{weights} has sha256 {have[:12]}…, the manifest says {manifest['adapter']['sha256'][:12]}…")
    if (fp := prompt_fingerprint()) != manifest["prompt"]["fingerprint"]:
        problems.append(f"the service's prompt changed since training (fingerprint {fp[:12]}…, trained on "
                        f"{manifest['prompt']['fingerprint'][:12]}…): retrain the adapter")
    if store_checksum is not None and store_checksum != manifest["store"]["checksum"]:
        problems.append(f"the KG store has checksum {store_checksum[:12]}…, the adapter was trained on "
                        f"{manifest['store']['checksum'][:12]}…: retrain the adapter on this store")
    if base_sha256 is not None and base_sha256 != manifest["base"]["gguf_sha256"]:
        problems.append(f"the base model's weights have sha256 {base_sha256[:12]}…, the adapter was trained on "
                        f"{manifest['base']['gguf_sha256'][:12]}…")
    return problems


def adapter_info(folder: str | Path | None, store_checksum: str | None) -> dict[str, Any] | None:
    """What ``/ready`` says of the adapter in use: its name, what it was trained on, and whether the
    served store and prompt are those (``mismatches`` lists what is not); None without an adapter."""
    if folder is None:
        return None
    path = Path(folder)
    manifest = read_manifest(path)
    if manifest is None:
        return {"name": path.name, "manifest": False}
    return {
        "name": adapter_name(path),
        "base": manifest["base"]["name"],
        "trained_on_store": manifest["store"]["checksum"],
        "commit": manifest.get("commit"),
        "mismatches": check_adapter(path, store_checksum=store_checksum),
    }
