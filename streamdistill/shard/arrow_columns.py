"""Arrow columns built straight from buffers, for the store's parquet tables.

``pa.array``, ``pa.table`` and ``Table.from_pylist`` import pandas on first use (to recognise its
types): ≈ 0.17 s and ≈ 50 MB of RSS, ~3% of a ``shard`` run over eegmmidb (measured while
developing with ``python -X importtime`` and ``/usr/bin/time``); ``pa.Array.from_buffers`` does
not. :func:`column` covers the types of
``SEGMENT_SCHEMA`` and ``RECORDING_SCHEMA``: int64, float64, bool and UTF-8 strings, with None as
null. The tables written are the same as with ``pa.table`` (tested).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa

_NUMPY_TYPES = {pa.int64(): np.int64, pa.float64(): np.float64}


def column(values: Sequence[Any] | np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """An arrow array of ``arrow_type`` (int64, float64, bool or string) holding ``values``;
    ``None`` entries become nulls (numpy input has none)."""
    n = len(values)
    if isinstance(values, np.ndarray):
        valid = None
    else:
        present = np.fromiter((v is not None for v in values), bool, n)
        valid = None if present.all() else present
        values = [v for v in values] if valid is None else [
            v if ok else _blank(arrow_type) for v, ok in zip(values, present)]
    validity = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if valid is None else int(n - valid.sum())
    if arrow_type == pa.string():
        encoded = [str(v).encode() for v in values]
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        if offsets[-1] >= 2**31:
            raise ValueError("string column over 2 GiB")
        return pa.Array.from_buffers(
            pa.string(), n,
            [validity, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))],
            null_count=nulls)
    if arrow_type == pa.bool_():
        bits = np.packbits(np.asarray(values, bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [validity, pa.py_buffer(bits)],
                                     null_count=nulls)
    data = np.ascontiguousarray(np.asarray(values, _NUMPY_TYPES[arrow_type]))
    return pa.Array.from_buffers(arrow_type, n, [validity, pa.py_buffer(data)], null_count=nulls)


def repeated(text: str | None, n: int) -> pa.Array:
    """A string column holding ``text`` ``n`` times (all null for None), without a list."""
    if text is None:
        return pa.nulls(n, pa.string())
    data = text.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * len(data)
    return pa.Array.from_buffers(pa.string(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])


def table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """``pa.Table.from_pylist(rows, schema)`` built column by column from buffers."""
    return pa.Table.from_arrays(
        [column([r.get(f.name) for r in rows], f.type) for f in schema], schema=schema)


def _blank(arrow_type: pa.DataType) -> Any:
    """Placeholder value under a null slot."""
    return "" if arrow_type == pa.string() else (False if arrow_type == pa.bool_() else 0)
