"""Zarr v3 group arrays of the segment store: creation, codecs, appends, truncation.

One array per montage group, ``groups/<gid>/x`` of shape ``(N_g, C_g, T_g)``, float16 µV by
default, one segment per inner chunk, inner chunks packed into shards of about ``shard_mb``
(Zarr v3 sharding codec) so the store holds few, large files. Only the committing process ever
writes these arrays (``shard/commit.py``): Zarr v3 has no locking, and two writers of one shard
silently lose rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr
import zarr.codecs

from streamdistill.store.layout import StoreLayout

FLOAT16_MAX = float(np.finfo(np.float16).max)


def compressor(name: str, level: int, shuffle: str = "bitshuffle") -> list[Any]:
    """Zarr v3 bytes-to-bytes codecs for a config name (``blosc-lz4``, ``zstd``, ...).

    ``shuffle`` (``bitshuffle``, ``shuffle``, ``noshuffle``) is blosc's pre-filter; blosc's
    ``typesize`` is left for Zarr to take from the dtype (2 for float16), so shuffles act on
    the real element width. ``StoreFormatConfig`` validates the names and levels."""
    if name == "none":
        return []
    if name == "zstd":
        return [zarr.codecs.ZstdCodec(level=level)]
    if name.startswith("blosc-"):
        return [zarr.codecs.BloscCodec(cname=name.split("-", 1)[1], clevel=level, shuffle=shuffle)]
    raise ValueError(f"unknown compressor {name!r}")


def segments_per_shard(n_channels: int, n_times: int, itemsize: int, shard_mb: float) -> int:
    """How many segments fill a shard of about ``shard_mb`` MB (at least 1)."""
    return max(1, int(shard_mb * 1e6) // (n_channels * n_times * itemsize))


def open_root(layout: StoreLayout, mode: str = "a") -> zarr.Group:
    """The store's Zarr root group (``segments.zarr``)."""
    return zarr.open_group(str(layout.zarr), mode=mode, zarr_format=3)


def require_group_array(
    root: zarr.Group,
    group: str,
    n_channels: int,
    n_times: int,
    *,
    dtype: str,
    compressor_name: str,
    clevel: int,
    shard_mb: float,
    shuffle: str = "bitshuffle",
) -> zarr.Array:
    """Open the group's array, creating it with shape ``(0, C, T)`` on first use."""
    node = root.require_group("groups").require_group(group)
    if "x" in node:
        arr = node["x"]
        if arr.shape[1:] != (n_channels, n_times) or str(arr.dtype) != dtype:
            raise RuntimeError(
                f"group {group}: existing array {arr.shape[1:]} {arr.dtype} does not match "
                f"({n_channels}, {n_times}) {dtype}"
            )
        return arr
    itemsize = np.dtype(dtype).itemsize
    shard_rows = segments_per_shard(n_channels, n_times, itemsize, shard_mb)
    return node.create_array(
        "x",
        shape=(0, n_channels, n_times),
        chunks=(1, n_channels, n_times),
        shards=(shard_rows, n_channels, n_times),
        dtype=dtype,
        compressors=compressor(compressor_name, clevel, shuffle),
        fill_value=0,
        dimension_names=("segment", "channel", "time"),
    )


def append_rows(arr: zarr.Array, row0: int, source: Any, n: int | None = None) -> None:
    """Write the first ``n`` rows (default: all) of ``source: (N, C, T)`` (anything with
    ``shape`` and slice reads) to rows ``[row0, row0 + n)``.

    The array is resized first; writes go in slabs aligned to shard boundaries, so every shard is
    written once per append (the shard holding ``row0`` is read, merged and rewritten by Zarr).
    Memory: one shard's worth of rows.
    """
    n = source.shape[0] if n is None else n
    if arr.shape[0] != row0:
        arr.resize((row0,) + arr.shape[1:])
    arr.resize((row0 + n,) + arr.shape[1:])
    shard_rows = arr.shards[0] if arr.shards else arr.chunks[0]
    start = row0
    end = row0 + n
    direct = _direct_writer(arr) if arr.shards else None
    with batched_codecs(shard_rows):
        while start < end:
            stop = min((start // shard_rows + 1) * shard_rows, end)
            rows = np.asarray(source[start - row0 : stop - row0], dtype=arr.dtype)
            if direct is not None and start % shard_rows == 0:
                # Every row the shard holds is new: encode the whole file here (same bytes as
                # Zarr, written atomically; store/shard_files.py).
                direct(start // shard_rows, rows)
            else:  # the shard holds earlier rows: Zarr reads, merges and rewrites it
                arr[start:stop] = rows
            start = stop


def _direct_writer(arr: zarr.Array):
    """``write(shard_index, rows)`` through :mod:`store.shard_files` for a local array in the
    layout it handles, else None."""
    from zarr.storage import LocalStore

    from streamdistill.store.shard_files import shard_encoder, shard_path, write_shard

    store_path = arr.store_path
    if not isinstance(store_path.store, LocalStore):
        return None
    meta = arr.metadata.to_dict()
    encode = shard_encoder(meta)
    if encode is None:
        return None
    array_dir = Path(store_path.store.root) / store_path.path

    def write(shard_index: int, rows: np.ndarray) -> None:
        write_shard(shard_path(array_dir, meta, shard_index), encode(rows))

    return write


def batched_codecs(rows: int):
    """Zarr config that encodes/decodes a shard's inner chunks in one batch (zarr's default
    pipeline handles one chunk per task; batching halves the cost per segment, measured in
    docs/benchmarks.md)."""
    return zarr.config.set({"codec_pipeline.batch_size": max(1, int(rows))})


def truncate(arr: zarr.Array, n_rows: int) -> None:
    """Shrink to ``n_rows`` rows (a commit cut short by a kill left rows beyond the ledger)."""
    if arr.shape[0] != n_rows:
        arr.resize((n_rows,) + arr.shape[1:])


def store_path(path: str | Path) -> StoreLayout:
    return StoreLayout(Path(path))
