"""``same_drug_substance`` links between the English drug dictionary (``drugs``) and CMeKG's
Chinese drug ingredients.

CMeKG's ingredients (华法林, 阿司匹林) carry no English name; their single-ingredient products do
(华法林钠片 "Warfarin Sodium Tablets"). :func:`kgrag.kg.substance_links.cmekg_english`
derives the ingredient's English name from them (the rules and their hand-checked precision are
in :mod:`kgrag.kg.inn` and kg/README.md); a dictionary drug whose name is that English name, for
at most :data:`~kgrag.kg.substance_links.MAX_CMEKG` ingredients, links to them. So "What is
warfarin used for?" reaches 华法林, and through the retriever's ingredient expansion its
products' indications, and an English prompt can call 华法林 "Warfarin".

Where no single-ingredient product names the ingredient (盐酸二甲双胍片 lists 二甲双胍, 盐酸 and
盐酸二甲双胍), :func:`add_product_ingredients` gives the products the dictionary drug as an
``ingredient``: a product's English name minus its salt and dosage-form words is the drug's name
("Metformin Hydrochloride Tablets" → metformin) when it names exactly one drug. Combinations
("Isoniazid and Rifampicin Tablets") match no single drug and get no fact. That word list is
written by hand: no package strips pharmaceutical salt and dosage-form words.
"""

from __future__ import annotations

import re
from collections import defaultdict

from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import normalize_name
from kgrag.kg.substance_links import CMEKG, CONFIDENCE, DRUGS, MAX_CMEKG, RELATION, Link, cmekg_english
from kgrag.lang import has_cjk


def add_drug_links(builder: KGBuilder, link: Link) -> set[int]:
    """Link ``drugs`` entities to the CMeKG ingredients named by their products; returns the drugs linked."""
    srcs = builder.source_ids.items
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(builder.entities):
        by_source[srcs[e.source]].append(i)
    if not by_source[DRUGS] or not by_source[CMEKG]:
        return set()
    named = cmekg_english(builder, by_source[CMEKG])
    linked: set[int] = set()
    for i in by_source[DRUGS]:
        drug = builder.entities[i]
        rows = named.get(normalize_name(drug.name), [])
        if not rows or len(rows) > MAX_CMEKG:
            continue
        for row, evidence in rows:
            link(i, row, RELATION, f"drug {drug.name!r}; {evidence}",
                 f"method=cmekg product; confidence={CONFIDENCE['cmekg product']:.2f}")
            linked.add(i)
    return linked


#: Salt, ester and dosage-form words of English product names (lower case), taken off to leave the ingredient.
FORM_WORDS = frozenset("""
    hydrochloride hydrochlorid hcl sodium potassium calcium magnesium sulfate sulphate phosphate acetate maleate
    mesylate mesilate besylate besilate tartrate citrate succinate fumarate bromide hydrobromide chloride nitrate
    lactate gluconate tosilate tosylate dihydrate monohydrate trihydrate hydrate disodium dipotassium
    tablet tablets capsule capsules injection injections infusion granule granules powder powders solution
    suspension syrup drops drop cream ointment gel spray patch patches suppository suppositories lotion tincture
    oral for eye ear nasal topical dispersible chewable effervescent enteric coated film sustained extended
    controlled release modified soft hard sterile lyophilized freeze dried concentrated concentrate pellets
    sr er xr xl cr dt ec
""".split())
_WORD = re.compile(r"[a-z0-9]+")
MAX_DRUGS_PER_NAME = 1
"""A stripped name must mean exactly one drug of the dictionary."""


def ingredient_key(english_name: str) -> tuple[str, bool]:
    """The ingredient's name in a product name, normalized, and whether any word was taken off.

    Example:
        >>> ingredient_key("Metformin Hydrochloride Tablets")
        ('metformin', True)
    """
    words = _WORD.findall(english_name.lower().replace("-", " "))
    kept = [w for w in words if w not in FORM_WORDS]
    return normalize_name(" ".join(kept)), len(kept) < len(words)


def add_product_ingredients(builder: KGBuilder, file: int, skip: set[int]) -> int:
    """Add ``ingredient`` facts from CMeKG products to the dictionary's drugs not in ``skip`` (those
    already linked to their CMeKG ingredient); returns how many."""
    srcs = builder.source_ids.items
    if "drugs" not in srcs or "cmekg" not in srcs:
        return 0
    drugs: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(builder.entities):
        if srcs[e.source] == "drugs":
            for name in dict.fromkeys([e.name, *e.aliases]):
                key = normalize_name(name)
                if len(key) >= 4 and i not in drugs[key]:
                    drugs[key].append(i)
    added = 0
    for i, e in enumerate(builder.entities):
        if srcs[e.source] != "cmekg" or not e.aliases:
            continue
        linked: set[int] = set()
        for alias in e.aliases:
            if has_cjk(alias) or not re.search(r"[A-Za-z]{4}", alias):
                continue
            for part in re.split(r"[（）()]", alias):
                key, stripped = ingredient_key(part)
                rows = drugs.get(key, [])
                if not stripped or len(rows) != MAX_DRUGS_PER_NAME or rows[0] in linked or rows[0] in skip:
                    continue
                linked.add(rows[0])
                builder.add_fact(i, "ingredient", tail=rows[0], file=file, key=f"English name {part.strip()!r}")
                added += 1
    return added
