"""KG-QA phrasings: enough of them, well-formed, and the sentence helpers that use them."""

from __future__ import annotations

import pytest

from kgrag.errors import ConfigError
from kgrag.kgqa.templates import (
    DEFINITION,
    LANGS,
    finish,
    from_definition,
    join_items,
    load_bank,
    parse_templates,
    render,
)

COMMON = ("has_symptom", "department", "cause", "examination", "drug_treatment", "treatment", "side_effect",
          "contraindication", "dosage", "complication", "population", "transmission", "contagious", "icd10",
          "has_phenotype", "is_a")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("relation", COMMON)
def test_common_relations_have_at_least_three_phrasings_per_language(relation: str, lang: str) -> None:
    bank = load_bank()
    assert len(bank.questions_for("relation", relation, lang)) >= 3
    assert len(bank.questions_for("description", DEFINITION, lang)) >= 3
    assert len(bank.questions_for("pair", relation, lang)) >= 3
    assert len(bank.questions_for("choice", relation, lang)) >= 3


def test_every_relation_can_be_asked_and_answered_in_both_languages() -> None:
    bank = load_bank()
    for rel in bank.relations:
        for lang in LANGS:
            assert bank.questions_for("relation", rel, lang), (rel, lang)
            assert bank.answers_for("pair", rel, lang), (rel, lang)
            if rel != "contagious":
                assert bank.answers_for("relation", rel, lang), (rel, lang)
    assert bank.answers_for("relation", "contagious=yes", "zh") and bank.answers_for("relation", "contagious=no", "en")


def test_question_marks_and_placeholders_are_consistent() -> None:
    bank = load_bank()
    for t in bank.questions:
        assert t.text.count("{X}") == 1, t
        assert t.text.endswith(("？", "。")) if t.lang == "zh" else t.text.endswith(("?", ".")), t


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a\trelation\thas_symptom\tzh\t症状有哪些？", "lacks"),  # no {X}
        ("a\trelation\tno_such_relation\tzh\t{X}？", "unknown relation"),
        ("a\trelation\thas_symptom\tfr\t{X}?", "lang one of"),
        ("a\trelation\thas_symptom\tzh", "expected 5"),
    ],
)
def test_malformed_template_rows_name_their_line(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_templates("# header\n" + line, "question", {"has_symptom"}, "q.tsv")
    assert "q.tsv:2" in str(err.value)


def test_duplicate_template_ids_are_refused() -> None:
    text = "a\trelation\thas_symptom\tzh\t{X}？\na\trelation\thas_symptom\tzh\t{X}呢？"
    with pytest.raises(ConfigError, match="repeats an id"):
        parse_templates(text, "question", {"has_symptom"})


def test_lists_are_capped_at_eight_with_a_marker() -> None:
    items = [f"症状{i}" for i in range(10)]
    assert join_items(items, "zh") == "、".join(items[:8]) + "等"
    assert join_items(items[:2], "zh") == "症状0、症状1"
    en = [f"sign {i}" for i in range(10)]
    assert join_items(en, "en").endswith("sign 7, among others")
    assert join_items(["cough", "fever", "rash"], "en") == "cough, fever and rash"
    assert join_items(["口服，一次1片", "一日3次"], "zh", literal=True) == "口服，一次1片；一日3次"


def test_sentences_are_finished() -> None:
    assert finish("糖尿病的常见症状包括多饮、多尿", "zh") == "糖尿病的常见症状包括多饮、多尿。"
    assert finish("hypertension is a disease", "en") == "Hypertension is a disease."
    assert finish("Done.", "en") == "Done."
    assert render("{X}和{Y}", X="甲", Y="{X}") == "甲和{X}"


def test_definitions_become_sentences_about_the_entity() -> None:
    assert from_definition("Renal cyst", "A fluid filled sac in the kidney.", "HPO") == (
        "Renal cyst is a fluid filled sac in the kidney."
    )
    assert from_definition("Glomerulonephritis", "Inflammation of the renal glomeruli.", "HPO") == (
        "Glomerulonephritis is inflammation of the renal glomeruli."
    )
    self_named = "Acute otitis media is a short and generally painful infection of the middle ear."
    assert from_definition("Acute otitis media", self_named, "HPO") == self_named
    full = "Primary food allergies occur as a result of sensitization."
    assert from_definition("Food allergy", full, "HPO") == f"HPO describes Food allergy as follows: {full}"
