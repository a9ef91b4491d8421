"""Reading multiple-choice benchmarks: the common JSONL layouts into one typed :class:`MCQuestion`.

Each line's layout is recognised by its fields:

1. MedQA: ``{"question", "options": {"A": …, "B": …}, "answer_idx": "B"}`` (or ``"answer"``: the
   right option's text or letter); ``meta_info`` as subject.
2. MedMCQA: ``{"question", "opa", "opb", "opc", "opd", "cop"}``; ``subject_name`` as subject. ``cop``
   is 1-based (1..4) in the original release and 0-based (0..3) in the Hugging Face one: the rule
   is one per file (:func:`cop_base`) unless given.
3. MMLU: ``{"question", "choices": [...], "answer": 0}`` (0-based, or a letter); ``subject``.
4. A lettered block: ``{"question": "…\\nA. x\\nB. y", "answer": "B. y"}`` (or ``"B"``), the block
   possibly in a separate ``"options"`` text; lines ``A. x``, ``A) x``, ``A、x``, ``(A) x``.
5. Chinese exams (CMExam, CMB, MLEC-QA): ``{"question", "option": {"A": …}, "answer": "C"}`` (or
   ``"options"``); ``exam_subject``, ``subject`` or ``exam_type`` as subject.

A file ``kgrag make-kgqa`` wrote (chat, ShareGPT or Alpaca lines) is read with
:func:`~kgrag.kgqa.records.read_examples` and its ``choice`` records kept (subject: the relation).

Questions have 2 to 10 options. A question with several right answers (CMExam's "AB") is counted
as skipped, not scored; any other bad line raises :class:`~kgrag.errors.DataError` naming the file,
the line and the field.

Example:
    >>> data = read_mcq("tests/fixtures/mcq/medqa.jsonl")
    >>> q = data.questions[0]
    >>> q.question, q.options, q.letter
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from kgrag.errors import DataError
from kgrag.lang import question_lang

LETTERS = "ABCDEFGHIJ"
MIN_OPTIONS, MAX_OPTIONS = 2, len(LETTERS)
SKIP_MULTI = "several right answers (only single-answer questions are scored)"
_SUBJECT_KEYS = ("subject", "subject_name", "exam_subject", "exam_type", "meta_info")
_MEDMCQA_KEYS = ("opa", "opb", "opc", "opd", "ope")
_Fail = Callable[[str], DataError]
_OPTION_LINE = re.compile(r"^\s*(?:[(（]([A-J])[)）]|([A-J])\s*[.．)）、:：])\s*(.*)$")
_ANSWER = re.compile(r"^\s*[(（]?([A-J])(?:[)）]|\s*[.．、:：]|\s|$)\s*(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class MCQuestion:
    """One multiple-choice question.

    Attributes:
        id: the line's ``id`` (``FILE:LINE`` when it has none).
        question: the question's text without its options.
        options: the options' texts, in order (A, B, ...).
        answer: the index of the right option.
        subject: the subject, exam or (KG-QA) relation; ``""`` when the line names none.
        lang: ``zh`` when the question or an option has Chinese characters, else ``en``.
        path, line: where it was read.
    """

    id: str
    question: str
    options: tuple[str, ...]
    answer: int
    subject: str = ""
    lang: str = "en"
    path: str = ""
    line: int = 0

    @property
    def letter(self) -> str:
        """The right option's letter."""
        return LETTERS[self.answer]

    def rotated(self, shift: int = 1) -> MCQuestion:
        """The question with its options cyclically shifted by ``shift`` (the last option becomes A
        for 1) and the answer following its option."""
        n = len(self.options)
        k = shift % n
        options = self.options[n - k :] + self.options[: n - k]
        return replace(self, options=options, answer=(self.answer + k) % n)


