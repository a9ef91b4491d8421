"""A small streaming reader for OBO 1.2 flat files (``hp.obo``): stanzas with their line numbers.

Written by hand rather than with pronto or obonet: both parse the whole ontology into objects (a
``networkx`` graph, pronto's term classes) before handing anything back and keep no line
numbers, while a loader wants one stanza at a time and needs the line of every tag, both for fact
provenance and for errors that say where a file is broken. OBO's stanza syntax is small enough
for that to be ~150 lines.

Example:
    >>> for stanza in read_stanzas(Path("hp.obo")):  # doctest: +SKIP
    ...     print(stanza.id, stanza.first("name"), stanza.line)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kgrag.errors import KGLoadError
from kgrag.kg.loaders.base import read_lines

#: Tags whose value starts with a quoted string, checked while reading.
QUOTED_TAGS = frozenset({"def", "synonym"})

_ESCAPES = {"n": "\n", "t": "\t", "W": " "}


@dataclass(frozen=True, slots=True)
class TagValue:
    """One ``tag: value`` line of a stanza; ``value`` keeps modifiers and ``!`` comments."""

    tag: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class Stanza:
    """A ``[Term]`` (or other) stanza: its kind, the line of its header, its tags in file order."""

    kind: str
    line: int
    path: Path
    tags: list[TagValue] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The stanza's ``id:`` (the reader guarantees there is one)."""
        return self.first("id") or ""

    def first(self, tag: str) -> str | None:
        """The value of the first ``tag`` line, without a trailing ``!`` comment."""
        for tv in self.tags:
            if tv.tag == tag:
                return strip_comment(tv.value)
        return None

    def all(self, tag: str) -> list[TagValue]:
        return [tv for tv in self.tags if tv.tag == tag]

    def is_obsolete(self) -> bool:
        return self.first("is_obsolete") == "true"


def strip_comment(value: str) -> str:
    """``value`` without a trailing ``! comment`` (a ``!`` inside a quoted string is kept)."""
    quoted = escaped = False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "!" and not quoted:
            return value[:i].rstrip()
    return value.strip()


def comment_of(value: str) -> str | None:
    """The text after the ``!`` of a tag value (``is_a: HP:0000001 ! All`` gives ``All``)."""
    bare = strip_comment(value)
    rest = value[len(bare) :].strip()
    return rest[1:].strip() if rest.startswith("!") else None


def parse_quoted(value: str, path: Path, line: int, tag: str) -> tuple[str, str]:
    """Split ``"quoted text" rest`` into the unescaped text and the rest.

    Raises:
        KGLoadError: the value does not start with ``"`` or has no closing ``"``.
    """
    value = value.lstrip()
    if not value.startswith('"'):
        raise KGLoadError(path, line, f"expected a quoted string after '{tag}:', found {value[:40]!r}")
    out: list[str] = []
    i = 1
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(_ESCAPES.get(value[i + 1], value[i + 1]))
            i += 2
            continue
        if ch == '"':
            return "".join(out), value[i + 1 :].strip()
        out.append(ch)
        i += 1
    raise KGLoadError(path, line, f"expected a closing '\"' in the quoted {tag}: value, found end of line")


def read_stanzas(path: Path, kinds: tuple[str, ...] = ("Term",)) -> Iterator[Stanza]:
    """Stream the stanzas of kind ``kinds`` of an OBO 1.2 file; the header is skipped.

    Args:
        path: the ``.obo`` file.
        kinds: stanza kinds to yield (``Term``, ``Typedef``, ``Instance``); others are read
            (and checked) but not yielded.

    Raises:
        KGLoadError: a tag line without ``:`` or an unterminated quoted ``def:``/``synonym:``
            inside a stanza, a broken ``[...]`` header, a stanza without ``id:``, or a line not
            valid UTF-8; the error names the file and the line.
    """
    current: Stanza | None = None
    for lineno, raw in read_lines(path):
        text = raw.strip()
        if text.startswith("["):
            if not text.endswith("]"):
                raise KGLoadError(path, lineno, f"expected a stanza header such as '[Term]', found {text!r}")
            if current is not None:
                yield from _finish(current, kinds)
            current = Stanza(text[1:-1], lineno, path)
            continue
        if current is None or not text or text.startswith("!"):
            continue
        tag, sep, value = text.partition(":")
        if not sep or not tag or " " in tag:
            where = f"the [{current.kind}] stanza of line {current.line}"
            raise KGLoadError(path, lineno, f"expected 'tag: value' in {where}, found {text!r}")
        value = value.strip()
        if tag in QUOTED_TAGS:
            parse_quoted(value, path, lineno, tag)
        current.tags.append(TagValue(tag, value, lineno))
    if current is not None:
        yield from _finish(current, kinds)


def _finish(stanza: Stanza, kinds: tuple[str, ...]) -> Iterator[Stanza]:
    if not stanza.id:
        raise KGLoadError(stanza.path, stanza.line, f"expected an 'id:' tag in the [{stanza.kind}] stanza, found none")
    if stanza.kind in kinds:
        yield stanza
