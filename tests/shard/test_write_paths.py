"""The writer's fast paths: in-memory spool, no-fsync default, ``--durable``, direct shard files,
arrow columns from buffers. Each must give exactly what the plain path gives."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import zarr
import zarr.codecs

import streamdistill.store.arrays as arrays
from streamdistill.config import ShardConfig
from streamdistill.shard.arrow_columns import column, repeated, table
from streamdistill.shard.commit import RECORDING_SCHEMA
from streamdistill.shard.run import run_shard
from streamdistill.shard.staging import SpooledRows, read_rows
from streamdistill.store.arrays import append_rows, require_group_array
from streamdistill.store.shard_files import shard_encoder


def _shard(corpus: Path, out: Path, **kw) -> Path:
    cfg = ShardConfig(workers=1)
    for k, v in kw.items():
        setattr(cfg, k, v)
    run_shard([str(corpus)], out, cfg, progress=False)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("spool_mb", [0.0, 0.5])
def test_spool_sizes_give_the_same_store(small_store, small_corpus, tmp_path, spool_mb,
                                         same_store):
    """0 = every recording staged on disk; 0.5 MB = recordings spill part-way (their windows
    are 0.2–0.5 MB each and a recording has dozens); the default keeps them all in memory."""
    out = _shard(small_corpus, tmp_path / "s", spool_mb=spool_mb)
    same_store(small_store, out)
    assert _files(small_store / "segments.zarr") == _files(out / "segments.zarr")
    assert not list((out / "staging").glob("*"))


def test_spooled_rows_spill_keeps_order(tmp_path):
    rows = np.arange(10 * 2 * 3, dtype=np.float16).reshape(10, 2, 3)
    held = SpooledRows(tmp_path / "a.npy", 10, (2, 3), "float16", spool_bytes=4 * 12)
    for r in rows:
        held.append(r)
    held.close()
    assert held.spilled and held.rows is None
    assert np.array_equal(read_rows(tmp_path / "a.npy", 0, 10), rows)
    kept = SpooledRows(tmp_path / "b.npy", 10, (2, 3), "float16", spool_bytes=10 * 12)
    for r in rows:
        kept.append(r)
    kept.close()
    assert not kept.spilled and np.array_equal(kept.rows, rows)
    assert not (tmp_path / "b.npy").exists()


def test_durable_syncs_every_commit_and_default_does_not(small_store, small_corpus, tmp_path,
                                                         monkeypatch, same_store):
    synced: list[str] = []
    real_fsync = os.fsync

    def counting_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    plain = _shard(small_corpus, tmp_path / "plain")
    assert not any("/segments.zarr/" in p or p.endswith("ledger.jsonl") or "/parts/" in p
                   for p in synced), synced
    synced.clear()
    durable = _shard(small_corpus, tmp_path / "durable", durable=True)
    assert any(p.endswith("ledger.jsonl") for p in synced)
    shards = {p for p in synced if "/segments.zarr/groups/" in p and "/c/" in p}
    on_disk = {str(p) for p in (durable / "segments.zarr").rglob("c/*/0/0")}
    assert on_disk and on_disk <= shards  # every shard file was synced before its ledger line
    same_store(plain, durable)
    same_store(small_store, durable)


def _build(path: Path, pieces: list[int], x: np.ndarray, direct: bool, **codec) -> dict:
    root = zarr.open_group(str(path), mode="a", zarr_format=3)
    arr = require_group_array(root, "g", x.shape[1], x.shape[2], dtype=str(x.dtype),
                              shard_mb=codec.get("shard_mb", 0.05),
                              compressor_name=codec.get("compressor", "zstd"),
                              clevel=codec.get("clevel", 1),
                              shuffle=codec.get("shuffle", "bitshuffle"))
    if not direct:
        original = arrays._direct_writer
        arrays._direct_writer = lambda arr: None
    try:
        row = 0
        for k in pieces:
            append_rows(arr, row, x[row:row + k])
            row += k
    finally:
        if not direct:
            arrays._direct_writer = original
    assert np.array_equal(arr[:].view(np.uint8), x.view(np.uint8))
    return _files(path)


@pytest.mark.parametrize("dtype,codec", [
    ("float16", dict(compressor="zstd", clevel=1)),
    ("float32", dict(compressor="zstd", clevel=1)),
    ("float16", dict(compressor="none")),
    ("float16", dict(compressor="blosc-lz4", clevel=5, shuffle="bitshuffle")),
    ("float32", dict(compressor="blosc-lz4", clevel=5, shuffle="bitshuffle")),
    ("float16", dict(compressor="blosc-lz4", clevel=1, shuffle="shuffle")),
    ("float16", dict(compressor="blosc-zstd", clevel=3, shuffle="noshuffle")),
])
@pytest.mark.parametrize("pieces", [[60], [13, 13, 34], [5, 30, 1, 24]])
def test_direct_shards_are_zarrs_bytes(tmp_path, pieces, dtype, codec):
    """Whole shards encoded here equal Zarr's own files byte for byte, including an all-zero
    segment (not stored), a −0.0 one (stored: Zarr compares bit patterns) and partial shards,
    for every codec the store config offers."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((60, 8, 50)) * 30).astype(dtype)
    x[3] = 0
    x[17] = -0.0
    ours = _build(tmp_path / "ours", pieces, x, True, **codec)
    zarrs = _build(tmp_path / "zarr", pieces, x, False, **codec)
    assert ours.keys() == zarrs.keys()
    for name in ours:
        assert ours[name] == zarrs[name], name


