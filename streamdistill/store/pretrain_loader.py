"""Pretraining data loader: batches of selected segments streamed from a segment store or a
WebDataset export, deterministic, shardable across DDP ranks and DataLoader workers, resumable.

>>> ds = SelectedBatches("corpus.store", open_selection("sel").subset(10), batch_size=64,
...                      seed=0, rank=rank, world_size=world)            # doctest: +SKIP
>>> loader = make_dataloader(ds, num_workers=2)                          # doctest: +SKIP
>>> for epoch in range(ds.state().epoch, epochs):                        # doctest: +SKIP
...     ds.set_epoch(epoch)
...     for batch in loader:            # {"x": (B, C, T) µV float32, "group", "channels",
...         ...                         #  "segment_ids": (B,) int64}
...         ckpt["loader"] = ds.state()

**Order** (DESIGN.md, "Pretraining"; the order of ``store/loader.py``'s ``GroupBatches``, computed
on ids only). The epoch's *plan* — which segment ids form which batch, in which order — is a pure
function of ``(seed, epoch, source, segment_ids, batch_size, shuffle_buffer, drop_last)``:

1. per montage group, the selected segments are listed in storage order inside each storage unit
   (a Zarr shard of the store, a tar of a WebDataset export), units in a permutation drawn from
   ``default_rng([seed, epoch, k])`` (``k``: the group's index in name order);
2. this list passes through a bounded shuffle buffer of ``shuffle_buffer`` items (each new item
   evicts a uniformly drawn one, as :func:`~streamdistill.store.loader.buffer_shuffle`) and is
   cut into batches of ``batch_size`` (the last, short one dropped with ``drop_last``);
3. the groups' batch streams are interleaved by a seeded permutation of the multiset of group
   labels (each group appears as often as it has batches: proportional, exact counts).

The plan costs O(selected ids) int64 and reads no data, so every process computes the same one:
DDP rank ``r`` of ``W`` takes plan batches ``r, r + W, …``, truncated to ``⌊n_batches / W⌋`` on
every rank; a resumed epoch skips ``batches_done`` of them without reading anything; DataLoader
worker ``w`` of ``nw`` takes this rank's remaining batches ``w, w + nw, …``, which PyTorch's
in-order round robin hands back in plan order (the same batches for any ``num_workers``).

**Reading.** Shuffling happens on ids, so no data sits in a shuffle buffer: a worker reads exactly
the segments of its batch, each once per epoch, whatever shards the shuffle window spans. One
segment is one inner chunk of a Zarr shard: :class:`ShardReader` reads it with one ``preadv`` of
its byte range (from the shard index), decodes it (``store/chunk_codecs.py``: blosc via blosc2
or numcodecs, zstd via numcodecs; nothing to decode for ``compressor: none``) into a one-segment
scratch that stays in cache, and converts it fp16 → fp32 with one ``copy_`` into its row of the
batch — or, with ``x_dtype="store"`` (what ``pretrain`` uses on a GPU, which then casts),
decodes straight into its row. The batch lives in a reused slot of shared
memory (:class:`SlotPool`), so handing it to the main process neither copies nor page-faults.
Stores of another layout fall back to Zarr's own partial reads (:class:`ZarrReader`); WebDataset
tars are read by byte range the same way (their ``x.npy`` payloads are uncompressed). Shard files
stay open in a bounded LRU (``max_open_shards`` file descriptors and shard indexes, no data).
Each worker reads ahead along its own list of batches (:meth:`SelectedBatches._read_ahead`):
while one batch decodes, the kernel is already fetching the next batch's segments and the
shard indexes of the one after (``posix_fadvise(WILLNEED)``; no data is held by us), which
matters most where the store is larger than RAM and every epoch is a first read.
Memory per worker: the plan, one segment of scratch and the batches in flight — not the shuffle
window, not the store.

Cost per segment (64 ch × 800 samples, one core; docs/benchmarks.md, "loader" and "codec"):
decoding the store's default codec (blosc-lz4 + bit-shuffle) takes ≈ 35–45 µs, about half of
the whole per-segment path; a zstd-1 store (the earlier default, the same size on real EEG)
takes ≈ 110 µs to decode and reads at about half the rate. A store sharded with
``--compressor none`` skips decoding (4–8% larger).

Use :func:`make_dataloader` rather than a plain ``DataLoader``: it computes the plan before the
workers fork, keeps the workers across epochs (each pass tells them its epoch and resume point
through a few shared bytes, and the plan is a pure function of those, so a persistent worker
needs nothing else; their open shard files and indexes stay warm), hands batches back through the
slot pool and counts them for :meth:`SelectedBatches.state`. From ``iter(loader)`` to the first
batch takes ≈ 35–90 ms on the machines measured (forking two workers, ≈ 15–20 ms, PyTorch's
set-up of each worker, then its first batch, which also allocates its first 13-MB slot: ≈ 4
ms against 1 ms to refill it). That is about a third of a one-epoch run over a 5% selection of
the benchmark's 22-h store, and is paid once per loader (docs/benchmarks.md, "loader"). Each
worker grows its file-descriptor table for the shard files it will hold before its first batch
(:func:`~streamdistill.store.segment_sources.reserve_descriptors`): growing it later, once the
worker runs a second thread, stalled it ≈ 16 ms in the middle of such an epoch.
"""

