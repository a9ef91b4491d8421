"""CMeKG, the Chinese Medical Knowledge Graph: from the ``pycmekg`` package or a triples file.

The package ships CMeKG as a pickle (``dict[subject][predicate] -> list[object]``). Pickle can
run code, so it is read only from the installed ``pycmekg`` package, through an unpickler that
accepts nothing but dicts, lists and strings; any other pickle is refused. Users with a newer
CMeKG dump bring it as JSONL (``{"subject", "predicate", "object"}`` per line) or CSV/TSV with a
``subject,predicate,object`` header.

How each of the 469 predicates is read (relation, entity or literal, object node type) is the
table ``kgrag/kg/data/cmekg_predicates.tsv``. CMeKG has no descriptions: each entity's
description is composed in Chinese from its attributes (:func:`compose_description`).
"""

from __future__ import annotations

import csv
import io
import logging
import pickle
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson

from kgrag.errors import KGLoadError, UnsafeFormatError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.loaders.base import installed_version, package_file, read_lines
from kgrag.kg.model import SourceInfo
from kgrag.kg.relations import CMeKGPredicate, cmekg_predicates, vocabulary

log = logging.getLogger(__name__)

PACKAGE = "pycmekg"
LICENCE = "MIT (pycmekg); CMeKG by Peking University ICL and Zhengzhou University NLP lab"
#: Predicates not in the table (newer dumps) are kept as this literal relation, predicate in the qualifier.
FALLBACK_RELATION = "cmekg_attribute"

#: Node type of a subject, read from the relations it has (first rule that matches wins).
SUBJECT_TYPE_RULES: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "疾病",
        frozenset({"has_symptom", "department", "complication", "icd10", "population", "contagious", "clinical_sign"}),
    ),
    ("药物", frozenset({"side_effect", "ingredient", "dosage", "indication", "contraindication", "drug_interaction"})),
    ("检查", frozenset({"cmekg_examination_category"})),
)

