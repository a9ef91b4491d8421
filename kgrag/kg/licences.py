"""The licences and terms of use of everything kgrag reads and serves — KG sources, models,
embedders, the shipped adapter, the vendored browser library — from one file, ``kgrag/kg/data/licences.tsv``.

``NOTICE.md`` holds :func:`notice_table` between two markers (a test keeps them equal) and
``kgrag kg stats --licences`` prints the same rows.

Example:
    >>> [r.name for r in licences() if r.kind == "kg source"][:2]
    ['cmekg', 'hpo']
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from kgrag.errors import ConfigError
from kgrag.tsv import data_text, tsv_rows

FILE = "licences.tsv"
KINDS = ("kg source", "model", "embedder", "adapter", "vendored")
COLUMNS = ("kind", "name", "what", "package (pinned)", "package licence", "content licence", "terms of use")
#: NOTICE.md's table lies between these two lines.
BEGIN, END = "<!-- licences.tsv: begin -->", "<!-- licences.tsv: end -->"


@dataclass(frozen=True, slots=True)
class Licence:
    """One thing kgrag uses and the terms it comes with."""

    kind: str  # one of KINDS
    name: str  # the source spec, model key, embedder or adapter name
    what: str
    package: str
    package_licence: str  # the licence the registry package states
    content_licence: str  # the licence of the data or weights inside
    terms: str  # what a user must do


@cache
def licences() -> tuple[Licence, ...]:
    """Every row of ``licences.tsv``, in file order.

    Raises:
        ConfigError: a row without the seven columns or of an unknown kind (names file and line).
    """
    rows = []
    for line, fields in tsv_rows(data_text("kgrag.kg", "data", FILE)):
        if len(fields) != len(COLUMNS) or fields[0] not in KINDS:
            raise ConfigError(
                f"kgrag/kg/data/{FILE}:{line}: expected {len(COLUMNS)} tab-separated columns "
                f"({', '.join(COLUMNS)}) with kind one of {', '.join(KINDS)}; got {len(fields)}: {fields[:2]}"
            )
        rows.append(Licence(*(f.strip() for f in fields)))
    return tuple(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def notice_table() -> str:
    """The rows as a Markdown table (NOTICE.md's, between :data:`BEGIN` and :data:`END`)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in licences():
        cells = (r.kind, f"`{r.name}`", r.what, f"`{r.package}`", r.package_licence, r.content_licence, r.terms)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)