from __future__ import annotations

import gc
import hashlib
import mmap
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from streamdistill.store.chunk_codecs import preload_decoders
from streamdistill.store.segment_sources import (
    LoaderError,
    ShardReader,
    ZarrReader,
    open_source,
    reserve_descriptors,
)

__all__ = [
    "X_DTYPES",
    "LoaderError",
    "LoaderState",
    "Plan",
    "SelectedBatches",
    "ShardReader",
    "SlotPool",
    "ZarrReader",
    "epoch_plan",
    "loader_fingerprint",
    "make_dataloader",
]


#: What ``x`` may hold (:class:`SelectedBatches`'s ``x_dtype``).
X_DTYPES = ("float32", "store")


@dataclass
class LoaderState:
    """Where a rank stands: ``batches_done`` batches of ``epoch`` already consumed. Goes into the
    training checkpoint; ``SelectedBatches(..., state=...)`` resumes there."""

    epoch: int = 0
    batches_done: int = 0


def loader_fingerprint(store_fingerprint: str, segment_ids: np.ndarray) -> str:
    """SHA-256 (16 hex) of a store fingerprint and sorted int64 selected ids: equal digests mean
    the same segments of the same store content."""
    h = hashlib.sha256(str(store_fingerprint).encode())
    h.update(np.ascontiguousarray(segment_ids, dtype="<i8").tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """One epoch's batches, all ranks: batch ``j`` is group ``groups[j]`` (index into the source's
    group names), ids ``ids[starts[j]:starts[j + 1]]`` in batch order."""

    ids: np.ndarray  # (n_items,) int64
    starts: np.ndarray  # (n_batches + 1,) int64
    groups: np.ndarray  # (n_batches,) int32

    @property
    def n_batches(self) -> int:
        return len(self.groups)


def _bounded_shuffle(items: np.ndarray, rng: np.random.Generator, buffer: int) -> np.ndarray:
    """:func:`~streamdistill.store.loader.buffer_shuffle` on an index array (same rule, draws
    made in one call): the first ``buffer`` items fill the buffer, each later one evicts a
    uniformly drawn slot, the rest leaves in random order."""
    n = len(items)
    buffer = max(1, int(buffer))
    if n <= buffer:
        return items[rng.permutation(n)]
    slots = items[:buffer].tolist()
    rest = items[buffer:].tolist()
    out = []
    append = out.append
    for j, item in zip(rng.integers(buffer, size=n - buffer).tolist(), rest):
        append(slots[j])
        slots[j] = item
    tail = np.asarray(slots, np.int64)[rng.permutation(buffer)]
    return np.concatenate([np.asarray(out, np.int64), tail])


def epoch_plan(layouts: list[tuple[np.ndarray, np.ndarray]], *, batch_size: int, seed: int,
               epoch: int, shuffle_buffer: int, drop_last: bool) -> Plan:
    """The plan of one epoch (module docstring) from each group's ``(ids, units)``: selected ids in
    storage order and the storage unit (shard) of each, units non-decreasing."""
    ids_parts, sizes, labels = [], [], []
    for k, (ids, units) in enumerate(layouts):
        rng = np.random.default_rng([seed, epoch, k])
        bounds = np.flatnonzero(np.diff(units)) + 1
        runs = np.split(ids, bounds) if len(ids) else []
        visit = np.concatenate([runs[u] for u in rng.permutation(len(runs))]) if runs else ids
        visit = _bounded_shuffle(visit, rng, shuffle_buffer)
        n_full, rest = divmod(len(visit), batch_size)
        batch_sizes = [batch_size] * n_full + ([rest] if rest and not drop_last else [])
        ids_parts.append(visit[: sum(batch_sizes)])
        sizes.append(np.asarray(batch_sizes, np.int64))
        labels.append(len(batch_sizes))
    group_of = np.repeat(np.arange(len(layouts), dtype=np.int32), labels)
    group_of = group_of[np.random.default_rng([seed, epoch, 2**32 - 1]).permutation(len(group_of))]
    # plan batch j is the next unused batch of its group: fill each group's positions in order
    lo = np.zeros(len(group_of), np.int64)
    ln = np.zeros(len(group_of), np.int64)
    offset = 0
    for k, s in enumerate(sizes):
        mine = group_of == k
        ln[mine] = s
        lo[mine] = offset + np.cumsum(s) - s
        offset += int(s.sum())
    starts = np.concatenate([[0], np.cumsum(ln)]).astype(np.int64)
    flat = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int64)
    take = np.arange(starts[-1], dtype=np.int64) + np.repeat(lo - starts[:-1], ln)
    return Plan(ids=flat[take], starts=starts, groups=group_of)


