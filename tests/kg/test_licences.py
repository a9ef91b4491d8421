"""The licences of what kgrag reads and serves: one table, the same in NOTICE.md, in
``kgrag kg stats --licences`` and for every source and model kgrag knows."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kgrag.cli import app
from kgrag.generation.catalog import KNOWN_MODELS
from kgrag.index.embedders import EMBEDDERS
from kgrag.kg.licences import BEGIN, END, licences, notice_table
from kgrag.kg.loaders import LOADERS

REPO = Path(__file__).resolve().parents[2]


def _names(kind: str) -> set[str]:
    return {r.name for r in licences() if r.kind == kind}


def test_notice_md_holds_exactly_the_table_of_licences_tsv() -> None:
    text = (REPO / "NOTICE.md").read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "NOTICE.md lost its markers"
    between = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert between == notice_table(), (
        "NOTICE.md differs from kgrag/kg/data/licences.tsv: "
        "put `kgrag kg stats --licences --markdown` between its markers"
    )


def test_every_kg_source_model_and_embedder_kgrag_knows_has_a_licence_row() -> None:
    assert _names("kg source") == set(LOADERS)
    assert _names("model") == set(KNOWN_MODELS)
    assert _names("embedder") == set(EMBEDDERS)
    assert {p.name for p in (REPO / "adapters").iterdir() if p.is_dir()} <= _names("adapter")


def test_every_row_states_a_licence_and_terms() -> None:
    for r in licences():
        assert r.what and r.package and r.content_licence and r.terms, r


def test_the_default_model_row_names_the_coder_model() -> None:
    row = next(r for r in licences() if r.name == "qwen2.5-0.5b-instruct")
    assert "Qwen2.5-Coder-0.5B-Instruct" in row.what and "Apache-2.0" in row.content_licence


def test_kg_stats_licences_prints_every_row_without_a_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["kg", "stats", "--licences", "--store", str(tmp_path / "none")],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    for r in licences():
        assert r.name in result.output
    assert "CC BY 4.0" in result.output and "UMLS Metathesaurus licence" in result.output


def test_the_licence_file_is_apache_2() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_the_markdown_table_is_what_notice_md_holds() -> None:
    result = CliRunner().invoke(app, ["kg", "stats", "--licences", "--markdown"])
    assert result.exit_code == 0 and result.stdout.strip() == notice_table()
