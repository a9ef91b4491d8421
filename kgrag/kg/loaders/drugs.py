"""English drug names: the dictionary inside ``drug-named-entity-recognition==2.0.9``.

The package ships one bz2-compressed pickle (read through :mod:`kgrag.kg.loaders.pinned`, sha256
checked) holding three dicts:

* ``drug_variant_to_canonical``: surface form (lower case: brand, synonym, salt) -> ``[canonical]``
* ``drug_canonical_to_data``: canonical -> ``{name, drugbank_id, mesh_id, mesh_tree,
  medline_plus_id, synonyms, ...}``
* ``drug_variant_to_variant_data``: surface form -> ``{is_brand}``

Each canonical drug becomes an entity ``drugs:<DrugBank id>`` (or ``drugs:<canonical>`` without
one) whose aliases are its surface forms. Brand names become ``brand_name`` facts.

The record's ``mesh_id`` is *not* the drug's own MeSH descriptor in general: it is often the
descriptor of a pharmacological action (warfarin carries the id of the record ``rodenticides``,
acetaminophen that of ``antipyretics``; 3,378 of 8,749 records share their id with another). So it
is not kept as a ``MESH:`` xref, which identity links would trust; the MeSH tree numbers are
the drug's own and are kept as ``MESH_TREE:`` xrefs.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from kgrag.errors import KGLoadError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import normalize_name
from kgrag.kg.loaders.mesh import MESH_TREE
from kgrag.kg.loaders.pinned import PinnedFile, read_pinned_pickle, require_dict
from kgrag.kg.model import SourceInfo

log = logging.getLogger(__name__)

LICENCE = "MIT (package); DrugBank open vocabulary CC0, MeSH (NLM, public), MedlinePlus (NLM)"
DICTIONARY = PinnedFile(
    "drug-named-entity-recognition",
    "2.0.9",
    "drug_named_entity_recognition",
    "drug_ner_dictionary.pkl.bz2",
    "ec10a1c7b633fc4bae8d0eecff053892c0e37f49e18eaf59c8a1e9f40fc80d9d",
)
TYPES = ("drug",)
VARIANTS = "drug_variant_to_canonical"
RECORDS = "drug_canonical_to_data"
VARIANT_DATA = "drug_variant_to_variant_data"
_DRUGBANK = re.compile(r"^DB\d{5}$")


class DrugsLoader:
    """Loads the drug dictionary: drugs (entities with aliases and xrefs), brands (facts).

    Provenance: the record's ordinal in its dict as ``line`` and ``dict/key`` as ``key``.

    Args:
        dictionary: the pinned package file to read (tests pass another package's file).

    Example:
        >>> builder = KGBuilder()
        >>> DrugsLoader().load(builder)  # doctest: +SKIP
        >>> builder.build().find("Coumadin")  # doctest: +SKIP
    """

    name = "drugs"

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
        data = require_dict(data, path, "the drug dictionary")
        tables = {k: require_dict(data.get(k), path, f"{k!r}") for k in (VARIANTS, RECORDS, VARIANT_DATA)}
        builder.add_source(self.info())
        file = builder.register_file(self.name, self.dictionary.label)

        canonical_of: dict[str, str] = {}
        forms: dict[str, list[str]] = {}
        for variant, target in tables[VARIANTS].items():
            if not (isinstance(variant, str) and isinstance(target, list) and len(target) == 1
                    and isinstance(target[0], str)):
                raise KGLoadError(path, None, f"{VARIANTS}[{variant!r}]: expected [canonical name], found {target!r}")
            canonical_of[variant] = target[0]
            forms.setdefault(target[0], []).append(variant)

        entity_of: dict[str, int] = {}
        trees = 0
        for ordinal, (canonical, record) in enumerate(tables[RECORDS].items(), start=1):
            rec = require_dict(record, path, "a drug record", f"{RECORDS}[{canonical!r}] (record {ordinal})")
            name = _text(rec.get("name"), path, canonical, "name") or canonical
            drugbank = _text(rec.get("drugbank_id"), path, canonical, "drugbank_id")
            if drugbank and not _DRUGBANK.match(drugbank):
                raise KGLoadError(path, None, f"{RECORDS}[{canonical!r}]: drugbank_id {drugbank!r} is not DB+5 digits")
            xrefs = [f"DRUGBANK:{drugbank}"] if drugbank else []
            medline = _text(rec.get("medline_plus_id"), path, canonical, "medline_plus_id")
            if medline:
                xrefs.append(f"MEDLINEPLUS:{medline}")
            tree = [t for t in _strings(rec.get("mesh_tree"), path, canonical, "mesh_tree") if MESH_TREE.match(t)]
            xrefs += [f"MESH_TREE:{t}" for t in tree]
            trees += len(tree)
            synonyms = _strings(rec.get("synonyms"), path, canonical, "synonyms")
            entity_of[canonical] = builder.add_entity(
                "drugs:" + (drugbank or canonical), name, "en", self.name,
                aliases=_aliases(name, forms.get(canonical, []) + synonyms),
                types=TYPES,
                xrefs=xrefs,
            )
        # a few surface forms name a canonical drug that has no record: the drug still exists
        bare = [c for c in forms if c not in entity_of]
        for canonical in bare:
            entity_of[canonical] = builder.add_entity(
                "drugs:" + canonical, canonical, "en", self.name, aliases=_aliases(canonical, forms[canonical]),
                types=TYPES,
            )

        brands = unattached = 0
        for ordinal, (variant, extra) in enumerate(tables[VARIANT_DATA].items(), start=1):
            rec = require_dict(extra, path, "variant data", f"{VARIANT_DATA}[{variant!r}] (record {ordinal})")
            is_brand = rec.get("is_brand")
            if not isinstance(is_brand, bool):
                raise KGLoadError(path, None, f"{VARIANT_DATA}[{variant!r}]: expected is_brand true/false, "
                                  f"found {is_brand!r}")
            if not is_brand:
                continue
            canonical = canonical_of.get(variant)
            if canonical is None:
                unattached += 1
                continue
            builder.add_fact(entity_of[canonical], "brand_name", value=variant, file=file, line=ordinal,
                             key=f"{VARIANT_DATA}/{variant}")
            brands += 1
        log.info(
            "drugs: %d drugs (%d without a record), %d surface forms, %d MeSH tree numbers, %d brand facts "
            "(%d brands name no drug) from %s",
            len(entity_of), len(bare), len(canonical_of), trees, brands, unattached, path,
        )


def _aliases(name: str, forms: list[str]) -> list[str]:
    """Surface forms that are not the name itself (the dictionary lower-cases every form)."""
    own = normalize_name(name)
    return [f for f in dict.fromkeys(s.strip() for s in forms) if f and normalize_name(f) != own]


def _text(value: Any, path: Path, record: str, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise KGLoadError(path, None, f"{RECORDS}[{record!r}]: expected {field} as a string, found {value!r}")
    return value.strip() or None


def _strings(value: Any, path: Path, record: str, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KGLoadError(path, None, f"{RECORDS}[{record!r}]: expected {field} as a list of strings, found {value!r}")
    return [v.strip() for v in value if v.strip()]

