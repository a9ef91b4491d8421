"""The layer contract (pyproject.toml, ``[tool.importlinter]``): it holds for the tree, and it
catches an import that goes the wrong way."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    return subprocess.run([LINT, str(tree / "pyproject.toml"), "--no-cache"], cwd=tree,
                          env=env, capture_output=True, text=True, check=False)


def _copy(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.tsv", "static")
    for pkg in ("kgrag", "api"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_its_layers_and_has_no_cycles() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def _lint_with_import(tmp_path: Path, module: str, statement: str) -> subprocess.CompletedProcess[str]:
    """Lint a copy of the tree in which ``module`` (a path under kgrag/) ends with ``statement``."""
    tree = _copy(tmp_path)
    path = tree / "kgrag" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{statement}\n", encoding="utf-8")
    return _lint(tree)


def test_an_import_of_the_service_from_the_kg_layer_breaks_the_contract(tmp_path: Path) -> None:
    result = _lint_with_import(tmp_path, "kg/model.py", "import api.schemas")
    assert result.returncode != 0
    assert "kgrag.kg is not allowed to import api" in result.stdout


def test_a_cycle_between_sibling_modules_breaks_the_contract(tmp_path: Path) -> None:
    result = _lint_with_import(tmp_path, "kg/relations.py", "import kgrag.kg.store")
    assert result.returncode != 0
    assert "No cycles are allowed in kgrag.kg" in result.stdout
