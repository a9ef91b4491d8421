"""The KG-QA dataset card: counts read back from the written files, licences, templates.

``card.json`` is the machine-readable card; ``README.md`` renders it (with the Hugging Face
front matter that maps each format's files to its splits).

Example:
    >>> stats = count_files(Path("data/kgqa/default"), ["chat/train.jsonl", "chat/test.jsonl"])
    >>> stats["counts"]["lang"]
    {'zh': ..., 'en': ...}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from kgrag.errors import KGRAGError
from kgrag.kgqa.entities import SPLITS, TEST_FRACTION, VALIDATION_FRACTION
from kgrag.kgqa.paraphrase import load_phrasings
from kgrag.kgqa.templates import TYPES, TemplateBank

CARD_FORMAT = "kgrag-kgqa"
CARD_VERSION = 1
DIMENSIONS = ("split", "type", "lang", "source", "relation", "template", "family")


def count_files(folder: Path, files: Sequence[str]) -> dict[str, Any]:
    """Count the records of the written files by each of :data:`DIMENSIONS`.

    Every format holds the same records, so the counts are read from the first format's files;
    every other format's file must have as many lines as the first format's file of its split.

    Args:
        folder: the dataset folder.
        files: paths relative to ``folder``, ``FORMAT/SPLIT.jsonl``, first format first.

    Returns:
        ``{"total", "files": {path: lines}, "counts": {dimension: {value: n}},
        "by_split": {split: {"type" | "lang" | "source": {value: n}}}}``.

    Raises:
        KGRAGError: two formats disagree, or a record's split is not its file's.
    """
    reference = files[0].split("/")[0] if files else ""
    seen: Counter[tuple[str, ...]] = Counter()
    lines: dict[str, int] = {}
    for rel in files:
        fmt, split = rel.split("/")[0], Path(rel).stem
        n = 0
        with (folder / rel).open("rb") as f:
            if fmt != reference:
                n = sum(1 for _ in f)
            for line in f:
                row = orjson.loads(line)
                if row["split"] != split:
                    raise KGRAGError(f"{rel}: a record of split {row['split']!r} in the {split} file")
                seen[tuple(row[d] for d in DIMENSIONS)] += 1
                n += 1
        lines[rel] = n
        expected = lines.get(f"{reference}/{split}.jsonl")
        if fmt != reference and n != expected:
            raise KGRAGError(f"{rel} has {n} records but {reference}/{split}.jsonl has {expected}")
    counts: dict[str, Counter[str]] = {d: Counter() for d in DIMENSIONS}
    per_split = ("type", "lang", "source", "family")
    by_split: dict[str, dict[str, Counter[str]]] = {s: {d: Counter() for d in per_split} for s in SPLITS}
    for key, n in seen.items():
        values = dict(zip(DIMENSIONS, key, strict=True))
        for d, v in values.items():
            counts[d][v] += n
        for d in per_split:
            by_split[values["split"]][d][values[d]] += n
    return {
        "total": sum(seen.values()),
        "files": lines,
        "counts": {d: dict(c.most_common()) for d, c in counts.items()},
        "by_split": {s: {d: dict(c.most_common()) for d, c in ds.items()} for s, ds in by_split.items()},
    }


def build_card(stats: dict[str, Any], *, store: Path, manifest: dict[str, Any], options: dict[str, Any],
               created: str) -> dict[str, Any]:
    """The ``card.json`` content: the counts, the KG (path, checksum, sources with licences), the options."""
    sources = {name: {k: info.get(k) for k in ("package", "version", "licence")}
               for name, info in manifest.get("sources", {}).items()}
    return {
        "format": CARD_FORMAT,
        "format_version": CARD_VERSION,
        "created": created,
        "kg": {"path": str(store), "checksum": manifest.get("checksum"), "sources": sources},
        "options": options,
        "splits": {"by": "entity (link component)", "test": TEST_FRACTION, "validation": VALIDATION_FRACTION,
                   "test_phrasing": "test entities asked in phrasing families held out of training",
                   "held_out_families": load_phrasings().held_out()},
        **stats,
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [f"{c:,}" if isinstance(c, int) else str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def _front_matter(card: dict[str, Any]) -> list[str]:
    out = ["---", "language:", "- zh", "- en", "license: other", "task_categories:", "- question-answering",
           "- text-generation", "tags:", "- medical", "- knowledge-graph", "configs:"]
    formats = sorted({f.split("/")[0] for f in card["files"]})
    for fmt in formats:
        out += [f"- config_name: {fmt}", "  data_files:"]
        out += [f"  - split: {s}\n    path: {fmt}/{s}.jsonl" for s in SPLITS if f"{fmt}/{s}.jsonl" in card["files"]]
    return out + ["---", ""]


def render_readme(card: dict[str, Any], bank: TemplateBank) -> str:
    """The ``README.md`` of the dataset: what it is, its counts, licences and templates."""
    c, opts = card["counts"], card["options"]
    lines = _front_matter(card) + [
        "# KG-QA: medical question answering generated from the kgrag knowledge graph", "",
        f"{card['total']:,} question/answer pairs in Chinese and English, generated by `kgrag make-kgqa` on "
        f"{card['created']} from the KG store `{card['kg']['path']}` (checksum `{str(card['kg']['checksum'])[:16]}…`) "
        f"with seed {opts.get('seed')}.", "",
        "Record types: `description` (什么是X？ / What is X?), `relation` (one relation of one entity), `pair` "
        "(the relation between two entities), `choice` (four or five options, one true, its letter uniform; the "
        "distractors are entities of the same relation and type that the KG does not give for the head or its "
        "cross-source twins), `consult` (a patient names one symptom several diseases share; the reply names two of "
        "them and asks about the one finding that tells them apart, `kgrag/kgqa/data/consult.tsv`; train and "
        "validation only).", "",
        "Splits are by entity: a record's split is a seeded hash of the smallest id of its head's link component "
        f"(test {TEST_FRACTION:.0%}, validation {VALIDATION_FRACTION:.0%}, train the rest), so no head entity, and no "
        "entity linked to it across sources, is in two splits. Identical (question, answer) pairs appear once.", "",
        "Phrasing families (`kgrag/kgqa/data/families.tsv`): besides the template bank, questions are asked as "
        "patients, carers and search boxes ask them (`colloquial.tsv`), in traditional characters, with a typo, "
        "naming the entity in the other language, and as follow-up turns. The families "
        f"{', '.join(card['splits'].get('held_out_families', []))} are held out: no train or validation record uses "
        "them, and their questions about test entities form `test_phrasing` — new entities asked in ways training "
        "never saw, beside `test` (new entities, seen phrasings).", "",
        "Answers restate KG facts; they are not medical advice, and they carry the sources' errors and gaps.", "",
        "## Files", "",
        *_table(["file", "records"], [[f, n] for f, n in card["files"].items()]),
        "Every record has `id`, the conversation (`conversation` with `role`/`content` in `chat`, "
        "`instruction`/`input`/`output` in `alpaca`, `conversations` with `from`/`value` in `sharegpt`) and the "
        "metadata `type`, `relation`, `lang`, `source` (of the facts stated), `head` (entity id), `head_name`, "
        "`split`, `template` (question template id), `options` and `answer_index` (choice questions; else `[]` and "
        "-1), `facts` (KG fact rows the answer states) and `family` (the phrasing family).", "",
        "## Counts", "",
        *_table(["split", "records", *[f"{t}" for t in TYPES], "zh", "en"],
                [[s, sum(card["by_split"][s]["type"].values()),
                  *[card["by_split"][s]["type"].get(t, 0) for t in TYPES],
                  card["by_split"][s]["lang"].get("zh", 0), card["by_split"][s]["lang"].get("en", 0)]
                 for s in SPLITS]),
        *_table(["type", "records"], list(c["type"].items())),
        *_table(["family", "records"], list(c.get("family", {}).items())),
        *_table(["language", "records"], list(c["lang"].items())),
        *_table(["source", "records"], list(c["source"].items())),
        *_table(["relation", "records"], list(c["relation"].items())),
        "## Sources and licences", "",
        *_table(["source", "package", "version", "licence"],
                [[name, s.get("package"), s.get("version"), s.get("licence")]
                 for name, s in card["kg"]["sources"].items()]),
        "The dataset restates facts of these sources and inherits their terms: attribute CMeKG (MIT, via pycmekg), "
        "the Human Phenotype Ontology (HPO terms of use), Mondo (CC BY 4.0) and ICD-10-CM (public domain).", "",
        "## Templates used", "",
    ]
    used = c["template"]
    texts = {t.id: t for t in bank.questions}
    rows = [[tid, texts[tid].type, texts[tid].relation, texts[tid].lang, texts[tid].text, n]
            for tid, n in sorted(used.items()) if tid in texts]
    lines += _table(["template", "type", "relation", "lang", "question", "records"], rows)
    lines += ["Answer phrasings: `kgrag/kgqa/data/answers.tsv`; question phrasings: `kgrag/kgqa/data/questions.tsv` "
              "and `kgrag/kgqa/data/colloquial.tsv`; consultations: `kgrag/kgqa/data/consult.tsv`.",
              "", "## Options", "", "```json", json.dumps(opts, ensure_ascii=False, indent=1), "```", ""]
    return "\n".join(lines)


def write_card(folder: Path, card: dict[str, Any], bank: TemplateBank) -> None:
    """Write ``card.json`` and ``README.md`` into ``folder``."""
    (folder / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1), encoding="utf-8")
    (folder / "README.md").write_text(render_readme(card, bank), encoding="utf-8")
