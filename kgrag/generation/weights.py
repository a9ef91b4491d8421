"""Turn the answering models that ship as GGUF files inside registry packages into Hugging Face folders.

A model is prepared once: its GGUF file is found in the installed packages (put together from its
parts where it is split), its size and sha256 are checked while it streams, transformers
dequantizes it, and the result is written as a Hugging Face folder (``config.json``, safetensors
weights, tokenizer files with the chat template, ``generation_config.json``) plus a
``kgrag-model.json`` manifest. Loading that folder takes seconds; reading the GGUF takes a minute.

The catalogue of models (names, packages, digests) is :mod:`kgrag.generation.catalog`; its names
are importable from here too.

Example:
    >>> from kgrag.config import Settings
    >>> settings = Settings()
    >>> folder = prepare_model("qwen2.5-0.5b-instruct", settings.model_dir)  # once; a no-op afterwards
    >>> folder = resolve_model(settings.model, settings.model_dir)  # a known name or a model folder
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kgrag.atomic import atomic_folder
from kgrag.config import Settings
from kgrag.errors import ConfigError, ModelIntegrityError, ModelNotAvailableError
from kgrag.generation.catalog import (
    ALIASES,
    KNOWN_MODELS,
    KnownModel,
    PackageFile,
    canonical_name,
    get_known_model,
    locate_parts,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DTYPE", "DTYPES", "KNOWN_MODELS", "MANIFEST", "KnownModel", "ModelStatus", "PackageFile", "canonical_name",
    "folder_size", "get_known_model", "is_prepared", "list_models", "locate_parts", "materialize_gguf",
    "prepare_model", "read_manifest", "resolve_model",
]

MANIFEST = "kgrag-model.json"
MANIFEST_FORMAT = 1
DTYPES = ("bfloat16", "float32")
DEFAULT_DTYPE = "bfloat16"
_CHUNK = 1 << 22

ProgressFn = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; stages: verify (bytes), tokenizer, dequantize (tensors),
save; ``total`` is 0 where the amount of work is not known."""


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """Where a known model stands under a model folder (``kgrag model list``)."""

    name: str
    title: str
    folder: Path
    prepared: bool
    size_bytes: int  # of the prepared folder; 0 when not prepared
    installed: bool  # whether every package holding its GGUF is installed


def materialize_gguf(model: KnownModel, scratch: Path, *, progress: ProgressFn | None = None) -> Path:
    """Return ``model``'s GGUF file with its size and sha256 verified while it streams.

    A model stored whole is verified where it is installed and that path is returned; one stored in
    parts is concatenated into ``scratch/<name>.gguf`` (never held in memory at once).

    Raises:
        ModelNotAvailableError: a package is missing.
        ModelIntegrityError: a part or the whole file has the wrong size or sha256; the message names
            the file and both digests, and nothing is left in ``scratch``.
    """
    paths = locate_parts(model)
    for part, path in zip(model.parts, paths, strict=True):
        if (size := path.stat().st_size) != part.size:
            raise ModelIntegrityError(
                f"{path} has {size:,} bytes, expected {part.size:,} ({part.distribution}=={part.version}): "
                f"the file is damaged or of another version; reinstall it: {model.install_hint}"
            )
    whole = len(paths) == 1
    target = paths[0] if whole else scratch / f"{model.name}.gguf"
    total_hash = hashlib.sha256()
    done = 0
    try:
        with ExitStack() as stack:
            if not whole:
                scratch.mkdir(parents=True, exist_ok=True)
                out = stack.enter_context(target.open("wb"))
            for part, path in zip(model.parts, paths, strict=True):
                part_hash = hashlib.sha256()
                with path.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        part_hash.update(chunk)
                        total_hash.update(chunk)
                        if not whole:
                            out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress("verify", done, model.gguf_size)
                if (digest := part_hash.hexdigest()) != part.sha256:
                    raise ModelIntegrityError(
                        f"{path} ({part.distribution}=={part.version}) has sha256 {digest}, expected {part.sha256}: "
                        f"the file is damaged or of another version; reinstall it: {model.install_hint}"
                    )
        if (digest := total_hash.hexdigest()) != model.gguf_sha256 or done != model.gguf_size:
            raise ModelIntegrityError(
                f"{target} (the GGUF of {model.name!r}, {done:,} bytes) has sha256 {digest}, expected "
                f"{model.gguf_sha256} and {model.gguf_size:,} bytes: reinstall its packages: {model.install_hint}"
            )
    except BaseException:
        if not whole:
            target.unlink(missing_ok=True)
        raise
    return target


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The ``kgrag-model.json`` of a prepared folder, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_prepared(folder: Path, model: KnownModel, dtype: str | None = None) -> bool:
    """Whether ``folder`` holds ``model`` prepared from the expected GGUF (and in ``dtype``, when given)."""
    manifest = read_manifest(folder)
    return (
        manifest is not None
        and manifest.get("format") == MANIFEST_FORMAT
        and manifest.get("name") == model.name
        and manifest.get("gguf", {}).get("sha256") == model.gguf_sha256
        and (dtype is None or manifest.get("dtype") == dtype)
        and (folder / "config.json").is_file()
        and any(folder.glob("*.safetensors"))
    )


