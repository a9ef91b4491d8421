"""``same_chinese_name`` links: herbiv's TCM herbs (``tcm``) to CMeKG entities of the same Chinese name.

herbiv's ``cn_name`` column is not always the herb's own name: 88 names are given to several rows,
whose pinyin shows that most of them are other plants (当归 is also the cn_name of "CHANGBIAN HUA
DANG GUI" and "QU XI DANG GUI", two other Angelica species; 大蓟 of "DA JI 1" … "DA JI(4)"). So a
herb links only when its pinyin is a reading of its Chinese name (pypinyin, every reading of a
polyphonic character allowed: 长 is chang or zhang) and it is the only row of that name that
passes; and only to a CMeKG drug, ingredient or taxon (not to a disease or symptom that a plant
name happens to spell).
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable

from kgrag.kg.builder import KGBuilder

log = logging.getLogger(__name__)

RELATION = "same_chinese_name"
TCM, CMEKG = "tcm", "cmekg"
CMEKG_TYPES = ("药物", "成分", "生物分类")
CONFIDENCE = 0.95
#: More readings than this (a long name of many polyphonic characters) are not enumerated.
MAX_READINGS = 256

Link = Callable[[int, int, str, str, str], None]


def readings(chinese: str) -> set[str]:
    """Every pinyin reading of ``chinese``, upper case without tones or spaces (当归 → {"DANGGUI"})."""
    from pypinyin import Style, pinyin

    options = pinyin(chinese, style=Style.NORMAL, heteronym=True, errors="ignore")
    count = 1
    for o in options:
        count *= len(o)
    if count > MAX_READINGS:
        options = [o[:1] for o in options]
    return {"".join(p).upper() for p in itertools.product(*options)}


def plain_pinyin(text: str) -> str:
    """``"DANG GUI"`` → ``"DANGGUI"``; digits and brackets stay, so "DA JI 1" never reads as 大蓟."""
    return re.sub(r"[\s'’-]+", "", text).upper().replace("Ü", "V")


def add_herb_links(builder: KGBuilder, link: Link) -> Counter[str]:
    """Link ``tcm`` herbs of ``builder`` to CMeKG entities of the same Chinese name; returns counts
    (``linked``, and the reasons herbs were not). ``link(a, b, relation, evidence, qualifier)`` adds one."""
    srcs, types = builder.source_ids.items, builder.types.items
    herbs: dict[str, list[int]] = defaultdict(list)
    cmekg: dict[str, int] = {}
    for i, e in enumerate(builder.entities):
        source = srcs[e.source]
        if source == TCM:
            herbs[e.name].append(i)
        elif source == CMEKG and {types[t] for t in e.types} & set(CMEKG_TYPES):
            cmekg[e.name] = i
    counts: Counter[str] = Counter()
    for name, rows in herbs.items():
        target = cmekg.get(name)
        if target is None:
            counts["no CMeKG entity of the name"] += len(rows)
            continue
        own = readings(name)
        agreeing = [r for r in rows if _pinyin_of(builder, r) in own]
        if len(agreeing) != 1:
            counts["pinyin agrees with none or several rows of the name"] += len(rows)
            continue
        herb = agreeing[0]
        pinyin = _pinyin_of(builder, herb)
        link(target, herb, RELATION, f"Chinese name {name} (herbiv pinyin {pinyin} is a reading of it)",
             f"method=chinese name + pinyin; confidence={CONFIDENCE:.2f}")
        counts["linked"] += 1
        counts["pinyin disagrees, beside a row of the name that links"] += len(rows) - 1
    log.info("same_chinese_name links: %s", dict(counts))
    return counts


def _pinyin_of(builder: KGBuilder, row: int) -> str:
    """The herb's pinyin: the first alias, as the tcm loader writes it."""
    aliases = builder.entities[row].aliases
    return plain_pinyin(aliases[0]) if aliases else ""
