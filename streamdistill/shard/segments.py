"""Cut a stream of preprocessed blocks into fixed windows (DESIGN.md window rule).

A montage group with C channels is cut into windows of ``min(256 // C, 16)`` seconds, so that
``C × seconds ≈ 256`` one-second patches (LaBraM's patch budget), stride equal to the window unless
configured. A window is dropped, and counted, if any of its samples derives from a non-finite input
sample or if no channel changes value anywhere in it (flat); nothing else is dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from streamdistill.shard.preprocess import Block
from streamdistill.store.arrays import FLOAT16_MAX


def window_seconds(n_channels: int, override: float | None = None) -> float:
    """``min(256 // C, 16)`` seconds (EEG-DLite / LaBraM), or the configured override."""
    if override is not None:
        return float(override)
    if n_channels < 1:
        raise ValueError("a montage group needs at least one channel")
    return float(max(1, min(256 // n_channels, 16)))


def group_id(channels: tuple[str, ...]) -> str:
    """Stable name of a montage group: channel count and a hash of the ordered channel names,
    e.g. ``c64-3f2a9b10``."""
    digest = hashlib.sha1("|".join(channels).encode()).hexdigest()[:8]
    return f"c{len(channels)}-{digest}"


@dataclass(frozen=True)
class Window:
    """One kept window: ``start`` output sample, ``x: (C, T)`` µV (block dtype), ``clipped``:
    some value was clipped to the store dtype's range."""

    start: int
    x: np.ndarray
    clipped: bool = False


@dataclass
class WindowCounts:
    """Windows seen and dropped for one recording."""

    total: int = 0
    dropped_nonfinite: int = 0
    dropped_flat: int = 0


def iter_windows(
    blocks: Iterable[Block], n_times: int, stride: int, counts: WindowCounts
) -> Iterator[Window]:
    """Yield the kept windows of consecutive blocks, in time order; update ``counts``.

    Holds at most one block plus one window of samples.
    """
    buf: np.ndarray | None = None
    bad = np.zeros(0, bool)
    changed = np.zeros(0, bool)
    clipped = np.zeros(0, bool)
    buf_start = 0
    next_start = 0
    for block in blocks:
        if buf is None:
            buf, buf_start = block.data, block.start
        else:
            buf = np.concatenate([buf, block.data], axis=1)
        bad = np.concatenate([bad, block.bad])
        changed = np.concatenate([changed, block.changed])
        block_clipped = block.clipped if block.clipped is not None else np.zeros(
            len(block.bad), bool)
        clipped = np.concatenate([clipped, block_clipped])
        end = buf_start + buf.shape[1]
        while next_start + n_times <= end:
            a = next_start - buf_start
            counts.total += 1
            if bad[a : a + n_times].any():
                counts.dropped_nonfinite += 1
            elif not changed[a + 1 : a + n_times].any():
                counts.dropped_flat += 1
            else:
                yield Window(start=next_start, x=buf[:, a : a + n_times],
                             clipped=bool(clipped[a : a + n_times].any()))
            next_start += stride
        cut = min(next_start, end) - buf_start
        buf, bad, changed, clipped = buf[:, cut:], bad[cut:], changed[cut:], clipped[cut:]
        buf_start += cut


def to_storage_block(block: Block, dtype: str) -> Block:
    """Cast a block to the store dtype once (C order), recording per sample whether a float16
    value had to be clipped to ±65504 µV (cheaper than casting every window of a strided view)."""
    data = block.data
    over = np.zeros(data.shape[1], bool)
    # Two SIMD reductions first: the per-sample test runs only for a block that needs clipping.
    # (Written so that a NaN, for which every comparison is False, also takes the full path.)
    if dtype == "float16" and data.size and not (
            data.max() <= FLOAT16_MAX and data.min() >= -FLOAT16_MAX):
        over = (np.abs(data) > FLOAT16_MAX).any(axis=0)
        data = np.clip(data, -FLOAT16_MAX, FLOAT16_MAX)
    out = np.empty(data.shape, dtype=dtype)
    out[...] = data
    return Block(block.start, out, block.bad, block.changed, over)


def to_storage(x: np.ndarray, dtype: str) -> tuple[np.ndarray, bool]:
    """Cast a window to the store dtype; float16 values beyond ±65504 µV are clipped.

    Returns ``(array, clipped)``.
    """
    if dtype == "float16":
        clipped = bool(np.abs(x).max() > FLOAT16_MAX)
        if clipped:
            x = np.clip(x, -FLOAT16_MAX, FLOAT16_MAX)
        return x.astype(np.float16), clipped
    return x.astype(dtype), False