def prepare_model(
    model: str | KnownModel,
    model_dir: Path,
    *,
    force: bool = False,
    dtype: str = DEFAULT_DTYPE,
    progress: ProgressFn | None = None,
) -> Path:
    """Prepare a known model into ``model_dir/<name>/`` and return that folder.

    The weights are stored in ``dtype``: bfloat16 by default (half the size of float32; what a GPU
    runs; a CPU loader upcasts with ``dtype=torch.float32``). The folder appears atomically: a failed
    or interrupted prepare leaves no half model and keeps a previous one.

    Args:
        model: a name from :data:`KNOWN_MODELS` (or a :class:`KnownModel`).
        model_dir: the folder holding prepared models (``Settings.model_dir``).
        force: prepare again even when the folder already holds this model.
        dtype: ``bfloat16`` or ``float32``.
        progress: called as ``progress(stage, done, total)`` while it works.

    Returns:
        The prepared folder; at once, without work, when it is already prepared (unless ``force``).

    Raises:
        ConfigError: unknown model name or dtype.
        ModelNotAvailableError: a package holding the weights, or torch/transformers/gguf, is missing.
        ModelIntegrityError: the GGUF file or one of its parts has the wrong size or sha256.
    """
    spec = model if isinstance(model, KnownModel) else get_known_model(model)
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported for prepared models; use one of: {', '.join(DTYPES)}")
    out = Path(model_dir).expanduser() / spec.name
    if not force and is_prepared(out, spec, dtype):
        logger.info("%s is already prepared in %s", spec.name, out)
        return out
    locate_parts(spec)  # a missing package is reported before the heavy imports
    torch, transformers = _import_transformers()
    t0 = time.perf_counter()
    with atomic_folder(out) as tmp:
        gguf_file = materialize_gguf(spec, tmp / ".gguf", progress=progress)
        if progress:
            progress("tokenizer", 0, 0)
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        if not tokenizer.chat_template:
            raise ModelIntegrityError(f"{gguf_file} has no chat template; kgrag needs a chat model")
        with _converting(progress):
            hf_model = transformers.AutoModelForCausalLM.from_pretrained(
                gguf_file.parent, gguf_file=gguf_file.name,
                quantization_config=transformers.GgufConfig(dequantize=True), dtype=torch.float32,
            )
            hf_model.to(getattr(torch, dtype))
            if progress:
                progress("save", 0, 0)
            hf_model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(tmp / ".gguf", ignore_errors=True)
        for path in tmp.iterdir():
            path.chmod(0o644)  # safetensors writes 0600; a service running as another user must read it
        manifest = _manifest(spec, dtype, hf_model, time.perf_counter() - t0, torch.__version__,
                             transformers.__version__)
        # written last: a folder with a manifest is complete
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (tmp / MANIFEST).chmod(0o644)
    logger.info("prepared %s in %s (%.1f s)", spec.name, out, time.perf_counter() - t0)
    return out


