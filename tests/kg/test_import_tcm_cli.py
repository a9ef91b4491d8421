"""`kgrag kg import … tcm` looks for herbiv's archive in KGRAG_SOURCES_DIR and says how to fetch it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_missing_archive_names_where_it_was_looked_for_and_the_make_target(tmp_path: Path) -> None:
    env = dict(os.environ, KGRAG_SOURCES_DIR=str(tmp_path / "sources"))
    proc = subprocess.run(
        [sys.executable, "-m", "kgrag.cli", "kg", "import", "tcm", "--out", str(tmp_path / "store")],
        capture_output=True, text=True, check=False, env=env,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(tmp_path / "sources" / "herbiv-0.1a6.tar.gz") in proc.stderr
    assert "make tcm-archive" in proc.stderr
    assert not (tmp_path / "store").exists()
