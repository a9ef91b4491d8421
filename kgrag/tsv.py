"""The packaged TSV data files (relations, intents, priors, stop names, templates, red flags…):
one way to read them, so every file skips comments and blank lines the same way and every error
can name its file and line.

Written by hand rather than with :mod:`csv`: these files are tab-separated with no quoting at all
(a value may contain ``"``), which is exactly ``str.split("\\t")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources


def data_text(package: str, *path: str) -> str:
    """The text of a data file shipped inside ``package`` (``data_text("kgrag.kg", "data", "relations.tsv")``)."""
    return resources.files(package).joinpath(*path).read_text(encoding="utf-8")


def tsv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each row of TSV ``text``; blank lines and lines starting with
    ``#`` are skipped, line numbers are 1-based so that messages can say ``file:line``."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            yield n, line.split("\t")
