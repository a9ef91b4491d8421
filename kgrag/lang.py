"""The two languages kgrag answers in, and the one rule for telling them apart.

Every module that checks a language, names the languages or decides a question's language reads
them here, so adding a language (or changing how Chinese is detected) is one change.
"""

from __future__ import annotations

import re

from kgrag.errors import ConfigError

LANGS = ("zh", "en")
"""Language codes, in the order the store's ``ent_lang`` column numbers them (0 = zh, 1 = en)."""

CJK = re.compile(r"[\u3400-\u9fff]")
"""A CJK unified ideograph (extension A and the basic block): what makes a text Chinese here."""


def has_cjk(text: str) -> bool:
    """Whether ``text`` has a Chinese character."""
    return bool(CJK.search(text))


_PINYIN = re.compile(
    r"(?:(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ei|ao|ou|an|en|in|un|ia|ie|iu|ua|uo|ui|ue|er|[aoeiuv]))+"
)


def is_pinyin(name: str) -> bool:
    """Whether a name of two or more words is all pinyin syllables ("Yening Keli")."""
    words = re.findall(r"[a-z']+", name.lower())
    return len(words) >= 2 and all(_PINYIN.fullmatch(w.replace("'", "")) for w in words)


def question_lang(text: str) -> str:
    """``zh`` when the question contains Chinese characters, else ``en``."""
    return "zh" if CJK.search(text) else "en"


def check_lang(lang: str) -> str:
    """``lang`` itself when it is one of :data:`LANGS`.

    Raises:
        ConfigError: any other value (the message names it and the valid ones).
    """
    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {LANGS}; got {lang!r}")
    return lang
