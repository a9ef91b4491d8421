"""`kgrag kg link-report` on a store with the thesaurus and the drug dictionary: counts by method, samples."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kgrag.cli import app
from kgrag.kg.importer import import_sources

runner = CliRunner()


def test_the_report_counts_substance_links_by_method_and_samples_them(tmp_path: Path) -> None:
    store = tmp_path / "store"
    import_sources(["drugs", "ddi"], store)
    result = runner.invoke(app, ["kg", "link-report", "--store", str(store), "--sample", "3"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "links by method" in result.output
    assert "same_drug_substance" in result.output and "-ine→-in" in result.output and "exact" in result.output
    assert "sample of same_drug_substance (drugs → ddi)" in result.output
    assert "INN '" in result.output  # each sampled link shows its evidence
