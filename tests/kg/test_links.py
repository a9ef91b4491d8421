"""Cross-source links: rules, and their correctness on the real default store."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kgrag.kg.graph import KnowledgeGraph, normalize_name
from kgrag.kg.links import english_names, icd10_candidates, normalize_icd10


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("e11.9", "E11.9"),
        (" A15.0† ", "A15.0"),
        ("E11.900", "E11.900"),
        ("E10-E14", None),
        ("无", None),
        ("I10", "I10"),
    ],
)
def test_icd10_codes_normalize(raw: str, code: str | None) -> None:
    assert normalize_icd10(raw) == code


def test_chinese_extension_codes_truncate_but_never_widen() -> None:
    assert [c for c, _ in icd10_candidates("E11.900")] == ["E11.900", "E11.9"]
    assert [c for c, _ in icd10_candidates("E11.9")] == ["E11.9"]


def test_abbreviations_and_short_names_do_not_link() -> None:
    assert english_names("糖尿病", "zh", ["DM", "diabetes mellitus", "T2D"]) == ["diabetes mellitus"]


def _links(kg: KnowledgeGraph, i: int) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for j, other in kg.links_of(i):
        out.setdefault(kg.fact(j).relation, set()).add(kg.entity_id(other))
    return out


def test_chinese_entity_links_to_english_sources(tiny_kg: KnowledgeGraph) -> None:
    links = _links(tiny_kg, tiny_kg.index_of("cmekg:糖尿病"))
    assert links["same_icd10_code"] == {"icd10cm:E11.9"}
    assert links["same_english_name"] == {"mondo:MONDO:0005015"}
    assert _links(tiny_kg, tiny_kg.index_of("cmekg:高血压"))["same_english_name"] == {"mondo:MONDO:0005044"}


def test_links_are_visible_from_both_ends(tiny_kg: KnowledgeGraph) -> None:
    assert "cmekg:糖尿病" in _links(tiny_kg, tiny_kg.index_of("mondo:MONDO:0005015"))["same_english_name"]


def check_by_construction(kg: KnowledgeGraph, j: int) -> None:
    """Re-derive link ``j`` from the two entities' own data, independently of links.py."""
    f = kg.fact(j)
    h, t = kg.entity(kg.index_of(f.head)), kg.entity(kg.index_of(f.tail or ""))
    assert h.source != t.source
    if f.relation == "same_icd10_code":
        cm = {x.split(":", 1)[1] for x in t.xrefs if x.startswith("ICD10CM:")}
        theirs = {x.split(":", 1)[1].strip().upper() for x in h.xrefs if x.startswith(("ICD10:", "ICD10CM:"))}
        assert any(
            c == code or (c.startswith(code) and len(code.split(".")[-1]) == 1 and "." in code)
            for c in theirs
            for code in cm
        ), (h, t)
    elif f.relation == "same_umls_cui":
        cuis = [
            {x[5:] for x in e.xrefs if x.startswith("UMLS:")} | ({e.id[5:]} if e.id.startswith("umls:") else set())
            for e in (h, t)
        ]
        assert cuis[0] & cuis[1], (h, t)
    elif f.relation == "same_english_name":
        names = [{normalize_name(n) for n in ((e.name,) if e.lang == "en" else ()) + e.aliases} for e in (h, t)]
        assert names[0] & names[1], (h, t)
    elif f.relation == "same_drug_substance":  # by INN spelling or a product's English name: evidence says which
        assert f.provenance.key and ("INN" in f.provenance.key or "drug " in f.provenance.key), (h, t, f.provenance)
    else:
        raise AssertionError(f"unexpected link relation {f.relation}")


@pytest.mark.slow
def test_known_true_links_in_the_default_store(default_store: Path) -> None:
    from kgrag.kg.store import load_store

    kg = load_store(default_store)
    dm = _links(kg, kg.index_of("cmekg:糖尿病"))
    assert "mondo:MONDO:0005015" in dm["same_english_name"]
    assert "hpo:HP:0000822" in _links(kg, kg.index_of("cmekg:高血压"))["same_english_name"]  # Hypertension
    counts = kg.relation_counts()
    assert counts["same_icd10_code"] > 100, "CMeKG ICD10 codes must link to ICD-10-CM"
    assert counts["same_english_name"] > 1000


@pytest.mark.slow
def test_a_sample_of_50_links_each_hold_by_construction(default_store: Path) -> None:
    from kgrag.kg.store import load_store

    kg = load_store(default_store)
    import numpy as np

    codes = [c for c, r in enumerate(kg.tables.relations) if r.startswith("same_")]
    link_rows = np.flatnonzero(np.isin(kg.arrays["f_rel"], codes)).tolist()
    assert len(link_rows) > 1000
    for j in random.Random(7).sample(link_rows, 50):
        check_by_construction(kg, j)
