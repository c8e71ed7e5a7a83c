"""The single writer of a segment store: commits staged recordings in input order.

Commit of one recording (``StoreWriter.commit``):

1. append its staged windows to the group's Zarr array at rows ``[N_g, N_g + n)`` (this process
   is the only one that ever writes the arrays, so no two writers share a shard); whole shards
   are written at once, the rows of a last partial shard wait in memory for the next recording
   of the group or the final flush;
2. write its segment table ``parts/<recording_id>.parquet`` (temp + rename);
3. once all its rows (and all earlier recordings) are on disk, append its line to
   ``ledger.jsonl`` — the commit point (with ``--durable``, the rows, the part and the line are
   fsynced first, so the commit also survives a power loss);
4. delete its staging files.

On open, the ledger is the truth: arrays longer than the ledger says (a kill between 1 and 3) are
truncated, parts without a ledger line are deleted. Recording and segment ids are dense and follow
commit order, and commit order is input order (sorted paths) — so a store built serially, in
parallel, or across kills and reruns of the same inputs is the same store.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from streamdistill.config import ShardConfig
from streamdistill.io_utils import atomic_write, atomic_write_json, package_versions
from streamdistill.shard.arrow_columns import column, repeated
from streamdistill.shard.arrow_columns import table as arrow_table
from streamdistill.shard.records import staging_key
from streamdistill.shard.staging import ChainedRows, StagedRows
from streamdistill.store.arrays import append_rows, open_root, require_group_array, truncate
from streamdistill.store.layout import STORE_FORMAT_VERSION, StoreLayout
from streamdistill.store.ledger import append_entry, iter_ledger, iter_ok
from streamdistill.store.shard_files import shard_path

SEGMENT_SCHEMA = pa.schema([
    ("segment_id", pa.int64()),
    ("group", pa.string()),
    ("row", pa.int64()),
    ("recording_id", pa.int64()),
    ("dataset", pa.string()),
    ("subject", pa.string()),
    ("session", pa.string()),
    ("start_s", pa.float64()),
    ("clipped", pa.bool_()),
])

#: Columns of recordings.parquet, in order (ledger fields; run-time measurements are left out so
#: that the table is identical across reruns).
RECORDING_COLUMNS = (
    "recording_id", "path", "format", "size", "mtime_ns", "sha256", "dataset", "subject",
    "session", "status", "reason", "group", "n_channels", "channels", "channels_renamed",
    "channels_dropped", "sfreq_in", "duration_s", "n_windows", "n_segments",
    "n_dropped_nonfinite", "n_dropped_flat", "n_clipped", "first_segment_id", "row_start", "notes",
)


RECORDING_SCHEMA = pa.schema([
    ("recording_id", pa.int64()), ("path", pa.string()), ("format", pa.string()),
    ("size", pa.int64()), ("mtime_ns", pa.int64()), ("sha256", pa.string()),
    ("dataset", pa.string()), ("subject", pa.string()), ("session", pa.string()),
    ("status", pa.string()), ("reason", pa.string()), ("group", pa.string()),
    ("n_channels", pa.int64()), ("channels", pa.string()), ("channels_renamed", pa.string()),
    ("channels_dropped", pa.string()), ("sfreq_in", pa.float64()), ("duration_s", pa.float64()),
    ("n_windows", pa.int64()), ("n_segments", pa.int64()), ("n_dropped_nonfinite", pa.int64()),
    ("n_dropped_flat", pa.int64()), ("n_clipped", pa.int64()), ("first_segment_id", pa.int64()),
    ("row_start", pa.int64()), ("notes", pa.string()),
])
assert tuple(RECORDING_SCHEMA.names) == RECORDING_COLUMNS

#: Ledger fields kept in memory per recording (what resuming and summaries need).
COMPACT_KEYS = ("recording_id", "path", "status", "reason", "group", "row_start", "n_segments",
                "first_segment_id", "sha256", "size", "mtime_ns", "duration_s")


def compact(entry: dict[str, Any]) -> dict[str, Any]:
    """The in-memory part of a ledger entry."""
    return {k: entry.get(k) for k in COMPACT_KEYS}


def recording_row(e: dict[str, Any]) -> dict[str, Any]:
    """One row of recordings.parquet from a full ledger entry."""
    row = {k: e.get(k) for k in RECORDING_COLUMNS}
    row["n_channels"] = len(e.get("channels") or [])
    row["channels"] = ";".join(e.get("channels") or [])
    for k in ("channels_renamed", "channels_dropped", "notes"):
        row[k] = json.dumps(e.get(k) or ({} if k != "notes" else []), sort_keys=True)
    if row["sfreq_in"] is not None and row["sfreq_in"] != row["sfreq_in"]:  # NaN stays NaN
        row["sfreq_in"] = float("nan")
    return row


class StoreMismatch(RuntimeError):
    """The existing store was made with other parameters (the message says which)."""


def store_parameters(cfg: ShardConfig) -> dict[str, Any]:
    """What fixes the content of a store: preprocessing and storage format, with the values in
    effect (:meth:`~streamdistill.config.StoreFormatConfig.in_effect`)."""
    return {"preprocess": asdict(cfg.preprocess), "store": cfg.store.in_effect()}


def parameter_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``section.key: store has X, this run Y`` for every parameter of ``new`` that the store's
    recorded ``old`` parameters contradict. A key the store predates counts as what was done
    before it existed: ``store.shuffle`` was byte shuffle for blosc codecs, nothing otherwise."""
    legacy = {("store", "shuffle"):
              "shuffle" if str(old.get("store", {}).get("compressor", "")).startswith("blosc-")
              else None}
    diffs = []
    for section in ("preprocess", "store"):
        for key, value in new[section].items():
            was = old.get(section, {}).get(key, legacy.get((section, key)))
            if was != value:
                diffs.append(f"{section}.{key}: store has {was!r}, this run {value!r}")
    return diffs


