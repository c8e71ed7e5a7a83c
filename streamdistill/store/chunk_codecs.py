"""Compress and decompress one inner chunk (one segment) of a group array outside Zarr.

The segment store's inner codec chain is ``bytes`` (little endian) then at most one
bytes-to-bytes codec: ``zstd`` or ``blosc`` (``store/arrays.py: compressor``). The writer's fast
path (``store/shard_files.py``) and the readers (``store/segment_sources.py``) call numcodecs
directly with the parameters recorded in the array's ``zarr.json``, one call per segment,
instead of Zarr's asynchronous pipeline; the bytes are the ones Zarr writes and reads (tested).

Blosc runs single-threaded here (``numcodecs.blosc.use_threads = False``, i.e. a private
context per call): every stage already runs one process per core, blosc's global thread pool
would only contend with the other processes, and it is not safe across ``fork`` (DataLoader
workers, shard workers).

Blosc chunks are decoded by python-blosc2 (C-Blosc2, which reads Blosc1 chunks, bit for bit
the output of numcodecs; tested) where it is installed, one thread per call
(``decompress2(..., nthreads=1)``): its bit-unshuffle picks the CPU's AVX2/AVX-512 code at run
time, where numcodecs' wheels carry only the SSE2 one. Measured on this project's VM (AVX-512),
one core, 64 × 800 fp16 segments of the default codec: ≈ 29–34 µs per segment against
≈ 41–53 µs with numcodecs (docs/benchmarks.md, "loader", has both side by side); the
pretraining loader over a whole cached store, 2 workers, fp16 batches, ran ≈ 15% faster with it
(27.3–29.7k against 22.8–25.4k segments/s, 4 interleaved runs each). Without blosc2 (an
environment that lacks the wheel) numcodecs decodes, with the same result. Encoding stays with numcodecs (the writer's bytes are
Zarr's). :func:`blosc_decoder` says which one is in use; importing blosc2 costs ≈ 0.25 s once
per process, so a caller about to fork workers imports it first (:func:`preload_decoders`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: ``compress(segment) -> bytes`` for one C-contiguous little-endian segment array.
Compress = Callable[[np.ndarray], bytes]
#: ``decode(src, dest)``: decompress ``src`` (bytes-like) into the writable buffer ``dest``.
Decode = Callable[[object, object], object]

_SHUFFLES = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def _blosc():
    import numcodecs.blosc as blosc

    blosc.use_threads = False
    return blosc


def _compression(codecs: list[dict]) -> dict | None | bool:
    """The one bytes-to-bytes codec after ``bytes`` (little endian) in an inner chain;
    ``None`` for none, ``False`` for any other chain."""
    if not codecs or codecs[0].get("name") != "bytes" or \
            (codecs[0].get("configuration") or {}).get("endian", "little") != "little":
        return False
    rest = codecs[1:]
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else False


def chunk_compressor(codecs: list[dict]) -> Compress | None | bool:
    """``compress`` for a whole inner chain ``[bytes(little)] + [zstd|blosc]``: ``None`` for no
    compression, ``False`` for a chain not written here."""
    codec = _compression(codecs)
    if not codec:
        return codec
    name, conf = codec.get("name"), codec.get("configuration") or {}
    if name == "zstd":
        from numcodecs.zstd import compress as zstd_compress

        level, checksum = int(conf.get("level", 0)), bool(conf.get("checksum", False))
        return lambda x: zstd_compress(x, level, checksum)
    if name == "blosc":
        try:
            cname = str(conf["cname"]).encode()
            clevel, typesize = int(conf["clevel"]), int(conf["typesize"])
            shuffle, blocksize = _SHUFFLES[conf["shuffle"]], int(conf.get("blocksize", 0))
        except (KeyError, TypeError, ValueError):
            return False
        compress = _blosc().compress
        return lambda x: compress(x, cname, clevel, shuffle, blocksize, typesize)
    return False


def _blosc2_decompress():
    """blosc2's ``decompress2`` (one thread per call), or ``None`` where blosc2 is missing."""
    try:
        from blosc2 import decompress2
    except ImportError:
        return None
    return decompress2


def blosc_decoder() -> str:
    """``"blosc2"`` or ``"numcodecs"``: which library :func:`chunk_decoder` decodes blosc with."""
    return "numcodecs" if _blosc2_decompress() is None else "blosc2"


def preload_decoders() -> None:
    """Import the decoding libraries now (in a process about to fork workers, so that each
    worker does not import them on its first segment)."""
    _blosc()
    _blosc2_decompress()


def chunk_decoder(codecs: list[dict]) -> Decode | None | bool:
    """``decode(src, dest)`` for a whole inner chain ``[bytes(little)] + [zstd|blosc]``:
    ``None`` for no compression, ``False`` for a chain not read here."""
    codec = _compression(codecs)
    if not codec:
        return codec
    if codec.get("name") == "zstd":
        from numcodecs.zstd import decompress

        return decompress
    if codec.get("name") == "blosc":
        fast = _blosc2_decompress()
        if fast is None:
            return _blosc().decompress
        return lambda src, dest: fast(src, dst=dest, nthreads=1)
    return False
