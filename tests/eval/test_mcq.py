"""`kgrag eval mcq`: every benchmark layout reads into one question shape, bad lines are named by
file, line and field, the rotated run moves the gold letter with its option, the report's letter
shares add up, and the command scores a real small model closed-book and with retrieval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from kgrag.cli.eval import eval_app
from kgrag.errors import ConfigError, DataError
from kgrag.eval.mcq import (
    MCQOutcome,
    MCQReport,
    evaluate_mcq,
    fit_question,
    grounded_prompt,
    letter_scores,
    render,
    retrieval_query,
    select,
)
from kgrag.eval.mcq_formats import SKIP_MULTI, MCQuestion, read_mcq, split_lettered
from kgrag.eval.scoring import score_options
from kgrag.generation.answer import Answerer
from kgrag.generation.models import HFChatModel
from kgrag.generation.types import GenerationConfig, Message
from kgrag.kg.builder import KGBuilder
from kgrag.kg.store import write_store
from kgrag.limits import MAX_QUESTION_CHARS
from kgrag.retrieval.retriever import KGRetriever

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mcq"
LAYOUTS = ("medqa", "medmcqa", "mmlu", "lettered", "cmexam")
runner = CliRunner()


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return path


# -- reading the layouts -----------------------------------------------------------------------------

FIRST = {
    "medqa": ("Diabetes insipidus", "Type 2 diabetes mellitus", "Hyperthyroidism", "Addison disease"),
    "medmcqa": ("Diabetes mellitus", "Hypothyroidism", "Gout", "Anemia"),
    "mmlu": ("Glucagon", "Insulin", "Cortisol", "Adrenaline"),
    "lettered": ("Polyuria", "Hair loss", "Nosebleed", "Tinnitus"),
    "cmexam": ("骨折", "皮疹", "多尿", "耳鸣", "咳嗽"),
}


@pytest.mark.parametrize(
    ("layout", "answer", "subject", "lang", "stem_end"),
    [
        ("medqa", 1, "step1", "en", "Which is the most likely diagnosis?"),
        ("medmcqa", 0, "Medicine", "en", "classic symptoms of:"),  # cop 1 in a file without 0: 1-based
        ("mmlu", 1, "clinical_knowledge", "en", "lowers blood glucose?"),
        ("lettered", 0, "", "en", "typical symptom of diabetes?"),
        ("cmexam", 2, "内科学", "zh", "最常见的症状是"),
    ],
)
def test_each_layout_reads_into_the_same_question_shape(
    layout: str, answer: int, subject: str, lang: str, stem_end: str
) -> None:
    data = read_mcq(FIXTURES / f"{layout}.jsonl")
    q = data.questions[0]
    assert isinstance(q, MCQuestion) and q.options == FIRST[layout] and q.answer == answer
    assert q.subject == subject and q.lang == lang and q.line == 1 and q.path.endswith(f"{layout}.jsonl")
    assert q.question.endswith(stem_end) and "\nA" not in q.question  # the stem alone, no option lines
    assert all(2 <= len(x.options) <= 10 and 0 <= x.answer < len(x.options) for x in data.questions)


def test_each_layouts_variants_name_the_same_answer() -> None:
    medqa = read_mcq(FIXTURES / "medqa.jsonl").questions
    assert medqa[1].options[medqa[1].answer] == "Metformin" and len(medqa[1].options) == 5  # "answer" as text
    assert medqa[0].id == "medqa.jsonl:1" and read_mcq(FIXTURES / "medmcqa.jsonl").questions[0].id == "mm-1"
    lettered = read_mcq(FIXTURES / "lettered.jsonl").questions
    assert [q.letter for q in lettered] == ["A", "C", "B", "A"]  # "A. Polyuria", "C", "(B) …" block, "A、多饮"
    assert lettered[2].options == ("立即手术", "改善生活方式", "停止饮水", "长期卧床") and lettered[2].lang == "zh"
    assert lettered[2].question == "高血压患者首先应该做什么？"  # options in their own field
    exam = read_mcq(FIXTURES / "cmexam.jsonl")
    assert [q.subject for q in exam.questions] == ["内科学", "药理学", "医师"]  # exam_subject, subject, exam_type
    assert exam.skipped == {SKIP_MULTI: 1} and [q.line for q in exam.questions] == [1, 2, 4]  # "AB" not scored


def test_lettered_blocks_in_every_marker_style() -> None:
    for marks in (["A. ", "B. ", "C. "], ["A) ", "B) ", "C) "], ["A、", "B、", "C、"], ["(A) ", "(B) ", "(C) "]):
        text = "A 40-year-old man.\nWhich one?\n" + "\n".join(f"{m}opt {i}" for i, m in enumerate(marks))
        assert split_lettered(text) == ("A 40-year-old man.\nWhich one?", ("opt 0", "opt 1", "opt 2"))
    assert split_lettered("Q?\nA. first\n   continued\nB. second") == ("Q?", ("first continued", "second"))
    assert split_lettered("No options here.") == ("No options here.", ())


def test_medmcqa_cop_counts_from_zero_when_any_line_has_zero(tmp_path: Path) -> None:
    line = {"question": "q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d"}
    zero = _write(tmp_path / "zero.jsonl", [{**line, "cop": 0}, {**line, "cop": 2}])
    assert [q.answer for q in read_mcq(zero).questions] == [0, 2]
    one = _write(tmp_path / "one.jsonl", [{**line, "cop": 4}, {**line, "cop": 2}])
    assert [q.answer for q in read_mcq(one).questions] == [3, 1]
    neither = _write(tmp_path / "neither.jsonl", [{**line, "cop": 2}, {**line, "cop": 3}])
    assert [q.answer for q in read_mcq(neither).questions] == [1, 2]  # no 0: the original release's 1..4
    assert [q.answer for q in read_mcq(neither, cop_base_=0).questions] == [2, 3]  # unless told
    with pytest.raises(DataError, match=r"one.jsonl:1: field 'cop': 4 is not one of the options \(0..3\)"):
        read_mcq(one, cop_base_=0)
    both = _write(tmp_path / "both.jsonl", [{**line, "cop": 0}, {**line, "cop": 4}])
    with pytest.raises(DataError, match=r"both.jsonl:2: field 'cop' counts from 1 here but from 0 on line 1"):
        read_mcq(both)


def _kgqa_line(n: int, type_: str, lang: str, options: list[str], answer: int) -> dict[str, Any]:
    """A KG-QA chat line as `kgrag make-kgqa` writes it (a choice question lists its options)."""
    stem = {"zh": "糖尿病的症状是什么？", "en": "Which is a symptom of diabetes?"}[lang]
    listed = "".join(f"\n{'ABCD'[i]}. {o}" for i, o in enumerate(options))
    return {
        "id": f"{lang}:{type_}:{n}",
        "conversation": [{"role": "user", "content": stem + listed}, {"role": "assistant", "content": "答案是B。"}],
        "type": type_, "lang": lang, "relation": "has_symptom", "options": options, "answer_index": answer,
        "facts": [],
    }


def test_kgqa_choice_records_are_read_with_their_relation_as_subject(tmp_path: Path) -> None:
    lines = [
        _kgqa_line(0, "choice", "zh", ["骨折", "多尿", "皮疹", "耳鸣"], 1),
        _kgqa_line(1, "relation", "zh", [], -1),
        _kgqa_line(2, "choice", "en", ["rash", "fracture", "tinnitus", "polyuria"], 3),
    ]
    parsed = read_mcq(_write(tmp_path / "test.jsonl", lines))
    assert parsed.layout == "kgqa" and parsed.skipped == {"relation (not a choice record)": 1}
    zh, en = parsed.questions
    path = str(tmp_path / "test.jsonl")
    options = ("骨折", "多尿", "皮疹", "耳鸣")
    assert zh == MCQuestion("zh:choice:0", "糖尿病的症状是什么？", options, 1, "has_symptom", "zh", path, 1)
    assert en.question == "Which is a symptom of diabetes?" and en.letter == "D" and en.line == 3
    with pytest.raises(DataError, match="no choice records in this KG-QA data"):
        read_mcq(_write(tmp_path / "open.jsonl", lines[1:2]))


MEDQA = {"question": "Which drug?", "options": {"A": "x", "B": "y", "C": "z", "D": "w"}, "answer_idx": "B"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b'{"question": "q?", "options": ', "invalid JSON"),
        (b"[1, 2]", "expected a JSON object; got list"),
        ({**MEDQA, "answer_idx": "E"}, "field 'answer_idx': 'E' is not one of the options A–D"),
        ({**MEDQA, "answer": "z"}, "field 'answer' 'z' is not option B, which 'answer_idx' names"),
        ({k: v for k, v in MEDQA.items() if k != "question"}, "missing field 'question'"),
        ({"question": "Which one?", "answer": "A"}, "no options"),
        ({**MEDQA, "options": {}}, "no options"),
        ({**MEDQA, "options": {"A": "x", "C": "z"}}, "option keys must be consecutive letters from A"),
        ({**MEDQA, "options": {"A": "x", "B": ""}}, "option B is empty"),
        ({**MEDQA, "options": {"A": "x"}}, "1 options; a question has 2 to 10"),
        ({"question": "q", "choices": [str(i) for i in range(11)], "answer": 0}, "11 options; a question has 2 to 10"),
        ({"question": "q", "choices": ["a", "b"], "answer": 2}, "field 'answer': 2 is not one of the options"),
        ({"question": "q\nA. x\nB. y", "answer": "B. z"}, "field 'answer': 'B. z' names option B, whose text is 'y'"),
        ({"question": "q\nA. x\nB. y", "answer": "maybe"}, "'maybe' is neither an option's letter (A–B)"),
        ({"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": -1}, "'cop' -1: the line has no"),
        ({"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d"}, "missing field 'cop'"),
        ({"question": "q", "opa": "a", "opb": "b", "opc": None, "opd": "d", "cop": 1}, "option C is empty"),
        ({"question": "q", "option": {"A": "a", "B": "b"}}, "missing field 'answer_idx' (or 'answer')"),
        ({**MEDQA, "question": "  "}, "field 'question' must be non-empty text"),
    ],
)
def test_a_bad_line_is_refused_naming_file_line_and_field(bad: Any, message: str, tmp_path: Path) -> None:
    data = _write(tmp_path / "bench.jsonl", [MEDQA, bad])
    with pytest.raises(DataError) as err:
        read_mcq(data)
    assert str(err.value).startswith(f"{data}:2: ") and message in str(err.value), str(err.value)
    assert err.value.line == 2 and err.value.path == str(data)


def test_a_missing_or_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="none.jsonl: no such data file"):
        read_mcq(tmp_path / "none.jsonl")
    with pytest.raises(DataError, match="no questions in the data"):
        read_mcq(_write(tmp_path / "empty.jsonl", [b""]))


# -- prompts, rotation and the report -----------------------------------------------------------------

Q = MCQuestion("q1", "Which drug lowers blood glucose?", ("aspirin", "metformin", "codeine", "heparin"), 1, "pharm")


def test_rotation_moves_the_gold_letter_with_its_option() -> None:
    r = Q.rotated()
    assert r.options == ("heparin", "aspirin", "metformin", "codeine") and r.answer == 2 and r.letter == "C"
    assert r.options[r.answer] == Q.options[Q.answer]
    last = MCQuestion("q2", "?", ("a", "b", "c"), 2)
    assert last.rotated().answer == 0 and last.rotated().options[0] == "c"  # the last option wraps to A
    assert Q.rotated(4) == Q and Q.rotated().rotated().rotated().rotated() == Q


def test_the_prompt_lists_the_options_by_letter_and_asks_for_one() -> None:
    assert render(Q) == (
        "Which drug lowers blood glucose?\nA. aspirin\nB. metformin\nC. codeine\nD. heparin\n"
        "Answer with the letter of the correct option (A, B, C, D)."
    )
    zh = MCQuestion("z", "糖尿病的典型症状是？", ("多饮", "脱发"), 0, lang="zh")
    assert render(zh).endswith("A. 多饮\nB. 脱发\n请回答正确选项的字母（A、B）。")


def test_the_retrieval_query_keeps_a_long_vignettes_last_sentences_and_every_option() -> None:
    assert retrieval_query(Q) == "Which drug lowers blood glucose?\naspirin\nmetformin\ncodeine\nheparin"
    history = " ".join(f"On day {i} the patient had a fever of 38.{i} C and felt tired." for i in range(40))
    long = MCQuestion("v", f"{history} Which drug lowers blood glucose?", Q.options, 1)
    query = retrieval_query(long, max_chars=200)
    assert len(query) <= 200 and query.endswith("blood glucose?\naspirin\nmetformin\ncodeine\nheparin")
    assert "On day 0 " not in query and "On day 39 the patient had a fever of 38.39 C" in query  # "38.3" not split
    assert len(retrieval_query(long)) <= 500


def test_a_question_past_the_service_limit_loses_its_start_never_its_options() -> None:
    long = MCQuestion("v", "Early history. " * (MAX_QUESTION_CHARS // 15 + 10) + "Which drug lowers blood glucose?",
                      Q.options, 1)
    text = fit_question(long)
    assert len(render(long)) > MAX_QUESTION_CHARS >= len(text) and text.startswith("…")
    assert text.endswith(render(Q)) and fit_question(Q) == render(Q)


def _outcome(i: int, gold: int, pred: int, rpred: int, subject: str = "s", lang: str = "en") -> MCQOutcome:
    return MCQOutcome(f"q{i}", subject, lang, gold, pred, (0.0,) * 4, 10, rpred, (0.0,) * 4)


def test_the_report_gives_accuracy_rotated_accuracy_and_letter_shares() -> None:
    outs = (
        _outcome(0, 0, 0, 0),  # right, then wrong: it answered A both times (gold moved to B)
        _outcome(1, 1, 1, 2, "t"),  # right both times: the same option
        _outcome(2, 2, 0, 0, lang="zh"),
        _outcome(3, 3, 0, 0, "t"),  # rotated gold is A: right by answering A again
    )
    fig = MCQReport(outs).figures()
    assert fig["n"] == 4 and fig["accuracy"] == 0.5 and fig["rotated_accuracy"] == 0.5
    assert fig["rotation_delta"] == 0.0 and fig["rotation_agreement"] == 0.25
    assert fig["letters"]["predicted"] == {"A": 0.75, "B": 0.25, "C": 0.0, "D": 0.0}
    assert fig["letters"]["gold"] == {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}
    assert fig["letters"]["rotated_predicted"] == {"A": 0.75, "B": 0.0, "C": 0.25, "D": 0.0}
    for shares in fig["letters"].values():
        assert sum(shares.values()) == pytest.approx(1.0)
    assert fig["max_letter"] == "A" and fig["max_letter_share"] == 0.75 and fig["chance"] == 0.25
    assert fig["by_subject"] == {
        "s": {"n": 2, "correct": 1, "accuracy": 0.5, "rotated_accuracy": 0.0},
        "t": {"n": 2, "correct": 1, "accuracy": 0.5, "rotated_accuracy": 1.0},
    }
    assert list(fig["by_lang"]) == ["zh", "en"] and fig["by_lang"]["zh"]["n"] == 1
    assert "mean_facts" not in fig  # closed-book
    json.dumps(fig)
    unrotated = MCQReport(tuple(MCQOutcome(o.id, o.subject, o.lang, o.answer, o.predicted, o.scores, 10)
                                for o in outs), rotated=False).figures()
    assert "rotated_accuracy" not in unrotated and "rotation_delta" not in unrotated


def test_the_limit_draws_with_the_seed_in_file_order() -> None:
    qs = [MCQuestion(str(i), "?", ("a", "b"), 0) for i in range(20)]
    picked = select(qs, 5, seed=0)
    assert len(picked) == 5 and [int(q.id) for q in picked] == sorted(int(q.id) for q in picked)
    assert select(qs, 5, seed=0) == picked and select(qs, 5, seed=1) != picked and select(qs, None) == qs
    with pytest.raises(ConfigError, match="limit must be at least 1; got 0"):
        select(qs, 0)


# -- the model -----------------------------------------------------------------------------------------


def _first_of_each_layout() -> list[MCQuestion]:
    return [read_mcq(FIXTURES / f"{layout}.jsonl").questions[0] for layout in LAYOUTS]


def test_closed_book_scores_are_each_letters_likelihood_after_the_prompt(small_chat_model: HFChatModel) -> None:
    questions = _first_of_each_layout()
    report = evaluate_mcq(small_chat_model, questions, batch_size=2)
    assert len(report.outcomes) == len(questions) == 5
    for i in (0, 4):  # an English and a Chinese question, checked against score_options directly
        q, o = questions[i], report.outcomes[i]
        prompt = small_chat_model.encode([Message("user", render(q))])
        leads = [("答案是" if q.lang == "zh" else "The answer is ") + c for c in "ABCDE"[: len(q.options)]]
        (means,) = score_options(small_chat_model, [prompt], [leads])
        sizes = [len(small_chat_model.tokenizer.encode(t, add_special_tokens=False)) for t in leads]
        assert o.scores == pytest.approx([m * n for m, n in zip(means, sizes, strict=True)], abs=1e-4)
        assert o.prompt_tokens == len(prompt) and o.predicted == max(range(len(o.scores)), key=o.scores.__getitem__)
        r = q.rotated()
        (rotated,) = letter_scores(small_chat_model, [r], [small_chat_model.encode([Message("user", render(r))])])
        assert o.rotated_scores == pytest.approx(rotated, abs=1e-4)
    assert [o.lang for o in report.outcomes] == ["en", "en", "en", "en", "zh"]
    fig = report.figures()
    assert fig["n"] == 5 and fig["accuracy"] == round(sum(o.correct for o in report.outcomes) / 5, 4)
    assert sum(fig["letters"]["predicted"].values()) == pytest.approx(1.0) and set(fig["by_lang"]) == {"zh", "en"}


@pytest.fixture()
def tiny_answerer(tiny_builder: KGBuilder, small_chat_model: HFChatModel, tmp_path: Path) -> Answerer:
    write_store(tiny_builder.build(), tmp_path / "store")
    return Answerer(KGRetriever.load(tmp_path / "store"), small_chat_model, top_k=2)


def test_the_grounded_prompt_is_the_services_own(tiny_answerer: Answerer) -> None:
    text = render(read_mcq(FIXTURES / "lettered.jsonl").questions[0])
    config = GenerationConfig(max_new_tokens=16, temperature=0.0)
    ours = grounded_prompt(tiny_answerer, text, tiny_answerer.retriever.retrieve(text, 2), config)
    assert ours.messages == tiny_answerer.prepare(text, config=config).messages and ours.citations


def test_with_retrieval_the_model_reads_kg_facts_and_the_whole_question(
    tiny_answerer: Answerer, small_chat_model: HFChatModel
) -> None:
    q = read_mcq(FIXTURES / "lettered.jsonl").questions[0]  # diabetes: the tiny KG knows its symptoms
    report = evaluate_mcq(small_chat_model, [q], answerer=tiny_answerer, rotate=False)
    (o,) = report.outcomes
    retrieval = tiny_answerer.retriever.retrieve(retrieval_query(q), 2)
    prompt = grounded_prompt(tiny_answerer, render(q), retrieval, GenerationConfig(max_new_tokens=16))
    assert o.facts == len(prompt.citations) == 2 and not o.shortened
    assert o.prompt_tokens == len(small_chat_model.encode(prompt.messages)) > 300  # system rules + facts
    assert render(q) in prompt.messages[-1].content and "<facts>" in prompt.messages[-1].content
    fig = report.figures()
    assert fig["mean_facts"] == 2.0 and fig["no_facts"] == 0.0 and fig["n_shortened"] == 0


# -- the command ----------------------------------------------------------------------------------------


@pytest.fixture()
def model_path(small_chat_model: HFChatModel) -> str:
    return str(small_chat_model.model.name_or_path)


def _mcq(*args: str) -> Any:
    return runner.invoke(eval_app, ["mcq", *args], env={"COLUMNS": "200"})


def test_the_command_prints_the_tables_and_writes_json_and_predictions(model_path: str, tmp_path: Path) -> None:
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    data = FIXTURES / "cmexam.jsonl"
    result = _mcq("--data", str(data), "--model", model_path, "--device", "cpu", "--out", str(out),
                  "--predictions", str(preds))
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert "closed-book" in shown and "by subject" in shown and "share of each letter" in shown
    assert f"not scored: 1 {SKIP_MULTI}" in shown and "rotated − original" in shown
    payload = json.loads(out.read_text(encoding="utf-8"))
    settings, fig = payload["settings"], payload["figures"]
    assert settings["rag"] is False and settings["layout"] == "exam" and settings["rotate"] is True
    assert settings["n"] == fig["n"] == 3 and payload["skipped"] == {SKIP_MULTI: 1}
    assert set(fig["by_subject"]) == {"内科学", "药理学", "医师"} and "rotated_accuracy" in fig
    lines = [orjson.loads(x) for x in preds.read_bytes().splitlines()]
    assert [x["gold"] for x in lines] == ["C", "B", "B"] and [x["rotated_gold"] for x in lines] == ["D", "C", "C"]
    assert all(x["predicted"] in "ABCDE" and len(x["scores"]) == len(x["rotated_scores"]) for x in lines)


def test_the_command_without_rotation_on_a_limited_draw(model_path: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = _mcq("--data", str(FIXTURES / "mmlu.jsonl"), "--model", model_path, "--device", "cpu",
                  "--no-rotate", "--limit", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["settings"]["n"] == 2 and "rotated_accuracy" not in payload["figures"]


def test_the_command_refuses_bad_input_before_loading_a_model(tmp_path: Path) -> None:
    data = str(FIXTURES / "medqa.jsonl")
    cases = [
        (["--data", data, "--index", "indexes/x"], ConfigError, "--index and --top-k are used only with --rag"),
        (["--data", data, "--cop-base", "2"], ConfigError, "cop_base must be auto, 0 or 1; got '2'"),
        (["--data", data, "--limit", "0"], ConfigError, "limit must be at least 1; got 0"),
        (["--data", data, "--batch-size", "0"], ConfigError, "batch_size must be at least 1"),
        (["--data", str(tmp_path / "none.jsonl")], DataError, "none.jsonl: no such data file"),
    ]
    for args, error, message in cases:
        result = _mcq("--model", "no-such-model", *args)
        assert isinstance(result.exception, error) and message in str(result.exception), (args, result.exception)


@pytest.mark.slow  # grounded prompts of ~600 tokens, twice per question, on the CPU
def test_the_command_with_retrieval_on_a_small_kg(
    tiny_builder: KGBuilder, model_path: str, tmp_path: Path
) -> None:
    write_store(tiny_builder.build(), tmp_path / "store")
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    result = _mcq("--data", str(FIXTURES / "lettered.jsonl"), "--model", model_path, "--device", "cpu", "--rag",
                  "--kg", str(tmp_path / "store"), "--top-k", "3", "--out", str(out), "--predictions", str(preds))
    assert result.exit_code == 0, result.output
    assert "with retrieval" in " ".join(result.output.split())
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["settings"]["rag"] and payload["settings"]["top_k"] == 3 and payload["figures"]["n"] == 4
    assert 0 < payload["figures"]["mean_facts"] <= 3
    lines = [orjson.loads(x) for x in preds.read_bytes().splitlines()]
    assert all("facts" in x and x["shortened"] is False for x in lines)
