"""The held-out patient-phrased set: its phrasings stay out of every template and cue file, it asks
only about test-split entities, it is the same for the same seed, and both evals read it."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kgrag.cli.eval import eval_app
from kgrag.errors import ConfigError, DataError
from kgrag.eval.gold import GoldExtractor, score_open
from kgrag.eval.patient_set import (
    STYLES,
    PatientSetMaker,
    Phrasing,
    load_phrasings,
    load_relations,
    parse_phrasings,
    parse_relations,
)
from kgrag.eval.phrasing_leaks import find_leaks, guarded_texts
from kgrag.eval.question_file import SKIP_NOT_RELATION, eval_questions
from kgrag.generation.types import Message
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.store import load_store
from kgrag.kgqa.dataset_formats import to_chat
from kgrag.kgqa.entities import EntityNames
from kgrag.kgqa.records import Example, read_examples
from kgrag.retrieval.intents import detect_intents, parse_intents

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


# -- the phrasing bank and the files it must stay out of ------------------------------------------------


def test_no_phrasing_or_cue_of_the_bank_is_in_a_template_or_cue_file() -> None:
    texts = guarded_texts(REPO)
    assert {"kgrag/kgqa/data/colloquial.tsv", "kgrag/retrieval/data/intents.tsv", "kgrag/kgqa/paraphrase.py"} <= set(
        texts
    )
    assert find_leaks(load_phrasings(), texts, known_cue=lambda cue: bool(detect_intents(cue))) == []


def test_a_phrasing_copied_into_a_cue_file_is_caught() -> None:
    p = next(p for p in load_phrasings() if p.id == "zh-dep-2")  # 孩子他爷爷{X}，…要排哪个门诊的号？
    assert p.cues == ("门诊",)
    copied = {"kgrag/kgqa/data/colloquial.tsv": "zh-x\tcaregiver\tdepartment\tzh\t明天带老人去医院，{x}挂哪科"}
    assert any("明天带老人去医" in m and "colloquial.tsv" in m for m in find_leaks([p], copied))
    cue_file = {"kgrag/retrieval/data/intents.tsv": "department\tzh\t门诊|科室"}
    assert find_leaks([p], cue_file) == ["zh-dep-2: the cue '门诊' is in kgrag/retrieval/data/intents.tsv"]


def test_a_cue_that_an_intent_pattern_matches_is_caught() -> None:
    p = Phrasing("en-t", "department", "en", "worried", "Where should the referral go for {X}?", ("referral",))
    specs = parse_intents("department\trel\tdepartment\t1.0\ndepartment\ten\trefer(ral|red)?\n")
    leaks = find_leaks([p], {}, known_cue=lambda cue: bool(detect_intents(cue, specs)))
    assert leaks == ["en-t: the cue 'referral' is matched by an intent cue of the retriever"]
    assert find_leaks([p], {}, known_cue=lambda cue: bool(detect_intents(cue))) == []  # today's cues lack it


def test_the_bank_is_varied_and_every_relation_has_phrasings() -> None:
    phrasings, relations = load_phrasings(), load_relations()
    for lang in ("zh", "en"):
        mine = [p for p in phrasings if p.lang == lang]
        assert len(mine) >= 50 and {p.style for p in mine} == set(STYLES)
        asked = {r.relation for r in relations if r.lang == lang}
        assert asked == {p.relation for p in mine} and len(asked) >= 10
    assert {"department", "has_symptom", "examination", "side_effect", "indication", "complication", "cause",
            "contagious", "english_name"} <= {r.relation for r in relations if r.lang == "zh"}
    assert {"has_phenotype", "inheritance", "is_a"} <= {r.relation for r in relations if r.lang == "en"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("x\tcause\tzh\tcarer\t为什么会这样？\t-", "text must hold {X} exactly once"),
        ("x\tcause\tzh\tangry\t{X}为啥？\t-", "style must be one of"),
        ("x\tcause\tzh\tcarer\t{X}为啥？\t根源", "cue '根源' is not in the text"),
        ("x\tcause\tfr\tcarer\t{X}?\t-", "lang must be one of"),
        ("x\tcause\tzh\tcarer\t{X}为啥？", "expected 6 tab-separated fields"),
    ],
)
def test_a_bad_phrasing_row_is_refused_naming_its_line(row: str, message: str) -> None:
    with pytest.raises(ConfigError, match="bank.tsv:2: ") as err:
        parse_phrasings("# header\n" + row + "\n", "bank.tsv")
    assert message in str(err.value)


def test_a_bad_relation_row_is_refused_naming_its_line() -> None:
    with pytest.raises(ConfigError, match=r"rels.tsv:1: unknown flag 'loud'"):
        parse_relations("cause\tzh\tcmekg\t-\tloud\t{X}的病因有{ITEMS}。\n", "rels.tsv")
    with pytest.raises(ConfigError, match=r"rels.tsv:1: the answer must hold \{X\} and \{ITEMS\}"):
        parse_relations("cause\tzh\tcmekg\t-\t-\t病因有{ITEMS}。\n", "rels.tsv")


def test_a_relation_without_phrasings_or_a_phrasing_without_its_relation_is_refused(tiny_kg: KnowledgeGraph) -> None:
    both = parse_relations("department\tzh\tcmekg\t-\t-\t{X}：{ITEMS}。\ndepartment\ten\tcmekg\t-\t-\t{X}: {ITEMS}.\n")
    zh_only = [p for p in load_phrasings() if p.lang == "zh" and p.relation == "department"]
    with pytest.raises(ConfigError, match="relation 'department' \\(en\\) has no phrasing"):
        PatientSetMaker(tiny_kg, zh_only, both)
    with pytest.raises(ConfigError, match="phrasing 'zh-sym-1' asks for 'has_symptom' in zh, which .* does not list"):
        PatientSetMaker(tiny_kg, [*zh_only, next(p for p in load_phrasings() if p.id == "zh-sym-1")], both[:1])


# -- the set, on the tiny KG (whose entities are all put in the test split by a split seed) ----------


def _test_seed(kg: KnowledgeGraph) -> int:
    """A split seed that puts the tiny KG's 糖尿病 in the test split (5% of seeds do)."""
    row = kg.index_of("cmekg:糖尿病")
    return next(s for s in range(500) if EntityNames(kg, s).split_of(row) == "test")


