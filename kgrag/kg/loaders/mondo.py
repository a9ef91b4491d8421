"""MONDO, the Mondo Disease Ontology, from the term file inside ``cellxgene-ontology-guide``.

The package ships MONDO as one zstd-compressed JSON object ``term id -> {label, description,
synonyms, ancestors: {id: distance}, deprecated, ...}``. Only that file's bytes are read; the
package itself is never imported (it pulls in its own API and other ontologies).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import zstandard

from kgrag.errors import KGLoadError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.loaders.base import PackagedFileSource

log = logging.getLogger(__name__)

PACKAGE = "cellxgene-ontology-guide"
IMPORT_NAME = "cellxgene_ontology_guide"
FILE_NAME = "MONDO-ontology-v2026-05-05.json.zst"
LICENCE = "CC BY 4.0"
TYPES = ("disease",)


class MONDOLoader(PackagedFileSource):
    """Loads MONDO terms (entities) and their direct parents (``is_a`` facts).

    Deprecated terms are skipped and counted. The JSON has no line structure worth keeping, so a
    fact's provenance is the term's ordinal in the file as ``line`` and the term id as ``key``.

    Args:
        path: a ``MONDO-*.json.zst`` file, or a folder holding :data:`FILE_NAME`; default: the
            file inside the installed ``cellxgene-ontology-guide`` package.

    Example:
        >>> builder = KGBuilder()
        >>> MONDOLoader().load(builder)  # doctest: +SKIP
    """

    name = "mondo"
    package = PACKAGE
    import_name = IMPORT_NAME
    file_name = FILE_NAME
    licence = LICENCE
    expected = f"a MONDO {FILE_NAME}-style file"

    def load(self, builder: KGBuilder) -> None:
        """Read the term file into ``builder``.

        Raises:
            KGLoadError: the file is not zstd, not UTF-8 or not JSON (names file and line), or a
                term is not an object with a ``label`` string (names file, ordinal and term id).
            SourceNotAvailableError: the package or file is missing.
        """
        path = self.file()
        builder.add_source(self.info())
        file = builder.register_file(self.name, self.file_label())
        deprecated = kept = 0
        parents_seen: set[str] = set()
        for ordinal, (term_id, term) in enumerate(read_terms(path).items(), start=1):
            if not isinstance(term, dict):
                raise KGLoadError(path, ordinal, f"term {term_id}: expected a JSON object, found {type(term).__name__}")
            if term.get("deprecated"):
                deprecated += 1
                continue
            label = term.get("label")
            if not isinstance(label, str) or not label.strip():
                raise KGLoadError(path, ordinal, f"term {term_id}: expected a 'label' string, found {label!r}")
            synonyms = term.get("synonyms") or []
            idx = builder.add_entity(
                "mondo:" + term_id, label, "en", self.name,
                aliases=[s for s in synonyms if isinstance(s, str)],
                types=TYPES,
                description=term.get("description") or "",
                xrefs=(term_id,),
            )
            kept += 1
            description = term.get("description")
            if isinstance(description, str) and description.strip():  # MONDO's definition, as a citable fact
                builder.add_fact(idx, "definition", value=description.strip(), file=file, line=ordinal, key=term_id)
            ancestors = term.get("ancestors") or {}
            if not isinstance(ancestors, dict):
                raise KGLoadError(path, ordinal, f"term {term_id}: expected 'ancestors' as {{id: distance}}")
            for parent, distance in ancestors.items():
                if distance != 1:
                    continue
                parents_seen.add(parent)
                tail = builder.ensure_entity("mondo:" + parent, parent, "en", self.name, types=TYPES)
                builder.add_fact(idx, "is_a", tail=tail, file=file, line=ordinal, key=term_id)
        stubs = sum(1 for p in parents_seen if builder.entity_row("mondo:" + p).stub)
        if stubs:
            log.warning("mondo: %d parents are deprecated or absent terms; kept as stub entities", stubs)
        log.info("mondo: %d terms from %s (%d deprecated skipped)", kept, path, deprecated)


def read_terms(path: Path) -> dict[str, Any]:
    """The decompressed, parsed term dict of a MONDO ``.json.zst`` file.

    Raises:
        KGLoadError: not a zstd stream, not UTF-8, not JSON, or not a JSON object.
    """
    try:
        with path.open("rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as reader:
            raw = reader.read()
    except zstandard.ZstdError as exc:
        raise KGLoadError(path, None, f"expected a zstd-compressed JSON file ({exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise KGLoadError(path, line, f"not valid utf-8 at byte {exc.start} ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise KGLoadError(path, exc.lineno, f"malformed JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise KGLoadError(path, None, f"expected a JSON object of term id -> term, found {type(data).__name__}")
    return data
