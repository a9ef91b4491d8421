"""The UMLS Metathesaurus, read from the RRF files of a licensed local release.

Reads ``META/MRCONSO.RRF`` (names), ``MRSTY.RRF`` (semantic types), ``MRDEF.RRF`` (definitions)
and ``MRREL.RRF`` (relations), plus ``MRRANK.RRF`` when present. Every file is streamed line by
line; what stays in memory is the builder's own state, a CUI → entity table of 40 MB, and 16
bytes per kept MRREL row until the rows are de-duplicated. Column layouts are those of the UMLS
Reference Manual, chapter 3 ("Metathesaurus - Rich Release Format"): every field, the last
one included, is followed by ``|``.

Why one module past 450 lines: the five files are read in one pass each by one loader whose
state (the CUI table, the kept-concept filter, the relation mapping) they share; the reading
rules below are the module's specification and take a third of it.

Reading rules:

* **Atoms** (MRCONSO rows) count when LAT is one of ``langs`` (ENG → ``en``, CHI → ``zh``), SAB
  is in ``sabs`` (all when None) and SUPPRESS is not O, E or Y (N and empty are kept). A concept
  is kept when one of its atoms is; a row of MRSTY, MRDEF or MRREL about a concept that is not
  kept is skipped, and so is every suppressed row.
* **Preferred name**, the UMLS rule: the English atom with TS=P, STT=PF and ISPREF=Y. When the
  filters removed it, the surviving atoms are ranked by (1) English before Chinese, (2) highest
  MRRANK rank of its SAB/TTY (the precedence that the TS/STT/ISPREF flags themselves are derived
  from, so this recomputes them for the subset), (3) TS=P, then STT=PF, then ISPREF=Y,
  (4) term type :data:`TTY_PREFERENCE` (when MRRANK.RRF is absent), (5) file order.
  The other names become aliases in the same order, de-duplicated case-insensitively.
* **Xrefs**: ``UMLS:<CUI>`` and ``<SAB>:<CODE>`` for every kept atom with a code
  (``MSH:D003920``, ``SNOMEDCT_US:73211009``, ``ICD10CM:E11.9``; not ``NOCODE``, not SAB=SRC), so
  that the cross-source links join them.
* **Types**: the MRSTY semantic type names (``Disease or Syndrome``).
* **Description**: one MRDEF definition per concept, the first from the best-ranked source of
  :data:`DEF_PREFERENCE` (a sub-source such as ``NCI_NCI-GLOSS`` right after its root when not
  listed itself), then any other source in file order. MRDEF rows carry no language: a source
  whose MRCONSO atoms (or its root source's) are all in other languages (MSHSPA, MSHPOR, ...) is
  skipped.
* **Relations**: an MRREL row is read right to left: CUI2 has the relationship REL (and RELA) to
  CUI1. ``C0011849|..|CHD|C0011860|..|isa|`` says that C0011860 (type 2 diabetes) is a child of
  C0011849 (diabetes mellitus) and ``isa`` it, giving the fact ``umls:C0011860 is_a
  umls:C0011849``. A curated RELA (``data/umls_relations.tsv``) gives its own relation; any other
  RELA falls back to the generic relation of its REL and is kept in the fact's qualifier
  (``sab=LNC; rela=has_system``). Rows with REL in ``skip_rels`` (default SIB, SY, AQ, QB: tens of
  millions of sibling, source-synonymy and MeSH-qualifier rows of little use to QA), rows between
  atoms of one concept (CUI1 = CUI2) and RELs without a mapping (XR "not related", DEL, ...) are
  counted and skipped. Both directions of a pair are kept, as MRREL lists them; an exact repeat
  of a (head, relation, tail) triple (the same relation asserted by several sources) is stored
  once, with the provenance (file and line) of its first row.

Example:
    >>> builder = KGBuilder()
    >>> UMLSLoader(Path("/data/UMLS/2025AB/META"), sabs={"MSH", "SNOMEDCT_US"}).load(builder)  # doctest: +SKIP
    >>> builder.entity_row("umls:C0011849").name  # doctest: +SKIP
    'Diabetes Mellitus'
"""

from __future__ import annotations

import gc
import logging
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from kgrag.errors import ConfigError, KGLoadError, SourceNotAvailableError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.loaders.base import read_lines
from kgrag.kg.model import SourceInfo
from kgrag.kg.relations import read_tsv

log = logging.getLogger(__name__)