def test_questions_ask_about_test_entities_and_name_their_gold(tiny_kg: KnowledgeGraph) -> None:
    seed = _test_seed(tiny_kg)
    records = PatientSetMaker(tiny_kg, split_seed=seed).make(50, seed=0)
    names = EntityNames(tiny_kg, seed)
    assert records and all(names.split_of(tiny_kg.index_of(r.head)) == "test" for r in records)
    assert all(r.split == "test" and r.type == "relation" and r.family.startswith("heldout_") for r in records)
    bank = {p.id: p for p in load_phrasings()}
    for r in records:
        p = bank[r.template]
        assert (p.relation, p.lang) == (r.relation, r.lang) and r.question == p.text.replace("{X}", r.head_name)
        row = tiny_kg.index_of(r.head)
        assert r.facts and all(tiny_kg.fact_head(j) == row and tiny_kg.fact_relation(j) == r.relation
                               for j in r.facts)
    golds = GoldExtractor(tiny_kg, split_seed=seed)

    sym = next(r for r in records if (r.head, r.lang) == ("cmekg:糖尿病", "zh"))  # one question an entity
    ex = Example(sym.id, (Message("user", sym.question), Message("assistant", sym.answer)), type="relation",
                 relation=sym.relation, lang="zh", head=sym.head, facts=sym.facts)
    gold = golds.gold(ex)
    assert gold.items and score_open(sym.answer, gold).recall == 1.0


def test_the_same_seed_gives_the_same_set_and_the_train_split_is_never_asked(tiny_kg: KnowledgeGraph) -> None:
    seed = _test_seed(tiny_kg)
    a = PatientSetMaker(tiny_kg, split_seed=seed).make(50, seed=3)
    b = PatientSetMaker(tiny_kg, split_seed=seed).make(50, seed=3)
    assert a == b
    train_seed = next(s for s in range(500) if EntityNames(tiny_kg, s).split_of(tiny_kg.index_of("cmekg:糖尿病"))
                      == "train")
    assert all(r.head != "cmekg:糖尿病" for r in PatientSetMaker(tiny_kg, split_seed=train_seed).make(50))


