"""Inputs of ``select``: the latent array, the segments table, and the selection scopes.

The latents are ``latents.npy`` (float32 ``(N, d)``, ``segment_id`` order, DESIGN.md "Latent
array"), opened as a read-only memory map and only ever read in row blocks. The segments table
gives each segment's montage group, recording and subject; it comes from the segment store
(``segments.parquet``) or, for development, any parquet file with the columns
``segment_id, group, recording_id, subject`` (ids dense ``0..N-1`` in order). Only those four
columns are loaded, as integer codes: O(N) small integers, never O(N·d).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from streamdistill.io_utils import sha256_file

TABLE_COLUMNS = ("segment_id", "group", "recording_id", "subject")


class SelectInputError(ValueError):
    """The latents or the segments table cannot be used (names the file and what to do)."""


@dataclass(frozen=True)
class LatentSource:
    """``latents.npy`` of ``encode`` (or any float32 ``(N, d)`` ``.npy``).

    ``fingerprint`` identifies the content: derived from ``latents.json`` (store fingerprint and
    compressor checkpoint hashes) when it is there, else the file's sha256.
    """

    path: Path
    n_rows: int
    dim: int
    fingerprint: str
    store_path: Path | None

    def open(self) -> np.ndarray:
        """Read-only memory map ``(N, d)`` float32 (nothing is read until rows are indexed)."""
        return np.lib.format.open_memmap(self.path, mode="r")


def open_latents(path: str | Path) -> LatentSource:
    """Open the latents at ``path``: an ``encode`` output folder or a ``.npy`` file."""
    path = Path(path)
    npy = path / "latents.npy" if path.is_dir() else path
    meta_path = npy.with_name("latents.json")
    if not npy.is_file():
        raise SelectInputError(f"{path}: no latents.npy here; pass the output folder of "
                               "`streamdistill encode` or a float32 (N, d) .npy file")
    try:
        arr = np.lib.format.open_memmap(npy, mode="r")
    except (ValueError, OSError) as exc:
        raise SelectInputError(f"{npy}: not a readable .npy file ({exc})") from None
    if arr.dtype != np.float32 or arr.ndim != 2:
        raise SelectInputError(f"{npy}: latents must be float32 (N, d); found {arr.dtype} "
                               f"{arr.shape}")
    if arr.shape[0] == 0:
        raise SelectInputError(f"{npy}: the latent array is empty")
    store_path = None
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if not meta.get("complete", False):
            raise SelectInputError(f"{npy}: encoding is not finished ({meta_path} says "
                                   "complete: false); rerun `streamdistill encode` to finish it")
        key = {k: meta.get(k) for k in ("store_fingerprint", "checkpoints", "encode_batch",
                                         "n_segments", "dim")}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        store_path = Path(meta["store"]) if meta.get("store") else None
    else:
        digest = sha256_file(npy)
    return LatentSource(npy, int(arr.shape[0]), int(arr.shape[1]), digest, store_path)


@dataclass
class SegmentTable:
    """Per-segment integer codes, ``(N,)`` each, for segment ids ``0..N-1``.

    ``group``/``subject`` index ``group_names``/``subject_names``; ``recording`` holds the
    store's ``recording_id``.
    """

    group: np.ndarray
    recording: np.ndarray
    subject: np.ndarray
    group_names: list[str]
    subject_names: list[str]
    source: Path

    @property
    def n_rows(self) -> int:
        return int(self.group.shape[0])


class _Coder:
    """Streams a string-like column into int32 codes (first-seen order), names in a dict."""

    def __init__(self, n: int):
        self.codes = np.empty(n, np.int32)
        self.index: dict[str, int] = {}

    def add(self, start: int, arr) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(pc.fill_null(arr.cast(pa.string()), ""))
        values = ["" if v is None else str(v) for v in arr.dictionary.to_pylist()]
        lut = np.array([self.index.setdefault(v, len(self.index)) for v in values] or [0],
                       np.int32)
        idx = arr.indices.fill_null(0).to_numpy(zero_copy_only=False)
        self.codes[start:start + len(arr)] = lut[idx]
        if arr.null_count:  # a null is the name "" (no subject recorded)
            nulls = arr.is_null().to_numpy(zero_copy_only=False)
            self.codes[start:start + len(arr)][nulls] = self.index.setdefault("", len(self.index))

    def finish(self) -> tuple[np.ndarray, list[str]]:
        """Codes renumbered so that names sort: (int32 codes, sorted names)."""
        names = sorted(self.index)
        remap = np.empty(max(len(names), 1), np.int32)
        for new, name in enumerate(names):
            remap[self.index[name]] = new
        return remap[self.codes], names


def load_segment_table(path: str | Path, batch_rows: int = 1 << 20) -> SegmentTable:
    """Load the four selection columns of a segment store's ``segments.parquet`` (or of the
    parquet file at ``path``); groups and subjects become sorted integer codes.

    Streamed in record batches: memory is the codes (4 + 8 + 4 bytes per segment) plus a batch.
    """
    path = Path(path)
    parquet = path / "segments.parquet" if path.is_dir() else path
    if not parquet.is_file():
        raise SelectInputError(f"{path}: no segments.parquet; pass a segment store (--store) "
                               "or a parquet table with columns "
                               f"{', '.join(TABLE_COLUMNS)} (--segments)")
    pf = pq.ParquetFile(parquet)
    missing = [c for c in TABLE_COLUMNS if c not in pf.schema_arrow.names]
    if missing:
        raise SelectInputError(f"{parquet}: missing column(s) {', '.join(missing)} "
                               f"(needs {', '.join(TABLE_COLUMNS)})")
    n = pf.metadata.num_rows
    group, subject = _Coder(n), _Coder(n)
    recording = np.empty(n, np.int64)
    start = 0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=list(TABLE_COLUMNS)):
        ids = batch.column("segment_id").to_numpy(zero_copy_only=False)
        if ids.size and not (ids[0] == start and np.all(np.diff(ids) == 1)):
            raise SelectInputError(f"{parquet}: segment_id must be dense 0..N-1 in row order")
        group.add(start, batch.column("group"))
        subject.add(start, batch.column("subject"))
        recording[start:start + len(ids)] = batch.column("recording_id").to_numpy(
            zero_copy_only=False)
        start += len(ids)
    g_codes, g_names = group.finish()
    s_codes, s_names = subject.finish()
    return SegmentTable(g_codes, recording, s_codes, g_names, s_names, parquet)


def check_match(latents: LatentSource, table: SegmentTable) -> None:
    """Latent rows and table rows must agree one to one."""
    if latents.n_rows != table.n_rows:
        raise SelectInputError(
            f"{latents.path} has {latents.n_rows} rows but {table.source} lists "
            f"{table.n_rows} segments: the latents were made from another store (pass the "
            "matching --store / --segments, or re-run `streamdistill encode`)")


def check_finite(arr: np.ndarray, block_rows: int) -> None:
    """Raise naming the first segment id whose latent row holds NaN or inf (streamed)."""
    for a in range(0, arr.shape[0], block_rows):
        block = np.asarray(arr[a:a + block_rows])
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            row = a + int(np.flatnonzero(bad)[0])
            raise SelectInputError(f"latent row of segment {row} holds NaN or inf "
                                   f"({int(bad.sum())} such rows in rows {a}..{a + len(block) - 1}"
                                   "); re-encode or drop those segments")


@dataclass(frozen=True)
class Scope:
    """One k-center run: ``rows`` = sorted global segment ids (all of them, before outlier
    removal); ``key`` names it in ``scopes.parquet``; ``group`` is its montage group."""

    key: str
    group: str
    rows: np.ndarray


def group_rows(table: SegmentTable) -> dict[str, np.ndarray]:
    """Sorted segment ids of each montage group (computed once per table: O(N) int64)."""
    cached = getattr(table, "_rows_by_group", None)
    if cached is None:
        order = np.argsort(table.group, kind="stable")
        bounds = np.searchsorted(table.group[order], np.arange(len(table.group_names) + 1))
        cached = {name: order[bounds[i]:bounds[i + 1]]
                  for i, name in enumerate(table.group_names) if bounds[i + 1] > bounds[i]}
        table._rows_by_group = cached
    return cached


def build_scopes(table: SegmentTable, scope: str) -> list[Scope]:
    """Selection scopes in a fixed order: groups sorted by name; within a group, recordings by id.

    ``scope``: ``group`` and ``subject`` give one scope per montage group (``subject`` caps shares
    inside it); ``recording`` gives one scope per input recording (the released code's choice).
    """
    by_group = group_rows(table)
    if scope in ("group", "subject"):
        return [Scope(g, g, rows) for g, rows in by_group.items()]
    scopes = []
    for g, rows in by_group.items():
        rec = table.recording[rows]
        order = np.argsort(rec, kind="stable")
        uniq, starts = np.unique(rec[order], return_index=True)
        bounds = list(starts) + [len(rows)]
        for i, rid in enumerate(uniq):
            scopes.append(Scope(f"{g}/rec{int(rid)}", g,
                                np.sort(rows[order[bounds[i]:bounds[i + 1]]])))
    return scopes
