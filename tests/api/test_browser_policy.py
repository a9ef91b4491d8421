"""The browser tests never pass unrun in CI: without chromedriver they fail when ``CI`` is set and
skip, with a loud reason, only on a developer's machine. Checked by running one of them in a
child pytest whose PATH holds no chromedriver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ONE_BROWSER_TEST = "test_the_language_follows_the_browser_and_the_toggle"


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)  # an empty folder: no chromedriver, no chromium
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/api/test_web_page.py", "-m", "slow", "-k", ONE_BROWSER_TEST,
         "-p", "no:cacheprovider", "-q", "-rs"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_in_ci_a_missing_browser_fails_the_run(tmp_path: Path) -> None:
    proc = _run(tmp_path, "true")
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "CI is set and chromedriver is missing" in proc.stdout and "1 error" in proc.stdout


def test_on_a_developer_machine_it_skips_with_a_loud_reason(tmp_path: Path) -> None:
    proc = _run(tmp_path, None)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "1 skipped" in proc.stdout and "THE BROWSER TESTS OF THE CHAT PAGE DID NOT RUN" in proc.stdout
