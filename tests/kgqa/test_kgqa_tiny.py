"""`make_kgqa` on the tiny KG: files, card, options, refusals and atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from kgrag.errors import ConfigError, StoreError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.store import MANIFEST, write_store
from kgrag.kgqa import make_kgqa
from kgrag.kgqa.dataset_formats import CONVERTERS, FORMATS, write_dataset
from kgrag.kgqa.generator import KGQAGenerator

SPLITS = ("train", "validation", "test", "test_phrasing")


@pytest.fixture()
def store(tmp_path: Path, tiny_builder: KGBuilder) -> Path:
    out = tmp_path / "store"
    write_store(tiny_builder.build(), out)
    return out


def _rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_writes_every_format_and_split_with_a_card(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "qa"
    card = make_kgqa(store, out)
    for fmt in FORMATS:
        for split in SPLITS:
            assert (out / fmt / f"{split}.jsonl").exists()
    assert (out / "README.md").exists() and json.loads((out / "card.json").read_text()) == card
    chat = _rows(out / "chat" / "train.jsonl")
    assert {r["lang"] for r in chat} == {"zh", "en"}
    first = chat[0]
    assert [t["role"] for t in first["conversation"]] == ["user", "assistant"]
    for key in ("id", "type", "relation", "lang", "source", "head", "split", "options", "answer_index", "facts"):
        assert key in first
    alpaca = _rows(out / "alpaca" / "train.jsonl")[0]
    assert alpaca["instruction"] == first["conversation"][0]["content"] and alpaca["input"] == ""
    sharegpt = _rows(out / "sharegpt" / "train.jsonl")[0]
    assert [t["from"] for t in sharegpt["conversations"]] == ["human", "gpt"]
    assert sharegpt["conversations"][1]["value"] == alpaca["output"] == first["conversation"][1]["content"]


def test_each_line_is_the_record_in_its_format(tiny_builder: KGBuilder, tmp_path: Path) -> None:
    records = KGQAGenerator(tiny_builder.build()).generate()
    files = write_dataset(tmp_path, records, formats=FORMATS)
    assert sum(files.values()) == len(FORMATS) * len(records)
    for fmt in FORMATS:
        lines = {line for s in SPLITS for line in (tmp_path / fmt / f"{s}.jsonl").read_bytes().splitlines()}
        assert lines == {orjson.dumps(CONVERTERS[fmt](r)) for r in records}


def test_card_counts_equal_the_files(store: Path, tmp_path: Path) -> None:
    card = make_kgqa(store, tmp_path / "qa")
    for fmt in FORMATS:
        rows = [r for s in SPLITS for r in _rows(tmp_path / "qa" / fmt / f"{s}.jsonl")]
        assert len(rows) == card["total"]
        for dim in ("split", "type", "lang", "source", "relation"):
            counted: dict[str, int] = {}
            for r in rows:
                counted[r[dim]] = counted.get(r[dim], 0) + 1
            assert counted == card["counts"][dim], (fmt, dim)
    readme = (tmp_path / "qa" / "README.md").read_text()
    assert "CC BY 4.0" in readme and "public domain" in readme and "zh-sym-" in readme


def test_answers_are_sentences_and_pairs_unique(store: Path, tmp_path: Path) -> None:
    make_kgqa(store, tmp_path / "qa")
    rows = [r for s in SPLITS for r in _rows(tmp_path / "qa" / "chat" / f"{s}.jsonl")]
    dialogues = [tuple(t["content"] for t in r["conversation"]) for r in rows]
    assert len(dialogues) == len(set(dialogues))
    for r in rows:
        answer = r["conversation"][-1]["content"]
        assert answer.endswith("。" if r["lang"] == "zh" else "."), answer


def test_same_seed_same_files(store: Path, tmp_path: Path) -> None:
    make_kgqa(store, tmp_path / "a", seed=3)
    make_kgqa(store, tmp_path / "b", seed=3)
    for fmt in FORMATS:
        a, b = (tmp_path / d / fmt / "train.jsonl" for d in "ab")
        assert a.read_bytes() == b.read_bytes()


def test_options_narrow_what_is_generated(store: Path, tmp_path: Path) -> None:
    card = make_kgqa(store, tmp_path / "zh", langs=["zh"], relations=["has_symptom", "department"], limit=5,
                     formats=["chat"])
    assert set(card["counts"]["lang"]) == {"zh"}
    assert set(card["counts"]["relation"]) <= {"has_symptom", "department"} and card["total"] <= 5
    assert sorted(card["files"]) == [f"chat/{s}.jsonl" for s in sorted(SPLITS)]
    card = make_kgqa(store, tmp_path / "mondo", sources=["mondo"], types=["relation"])
    assert set(card["counts"]["source"]) == {"mondo"} and set(card["counts"]["type"]) == {"relation"}


@pytest.mark.parametrize(("relations", "message"), [([""], "no relation given"), (["symptoms"], "unknown relation")])
def test_bad_relations_list_the_valid_ones(store: Path, tmp_path: Path, relations: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        make_kgqa(store, tmp_path / "qa", relations=relations)
    assert "has_symptom" in str(err.value) and "definition" in str(err.value)
    assert not (tmp_path / "qa").exists()


def test_cli_reports_bad_relations(store: Path, tmp_path: Path) -> None:
    from kgrag.cli.kgqa import register

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    result = CliRunner().invoke(app, ["make-kgqa", "--kg", str(store), "--out", str(tmp_path / "qa"),
                                      "--relations", "has_symptom,nope"])
    assert isinstance(result.exception, ConfigError) and "unknown relation 'nope'" in str(result.exception)
    ok = CliRunner().invoke(app, ["make-kgqa", "--kg", str(store), "--out", str(tmp_path / "qa")])
    assert ok.exit_code == 0, ok.output
    assert "wrote" in ok.output


def test_existing_folder_needs_overwrite(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "qa"
    make_kgqa(store, out, seed=0)
    with pytest.raises(ConfigError, match="--overwrite"):
        make_kgqa(store, out, seed=1)
    assert make_kgqa(store, out, seed=1, overwrite=True)["options"]["seed"] == 1
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a KG-QA dataset"):
        make_kgqa(store, other, overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"


def test_failed_run_leaves_the_previous_dataset_intact(store: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "qa"
    make_kgqa(store, out, seed=0)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("kgrag.kgqa.card.write_card", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        make_kgqa(store, out, seed=1, overwrite=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_missing_or_old_store_is_a_store_error(store: Path, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no KG store"):
        make_kgqa(tmp_path / "nowhere", tmp_path / "qa")
    manifest = json.loads((store / MANIFEST).read_text())
    manifest["format_version"] = 0
    (store / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="format version"):
        make_kgqa(store, tmp_path / "qa")
    assert not (tmp_path / "qa").exists()


def test_files_load_with_datasets(store: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    make_kgqa(store, tmp_path / "qa")
    for fmt in FORMATS:
        files = {s: str(tmp_path / "qa" / fmt / f"{s}.jsonl") for s in SPLITS
                 if (tmp_path / "qa" / fmt / f"{s}.jsonl").stat().st_size}
        ds = datasets.load_dataset("json", data_files=files, cache_dir=str(tmp_path / "cache"))
        assert sum(len(d) for d in ds.values()) == sum(len(_rows(Path(f))) for f in files.values())

