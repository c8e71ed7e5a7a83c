"""Streaming mini-batches of one montage group from a segment store (bounded memory).

The order is a pure function of ``(seed, epoch, rows)``:

1. the group's Zarr shards are visited in a permutation drawn from ``default_rng([seed, epoch])``;
2. each shard is read with one slab read and its selected rows pushed into a shuffle buffer of
   ``buffer_size`` rows; once full, every new row evicts a uniformly drawn one;
3. evicted rows are grouped into batches of ``batch_size`` (``drop_last`` as EEG-DLite).

Memory: ``buffer_size + batch_size × (prefetch + 1)`` segments plus one shard, whatever the store
size.
A background thread reads ahead (``prefetch`` batches) so I/O overlaps compute; it does not change
the order.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

import numpy as np

from streamdistill.store.arrays import batched_codecs
from streamdistill.store.segment_store import SegmentStore

T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """``x: (B, C, T)`` float32 µV; ``rows``: their rows in the group array."""

    x: np.ndarray
    rows: np.ndarray


def shard_spans(n_rows: int, shard_rows: int) -> list[tuple[int, int]]:
    """``[start, stop)`` row spans of each Zarr shard of a group."""
    return [(a, min(a + shard_rows, n_rows)) for a in range(0, n_rows, shard_rows)]


def buffer_shuffle(items: Iterable[T], rng: np.random.Generator, buffer_size: int) -> Iterator[T]:
    """Bounded shuffle: fill a buffer of ``buffer_size`` items; then each new item evicts a
    uniformly drawn one; finally the rest leaves in random order. Memory: ``buffer_size`` items."""
    buffer: list[T] = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        j = int(rng.integers(buffer_size))
        yield buffer[j]
        buffer[j] = item
    for j in rng.permutation(len(buffer)):
        yield buffer[j]


class GroupBatches:
    """Iterable of :class:`Batch` over one group for one epoch (see the module docstring).

    The shuffle buffer holds rows in the store dtype (float16 by default), so memory is
    ``buffer_size × C × T × 2`` bytes plus one shard and the prefetched batches.
    """

    def __init__(
        self,
        store: SegmentStore,
        group: str,
        *,
        batch_size: int,
        seed: int,
        epoch: int,
        rows: np.ndarray | None = None,
        buffer_size: int = 2048,
        drop_last: bool = True,
        prefetch: int = 2,
    ):
        self.arr = store.array(group)
        shard_rows = self.arr.shards[0] if self.arr.shards else self.arr.chunks[0]
        self.spans = shard_spans(self.arr.shape[0], shard_rows)
        self.rows = None if rows is None else np.sort(np.asarray(rows, np.int64))
        self.batch_size, self.seed, self.epoch = batch_size, seed, epoch
        self.buffer_size, self.drop_last, self.prefetch = buffer_size, drop_last, prefetch

    def __len__(self) -> int:
        n = self.arr.shape[0] if self.rows is None else len(self.rows)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _rows_in_shard_order(self, rng: np.random.Generator) -> Iterator[tuple[int, np.ndarray]]:
        for k in rng.permutation(len(self.spans)):
            a, b = self.spans[k]
            if self.rows is None:
                rows = np.arange(a, b)
            else:
                rows = self.rows[np.searchsorted(self.rows, a) : np.searchsorted(self.rows, b)]
            if len(rows) == 0:
                continue
            with batched_codecs(b - a):
                slab = np.asarray(self.arr[a:b])
            for r in rows:
                # a copy: a view would keep the whole slab alive while the row waits in the buffer
                yield int(r), slab[r - a].copy()

    def _produce(self) -> Iterator[Batch]:
        rng = np.random.default_rng([self.seed, self.epoch])
        xs: list[np.ndarray] = []
        rows: list[int] = []
        for r, x in buffer_shuffle(self._rows_in_shard_order(rng), rng, self.buffer_size):
            xs.append(x)
            rows.append(r)
            if len(rows) == self.batch_size:
                yield Batch(np.stack(xs).astype(np.float32), np.asarray(rows, np.int64))
                xs, rows = [], []
        if rows and not self.drop_last:
            yield Batch(np.stack(xs).astype(np.float32), np.asarray(rows, np.int64))

    def __iter__(self) -> Iterator[Batch]:
        if self.prefetch <= 0:
            yield from self._produce()
            return
        yield from prefetch(self._produce(), self.prefetch)


_DONE = object()


def prefetch(it: Iterator, depth: int) -> Iterator:
    """Run ``it`` in a background thread, ``depth`` items ahead; same items, same order.

    Exceptions in the producer are re-raised in the consumer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
