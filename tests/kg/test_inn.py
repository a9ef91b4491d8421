"""French INN → English spelling rules, and English names of CMeKG ingredients from their products."""

from __future__ import annotations

import pytest

from kgrag.kg.inn import cmekg_english_names, english_candidates, english_stem


def spellings(name: str) -> dict[str, tuple[str, ...]]:
    return dict(english_candidates(name))


@pytest.mark.parametrize(
    ("french", "english", "rules"),
    [
        ("amiodarone", "amiodarone", ("exact",)),
        ("warfarine", "warfarin", ("-ine→-in",)),
        ("ketoprofene", "ketoprofen", ("-ene→-en",)),
        ("dextromethorphane", "dextromethorphan", ("-ane→-an",)),
        ("fluorouracile", "fluorouracil", ("-ile→-il",)),
        ("isoniazide", "isoniazid", ("-ide→-id",)),
        ("acide valproique", "valproic acid", ("acide X-ique→X-ic acid",)),
        ("chlorure de potassium", "potassium chloride", ("X de Y→Y X",)),
        ("sodium (picosulfate de)", "sodium picosulfate", ("X (Y de)→X Y",)),
        ("dalteparine sodique", "dalteparin sodium", ("-ine→-in", "X sodique→X sodium")),
        ("insuline glargine", "insulin glargine", ("-ine→-in",)),
        ("oestradiol", "estradiol", ("oe→e",)),
        ("ciclosporine", "cyclosporin", ("-ine→-in", "i→y")),
        ("cefalexine", "cephalexin", ("-ine→-in", "f→ph")),
        ("abciximab (c 7e3b fab)", "abciximab", ("exact",)),
    ],
)
def test_each_rule_names_the_english_spelling_and_says_which_rules_made_it(
    french: str, english: str, rules: tuple[str, ...]
) -> None:
    assert spellings(french)[english] == rules


def test_the_unchanged_name_is_tried_first_and_fewer_rules_before_more() -> None:
    candidates = english_candidates("morphine")
    assert candidates[0] == ("morphine", ("exact",))
    assert [len(r) for _, r in candidates[1:]] == sorted(len(r) for _, r in candidates[1:])


def test_a_salt_is_never_reduced_to_its_bare_cation() -> None:
    assert "sodium" not in spellings("sodium (citrate de)")
    assert english_candidates("sodium (citrate diacide de)") == []


def test_a_french_false_friend_is_translated_not_matched() -> None:
    """The thesaurus' "ricin" is castor (a laxative), not the toxin ricin."""
    assert spellings("ricin") == {"castor oil": ("false friend translated",)}


@pytest.mark.parametrize(
    ("product", "stem"),
    [
        ("Aspirin Enteric—coated Tablets", "aspirin"),
        ("Cefazolin Sodium for Injection", "cefazolin sodium"),
        ("Nifedipine Sustained— Release Tablets", "nifedipine"),
        ("Promestriene Vaginal Capsules（Colpotrophine ）", "promestriene"),
        ("Tablets", None),
        ("阿司匹林片", None),
    ],
)
def test_the_drug_part_of_a_product_name(product: str, stem: str | None) -> None:
    assert english_stem(product) == stem


def test_ingredients_are_named_by_their_products_and_salts_name_their_base() -> None:
    names = {"阿司匹林": 1, "华法林钠": 2, "华法林": 3, "肝素钠": 4, "肝素": 5, "盐酸": 6, "维拉帕米": 7}
    products = [
        ("阿司匹林肠溶片", ["Aspirin Enteric-coated Tablets"], "阿司匹林"),
        ("华法林钠片", ["Warfarin Sodium Tablets"], "华法林钠"),
        # contains 肝素钠 but is enoxaparin: the product name must start with the ingredient
        ("依诺肝素钠注射液", ["Enoxaparin Sodium Injection"], "肝素钠"),
        # a salt listed alone as the ingredient
        ("盐酸奥昔非君片", ["Oxyfedrine Hydrochloride Tablets"], "盐酸"),
        # brand names: one says nothing, two agreeing do
        ("异搏定", ["Verapamil Hydrochloride Tablets"], "维拉帕米"),
        ("维拉帕米缓释片", ["Verapamil Hydrochloride Sustained-release Tablets"], "维拉帕米"),
    ]
    found = {k: [row for row, _ in v] for k, v in cmekg_english_names(products, names).items()}
    assert found["aspirin"] == [1]
    assert found["warfarin sodium"] == [2] and found["warfarin"] == [3]
    assert "enoxaparin" not in found and "enoxaparin sodium" not in found
    assert "oxyfedrine" not in found and "oxyfedrine hydrochloride" not in found
    assert found["verapamil"] == [7]
