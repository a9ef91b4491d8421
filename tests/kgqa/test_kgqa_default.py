"""`make_kgqa` on the real default store: loads with `datasets`, split by entity and link
component, distractors never true, both languages, card equal to the files."""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.store import load_store
from kgrag.kgqa import make_kgqa
from kgrag.kgqa.dataset_formats import FORMATS
from kgrag.kgqa.entities import EntityNames, link_keys
from kgrag.kgqa.questions import QuestionGenerator, hash_split

SPLITS = ("train", "validation", "test", "test_phrasing")
_CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def kg(default_store: Path) -> KnowledgeGraph:
    return load_store(default_store)


@pytest.fixture(scope="module")
def dataset(default_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kgqa") / "default"
    make_kgqa(default_store, out, limit=30_000, seed=0)
    return out


def _rows(folder: Path, fmt: str = "chat") -> list[dict]:
    return [orjson.loads(line) for s in SPLITS for line in (folder / fmt / f"{s}.jsonl").read_bytes().splitlines()]


def _component(kg: KnowledgeGraph, row: int) -> set[int]:
    seen, todo = {row}, [row]
    while todo:
        for _, other in kg.links_of(todo.pop()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def test_every_format_loads_with_datasets(dataset: Path) -> None:
    datasets = pytest.importorskip("datasets")
    card = json.loads((dataset / "card.json").read_text())
    for fmt in FORMATS:
        files = {s: str(dataset / fmt / f"{s}.jsonl") for s in SPLITS}  # four splits: datasets names them
        ds = datasets.load_dataset("json", data_files=files, cache_dir=str(dataset.parent / "cache"))
        assert {s: len(ds[s]) for s in SPLITS} == {s: card["files"][f"{fmt}/{s}.jsonl"] for s in SPLITS}
        choice = ds["train"].filter(lambda r: r["type"] == "choice")
        assert len(choice) and all(len(o) in (4, 5) for o in choice["options"])


def test_no_test_head_or_its_link_component_is_in_train(dataset: Path, kg: KnowledgeGraph) -> None:
    rows = _rows(dataset)
    heads = {s: {r["head"] for r in rows if r["split"] == s} for s in SPLITS}
    assert heads["train"] and heads["test"] and heads["validation"]
    assert not heads["train"] & heads["test"] and not heads["train"] & heads["validation"]
    assert not heads["test"] & heads["validation"]
    assert heads["test_phrasing"] and heads["test_phrasing"] <= heads["test"]  # test entities, other phrasings
    linked = [h for h in heads["test"] | heads["validation"] if kg.links_of(kg.index_of(h))]
    assert linked, "the sample has linked heads outside train"
    for h in linked:
        component = {kg.entity_id(r) for r in _component(kg, kg.index_of(h))}
        assert not component & heads["train"], h


def test_split_key_is_the_evals(kg: KnowledgeGraph) -> None:
    keys, gen = link_keys(kg), QuestionGenerator(kg)
    for row in random.Random(0).sample(sorted(keys), 300):
        assert hash_split(keys[row]) == gen.split_of(row)


def test_distractors_are_never_true_answers(dataset: Path, kg: KnowledgeGraph) -> None:
    gen = QuestionGenerator(kg)
    english = kg.relation_code("english_name")
    choice = [r for r in _rows(dataset) if r["type"] == "choice"]
    assert len(choice) > 1000
    for r in choice:
        row = kg.index_of(r["head"])
        code = kg.relation_code(r["relation"])
        true_names: set[str] = set()
        for owner in (row, *gen.twins(row)):
            for j in kg.out_facts(owner):
                if kg.arrays["f_rel"][j] != code:
                    continue
                tail = int(kg.arrays["f_tail"][j])
                for t in (tail, *gen.twins(tail)):
                    true_names.add(kg.entity_name(t).casefold())
                    true_names.update(kg.fact_tail_text(int(k)).casefold() for k in kg.out_facts(t)
                                      if kg.arrays["f_rel"][k] == english)
        true_names = {" ".join(n.split()) for n in true_names}  # a no-break space in the KG is a space in an option
        right = " ".join(r["options"][r["answer_index"]].casefold().split())
        assert right in true_names or any(right in n for n in true_names), r["id"]
        for i, option in enumerate(r["options"]):
            if i != r["answer_index"]:
                assert option.casefold() not in true_names, (r["id"], option)
        assert f"{'ABCDE'[r['answer_index']]}" in r["conversation"][1]["content"]
        assert right.casefold() in r["conversation"][1]["content"].casefold()


def test_both_languages_sentences_and_no_duplicates(dataset: Path) -> None:
    rows = _rows(dataset)
    langs = Counter(r["lang"] for r in rows)
    assert langs["zh"] > 5000 and langs["en"] > 5000
    assert Counter(r["type"] for r in rows).keys() == {"description", "relation", "pair", "choice", "consult"}
    dialogues = Counter(tuple(t["content"] for t in r["conversation"]) for r in rows)
    assert dialogues.most_common(1)[0][1] == 1
    for r in rows:
        q, a = r["conversation"][0]["content"], r["conversation"][-1]["content"]
        assert a.endswith("。" if r["lang"] == "zh" else "."), a
        if r["family"] not in ("mixed", "traditional"):  # those name the entity otherwise
            assert r["head_name"] in q
        if r["lang"] == "zh":
            assert _CJK.search(q)
    en_cmekg = [r for r in rows if r["lang"] == "en" and r["head"].startswith("cmekg:")]
    assert en_cmekg, "CMeKG entities are asked about in English by their English names"


def test_card_counts_equal_the_files(dataset: Path) -> None:
    card = json.loads((dataset / "card.json").read_text())
    for fmt in FORMATS:
        rows = _rows(dataset, fmt)
        assert len(rows) == card["total"] == 30_000
        for dim in ("split", "type", "lang", "source", "relation", "template"):
            assert dict(Counter(r[dim] for r in rows)) == card["counts"][dim], (fmt, dim)
    assert set(card["kg"]["sources"]) >= {"cmekg", "hpo", "mondo", "icd10cm"}
    assert "MIT" in card["kg"]["sources"]["cmekg"]["licence"]


@pytest.mark.slow
def test_full_run_writes_over_200k_pairs_in_both_languages(default_store: Path, tmp_path: Path) -> None:
    t0 = time.perf_counter()
    card = make_kgqa(default_store, tmp_path / "full")
    elapsed = time.perf_counter() - t0
    assert card["total"] >= 200_000, card["total"]
    assert card["counts"]["lang"]["zh"] > 100_000 and card["counts"]["lang"]["en"] > 100_000
    print(f"full KG-QA run: {card['total']:,} records in {elapsed:.1f} s")
    rows = [orjson.loads(line) for line in (tmp_path / "full" / "chat" / "test.jsonl").read_bytes().splitlines()]
    cross = [r for r in rows if r["lang"] == "zh" and r["source"] != "cmekg"]
    assert cross, "Chinese questions answered with facts of linked English sources"


def test_run_together_english_names_are_not_used(kg: KnowledgeGraph) -> None:
    names = EntityNames(kg)
    assert names.glued("alimentarytracthemorrhage") and names.glued("paralyticileus")
    assert not names.glued("pseudohypoparathyroidism") and not names.glued("Metformin Hydrochloride Tablets")
    assert all(not names.glued(label) for r, label in enumerate(names.labels["en"][:50_000])
               if label and names.sources[r] == "cmekg")


def test_held_out_phrasing_families_never_reach_training(dataset: Path) -> None:
    from kgrag.kgqa.paraphrase import load_phrasings

    rows = {s: [orjson.loads(line) for line in (dataset / "chat" / f"{s}.jsonl").read_bytes().splitlines()]
            for s in SPLITS}
    held = set(load_phrasings().held_out())
    assert held and all(r["family"] not in held for s in ("train", "validation", "test") for r in rows[s])
    assert rows["test_phrasing"] and {r["family"] for r in rows["test_phrasing"]} <= held
    trained = {r["head"] for r in rows["train"]}
    assert not trained & {r["head"] for r in rows["test_phrasing"]}
    families = {r["family"] for r in rows["train"]}
    assert {"template", "patient", "followup"} <= families
    followup = next(r for r in rows["train"] if r["family"] == "followup")
    assert len(followup["conversation"]) == 4 and followup["head_name"] in followup["conversation"][0]["content"]
