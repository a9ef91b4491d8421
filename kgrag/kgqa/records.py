"""Reading QA and dialogue data back: the three formats ``make-kgqa`` writes, and users' own chats.

One reader serves ``kgrag finetune`` and ``kgrag eval qa``. Each line is a JSON object in one of:

- chat (DISC-Med-SFT): ``{"conversation": [{"role": "user"|"assistant"|"system", "content"}, ...]}``
- ShareGPT: ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...]}``
- Alpaca: ``{"instruction", "input"?, "output"}`` (a non-empty input follows the instruction)

KG-QA metadata (:data:`~kgrag.kgqa.dataset_formats.METADATA`) is kept when present and checked; a line
without it is a dialogue (fine-tuning only). A bad line raises :class:`DataError` naming the file,
the line and the field.

Example:
    >>> ex = read_examples("data/kgqa/default/chat/test.jsonl", limit=1)[0]
    >>> ex.question, ex.answer, ex.type, ex.options
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kgrag.errors import DataError
from kgrag.generation.types import Message
from kgrag.kgqa.templates import TYPES
from kgrag.lang import LANGS

_ROLES = {"user": "user", "assistant": "assistant", "system": "system",
          "human": "user", "gpt": "assistant", "bot": "assistant"}


@dataclass(frozen=True, slots=True)
class Example:
    """One conversation from a data file, with its KG-QA metadata when it has any.

    Attributes:
        id: the record's id (``FILE:LINE`` when the line has none).
        messages: the turns, an optional system turn first, then user/assistant alternating, ending
            with the assistant.
        type, relation, lang: what a KG-QA record asks (``""`` for a dialogue).
        head, head_name, source, split: where a KG-QA record comes from.
        options, answer_index: a choice question's options and the right one.
        facts: the KG fact rows a KG-QA answer states.
        family: a KG-QA question's phrasing family (``template`` when the line names none).
        path, line: where it was read.
    """

    id: str
    messages: tuple[Message, ...]
    type: str = ""
    relation: str = ""
    lang: str = ""
    head: str = ""
    head_name: str = ""
    source: str = ""
    split: str = ""
    options: tuple[str, ...] = ()
    answer_index: int = -1
    facts: tuple[int, ...] = ()
    family: str = ""
    path: str = ""
    line: int = 0

    @property
    def is_kgqa(self) -> bool:
        """True for a KG-QA record (it has a question type); False for a dialogue."""
        return bool(self.type)

    @property
    def question(self) -> str:
        """The last user turn (a KG-QA record has one)."""
        return next(m.content for m in reversed(self.messages) if m.role == "user")

    @property
    def answer(self) -> str:
        """The last assistant turn: the reference answer."""
        return self.messages[-1].content


def _fail(path: Path, line: int, message: str) -> DataError:
    return DataError(path, line, message)


def _turns(obj: dict[str, Any], path: Path, n: int) -> list[Message]:
    if "conversation" in obj or "conversations" in obj:
        key = "conversation" if "conversation" in obj else "conversations"
        role_key, text_key = ("role", "content") if key == "conversation" else ("from", "value")
        raw = obj[key]
        if not isinstance(raw, list) or not raw:
            raise _fail(path, n, f"field '{key}' must be a non-empty list of turns")
        turns = []
        for i, t in enumerate(raw):
            if not isinstance(t, dict):
                raise _fail(path, n, f"field '{key}[{i}]' must be an object with '{role_key}' and '{text_key}'")
            role, text = t.get(role_key), t.get(text_key)
            if role not in _ROLES:
                raise _fail(path, n, f"field '{key}[{i}].{role_key}' must be one of {sorted(_ROLES)}; got {role!r}")
            if not isinstance(text, str) or not text.strip():
                raise _fail(path, n, f"field '{key}[{i}].{text_key}' must be non-empty text")
            turns.append(Message(_ROLES[role], text))  # type: ignore[arg-type]
        return _check_order(turns, key, path, n)
    if "instruction" in obj:
        ins, inp, out = obj.get("instruction"), obj.get("input", ""), obj.get("output")
        for name, value in (("instruction", ins), ("output", out)):
            if not isinstance(value, str) or not value.strip():
                raise _fail(path, n, f"field '{name}' must be non-empty text")
        if not isinstance(inp, str):
            raise _fail(path, n, "field 'input' must be text")
        question = f"{ins}\n{inp}" if inp.strip() else ins
        history = obj.get("history", [])
        if not isinstance(history, list) or not all(
                isinstance(t, list) and len(t) == 2 and all(isinstance(x, str) and x.strip() for x in t)
                for t in history):
            raise _fail(path, n, "field 'history' must be a list of [question, answer] pairs of non-empty text")
        earlier = [m for q, a in history for m in (Message("user", q), Message("assistant", a))]
        return [*earlier, Message("user", question), Message("assistant", out)]  # type: ignore[arg-type]
    raise _fail(path, n, "no 'conversation', 'conversations' or 'instruction' field: not chat, ShareGPT or Alpaca")


def _check_order(turns: list[Message], key: str, path: Path, n: int) -> list[Message]:
    body = turns[1:] if turns[0].role == "system" else turns
    for i, t in enumerate(body):
        want = "user" if i % 2 == 0 else "assistant"
        if t.role != want:
            at = i + (len(turns) - len(body))
            raise _fail(
                path, n, f"field '{key}[{at}]': expected a {want} turn (turns alternate from the user); got {t.role}"
            )
    if not body or body[-1].role != "assistant":
        raise _fail(path, n, f"field '{key}': the conversation must end with an assistant turn")
    return turns


def _meta(obj: dict[str, Any], path: Path, n: int) -> dict[str, Any]:
    if "type" not in obj:
        return {}
    out: dict[str, Any] = {}
    for key in ("type", "relation", "lang", "head", "head_name", "source", "split", "family"):
        value = obj.get(key, "template" if key == "family" else "")
        if not isinstance(value, str):
            raise _fail(path, n, f"field '{key}' must be text; got {type(value).__name__}")
        out[key] = value
    if out["type"] not in TYPES:
        raise _fail(path, n, f"field 'type' must be one of {TYPES}; got {out['type']!r}")
    if out["lang"] not in LANGS:
        raise _fail(path, n, f"field 'lang' must be one of {LANGS}; got {out['lang']!r}")
    options, index, facts = obj.get("options", []), obj.get("answer_index", -1), obj.get("facts", [])
    if not isinstance(options, list) or not all(isinstance(o, str) and o for o in options):
        raise _fail(path, n, "field 'options' must be a list of non-empty texts")
    if not isinstance(facts, list) or not all(isinstance(f, int) and f >= 0 for f in facts):
        raise _fail(path, n, "field 'facts' must be a list of fact rows (non-negative integers)")
    if not isinstance(index, int) or (options and not 0 <= index < len(options)):
        raise _fail(path, n, f"field 'answer_index' must index 'options' (0..{len(options) - 1}); got {index!r}")
    if out["type"] == "choice" and len(options) < 2:
        raise _fail(path, n, "field 'options': a choice question needs at least two")
    out.update(options=tuple(options), answer_index=index if options else -1, facts=tuple(facts))
    return out


def iter_examples(path: str | Path) -> Iterator[Example]:
    """The examples of one JSONL file, in order (blank lines skipped).

    Raises:
        DataError: no such file, a line that is not a JSON object, or a bad field (file:line: field).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, None, "no such data file")
    with p.open("rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                raise _fail(p, n, f"not valid JSON ({err})") from None
            if not isinstance(obj, dict):
                raise _fail(p, n, f"expected a JSON object; got {type(obj).__name__}")
            messages = _turns(obj, p, n)
            rid = obj.get("id", f"{p.name}:{n}")
            if not isinstance(rid, str):
                raise _fail(p, n, "field 'id' must be text")
            yield Example(id=rid, messages=tuple(messages), path=str(p), line=n, **_meta(obj, p, n))


def read_examples(paths: str | Path | Sequence[str | Path], *, limit: int | None = None) -> list[Example]:
    """All examples of one or more files (the first ``limit`` of them in all, when given).

    Raises:
        DataError: as :func:`iter_examples`; also when the files hold no example.
    """
    files = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Example] = []
    for p in files:
        for ex in iter_examples(p):
            if limit is not None and len(out) >= limit:
                return out
            out.append(ex)
    if not out:
        raise DataError(", ".join(map(str, files)), None, "no examples in the data")
    return out
