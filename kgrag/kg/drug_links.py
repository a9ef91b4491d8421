"""CMeKG drug products to the English drug dictionary's drugs, by their active ingredient.

CMeKG names a product in Chinese with an English name among its aliases ("盐酸二甲双胍片",
"Metformin Hydrochloride Tablets"); the drug dictionary (``drugs`` source) names the ingredient
("metformin"). The product's English name minus its salt and dosage-form words is the
ingredient's name: when it is exactly one drug's name or synonym, the product gets an
``ingredient`` fact to that drug, cited to ``kgrag:links`` with the English name as evidence. So
"What is metformin used for?" reaches the products' indications through the retriever's
ingredient expansion, with English names to show. Combinations ("Isoniazid and Rifampicin
Tablets") match no single drug and get no fact. Identity is left to ``same_english_name``: a name
with nothing stripped is not a product of the drug but the drug itself.

Written by hand (a word list and one dictionary lookup): no package strips pharmaceutical salt and
dosage-form words.
"""

from __future__ import annotations

import re
from collections import defaultdict

from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import normalize_name
from kgrag.lang import has_cjk

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


def add_product_ingredients(builder: KGBuilder, file: int) -> int:
    """Add ``ingredient`` facts from CMeKG products to the dictionary's drugs; returns how many."""
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
                if not stripped or len(rows) != MAX_DRUGS_PER_NAME or rows[0] in linked:
                    continue
                linked.add(rows[0])
                builder.add_fact(i, "ingredient", tail=rows[0], file=file, key=f"English name {part.strip()!r}")
                added += 1
    return added
