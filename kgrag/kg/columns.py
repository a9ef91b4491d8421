"""Compact columns: UTF-8 string pools and ragged lists backed by numpy arrays.

Written by hand because the need is tiny (a byte blob plus int64 offsets, memory-mapped back)
and pyarrow would add ~100 MB of dependency for it. Strings are decoded only when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kgrag.kg.builder import KGBuilder
    from kgrag.kg.graph import KnowledgeGraph


class StringColumn(Sequence[str]):
    """An immutable sequence of strings stored as one UTF-8 blob and an offsets array."""

    __slots__ = ("blob", "offsets")

    def __init__(self, blob: bytes | np.ndarray, offsets: np.ndarray) -> None:
        self.blob = memoryview(blob).cast("B") if not isinstance(blob, bytes) else blob
        self.offsets = offsets

    @classmethod
    def from_strings(cls, strings: Iterable[str]) -> StringColumn:
        encoded = [s.encode("utf-8") for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        if encoded:
            np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        if i < 0:
            i += len(self)
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return bytes(self.blob[start:end]).decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        blob = bytes(self.blob)
        off = self.offsets.tolist()
        for i in range(len(off) - 1):
            yield blob[off[i] : off[i + 1]].decode("utf-8")

    def nbytes(self) -> int:
        return len(self.blob) + self.offsets.nbytes


class Ragged:
    """A list of variable-length lists of ints: ``values[ptr[i]:ptr[i+1]]`` is row ``i``."""

    __slots__ = ("ptr", "values")

    def __init__(self, ptr: np.ndarray, values: np.ndarray) -> None:
        self.ptr = ptr
        self.values = values

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]], dtype: type = np.int32) -> Ragged:
        ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        if rows:
            np.cumsum([len(r) for r in rows], out=ptr[1:])
        values = np.fromiter((v for r in rows for v in r), dtype=dtype, count=int(ptr[-1]))
        return cls(ptr, values)

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def row(self, i: int) -> np.ndarray:
        return self.values[self.ptr[i] : self.ptr[i + 1]]


def csr(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Group row numbers by key (``-1`` keys dropped): returns ``(ptr, order)`` so that the rows
    with key ``k`` are ``order[ptr[k]:ptr[k+1]]``."""
    valid = np.flatnonzero(keys >= 0)
    order = valid[np.argsort(keys[valid], kind="stable")].astype(np.int64)
    counts = np.bincount(keys[valid], minlength=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, order


def freeze(builder: KGBuilder) -> KnowledgeGraph:
    """Turn a builder's Python-side state into numpy columns."""
    from kgrag.kg.graph import KnowledgeGraph, Tables

    ents = builder.entities
    alias_strings: list[str] = []
    alias_ptr = np.zeros(len(ents) + 1, dtype=np.int64)
    xref_strings: list[str] = []
    xref_ptr = np.zeros(len(ents) + 1, dtype=np.int64)
    for i, e in enumerate(ents):
        alias_strings.extend(e.aliases)
        alias_ptr[i + 1] = len(alias_strings)
        xref_strings.extend(e.xrefs)
        xref_ptr[i + 1] = len(xref_strings)
    types = Ragged.from_lists([e.types for e in ents], np.int16)
    columns = {
        "ent_id": StringColumn.from_strings(e.id for e in ents),
        "ent_name": StringColumn.from_strings(e.name for e in ents),
        "ent_desc": StringColumn.from_strings(e.description for e in ents),
        "alias": StringColumn.from_strings(alias_strings),
        "xref": StringColumn.from_strings(xref_strings),
        "value": StringColumn.from_strings(builder.values.items),
        "key": StringColumn.from_strings(builder.keys),
        "qualifier": StringColumn.from_strings(builder.qualifiers.items),
    }
    arrays = {
        "ent_lang": np.fromiter((e.lang for e in ents), dtype=np.int8, count=len(ents)),
        "ent_source": np.fromiter((e.source for e in ents), dtype=np.int8, count=len(ents)),
        "alias_ptr": alias_ptr,
        "xref_ptr": xref_ptr,
        "type_ptr": types.ptr,
        "type_val": types.values,
        "f_head": np.frombuffer(builder.f_head, dtype=np.int32).copy(),
        "f_rel": np.frombuffer(builder.f_rel, dtype=np.int16).copy(),
        "f_tail": np.frombuffer(builder.f_tail, dtype=np.int32).copy(),
        "f_value": np.frombuffer(builder.f_value, dtype=np.int32).copy(),
        "f_source": np.frombuffer(builder.f_source, dtype=np.int8).copy(),
        "f_file": np.frombuffer(builder.f_file, dtype=np.int16).copy(),
        "f_line": np.frombuffer(builder.f_line, dtype=np.int64).copy(),
        "f_key": np.frombuffer(builder.f_key, dtype=np.int32).copy(),
        "f_qual": np.frombuffer(builder.f_qual, dtype=np.int32).copy(),
    }
    n = len(ents)
    arrays["out_ptr"], arrays["out_idx"] = csr(arrays["f_head"], n)
    arrays["in_ptr"], arrays["in_idx"] = csr(arrays["f_tail"], n)
    tables = Tables(
        sources=list(builder.source_ids.items),
        source_info=dict(builder.sources),
        files=list(builder.files.items),
        relations=list(builder.relations.items),
        types=list(builder.types.items),
    )
    return KnowledgeGraph(columns, arrays, tables, builder.vocab)
