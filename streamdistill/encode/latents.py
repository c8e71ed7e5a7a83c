"""Streamed encoding of a whole store into ``latents.npy`` (DESIGN.md, "Latent array").

``latents.npy`` is float32 ``(N, 64)`` in ``segment_id`` order (a standard ``.npy`` that
``np.lib.format.open_memmap`` opens). Each group is encoded in fixed row blocks
``[k·B, (k+1)·B)`` of its array (``B = encode_batch``), read in storage order; rows are written at
their segment ids with positioned writes (no memory map, so resident memory stays one block).
After every block the file is synced and ``latents.json`` (checkpoint hashes, store fingerprint,
blocks done per group) is replaced atomically. A killed run resumes at the first block not
recorded, and since blocks are fixed the result equals an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from streamdistill.io_utils import atomic_write_json, sha256_file
from streamdistill.store.segment_store import SegmentStore

LATENTS_FORMAT_VERSION = 1


class LatentsMismatch(RuntimeError):
    """Existing latents were made from another store or another checkpoint."""


def _header_bytes(path: Path) -> int:
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        read = (np.lib.format.read_array_header_1_0 if major == 1
                else np.lib.format.read_array_header_2_0)
        read(fh)
        return fh.tell()


def create_latents(path: Path, n_rows: int, dim: int) -> None:
    """A sparse ``(n_rows, dim)`` float32 ``.npy`` (NaN-free zeros until written)."""
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, dim))


def _runs(ids: np.ndarray) -> list[tuple[int, int]]:
    """Split sorted-by-position ids into runs of consecutive ids: ``[(i, j), ...]``."""
    cuts = np.flatnonzero(np.diff(ids) != 1) + 1
    bounds = np.concatenate([[0], cuts, [len(ids)]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def write_rows(fd: int, header: int, ids: np.ndarray, values: np.ndarray) -> None:
    """Write ``values[i]`` (float32, ``(n, dim)``) at row ``ids[i]`` of an open latents file."""
    row_bytes = values.shape[1] * 4
    for a, b in _runs(ids):
        os.pwrite(fd, np.ascontiguousarray(values[a:b], np.float32).tobytes(),
                  header + int(ids[a]) * row_bytes)


def encode_block(model, block: np.ndarray, device: torch.device, amp: bool) -> np.ndarray:
    """Latents ``(n, 64)`` float32 of ``block: (n, C, T)`` float32 µV (bf16 autocast on CUDA
    when ``amp``)."""
    x = torch.from_numpy(block).to(device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                         enabled=amp and device.type == "cuda"):
        z = model.encode(x)
    return z.float().cpu().numpy()


def _prefetched_blocks(store: SegmentStore, group: str, first: int, n_blocks: int,
                       block_rows: int) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Yield ``(k, start, stop, rows)`` for blocks ``first..n_blocks-1`` of ``group``.

    ``rows`` is ``(stop - start, C, T)`` float32 µV. The next block is read on a background thread
    while the caller encodes the current one (Zarr decoding releases the GIL), so on a fast device
    the encode rate approaches the store's read rate instead of read + model in series. At most
    two blocks are in memory.
    """
    n = store.groups[group].n_segments
    spans = [(k, k * block_rows, min((k + 1) * block_rows, n)) for k in range(first, n_blocks)]
    if not spans:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode-read") as pool:
        pending = pool.submit(store.read_rows, group, spans[0][1], spans[0][2])
        for i, (k, a, b) in enumerate(spans):
            block = pending.result()
            if i + 1 < len(spans):
                pending = pool.submit(store.read_rows, group, spans[i + 1][1], spans[i + 1][2])
            yield k, a, b, block


def encode_store(
    store: SegmentStore,
    out_dir: Path,
    models: dict[str, Path],
    *,
    encode_batch: int,
    device: torch.device,
    amp: bool = True,
    dim: int = 64,
    progress: bool = True,
) -> dict[str, Any]:
    """Encode every group of ``store`` with its compressor (``models[group]`` = weights file).

    Returns the final ``latents.json`` content. Raises :class:`LatentsMismatch` when existing
    latents in ``out_dir`` come from another store, checkpoint or block size.
    """
    from streamdistill.encode.train import load_compressor

    out_dir.mkdir(parents=True, exist_ok=True)
    npy, meta_path = out_dir / "latents.npy", out_dir / "latents.json"
    hashes = {g: sha256_file(p) for g, p in sorted(models.items())}
    meta: dict[str, Any] = {
        "format_version": LATENTS_FORMAT_VERSION,
        "store": str(store.path),
        "store_fingerprint": store.fingerprint,
        "n_segments": store.n_segments,
        "dim": dim,
        "dtype": "float32",
        "checkpoints": hashes,
        "encode_batch": encode_batch,
        "blocks_done": {g: 0 for g in sorted(models)},
        "rows_done": {g: 0 for g in sorted(models)},
        "complete": False,
    }
    if meta_path.exists() and npy.exists():
        old = json.loads(meta_path.read_text())
        if old.get("store_fingerprint") != store.fingerprint:
            raise LatentsMismatch(
                f"{npy} holds latents of another store (fingerprint "
                f"{str(old.get('store_fingerprint'))[:12]}…, this store {store.fingerprint[:12]}…); "
                "use a new --out")
        if old.get("checkpoints") != hashes:
            raise LatentsMismatch(
                f"{npy} was encoded with other compressor checkpoints; use a new --out, or "
                "delete latents.npy/latents.json to re-encode")
        if old.get("encode_batch") != encode_batch:
            raise LatentsMismatch(
                f"{npy} was encoded in blocks of {old.get('encode_batch')} rows, not "
                f"{encode_batch}; pass --encode-batch {old.get('encode_batch')} to resume")
        meta["blocks_done"].update(old.get("blocks_done", {}))
        meta["rows_done"].update(old.get("rows_done", {}))
    else:
        create_latents(npy, store.n_segments, dim)
        atomic_write_json(meta_path, meta)
    header = _header_bytes(npy)
    total = sum(store.groups[g].n_segments for g in models)
    done = sum(meta["rows_done"].values())
    bar = tqdm(total=total, initial=done, desc="encode", unit="seg", disable=not progress)
    fd = os.open(npy, os.O_WRONLY)
    try:
        for g in sorted(models):
            arr = store.array(g)
            n = arr.shape[0]
            n_blocks = -(-n // encode_batch)
            if meta["blocks_done"][g] >= n_blocks:
                continue
            model = load_compressor(models[g], device)
            for k, a, b, block in _prefetched_blocks(store, g, meta["blocks_done"][g], n_blocks,
                                                     encode_batch):
                z = encode_block(model, block, device, amp)
                ids = store.segment_ids_of_rows(g, a, b)
                write_rows(fd, header, ids, z)
                os.fsync(fd)
                meta["blocks_done"][g] = k + 1
                meta["rows_done"][g] = b
                atomic_write_json(meta_path, meta)
                bar.update(b - a)
    finally:
        os.close(fd)
        bar.close()
    meta["complete"] = all(meta["rows_done"][g] == store.groups[g].n_segments for g in models)
    atomic_write_json(meta_path, meta)
    return meta
