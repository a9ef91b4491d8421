"""ICD-10-CM: the tabular list XML that ``simple-icd-10-cm==1.5.0`` ships, read streaming.

Chapters, blocks (``<section>``) and codes (``<diag>``) become entities joined by ``is_a``
(code -> parent code -> block -> chapter); the instructional notes under each become literal
facts. ``<diag placeholder="true">`` elements (``H21.1X``: the X that pads a code to take a 7th
character) are kept as entities of type ``icd10cm placeholder`` so that the hierarchy stays as
the file has it, but they are not counted as codes.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers.expat import ErrorString

from kgrag.errors import KGLoadError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.loaders.base import PackagedFileSource

log = logging.getLogger(__name__)

PACKAGE = "simple-icd-10-cm"
IMPORT_NAME = "simple_icd_10_cm"
FILE_NAME = "icd10c-tabular-April-1-2026.xml"
LICENCE = "US government work (public domain); simple-icd-10-cm MIT"

ENTITY_TAGS = ("chapter", "section", "diag")
#: Note containers -> relation of their ``<note>`` texts (literal facts on the owning element).
NOTE_RELATIONS = {
    "inclusionTerm": "inclusion_term",
    "includes": "inclusion_term",
    "excludes1": "excludes1",
    "excludes2": "excludes2",
    "codeFirst": "code_first",
    "useAdditionalCode": "use_additional_code",
    "codeAlso": "code_also",
    "notes": "coding_note",
    "sevenChrNote": "coding_note",
}
SEVENTH_CHARACTER = "seventh_character"


@dataclass
class _Frame:
    """A chapter, section or diag element being read."""

    tag: str
    ordinal: int
    placeholder: bool = False
    code: str = ""
    desc: str = ""
    idx: int = -1
    parent: _Frame | None = None
    seventh: list[str] = field(default_factory=list)
    pending: list[tuple[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        if self.tag == "chapter":
            return f"icd10cm:chapter:{self.code}"
        return "icd10cm:" + self.code


class ICD10CMLoader(PackagedFileSource):
    """Loads the ICD-10-CM tabular list.

    Ids: ``icd10cm:chapter:4``, blocks ``icd10cm:E08-E13`` (a one-category block such as
    ``B10`` becomes ``icd10cm:B10-B10``, so that it is not confused with the code ``B10``) and
    codes ``icd10cm:E11.9``. Provenance of each fact: the ordinal of its element among the
    chapter/section/diag elements of the file as ``line``, the code as ``key``.

    Args:
        path: the tabular XML file, or a folder holding :data:`FILE_NAME`; default: the file
            inside the installed ``simple-icd-10-cm`` package.

    Example:
        >>> builder = KGBuilder()
        >>> ICD10CMLoader().load(builder)  # doctest: +SKIP
    """

    name = "icd10cm"
    package = PACKAGE
    import_name = IMPORT_NAME
    file_name = FILE_NAME
    licence = LICENCE
    expected = "an ICD-10-CM tabular XML file"

    def load(self, builder: KGBuilder) -> None:
        """Stream the XML into ``builder``.

        Raises:
            KGLoadError: the XML is not well-formed (names file and line), or a chapter, section
                or diag lacks its name, id or desc (names file and element ordinal).
            SourceNotAvailableError: the package or file is missing.
        """
        path = self.file()
        builder.add_source(self.info())
        file = builder.register_file(self.name, self.file_label())
        _TabularReader(builder, path, file, self.name).read()


@dataclass
class _TabularReader:
    """One pass over the tabular XML: a stack of open chapter/section/diag elements, each added
    to the builder as soon as its name and desc are known (before its first child)."""

    builder: KGBuilder
    path: Path
    file: int
    source: str
    skipped: Counter[str] = field(default_factory=Counter)

    def read(self) -> None:
        counts: Counter[str] = Counter()
        stack: list[_Frame] = []
        tags: list[str] = []
        ordinal = 0
        try:
            for event, elem in ET.iterparse(self.path, events=("start", "end")):
                if event == "start":
                    tags.append(elem.tag)
                    if elem.tag in ENTITY_TAGS:
                        parent = stack[-1] if stack else None
                        if parent is not None:  # its entity must exist before a child's is_a
                            self._flush(parent)
                        ordinal += 1
                        frame = _Frame(elem.tag, ordinal, placeholder=elem.get("placeholder") == "true", parent=parent)
                        if elem.tag == "section":
                            frame.code = _block_code(elem.get("id") or "")
                        stack.append(frame)
                    continue
                if elem.tag in ENTITY_TAGS:
                    frame = stack.pop()
                    self._flush(frame)
                    counts["placeholder" if frame.placeholder else frame.tag] += 1
                    elem.clear()  # keeps memory flat: the finished subtree is not needed again
                elif stack:
                    self._child_end(elem, tags, stack[-1])
                tags.pop()
        except ET.ParseError as exc:
            line, column = exc.position
            reason = ErrorString(exc.code) or str(exc)
            raise KGLoadError(self.path, line, f"malformed XML ({reason} at column {column})") from None
        if self.skipped:
            log.info("icd10cm: not kept as facts: %s", dict(self.skipped))
        log.info(
            "icd10cm: %d chapters, %d blocks, %d codes, %d placeholders from %s",
            counts["chapter"], counts["section"], counts["diag"], counts["placeholder"], self.path,
        )

    def _child_end(self, elem: ET.Element, tags: list[str], owner: _Frame) -> None:
        """Handle the end of an element inside chapter/section/diag ``owner``."""
        parent = tags[-2]
        text = " ".join((elem.text or "").split())
        if elem.tag in ("name", "desc") and parent == owner.tag:
            if elem.tag == "name":
                owner.code = text
            else:
                owner.desc = text
                self._flush(owner)
        elif elem.tag == "extension" and parent == "sevenChrDef":
            owner.seventh.append(f"{elem.get('char', '?')}: {text}")
        elif elem.tag == "note" and parent == "sevenChrDef" and owner.seventh:
            # a note inside sevenChrDef further describes the 7th character just before it
            owner.seventh[-1] += f" ({text})"
        elif elem.tag == "sevenChrDef":
            for value in owner.seventh:
                self._fact(owner, SEVENTH_CHARACTER, value)
            owner.seventh.clear()
        elif elem.tag == "note" and tags[-3] == owner.tag:
            if parent in NOTE_RELATIONS:
                self._fact(owner, NOTE_RELATIONS[parent], text)
            else:
                self.skipped[f"<note> in <{parent}>"] += 1
        elif elem.tag == "visualImpairment":
            self.skipped[f"<visualImpairment> table of {owner.code}"] += 1

    def _flush(self, frame: _Frame) -> None:
        """Add ``frame``'s entity (once), its ``is_a`` to the enclosing element and its notes."""
        if frame.idx >= 0:
            return
        what = f"<{frame.tag}> element {frame.ordinal}"
        if not frame.code:
            attr = "an id attribute" if frame.tag == "section" else "a <name>"
            raise KGLoadError(self.path, frame.ordinal, f"expected {attr} in {what}, found none")
        if not frame.desc:
            raise KGLoadError(self.path, frame.ordinal, f"expected a <desc> in {what} ({frame.code}), found none")
        types: tuple[str, ...]
        xrefs: tuple[str, ...]
        if frame.tag == "chapter":
            types, xrefs = ("icd10cm chapter",), ()
        else:
            kind = "block" if frame.tag == "section" else "placeholder" if frame.placeholder else "code"
            types, xrefs = (f"icd10cm {kind}",), ("ICD10CM:" + frame.code,)
        frame.idx = self.builder.add_entity(frame.id, frame.desc, "en", self.source, types=types, xrefs=xrefs)
        if frame.parent is not None:
            self._add(frame, "is_a", tail=frame.parent.idx)
        if frame.tag == "diag":  # the code as a citable fact, not only as the entity's id (issue 13)
            self._add(frame, "icd10", value=frame.code)
        for relation, value in frame.pending:
            self._add(frame, relation, value=value)
        frame.pending.clear()

    def _fact(self, frame: _Frame, relation: str, value: str) -> None:
        """A literal fact on ``frame``, held back until its entity exists."""
        if not value:
            return
        if frame.idx < 0:
            frame.pending.append((relation, value))
        else:
            self._add(frame, relation, value=value)

    def _add(self, frame: _Frame, relation: str, *, tail: int | None = None, value: str | None = None) -> None:
        self.builder.add_fact(
            frame.idx, relation, tail=tail, value=value, file=self.file, line=frame.ordinal, key=frame.code
        )


def _block_code(section_id: str) -> str:
    """``E08-E13`` as is; a one-category block ``B10`` as ``B10-B10``."""
    if not section_id:
        return ""
    return section_id if "-" in section_id else f"{section_id}-{section_id}"
