"""Compact columns: UTF-8 string pools and ragged lists backed by numpy arrays.

Written by hand because the need is tiny (a byte blob plus int64 offsets, memory-mapped back)
and pyarrow would add ~100 MB of dependency for it. Strings are decoded only when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np


class StringColumn(Sequence[str]):
    """An immutable sequence of strings stored as one UTF-8 blob and an offsets array."""

    __slots__ = ("blob", "offsets")

    def __init__(self, blob: bytes | np.ndarray, offsets: np.ndarray) -> None:
        self.blob: bytes | memoryview = blob if isinstance(blob, bytes) else blob.data.cast("B")
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
        values: np.ndarray = np.fromiter((v for r in rows for v in r), dtype=dtype, count=int(ptr[-1]))
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