def test_other_layouts_fall_back_to_zarr(tmp_path):
    """A chain the direct writer does not produce (here gzip) gets no encoder, and appends go
    through Zarr."""
    root = zarr.open_group(str(tmp_path / "b"), mode="a", zarr_format=3)
    node = root.require_group("groups").require_group("g")
    arr2 = node.create_array("y", shape=(0, 4, 10), chunks=(1, 4, 10), shards=(5, 4, 10),
                             dtype="float16", fill_value=0,
                             compressors=[zarr.codecs.GzipCodec(level=1)])
    assert shard_encoder(arr2.metadata.to_dict()) is None
    x = np.ones((7, 4, 10), np.float16)
    append_rows(arr2, 0, x)
    assert np.array_equal(arr2[:], x)


def test_arrow_columns_equal_pyarrow_tables():
    rows = [
        {"recording_id": 0, "path": "a/b.edf", "format": "edf", "size": 10, "mtime_ns": 5,
         "sha256": "ab", "dataset": "d", "subject": "S1", "session": None, "status": "ok",
         "reason": "", "group": "c64", "n_channels": 64, "channels": "FP1;FP2",
         "channels_renamed": "{}", "channels_dropped": "{}", "sfreq_in": 160.0,
         "duration_s": 12.5, "n_windows": 3, "n_segments": 3, "n_dropped_nonfinite": 0,
         "n_dropped_flat": 0, "n_clipped": 0, "first_segment_id": 0, "row_start": 0,
         "notes": "[]"},
        {"recording_id": 1, "path": "é/ü.fif", "format": "fif", "size": -1, "mtime_ns": -1,
         "sha256": None, "dataset": "d", "subject": None, "session": None, "status": "failed",
         "reason": "cannot read", "group": None, "n_channels": 0, "channels": "",
         "channels_renamed": "{}", "channels_dropped": "{}", "sfreq_in": float("nan"),
         "duration_s": None, "n_windows": None, "n_segments": None,
         "n_dropped_nonfinite": None, "n_dropped_flat": None, "n_clipped": None,
         "first_segment_id": -1, "row_start": -1, "notes": "[\"x\"]"},
    ]
    ours = table(rows, RECORDING_SCHEMA)
    theirs = pa.Table.from_pylist(rows, RECORDING_SCHEMA)
    for name in RECORDING_SCHEMA.names:  # (Table.equals: NaN != NaN)
        a, b = ours.column(name), theirs.column(name)
        assert a.is_null().equals(b.is_null()), name
        assert str(a.to_pylist()) == str(b.to_pylist()), name
    assert ours.to_pylist()[1]["sfreq_in"] != ours.to_pylist()[1]["sfreq_in"]  # NaN kept
    assert column(np.array([True, False, True]), pa.bool_()).to_pylist() == [True, False, True]
    assert repeated("S001", 3).to_pylist() == ["S001"] * 3
    assert repeated(None, 2).null_count == 2