@dataclass(frozen=True)
class MCQData:
    """The questions of a file and how many lines were not scored, by reason."""

    questions: tuple[MCQuestion, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    layout: str = ""


class _Multi(Exception):
    """A line whose answer names several options (skipped, not an error)."""


def _text(obj: dict[str, Any], key: str, fail: _Fail) -> str:
    if key not in obj:
        raise fail(f"missing field '{key}'")
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise fail(f"field '{key}' must be non-empty text; got {value!r}")
    return value.strip()


def _subject(obj: dict[str, Any]) -> str:
    return next((v.strip() for k in _SUBJECT_KEYS if isinstance(v := obj.get(k), str) and v.strip()), "")


def _check_options(options: list[str], where: str, fail: _Fail) -> tuple[str, ...]:
    if not options:
        raise fail(f"no options ({where})")
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise fail(f"{where}: {len(options)} options; a question has {MIN_OPTIONS} to {MAX_OPTIONS}")
    for i, o in enumerate(options):
        if not o:
            raise fail(f"{where}: option {LETTERS[i]} is empty")
    return tuple(options)


def _span(n: int) -> str:
    return f"A–{LETTERS[n - 1]}"


def _option_dict(obj: dict[str, Any], key: str, fail: _Fail) -> tuple[str, ...]:
    raw = obj[key]
    if not isinstance(raw, dict) or not raw:
        raise fail(f"no options: field '{key}' must be an object of lettered options like {{\"A\": \"…\"}}")
    keys = sorted(str(k).strip().upper() for k in raw)
    if keys != list(LETTERS[: len(keys)]):
        raise fail(f"field '{key}': option keys must be consecutive letters from A; got {sorted(map(str, raw))}")
    by_letter = {str(k).strip().upper(): v for k, v in raw.items()}
    values = [by_letter[k] for k in keys]
    if not all(isinstance(v, (str, int, float)) for v in values):
        raise fail(f"field '{key}': every option must be text")
    return _check_options([str(v).strip() for v in values], f"field '{key}'", fail)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold().rstrip("。.") == " ".join(b.split()).casefold().rstrip("。.")


def _answer(value: object, options: tuple[str, ...], key: str, fail: _Fail, *, int_base: int | None = 0) -> int:
    """The index ``value`` names: a letter (alone or with its option's text), an option's text, or
    (when ``int_base`` is given) an integer counted from ``int_base``.

    Raises:
        _Multi: several letters ("AB"): a question with more than one right answer.
    """
    n = len(options)
    if isinstance(value, int) and not isinstance(value, bool):
        if int_base is None:
            raise fail(f"field '{key}': {value} is not a letter of the options {_span(n)}")
        if not int_base <= value < n + int_base:
            raise fail(f"field '{key}': {value} is not one of the options ({int_base}..{n - 1 + int_base})")
        return value - int_base
    if not isinstance(value, str) or not value.strip():
        raise fail(f"field '{key}' must name the right option; got {value!r}")
    text = value.strip()
    m = _ANSWER.match(text)
    if m and m.group(1) in LETTERS[:n]:
        i = LETTERS.index(m.group(1))
        if not m.group(2).strip() or _same(m.group(2), options[i]):
            return i
    if exact := [i for i, o in enumerate(options) if _same(o, text)]:
        return exact[0]
    if len(text) > 1 and len(set(text)) == len(text) and all(c in LETTERS[:n] for c in text):
        raise _Multi
    if m and m.group(1) not in LETTERS[:n]:
        raise fail(f"field '{key}': {m.group(1)!r} is not one of the options {_span(n)}")
    if m:
        letter = m.group(1)
        raise fail(f"field '{key}': {text!r} names option {letter}, whose text is {options[LETTERS.index(letter)]!r}")
    raise fail(f"field '{key}': {text!r} is neither an option's letter ({_span(n)}) nor an option's text")


def split_lettered(text: str) -> tuple[str, tuple[str, ...]]:
    """The text before a lettered block of options, and the options (``A. x`` / ``A) x`` / ``A、x`` /
    ``(A) x`` lines, from A, consecutive; a line that is no option continues the one before).

    Returns:
        ``(stem, options)``; ``options`` is empty when the text has no block starting at A.
    """
    lines = text.splitlines()
    start, options = -1, list[str]()
    for i, line in enumerate(lines):
        m = _OPTION_LINE.match(line)
        letter = (m.group(1) or m.group(2)) if m else None
        following = LETTERS[len(options)] if start >= 0 and len(options) < MAX_OPTIONS else None
        if m and letter == "A":
            start, options = i, [m.group(3).strip()]
        elif m and letter == following:
            options.append(m.group(3).strip())
        elif start >= 0 and line.strip():
            options[-1] = f"{options[-1]} {line.strip()}".strip()
    if start < 0:
        return text.strip(), ()
    return "\n".join(lines[:start]).strip(), tuple(options)


def _lettered(obj: dict[str, Any], fail: _Fail) -> tuple[str, tuple[str, ...]]:
    question = _text(obj, "question", fail)
    block = obj.get("options")
    if isinstance(block, str):
        stem, found = question, split_lettered(block)[1]
        where = "field 'options'"
    else:
        stem, found = split_lettered(question)
        where = "field 'question' (no lettered lines like 'A. …')"
    return stem, _check_options(list(found), where, fail)


def _layout(obj: dict[str, Any]) -> str:
    if "opa" in obj:
        return "medmcqa"
    if "choices" in obj:
        return "mmlu"
    if isinstance(obj.get("option"), dict):
        return "exam"
    if isinstance(obj.get("options"), dict):
        return "medqa" if "answer_idx" in obj or "meta_info" in obj else "exam"
    if isinstance(obj.get("options"), list):
        return "mmlu"
    return "lettered"


def _question(obj: dict[str, Any], layout: str, base: int, fail: _Fail) -> tuple[str, tuple[str, ...], int]:
    """The stem, options and answer index of one line in ``layout``."""
    if layout == "medmcqa":
        present = [k for k in _MEDMCQA_KEYS if k in obj]
        if present != list(_MEDMCQA_KEYS[: len(present)]):
            raise fail(f"MedMCQA options must be opa, opb, … in order; got {present}")
        texts = ["" if obj[k] is None else str(obj[k]).strip() for k in present]
        options = _check_options(texts, "fields 'opa'…", fail)
        if "cop" not in obj:
            raise fail("missing field 'cop'")
        cop = obj["cop"]
        if isinstance(cop, int) and cop < 0:
            raise fail(f"field 'cop' {cop}: the line has no answer (MedMCQA's test split gives none)")
        return _text(obj, "question", fail), options, _answer(cop, options, "cop", fail, int_base=base)
    if layout == "mmlu":
        key = "choices" if "choices" in obj else "options"
        raw = obj[key]
        if not isinstance(raw, list) or not all(isinstance(c, (str, int, float)) for c in raw):
            raise fail(f"field '{key}' must be a list of option texts")
        options = _check_options([str(c).strip() for c in raw], f"field '{key}'", fail)
        if "answer" not in obj:
            raise fail("missing field 'answer'")
        return _text(obj, "question", fail), options, _answer(obj["answer"], options, "answer", fail)
    if layout in ("medqa", "exam"):
        key = "option" if isinstance(obj.get("option"), dict) else "options"
        options = _option_dict(obj, key, fail)
        akey = "answer_idx" if "answer_idx" in obj else "answer"
        if akey not in obj:
            raise fail("missing field 'answer_idx' (or 'answer')")
        answer = _answer(obj[akey], options, akey, fail, int_base=None)
        if akey == "answer_idx" and isinstance(text := obj.get("answer"), str) and text.strip():
            if _answer(text, options, "answer", fail, int_base=None) != answer:  # MedQA gives both: they must agree
                raise fail(f"field 'answer' {text.strip()!r} is not option {LETTERS[answer]}, which 'answer_idx' names")
        return _text(obj, "question", fail), options, answer
    stem, options = _lettered(obj, fail)
    if "answer" not in obj:
        raise fail("missing field 'answer'")
    return stem, options, _answer(obj["answer"], options, "answer", fail)


def cop_base(path: Path, objs: list[tuple[int, dict[str, Any]]]) -> int:
    """Whether MedMCQA's ``cop`` counts from 0 or 1 in this file: 0 when any line has ``cop`` 0,
    else 1 (the original release's 1..4; a file with neither 0 nor 4 is read as 1-based).

    Raises:
        DataError: a file with both 0 and a value one past its last option (no single base fits).
    """
    cops = [(n, o.get("cop"), sum(k in o for k in _MEDMCQA_KEYS)) for n, o in objs if "opa" in o]
    zeros = [n for n, c, _ in cops if c == 0]
    tops = [n for n, c, k in cops if isinstance(c, int) and c == k]
    if zeros and tops:
        raise DataError(
            path, tops[0], f"field 'cop' counts from 1 here but from 0 on line {zeros[0]}: pass --cop-base 0 or 1"
        )
    return 0 if zeros else 1


def _kgqa(path: Path) -> MCQData:
    from kgrag.kgqa.records import read_examples

    out, skipped = [], Counter[str]()
    for e in read_examples(path):
        if e.type != "choice":
            skipped[f"{e.type or 'dialogue'} (not a choice record)"] += 1
            continue
        stem, listed = split_lettered(e.question)
        if len(listed) != len(e.options) or not all(_same(a, b) for a, b in zip(listed, e.options, strict=True)):
            stem = e.question.strip()
        out.append(MCQuestion(e.id, stem, e.options, e.answer_index, e.relation, e.lang, e.path, e.line))
    if not out:
        raise DataError(path, None, "no choice records in this KG-QA data (`kgrag make-kgqa` writes them)")
    return MCQData(tuple(out), dict(skipped), "kgqa")


def _is_kgqa(obj: dict[str, Any]) -> bool:
    return any(k in obj for k in ("conversation", "conversations", "instruction"))


def read_mcq(path: str | Path, *, cop_base_: int | None = None) -> MCQData:
    """All questions of one JSONL benchmark file, in file order (blank lines skipped).

    Args:
        path: the file.
        cop_base_: 0 or 1: what MedMCQA's ``cop`` counts from; None: decided over the file
            (:func:`cop_base`).

    Raises:
        DataError: no such file, a line that is not a JSON object, a missing or bad field, or no
            question in the file.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, None, "no such data file")
    if cop_base_ not in (None, 0, 1):
        raise DataError(p, None, f"cop base must be 0 or 1; got {cop_base_!r}")
    objs: list[tuple[int, dict[str, Any]]] = []
    with p.open("rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                raise DataError(p, n, f"invalid JSON ({err})") from None
            if not isinstance(obj, dict):
                raise DataError(p, n, f"expected a JSON object; got {type(obj).__name__}")
            if not objs and _is_kgqa(obj):
                return _kgqa(p)
            objs.append((n, obj))
    if not objs:
        raise DataError(p, None, "no questions in the data")
    base = cop_base(p, objs) if cop_base_ is None else cop_base_
    out: list[MCQuestion] = []
    skipped: Counter[str] = Counter()
    layouts: Counter[str] = Counter()
    for n, obj in objs:

        def fail(message: str, n: int = n) -> DataError:
            return DataError(p, n, message)

        layout = _layout(obj)
        try:
            stem, options, answer = _question(obj, layout, base, fail)
        except _Multi:
            skipped[SKIP_MULTI] += 1
            continue
        rid = obj.get("id", f"{p.name}:{n}")
        if not isinstance(rid, (str, int)) or isinstance(rid, bool):
            raise fail(f"field 'id' must be text or an integer; got {rid!r}")
        lang = question_lang(stem + "".join(options))
        out.append(MCQuestion(str(rid), stem, options, answer, _subject(obj), lang, str(p), n))
        layouts[layout] += 1
    if not out:
        raise DataError(p, None, f"no single-answer question in the data ({dict(skipped)})")
    return MCQData(tuple(out), dict(skipped), "+".join(k for k, _ in layouts.most_common()))
