"""Read side of the segment store: ``open_store(path)``.

>>> store = open_store("corpus.store")                     # doctest: +SKIP
>>> x = store.get(123)                  # (C, T) float32 µV of segment 123
>>> meta = store.segments()             # pandas DataFrame, one row per segment
>>> for chunk in store.iter_chunks():   # shard by shard, in storage order
...     chunk.segment_ids, chunk.x      # (n,), (n, C, T) float32 µV

Segment ids map to (group, row) through the recordings table: each recording's segments are
contiguous in both id and row, so the lookup holds one row per recording, not per segment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from streamdistill.store.arrays import open_root
from streamdistill.store.layout import STORE_FORMAT_VERSION, StoreLayout


class StoreError(RuntimeError):
    """The path is not a readable segment store (names the path and what to do)."""


@dataclass(frozen=True)
class GroupInfo:
    """One montage group: ``channels`` (LaBraM names, in order), ``n_times`` = window samples."""

    name: str
    channels: tuple[str, ...]
    n_times: int
    window_s: float
    stride_s: float
    n_segments: int

    @property
    def n_channels(self) -> int:
        return len(self.channels)


@dataclass(frozen=True)
class Chunk:
    """A run of consecutive rows of one group: ``x: (n, C, T)`` float32 µV, ``rows: [start, stop)``."""

    group: str
    rows: tuple[int, int]
    segment_ids: np.ndarray
    x: np.ndarray


class SegmentStore:
    """A finished (or partially finished, but consistent) segment store, opened read-only."""

    def __init__(self, path: str | Path):
        self.layout = StoreLayout(Path(path))
        if not self.layout.store_json.exists():
            raise StoreError(
                f"{path}: not a segment store (no store.json). Create one with "
                "`streamdistill shard INPUT... --out STORE`."
            )
        try:
            self.info = json.loads(self.layout.store_json.read_text())
            if not isinstance(self.info, dict) or "groups" not in self.info:
                raise ValueError("no 'groups' entry")
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"{path}: store.json is unreadable or damaged ({exc}); re-run `streamdistill "
                "shard` into this folder to rebuild it, or use a new --out") from exc
        version = self.info.get("format_version")
        if version != STORE_FORMAT_VERSION:
            raise StoreError(
                f"{path}: store format {version}, this streamdistill reads {STORE_FORMAT_VERSION}"
            )
        self.groups = {
            name: GroupInfo(
                name=name,
                channels=tuple(g["channels"]),
                n_times=int(g["n_times"]),
                window_s=float(g["window_s"]),
                stride_s=float(g["stride_s"]),
                n_segments=int(g["n_segments"]),
            )
            for name, g in self.info["groups"].items()
        }
        self._root = open_root(self.layout, mode="r") if self.layout.zarr.exists() else None
        if not self.layout.recordings.exists():
            raise StoreError(f"{path}: recordings.parquet is missing; the store was never "
                             "finalised. Re-run `streamdistill shard` into this folder.")
        ok = pd.read_parquet(
            self.layout.recordings,
            columns=["recording_id", "status", "group", "row_start", "n_segments",
                     "first_segment_id"],
        )
        ok = ok[(ok["status"] == "ok") & (ok["n_segments"] > 0)].sort_values("first_segment_id")
        self._rec_first_id = ok["first_segment_id"].to_numpy(np.int64)
        self._rec_n = ok["n_segments"].to_numpy(np.int64)
        self._rec_row = ok["row_start"].to_numpy(np.int64)
        self._rec_group = ok["group"].to_numpy(object)
        self._rec_id = ok["recording_id"].to_numpy(np.int64)

    # ------------------------------------------------------------------ metadata
    @property
    def path(self) -> Path:
        return self.layout.root

    @property
    def n_segments(self) -> int:
        return int(self.info["n_segments"])

    @property
    def fingerprint(self) -> str:
        """Changes whenever the store's content changes (recordings committed, parameters)."""
        return str(self.info["fingerprint"])

    def segments(self, columns: list[str] | None = None) -> pd.DataFrame:
        """``segments.parquet`` as a DataFrame (one row per segment; pick ``columns`` to save RAM)."""
        return pd.read_parquet(self.layout.segments, columns=columns)

    def iter_segment_batches(self, batch_rows: int = 65536, columns: list[str] | None = None):
        """Stream ``segments.parquet`` in record batches (bounded memory for huge stores)."""
        yield from pq.ParquetFile(self.layout.segments).iter_batches(batch_rows, columns=columns)

    def recordings(self) -> pd.DataFrame:
        """``recordings.parquet``: one row per input file with its status and reason."""
        return pd.read_parquet(self.layout.recordings)

    def array(self, group: str):
        """The Zarr array ``(N_g, C_g, T_g)`` of one montage group."""
        if self._root is None or group not in self.groups:
            raise KeyError(f"no group {group!r} in {self.path} (groups: {sorted(self.groups)})")
        return self._root[f"groups/{group}/x"]

    # ------------------------------------------------------------------ id ↔ (group, row)
    def locate(self, segment_ids: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Group names and rows of ``segment_ids`` (arrays of the same shape)."""
        ids = np.asarray(segment_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_segments):
            raise IndexError(f"segment id out of range [0, {self.n_segments})")
        k = np.searchsorted(self._rec_first_id, ids, side="right") - 1
        rows = self._rec_row[k] + (ids - self._rec_first_id[k])
        return self._rec_group[k], rows

    def segment_ids_of_rows(self, group: str, start: int, stop: int) -> np.ndarray:
        """Segment ids of rows ``[start, stop)`` of ``group``."""
        sel = self._rec_group == group
        rows0, first, n = self._rec_row[sel], self._rec_first_id[sel], self._rec_n[sel]
        order = np.argsort(rows0)
        rows0, first, n = rows0[order], first[order], n[order]
        rows = np.arange(start, stop, dtype=np.int64)
        k = np.searchsorted(rows0, rows, side="right") - 1
        return first[k] + (rows - rows0[k])

    def get(self, segment_id: int) -> np.ndarray:
        """One segment, ``(C, T)`` float32 µV."""
        group, row = self.locate([segment_id])
        return np.asarray(self.array(str(group[0]))[int(row[0])], dtype=np.float32)

    def read(self, segment_ids: np.ndarray | list[int]) -> list[np.ndarray]:
        """Several segments (any groups), each ``(C_g, T_g)`` float32 µV, in the order asked."""
        groups, rows = self.locate(segment_ids)
        return [np.asarray(self.array(str(g))[int(r)], np.float32) for g, r in zip(groups, rows)]

    # ------------------------------------------------------------------ streaming
    def iter_chunks(
        self, group: str | None = None, rows_per_chunk: int | None = None
    ) -> Iterator[Chunk]:
        """Stream the store in storage order, one shard (or ``rows_per_chunk`` rows) at a time.

        Groups come in name order; memory is one chunk. ``x`` is float32 µV.
        """
        names = [group] if group is not None else sorted(self.groups)
        for name in names:
            arr = self.array(name)
            step = rows_per_chunk or (arr.shards[0] if arr.shards else arr.chunks[0])
            for start in range(0, arr.shape[0], step):
                stop = min(start + step, arr.shape[0])
                yield Chunk(
                    group=name,
                    rows=(start, stop),
                    segment_ids=self.segment_ids_of_rows(name, start, stop),
                    x=self.read_rows(name, start, stop),
                )

    def read_rows(self, group: str, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` of a group, ``(n, C, T)`` float32 µV (one batched read)."""
        from streamdistill.store.arrays import batched_codecs

        with batched_codecs(stop - start):
            return np.asarray(self.array(group)[start:stop], dtype=np.float32)


def open_store(path: str | Path) -> SegmentStore:
    """Open a segment store written by ``streamdistill shard`` (read-only)."""
    return SegmentStore(path)
