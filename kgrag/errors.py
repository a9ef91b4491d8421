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


class QueueFullError(KGRAGError):
    """Too many requests are waiting for the model; try again after ``retry_after`` seconds."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"the model is busy: {waiting} requests are waiting; retry in {retry_after} s")
        self.waiting = waiting
        self.retry_after = retry_after


class ModelNotAvailableError(KGRAGError):
    """A package that holds a model's weights, or a package needed to prepare it, is not installed."""


class ModelIntegrityError(KGRAGError):
    """A model file has the wrong size or sha256 (damaged, truncated or of another version)."""


class InvalidMessagesError(ConfigError):
    """The chat messages cannot form a prompt (unknown role, misplaced system turn, ...)."""


class DataError(KGLoadError):
    """A QA or dialogue data file has a line kgrag cannot use (the message names file, line, field)."""


class QuestionError(KGRAGError):
    """A question kgrag cannot answer as given: not text, empty, or longer than the limit."""


class IndexMismatchError(KGRAGError):
    """An index was built from another KG store or with another embedder than the one in use."""


class IndexNotFoundError(KGRAGError):
    """No index at a path, or an incomplete one, or one of an unsupported format version."""


class UpstreamError(KGRAGError):
    """The OpenAI-compatible server that generates the answers (``KGRAG_GENERATOR=openai``) failed.

    Args:
        url: the upstream endpoint called.
        message: what went wrong and what to check.
    """

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"upstream {url}: {message}")
        self.url = url


class UpstreamUnavailableError(UpstreamError):
    """The upstream server cannot be reached, is overloaded, or did not answer within the timeout (HTTP 503)."""


class UpstreamResponseError(UpstreamError):
    """The upstream server answered, but not with an OpenAI chat-completion (HTTP 502)."""