PACKAGE = "UMLS Metathesaurus (local, licensed)"
LICENCE = "UMLS Metathesaurus License (NLM)"
ENTITY_PREFIX = "umls:"
#: UMLS language (LAT) → kgrag language.
LAT_LANG = {"ENG": "en", "CHI": "zh"}
SUPPRESSED = frozenset({"O", "E", "Y"})
DEFAULT_SKIP_RELS = frozenset({"SIB", "SY", "AQ", "QB"})
#: MRDEF sources, best first; a source not listed ranks after all of them.
DEF_PREFERENCE = (
    "MSH", "NCI", "CSP", "MEDLINEPLUS", "HPO", "NCI_NCI-GLOSS", "GO", "SNOMEDCT_US", "MDR", "PDQ",
    "ORPHANET", "CHV", "AIR", "UWDA", "FMA", "LNC", "MTH",
)
#: Term types for the preferred-name fallback when MRRANK.RRF is absent, best first.
TTY_PREFERENCE = ("PN", "MH", "PT", "PTN", "FN", "HT", "NM", "SY", "ET", "SYN", "AB", "ACR")

COLUMNS = {
    "MRCONSO.RRF": "CUI LAT TS LUI STT SUI ISPREF AUI SAUI SCUI SDUI SAB TTY CODE STR SRL SUPPRESS CVF".split(),
    "MRDEF.RRF": "CUI AUI ATUI SATUI SAB DEF SUPPRESS CVF".split(),
    "MRREL.RRF": ("CUI1 AUI1 STYPE1 REL CUI2 AUI2 STYPE2 RELA RUI SRUI SAB SL RG DIR SUPPRESS CVF".split()),
    "MRSTY.RRF": "CUI TUI STN STY ATUI CVF".split(),
    "MRRANK.RRF": "RANK SAB TTY SUPPRESS".split(),
}
REQUIRED = ("MRCONSO.RRF", "MRSTY.RRF", "MRDEF.RRF", "MRREL.RRF")

# MRREL dedup keys pack (head, relation, tail) into one uint64: 28 + 8 + 28 bits.
_ROW_BITS = 28
_REL_BITS = 8
_ROW_MASK = (1 << _ROW_BITS) - 1
_REL_MASK = (1 << _REL_BITS) - 1

#: Sort key of an atom for the preferred name (see the module docstring).
_Rank = tuple[int, bool, int, bool, bool, bool, int]