def test_each_entity_is_asked_once_per_language(tiny_kg: KnowledgeGraph) -> None:
    records = PatientSetMaker(tiny_kg, split_seed=_test_seed(tiny_kg)).make(50)
    keys = [(r.lang, r.head) for r in records]
    assert len(keys) == len(set(keys))


# -- reading it back as retrieval questions -------------------------------------------------------------


def _write(tmp_path: Path, records: list) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "set.jsonl"
    path.write_bytes(b"".join(orjson.dumps(to_chat(r)) + b"\n" for r in records))
    return path


def test_records_become_retrieval_questions_with_their_facts_as_gold(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    records = PatientSetMaker(tiny_kg, split_seed=_test_seed(tiny_kg)).make(50)
    questions, skipped = eval_questions(read_examples(_write(tmp_path, records)), tiny_kg)
    assert skipped == {} and len(questions) == len(records)
    for q, r in zip(questions, records, strict=True):
        assert (q.text, q.relation, q.head, q.template, q.style) == (r.question, r.relation, r.head, r.template,
                                                                        r.family)
        assert q.gold == r.facts and set(q.gold) <= set(q.accepted)


def test_records_of_another_store_are_refused_naming_the_line(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    records = PatientSetMaker(tiny_kg, split_seed=_test_seed(tiny_kg)).make(50)
    path = _write(tmp_path, records)
    rows = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    other = next(j for j in range(tiny_kg.n_facts) if tiny_kg.fact_head(j) != tiny_kg.index_of(rows[1]["head"]))
    rows[1]["facts"] = [other]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    with pytest.raises(DataError, match=rf"set.jsonl:2: field 'facts': row {other} is not a"):
        eval_questions(read_examples(path), tiny_kg)


def test_other_record_types_are_counted_apart(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    from kgrag.kgqa.generator import KGQAGenerator

    records = KGQAGenerator(tiny_kg).generate()
    questions, skipped = eval_questions(read_examples(_write(tmp_path, records)), tiny_kg)
    assert skipped[SKIP_NOT_RELATION] == sum(r.type != "relation" for r in records) > 0
    assert len(questions) == sum(r.type == "relation" and bool(r.facts) for r in records)


# -- the default store (slow): the set as written, and both commands on it ---------------------------


@pytest.mark.slow
def test_the_default_set_has_300_questions_a_language_on_test_entities(default_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "patient.jsonl"
    result = runner.invoke(eval_app, ["make-patient-set", "--store", str(default_store), "--out", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    examples = read_examples(out)
    for lang in ("zh", "en"):
        mine = [e for e in examples if e.lang == lang]
        assert len(mine) >= 300 and len({e.head for e in mine}) == len(mine)
        assert len({e.relation for e in mine}) >= 10 and len({e.family for e in mine}) == len(STYLES)
    kg = load_store(default_store)
    names = EntityNames(kg)
    assert all(names.split_of(kg.index_of(e.head)) == "test" for e in examples)
    golds = GoldExtractor(kg)
    scored = [e for e in examples if e.relation != "contagious" and (g := golds.gold(e)).items
              and score_open(e.answer, g).recall == 1.0]
    assert len(scored) >= 0.8 * sum(e.relation != "contagious" for e in examples)
    results = tmp_path / "r.json"
    args = ["retrieval", "--store", str(default_store), "--questions", str(out), "--out", str(results)]
    result = runner.invoke(eval_app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "R@8 (prompt)" in result.output
    payload = json.loads(results.read_text(encoding="utf-8"))
    assert payload["config"]["questions"] == str(out) and payload["split"] == {"from_questions_file": {"test": 720}}
    assert payload["metrics"]["by_lang"]["zh"]["n"] == 360 and "recall@8" in payload["metrics"]["by_lang"]["en"]
    assert "en/en-phen-1" in payload["metrics"]["by_lang_template"]
