"""Domain errors: one root, messages that name the bad value and the fix."""

from __future__ import annotations


class KGRAGError(Exception):
    """Root of every error kgrag raises on purpose."""


class ConfigError(KGRAGError):
    """A setting or command-line option has a value kgrag cannot use."""


class SourceNotAvailableError(KGRAGError):
    """A KG source package or folder is not installed or not found."""


class KGLoadError(KGRAGError):
    """A source file is malformed.

    Args:
        path: the file being read.
        line: 1-based line (or record) number, when known.
        message: what was wrong and what was expected.
    """

    def __init__(self, path: object, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.detail = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class UnsafeFormatError(KGRAGError):
    """Refused to read a format that can execute code (pickle) from an untrusted place."""


class StoreError(KGRAGError):
    """A KG store is missing, incomplete, corrupted or of an unsupported version."""


class EntityNotFoundError(KGRAGError):
    """No entity matches the given name or id."""