def resolve_model(
    name_or_path: str | Path,
    model_dir: Path,
    *,
    auto_prepare: bool = False,
    progress: ProgressFn | None = None,
) -> Path:
    """The Hugging Face folder to load for a model setting (``Settings.model``).

    Args:
        name_or_path: a name from :data:`KNOWN_MODELS` (or an alias of one), or a folder with a ``config.json``.
        model_dir: where known models are prepared (``Settings.model_dir``).
        auto_prepare: prepare a known model that is not prepared yet instead of failing.
        progress: passed to :func:`prepare_model` when it prepares.

    Raises:
        ConfigError: a known model that is not prepared (the message says to run
            ``kgrag model prepare NAME``), a folder that is not a model, or neither a known name nor a
            folder (the message lists the known names).
    """
    name = canonical_name(str(name_or_path))
    if name in KNOWN_MODELS:
        spec = KNOWN_MODELS[name]
        folder = Path(model_dir).expanduser() / name
        if is_prepared(folder, spec):
            return folder
        if auto_prepare:
            manifest = read_manifest(folder)
            return prepare_model(spec, model_dir, dtype=(manifest or {}).get("dtype", DEFAULT_DTYPE), progress=progress)
        default_dir = Settings.model_fields["model_dir"].default
        option = "" if Path(model_dir).expanduser() == default_dir else f" --dir {model_dir}"
        raise ConfigError(f"model {name!r} is not prepared in {folder}: run `kgrag model prepare {name}{option}`")
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path} is a folder but not a Hugging Face model folder (it has no config.json)")
        return path
    raise ConfigError(
        f"model {name!r} is neither a known model nor a model folder; known models: "
        f"{', '.join([*KNOWN_MODELS, *ALIASES])} "
        f"(prepare one with `kgrag model prepare NAME`), or give the path of a Hugging Face model folder"
    )


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def list_models(model_dir: Path) -> list[ModelStatus]:
    """Every known model, whether it is prepared under ``model_dir`` and whether its packages are installed."""
    statuses = []
    for spec in KNOWN_MODELS.values():
        folder = Path(model_dir).expanduser() / spec.name
        prepared = is_prepared(folder, spec)
        statuses.append(ModelStatus(
            spec.name, spec.title, folder, prepared, folder_size(folder) if prepared else 0,
            all(part.locate() is not None for part in spec.parts),
        ))
    return statuses


def _import_transformers() -> tuple[Any, Any]:
    try:
        import gguf  # noqa: F401  (transformers reads GGUF files through it)
        import torch
        import transformers
    except ImportError as exc:
        raise ModelNotAvailableError(
            f"preparing a model needs torch, transformers and gguf ({exc.name} is missing): pip install -e \".[serve]\""
        ) from None
    return torch, transformers


@contextmanager
def _converting(progress: ProgressFn | None) -> Iterator[None]:
    """While transformers converts a GGUF and saves the result: memoize gguf's tensor-name maps, and
    report progress through ``progress`` instead of tqdm bars.

    transformers (5.x) builds gguf's ``TensorNameMap`` again for every submodule of the model, a third
    of the conversion time; the map is a pure function of (architecture, layers), so a cache is safe.
    Its bare tqdm bar over the GGUF tensors becomes ``progress`` calls. Everything is restored after.
    """
    import gguf
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    def report(iterable: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        items = list(iterable)
        for i, item in enumerate(items):
            yield item
            if progress:
                progress("dequantize", i + 1, len(items))

    original_map, original_tqdm = gguf.get_tensor_name_map, getattr(gguf_utils, "tqdm", None)
    bars = hf_logging.is_progress_bar_enabled()
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original_map)
    if original_tqdm is not None:
        gguf_utils.tqdm = report
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        gguf.get_tensor_name_map = original_map
        if original_tqdm is not None:
            gguf_utils.tqdm = original_tqdm
        if bars:
            hf_logging.enable_progress_bar()


def _manifest(
    spec: KnownModel, dtype: str, hf_model: Any, seconds: float, torch_version: str, transformers_version: str
) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "name": spec.name,
        "title": spec.title,
        "languages": list(spec.languages),
        "sources": [
            {
                "package": part.distribution,
                "version": _installed_version(part.distribution),
                "file": f"{part.module}/{part.path}",
                "size": part.size,
                "sha256": part.sha256,
            }
            for part in spec.parts
        ],
        "gguf": {"size": spec.gguf_size, "sha256": spec.gguf_sha256},
        "dtype": dtype,
        "architecture": hf_model.config.model_type,
        "parameters": sum(p.numel() for p in hf_model.parameters()),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "prepare_seconds": round(seconds, 1),
        "versions": {
            "transformers": transformers_version,
            "torch": torch_version,
            "gguf": _installed_version("gguf"),
        },
    }


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
