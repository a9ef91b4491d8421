"""Run a Python snippet in a fresh interpreter and report wall time and peak RSS."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def run_measured(code: str) -> dict[str, float | str]:
    """Execute ``code`` in a child interpreter; returns wall seconds, peak RSS (MiB) and the
    last line the child printed (expected to be JSON of its own figures)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    extra = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    # ru_maxrss of RUSAGE_CHILDREN is the max over all children so far: run the biggest last or
    # read the child's own figure, which it reports as peak_rss_mib.
    return {"wall_s": wall, "children_peak_rss_mib": max(before, peak) / 1024, **extra}


CHILD_PEAK = (
    "import resource, json\n"
    "def peak():\n"
    "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
)
