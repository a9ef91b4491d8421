"""Whether the held-out set's phrasings have leaked into the files retrieval and training are tuned on.

The patient-phrased set (:mod:`kgrag.eval.patient_set`) measures wordings nothing was tuned on
only while no template, phrasing family or intent cue uses them. :func:`find_leaks` reports each
phrasing whose words appear in one of those files:

* a **passage** of the phrasing (the text between ``{X}`` and punctuation; six-character windows
  of a Chinese passage of six or more characters, a whole one of four or five; four-word windows
  of an English passage of four or more words, a whole one of three) found in a file's text
  (case-folded, whitespace collapsed);
* one of its **cues** (the words that ask for the relation, listed in the bank) found in a file,
  or matched by a cue pattern of the retriever's intents (``known_cue``).

Example:
    >>> find_leaks(load_phrasings(), guarded_texts(), known_cue=lambda c: bool(detect_intents(c)))
    []
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from kgrag.eval.patient_set import Phrasing

GUARDED = ("kgrag/kgqa/data/*.tsv", "kgrag/retrieval/data/*.tsv", "kgrag/kgqa/paraphrase.py")
"""Files, relative to the repository root, that must not hold the set's phrasings or cues."""
ZH_WINDOW, ZH_MIN = 6, 4
EN_WINDOW, EN_MIN = 4, 3
_BREAK = re.compile(r"\{X\}|[，。？！、；：,.?!;:…—()（）\"“”]|\s-\s")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def passages(phrasing: Phrasing) -> Iterator[str]:
    """The stretches of ``phrasing`` that must not appear in a guarded file (module docstring)."""
    for piece in _BREAK.split(phrasing.text):
        piece = _fold(piece)
        if phrasing.lang == "zh":
            chars = piece.replace(" ", "")
            if len(_CJK.findall(chars)) >= ZH_MIN:
                if len(chars) < ZH_WINDOW:
                    yield chars
                else:
                    yield from (chars[i:i + ZH_WINDOW] for i in range(len(chars) - ZH_WINDOW + 1))
        else:
            words = piece.split()
            if len(words) >= EN_WINDOW:
                yield from (" ".join(words[i:i + EN_WINDOW]) for i in range(len(words) - EN_WINDOW + 1))
            elif len(words) >= EN_MIN:
                yield " ".join(words)


def guarded_texts(root: str | Path) -> dict[str, str]:
    """The guarded files under ``root`` (:data:`GUARDED`), by path relative to it, as matching sees them."""
    root = Path(root)
    files = sorted({p for pattern in GUARDED for p in root.glob(pattern)})
    return {str(p.relative_to(root)): _fold(p.read_text(encoding="utf-8")) for p in files}


def find_leaks(
    phrasings: Iterable[Phrasing], texts: Mapping[str, str], *, known_cue: Callable[[str], bool] | None = None
) -> list[str]:
    """One message per leak: the phrasing's id, what leaked and where.

    Args:
        phrasings: the bank (:func:`~kgrag.eval.patient_set.load_phrasings`).
        texts: guarded file texts by name (:func:`guarded_texts`); Chinese is compared without spaces.
        known_cue: whether the retriever's intents already match a cue (None: not checked).
    """
    flat = {name: (text, text.replace(" ", "")) for name, text in texts.items()}
    out = []
    for p in phrasings:
        for passage in dict.fromkeys(passages(p)):
            for name, (text, bare) in flat.items():
                if passage in (bare if p.lang == "zh" else text):
                    out.append(f"{p.id}: the passage {passage!r} of {p.text!r} is in {name}")
        for cue in p.cues:
            key = _fold(cue)
            out += [f"{p.id}: the cue {cue!r} is in {name}" for name, (text, _) in flat.items() if key in text]
            if known_cue is not None and known_cue(cue):
                out.append(f"{p.id}: the cue {cue!r} is matched by an intent cue of the retriever")
    return out
