"""The kgrag CLI, driven as a user would: import, stats, show, link-report, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgrag.cli import app

DATA = Path(__file__).parent / "kg" / "data"
runner = CliRunner()


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    out = tmp_path / "store"
    spec = [f"cmekg={DATA / 'cmekg' / 'mini.jsonl'}", f"hpo={DATA / 'hpo'}"]
    result = runner.invoke(app, ["kg", "import", *spec, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "cmekg" in result.output
    return out


def test_stats_prints_counts_per_source(store: Path) -> None:
    result = runner.invoke(app, ["kg", "stats", "--store", str(store), "--relations"])
    assert result.exit_code == 0, result.output
    assert "cmekg" in result.output and "hpo" in result.output
    assert "has symptom" in result.output and "常见症状" in result.output


def test_show_groups_facts_by_relation_with_sources(store: Path) -> None:
    result = runner.invoke(app, ["kg", "show", "糖尿病", "--store", str(store)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "cmekg:糖尿病" in result.output
    assert "常见症状 / has symptom" in result.output and "多尿" in result.output
    assert "mini.jsonl:1" in result.output  # provenance: file and line


def test_show_by_english_name_and_by_id(store: Path) -> None:
    by_name = runner.invoke(app, ["kg", "show", "Seizure", "--store", str(store)], env={"COLUMNS": "200"})
    by_id = runner.invoke(app, ["kg", "show", "hpo:HP:0001250", "--store", str(store)], env={"COLUMNS": "200"})
    assert by_name.exit_code == by_id.exit_code == 0
    assert "hpo:HP:0001250" in by_name.output and "Seizure" in by_id.output


def test_link_report_lists_link_kinds(store: Path) -> None:
    result = runner.invoke(app, ["kg", "link-report", "--store", str(store)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "cross-source links" in result.output and "total" in result.output


def _kgrag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kgrag.cli", *args], capture_output=True, text=True, check=False)


def test_unknown_entity_is_one_clear_line_without_traceback(store: Path) -> None:
    proc = _kgrag("kg", "show", "不存在的病", "--store", str(store))
    assert proc.returncode == 2
    assert "no entity named '不存在的病'" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_source_lists_the_valid_ones(tmp_path: Path) -> None:
    proc = _kgrag("kg", "import", "wikidata", "--out", str(tmp_path / "s"))
    assert proc.returncode == 2 and "valid sources: cmekg, hpo, mondo, icd10cm, umls" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_a_broken_source_leaves_the_previous_store_intact(store: Path, tmp_path: Path) -> None:
    before = (store / "manifest.json").read_text()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "a", "predicate": "常见症状", "object": "b"}\n{"subject": \n', encoding="utf-8")
    proc = _kgrag("kg", "import", f"cmekg={bad}", "--out", str(store))
    assert proc.returncode == 2 and f"{bad}:2" in proc.stderr
    assert (store / "manifest.json").read_text() == before


def test_missing_store_says_how_to_build_it(tmp_path: Path) -> None:
    proc = _kgrag("kg", "stats", "--store", str(tmp_path / "none"))
    assert proc.returncode == 2 and "kgrag kg import" in proc.stderr
