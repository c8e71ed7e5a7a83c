"""Benchmark of the pretraining loader (``streamdistill/store/pretrain_loader.py``) against a
loader built as LaBraM's pretraining reads its data.

Usage (from the repository root)::

    python -m tools.bench.bench_loader                    # full run, writes docs/benchmarks.md
    python -m tools.bench.bench_loader --quick --no-doc   # smoke test (small store, 1 run)

Inputs (built once into ``--cache``, default ``/tmp/streamdistill-loader-bench``): one synthetic
64-channel 200-Hz recording (``streamdistill.synth.generate_corpus``, EDF), hard-linked ``k``
times under distinct paths and sharded with ``streamdistill shard --workers 2`` (defaults: 4-s
windows → 64 ch × 800 samples, fp16, blosc-lz4 + bit-shuffle, 4-MB shards); full: 2 h × 24
copies ≈ 40,400 segments (≈ 20 × the default 2,048-id shuffle window), so that the 5% selection
is an epoch of ≈ 2,000 segments: with ≈ 1,000 (12 copies) the ≈ 40 ms start-up of two
DataLoader workers was a third of a first-read epoch. The LaBraM-style HDF5 (float64) is then
16.5 GB, which still fits this machine's page cache for the reference's warm runs. The same
store sharded with ``--compressor zstd`` (the codec before blosc-lz4 became the default) and with
``--compressor none``, for the codec rows. The reference input is LaBraM's
``make_h5dataset_for_pretrain.py`` layout: one HDF5 file for the dataset, one group per recording
with ``eeg`` = float64 ``(C, T)`` µV, chunks ``(C, 200)``, uncompressed, holding exactly the
store's segments (concatenated, stride = window).

Measured, one epoch per run, each in a child process (:func:`tools.bench.common.run_measured`:
peak RSS of the process tree from psutil polling, background load):

* **ours**: ``SelectedBatches(store, ids, batch_size=64)`` (default shuffle window 2,048) through
  ``make_dataloader(num_workers=2, prefetch_factor=4)``; and, in the warm / first-read and
  training rows, the same with ``x_dtype="store"`` (fp16 batches: what ``pretrain`` hands to a
  GPU, which casts them);
* **reference**: LaBraM's ``ShockDataset`` read path — ``f[recording]['eeg'][:, s:s + 800]`` per
  item through h5py (the file opened once per worker process), ``Subset`` of the selected ids,
  ``DataLoader(batch_size=64, shuffle=True, num_workers=2, drop_last=True)``, default collate
  (float64 batches, as LaBraM's loader returns them before ``.float()`` on the GPU).

Selections are random subsets (5 / 25 / 100% of the ids, seeded), the same ids for both; one
more first-read row of 2.5% (:data:`SHORT_FRACTION`: how the rate depends on the epoch's
length) and one warm 5% row whose children are not primed (:data:`UNPRIMED`). The
consumer only counts the batches. segments/s = selected segments delivered / seconds from
``iter(loader)`` to the last batch (worker start-up and our epoch plan included), median of
``--runs``. **Warm**: every file read once beforehand (page cache). **First read**: the page
cache of every file of the store / the HDF5 file is dropped with
``os.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`` before each run (no root needed; pages
mapped by other processes would stay). Every measured child, ours and the reference, touches and
releases :data:`PRIME_MB` of fresh memory before its timer (:func:`prime_memory`: on a VM with
free page reporting, memory freed by the drops and warms comes back only through host faults).

Disk floor: every file of the store read sequentially (4-MB reads, 1 and 2 threads) right after
its page cache was dropped — the most any first read of the whole store can deliver here. Disk
floor of a selection: right after each first-read run, exactly the selected segments' byte
ranges read with no decoding, page cache dropped, by 32 threads of blocking reads and by
windows of 256 ranges announced with ``posix_fadvise(WILLNEED)``; the better of the two.

Training use (several epochs from one loader, as ``pretrain`` iterates; :func:`training_runs`):
:data:`EPOCHS` epochs per run, the rate over epochs 2…; warm, and first read every epoch (the
page cache dropped and the child primed again before each epoch, outside the timer: every
epoch of a store larger than the page cache), the latter with a disk floor run after each run.

Time to first batch: from ``iter(loader)`` to the first batch, ours and the reference. Cores
busy and waiting for the disk (iowait) over each first epoch, the whole machine's
(:func:`machine_cores_busy`): whether a cell is bound by the CPUs or by the disk. Page
cache idle cost (in the pinned child): the 5% selection's cached ranges read right after an
earlier read of them, and again after 1.5 s of idle.

Where the time goes (one child pinned to one CPU): decoding alone, per codec (every inner
chunk of the first shards, bytes already in memory; the default codec also through numcodecs,
the anchor of blosc2), ``store.read_rows`` (Zarr's pipeline),
the fp16 → fp32 copy of one segment, our loader in-process (``num_workers=0``; the whole store and
the 5% selection), and the cost of one 13-MB float32 batch written into a fresh shared mapping, a
reused one, and a fresh tensor moved to shared memory (PyTorch's default hand-over). Each
one-epoch run of ours also records how long ``iter(loader)`` takes (the workers' fork) and how
many batch slots the workers wrote.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tools.bench.common import (
    REPO_ROOT,
    cached_store,
    dir_bytes,
    fmt_bytes,
    machine_info,
    machine_table,
    md_table,
    median,
    run_measured,
    usable_cores,
    wait_for_quiet,
    publish,
)

DEFAULT_CACHE = Path("/tmp/streamdistill-loader-bench")
DOC = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = "loader"
PACKAGES = ("streamdistill", "torch", "numpy", "zarr", "numcodecs", "blosc2", "h5py",
            "psutil")
#: (seconds per recording, hard-linked copies)
FULL = (7200.0, 24)
QUICK = (1800.0, 2)
FRACTIONS = (5.0, 25.0, 100.0)
#: An extra first-read row: a selection half the size of the 5% one (an epoch of ≈ 1,000
#: segments, as the 5% selection was on the 12-copy store published before), to show how the
#: first-read rate depends on the epoch's length (a fixed start-up spread over its segments).
SHORT_FRACTION = 2.5
#: An extra warm row, ours and the reference, whose children do not prime their memory
#: (:func:`prime_memory`), so that the VM's effect stays visible.
UNPRIMED = "warm-unprimed"
#: Stores built from the same recordings (store format settings): the default codec, zstd
#: level 1, and no compression.
STORES = {"default": {}, "zstd": {"compressor": "zstd"}, "none": {"compressor": "none"}}
#: Selections measured over several epochs from one loader (training use), and the epochs.
TRAIN_FRACTIONS = (5.0, 25.0, 100.0)
EPOCHS = 4
BATCH = 64
WORKERS = 2
SEED = 0
WINDOW = 800
#: Threads (queue depth) and announced window (ranges) of the disk floor of a selection.
FLOOR_THREADS = 32
FLOOR_WINDOW = 256
#: MiB of fresh memory each measured child touches and releases before its timer
#: (:func:`prime_memory`).
PRIME_MB = 256
#: Seconds of idle before re-reading cached ranges (page-cache idle cost).
IDLE_S = 1.5


def log(msg: str) -> None:
    print(f"[bench_loader {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- inputs


def build_inputs(cache: Path, duration_s: float, copies: int) -> dict[str, Path]:
    """Corpus → linked copies → stores (:data:`STORES`) → LaBraM-style HDF5 (each built
    once)."""
    from streamdistill.synth import generate_corpus

    tag = f"{duration_s:g}s_x{copies}"
    corpus = cache / f"corpus_{duration_s:g}s"
    if not (corpus / "done").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        log(f"generating one 64-ch recording of {duration_s:g} s")
        generate_corpus(corpus, n_subjects=1, recordings_per_subject=1, montages=(64,),
                        sfreqs=(200.0,), duration_s=duration_s, formats=("edf",), seed=SEED)
        (corpus / "done").write_text("ok")
    (src,) = sorted(corpus.rglob("*.edf"))
    inputs = cache / f"in_{tag}"
    if not (inputs / "done").exists():
        shutil.rmtree(inputs, ignore_errors=True)
        for j in range(copies):
            dst = inputs / f"copy{j:02d}" / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)
        (inputs / "done").write_text("ok")
    out = {comp: cached_store([inputs], cache / f"store_{tag}_{comp}", settings=settings,
                              workers=2, log=log) for comp, settings in STORES.items()}
    h5 = cache / f"labram_{tag}.h5"
    if not h5.with_name(h5.name + ".done").exists():
        log(f"writing the LaBraM-style HDF5 {h5}")
        write_labram_h5(out["default"], h5)
        h5.with_name(h5.name + ".done").write_text("ok")
    out["h5"] = h5
    return out


def write_labram_h5(store_path: Path, h5_path: Path) -> None:
    """The store's segments as LaBraM stores a dataset: one group per recording (in segment-id
    order), ``eeg`` float64 ``(C, n · W)`` µV, chunks ``(C, 200)``. Streams one recording."""
    import h5py
    import numpy as np

    from streamdistill.store import open_store

    store = open_store(store_path)
    rec = store.recordings()
    rec = rec[(rec["status"] == "ok") & (rec["n_segments"] > 0)].sort_values("first_segment_id")
    tmp = h5_path.with_name(h5_path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        for r in rec.itertuples():
            first, n = int(r.first_segment_id), int(r.n_segments)
            g = store.groups[r.group]
            dset = f.create_group(f"rec{first:09d}").create_dataset(
                "eeg", shape=(g.n_channels, n * g.n_times), dtype="float64",
                chunks=(g.n_channels, 200))
            for a in range(0, n, 256):
                b = min(a + 256, n)
                x = store.read_rows(r.group, int(r.row_start) + a, int(r.row_start) + b)
                dset[:, a * g.n_times:b * g.n_times] = np.concatenate(list(x), axis=1)
            dset.attrs["chOrder"] = list(g.channels)
    os.replace(tmp, h5_path)


def files_of(path: Path) -> list[Path]:
    return [path] if path.is_file() else [Path(r) / f for r, _d, fs in os.walk(path) for f in fs]


def drop_cache(path: Path) -> None:
    """Drop the page cache of every file under ``path`` (``POSIX_FADV_DONTNEED``)."""
    for f in files_of(path):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm_cache(path: Path) -> None:
    """Read every file under ``path`` once (into the page cache)."""
    for f in files_of(path):
        with open(f, "rb") as fh:
            while fh.read(16 << 20):
                pass


def disk_floor(store: Path, n_segments: int, runs: int) -> dict:
    """Sequential first read of every file of ``store`` (page cache dropped before each run)
    with 1 and 2 threads: the most a first read of the whole store can deliver here."""
    from concurrent.futures import ThreadPoolExecutor

    files = files_of(store)
    total = sum(f.stat().st_size for f in files)

    def read(f: Path) -> None:
        with open(f, "rb", buffering=0) as fh:
            while fh.read(4 << 20):
                pass

    out = {"bytes": total}
    for threads in (1, 2):
        secs = []
        for _ in range(runs):
            drop_cache(store)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(read, files))
            secs.append(time.perf_counter() - t0)
        out[f"threads_{threads}"] = {"mb_s": total / median(secs) / 1e6,
                                     "segments_s": n_segments / median(secs)}
    return out


def selection_ranges(store: Path, ids) -> list[tuple[str, int, int]]:
    """``(shard file, offset, nbytes)`` of each selected segment's inner chunk, storage order."""
    from streamdistill.store import open_store
    from streamdistill.store.pretrain_loader import ShardReader

    st = open_store(store)
    (g,) = st.groups
    reader = ShardReader.open(st.layout.zarr / st.layout.group_array_path(g))
    _, rows = st.locate(ids)
    out, index, last = [], None, -1
    for row in sorted(rows.tolist()):
        k, j = divmod(row, reader.shard_rows)
        if k != last:
            fd, index = reader._open((reader._key, k))
            os.close(fd)
            last = k
        out.append((reader._key.format(k), index[2 * j], index[2 * j + 1]))
    return out