class StoreWriter:
    """Open (create or resume) a store for committing; see the module docstring."""

    def __init__(self, root: str | Path, cfg: ShardConfig, max_pending: int = 256):
        self.layout = StoreLayout(Path(root))
        self.cfg = cfg
        #: ``--durable``: fsync rows, parts and ledger lines (see ``ShardConfig.durable``).
        self.durable = cfg.durable
        #: Zarr shard files written since the last ledger line (synced before it if durable).
        self._unsynced: set[Path] = set()
        self._arrays: dict[str, Any] = {}
        self.params = store_parameters(cfg)
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.layout.parts.mkdir(exist_ok=True)
        self.layout.staging.mkdir(exist_ok=True)
        self._check_parameters()
        self.root = open_root(self.layout)
        self.group_rows: dict[str, int] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        #: Compact ledger entries (COMPACT_KEYS): the full ones, with channel reports and notes,
        #: stay on disk, so memory per input file is a few hundred bytes.
        self.entries: list[dict[str, Any]] = []
        for e in iter_ledger(self.layout.ledger):
            if e["status"] == "ok":
                self._register_group(e)
                self.group_rows[e["group"]] = e["row_start"] + e["n_segments"]
            self.entries.append(compact(e))
        self.next_segment_id = sum(e["n_segments"] for e in iter_ok(self.entries))
        #: Rows on disk per group, rows waiting for a full shard, entries waiting for the ledger.
        self.written: dict[str, int] = dict(self.group_rows)
        self.buffers: dict[str, np.ndarray] = {}
        self.pending: list[dict[str, Any]] = []
        self.max_pending = max_pending
        self._repair()
        if not self.layout.store_json.exists():
            self._write_store_json()

    # ---------------------------------------------------------------- resume
    def _check_parameters(self) -> None:
        if not self.layout.store_json.exists():
            if self.layout.ledger.exists():
                raise StoreMismatch(f"{self.layout.root}: ledger without store.json; not a store")
            return
        info = json.loads(self.layout.store_json.read_text())
        if info.get("format_version") != STORE_FORMAT_VERSION:
            raise StoreMismatch(
                f"{self.layout.root}: store format {info.get('format_version')}, this version "
                f"writes {STORE_FORMAT_VERSION}; shard into a new --out"
            )
        old = info.get("parameters", {})
        diffs = parameter_differences(old, self.params)
        if diffs:
            raise StoreMismatch(
                f"--out {self.layout.root} was made with other parameters ("
                + "; ".join(diffs)
                + "). Use the same config to add to it, or a new --out."
            )
        self.params = old  # the store keeps its own record (and so its fingerprint's part)

    def _repair(self) -> None:
        """Undo what a killed commit left beyond the ledger."""
        groups_node = self.root.get("groups")
        if groups_node is not None:
            for name in list(groups_node.group_keys()):
                node = groups_node[name]
                if "x" in node:
                    truncate(node["x"], self.group_rows.get(name, 0))
        n = len(self.entries)
        for part in self.layout.parts.glob("*.parquet"):
            if part.stem.isdigit() and int(part.stem) >= n:
                part.unlink()
        for tmp in self.layout.root.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def done(self) -> dict[str, dict[str, Any]]:
        """Ledger entries by input path."""
        return {e["path"]: e for e in self.entries}

    # ---------------------------------------------------------------- commit
    def _register_group(self, e: dict[str, Any]) -> None:
        g = e["group"]
        if g not in self.groups:
            self.groups[g] = {
                "channels": list(e["channels"]),
                "n_channels": len(e["channels"]),
                "n_times": int(e["n_times"]),
                "sfreq": float(e["sfreq_out"]),
                "window_s": float(e["window_s"]),
                "stride_s": float(e["stride_s"]),
            }

    def commit(self, result: dict[str, Any]) -> dict[str, Any]:
        """Commit one recording's result (any status); returns its (pending) ledger entry.

        Rows are written to Zarr in whole shards; the last, partial shard's rows wait in memory
        (at most one shard per group) until more rows arrive or :meth:`flush`, so a corpus of
        short recordings does not rewrite its last shard once per recording. A recording's
        ledger line — its commit point — is appended once all its rows are on disk and every
        earlier recording is committed (ids follow input order). Until then its staging files
        stay, so a kill loses no processing.
        """
        rid = len(self.entries) + len(self.pending)
        entry = {k: v for k, v in result.items()
                 if k not in ("starts", "clipped", "staged", "rows")}
        entry.update(recording_id=rid, first_segment_id=-1, row_start=-1)
        if result["status"] == "ok":
            self._register_group(result)
            g = result["group"]
            info = self.groups[g]
            n = int(result["n_segments"])
            row0 = self.group_rows.get(g, 0)
            rows = result.get("rows")  # held in memory by an in-process run, else staged
            self._write_rows(g, rows if rows is not None else StagedRows(result["staged"], n))
            first = self.next_segment_id
            part = pa.Table.from_arrays(
                [
                    column(np.arange(first, first + n, dtype=np.int64), pa.int64()),
                    repeated(g, n),
                    column(np.arange(row0, row0 + n, dtype=np.int64), pa.int64()),
                    column(np.full(n, rid, dtype=np.int64), pa.int64()),
                    repeated(result["dataset"], n),
                    repeated(result["subject"], n),
                    repeated(result["session"], n),
                    column(np.asarray(result["starts"], np.float64) / info["sfreq"],
                           pa.float64()),
                    column(np.asarray(result["clipped"], bool), pa.bool_()),
                ],
                schema=SEGMENT_SCHEMA,
            )
            atomic_write(self.layout.part(rid), lambda tmp: pq.write_table(part, tmp),
                         fsync=self.durable)
            entry.update(first_segment_id=first, row_start=row0)
            self.group_rows[g] = row0 + n
            self.next_segment_id = first + n
        self.pending.append(entry)
        self._drain()
        if len(self.pending) >= self.max_pending:
            self.flush()
        return entry

    def _array(self, g: str):
        """The group's array, opened (or created) once per run: this process is its only
        writer, and Zarr updates the object's shape in place on ``resize``; opening it again
        per commit read three metadata files each time."""
        arr = self._arrays.get(g)
        if arr is None:
            info = self.groups[g]
            arr = self._arrays[g] = require_group_array(
                self.root, g, info["n_channels"], info["n_times"],
                dtype=self.cfg.store.dtype, compressor_name=self.cfg.store.compressor,
                clevel=self.cfg.store.level(), shuffle=self.cfg.store.shuffle,
                shard_mb=self.cfg.store.shard_mb,
            )
        return arr

    def _write_rows(self, g: str, source: StagedRows) -> None:
        """Write whole shards of (buffered rows + ``source``); keep the remainder buffered."""
        arr = self._array(g)
        shard_rows = arr.shards[0] if arr.shards else arr.chunks[0]
        buffered = self.buffers.get(g)
        rows = ChainedRows(buffered, source) if buffered is not None else source
        start = self.written.get(g, arr.shape[0])
        aligned_end = (start + rows.shape[0]) // shard_rows * shard_rows
        n_now = max(aligned_end - start, 0)
        if n_now:
            append_rows(arr, start, rows, n=n_now)
            self._written_shards(g, start, start + n_now, shard_rows)
            self.written[g] = start + n_now
        else:
            self.written[g] = start
        # A copy: a view would keep a whole in-memory recording alive for its last rows.
        self.buffers[g] = np.array(rows[n_now:])

    def flush(self) -> None:
        """Write every group's buffered rows (partial shards) and commit what is pending."""
        for g, rows in self.buffers.items():
            if rows is not None and rows.shape[0]:
                start = self.written[g]
                arr = self._array(g)
                append_rows(arr, start, rows)
                self._written_shards(g, start, start + rows.shape[0],
                                     arr.shards[0] if arr.shards else arr.chunks[0])
                self.written[g] = start + rows.shape[0]
        self.buffers = {}
        self._drain()

    def _written_shards(self, g: str, start: int, stop: int, shard_rows: int) -> None:
        """Note the shard files rows ``[start, stop)`` of group ``g`` went to (``--durable``)."""
        if not self.durable or stop <= start:
            return
        x = self.layout.zarr / "groups" / g / "x"
        meta = self._array(g).metadata.to_dict()
        self._unsynced.add(x / "zarr.json")
        for i in range(start // shard_rows, (stop - 1) // shard_rows + 1):
            self._unsynced.add(shard_path(x, meta, i))

    def _sync_rows(self) -> None:
        """fsync the shard files written since the last ledger line (``--durable`` only)."""
        for path in sorted(self._unsynced):
            if path.exists():
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._unsynced.clear()

    def _drain(self) -> None:
        """Append ledger lines for the pending prefix whose rows are all on disk."""
        while self.pending:
            e = self.pending[0]
            if e["status"] == "ok" and e["row_start"] + e["n_segments"] > self.written.get(
                    e["group"], 0):
                return
            if self._unsynced:
                self._sync_rows()
            append_entry(self.layout.ledger, e, fsync=self.durable)
            self.entries.append(compact(self.pending.pop(0)))
            key = staging_key(e["path"])
            for suffix in (".npy", ".json"):
                (self.layout.staging / f"{key}{suffix}").unlink(missing_ok=True)

    # ---------------------------------------------------------------- finalize
    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps(self.params, sort_keys=True).encode())
        for e in self.entries:
            h.update(f"{e['path']}|{e['sha256']}|{e['status']}|{e['n_segments']}\n".encode())
        return h.hexdigest()

    def _write_store_json(self) -> None:
        groups = {}
        for g, info in sorted(self.groups.items()):
            n = self.group_rows.get(g, 0)
            groups[g] = dict(info, n_segments=n, hours=round(n * info["stride_s"] / 3600, 6))
        atomic_write_json(
            self.layout.store_json,
            {
                "format_version": STORE_FORMAT_VERSION,
                "kind": "streamdistill segment store",
                "units": "uV",
                "dtype": self.cfg.store.dtype,
                "n_segments": self.next_segment_id,
                "n_recordings": len(self.entries),
                "groups": groups,
                "parameters": self.params,
                "fingerprint": self.fingerprint(),
                "versions": package_versions(),
            },
        )

    def finalize(self) -> None:
        """Flush, then write ``segments.parquet``, ``recordings.parquet`` and ``store.json`` from
        the ledger (streamed: one recording's part in memory at a time)."""
        self.flush()

        def write_segments(tmp: Path) -> None:
            with pq.ParquetWriter(tmp, SEGMENT_SCHEMA) as writer:
                for e in iter_ok(self.entries):
                    writer.write_table(pq.ParquetFile(self.layout.part(e["recording_id"])).read())

        atomic_write(self.layout.segments, write_segments)
        def write_recordings(tmp: Path) -> None:
            with pq.ParquetWriter(tmp, RECORDING_SCHEMA) as writer:
                batch: list[dict[str, Any]] = []
                for e in iter_ledger(self.layout.ledger):
                    batch.append(recording_row(e))
                    if len(batch) == 4096:
                        writer.write_table(arrow_table(batch, RECORDING_SCHEMA))
                        batch = []
                writer.write_table(arrow_table(batch, RECORDING_SCHEMA))

        atomic_write(self.layout.recordings, write_recordings)
        self._write_store_json()