#: Relations that go first into a composed description, in this order.
DESCRIPTION_ORDER = (
    "is_a",
    "english_name",
    "alias",
    "has_symptom",
    "clinical_sign",
    "cause",
    "risk_factor",
    "affected_site",
    "population",
    "contagious",
    "transmission",
    "department",
    "examination",
    "lab_test",
    "complication",
    "drug_treatment",
    "treatment",
    "surgery",
    "prevention",
    "indication",
    "ingredient",
    "side_effect",
    "contraindication",
    "dosage",
    "icd10",
)
MAX_ITEMS_PER_RELATION = 8
MAX_VALUE_CHARS = 80
MAX_DESCRIPTION_CHARS = 500
_SPLIT = re.compile(r"[；;]")


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global: only built-in containers and strings load."""

    def find_class(self, module: str, name: str) -> object:
        raise UnsafeFormatError(f"the CMeKG pickle references {module}.{name}; only plain data is accepted")


def package_pickle() -> Path:
    return package_file(PACKAGE, "pyCMeKG", "model", "cmekg.pkl")


def iter_package_triples(path: Path | None = None) -> Iterator[tuple[int, str, str, str, str]]:
    """``(ordinal, subject, predicate, object, key)`` for every triple of the package pickle.

    Raises:
        UnsafeFormatError: ``path`` is a pickle outside the installed pycmekg package.
    """
    trusted = package_pickle()
    path = trusted if path is None else Path(path)
    if path.resolve() != trusted.resolve():
        raise UnsafeFormatError(
            f"refusing to unpickle {path}: pickle can execute code, so kgrag reads pickle only from the "
            f"installed pycmekg package ({trusted}). Convert your dump to JSONL "
            '({"subject": ..., "predicate": ..., "object": ...} per line) and import it as cmekg=FILE.jsonl'
        )
    with path.open("rb") as f:
        data = _PlainDataUnpickler(f).load()
    if not isinstance(data, dict):
        raise KGLoadError(path, None, f"expected dict[subject][predicate] -> list[object], got {type(data).__name__}")
    n = 0
    for subject, preds in data.items():
        for predicate, objects in preds.items():
            for i, obj in enumerate(objects):
                n += 1
                yield n, subject, predicate, obj, f"{subject}/{predicate}/{i}"


def iter_file_triples(path: Path) -> Iterator[tuple[int, str, str, str, None]]:
    """``(line, subject, predicate, object, None)`` from a JSONL, CSV or TSV triples file."""
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        for lineno, line in read_lines(path):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise KGLoadError(
                    path, lineno, f"not valid JSON ({exc}); expected an object with subject, predicate, object"
                ) from None
            if not isinstance(rec, dict):
                raise KGLoadError(path, lineno, "expected a JSON object with subject, predicate, object")
            missing = [
                k for k in ("subject", "predicate", "object") if not isinstance(rec.get(k), str) or not rec[k].strip()
            ]
            if missing:
                raise KGLoadError(path, lineno, f"field(s) {', '.join(missing)} missing or not a non-empty string")
            yield lineno, rec["subject"].strip(), rec["predicate"].strip(), rec["object"].strip(), None
    elif suffix in {".csv", ".tsv"}:
        delimiter = "\t" if suffix == ".tsv" else ","
        lines = read_lines(path)
        try:
            _, header_line = next(lines)
        except StopIteration:
            raise KGLoadError(path, 1, "empty file; expected a header subject,predicate,object") from None
        header = next(csv.reader([header_line], delimiter=delimiter))
        if [h.strip().lower() for h in header[:3]] != ["subject", "predicate", "object"]:
            raise KGLoadError(
                path, 1, f"expected header subject{delimiter}predicate{delimiter}object, found {header_line!r}"
            )
        for lineno, line in lines:
            if not line.strip():
                continue
            row = next(csv.reader(io.StringIO(line), delimiter=delimiter))
            if len(row) != 3 or not all(c.strip() for c in row):
                raise KGLoadError(
                    path, lineno, f"expected 3 non-empty columns (subject, predicate, object), found {len(row)}"
                )
            yield lineno, row[0].strip(), row[1].strip(), row[2].strip(), None
    elif suffix in {".pkl", ".pickle"}:
        raise UnsafeFormatError(
            f"refusing to read pickle {path}: kgrag reads pickle only from the installed pycmekg package; "
            "convert the dump to JSONL or CSV (subject, predicate, object)"
        )
    else:
        raise KGLoadError(path, None, f"unknown triples format {suffix!r}; expected .jsonl, .csv or .tsv")


class CMeKGLoader:
    """Loads CMeKG into a builder.

    Args:
        path: ``None`` for the installed package's data, or a JSONL/CSV/TSV triples file.
    """

    name = "cmekg"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path

    def _file_label(self) -> str:
        if self.path is None:
            return f"pycmekg=={installed_version(PACKAGE)}:pyCMeKG/model/cmekg.pkl"
        return str(self.path)

    def info(self) -> SourceInfo:
        version = installed_version(PACKAGE) if self.path is None else "user file"
        return SourceInfo(
            self.name, PACKAGE if self.path is None else str(self.path), version, LICENCE, (self._file_label(),)
        )

    def triples(self) -> Iterator[tuple[int, str, str, str, str | None]]:
        return iter_package_triples() if self.path is None else iter_file_triples(Path(self.path))

    def load(self, builder: KGBuilder) -> None:
        builder.add_source(self.info())
        file_id = builder.register_file(self.name, self._file_label())
        table = cmekg_predicates()
        vocab = vocabulary()
        unknown: Counter[str] = Counter()
        incoming_types: dict[str, Counter[str]] = defaultdict(Counter)
        n = 0
        for line, subject, predicate, obj, key in self.triples():
            n += 1
            pred: CMeKGPredicate | None = table.get(predicate)
            head = builder.ensure_entity(f"cmekg:{subject}", subject, "zh", self.name)
            if pred is None:
                unknown[predicate] += 1
                builder.add_fact(
                    head, FALLBACK_RELATION, value=obj, file=file_id, line=line, key=key, qualifier=predicate
                )
                continue
            qualifier = predicate if vocab.get(pred.relation).zh != predicate else None
            if pred.kind == "entity":
                tail = builder.ensure_entity(f"cmekg:{obj}", obj, "zh", self.name)
                if pred.object_type:
                    incoming_types[obj][pred.object_type] += 1
                builder.add_fact(head, pred.relation, tail=tail, file=file_id, line=line, key=key, qualifier=qualifier)
            else:
                builder.add_fact(head, pred.relation, value=obj, file=file_id, line=line, key=key, qualifier=qualifier)
        if unknown:
            log.warning(
                "CMeKG: %d triples with %d predicates not in cmekg_predicates.tsv kept as %s: %s",
                sum(unknown.values()),
                len(unknown),
                FALLBACK_RELATION,
                ", ".join(p for p, _ in unknown.most_common(10)),
            )
        log.info("CMeKG: %d triples read", n)
        _finish_entities(builder, self.name, incoming_types)


def _finish_entities(builder: KGBuilder, source: str, incoming_types: dict[str, Counter[str]]) -> None:
    """Give every CMeKG entity its types, aliases, ICD-10 xrefs and a composed description."""
    rels = builder.relations.items
    values = builder.values.items
    by_head: dict[int, list[int]] = defaultdict(list)
    source_code = builder.source_ids.ids[source]
    for j in range(len(builder.f_head)):
        if builder.f_source[j] == source_code:
            by_head[builder.f_head[j]].append(j)
    for idx, row in enumerate(builder.entities):
        if row.source != source_code:
            continue
        name = row.name
        grouped: dict[str, list[str]] = defaultdict(list)
        for j in by_head.get(idx, ()):
            t = builder.f_tail[j]
            text = builder.entities[t].name if t >= 0 else values[builder.f_value[j]]
            grouped[rels[builder.f_rel[j]]].append(text)
        types = [t for t, rule in SUBJECT_TYPE_RULES if rule & grouped.keys()]
        if not types and name in incoming_types:
            types = [incoming_types[name].most_common(1)[0][0]]
        # several English names are sometimes joined in one value: "cholangitis；angiocholitis"
        names = grouped.get("alias", []) + grouped.get("english_name", [])
        aliases = [a.strip() for v in names for a in _SPLIT.split(v)]
        aliases = [a for a in aliases if a and a != name]
        xrefs = [f"ICD10:{v.strip()}" for v in grouped.get("icd10", []) if v.strip()]
        builder.add_entity(row.id, name, "zh", source, aliases=aliases, types=types or ["其他"], xrefs=xrefs)
        if grouped:
            builder.set_description(row.id, compose_description(name, types[0] if types else None, grouped))


def compose_description(name: str, node_type: str | None, grouped: dict[str, list[str]]) -> str:
    """A Chinese description of an entity written from its attributes.

    Example:
        >>> compose_description("糖尿病", "疾病", {"department": ["内分泌科", "内科"], "has_symptom": ["多尿"]})
        '糖尿病（疾病）。常见症状：多尿。就诊科室：内分泌科、内科。'
    """
    vocab = vocabulary()
    parts = [f"{name}（{node_type}）。" if node_type else f"{name}。"]
    order = [r for r in DESCRIPTION_ORDER if r in grouped] + sorted(r for r in grouped if r not in DESCRIPTION_ORDER)
    for rel in order:
        items = []
        for v in grouped[rel][:MAX_ITEMS_PER_RELATION]:
            v = " ".join(v.split())
            items.append(v if len(v) <= MAX_VALUE_CHARS else v[:MAX_VALUE_CHARS] + "…")
        label = vocab.get(rel).zh if rel in vocab else rel
        sentence = f"{label}：{'、'.join(items)}。"
        if sum(map(len, parts)) + len(sentence) > MAX_DESCRIPTION_CHARS:
            break
        parts.append(sentence)
    return "".join(parts)
