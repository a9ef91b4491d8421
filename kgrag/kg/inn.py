"""French INN names to English ones: the spelling rules, and English names of CMeKG ingredients.

International Nonproprietary Names differ between French and English by a few regular endings
and spellings (WHO's INN lists give both). :func:`english_candidates` applies them to a French
name folded by :func:`kgrag.kg.loaders.ddi.fold` (no accents, lower case) and returns each
candidate with the rules that made it, fewest rules first, so a link can say how it was made:

* ``exact``: the French name is the English one (amiodarone, abatacept);
* word endings ``-ine→-in`` (azithromycine → azithromycin, warfarine → warfarin; English keeps
  -ine in bases such as morphine: ``exact`` is tried first), ``-ene→-en`` (ketoprofene),
  ``-ane→-an`` (dextromethorphane), ``-ile→-il`` (fluorouracile), ``-ide→-id`` (isoniazide), and
  other final ``-e`` dropped (``-ide``/``-ole``/``-one`` keep it, as in English: ``exact``);
* ``X sodique → X sodium`` (dalteparine sodique), and calcique, potassique, magnésique;
* ``acide X-ique → X-ic acid``: acide valproïque → valproic acid;
* ``X de Y → Y X`` for salts with the anion translated: chlorure de potassium → potassium chloride;
* ``oe→e`` (oestradiol → estradiol), ``i→y`` (ciclosporine → cyclosporin), ``f→ph`` / ``ph→f``
  (cefalexine → cephalexin), ``k→c``, ``th→t``: the US and older spellings English sources use.

:func:`cmekg_english_names` derives English names of CMeKG ingredients from its products:
a product with one ingredient and an English name (阿司匹林片 "Aspirin Tablets", ingredient
阿司匹林) names the ingredient "aspirin" once its dosage-form words are taken off; salts pair
up (华法林钠 "warfarin sodium" → 华法林 "warfarin").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

#: French anion → English, for "X de Y" salts.
ANIONS = {
    "chlorure": "chloride", "sulfate": "sulfate", "carbonate": "carbonate", "citrate": "citrate",
    "hydroxyde": "hydroxide", "oxyde": "oxide", "phosphate": "phosphate", "gluconate": "gluconate",
    "acetate": "acetate", "bicarbonate": "bicarbonate", "lactate": "lactate", "iodure": "iodide",
    "bromure": "bromide", "fluorure": "fluoride", "nitrate": "nitrate", "silicate": "silicate",
    "trisilicate": "trisilicate", "sulfure": "sulfide", "tartrate": "tartrate", "fumarate": "fumarate",
    "nitroprussiate": "nitroprusside",
}
#: French names that are another thing's name in English: the thesaurus' "ricin" is castor (a
#: laxative, in the class "hypokaliémiants"), not the toxin ricin.
FALSE_FRIENDS = {"ricin": "castor oil"}
#: Spelling substitutions tried after the endings, one at a time and then together.
_SPELLINGS = (
    ("oe→e", r"oe", "e"),
    ("i→y", r"^cicl", "cycl"),
    ("f→ph", r"f", "ph"),
    ("ph→f", r"ph", "f"),
    ("k→c", r"k", "c"),
    ("th→t", r"th", "t"),
)


#: Word endings, French → English, tried on each word: (rule, French ending, English ending).
_WORD_ENDINGS = (
    ("-ine→-in", "ine", "in"),
    ("-ene→-en", "ene", "en"),
    ("-ane→-an", "ane", "an"),
    ("-ile→-il", "ile", "il"),
    ("-ide→-id", "ide", "id"),
    ("-e dropped", "e", ""),
)
#: French salt adjectives: "dalteparine sodique" → "dalteparin sodium".
_SALT_ADJECTIVES = {"sodique": "sodium", "calcique": "calcium", "potassique": "potassium", "magnesique": "magnesium"}


def _word_forms(word: str) -> list[tuple[str, tuple[str, ...]]]:
    forms: list[tuple[str, tuple[str, ...]]] = [(word, ())]
    for rule, fr, en in _WORD_ENDINGS:
        if word.endswith(fr) and len(word) > len(fr) + 3:
            if fr == "e" and re.search(r"(ide|ole|one|ate|ane|ene|ine|ose|ase|ile|ure|que)$", word):
                continue
            forms.append((word[: len(word) - len(fr)] + en, (rule,)))
            break
    return forms


def _endings(name: str) -> list[tuple[str, tuple[str, ...]]]:
    out: list[tuple[str, tuple[str, ...]]] = [(name, ("exact",))]
    m = re.fullmatch(r"acide (\w+)ique", name)
    if m:
        out.append((f"{m.group(1)}ic acid", ("acide X-ique→X-ic acid",)))
    m = re.fullmatch(r"(\w+) d(?:e |')(\w+)", name)
    if m and m.group(1) in ANIONS:
        out.append((f"{m.group(2)} {ANIONS[m.group(1)]}", ("X de Y→Y X",)))
    words = name.split(" ")
    if words[-1] in _SALT_ADJECTIVES and len(words) > 1:
        cation = _SALT_ADJECTIVES[words[-1]]
        out += [(f"{b} {cation}", (*r, "X sodique→X sodium")) for b, r in _endings(" ".join(words[:-1]))]
    if len(words) <= 3:
        combos: list[tuple[str, tuple[str, ...]]] = [("", ())]
        for w in words:
            combos = [((c + " " + f).strip(), (*r, *fr)) for c, r in combos for f, fr in _word_forms(w)]
        out += [(c, tuple(dict.fromkeys(r))) for c, r in combos if r]
    return out


def english_candidates(folded: str) -> list[tuple[str, tuple[str, ...]]]:
    """English spellings of a folded French INN, each with the rules that made it (fewest first).

    Example:
        >>> [c for c, _ in english_candidates("warfarine")][:2]
        ['warfarine', 'warfarin']
        >>> dict(english_candidates("acide valproique"))["valproic acid"]
        ('acide X-ique→X-ic acid',)
    """
    salt = re.fullmatch(r"(\w+) \(\s*(\w+) de\)", folded)  # "sodium (citrate de)": citrate de sodium
    if salt:
        return _salt_candidates(salt.group(1), salt.group(2))
    if folded in FALSE_FRIENDS:
        return [(FALSE_FRIENDS[folded], ("false friend translated",))]
    if re.search(r" de\)$", folded):  # another salt ("sodium (citrate diacide de)"): never the bare cation
        return []
    name = re.sub(r"\s*\([^)]*\)", "", folded).strip()  # "abciximab (c 7e3b fab)"
    seen: dict[str, tuple[str, ...]] = {}
    for base, rules in _endings(name):
        seen.setdefault(base, rules)
    for base, rules in list(seen.items()):
        variants = [(base, rules)]
        for label, pattern, repl in _SPELLINGS:
            variants += [(re.sub(pattern, repl, v), (*r, label)) for v, r in variants if re.search(pattern, v)]
        for v, r in variants:
            seen.setdefault(v, r)
    clean = {c: tuple(x for x in r if x != "exact") or ("exact",) for c, r in seen.items()}
    return sorted(clean.items(), key=lambda x: 0 if x[1] == ("exact",) else len(x[1]))


def _salt_candidates(cation: str, anion: str) -> list[tuple[str, tuple[str, ...]]]:
    """"sodium (picosulfate de)" → sodium picosulfate, picosulfate sodium (English uses both orders)."""
    rule = ("X (Y de)→X Y",)
    en = ANIONS.get(anion, anion)
    return [(f"{cation} {en}", rule), (f"{en} {cation}", rule)]


#: Dosage-form words that end the English name of a CMeKG product ("… Enteric-coated Tablets").
DOSAGE_FORM = re.compile(
    r"(\s+(for|and|oral|enteric|coated|sustained|extended|controlled|release|dispersible|effervescent|chewable|"
    r"orally|disintegrating|soft|hard|film|vaginal|eye|ear|nasal|dry|compound|injection|injections|tablets?|"
    r"tables|capsules?|granules?|powder|solution|suspension|saspension|syrup|drops|cream|ointment|gel|"
    r"suppositor(y|ies)|patch(es)?|spray|aerosol|inhalation|emulsion|liniment|lotion|infusion|pills?|"
    r"elixir|lozenges?|sodium chloride|glucose|in|of|sterile|concentrate|lyophilized|microspheres?|"
    r"liposomes?|pellets?|mixture|tincture|paste|film|dressing|implant|sachets?|\W+))+$"
)
#: Chinese salt words and their English ones: 盐酸胺碘酮 "amiodarone hydrochloride" → 胺碘酮 "amiodarone".
SALTS = (
    ("盐酸", "hydrochloride"), ("硫酸", "sulfate"), ("硫酸", "sulphate"), ("甲磺酸", "mesilate"),
    ("甲磺酸", "mesylate"), ("马来酸", "maleate"), ("富马酸", "fumarate"), ("酒石酸", "tartrate"),
    ("枸橼酸", "citrate"), ("磷酸", "phosphate"), ("琥珀酸", "succinate"), ("苯磺酸", "besilate"),
    ("苯磺酸", "besylate"), ("氢溴酸", "hydrobromide"), ("醋酸", "acetate"), ("乳酸", "lactate"),
    ("钠", "sodium"), ("钾", "potassium"), ("钙", "calcium"), ("镁", "magnesium"),
)
#: Ingredient names that are a salt, a solvent or a filler, never the drug a product is named after.
NOT_A_DRUG = frozenset("水 氧 氨基酸 乳糖 淀粉 蔗糖 辅料 略 甘油 乙醇 注射用水 氯化钠 葡萄糖 口服 注射".split()) | {
    zh for zh, _ in SALTS}
#: An ingredient "name" that is a sentence of the label (本品主要成分为利培酮, 活性成份： 恩他卡朋).
_NOT_A_NAME = re.compile(r"[：:，,。；]|成分|成份|主要|本品")
#: A Chinese dosage form: a product named with one is not a brand name (盐酸奈福泮缓释片 vs 格尔平).
_DOSAGE_FORM_ZH = re.compile(r"(片|胶囊|丸|注射液|注射剂|颗粒|散|膏|液|剂|栓|贴|霜|粉|糖浆|口服液|滴眼液)$")
#: Chinese prefixes a product name puts before its ingredient (注射用头孢唑啉钠).
_PRODUCT_PREFIXES = ("注射用", "复方")


def english_stem(product_english: str) -> str | None:
    """The drug part of a product's English name, lower case ("Aspirin Enteric-coated Tablets" →
    "aspirin"), or None when nothing but dosage-form words remain or it is not Latin script."""
    text = re.sub(r"[\u2010-\u2015–—-]+", " ", product_english.lower())
    text = re.sub(r"\([^)]*\)|（[^）]*）", " ", text)
    if not re.fullmatch(r"[a-z0-9 ,.'/]+", text.strip()):
        return None
    stem = DOSAGE_FORM.sub("", " " + re.sub(r"\s+", " ", text).strip()).strip()
    return stem if len(stem) >= 4 else None


def cmekg_english_names(
    products: Iterable[tuple[str, list[str], str]], names: dict[str, int]
) -> dict[str, list[tuple[int, str]]]:
    """English name (lower case) → ``(CMeKG entity row, evidence)`` for ingredients named by products.

    Args:
        products: ``(product name, its English names, its one ingredient's name)`` for CMeKG
            products with exactly one ingredient.
        names: CMeKG entity name → row.

    An ingredient gets a product's English stem when the product's Chinese name starts with the
    ingredient's (阿司匹林肠溶片, 注射用头孢唑啉钠) and the ingredient is not a salt or filler, or when
    two brand-named products (异搏定) agree; a salt
    (华法林钠 "warfarin sodium") also names its base (华法林 "warfarin") when the base is an entity.
    """
    out: dict[str, dict[int, str]] = defaultdict(dict)
    votes: dict[tuple[str, str], list[str]] = defaultdict(list)  # brand-named products: (stem, ingredient)
    for product, english, ingredient in products:
        if ingredient in NOT_A_DRUG or ingredient not in names or _NOT_A_NAME.search(ingredient):
            continue
        for en in english:
            stem = english_stem(en)
            if stem is None:
                continue
            bare = next((product.removeprefix(p) for p in _PRODUCT_PREFIXES if product.startswith(p)), product)
            if not bare.startswith(ingredient):  # 依诺肝素钠注射液 contains 肝素钠 but is not made of it
                if not _DOSAGE_FORM_ZH.search(product):  # a brand name (异搏定), not another drug's product
                    votes[(stem, ingredient)].append(f"{product} = {en!r}")
                continue
            _name(out, stem, ingredient, names, f"CMeKG product {product} = {en!r}, ingredient {ingredient}",
                  product)
    for (stem, ingredient), seen in votes.items():
        if len(seen) >= 2:  # a brand name (异搏定) says nothing by itself; two products agreeing do
            _name(out, stem, ingredient, names, f"CMeKG products {'; '.join(seen[:2])}, ingredient {ingredient}", "")
    return {k: list(v.items()) for k, v in out.items()}


def _name(
    out: dict[str, dict[int, str]], stem: str, ingredient: str, names: dict[str, int], evidence: str, product: str
) -> None:
    """``stem`` names ``ingredient``; a salt's base names the base entity, or the salt when the
    base is not an entity (盐酸胺碘酮 "amiodarone hydrochloride" → "amiodarone")."""
    out[stem].setdefault(names[ingredient], evidence)
    for zh_salt, en_salt in SALTS:
        base_zh = ingredient.removeprefix(zh_salt) if zh_salt.endswith("酸") else ingredient.removesuffix(zh_salt)
        base_en = stem.removesuffix(" " + en_salt)
        if base_en == stem or not base_zh or base_zh in NOT_A_DRUG:
            continue
        if base_zh == ingredient:  # the Chinese name leaves the salt out (维拉帕米 "verapamil hydrochloride")
            if zh_salt in product:  # 磷酸氯喹注射液 lists "磷" as its ingredient: a cut salt, not the drug
                continue
            out[base_en].setdefault(names[ingredient], f"{evidence} (its salt left out)")
        elif base_zh in names:
            out[base_en].setdefault(names[base_zh], f"{evidence} less {zh_salt}")
        else:
            out[base_en].setdefault(names[ingredient], f"{evidence} (a salt of {base_en})")
