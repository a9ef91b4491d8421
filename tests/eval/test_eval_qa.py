"""`kgrag eval qa`: gold items from the KG, the matching rule, option likelihoods batched exactly,
the question draw, the command end to end, and clear refusals of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import torch
from typer.testing import CliRunner

from kgrag.cli import app
from kgrag.errors import ConfigError, DataError, StoreError
from kgrag.eval import scoring
from kgrag.eval.gold import (
    SKIP_DESCRIPTION,
    SKIP_YES_NO,
    Gold,
    GoldExtractor,
    check_made_from,
    match_key,
    relation_terms,
    score_open,
)
from kgrag.eval.qa import evaluate_qa, select_questions
from kgrag.eval.scoring import score_options
from kgrag.generation.models import HFChatModel, load_chat_model
from kgrag.generation.types import Message
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.store import load_store, write_store
from kgrag.kgqa.dataset_formats import CONVERTERS, QARecord
from kgrag.kgqa.generator import KGQAGenerator
from kgrag.kgqa.records import Example, read_examples

runner = CliRunner()
TEST_MODEL = "smollm2-135m-instruct"  # tests/conftest.py's small_chat_model


def _write(path: Path, records: list[QARecord] | list[dict[str, Any]]) -> Path:
    rows = [r if isinstance(r, dict) else CONVERTERS["chat"](r) for r in records]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _line(type_: str, lang: str, n: int, relation: str = "is_a") -> dict[str, Any]:
    """A hand-made KG-QA chat line (facts left empty: these feed the question draw only)."""
    choice = type_ == "choice"
    return {
        "id": f"{lang}:{type_}:{relation}:{n}",
        "conversation": [{"role": "user", "content": f"question {n}?"}, {"role": "assistant", "content": "answer."}],
        "type": type_,
        "lang": lang,
        "relation": "definition" if type_ == "description" else relation,
        "options": ["yes", "no"] if choice else [],
        "answer_index": 0 if choice else -1,
        "facts": [],
    }


# -- the tiny KG: gold items and the matching rule ---------------------------------------------------


@pytest.fixture()
def tiny_records(tiny_kg: KnowledgeGraph, tmp_path: Path) -> list[Example]:
    return read_examples(_write(tmp_path / "qa.jsonl", KGQAGenerator(tiny_kg).generate()))


def _find(examples: list[Example], type_: str, relation: str, lang: str, head: str) -> Example:
    return next(e for e in examples if (e.type, e.relation, e.lang, e.head) == (type_, relation, lang, head))


def test_relation_gold_is_the_tails_the_reference_answer_names(tiny_kg: KnowledgeGraph, tiny_records) -> None:
    golds = GoldExtractor(tiny_kg)
    symptoms = _find(tiny_records, "relation", "has_symptom", "zh", "cmekg:糖尿病")
    assert golds.gold(symptoms) == Gold((("多尿",), ("多饮",)))
    dosage = _find(tiny_records, "relation", "dosage", "zh", "cmekg:阿司匹林")
    assert golds.gold(dosage).items == (("口服，一次0.3～0.6g，一日3次",),)  # a literal, cleaned as in the answer
    code = _find(tiny_records, "relation", "icd10", "en", "icd10cm:E11.9")
    assert not code.facts and golds.gold(code).items == (("E11.9",),)  # an ICD-10-CM entity answers with its id


def test_pair_gold_is_each_relation_between_the_two(tiny_kg: KnowledgeGraph, tiny_records) -> None:
    golds = GoldExtractor(tiny_kg)
    both = _find(tiny_records, "pair", "complication", "zh", "cmekg:糖尿病")
    assert both.answer == "高血压是糖尿病的并发症之一。高血压是糖尿病的相关疾病。"
    assert golds.gold(both).items == (("并发症", "可并发"), ("相关疾病",))
    assert relation_terms(tiny_kg, "is_a", "en") == ("broader category", "is a type of", "falls under")
    assert relation_terms(tiny_kg, "has_symptom", "en") == ("symptom", "often causes")  # "is a" alone never counts


def test_every_reference_answer_scores_correct_with_full_recall(tiny_kg: KnowledgeGraph, tiny_records) -> None:
    golds = GoldExtractor(tiny_kg)
    open_ = [e for e in tiny_records if e.type in ("relation", "pair") and e.relation != "contagious"]
    assert len(open_) >= 20
    for e in open_:
        score = score_open(e.answer, golds.gold(e))
        assert score.correct and score.recall == 1.0, (e.answer, golds.gold(e))


def test_a_prediction_naming_a_gold_item_is_correct_and_one_naming_none_is_wrong() -> None:
    gold = Gold((("多尿",), ("多饮",), ("Type 2 diabetes mellitus",)))
    right = score_open("糖尿病患者常有多饮，以及 TYPE-2 diabetes   mellitus。", gold)
    assert right.correct and right.found == (False, True, True) and right.recall == pytest.approx(2 / 3)
    wrong = score_open("糖尿病患者常有头痛和乏力。", gold)
    assert not wrong.correct and wrong.recall == 0.0 and wrong.found == (False, False, False)
    assert score_open("It is a type of disease.", Gold((("broader category", "is a type of"),))).correct
    assert match_key(" Type 2, Diabetes-Mellitus。") == "type2diabetesmellitus"
    with pytest.raises(ConfigError, match="no item to match"):
        score_open("anything", Gold(()))


def test_data_made_from_another_store_is_refused(tiny_builder: KGBuilder, tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_store(tiny_builder.build(), store)
    kg = load_store(store)
    folder = tmp_path / "qa"
    (folder / "chat").mkdir(parents=True)
    data = _write(folder / "chat" / "test.jsonl", KGQAGenerator(kg).generate())
    (folder / "card.json").write_text(json.dumps({"kg": {"checksum": kg.checksum}}))
    check_made_from(data, kg)
    (folder / "card.json").write_text(json.dumps({"kg": {"checksum": "0" * 64}}))
    with pytest.raises(ConfigError, match="kg: .* was made from the store with checksum 000000000000"):
        check_made_from(data, kg)
    far = _write(tmp_path / "far.jsonl", [{**_line("relation", "en", 1), "facts": [10**6]}])
    with pytest.raises(DataError, match=r"far.jsonl:1: field 'facts' \[1000000\] are not rows of this KG"):
        GoldExtractor(kg).gold(read_examples(far)[0])


# -- which questions ---------------------------------------------------------------------------------


@pytest.fixture()
def mixed(tmp_path: Path) -> list[Example]:
    lines = [
        _line(t, lang, n)
        for lang in ("zh", "en")
        for t, k in (("choice", 10), ("relation", 10), ("pair", 2))
        for n in range(k)
    ]
    lines += [_line("description", "en", 0), _line("relation", "zh", 99, relation="contagious")]
    return read_examples(_write(tmp_path / "mixed.jsonl", lines))


def test_limit_draws_per_language_evenly_across_types(mixed: list[Example]) -> None:
    picked, skipped = select_questions(mixed, limit=9, seed=0)
    counts = {
        (lang, t): sum(1 for e in picked if (e.lang, e.type) == (lang, t))
        for lang in ("zh", "en")
        for t in ("choice", "relation", "pair")
    }
    assert counts == {(lang, t): k for lang in ("zh", "en") for t, k in (("choice", 4), ("relation", 3), ("pair", 2))}
    assert skipped == {SKIP_DESCRIPTION: 1, SKIP_YES_NO: 1}
    assert [e.line for e in picked] == sorted(e.line for e in picked)  # file order
    assert select_questions(mixed, limit=9, seed=0)[0] == picked
    assert select_questions(mixed, limit=9, seed=1)[0] != picked


def test_filters_keep_only_what_they_name(mixed: list[Example]) -> None:
    picked, _ = select_questions(mixed, langs=["en"], types=["pair", "choice"])
    assert {(e.lang, e.type) for e in picked} == {("en", "pair"), ("en", "choice")} and len(picked) == 12
    assert select_questions(mixed, relations=["contagious", "is_a"], types=["relation"])[1] == {SKIP_YES_NO: 1}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"langs": ["zh", "fr"]}, "langs: unknown language 'fr'; choose from zh, en"),
        ({"types": ["description"]}, "types: description questions are not scored"),
        ({"types": ["choise"]}, "types: unknown question type 'choise'; choose from choice, relation, pair"),
        ({"relations": ["symptom"]}, "relations: unknown relation 'symptom'; choose from definition, has_symptom"),
        ({"relations": ["inheritance"]}, "relations: no question of the data is left by relations=inheritance"),
        ({"limit": 0}, "limit must be at least 1; got 0"),
    ],
)
def test_bad_filters_are_refused_naming_the_filter(mixed: list[Example], kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        select_questions(mixed, **kwargs)


def test_dialogue_data_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    chat = {"conversation": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    data = _write(tmp_path / "chat.jsonl", [_line("choice", "en", 0), chat])
    with pytest.raises(DataError, match=r"chat.jsonl:2: a dialogue line \(no 'type' field\), not a KG-QA record"):
        select_questions(read_examples(data))


# -- option likelihoods --------------------------------------------------------------------------------

QUESTIONS = [
    ("What is the capital of France?", ["Paris", "a blue whale swimming slowly", "42"]),
    ("糖尿病的常见症状有哪些？选一个。", ["多尿", "骨折", "The answer is C, thirst and frequent urination"]),
    ("Pick one.", ["yes", "no"]),
]


def _one_at_a_time(model: HFChatModel, prompt: list[int], option: str) -> float:
    cont = model.tokenizer.encode(option, add_special_tokens=False)
    with torch.inference_mode():
        logits = model.model(torch.tensor([prompt + cont])).logits[0].float()
    logprobs = torch.log_softmax(logits[len(prompt) - 1 : len(prompt) + len(cont) - 1], dim=-1)
    return float(logprobs.gather(-1, torch.tensor(cont)[:, None]).mean())


def _check_batched_equals_alone(model: HFChatModel) -> list[list[float]]:
    prompts = [model.encode([Message("user", q)]) for q, _ in QUESTIONS]
    assert len({len(p) for p in prompts}) == len(prompts)  # different lengths: the batch is padded
    batched = score_options(model, prompts, [o for _, o in QUESTIONS], batch_size=8)
    for prompt, (_, options), scores in zip(prompts, QUESTIONS, batched, strict=True):
        alone = [_one_at_a_time(model, prompt, o) for o in options]
        assert scores == pytest.approx(alone, abs=1e-4)
    one_by_one = score_options(model, prompts, [o for _, o in QUESTIONS], batch_size=1)
    assert sum(one_by_one, []) == pytest.approx(sum(batched, []), abs=1e-4)
    return batched


def test_batched_option_scores_equal_one_at_a_time(
    small_chat_model: HFChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores = _check_batched_equals_alone(small_chat_model)
    assert max(range(3), key=scores[0].__getitem__) == 0  # Paris
    monkeypatch.setattr(scoring, "_SCORE_TOKENS", 1)  # a batch too long for one pass is split, same scores
    prompts = [small_chat_model.encode([Message("user", q)]) for q, _ in QUESTIONS]
    split = score_options(small_chat_model, prompts, [o for _, o in QUESTIONS], batch_size=8)
    assert sum(split, []) == pytest.approx(sum(scores, []), abs=1e-4)


def test_choice_questions_are_scored_by_the_likeliest_option(small_chat_model: HFChatModel, tmp_path: Path) -> None:
    line = {**_line("choice", "en", 0), "options": ["Paris", "a blue whale", "42"], "answer_index": 0}
    line["conversation"][0]["content"] = "What is the capital of France?"
    report = evaluate_qa(small_chat_model, read_examples(_write(tmp_path / "c.jsonl", [line])))
    (outcome,) = report.outcomes
    assert outcome.correct and outcome.predicted == 0 and len(outcome.option_scores) == 3
    assert outcome.as_dict()["gold"] == 0 and report.figures()["by_type"]["choice"] == {
        "n": 1,
        "correct": 1,
        "accuracy": 1.0,
        "n_open": 0,
        "recall": None,
        "echoed_correct": 0,
        "accuracy_no_echo": 1.0,
        "echoed": 0,
        "n_in_prompt_known": 0,
        "in_prompt": None,
        # choice answers are letters scored by likelihood: nothing to check against facts
        "n_checked": 0,
        "composed": 0,
        "composed_reasons": {},
        "sentences_judged": 0,
        "supported": None,
        "supported_all": None,
    }
    assert "raw_scores" not in outcome.as_dict()  # the abandoned option-text scorer runs no more


def test_options_are_scored_by_their_letter(small_chat_model: HFChatModel, tmp_path: Path) -> None:
    """An option's score is the log-likelihood of "The answer is B" (one letter per option, so a
    long option copied from the prompt gains nothing)."""
    line = {**_line("choice", "en", 0), "options": ["Paris", "a blue whale", "42"], "answer_index": 0}
    line["conversation"][0]["content"] = "What is the capital of France?\nA. Paris\nB. a blue whale\nC. 42"
    (ex,) = read_examples(_write(tmp_path / "c.jsonl", [line]))
    prompt = small_chat_model.encode([Message("user", ex.question)])
    letters = scoring.choice_scores(small_chat_model, [ex], [prompt], batch_size=4)
    leads = ["The answer is A", "The answer is B", "The answer is C"]
    (means,) = score_options(small_chat_model, [prompt], [leads])
    sizes = [len(small_chat_model.tokenizer.encode(t, add_special_tokens=False)) for t in leads]
    assert letters[0] == pytest.approx([m * n for m, n in zip(means, sizes, strict=True)], abs=1e-4)


@pytest.mark.slow
def test_a_lora_adapter_is_scored_merged_into_the_weights(small_chat_model: HFChatModel, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    path = Path(small_chat_model.model.name_or_path)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(path), lora).save_pretrained(tmp_path / "adapter")
    tuned = load_chat_model(path, device="cpu", adapter=tmp_path / "adapter")
    assert not hasattr(tuned.model, "get_base_model") and tuned.adapter == str(tmp_path / "adapter")  # merged
    scores = _check_batched_equals_alone(tuned)
    assert sum(scores, []) != pytest.approx(sum(_check_batched_equals_alone(small_chat_model), []), abs=1e-3)


# -- the command ----------------------------------------------------------------------------------------


@pytest.fixture()
def tiny_store(tiny_builder: KGBuilder, tmp_path: Path) -> Path:
    write_store(tiny_builder.build(), tmp_path / "store")
    return tmp_path / "store"


@pytest.fixture()
def tiny_data(tiny_store: Path, tmp_path: Path) -> Path:
    return _write(tmp_path / "test.jsonl", KGQAGenerator(load_store(tiny_store)).generate())


@pytest.fixture()
def model_path(small_chat_model: HFChatModel) -> str:
    return str(small_chat_model.model.name_or_path)


def _qa(*args: str) -> Any:
    return runner.invoke(app, ["eval", "qa", *args], env={"COLUMNS": "200"})


@pytest.mark.parametrize("rag", [False, pytest.param(True, marks=pytest.mark.slow)])  # RAG prompts: ~1k tokens
def test_the_command_scores_a_slice_and_writes_figures_and_predictions(
    rag: bool, model_path: str, tiny_store: Path, tiny_data: Path, tmp_path: Path
) -> None:
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    mode = "--rag" if rag else "--no-rag"
    result = _qa(
        "--model",
        model_path,
        "--data",
        str(tiny_data),
        "--kg",
        str(tiny_store),
        mode,
        "--limit",
        "4",
        "--max-new-tokens",
        "8",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--predictions",
        str(preds),
    )
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())  # the tables' titles wrap
    assert ("with retrieval" if rag else "closed-book") in shown and "by relation" in shown
    assert "not scored" in shown and "description (free text: no items to match)" in shown
    payload = json.loads(out.read_text())
    settings, figures = payload["settings"], payload["figures"]
    assert settings["rag"] is rag and settings["limit"] == 4 and settings["n"] == figures["overall"]["n"] <= 8
    assert settings["seconds"] > 0 and settings["questions_per_s"] > 0 and settings["model"] == model_path
    assert set(figures["by_lang"]) <= {"zh", "en"} and sum(c["n"] for c in figures["by_type"].values()) == settings["n"]
    lines = [orjson.loads(x) for x in preds.read_bytes().splitlines()]
    assert len(lines) == settings["n"]
    for line in lines:
        assert {"id", "lang", "type", "relation", "question", "prompt_tokens", "gold", "correct"} <= set(line)
        if line["type"] == "choice":
            assert len(line["option_scores"]) >= 2 and line["gold"] >= 0
        else:  # an open answer, and whether it merely repeats the retrieved facts (never, closed-book)
            assert isinstance(line["prediction"], str) and line["gold"] and (rag or not line["echoed"])
        # with retrieval, whether the answer's own KG fact was among the prompt's facts (absent for
        # a record that names no fact row: an ICD-10-CM code is the entity's id, not a fact)
        assert rag or "in_prompt" not in line
        assert "in_prompt" not in line or isinstance(line["in_prompt"], bool)
    assert ("echoed ✓" in shown) is rag and ("fact in prompt" in shown) is rag
    # with retrieval, each open answer checked against its facts; composed ones counted apart
    assert ("supported" in shown and "composed" in shown) is rag
    open_lines = [line for line in lines if line["type"] != "choice"]
    assert all(("composed" in line) is rag for line in open_lines)
    checked = figures["overall"]["n_checked"]
    assert checked == (len(open_lines) if rag else 0) and figures["overall"]["composed"] <= checked
    assert rag or figures["overall"]["supported"] is None
    known = figures["overall"]["n_in_prompt_known"]
    assert known == sum("in_prompt" in line for line in lines) and (0 < known if rag else known == 0)
    assert (figures["overall"]["in_prompt"] is None) is (not rag)


def test_the_command_refuses_bad_input_before_loading_a_model(tiny_data: Path, tmp_path: Path) -> None:
    data = str(tiny_data)
    cases = [
        (["--data", data, "--index", "indexes/x"], ConfigError, "--index indexes/x is used only with --rag"),
        (["--data", data, "--langs", "de"], ConfigError, "langs: unknown language 'de'"),
        (["--data", data, "--types", "description"], ConfigError, "types: description questions are not scored"),
        (["--data", data, "--kg", str(tmp_path / "nowhere")], StoreError, "nowhere"),
        (["--data", str(tmp_path / "none.jsonl")], DataError, "none.jsonl: no such data file"),
    ]
    for args, error, message in cases:
        result = _qa("--model", "no-such-model", *args)
        assert isinstance(result.exception, error) and message in str(result.exception), (args, result.exception)


def test_an_error_is_one_clear_line_and_exit_code_2(tmp_path: Path) -> None:
    data = _write(tmp_path / "chat.jsonl", [{"instruction": "hi", "output": "hello"}])
    proc = subprocess.run(
        [sys.executable, "-m", "kgrag.cli", "eval", "qa", "--data", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{data}:1: a dialogue line (no 'type' field), not a KG-QA record" in " ".join(proc.stderr.split())


# -- the default store (slow) -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_records(default_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Example]]:
    records = KGQAGenerator(load_store(default_store), seed=0).generate(limit=1500)
    data = _write(tmp_path_factory.mktemp("qa") / "test.jsonl", records)
    return data, read_examples(data)


@pytest.mark.slow
def test_gold_on_real_records_is_what_their_answers_name(default_store: Path, default_records) -> None:
    kg = load_store(default_store)
    golds = GoldExtractor(kg)
    _, examples = default_records
    open_ = [e for e in examples if e.type in ("relation", "pair") and e.relation != "contagious"]
    assert len(open_) > 700
    for e in open_:
        gold = golds.gold(e)
        assert score_open(e.answer, gold).recall == 1.0, (e.id, e.answer, gold)
        if e.type == "relation" and e.facts:
            assert len(gold.items) == len({match_key(golds.tail_text(r, e.lang) or "") for r in e.facts})
        if e.type == "pair":
            assert len(gold.items) == len({kg.tables.relations[int(kg.arrays["f_rel"][r])] for r in e.facts})
    isa = next(e for e in open_ if (e.type, e.relation, e.lang) == ("pair", "is_a", "en"))
    assert golds.gold(isa).items == (("broader category", "is a type of", "falls under"),)
    phenotypes = next(e for e in open_ if (e.type, e.relation, e.lang) == ("relation", "has_phenotype", "en"))
    names = [kg.entity_name(int(kg.arrays["f_tail"][r])).casefold() for r in phenotypes.facts]
    assert [g[0].casefold() for g in golds.gold(phenotypes).items] == names


@pytest.mark.slow
def test_the_command_on_the_default_store_with_retrieval(default_records, model_path: str, tmp_path: Path) -> None:
    data, _ = default_records
    out = tmp_path / "r.json"
    result = _qa(
        "--model",
        model_path,
        "--data",
        str(data),
        "--rag",
        "--limit",
        "2",
        "--max-new-tokens",
        "8",
        "--device",
        "cpu",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    settings = json.loads(out.read_text())["settings"]
    assert settings["rag"] and settings["n"] == 4 and settings["top_k"] == 8