def _read_range(spec: tuple[str, int, int]) -> None:
    path, off, n = spec
    fd = os.open(path, os.O_RDONLY)
    try:
        os.preadv(fd, [bytearray(n)], off)
    finally:
        os.close(fd)


def _read_threaded(ranges: list[tuple[str, int, int]]) -> None:
    """Every range with its own blocking ``preadv``, :data:`FLOOR_THREADS` threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(FLOOR_THREADS) as ex:
        list(ex.map(_read_range, ranges))


def _read_announced(ranges: list[tuple[str, int, int]]) -> None:
    """One thread: each window of :data:`FLOOR_WINDOW` ranges announced with
    ``posix_fadvise(WILLNEED)``, then read in order."""
    fds: dict[str, int] = {}
    buf = memoryview(bytearray(max(n for _, _, n in ranges)))
    try:
        for a in range(0, len(ranges), FLOOR_WINDOW):
            window = ranges[a:a + FLOOR_WINDOW]
            for p, off, n in window:
                if p not in fds:
                    fds[p] = os.open(p, os.O_RDONLY)
                os.posix_fadvise(fds[p], off, n, os.POSIX_FADV_WILLNEED)
            for p, off, n in window:
                os.preadv(fds[p], [buf[:n]], off)
    finally:
        for fd in fds.values():
            os.close(fd)


def floor_run(store: Path, ranges: list[tuple[str, int, int]]) -> dict[str, float]:
    """One measurement of the disk floor of a selection: segments/s of reading exactly its byte
    ranges (storage order, no decoding), the store's page cache dropped before each way of
    reading — blocking reads from :data:`FLOOR_THREADS` threads, and windows of
    :data:`FLOOR_WINDOW` ranges announced with ``posix_fadvise(WILLNEED)`` then read. The
    better one (``best``) is what the disk serves for these scattered ranges right now: the
    most a first read of the selection can deliver."""
    out = {}
    for name, read in (("threads", _read_threaded), ("announced", _read_announced)):
        drop_cache(store)
        t0 = time.perf_counter()
        read(ranges)
        out[name] = len(ranges) / (time.perf_counter() - t0)
    out["best"] = max(out.values())
    return out


# ---------------------------------------------------------------------------------- children


def selection(n: int, fraction: float):
    import numpy as np

    k = max(BATCH, int(round(fraction / 100.0 * n)))
    rng = np.random.default_rng([SEED, int(fraction * 1000)])
    return np.sort(rng.choice(n, size=min(k, n), replace=False)).astype(np.int64)


class LabramH5:
    """LaBraM's ``ShockDataset`` read path for one HDF5 file: ``bisect`` over per-recording item
    offsets, then ``file[recording]['eeg'][:, start:start + window]`` (float64, per item)."""

    def __init__(self, path: str, window: int = WINDOW):
        import h5py

        self.path, self.window, self.file = path, window, None
        with h5py.File(path, "r") as f:
            self.subjects = sorted(f)
            counts = [f[s]["eeg"].shape[1] // window for s in self.subjects]
        self.global_idxes = [0]
        for c in counts[:-1]:
            self.global_idxes.append(self.global_idxes[-1] + c)
        self.length = sum(counts)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int):
        if self.file is None:  # once per worker process
            import h5py

            self.file = h5py.File(self.path, "r")
        s = bisect.bisect(self.global_idxes, idx) - 1
        start = (idx - self.global_idxes[s]) * self.window
        return self.file[self.subjects[s]]["eeg"][:, start:start + self.window]


def child_epoch(spec: dict) -> dict:
    """``spec["epochs"]`` (default 1) epochs of ``ours`` or ``ref`` over a selection, one loader
    iterated once per epoch; prints nothing but the result (totals and per-epoch lists).

    ``ref`` starts its workers per epoch as LaBraM's DataLoader does, unless ``spec["persistent"]``;
    ours keeps them (``make_dataloader``'s default) and follows ``set_epoch``. With
    ``spec["cold_epochs"]`` the page cache of ``spec["source"]`` is dropped (and the memory
    primed again) before every epoch after the first, outside the timer: each epoch is a first
    read, as every epoch is when the store is larger than the page cache."""
    import torch

    if spec["who"] == "ours":
        from streamdistill.store import open_store
        from streamdistill.store.pretrain_loader import SelectedBatches, make_dataloader

        n = open_store(spec["source"]).n_segments
        ids = selection(n, spec["fraction"])
        ds = SelectedBatches(spec["source"], ids, batch_size=BATCH, seed=SEED,
                             x_dtype=spec.get("x_dtype", "float32"))
        loader = make_dataloader(ds, num_workers=spec["workers"], prefetch_factor=4)
        key = "x"
    else:
        from torch.utils.data import DataLoader, Subset

        full = LabramH5(spec["source"])
        ids = selection(len(full), spec["fraction"])
        ds = None
        loader = DataLoader(Subset(full, ids.tolist()), batch_size=BATCH, shuffle=True,
                            num_workers=spec["workers"], drop_last=True,
                            persistent_workers=bool(spec.get("persistent")),
                            generator=torch.Generator().manual_seed(SEED))
        key = None
    prime_s = prime_memory(int(spec["prime_mb"])) if spec.get("prime_mb") else None
    seconds, segments, first, started = [], [], [], []
    machine0, window0 = machine_cpu_times(), time.perf_counter()
    for epoch in range(int(spec.get("epochs", 1))):
        if ds is not None:
            ds.set_epoch(epoch)
        if epoch and spec.get("cold_epochs"):  # first read every epoch, outside the timer
            drop_cache(Path(spec["source"]))
            if spec.get("prime_mb"):
                prime_memory(int(spec["prime_mb"]))
        t0 = time.perf_counter()
        got = 0
        batches = iter(loader)  # forks the workers (ours: on the first pass only)
        started.append(time.perf_counter() - t0)
        for batch in batches:
            if not got:
                first.append(time.perf_counter() - t0)
            x = batch[key] if key else batch
            got += int(x.shape[0])
        seconds.append(time.perf_counter() - t0)
        segments.append(got)
        if epoch == 0:
            busy, iowait = machine_cores_busy(machine0, machine_cpu_times(),
                                              time.perf_counter() - window0)
            slots = _slots_written(getattr(loader, "_pool", None), tuple(x.shape),
                                   str(x.numpy().dtype) if key else "float32")
    return {"segments": segments[0], "selected": len(ids), "seconds": seconds[0],
            "first_batch_s": first[0], "iter_s": started[0], "slots_written": slots,
            "prime_s": prime_s, "cores_busy": busy, "cores_iowait": iowait,
            "epoch_seconds": seconds, "epoch_segments": segments, "dtype": str(x.dtype),
            "shape": list(x.shape)}


def machine_cpu_times() -> tuple[float, float, float]:
    """``(all, idle, iowait)`` CPU ticks of the whole machine so far (every core), from the
    ``cpu`` line of ``/proc/stat`` (zeros elsewhere). Read directly: importing psutil in the
    measured child right before the epoch (before its loader forks the workers) made our
    one-epoch 5% runs ≈ 1.8× slower on this VM (measured, cause not found)."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0, 0.0
    # user nice system idle iowait irq softirq steal [guest guest_nice: inside user, nice]
    return float(sum(ticks[:8])), float(ticks[3]), float(ticks[4])


def machine_cores_busy(before: tuple[float, float, float], after: tuple[float, float, float],
                       wall_s: float) -> tuple[float, float]:
    """Cores of the whole machine busy (not idle, not waiting for the disk) and cores waiting
    for the disk (iowait), on average over ``wall_s`` seconds between two
    :func:`machine_cpu_times`: whether an epoch was bound by the CPUs or by the disk."""
    d_all, d_idle, d_io = (b - a for a, b in zip(before, after))
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (d_all - d_idle - d_io) / hz / wall_s, d_io / hz / wall_s


def prime_memory(mb: int) -> float:
    """Touch ``mb`` MiB of fresh anonymous memory page by page, then release it; returns the
    seconds it took.

    Run by every measured child (ours and the reference) just before its timer starts. On a VM
    with free page reporting (virtio-balloon, as here) memory freed by the bench's page-cache
    drops and warms goes back to the host, and the next process to touch it pays a host fault
    per page (≈ 11 µs per 4-KiB page measured here, against ≈ 0.1–0.3 µs on bare metal);
    touching and releasing some memory first hands the loaders backed pages, as a workstation
    would. Its time is recorded (``prime_s``) so the effect stays visible."""
    import mmap

    t0 = time.perf_counter()
    m = mmap.mmap(-1, mb << 20)
    for off in range(0, mb << 20, 4096):
        m[off] = 1
    m.close()
    return time.perf_counter() - t0


def _slots_written(pool, shape: tuple[int, ...], dtype: str = "float32") -> int | None:
    """How many of our loader's batch slots the workers wrote (each costs its page faults once):
    a slot never written is still all zeros (a sparse look, every 97th sample, suffices for EEG
    batches). ``None`` for the reference (no pool)."""
    if pool is None:
        return None
    return sum(bool(pool.view(k, shape, dtype)[:, :, ::97].any()) for k in range(pool.n_slots))


def child_micro(spec: dict) -> dict:
    """Per-core costs (this child is pinned to one CPU)."""
    import numpy as np
    import torch

    from streamdistill.store import open_store
    import numcodecs.blosc

    from streamdistill.store.chunk_codecs import blosc_decoder, chunk_decoder
    from streamdistill.store.pretrain_loader import SelectedBatches, ShardReader

    out: dict[str, Any] = {"blosc_decoder": blosc_decoder()}
    for comp in ("default", "zstd"):
        # (1) decoding alone: compressed chunks already in memory
        store = open_store(spec[comp])
        (g,) = store.groups
        arr = store.array(g)
        reader = ShardReader.open(store.layout.zarr / store.layout.group_array_path(g))
        shard_rows = arr.shards[0]
        n_shards = max(1, min(spec["shards"], arr.shape[0] // shard_rows))  # full shards
        rows = n_shards * shard_rows
        out.update(shard_rows=shard_rows, segments=rows)
        chunks = []
        for k in range(n_shards):
            fd, index = reader._open((reader._key, k))
            chunks += [os.pread(fd, int(n), int(o)) for o, n in zip(index[::2], index[1::2])
                       if o != 2**64 - 1]
            os.close(fd)
        decode = chunk_decoder(arr.metadata.to_dict()["codecs"][0]["configuration"]["codecs"])
        seg = np.empty(arr.shape[1:], np.float16)
        t0 = time.perf_counter()
        for c in chunks:
            decode(c, seg)
        out[f"decode_{comp}"] = len(chunks) / (time.perf_counter() - t0)
        if comp == "default":  # the anchor: numcodecs' blosc (SSE2 bit-unshuffle)
            t0 = time.perf_counter()
            for c in chunks:
                numcodecs.blosc.decompress(c, seg)
            out["decode_default_numcodecs"] = len(chunks) / (time.perf_counter() - t0)
        out[f"compressed_ratio_{comp}"] = sum(map(len, chunks)) / (len(chunks) * seg.nbytes)
        # (2) Zarr's pipeline: read_rows shard by shard (fp32 out)
        t0 = time.perf_counter()
        for k in range(n_shards):
            store.read_rows(g, k * shard_rows, (k + 1) * shard_rows)
        out[f"zarr_read_rows_{comp}"] = rows / (time.perf_counter() - t0)
    # (3) fp16 → fp32 of one segment into a batch row (torch copy_)
    dst = torch.empty((BATCH, *arr.shape[1:]))
    src = torch.from_numpy(seg)
    t0 = time.perf_counter()
    for i in range(20 * BATCH):
        dst[i % BATCH].copy_(src)
    out["fp16_to_fp32"] = 20 * BATCH / (time.perf_counter() - t0)
    # (4) page cache: the 5% selection's byte ranges, cached, read right after an earlier read
    # and again after IDLE_S seconds of idle (a one-epoch run reads each segment once, seconds
    # after the page cache was warmed)
    ranges = selection_ranges(Path(spec["default"]), selection(open_store(
        spec["default"]).n_segments, 5.0))
    fds = {p: os.open(p, os.O_RDONLY) for p in {r[0] for r in ranges}}
    buf = memoryview(bytearray(max(n for _, _, n in ranges)))

    def read_all() -> float:
        t0 = time.perf_counter()
        for p, off, n in ranges:
            os.preadv(fds[p], [buf[:n]], off)
        return (time.perf_counter() - t0) / len(ranges)

    hot, idle = [], []
    for _ in range(3):
        read_all()
        hot.append(read_all())
        time.sleep(IDLE_S)
        idle.append(read_all())
    for fd in fds.values():
        os.close(fd)
    out.update(cached_read_hot_us=median(hot) * 1e6, cached_read_idle_us=median(idle) * 1e6,
               cached_read_bytes=sum(n for _, _, n in ranges) / len(ranges))
    # (5) our loader in this process (no workers): reading + decoding + converting; the whole
    # store, and the 5% selection (about one shard opened per segment)
    for comp in STORES:
        ds = SelectedBatches(spec[comp], batch_size=BATCH, seed=SEED)
        t0 = time.perf_counter()
        n = sum(int(b["x"].shape[0]) for b in ds)
        out[f"ours_inprocess_{comp}"] = n / (time.perf_counter() - t0)
    ds = SelectedBatches(spec["default"], selection(open_store(spec["default"]).n_segments, 5.0),
                         batch_size=BATCH, seed=SEED)
    t0 = time.perf_counter()
    n = sum(int(b["x"].shape[0]) for b in ds)
    out["ours_inprocess_default_5pct"] = n / (time.perf_counter() - t0)
    out.update(batch_memory_ms(tuple(dst.shape)))
    out.update(descriptor_growth_ms())
    return out


def descriptor_growth_ms(n: int = 600, repeats: int = 5) -> dict[str, float]:
    """Milliseconds to open ``n`` descriptors (``os.dup``) in a forked child running a second
    thread, as a DataLoader worker does from its first batch on (its queue's feeder thread):
    as they come (the kernel doubles the table past 64, 128, 256, 512, each growth in a
    multi-threaded process waiting for an RCU grace period), and after
    ``reserve_descriptors(n + 64)`` while the child was still single-threaded (the reservation
    counted); medians of ``repeats`` children."""
    import threading

    from streamdistill.store.segment_sources import reserve_descriptors

    out = {}
    for name, reserve in (("descriptors_grown_ms", False), ("descriptors_reserved_ms", True)):
        times = []
        for _ in range(repeats):
            rd, wr = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                t0 = time.perf_counter()
                if reserve:
                    reserve_descriptors(n + 64)
                stop = threading.Event()
                thread = threading.Thread(target=stop.wait)
                thread.start()
                fds = [os.dup(rd) for _ in range(n)]
                ms = (time.perf_counter() - t0) * 1e3
                os.write(wr, f"{ms}".encode())
                stop.set()
                for fd in fds:
                    os.close(fd)
                os._exit(0)
            os.close(wr)
            times.append(float(os.read(rd, 64).decode()))
            os.close(rd)
            os.waitpid(pid, 0)
        out[name] = median(times)
    return out


def batch_memory_ms(shape: tuple[int, ...], repeats: int = 5) -> dict[str, float]:
    """Milliseconds to fill one float32 batch of ``shape`` the way a worker does (one thread,
    one fp16 segment converted into each row with ``copy_``) in: a fresh shared mapping (a
    slot's first use, pages faulted in one by one), the same mapping again (a reused slot), a
    slot of a fresh :class:`SlotPool` through ``writable`` (pages allocated in one call), and a
    fresh tensor moved to shared memory (PyTorch's default hand-over of a worker's batch);
    medians of ``repeats``."""
    import mmap

    import numpy as np
    import torch

    from streamdistill.store.pretrain_loader import SlotPool

    seg = torch.randn(shape[1:]).half()

    def fill(x: torch.Tensor) -> float:
        t0 = time.perf_counter()
        for row in x:
            row.copy_(seg)
        return (time.perf_counter() - t0) * 1e3

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker
    try:
        first, again, fresh, populated = [], [], [], []
        for _ in range(repeats):
            mem = mmap.mmap(-1, int(np.prod(shape)) * 4)  # MAP_SHARED | MAP_ANONYMOUS
            slot = torch.from_numpy(np.frombuffer(mem, np.float32).reshape(shape))
            first.append(fill(slot))
            again.append(fill(slot))
            del slot
            mem.close()
            pool = SlotPool(1, int(np.prod(shape)) * 4)
            t0 = time.perf_counter()
            view = pool.writable(0, shape)
            populated.append((time.perf_counter() - t0) * 1e3
                             + fill(torch.from_numpy(view)))
            del view, pool
            t0 = time.perf_counter()
            t = torch.empty(shape)
            fill(t)
            t.share_memory_()
            fresh.append((time.perf_counter() - t0) * 1e3)
            del t
    finally:
        torch.set_num_threads(threads)
    return {"slot_first_write_ms": median(first), "slot_rewrite_ms": median(again),
            "slot_first_write_populated_ms": median(populated),
            "fresh_shared_batch_ms": median(fresh)}


# ---------------------------------------------------------------------------------- runs


def measured(spec: dict, cpus: set[int] | None = None) -> dict:
    res = run_measured([sys.executable, "-m", "tools.bench.bench_loader", "--child",
                        json.dumps(spec)], cwd=REPO_ROOT, cpus=cpus).check()
    result = json.loads(res.stdout_tail.strip().splitlines()[-1])
    result.update(wall_s=res.wall_s, tree_peak=res.tree_peak_bytes, maxrss=res.maxrss_bytes,
                  background=res.background_cores)
    return result


#: How the report names each store's codec.
CODEC_NAMES = {"default": "blosc-lz4 + bit-shuffle (default)", "zstd": "zstd level 1",
               "none": "no compression"}
#: Our loader with ``x_dtype="store"`` (fp16 batches, cast by the consumer: what ``pretrain``
#: hands to a GPU), measured beside the default float32 one in the warm / first-read rows.
OURS16 = "ours16"


def _variant(who: str) -> dict:
    """The child spec entries that make ``who``'s loader: fp16 batches for :data:`OURS16`."""
    return {"x_dtype": "store"} if who == OURS16 else {}

#: Extra warm rows, ours only, whole store: the other codecs' stores (``warm-<store>``).
CODEC_ROWS = ("warm-zstd", "warm-none")


def epoch_runs(inputs: dict[str, Path], fractions, runs: int, quiet_wait: float) -> list[dict]:
    """One-epoch runs, ours and the reference interleaved; each first-read run is followed by
    a :func:`floor_run` of the same selection, so the disk floor comes from the same minutes
    (the disk's speed drifts by 2× over half an hour here)."""
    from streamdistill.store import open_store

    n_segments = open_store(inputs["default"]).n_segments
    rows = []
    plan = [("warm", f) for f in fractions] + [(UNPRIMED, min(fractions))]
    plan += [("cold", f) for f in sorted({SHORT_FRACTION, *fractions})]
    plan += [(state, 100.0) for state in CODEC_ROWS]
    for cache_state, fraction in plan:
        row: dict[str, Any] = {"cache": cache_state, "fraction": fraction}
        store = cache_state[5:] if cache_state in CODEC_ROWS else "default"
        whos = ("ours",) if cache_state in CODEC_ROWS else \
            ("ours", OURS16, "ref") if cache_state in ("warm", "cold") else ("ours", "ref")
        ranges = selection_ranges(inputs["default"], selection(n_segments, fraction)) \
            if cache_state == "cold" else None
        for r in range(runs):
            for who in whos:
                src = inputs["h5"] if who == "ref" else inputs[store]
                spec = {"who": "ref" if who == "ref" else "ours", "fraction": fraction,
                        **_variant(who)}
                if cache_state == UNPRIMED:
                    spec["prime_mb"] = 0
                res = _run(src, spec, quiet_wait, cold=cache_state == "cold")
                row.setdefault(who, []).append(res)
                log(f"{cache_state:9s} {fraction:5g}% {who:6s} run {r + 1}: "
                    f"{res['segments'] / res['seconds']:,.0f} seg/s ({res['segments']} in "
                    f"{res['seconds']:.2f} s, load {res['background']:.2f})")
            if cache_state == "cold" and fraction == min(fractions):
                res = _run(inputs["default"], {"who": "ours", "fraction": fraction},
                           quiet_wait, cold=True,
                           cached_indexes_of=selection(n_segments, fraction))
                row.setdefault("ours_indexes_cached", []).append(res)
                log(f"{cache_state:9s} {fraction:5g}% ours, shard indexes cached, run {r + 1}: "
                    f"{res['segments'] / res['seconds']:,.0f} seg/s")
            if ranges:
                _floor_after(row, inputs["default"], ranges, r)
        rows.append(row)
    return rows


def _floor_after(row: dict, store: Path, ranges: list[tuple[str, int, int]], run: int) -> None:
    """Append one :func:`floor_run` of ``ranges`` to a first-read row (right after its run
    ``run``, so the floor comes from the same minutes)."""
    row.setdefault("floor", []).append(floor_run(store, ranges))
    log(f"{row['cache']:11s} {row['fraction']:5g}% floor run {run + 1}: {row['floor'][-1]}")


def _run(src: Path, spec: dict, quiet_wait: float, cold: bool = False,
         cached_indexes_of=None) -> dict:
    """One measured child run on ``src``: page cache dropped (``cold``) or warmed, then wait for
    a quiet machine. ``cached_indexes_of`` (segment ids, with ``cold``): then the shard indexes
    of those segments are read back into the page cache (and nothing else), so the epoch reads
    only segment bytes from the disk — what a store-wide chunk index held in memory would give."""
    (drop_cache if cold else warm_cache)(src)
    if cold and cached_indexes_of is not None:
        selection_ranges(src, cached_indexes_of)
    wait_for_quiet(quiet_wait)
    return measured({"prime_mb": PRIME_MB, **spec, "source": str(src), "workers": WORKERS})


def training_runs(inputs: dict[str, Path], fractions, runs: int, epochs: int,
                  quiet_wait: float, cold: bool = False) -> list[dict]:
    """``epochs`` epochs from one loader per run (as a training run iterates): ours (persistent
    workers, float32 and fp16 batches), the reference as LaBraM runs it (workers per epoch), and,
    warm only, the reference with ``persistent_workers=True`` (for comparison).

    Warm (``cold=False``): the page cache holds every file. First read every epoch
    (``cold=True``, rows ``"cold-epochs"``): the page cache of the store / the HDF5 file is
    dropped before each epoch, outside the timer — what every epoch is when the store is
    larger than the page cache; each run is followed by a :func:`floor_run` of the selection."""
    from streamdistill.store import open_store

    n_segments = open_store(inputs["default"]).n_segments
    whos = [("ours", True), (OURS16, True), ("ref", False)]
    if not cold:
        whos.append(("ref_persistent", True))
    rows = []
    for fraction in fractions:
        row: dict[str, Any] = {"cache": "cold-epochs" if cold else "warm-epochs",
                               "fraction": fraction, "epochs": epochs}
        ranges = selection_ranges(inputs["default"], selection(n_segments, fraction)) \
            if cold else None
        for r in range(runs):
            for who, persistent in whos:
                mine = who in ("ours", OURS16)
                src = inputs["default"] if mine else inputs["h5"]
                res = _run(src, {"who": "ours" if mine else "ref", "fraction": fraction,
                                 "epochs": epochs, "persistent": persistent,
                                 "cold_epochs": cold, **_variant(who)},
                           quiet_wait, cold=cold)
                row.setdefault(who, []).append(res)
                log(f"{row['cache']:11s} {fraction:5g}% {who:14s} run {r + 1}: "
                    f"{_later_rate(res):,.0f} seg/s after epoch 1, first "
                    f"{res['segments'] / res['seconds']:,.0f} (load {res['background']:.2f})")
            if ranges:
                _floor_after(row, inputs["default"], ranges, r)
        rows.append(row)
    return rows


def _after_first(results: list[dict]) -> float:
    """Median segments/s of one-epoch runs from the first batch to the last (start-up left
    out; the first batch's segments too)."""
    return median([(r["segments"] - BATCH) / (r["seconds"] - r["first_batch_s"])
                   for r in results])


def _later_rate(res: dict) -> float:
    """Segments per second over the epochs after the first."""
    return sum(res["epoch_segments"][1:]) / sum(res["epoch_seconds"][1:])


# ---------------------------------------------------------------------------------- report


def _floor(row: dict, how: str) -> float | None:
    """Median disk floor (segments/s) of a first-read row's interleaved floor runs."""
    return median([f[how] for f in row["floor"]]) if row.get("floor") else None


def _floors(row: dict, how: str = "best") -> list[float]:
    """Each of a first-read row's interleaved floor runs (segments/s)."""
    return [f[how] for f in row.get("floor", [])]


def _rate(results: list[dict]) -> float:
    return median([r["segments"] / r["seconds"] for r in results])


def _median_of(results: list[dict], key: str) -> float:
    return median([r[key] for r in results])


def _first_batch_ms(results: list[dict]) -> float:
    """Median ms from ``iter(loader)`` to the first batch."""
    return median([r["first_batch_s"] for r in results]) * 1e3


def render(info: dict, inputs: dict, n_segments: int, rows: list[dict], micro: dict,
           args, total_s: float, train_rows: list[dict] = ()) -> str:
    def rate_s(rs):
        return f"{_rate(rs):,.0f}" if rs else "-"

    def peak(rs):
        return fmt_bytes(median([r["tree_peak"] for r in rs])) if rs else "-"

    def first_ms(rs):
        return f"{_first_batch_ms(rs):.0f}" if rs and "first_batch_s" in rs[0] else "-"

    def cores(rs):
        return (f"{_median_of(rs, 'cores_busy'):.1f} ({_median_of(rs, 'cores_iowait'):.1f})"
                if rs and "cores_busy" in rs[0] else "-")

    table = []
    for row in rows:
        ours, ref, ours16 = row.get("ours", []), row.get("ref", []), row.get(OURS16, [])
        ratio = f"**{_rate(ours) / _rate(ref):.2f}×**" if ours and ref else "-"
        ratio16 = f"**{_rate(ours16) / _rate(ref):.2f}×**" if ours16 and ref else "-"
        floor = _floor(row, "best")
        label = {"warm": "warm", "cold": "first read",
                 UNPRIMED: "warm, children not primed (this VM's fresh-memory cost)",
                 "warm-zstd": "warm, store `--compressor zstd`",
                 "warm-none": "warm, store `--compressor none`"}[row["cache"]]
        table.append([
            label, f"{row['fraction']:g}%", f"{ours[0]['selected']:,}", rate_s(ours),
            rate_s(ours16) if ours16 else "-", rate_s(ref), ratio, ratio16,
            f"{floor:,.0f} ({_rate(ours) / floor * 100:.0f}%)" if floor else "-",
            " / ".join(first_ms(rs) for rs in (ours, ref) if rs), peak(ours), peak(ref),
            " / ".join(f"{_median_of(rs, 'background'):.2f}" for rs in (ours, ref) if rs),
            " / ".join(cores(rs) for rs in (ours, ref) if rs),
            ", ".join(f"{r['segments'] / r['seconds']:,.0f}" for r in ours),
            ", ".join(f"{r['segments'] / r['seconds']:,.0f}" for r in ours16) or "-",
            ", ".join(f"{r['segments'] / r['seconds']:,.0f}" for r in ref) or "-",
        ])
    body = [
        "## loader: pretraining loader vs LaBraM's HDF5 loader",
        "",
        f"Command: `{args.command_line}` (total {total_s / 60:.1f} min).",
        "",
        machine_table(info),
        "",
        f"**Setup.** {n_segments:,} segments of 64 ch × 800 samples (one synthetic 200-Hz "
        f"recording of {args.duration:g} s hard-linked {args.copies} × and sharded; store "
        f"fp16, default codec blosc-lz4 + bit-shuffle level 9, 4-MB shards: "
        f"{fmt_bytes(dir_bytes(inputs['default']))}; the same with `--compressor zstd` (level "
        f"1): {fmt_bytes(dir_bytes(inputs['zstd']))}, with `--compressor none`: "
        f"{fmt_bytes(dir_bytes(inputs['none']))}; LaBraM-style HDF5, "
        f"float64, chunks (C, 200): {fmt_bytes(dir_bytes(inputs['h5']))}). Ours: "
        "`SelectedBatches(store, ids, batch_size=64)` (shuffle window 2,048 ids) through "
        "`make_dataloader(num_workers=2, prefetch_factor=4)`, float32 batches (the default); "
        "\"ours fp16 x\": the same with `x_dtype=\"store\"`, batches in the store's fp16 for "
        "the consumer to cast — what `pretrain` hands to a GPU, which casts them there "
        "(interleaved with the other two). Reference: "
        "LaBraM's `ShockDataset` read path, `f[rec]['eeg'][:, s:s+800]` per item through h5py, "
        "`Subset` of the selected ids, `DataLoader(batch_size=64, shuffle=True, num_workers=2, "
        "drop_last=True)`, float64 batches. Selections: seeded random subsets of the ids, the "
        "same for both. One epoch per run in a child process; segments/s = segments delivered "
        "/ seconds from `iter(loader)` to the last batch (worker start-up and our plan "
        f"included); median of {args.runs} run(s), runs interleaved ours/ref. Warm: every file "
        "read once before the run. First read: the page cache of every file of the store / the "
        "HDF5 file dropped before each run with `os.posix_fadvise(fd, 0, 0, "
        "POSIX_FADV_DONTNEED)`. Before its timer every child (ours and the reference) touches "
        f"and releases {PRIME_MB} MiB of fresh memory: this VM returns freed memory to its host "
        "(free page reporting), and a process touching it again pays a host fault per page "
        "(one warm row without priming shows the effect). "
        "Peak RSS: summed RSS of the process tree (main + 2 workers, "
        "psutil polling every 50 ms; shared memory counts once per process that maps it). "
        "Background load: cores busy with other processes during the run. Cores busy "
        "(iowait): the whole machine's CPU time over the epoch (`/proc/stat`), not "
        "idle and not waiting for the disk, and waiting for the disk, in cores of "
        f"{usable_cores()} (±0.1: the kernel counts in 10-ms ticks).",
        "",
        "Disk floor (first read): the selection's byte ranges alone (no decoding), page cache "
        f"dropped, read with {FLOOR_THREADS} threads of blocking reads and, separately, in "
        f"windows of {FLOOR_WINDOW} ranges announced with `posix_fadvise(WILLNEED)` — the "
        "better of the two, measured right after each first-read run (median) — and the share "
        "of it our loader reaches. First batch: ms from `iter(loader)` to the first "
        "batch (median).",
        "",
        md_table(["page cache", "selection", "segments", "ours seg/s", "ours fp16 x seg/s",
                  "ref seg/s", "ours/ref", "ours fp16 x/ref", "disk floor seg/s (ours %)",
                  "first batch ms ours / ref", "ours peak RSS", "ref peak RSS",
                  "background load ours / ref", "cores busy (iowait) ours / ref", "ours runs",
                  "ours fp16 x runs", "ref runs"], table),
        "",
        *training_table(train_rows, args.runs),
        "### Where the time goes (one core)",
        "",
        f"A child pinned to one CPU, on the first {micro['segments']:,} segments "
        f"({micro['segments'] // micro['shard_rows']} shards of {micro['shard_rows']}):",
        "",
        md_table(["step", "segments/s per core"], [
            *([f"{CODEC_NAMES[c]} decoding alone ("
               f"{micro.get('blosc_decoder', 'numcodecs') if c == 'default' else 'numcodecs'}"
               f", compressed chunks in memory; chunks are "
               f"{micro[f'compressed_ratio_{c}'] * 100:.0f}% of raw)",
               f"{micro[f'decode_{c}']:,.0f}"] for c in ("default", "zstd")),
            *([["the same default-codec chunks decoded by numcodecs (SSE2 bit-unshuffle; the "
                "decoder where blosc2 is not installed)",
                f"{micro['decode_default_numcodecs']:,.0f}"]]
              if "decode_default_numcodecs" in micro else []),
            *([f"`store.read_rows` shard by shard (Zarr's codec pipeline, fp32 out), "
               f"{CODEC_NAMES[c]}", f"{micro[f'zarr_read_rows_{c}']:,.0f}"]
              for c in ("default", "zstd")),
            ["fp16 → fp32 of one segment into a batch row (`copy_`)",
             f"{micro['fp16_to_fp32']:,.0f}"],
            *([f"`preadv` of a cached segment ({micro['cached_read_bytes'] / 1e3:.0f} kB, the "
               f"5% selection's ranges) right after a read of the same ranges / after {IDLE_S:g}"
               " s idle",
               f"{1e6 / micro['cached_read_hot_us']:,.0f} / "
               f"{1e6 / micro['cached_read_idle_us']:,.0f}"]
              for _ in range(1) if "cached_read_hot_us" in micro),
            *([f"our loader in-process (`num_workers=0`), whole store, {CODEC_NAMES[c]}",
               f"{micro[f'ours_inprocess_{c}']:,.0f}"] for c in STORES),
            *([["our loader in-process, the 5% selection (default codec)",
                f"{micro['ours_inprocess_default_5pct']:,.0f}"]]
              if "ours_inprocess_default_5pct" in micro else []),
        ]),
        *([
            "",
            "One float32 batch of 64 × 64 × 800 (13 MB) filled as a worker fills it (one "
            "thread, each row converted from an fp16 segment), ms: in a fresh shared mapping "
            f"(a slot's first use, pages faulted in one by one) "
            f"{micro['slot_first_write_ms']:.1f}"
            + (f", in a fresh slot of our pool (pages allocated in one `madvise("
               f"MADV_POPULATE_WRITE)` first) {micro['slot_first_write_populated_ms']:.1f}"
               if "slot_first_write_populated_ms" in micro else "")
            + f", in the same mapping again (a reused slot) {micro['slot_rewrite_ms']:.1f}, "
            f"as a fresh tensor moved to shared memory (PyTorch's default hand-over of a "
            f"worker's batch) {micro['fresh_shared_batch_ms']:.1f}.",
        ] if "slot_first_write_ms" in micro else []),
        *([
            "",
            "Opening 600 file descriptors in a process with two threads (a DataLoader worker "
            "from its first batch on), ms: as they come, the kernel growing the descriptor "
            f"table by doubling, {micro['descriptors_grown_ms']:.1f}; after "
            "`reserve_descriptors` grew it while the process was single-threaded (counted), "
            f"{micro['descriptors_reserved_ms']:.1f}. Each worker reserves "
            "2 × `max_open_shards` + 64 before its first batch.",
        ] if "descriptors_grown_ms" in micro else []),
    ]
    body += ["", "### Reading the numbers", ""] + [f"- {n}" for n in findings(rows, micro,
                                                                                 train_rows)]
    body += [f"- {n}" for n in NOTES]
    return "\n".join(body) + "\n"


def training_table(train_rows, runs: int) -> list[str]:
    """The several-epochs sections, warm and first read every epoch (empty without such
    rows)."""
    out = []
    for cache in ("warm-epochs", "cold-epochs"):
        rows = [row for row in train_rows if row.get("cache", "warm-epochs") == cache]
        if rows:
            out += _training_section(rows, runs, cold=cache == "cold-epochs")
    return out


def _default_max_open_shards() -> int:
    """``SelectedBatches``' default bound on open shard files per worker."""
    import inspect

    from streamdistill.store.pretrain_loader import SelectedBatches

    return inspect.signature(SelectedBatches).parameters["max_open_shards"].default


def _training_section(rows: list[dict], runs: int, cold: bool) -> list[str]:
    """One several-epochs table (rows of one page-cache state)."""
    table = []
    for row in rows:
        ours, ref, refp = row["ours"], row["ref"], row.get("ref_persistent", [])
        ours16 = row.get(OURS16, [])
        later = {k: median([_later_rate(r) for r in v]) for k, v in
                 (("ours", ours), ("ref", ref), ("refp", refp), ("ours16", ours16)) if v}
        first = {k: median([r["segments"] / r["seconds"] for r in v]) for k, v in
                 (("ours", ours), ("ref", ref))}
        floor = _floor(row, "best")
        table.append([
            f"{row['fraction']:g}%", f"{ours[0]['selected']:,}", f"{later['ours']:,.0f}",
            f"{later['ours16']:,.0f} (**{later['ours16'] / later['ref']:.2f}×**)"
            if "ours16" in later else "-",
            f"{later['ref']:,.0f}", f"**{later['ours'] / later['ref']:.2f}×**",
            *([f"{floor:,.0f} ({later['ours'] / floor * 100:.0f}% / "
               f"{later.get('ours16', float('nan')) / floor * 100:.0f}%)" if floor else "-"]
              if cold else
              [f"{later['refp']:,.0f}" if "refp" in later else "-",
               f"{later['ours'] / later['refp']:.2f}×" if "refp" in later else "-"]),
            f"{first['ours']:,.0f} / {first['ref']:,.0f}",
            ", ".join(f"{_later_rate(r):,.0f}" for r in ours),
            ", ".join(f"{_later_rate(r):,.0f}" for r in ours16) or "-",
            ", ".join(f"{_later_rate(r):,.0f}" for r in ref),
        ])
    epochs = rows[0]["epochs"]
    state = "first read every epoch" if cold else "warm"
    text = (
        f"As a pretraining run reads a selection: one loader per run, iterated {epochs} times "
        "(ours after `set_epoch(e)`), each run in a child process. Ours keeps its 2 workers "
        "across epochs (`make_dataloader` default); the reference starts them every epoch, as "
        "LaBraM's `DataLoader` does (no `persistent_workers`) — the anchor. Rate = segments of "
        f"epochs 2… / their seconds; median of {runs} run(s), interleaved. ")
    if cold:
        text += (
            "Before every epoch the page cache of the store / the HDF5 file is dropped and the "
            f"child primes {PRIME_MB} MiB again, outside the timer: every epoch is a first "
            "read, as it is when the store is larger than the page cache (the case this loader "
            "is for). Ours keeps what its workers hold across epochs: up to "
            f"{_default_max_open_shards()} open shard files per worker with their indexes "
            "(`max_open_shards`; the 5% selection touches most of the store's shards, so most "
            "indexes are read again each epoch). Disk floor: the selection's byte ranges "
            "alone, as in the first-read rows "
            "above, measured right after each run (median), and the share of it ours reaches "
            "(float32 / fp16 batches).")
        cols = ["disk floor seg/s (ours % / fp16 %)"]
    else:
        text += "The reference with `persistent_workers=True` is shown for comparison."
        cols = ["ref, persistent workers, seg/s", "ours/ref persistent"]
    return [
        f"### Training use: {epochs} epochs from one loader ({state})",
        "",
        text,
        "",
        md_table(["selection", "segments per epoch", "ours seg/s",
                  "ours fp16 x seg/s (/ref)", "ref (LaBraM) seg/s", "ours/ref", *cols,
                  "first epoch seg/s ours / ref", "ours runs", "ours fp16 x runs",
                  "ref runs"], table),
        "",
    ]


def findings(rows: list[dict], micro: dict, train_rows=()) -> list[str]:
    """Statements computed from this run's numbers (so they cannot go stale)."""
    by = {(r["cache"], r["fraction"]): r for r in rows}
    out = []
    full = by.get(("warm", 100.0))
    for c in ("default", "zstd"):
        z, ours1 = micro[f"decode_{c}"], micro[f"ours_inprocess_{c}"]
        out.append(
            f"{CODEC_NAMES[c]}: decoding alone runs at {z:,.0f} segments/s per core; our whole "
            f"per-segment path (preadv, decode, fp16 → fp32) runs at {ours1:,.0f}/s per core "
            f"in-process, so decoding is ≈ {ours1 / z * 100:.0f}% of its time. Zarr's own "
            f"pipeline (`read_rows`) reaches {micro[f'zarr_read_rows_{c}']:,.0f}/s per core on "
            "the same shards.")
    if full and full.get("ours"):
        rate = _rate(full["ours"])
        ratio = rate / _rate(full["ref"]) if full.get("ref") else float("nan")
        out.append(
            f"Whole store, warm, 2 workers: {rate:,.0f} segments/s — the 10,000/s target is "
            f"{'met' if rate >= 10_000 else 'not met'}; {ratio:.2f}× the reference (target 3×: "
            f"{'met' if ratio >= 3 else 'not met'}).")
    cold = by.get(("cold", 100.0))
    disk = micro.get("disk")
    if cold and cold.get("ours") and disk:
        rate, floor = _rate(cold["ours"]), disk["threads_2"]["segments_s"]
        out.append(
            f"First read of the whole store: {rate:,.0f} segments/s; reading the same files "
            f"sequentially with 2 threads, page cache dropped, gives {disk['threads_2']['mb_s']:,.0f}"
            f" MB/s = {floor:,.0f} segments/s (1 thread: {disk['threads_1']['mb_s']:,.0f} MB/s), "
            f"so the loader reaches {rate / floor * 100:.0f}% of what the disk delivers. Each "
            "worker reads ahead along its batches: while one batch decodes, the next batch's "
            "byte ranges and the shard indexes of the one after are announced with "
            "`posix_fadvise(WILLNEED)`, so the disk serves them in parallel.")
    for row in rows:
        floor = _floor(row, "best")
        if not floor or not row.get("ours"):
            continue
        rate = _rate(row["ours"])
        if rate > floor:
            verdict = ("no bound here: the disk served our loader faster in its own runs "
                       "(the floor's runs follow ours, and the disk's speed varies between "
                       "minutes)")
        elif floor < 10_000:
            verdict = "below the 10,000/s target, so no loader reaches that target here"
        else:
            verdict = "so the 10,000/s target is within the disk's reach"
        out.append(
            f"First read, {row['fraction']:g}% selection: in the same minutes the disk served "
            f"this selection's byte ranges alone (no decoding) at {floor:,.0f} segments/s "
            f"(median; {FLOOR_THREADS} threads: {_floor(row, 'threads'):,.0f}/s, announced "
            f"windows of {FLOOR_WINDOW}: {_floor(row, 'announced'):,.0f}/s; its runs ranged "
            f"{min(f['best'] for f in row['floor']):,.0f}–"
            f"{max(f['best'] for f in row['floor']):,.0f}/s), {verdict}; ours delivers "
            f"{rate:,.0f}/s, {rate / floor * 100:.0f}% of it"
            + (f", ours with fp16 batches {_rate(row[OURS16]):,.0f}/s, "
               f"{_rate(row[OURS16]) / floor * 100:.0f}%" if row.get(OURS16) else "") + ".")
    out += cpu_findings(by) + target_findings(by) + decoder_findings(micro)
    for row in rows:
        if row.get("ours_indexes_cached") and row.get("ours"):
            rate, pre = _rate(row["ours"]), _rate(row["ours_indexes_cached"])
            first, first_pre = (_first_batch_ms(row[k]) for k in ("ours", "ours_indexes_cached"))
            verdict = ("so reading the shard indexes is not what holds this cell back; a "
                       "store-wide chunk index would not lift it" if pre < 1.1 * rate else
                       "so the shard index reads cost this cell "
                       f"{(1 - rate / pre) * 100:.0f}% of its rate")
            out.append(
                f"First read, {row['fraction']:g}% selection, with the selection's shard "
                f"indexes read into the page cache before the run (the epoch then reads only "
                f"segment bytes from the disk, as with a store-wide chunk index in memory): "
                f"{pre:,.0f} segments/s against {rate:,.0f}/s ({pre / rate:.2f}×), first batch "
                f"at {first_pre:.0f} vs {first:.0f} ms; {verdict}.")
            floor = _floor(row, "best")
            if floor and all(r["segments"] > BATCH for r in row["ours"]):
                after = _after_first(row["ours"])
                out[-1] += (f" From its first batch on, this cell reads at {after:,.0f}/s "
                            f"({after / floor * 100:.0f}% of the disk floor); before it: the "
                            "forks, PyTorch's set-up of each worker and a first batch in a "
                            "fresh process (its slot's first fill, copy-on-write faults).")
    if "cached_read_hot_us" in micro:
        hot, idle = micro["cached_read_hot_us"], micro["cached_read_idle_us"]
        head = (f"Page cache on this machine: reading a cached segment takes {hot:.0f} µs right "
                f"after the same ranges were read and {idle:.0f} µs after {IDLE_S:g} s of idle "
                f"({idle / hot:.1f}×; one core, the 5% selection's ranges). ")
        if idle / hot >= 1.5:
            out.append(head + "A one-epoch \"warm\" run reads each segment once, seconds after "
                       "the files were warmed, so it pays the second figure for every segment "
                       "(ours and the reference alike); epochs 2… of training use re-read "
                       "ranges touched less than a second earlier.")
        else:
            out.append(head + "No idle cost here, so a one-epoch \"warm\" run reads at the "
                       "page cache's full speed (an earlier VM of this project measured 9× "
                       "after idle, which bounded its one-epoch runs; the check runs every "
                       "time).")
    warm5 = by.get(("warm", 5.0))
    if warm5 and warm5.get("ours") and "iter_s" in warm5["ours"][0]:
        runs = warm5["ours"]
        total, first = (median([r[k] for r in runs]) for k in ("seconds", "first_batch_s"))
        fork = median([r["iter_s"] for r in runs])
        slots = median([r["slots_written"] for r in runs])
        n = runs[0]["segments"]
        text = (
            f"Warm, 5% selection, one epoch ({n:,} segments): {total * 1e3:.0f} ms in all. "
            f"`iter(loader)` (forking the 2 workers, the DataLoader's queues) takes "
            f"{fork * 1e3:.0f} ms and the first batch arrives at {first * 1e3:.0f} ms. The "
            f"workers wrote {slots:.0f} distinct batch slots")
        if "slot_first_write_ms" in micro:
            first_use = micro.get("slot_first_write_populated_ms",
                                  micro["slot_first_write_ms"])
            text += (
                f"; filling a slot for the first time costs {first_use:.1f} ms (allocating "
                f"its 13 MB) against {micro['slot_rewrite_ms']:.1f} ms for a reused one, so "
                f"about {slots * (first_use - micro['slot_rewrite_ms']):.0f} ms of the "
                "workers' CPU go to first uses")
        if "ours_inprocess_default_5pct" in micro:
            sparse, dense = micro["ours_inprocess_default_5pct"], micro["ours_inprocess_default"]
            text += (
                f". In-process, the 5% selection reads at {sparse:,.0f} segments/s per core "
                f"against {dense:,.0f}/s for the whole store ({1e6 / sparse:.0f} vs "
                f"{1e6 / dense:.0f} µs per segment)")
            if sparse < 0.95 * dense:
                text += (": at 5% nearly every segment lies in a shard of its own, which is "
                         "opened and its index read")
        text += (". Start-up and first uses are paid once per loader: from the second epoch on "
                 "the workers and slots are reused (training use, above). From the first batch "
                 "to the last, one-epoch runs of the 5% selection deliver "
                 f"{_after_first(runs):,.0f} segments/s warm")
        cold5 = by.get(("cold", 5.0))
        if cold5 and cold5.get("ours"):
            text += f" and {_after_first(cold5['ours']):,.0f} segments/s on a first read"
        out.append(text + " (median).")
    out += epoch_length_findings(by) + priming_findings(by, rows, train_rows)
    for row in train_rows:
        ours = median([_later_rate(r) for r in row["ours"]])
        ref = median([_later_rate(r) for r in row["ref"]])
        cold = row.get("cache") == "cold-epochs"
        floor = _floor(row, "best")
        out.append(
            f"Training use, {'first read every epoch' if cold else 'warm'}, "
            f"{row['fraction']:g}% selection, epochs 2–{row['epochs']} from one "
            f"loader: {ours:,.0f} segments/s, {ours / ref:.2f}× the reference as LaBraM runs it "
            f"(target 3×: {'met' if ours / ref >= 3 else 'not met'}; 10,000/s: "
            f"{'met' if ours >= 10_000 else 'not met'})"
            + (f"; the disk served the selection's byte ranges alone at {floor:,.0f}/s in the "
               f"same minutes (floor runs {', '.join(f'{f:,.0f}' for f in _floors(row))})"
               + (", no bound here: ours read faster in its own minutes (the floor runs follow "
                  "ours, the disk's speed varies between minutes, and a dense selection's "
                  "ranges in storage order profit from the kernel's sequential read-ahead)"
                  if ours > floor else "")
               if floor else "") + ".")
    out += training_target_findings(train_rows)
    for state in CODEC_ROWS:
        other = by.get((state, 100.0))
        if other and other.get("ours") and full and full.get("ours"):
            c = state[5:]
            out.append(
                f"The same segments from the {CODEC_NAMES[c]} store, warm, whole store: "
                f"{_rate(other['ours']):,.0f} segments/s with 2 workers (default codec: "
                f"{_rate(full['ours']):,.0f}/s), {micro[f'ours_inprocess_{c}']:,.0f}/s per core "
                "in-process.")
    return out


def cpu_findings(by: dict) -> list[str]:
    """For each first-read row of ``by`` (rows by ``(cache, fraction)``): whether the epochs
    were bound by the CPUs or by the disk (the machine's busy and iowait cores during them,
    ours and the reference)."""
    out, cores = [], usable_cores()
    for row in by.values():
        ours, ref = row.get("ours", []), row.get("ref", [])
        if row["cache"] != "cold" or not ours or "cores_busy" not in ours[0]:
            continue
        busy, wait = _median_of(ours, "cores_busy"), _median_of(ours, "cores_iowait")
        text = (f"First read, {row['fraction']:g}% selection: during our epochs {busy:.1f} of "
                f"the machine's {cores} cores were busy and {wait:.1f} waited for the disk")
        if ref and "cores_busy" in ref[0]:
            text += (f" (the reference's: {_median_of(ref, 'cores_busy'):.1f} busy, "
                     f"{_median_of(ref, 'cores_iowait'):.1f} waiting)")
        warm = by.get(("warm", row["fraction"]))
        if busy >= cores - 0.25 and wait < 0.1:
            text += (": our loader is bound by the CPUs here, not by the disk — reading from "
                     "the disk costs CPU (the kernel filling the page cache) on top of "
                     "decoding")
            if warm and warm.get("ours") and "cores_busy" in warm["ours"][0]:
                text += (f"; warm, {_median_of(warm['ours'], 'cores_busy'):.1f} busy cores "
                         f"delivered {_rate(warm['ours']):,.0f}/s against "
                         f"{_rate(ours):,.0f}/s here")
        elif wait >= 0.1:
            text += ": our loader waits for the disk part of the time here"
        else:
            text += (": the cores are partly idle and the disk is not waited on (the idle "
                     "time falls in the start-up: forks, hand-overs)")
        out.append(text + ".")
    return out


def decoder_findings(micro: dict) -> list[str]:
    """The blosc decoder in use against numcodecs' (same chunks, one core)."""
    if "decode_default_numcodecs" not in micro:
        return []
    name, fast, anchor = (micro.get("blosc_decoder", "numcodecs"), micro["decode_default"],
                          micro["decode_default_numcodecs"])
    return [f"Default-codec chunks decode with {name} at {fast:,.0f} segments/s per core "
            f"against {anchor:,.0f}/s with numcodecs ({fast / anchor:.2f}×; "
            "`store/chunk_codecs.py`)."]


def target_findings(by: dict) -> list[str]:
    """The issue's targets (≥ 10,000 segments/s, ≥ 3× the reference) cell by cell, over the
    one-epoch rows of the default store at :data:`FRACTIONS` (a fresh loader each run,
    start-up included)."""
    out = []
    for who, what in (("ours", "float32 batches (the default)"),
                      (OURS16, "fp16 batches (`x_dtype=\"store\"`, what `pretrain` hands to a "
                               "GPU)")):
        cells = [(f"{'warm' if row['cache'] == 'warm' else 'first read'} {row['fraction']:g}%",
                  _rate(row[who]), _rate(row[who]) / _rate(row["ref"]))
                 for row in by.values() if row["cache"] in ("warm", "cold") and row.get(who)
                 and row.get("ref") and row["fraction"] in FRACTIONS]
        if cells:
            out.append(_targets_met(cells, what))
    return out


def training_target_findings(train_rows) -> list[str]:
    """The issue's targets cell by cell over the several-epochs rows (epochs 2… of one loader,
    warm and first read every epoch), per variant of ours."""
    out = []
    for who, what in (("ours", "float32 batches (the default)"),
                      (OURS16, "fp16 batches (`x_dtype=\"store\"`)")):
        cells = []
        for row in train_rows:
            if row.get(who) and row.get("ref"):
                rate = median([_later_rate(r) for r in row[who]])
                cells.append((f"{'first read' if row.get('cache') == 'cold-epochs' else 'warm'}"
                              f" {row['fraction']:g}%", rate,
                              rate / median([_later_rate(r) for r in row["ref"]])))
        if cells:
            out.append(_targets_met(cells, what, how="training use, epochs 2… of one loader "
                                                     "(persistent workers)"))
    return out


def _targets_met(cells: list[tuple[str, float, float]], what: str,
                 how: str = "one-epoch runs of a fresh loader (worker start-up included)"
                 ) -> str:
    """One sentence: the cells ``(name, segments/s, ratio to the reference)`` that meet and miss
    the targets."""

    def listed(items):
        return ", ".join(f"{name} ({value})" for name, value in items) or "none"

    rate_ok = [(n, f"{r:,.0f}/s") for n, r, _ in cells if r >= 10_000]
    rate_no = [(n, f"{r:,.0f}/s") for n, r, _ in cells if r < 10_000]
    ratio_no = [(n, f"{x:.2f}×") for n, _, x in cells if x < 3]
    low = min(cells, key=lambda c: c[2])
    return (
        f"The targets, {how}, {what}, "
        f"{len(cells)} cells: 10,000 segments/s met in {listed(rate_ok)}; not met in "
        f"{listed(rate_no)}. 3× the reference: "
        + (f"met in every cell (lowest {low[2]:.2f}×, {low[0]})." if not ratio_no else
           f"not met in {listed(ratio_no)}."))


def epoch_length_findings(by: dict) -> list[str]:
    """First read of the short selection (:data:`SHORT_FRACTION`) against the 5% one: the rate,
    the first batch and the rate from the first batch on."""
    short, five = by.get(("cold", SHORT_FRACTION)), by.get(("cold", 5.0))
    if not (short and five and short.get("ours") and five.get("ours")):
        return []
    parts = []
    for row in (short, five):
        ours = row["ours"]
        after = (f", {_after_first(ours):,.0f}/s from the first batch on"
                 if all(r["segments"] > BATCH for r in ours) else "")
        parts.append(f"{row['fraction']:g}% ({ours[0]['selected']:,} segments): "
                     f"{_rate(ours):,.0f}/s, first batch at {_first_batch_ms(ours):.0f} ms{after}")
    return [
        "First read and the epoch's length: " + "; ".join(parts) + ". The start-up (forking "
        "the workers, their set-up, the first shard indexes and segments from the disk) is "
        "paid once per epoch whatever its length, so it weighs "
        f"{5.0 / SHORT_FRACTION:g}× as much in the {SHORT_FRACTION:g}% epoch; a corpus's 5% "
        "selection grows with the corpus (the paper's 5% of 2,500 h is ≈ 112,000 4-s "
        "segments)."]


def priming_findings(by: dict, rows: list[dict], train_rows=()) -> list[str]:
    """What priming cost the children, and the warm 5% cell with and without it (``by``:
    the one-epoch rows by ``(cache, fraction)``)."""
    primes = [r["prime_s"] for row in [*rows, *train_rows] for who in ("ours", "ref",
              "ref_persistent") for r in row.get(who, []) if r.get("prime_s")]
    out = []
    if primes:
        pages = PRIME_MB << 8  # 4-KiB pages
        out.append(
            f"Priming: touching and releasing {PRIME_MB} MiB of fresh memory took "
            f"{median(primes) * 1e3:.0f} ms per child (median of {len(primes)}; "
            f"{min(primes) * 1e3:.0f}–{max(primes) * 1e3:.0f} ms), "
            f"{median(primes) / pages * 1e6:.1f} µs per 4-KiB page "
            "(bare metal: ≈ 0.1–0.3 µs). "
            "It happens before the timer.")
    bare, primed = by.get((UNPRIMED, 5.0)), by.get(("warm", 5.0))
    if bare and primed and bare.get("ours") and primed.get("ours"):
        text = []
        for who in ("ours", "ref"):
            if bare.get(who) and primed.get(who):
                fb = [_first_batch_ms(row[who]) for row in (bare, primed)]
                text.append(f"{'ours' if who == 'ours' else 'the reference'} "
                            f"{_rate(bare[who]):,.0f}/s not primed against "
                            f"{_rate(primed[who]):,.0f}/s primed (first batch at {fb[0]:.0f} "
                            f"vs {fb[1]:.0f} ms)")
        slower = _rate(bare["ours"]) < 0.9 * _rate(primed["ours"])
        out.append(
            "Warm, 5% selection, children not primed (each run straight after the files were "
            "re-read, which frees and refills page cache): " + "; ".join(text) + ". "
            + ("The difference is this VM's cost of memory the host took back, paid by "
               "whichever process touches it first, not the loader's." if slower else
               "Priming made no difference of 10% or more to ours in this run."))
    return out


#: Caveats that hold whatever the numbers.
NOTES: tuple[str, ...] = (
    "Both consumers only count the batches (no model, no GPU copy). Ours delivers float32 (or "
    "fp16 in the \"ours fp16 x\" columns), the reference float64 (as LaBraM's loader does "
    "before `.float()` on the GPU): the reference moves twice or four times the bytes but "
    "converts nothing.",
    "The selections are random subsets. Our reader fetches each selected segment by its byte "
    "range inside its shard (one read and one decode per segment, never a whole shard); a "
    "sparse selection adds one shard opening per segment (above).",
    "Worker batches come back through a pool of reused shared-memory slots (`SlotPool`) "
    "instead of PyTorch's default hand-over, a fresh shared-memory tensor per batch (its cost "
    "per batch: above). The pool is the largest part of our peak RSS besides the "
    "interpreters (prefetch_factor + 2 batches per worker, mapped but faulted in only where "
    "written).",
    "The machine is shared: the background-load column gives the cores other processes used "
    "during each run; on 2 cores a load of 1 takes about half of the CPU the loaders need.",
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        spec = json.loads(argv[1])
        result = child_micro(spec) if spec.get("who") == "micro" else child_epoch(spec)
        print(json.dumps(result), flush=True)
        return 0
    p = argparse.ArgumentParser(prog="python -m tools.bench.bench_loader",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small store, 1 run (smoke test)")
    p.add_argument("--runs", type=int, default=None, help="runs per measurement (default 3)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="inputs (kept)")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--no-doc", action="store_true", help="do not touch docs/benchmarks.md")
    p.add_argument("--render", type=Path, default=None,
                   help="write the doc section from a --json file of an earlier run, measure "
                        "nothing")
    p.add_argument("--quiet-wait", type=float, default=30.0,
                   help="seconds to wait before each run for other load to fall below 0.3 "
                        "cores (default 30)")
    args = p.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.duration, args.copies = QUICK if args.quick else FULL
    args.command_line = "python -m tools.bench.bench_loader" + (" " + " ".join(argv)
                                                                 if argv else "")
    t0 = time.perf_counter()
    args.cache.mkdir(parents=True, exist_ok=True)
    inputs = build_inputs(args.cache, args.duration, args.copies)
    if args.render:
        saved = json.loads(args.render.read_text())
        args.command_line = saved.get("command_line", args.command_line)
        args.runs = len(saved["rows"][0].get("ours", [])) or args.runs
        text = render(saved["machine"], inputs, saved["n_segments"], saved["rows"],
                      saved["micro"], args, saved.get("total_s", float("nan")),
                      saved.get("train_rows", []))
        publish(args.doc, SECTION, text, print_only=args.no_doc)
        return 0
    from streamdistill.store import open_store

    n_segments = open_store(inputs["default"]).n_segments
    log(f"{n_segments} segments; measuring")
    info = machine_info(PACKAGES)
    disk = disk_floor(inputs["default"], n_segments, args.runs)
    log("disk floor: " + ", ".join(f"{k} {v}" for k, v in disk.items()))
    for comp in STORES:
        warm_cache(inputs[comp])
    micro = measured({"who": "micro", **{c: str(inputs[c]) for c in STORES}, "shards": 40},
                     cpus={min(os.sched_getaffinity(0))})
    log("micro: " + ", ".join(f"{k} {v:,.0f}" if isinstance(v, (int, float)) else f"{k} {v}"
                              for k, v in micro.items()))
    rows = epoch_runs(inputs, FRACTIONS, args.runs, 0.0 if args.quick else args.quiet_wait)
    epochs, quiet = 2 if args.quick else EPOCHS, 0.0 if args.quick else args.quiet_wait
    train_rows = training_runs(inputs, TRAIN_FRACTIONS, args.runs, epochs, quiet)
    train_rows += training_runs(inputs, TRAIN_FRACTIONS, args.runs, epochs, quiet, cold=True)
    micro["disk"] = disk
    text = render(info, inputs, n_segments, rows, micro, args, time.perf_counter() - t0,
                  train_rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "n_segments": n_segments,
                                         "micro": micro, "rows": rows, "train_rows": train_rows,
                                         "total_s": time.perf_counter() - t0,
                                         "command_line": args.command_line},
                                        indent=1, default=str))
    publish(args.doc, SECTION, text, print_only=args.no_doc or args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
