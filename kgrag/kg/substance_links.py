"""``same_drug_substance`` links: the ANSM thesaurus' French substances to the English drug
dictionary and to CMeKG's Chinese drugs.

* **ddi → drugs**: the English spellings of a French INN (:func:`kgrag.kg.inn.english_candidates`)
  are looked up among the drug dictionary's names and surface forms; the first spelling that
  names exactly one drug links, and the link says which rules made it (``exact``,
  ``-ine→-in`` …).
* **ddi → CMeKG**: CMeKG's ingredients carry no English name; their products do (阿司匹林片
  "Aspirin Tablets"). :func:`kgrag.kg.inn.cmekg_english_names` derives the ingredient's English
  name from them, and a French substance links to the ingredient whose English name is one of its
  spellings, or the name of the drug it linked to (acide acétylsalicylique → Aspirin → 阿司匹林).

RxNorm and Wikidata ids (xrefs of the substances) do not help here: neither the drug dictionary
nor CMeKG carries them.

Each link's ``key`` is its evidence, its ``qualifier`` ``method=…; confidence=…``; the confidence
is a prior per method, and kg/README.md reports the precision measured by hand per link kind.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable

from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import normalize_name
from kgrag.kg.inn import cmekg_english_names, english_candidates
from kgrag.lang import has_cjk

log = logging.getLogger(__name__)

RELATION = "same_drug_substance"
DDI, DRUGS, CMEKG = "ddi", "drugs", "cmekg"
#: Confidence priors: an unchanged name, one spelling rule, more rules, a name taken from products.
CONFIDENCE = {"exact": 0.97, "one rule": 0.95, "rules": 0.9, "cmekg product": 0.9, "via drugs": 0.85}
#: A spelling that names more CMeKG entities than this is not used (too generic to identify one).
MAX_CMEKG = 3

Link = Callable[[int, int, str, str, str], None]


def _confidence(rules: tuple[str, ...]) -> float:
    if rules == ("exact",):
        return CONFIDENCE["exact"]
    return CONFIDENCE["one rule"] if len(rules) == 1 else CONFIDENCE["rules"]


def add_substance_links(builder: KGBuilder, link: Link) -> Counter[str]:
    """Link the ``ddi`` substances of ``builder`` to ``drugs`` and ``cmekg`` entities; returns
    counts per ``target source/method``. ``link(a, b, relation, evidence, qualifier)`` adds one."""
    srcs = builder.source_ids.items
    types = builder.types.items
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(builder.entities):
        by_source[srcs[e.source]].append(i)
    substances = [i for i in by_source[DDI] if "French INN" in {types[t] for t in builder.entities[i].types}]
    counts: Counter[str] = Counter()
    if not substances:
        return counts
    drug_names: dict[str, set[int]] = defaultdict(set)
    for i in by_source[DRUGS]:
        e = builder.entities[i]
        for n in (e.name, *e.aliases):
            drug_names[normalize_name(n)].add(i)
    cmekg_names = cmekg_english(builder, by_source[CMEKG])

    for i in substances:
        french = builder.entities[i].id.removeprefix(DDI + ":")
        spellings = english_candidates(french)
        drug = None
        for spelling, rules in spellings:
            rows = drug_names.get(normalize_name(spelling), set())
            if len(rows) == 1:
                drug = next(iter(rows))
                method = "+".join(rules)
                link(i, drug, RELATION, f"INN {french!r} → {spelling!r} ({', '.join(rules)}) = drug name "
                     f"{builder.entities[drug].name!r}", f"method={method}; confidence={_confidence(rules):.2f}")
                counts[f"{DRUGS}/{method}"] += 1
                break
        keys: list[tuple[str, tuple[str, ...], str | None]] = [(normalize_name(s), r, None) for s, r in spellings]
        if drug is not None:
            keys.append((normalize_name(builder.entities[drug].name), ("via drugs",), builder.entities[drug].name))
        for key, rules, via in keys:
            named = cmekg_names.get(key, [])
            if not named or len(named) > MAX_CMEKG:
                continue
            for row, evidence in named:
                if via is None:
                    method = "+".join(rules) + "; cmekg product"
                    conf = min(_confidence(rules), CONFIDENCE["cmekg product"])
                    why = f"INN {french!r} → {key!r} ({', '.join(rules)}); {evidence}"
                else:
                    method, conf = "via drugs", CONFIDENCE["via drugs"]
                    why = f"INN {french!r} = drug {via!r}; {evidence}"
                link(i, row, RELATION, why, f"method={method}; confidence={conf:.2f}")
                counts[f"{CMEKG}/{method}"] += 1
            break
    log.info("same_drug_substance links: %s", dict(counts))
    return counts


def cmekg_english(builder: KGBuilder, rows: list[int]) -> dict[str, list[tuple[int, str]]]:
    """English name → CMeKG ``(row, evidence)``: ingredients named by their products.

    CMeKG's own English names (英文名称) are not used: on the hand-checked sample 7 of 18 such links
    were wrong (a combination named after one of its drugs, 氨酚曲马多胶囊 "Tramadol"; a premix; a test)."""
    if not rows:
        return {}
    ingredient = builder.relations.ids.get("ingredient")
    names = {builder.entities[i].name: i for i in rows}
    ingredients: dict[int, set[int]] = defaultdict(set)
    if ingredient is not None:
        for h, r, t in zip(builder.f_head, builder.f_rel, builder.f_tail, strict=True):
            if r == ingredient and t >= 0:
                ingredients[h].add(t)
    products = []
    for p, ings in ingredients.items():
        english = [a for a in builder.entities[p].aliases if not has_cjk(a)]
        if len(ings) == 1 and english:
            products.append((builder.entities[p].name, english, builder.entities[next(iter(ings))].name))
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key, found in cmekg_english_names(products, names).items():
        out[normalize_name(key)].extend(found)
    return dict(out)
