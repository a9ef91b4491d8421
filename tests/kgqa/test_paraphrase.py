"""Phrasing families (kgrag/kgqa/paraphrase.py): the same question asked as people ask it, some
families held out of training so that a test can measure phrasings the model never saw."""

from __future__ import annotations

import random

import pytest

from kgrag.errors import ConfigError
from kgrag.kgqa import paraphrase
from kgrag.kgqa.dataset_formats import QARecord
from kgrag.kgqa.paraphrase import HELD_OUT_SPLIT, load_phrasings, traditional, typo


def _record(split: str, relation: str = "has_symptom", lang: str = "zh", **kw: object) -> QARecord:
    base = dict(id=f"{lang}:relation:{relation}:cmekg:糖尿病:zh-sym-1", type="relation", relation=relation, lang=lang,
                source="cmekg", head="cmekg:糖尿病", head_name="糖尿病", split=split, template="zh-sym-1",
                question="糖尿病的常见症状有哪些？", answer="糖尿病的常见症状包括多饮、多尿。", facts=(1, 2))
    return QARecord(**{**base, **kw})  # type: ignore[arg-type]


def test_the_packaged_families_hold_some_out_and_every_written_phrasing_names_the_entity() -> None:
    bank = load_phrasings()
    assert set(bank.held_out()) == {"caregiver", "curious"}
    assert not set(bank.held_out()) & set(bank.seen())
    for (family, _, _), phrasings in bank.phrasings.items():
        for p in phrasings:
            assert ("{X}" in p.text) == (family != "followup"), p.id


def test_held_out_phrasings_are_in_no_template_or_cue_file() -> None:
    from importlib import resources

    files = [resources.files("kgrag.kgqa").joinpath("data", f) for f in ("questions.tsv", "retrieval_questions.tsv")]
    files += [p for p in resources.files("kgrag.retrieval").joinpath("data").iterdir() if p.name.endswith(".tsv")]
    lines = [field for f in files for line in f.read_text(encoding="utf-8").splitlines() for field in line.split("\t")]
    bank = load_phrasings()
    held = [p for (fam, _, _), ps in bank.phrasings.items() if fam in bank.held_out() for p in ps]
    assert len(held) > 40
    for p in held:
        # neither a template line nor one that embeds a whole template ({X} and all)
        assert not any(p.text in field or ("{X}" in field and field in p.text) for field in lines), p.id


def test_a_traditional_question_is_written_in_traditional_characters() -> None:
    assert traditional("糖尿病的常见症状有哪些？") == "糖尿病的常見症狀有哪些？"


def test_a_typo_swaps_two_letters_of_one_word_and_never_touches_the_entity() -> None:
    rng = random.Random(0)
    for _ in range(50):
        out = typo("What are the symptoms of diabetes mellitus?", "diabetes mellitus", rng)
        assert out is not None and out != "What are the symptoms of diabetes mellitus?"
        assert out.endswith("of diabetes mellitus?")
        assert sorted(out) == sorted("What are the symptoms of diabetes mellitus?")
    assert typo("What is DM?", "DM", rng) is None


def test_a_bad_phrasing_file_is_refused_naming_file_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = paraphrase.data_text

    def fake(package: str, *path: str) -> str:
        if path[-1] == "colloquial.tsv":
            return "# header\nzh-x-1\tpatient\thas_symptom\tzh\t我有症状吗？\n"
        return real(package, *path)

    load_phrasings.cache_clear()
    monkeypatch.setattr(paraphrase, "data_text", fake)
    try:
        with pytest.raises(ConfigError, match=r"colloquial\.tsv:2: a patient phrasing must contain \{X\}"):
            load_phrasings()
    finally:
        load_phrasings.cache_clear()


def test_a_test_record_gets_a_held_out_variant_in_test_phrasing_and_a_train_record_never(tiny_kg) -> None:  # type: ignore[no-untyped-def]
    from kgrag.kgqa.entities import EntityNames
    from kgrag.kgqa.templates import load_bank

    rephraser = paraphrase.Rephraser(EntityNames(tiny_kg), load_bank(), seed=0, share=1.0)
    held = set(load_phrasings().held_out())
    test = rephraser.variants([_record("test")])
    assert {r.split for r in test if r.family in held} == {HELD_OUT_SPLIT}
    assert all(r.answer == "糖尿病的常见症状包括多饮、多尿。" and r.facts == (1, 2) for r in test)
    train = rephraser.variants([_record("train", id=f"{i}") for i in range(40)])
    assert train and not any(r.family in held for r in train) and {r.split for r in train} == {"train"}
