"""Atomic replacement of an artifact folder (KG stores, indexes) or file (result JSONL).

The artifact is written into a temporary sibling folder; only when everything is written is the
folder renamed into place. An interrupted or failed write leaves the previous artifact intact
and no temporary folder behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``out``; on success it replaces ``out``, on any error it
    is removed and ``out`` is left as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700: a service running as another user could not read it
    try:
        yield tmp
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` is moved aside first and removed after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as JSON lines to ``path`` through a temporary sibling renamed into place: an
    interrupted write leaves the previous file intact."""
    import orjson

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines(orjson.dumps(r) + b"\n" for r in rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