# --------------------------------------------------------------------------------- batches


class SlotRef(NamedTuple):
    """A batch's ``x`` while it crosses from a worker to the main process: slot ``k`` of the
    loader's :class:`SlotPool`, shape ``(B, C, T)``, numpy dtype name."""

    slot: int
    shape: tuple[int, int, int]
    dtype: str = "float32"


#: ``madvise`` advice that allocates a range's pages for writing in one call (Linux ≥ 5.14;
#: Python names it from 3.13 on): ``None`` where mmap has no ``madvise``.
_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23) \
    if sys.platform.startswith("linux") and hasattr(mmap.mmap, "madvise") else None


def _release(busy: np.ndarray, k: int) -> None:
    busy[k] = 0


class SlotPool:
    """Reused batch buffers in shared anonymous memory, mapped before workers fork.

    A fresh tensor per batch costs page faults, and one in shared memory (what PyTorch's worker
    queue needs) costs as much as decoding the batch (measured: docs/benchmarks.md, "loader").
    Here worker ``w`` of ``n_owners`` fills a free slot of its own range ``[w · per, (w + 1) ·
    per)`` and sends only its number; the main process wraps the slot in a tensor whose death
    frees the slot (a ``weakref.finalize`` on the numpy view under it). A worker with no free
    slot falls back to a fresh shared tensor, so a consumer that keeps batches never blocks it.

    A slot's pages are allocated when it is first written. :meth:`writable` asks the kernel to
    allocate them in one call (``madvise(MADV_POPULATE_WRITE)``, Linux ≥ 5.14; elsewhere the
    first write faults them in page by page): a worker's first fill of a 13-MB batch measured
    3.0–4.1 ms against 3.6–5.4 ms faulted, and 0.6–1.0 ms for a refill (docs/benchmarks.md,
    "loader").
    """

    def __init__(self, n_slots: int, slot_bytes: int, n_owners: int = 1):
        self.slot_bytes = -(-int(slot_bytes) // 4096) * 4096
        self.n_slots, self.n_owners = int(n_slots), max(1, int(n_owners))
        self.mem = mmap.mmap(-1, self.n_slots * self.slot_bytes + self.n_slots)  # MAP_SHARED
        self.busy = np.frombuffer(self.mem, np.uint8, self.n_slots,
                                  self.n_slots * self.slot_bytes)
        self.fallbacks = 0
        #: bytes of each slot this process has populated (a worker writes only its own range)
        self._populated = np.zeros(self.n_slots, np.int64)

    def acquire(self, owner: int = 0) -> int | None:
        """A free slot of ``owner``'s range, marked busy (``None``: all busy)."""
        per = self.n_slots // self.n_owners
        for k in range(owner * per, (owner + 1) * per):
            if not self.busy[k]:
                self.busy[k] = 1
                return k
        self.fallbacks += 1
        return None

    def view(self, k: int, shape: tuple[int, ...], dtype="float32") -> np.ndarray:
        return np.frombuffer(self.mem, dtype, int(np.prod(shape)),
                             k * self.slot_bytes).reshape(shape)

    def writable(self, k: int, shape: tuple[int, ...], dtype="float32") -> np.ndarray:
        """:meth:`view` of slot ``k`` for a worker to write, the pages it needs allocated at once
        on their first use (class docstring)."""
        nbytes = -(-int(np.prod(shape)) * np.dtype(dtype).itemsize // 4096) * 4096
        if self._populated[k] < nbytes:
            start, self._populated[k] = int(self._populated[k]), nbytes
            if _POPULATE_WRITE is not None:
                try:
                    self.mem.madvise(_POPULATE_WRITE, k * self.slot_bytes + start,
                                     nbytes - start)
                except (OSError, ValueError):  # an older kernel: the write faults them in
                    pass
        return self.view(k, shape, dtype)

    def tensor(self, ref: SlotRef) -> torch.Tensor:
        """The slot as a tensor (no copy); the slot is freed when the tensor and its views die."""
        arr = self.view(ref.slot, ref.shape, ref.dtype)
        weakref.finalize(arr, _release, self.busy, ref.slot)
        return torch.from_numpy(arr)

    def __getstate__(self):
        raise TypeError("SlotPool lives in memory shared by fork only; it cannot be pickled")


def _empty(shape: tuple[int, ...], np_dtype: np.dtype, shared: bool) -> torch.Tensor:
    """A tensor of numpy dtype ``np_dtype``, in shared memory when it has to cross to another
    process (PyTorch's pickling then moves a handle instead of copying the data)."""
    dtype = torch.from_numpy(np.empty(0, np_dtype)).dtype
    if not shared:
        return torch.empty(shape, dtype=dtype)
    try:  # allocate in shared memory directly (share_memory_() would allocate, then copy)
        storage = torch.UntypedStorage._new_shared(int(np.prod(shape)) * dtype.itemsize)
        return torch.empty(0, dtype=dtype).set_(storage, 0, shape)
    except (AttributeError, RuntimeError):  # pragma: no cover - a PyTorch without it
        return torch.empty(shape, dtype=dtype).share_memory_()


@contextmanager
def frozen_heap():
    """Inside: every object this process holds is in the garbage collector's permanent
    generation (``gc.freeze()``); on exit it goes back (``gc.unfreeze()``). A process forked
    inside inherits the freeze.

    A forked DataLoader worker inherits the whole heap of the process that forks it (PyTorch's
    own objects, and in training the model, the optimiser, the user's objects). Not frozen,
    that heap is walked by each of the worker's full collections, which the worker's own
    allocations can trigger at any batch; the walk writes to every object's header and so
    also copies the parent's pages into the worker one by one (copy-on-write). Whether and
    when it strikes depends on the parent's allocation history. Measured on this project's
    2-core VM with a parent that had listed and read the store's files before forking (one
    epoch over a 5% selection of the loader benchmark's store, 2 workers, `perf -a`):
    CPython's ``gc_collect_main`` and its visitors were the workers' largest cost, ≈ 2× the
    blosc decoding; frozen, the workers spent half as much user CPU per segment and the epoch
    ran at 9.6–10.9k instead of 5.9–6.5k segments/s warm and 8.0–8.8k instead of 5.2–5.3k
    on a first read (3 runs each). The benchmark's own child process, which does little
    before forking, saw no such collection either way. It is what Python's documentation of
    ``gc.freeze`` advises before a ``fork`` without ``exec``. The workers' own new objects are
    still collected; objects frozen in a worker are freed by reference counting as usual, only
    cycles among them stay until the worker exits.

    Where the process already holds frozen objects (its own use of ``gc.freeze``), nothing is
    changed: freezing more and unfreezing could not tell them apart."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _identity(batch):
    return batch


def _unpack(batch: dict, pool: SlotPool | None) -> dict:
    """A batch as the user sees it: ``x`` a tensor (a slot of ``pool``), ids a LongTensor."""
    if isinstance(batch["x"], SlotRef):
        batch["x"] = pool.tensor(batch["x"])
    if isinstance(batch["segment_ids"], np.ndarray):
        batch["segment_ids"] = torch.from_numpy(batch["segment_ids"])
    return batch


class SelectedBatches(IterableDataset):
    """Batches of one montage group each of the selected segments (module docstring).

    Parameters
    ----------
    source
        A segment store folder or a WebDataset export folder (``wds.json``).
    segment_ids
        Sorted unique int64 ids to train on (``None``: every segment of the source). For an
        export they must be among its samples.
    batch_size, seed, shuffle_buffer, drop_last
        The plan (module docstring). ``shuffle_buffer`` counts ids; no data is buffered.
    rank, world_size
        DDP share: plan batches ``rank, rank + world_size, …``, equal counts on every rank.
    state
        Resume: start ``state.epoch`` after its ``state.batches_done`` batches.
    max_open_shards
        Shard (or tar) files a reader keeps open per group, with their indexes (no data).
    x_dtype
        ``"float32"`` (default): ``x`` is float32 µV, each segment converted in the worker.
        ``"store"``: ``x`` keeps the store's dtype (float16 µV for the default store, float32
        for a store sharded with ``dtype: float32``) and the consumer converts it —
        ``x.to(device).float()`` on a GPU, which also halves the host → device copy. LaBraM's
        own loader likewise hands over what its files hold (float64) and casts on the GPU.
        ``pretrain`` uses ``"store"`` on CUDA and ``"float32"`` on the CPU. Measured with two
        workers on 2 cores (`perf`, first read of a 5% selection): the conversion was ≈ 15% of
        the workers' CPU, and float32 doubles the batch memory they fill; docs/benchmarks.md,
        "loader", has both variants side by side.

    Yields dicts ``{"x": (B, C, T) µV (``x_dtype``), "group": str, "channels": tuple[str, ...],
    "segment_ids": (B,) int64}``.
    """

    def __init__(self, source: str | Path, segment_ids: np.ndarray | None = None, *,
                 batch_size: int, seed: int = 0, shuffle_buffer: int = 2048, rank: int = 0,
                 world_size: int = 1, drop_last: bool = True, state: LoaderState | None = None,
                 max_open_shards: int = 256, x_dtype: str = "float32"):
        if x_dtype not in X_DTYPES:
            raise LoaderError(f"x_dtype must be one of {', '.join(X_DTYPES)} (got {x_dtype!r})")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise LoaderError(f"batch_size must be a positive integer (got {batch_size!r})")
        if world_size < 1 or not 0 <= rank < world_size:
            raise LoaderError(f"rank must be in [0, world_size) (got rank {rank}, world_size "
                              f"{world_size})")
        if seed < 0 or shuffle_buffer < 0:
            raise LoaderError(f"seed and shuffle_buffer must be >= 0 (got {seed}, "
                              f"{shuffle_buffer})")
        ids = None
        if segment_ids is not None:
            ids = np.asarray(segment_ids)
            if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
                raise LoaderError(f"segment_ids must be a 1-D integer array (got {ids.dtype} "
                                  f"{ids.shape})")
            ids = np.sort(ids.astype(np.int64))
            if len(ids) > 1 and np.any(ids[1:] == ids[:-1]):
                raise LoaderError("segment_ids holds duplicates; pass each selected id once")
        self.source_path = Path(source)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.shuffle_buffer = int(shuffle_buffer)
        self.rank, self.world_size, self.drop_last = int(rank), int(world_size), bool(drop_last)
        self._max_open = int(max_open_shards)
        self.x_dtype = x_dtype
        self._source = open_source(self.source_path, ids, self._max_open)
        preload_decoders()  # here, not in each forked worker on its first segment
        if len(self._source.ids) == 0:
            raise LoaderError(f"empty selection: no segment to train on in {self.source_path}")
        self._layouts = self._source.layouts()
        counts = [len(ids) for ids, _ in self._layouts]
        n_plan = sum((c // self.batch_size) if self.drop_last else -(-c // self.batch_size)
                     for c in counts)
        self._per_rank = n_plan // self.world_size
        if self._per_rank == 0:
            raise LoaderError(
                f"{len(self._source.ids)} selected segments ({dict(zip(self.group_names, counts))}"
                f" per group) make {n_plan} batch(es) of {self.batch_size} (drop_last="
                f"{self.drop_last}) for {self.world_size} rank(s): none per rank. Lower "
                "batch_size or select more segments")
        state = state or LoaderState(0, 0)
        if not 0 <= state.batches_done <= self._per_rank or state.epoch < 0:
            raise LoaderError(f"state {state} does not fit this loader ({self._per_rank} batches "
                              "per epoch per rank): was it saved with another batch size, "
                              "selection or world size?")
        self._epoch, self._done = int(state.epoch), int(state.batches_done)
        self._resume_pending = state.batches_done > 0
        self._plan: tuple[int, Plan] | None = None
        self._pool: SlotPool | None = None  # set by make_dataloader's loader around the fork
        #: ``[epoch, batches_done]`` of the current pass in memory shared with persistent
        #: workers (set by make_dataloader's loader around the fork, like the pool).
        self._pass: np.ndarray | None = None

    # ------------------------------------------------------------------ public
    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self._source.groups]

    @property
    def source_kind(self) -> str:
        """``store`` or ``wds`` (their plans differ: resume with the same kind of source)."""
        return self._source.kind

    @property
    def segment_ids(self) -> np.ndarray:
        """The sorted selected ids (int64)."""
        return self._source.ids

    @property
    def fingerprint(self) -> str:
        """:func:`loader_fingerprint` of the source's store fingerprint and the selected ids."""
        return loader_fingerprint(self._source.fingerprint, self._source.ids)

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first batch — or, right after resuming from a state of this
        very epoch, from where that state stopped."""
        if not (self._resume_pending and epoch == self._epoch):
            self._done = 0
        self._epoch = int(epoch)
        self._resume_pending = False

    def batches_per_epoch(self) -> int:
        """Batches this rank yields in a whole epoch (equal on every rank)."""
        return self._per_rank

    def __len__(self) -> int:
        return self._per_rank

    def state(self) -> LoaderState:
        """Epoch and batches handed out so far (counted in this process: by ``__iter__``, or by
        :func:`make_dataloader`'s loader when workers read)."""
        return LoaderState(self._epoch, self._done)

    def plan(self, epoch: int | None = None) -> Plan:
        """The whole plan (all ranks) of ``epoch`` (default: the current one); cached."""
        epoch = self._epoch if epoch is None else int(epoch)
        if self._plan is None or self._plan[0] != epoch:
            self._plan = (epoch, epoch_plan(
                self._layouts, batch_size=self.batch_size, seed=self.seed, epoch=epoch,
                shuffle_buffer=self.shuffle_buffer, drop_last=self.drop_last))
        return self._plan[1]

    def rank_batches(self) -> np.ndarray:
        """Plan batch numbers of this rank's whole epoch, in order."""
        return self.rank + self.world_size * np.arange(self._per_rank, dtype=np.int64)

    def reader(self, group: str):
        """This process's reader of ``group`` (``decoded``, ``files.peak``: for checks)."""
        return self._source.reader(group)

    # ------------------------------------------------------------------ reading
    def read_batch(self, j: int, *, shared: bool = False, pool: SlotPool | None = None,
                   owner: int = 0) -> dict:
        """Plan batch ``j`` (reads exactly its segments). ``x`` goes into a slot of ``pool`` if
        one is free (and is then a :class:`SlotRef`), else into a new tensor (``shared``: in
        shared memory)."""
        plan = self.plan()
        ids = plan.ids[plan.starts[j]:plan.starts[j + 1]]
        g = self._source.groups[int(plan.groups[j])]
        shape = (len(ids), len(g.channels), g.n_times)
        dtype = self._x_dtype(g)
        slot = pool.acquire(owner) if pool is not None else None
        x = _empty(shape, dtype, shared) if slot is None else \
            torch.from_numpy(pool.writable(slot, shape, dtype.name))
        self._source.read_into(g.name, ids, x.numpy() if dtype == g.dtype else x)
        if slot is not None:  # ids travel pickled by value; the loader makes the tensor
            return {"x": SlotRef(slot, shape, dtype.name), "group": g.name,
                    "channels": g.channels, "segment_ids": ids.copy()}
        seg = torch.from_numpy(ids.copy())
        if shared:
            seg.share_memory_()
        return {"x": x, "group": g.name, "channels": g.channels, "segment_ids": seg}

    def _begin(self) -> None:
        """Before a pass: a finished epoch starts over (as DistributedSampler repeats an epoch
        without ``set_epoch``); the plan is computed here, so forked workers share it."""
        self._resume_pending = False
        if self._done >= self._per_rank:
            self._done = 0
        self.plan()

    def _x_dtype(self, g) -> np.dtype:
        """The dtype of ``x`` for group ``g``'s batches (``x_dtype``)."""
        return np.dtype(np.float32) if self.x_dtype == "float32" else np.dtype(g.dtype)

    def _slot_bytes(self) -> int:
        return max(self.batch_size * len(g.channels) * g.n_times * self._x_dtype(g).itemsize
                   for g in self._source.groups)

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        if info is not None:  # a worker's copy; make_dataloader's loader counts in the main
            if self._pass is not None:  # a persistent worker: this pass's epoch and start
                self._epoch, self._done = (int(v) for v in self._pass)
            self.plan()
            self._reserve_descriptors()  # before the first batch makes the worker threaded
            mine = self.rank_batches()[self._done + info.id::info.num_workers].tolist()
            for p, j in enumerate(mine):
                self._read_ahead(mine, p)
                yield self.read_batch(j, shared=True, pool=self._pool, owner=info.id)
            return
        self._begin()
        self._reserve_descriptors()  # threaded already (torch's): one growth, not one per doubling
        pool = SlotPool(3, self._slot_bytes())  # the batch in use, the previous one, the next
        batches = self.rank_batches()[self._done:].tolist()
        for p, j in enumerate(batches):
            self._read_ahead(batches, p)
            batch = _unpack(self.read_batch(j, pool=pool), pool)
            self._done += 1
            yield batch

    def _reserve_descriptors(self) -> None:
        """Grow this process's descriptor table for what a pass holds open: the LRU's shard
        files, as many opened ahead, and the interpreter's own (:func:`reserve_descriptors`)."""
        reserve_descriptors(2 * self._max_open + 64)

    def _read_ahead(self, batches: list[int], p: int) -> None:
        """Before reading ``batches[p]``: announce the byte ranges of ``batches[p + 1]`` (whose
        shard indexes were announced one batch earlier) and the shard indexes of
        ``batches[p + 2]`` (at ``p = 0``: the indexes of the next two). So on a first read
        the disk serves the next batch's segments and the one after's indexes while this
        batch decodes, instead of each batch waiting for its own two round trips (indexes,
        then data); on cached data it costs ≈ 2 µs per segment."""
        plan = self.plan()
        steps = ((p + 1, 1), (p + 2, 1)) if p == 0 else ((p + 1, 2), (p + 2, 1))
        for q, step in steps:
            if q < len(batches):
                j = batches[q]
                self._source.read_ahead(self._source.groups[int(plan.groups[j])].name,
                                        plan.ids[plan.starts[j]:plan.starts[j + 1]], step)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_pool"] = state["_pass"] = None
        return state

    def __del__(self) -> None:
        try:
            self._source.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class _PlanLoader(DataLoader):
    """A DataLoader over :class:`SelectedBatches`: prepares each pass in the main process (plan,
    slot pool and pass record, before the workers fork), tells persistent workers the pass's
    epoch and start, and counts the batches it hands out."""

    _pool: SlotPool | None = None
    _pass: np.ndarray | None = None
    _forked = False

    def __iter__(self):
        ds: SelectedBatches = self.dataset
        ds._begin()
        if self.num_workers == 0:
            return super().__iter__()  # the dataset's own __iter__ runs here and counts
        if not self._forked:
            if _start_method(self) == "fork" and not self.pin_memory:
                per = self.prefetch_factor + 2  # in flight + the batch in use + the previous
                self._pool = SlotPool(per * self.num_workers, ds._slot_bytes(), self.num_workers)
            if self.persistent_workers:
                self._pass = np.frombuffer(mmap.mmap(-1, 16), np.int64)  # MAP_SHARED
        if self._pass is not None:  # read by each worker when this pass resumes it
            self._pass[:] = (ds._epoch, ds._done)
        ds._pool, ds._pass = self._pool, self._pass
        try:
            # First pass: forks the workers, which inherit the pool, the pass record and the
            # plan. Later passes (persistent): resumes them; a slot held by a batch of an
            # abandoned pass stays busy, and its worker falls back to fresh tensors. Workers
            # forked here start with this process's heap frozen (frozen_heap).
            with frozen_heap():
                it = super().__iter__()
        finally:
            ds._pool = ds._pass = None
        self._forked = True
        return self._count(it, ds, self._pool)

    @staticmethod
    def _count(it, ds: SelectedBatches, pool: SlotPool | None):
        for batch in it:
            batch = _unpack(batch, pool)
            ds._done += 1
            yield batch


def _start_method(loader: DataLoader) -> str:
    ctx = loader.multiprocessing_context
    return ctx.get_start_method() if ctx is not None else \
        torch.multiprocessing.get_start_method()


def make_dataloader(ds: SelectedBatches, *, num_workers: int = 2, prefetch_factor: int = 4,
                    pin_memory: bool = False, persistent: bool = True) -> DataLoader:
    """A DataLoader over ``ds`` (``batch_size=None``: the dataset makes the batches).

    Make it once and iterate it once per epoch, after :meth:`SelectedBatches.set_epoch`: each
    pass starts at that epoch and resume point. ``persistent`` (default; needs the ``fork``
    start method, else workers start per pass) keeps the workers between passes and tells them
    the epoch through shared memory. LaBraM's DataLoader starts its workers per epoch
    (``persistent=False`` here); keeping them saves their start-up, which is most of an epoch
    over a small selection. Batches come back through a :class:`SlotPool` (with ``fork`` and
    ``pin_memory=False``; otherwise through PyTorch's shared-memory tensors). ``ds.state()``
    counts the batches this loader has handed out.
    """
    kw = {"prefetch_factor": prefetch_factor} if num_workers > 0 else {}
    # Persistent only where the workers share the pass record with the main process.
    persistent = bool(persistent and num_workers > 0
                      and torch.multiprocessing.get_start_method() == "fork")
    return _PlanLoader(ds, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                       persistent_workers=persistent, collate_fn=_identity, **kw)