def rrf_rows(path: Path, columns: list[str]) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` for each row of an RRF file, streamed. ``fields`` has one more
    item than ``columns`` (the empty text after the trailing ``|``).

    Raises:
        KGLoadError: a row with the wrong number of fields or no trailing ``|``, or invalid
            UTF-8 (names file and line).
    """
    n = len(columns) + 1
    for lineno, line in read_lines(path):
        fields = line.split("|")
        if len(fields) != n or fields[-1]:
            raise KGLoadError(path, lineno, _shape_error(fields, columns))
        yield lineno, fields


def _shape_error(fields: list[str], columns: list[str]) -> str:
    expected = f"expected {len(columns)} fields ({'|'.join(columns)}|)"
    if fields[-1]:  # no trailing '|': the last piece is an unterminated field
        if len(fields) == len(columns):
            return f"{expected} but the line does not end with '|' (RRF ends every field with '|')"
        return f"{expected} but found {len(fields)} and no trailing '|'"
    return f"{expected} but found {len(fields) - 1}"


@lru_cache(maxsize=1)
def relation_table() -> tuple[dict[str, str], dict[str, str]]:
    """``(REL → relation id, RELA → relation id)`` from ``data/umls_relations.tsv``. REL values
    are upper case (``PAR``), RELA values lower case (``may_treat``)."""
    rels: dict[str, str] = {}
    relas: dict[str, str] = {}
    for row in read_tsv("umls_relations.tsv"):
        (rels if row[0].isupper() else relas)[row[0]] = row[1]
    return rels, relas


class _CuiTable:
    """CUI → builder entity index, -1 when the concept is not kept. A CUI is ``C`` and 7 digits,
    so an int32 array of 10 M slots (40 MB) holds every possible one, where a dict of 4.5 M CUI
    strings would take ~500 MB; anything else goes to a dict."""

    SLOTS = 10_000_000

    def __init__(self) -> None:
        self.slots = array("i", [-1]) * self.SLOTS
        self.other: dict[str, int] = {}
        self.count = 0

    def set(self, cui: str, idx: int) -> None:
        self.count += self.get(cui) < 0
        if len(cui) == 8 and cui[0] == "C" and cui.isascii() and cui[1:].isdigit():
            self.slots[int(cui[1:])] = idx
        else:
            self.other[cui] = idx

    def get(self, cui: str) -> int:
        if len(cui) == 8 and cui[0] == "C" and cui.isascii() and cui[1:].isdigit():
            return self.slots[int(cui[1:])]
        return self.other.get(cui, -1)


class UMLSLoader:
    """Loads UMLS concepts (entities) and their relations (facts) from a ``META`` folder.

    Args:
        path: the ``META`` folder of a UMLS release or MetamorphoSys subset (or the release folder
            that contains it).
        langs: UMLS languages whose names are read: ``ENG``, ``CHI`` or both.
        sabs: source vocabularies to read (``{"MSH", "SNOMEDCT_US"}``); None reads all.
        name: the source name in the store.
        skip_rels: MRREL REL values not read (see the module docstring).

    Raises:
        ConfigError: an unsupported language.
    """

    def __init__(
        self,
        path: Path,
        langs: Iterable[str] = ("ENG", "CHI"),
        sabs: Iterable[str] | None = None,
        name: str = "umls",
        *,
        skip_rels: Iterable[str] = DEFAULT_SKIP_RELS,
    ) -> None:
        self.langs = tuple(langs)
        bad = [lat for lat in self.langs if lat not in LAT_LANG]
        if bad or not self.langs:
            raise ConfigError(
                f"UMLS languages {bad or list(self.langs)!r} are not supported; use some of {list(LAT_LANG)}"
            )
        self.path = Path(path)
        self.sabs = frozenset(sabs) if sabs is not None else None
        self.name = name
        self.skip_rels = frozenset(skip_rels)
        #: Row counts of the last :meth:`load` (kept, skipped and why), also logged.
        self.stats: Counter[str] = Counter()

    # -- files and description ---------------------------------------------------------------
    def meta_dir(self) -> Path:
        if not (self.path / "MRCONSO.RRF").exists() and (self.path / "META" / "MRCONSO.RRF").exists():
            return self.path / "META"
        return self.path

    def files(self) -> dict[str, Path]:
        """The RRF files read, by name; raises :class:`SourceNotAvailableError` when one is missing."""
        meta = self.meta_dir()
        missing = [f for f in REQUIRED if not (meta / f).is_file()]
        if missing:
            what = f"{meta} does not exist" if not meta.is_dir() else f"{meta} has no {', '.join(missing)}"
            raise SourceNotAvailableError(
                f"UMLS Metathesaurus not found: {what}. UMLS is licensed and cannot be shipped with kgrag: "
                "get a (free) UMLS licence from the US National Library of Medicine "
                "(https://www.nlm.nih.gov/research/umls/), download a Metathesaurus release in RRF "
                "(umls-<version>-metathesaurus-full.zip, or your MetamorphoSys subset), unzip it and point "
                "kgrag at its META folder: `kgrag kg import umls=/data/UMLS/2025AB/META ...` or "
                "UMLSLoader(Path('/data/UMLS/2025AB/META'))"
            )
        found = {f: meta / f for f in REQUIRED}
        if (meta / "MRRANK.RRF").is_file():
            found["MRRANK.RRF"] = meta / "MRRANK.RRF"
        return found

    def version(self) -> str:
        """The release name (``2025AB``) from ``release.dat`` (in META or beside it) or MRDOC.RRF."""
        meta = self.meta_dir()
        for dat in (meta / "release.dat", meta.parent / "release.dat"):
            if dat.is_file():
                for line in dat.read_text(encoding="utf-8", errors="replace").splitlines():
                    key, _, value = line.partition("=")
                    if key.strip() == "umls.release.name" and value.strip():
                        return value.strip()
        mrdoc = meta / "MRDOC.RRF"
        if mrdoc.is_file():
            with mrdoc.open(encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("RELEASE|umls.release.name|"):
                        return line.split("|")[3]
        return "unknown"

    def info(self) -> SourceInfo:
        return SourceInfo(self.name, PACKAGE, self.version(), LICENCE, tuple(str(p) for p in self.files().values()))

    # -- loading -----------------------------------------------------------------------------
    def load(self, builder: KGBuilder) -> None:
        """Stream MRRANK (if present), MRCONSO, MRSTY, MRDEF, then MRREL into ``builder``.

        Raises:
            KGLoadError: a malformed row (names file and line).
            SourceNotAvailableError: the folder or a required file is missing.
        """
        files = self.files()
        builder.add_source(self.info())
        self.stats = Counter()
        file_ids = {f: builder.register_file(self.name, str(p)) for f, p in files.items()}
        ranks = self._read_ranks(files["MRRANK.RRF"]) if "MRRANK.RRF" in files else {}
        cuis = _CuiTable()
        # Millions of new lists and strings, none in a reference cycle: the cyclic collector's
        # passes over them would cost about a third of the import time.
        collecting = gc.isenabled()
        gc.disable()
        try:
            sab_lats = self._load_concepts(builder, files["MRCONSO.RRF"], cuis, ranks)
            self._load_types(builder, files["MRSTY.RRF"], cuis)
            self._load_definitions(builder, files["MRDEF.RRF"], file_ids["MRDEF.RRF"], cuis, sab_lats)
            self._load_relations(builder, files["MRREL.RRF"], file_ids["MRREL.RRF"], cuis)
        finally:
            if collecting:
                gc.enable()
        log.info("%s: done; row counts %s", self.name, dict(sorted(self.stats.items())))

    def _sab_filter(self, *, roots: bool = False) -> Callable[[str], bool]:
        """Whether a SAB passes ``sabs``; with ``roots``, a sub-source passes with its root SAB
        (MRDEF's ``NCI_NCI-GLOSS`` with ``NCI``)."""
        sabs = self.sabs
        cache: dict[str, bool] = {}

        def ok(sab: str) -> bool:
            hit = cache.get(sab)
            if hit is None:
                hit = cache[sab] = sabs is None or sab in sabs or (roots and sab.split("_", 1)[0] in sabs)
            return hit

        return ok

    def _read_ranks(self, path: Path) -> dict[tuple[str, str], int]:
        return {(f[1], f[2]): int(f[0]) for _, f in rrf_rows(path, COLUMNS["MRRANK.RRF"]) if f[0].isdigit()}

    def _load_concepts(
        self, builder: KGBuilder, path: Path, cuis: _CuiTable, ranks: dict[tuple[str, str], int]
    ) -> set[tuple[str, str]]:
        """MRCONSO → entities, one per CUI group (the file is sorted by CUI; should a CUI come
        back later, the builder merges its names in as aliases). Returns the (SAB, LAT) pairs seen."""
        lat_order = {lat: i for i, lat in enumerate(sorted(self.langs, key=lambda lat: lat != "ENG"))}
        tty_order = {tty: i for i, tty in enumerate(TTY_PREFERENCE)}
        n_tty = len(TTY_PREFERENCE)

        def rank(a: list[str]) -> _Rank:
            ts, stt, ispref = a[2] != "P", a[4] != "PF", a[6] != "Y"
            return (lat_order[a[1]], ts or stt or ispref, -ranks.get((a[11], a[12]), 0), ts, stt, ispref,
                    tty_order.get(a[12], n_tty))

        sab_ok = self._sab_filter()
        sab_lats: set[tuple[str, str]] = set()
        atoms: list[list[str]] = []
        group = ""
        rows = other_lang = suppressed = other_sab = 0
        for _, f in rrf_rows(path, COLUMNS["MRCONSO.RRF"]):
            rows += 1
            if f[0] != group:
                if atoms:
                    self._add_concept(builder, group, atoms, rank, cuis)
                    atoms = []
                group = f[0]
            sab_lats.add((f[11], f[1]))
            if f[1] not in lat_order:
                other_lang += 1
            elif f[16] in SUPPRESSED:
                suppressed += 1
            elif not sab_ok(f[11]):
                other_sab += 1
            else:
                atoms.append(f)
        if atoms:
            self._add_concept(builder, group, atoms, rank, cuis)
        self.stats.update({"MRCONSO rows": rows, "MRCONSO other language": other_lang,
                           "MRCONSO suppressed": suppressed, "MRCONSO other SAB": other_sab,
                           "concepts": cuis.count})
        log.info("%s: %d concepts from %d MRCONSO rows (%d in other languages, %d suppressed, %d of other SABs)",
                 self.name, cuis.count, rows, other_lang, suppressed, other_sab)
        return sab_lats

    def _add_concept(
        self, builder: KGBuilder, cui: str, atoms: list[list[str]], rank: Callable[[list[str]], _Rank], cuis: _CuiTable
    ) -> None:
        atoms.sort(key=rank)
        name = atoms[0][14]
        seen = {name.casefold()}
        aliases: list[str] = []
        xrefs = ["UMLS:" + cui]
        seen_x = set(xrefs)
        for a in atoms:
            key = a[14].casefold()
            if key not in seen:
                seen.add(key)
                aliases.append(a[14])
            code, sab = a[13], a[11]
            if code and code != "NOCODE" and sab != "SRC":
                x = f"{sab}:{code}"
                if x not in seen_x:
                    seen_x.add(x)
                    xrefs.append(x)
        idx = builder.add_entity(
            ENTITY_PREFIX + cui, name, LAT_LANG[atoms[0][1]], self.name, aliases=aliases, xrefs=xrefs
        )
        cuis.set(cui, idx)

    def _load_types(self, builder: KGBuilder, path: Path, cuis: _CuiTable) -> None:
        kept = rows = 0
        for _, f in rrf_rows(path, COLUMNS["MRSTY.RRF"]):
            rows += 1
            if cuis.get(f[0]) >= 0 and f[3]:
                # the entity exists, so ensure_entity only adds the type (the name is unused)
                builder.ensure_entity(ENTITY_PREFIX + f[0], f[0], "en", self.name, types=(f[3],))
                kept += 1
        self.stats.update({"MRSTY rows": rows, "semantic types": kept})
        log.info("%s: %d semantic types from %d MRSTY rows", self.name, kept, rows)

    def _load_definitions(
        self, builder: KGBuilder, path: Path, file: int, cuis: _CuiTable, sab_lats: set[tuple[str, str]]
    ) -> None:
        """Each concept's best-ranked MRDEF definition: its description and a ``definition`` fact."""
        kept_lats = set(self.langs)
        seen_sabs = {sab for sab, _ in sab_lats}
        lang_sabs = {sab for sab, lat in sab_lats if lat in kept_lats}
        sab_ok = self._sab_filter(roots=True)
        preference = {sab: i for i, sab in enumerate(DEF_PREFERENCE)}
        source_rank: dict[str, int] = {}

        def def_rank(sab: str) -> int:
            """0 (best) .. 254; 255 = not usable (filtered SAB, or a source in another language)."""
            r = source_rank.get(sab)
            if r is None:
                root = sab.split("_", 1)[0]
                # the language of a source is that of its atoms (its own, or its root source's);
                # a source without atoms is taken as it is
                known = sab if sab in seen_sabs else root if root in seen_sabs else None
                if not sab_ok(sab) or (known is not None and known not in lang_sabs):
                    r = 255
                elif sab in preference:
                    r = 2 * preference[sab]
                elif root in preference:
                    r = 2 * preference[root] + 1
                else:
                    r = 2 * len(preference)
                source_rank[sab] = r
            return r

        best = bytearray(b"\xff") * len(builder.entities)
        rows = suppressed = chosen = 0
        chosen_at: dict[int, tuple[int, str]] = {}  # entity -> (MRDEF line, text) of its best definition
        for lineno, f in rrf_rows(path, COLUMNS["MRDEF.RRF"]):
            rows += 1
            idx = cuis.get(f[0])
            if idx < 0:
                continue
            if f[6] in SUPPRESSED:
                suppressed += 1
                continue
            r = def_rank(f[4])
            text = f[5].strip()
            if r < best[idx] and text:
                chosen += best[idx] == 255
                best[idx] = r
                builder.set_description(ENTITY_PREFIX + f[0], text)
                chosen_at[idx] = (lineno, text)
        for idx, (lineno, text) in sorted(chosen_at.items()):
            builder.add_fact(idx, "definition", value=text, file=file, line=lineno)
        self.stats.update({"MRDEF rows": rows, "MRDEF suppressed": suppressed, "definitions": chosen})
        log.info(
            "%s: definitions for %d concepts from %d MRDEF rows (%d suppressed)", self.name, chosen, rows, suppressed
        )

    def _load_relations(self, builder: KGBuilder, path: Path, file_id: int, cuis: _CuiTable) -> None:
        """MRREL → facts ``CUI2 --relation--> CUI1``. Kept rows are packed into one uint64 key each
        (plus line and qualifier code) and de-duplicated with numpy before they reach the builder."""
        if len(builder.entities) > _ROW_MASK:
            raise ConfigError(f"{len(builder.entities)} entities: more than the {_ROW_MASK} MRREL dedup keys can hold")
        rel_map, rela_map = relation_table()
        rel_ids: list[str] = []
        qualifiers: list[str] = []
        mapping: dict[tuple[str, str, str], tuple[int, int] | None] = {}

        def lookup(rel: str, rela: str, sab: str) -> tuple[int, int] | None:
            relation = rela_map.get(rela) if rela else None
            qualifier = f"sab={sab}"
            if relation is None:
                relation = rel_map.get(rel)
                if relation is None:
                    return None
                if rela:
                    qualifier += f"; rela={rela}"
            if relation not in rel_ids:
                rel_ids.append(relation)
                if len(rel_ids) > _REL_MASK:
                    raise ConfigError(f"more than {_REL_MASK} UMLS relations mapped in umls_relations.tsv")
            qualifiers.append(qualifier)
            return rel_ids.index(relation), len(qualifiers) - 1

        sab_ok = self._sab_filter()
        skip_rels = self.skip_rels
        keys, lines, quals = array("Q"), array("I"), array("I")
        skipped: Counter[str] = Counter()
        rows = suppressed = other_sab = same = missing = 0
        for lineno, f in rrf_rows(path, COLUMNS["MRREL.RRF"]):
            rows += 1
            rel = f[3]
            if f[14] in SUPPRESSED:
                suppressed += 1
                continue
            if not sab_ok(f[10]):
                other_sab += 1
                continue
            if rel in skip_rels:
                skipped[rel] += 1
                continue
            if f[0] == f[4]:
                same += 1
                continue
            combo = (rel, f[7], f[10])
            try:
                mapped = mapping[combo]
            except KeyError:
                mapped = mapping[combo] = lookup(*combo)
            if mapped is None:
                skipped[rel] += 1
                continue
            head, tail = cuis.get(f[4]), cuis.get(f[0])
            if head < 0 or tail < 0:
                missing += 1
                continue
            keys.append((head << (_ROW_BITS + _REL_BITS)) | (mapped[0] << _ROW_BITS) | tail)
            lines.append(lineno)
            quals.append(mapped[1])
        log.info("%s: %d of %d MRREL rows map to facts between kept concepts; de-duplicating", self.name,
                 len(keys), rows)
        added = self._add_unique_facts(builder, keys, lines, quals, rel_ids, qualifiers, file_id)
        self.stats.update({"MRREL rows": rows, "MRREL suppressed": suppressed, "MRREL other SAB": other_sab,
                           "MRREL within one concept": same, "MRREL concept not kept": missing,
                           "MRREL duplicate triples": len(keys) - added, "facts": added})
        self.stats.update({f"MRREL skipped REL={rel}": n for rel, n in skipped.items()})
        log.info("%s: %d facts from %d MRREL rows (%d suppressed, %d other SABs, %d within one concept, "
                 "%d to concepts not kept, %d duplicate triples, skipped by REL: %s)", self.name, added, rows,
                 suppressed, other_sab, same, missing, len(keys) - added, dict(skipped))

    @staticmethod
    def _add_unique_facts(
        builder: KGBuilder, keys: array, lines: array, quals: array,
        rel_ids: list[str], qualifiers: list[str], file_id: int,
    ) -> int:
        """Add the first row of each distinct key, in file order; returns how many were added.
        Peak extra memory: ~17 bytes per row (a stable argsort and the sorted keys)."""
        k = np.frombuffer(keys, dtype=np.uint64) if len(keys) else np.zeros(0, np.uint64)
        order = np.argsort(k, kind="stable")
        ordered = k[order]
        first = np.ones(len(k), dtype=bool)
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
        del ordered
        keep = order[first]
        del order, first
        keep.sort()
        ln = np.frombuffer(lines, dtype=np.uint32) if len(lines) else np.zeros(0, np.uint32)
        qu = np.frombuffer(quals, dtype=np.uint32) if len(quals) else np.zeros(0, np.uint32)
        shift = _ROW_BITS + _REL_BITS
        for start in range(0, len(keep), 1 << 20):
            sel = keep[start : start + (1 << 20)]
            for key, line, q in zip(k[sel].tolist(), ln[sel].tolist(), qu[sel].tolist(), strict=True):
                builder.add_fact(key >> shift, rel_ids[(key >> _ROW_BITS) & _REL_MASK], tail=key & _ROW_MASK,
                                 file=file_id, line=line, qualifier=qualifiers[q])
        return len(keep)
