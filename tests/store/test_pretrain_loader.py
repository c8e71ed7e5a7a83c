"""The pretraining loader (``store/pretrain_loader.py``): coverage, values, determinism, DDP
shares, resume, workers, WebDataset source, bounded reads, errors."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdistill.store import open_store
from streamdistill.store.pretrain_loader import (
    LoaderError,
    LoaderState,
    SelectedBatches,
    ShardReader,
    SlotPool,
    SlotRef,
    ZarrReader,
    epoch_plan,
    loader_fingerprint,
    make_dataloader,
)


def _ids(batches) -> list[list[int]]:
    return [b["segment_ids"].tolist() for b in batches]


def _subset(n: int, frac: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max(1, int(frac * n)), replace=False)).astype(np.int64)


@pytest.fixture(scope="module")
def store(small_store):
    return open_store(small_store)


@pytest.fixture(scope="module")
def many_shards(tmp_path_factory) -> dict[str, Path]:
    """One 64-channel recording (10 min, 200 Hz) sharded three ways with tiny shards (4 segments
    each, so a group spans ~37 shard files): zstd (default codec), none, blosc-lz4."""
    from streamdistill.config import ShardConfig, StoreFormatConfig
    from streamdistill.shard.run import run_shard
    from streamdistill.synth import generate_corpus

    root = tmp_path_factory.mktemp("many_shards")
    generate_corpus(root / "corpus", n_subjects=1, recordings_per_subject=1, montages=(64,),
                    sfreqs=(200.0,), duration_s=600.0, formats=("fif",), seed=5)
    out = {}
    for comp in ("zstd", "none", "blosc-lz4"):
        cfg = ShardConfig(workers=1, store=StoreFormatConfig(compressor=comp, shard_mb=0.45))
        run_shard([str(root / "corpus")], root / comp, cfg, progress=False)
        out[comp] = root / comp
    return out


# ------------------------------------------------------------------------------ coverage


def test_epoch_covers_selection_once_with_right_values(small_store, store):
    ids = _subset(store.n_segments, 0.6, seed=1)
    ds = SelectedBatches(small_store, ids, batch_size=5, drop_last=False, seed=3)
    batches = list(ds)
    seen = np.concatenate([b["segment_ids"].numpy() for b in batches])
    assert sorted(seen.tolist()) == ids.tolist()  # each selected id once, nothing else
    assert len(batches) == ds.batches_per_epoch() == ds.state().batches_done
    groups, _ = store.locate(seen)
    for b in batches:
        g = store.groups[b["group"]]
        x = b["x"]
        assert x.dtype == torch.float32 and b["segment_ids"].dtype == torch.int64
        assert x.shape == (len(b["segment_ids"]), g.n_channels, g.n_times)
        assert 1 <= len(b["segment_ids"]) <= 5 and b["channels"] == g.channels
        assert set(store.locate(b["segment_ids"].numpy())[0]) == {b["group"]}  # one group
        ref = np.stack([store.get(i) for i in b["segment_ids"].tolist()])
        np.testing.assert_array_equal(x.numpy(), ref)
    assert set(groups) == set(store.groups)


def test_drop_last_counts(small_store, store):
    ds = SelectedBatches(small_store, batch_size=4, drop_last=True)
    per_group = store.segments(["group"])["group"].value_counts()
    assert ds.batches_per_epoch() == sum(n // 4 for n in per_group)
    batches = list(ds)
    assert all(len(b["segment_ids"]) == 4 for b in batches)
    assert len(batches) == ds.batches_per_epoch()


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 60), min_size=1, max_size=4), unit=st.integers(1, 9),
       batch=st.integers(1, 8), buffer=st.integers(0, 30), drop_last=st.booleans(),
       seed=st.integers(0, 2**31), epoch=st.integers(0, 5))
def test_plan_invariants(sizes, unit, batch, buffer, drop_last, seed, epoch):
    layouts, start = [], 0
    for n in sizes:
        ids = np.arange(start, start + n, dtype=np.int64)
        layouts.append((ids, np.arange(n, dtype=np.int64) // unit))
        start += n
    kw = {"batch_size": batch, "seed": seed, "epoch": epoch, "shuffle_buffer": buffer,
          "drop_last": drop_last}
    plan = epoch_plan(layouts, **kw)
    again = epoch_plan(layouts, **kw)
    assert np.array_equal(plan.ids, again.ids) and np.array_equal(plan.groups, again.groups)
    assert len(np.unique(plan.ids)) == len(plan.ids)
    for k, n in enumerate(sizes):
        mine = np.flatnonzero(plan.groups == k)
        assert len(mine) == (n // batch if drop_last else -(-n // batch))
        got = np.concatenate([plan.ids[plan.starts[j]:plan.starts[j + 1]] for j in mine] or
                             [np.zeros(0, np.int64)])
        assert set(got.tolist()) <= set(layouts[k][0].tolist())
        assert len(got) == (n // batch * batch if drop_last else n)
        sizes_k = np.diff(plan.starts)[mine]
        assert np.all(sizes_k[:-1] == batch) if len(sizes_k) else True


# --------------------------------------------------------------------------- determinism


def test_order_is_deterministic_and_varies(small_store):
    def run(seed, epoch):
        ds = SelectedBatches(small_store, batch_size=3, seed=seed, shuffle_buffer=8,
                             drop_last=False)
        ds.set_epoch(epoch)
        return _ids(ds)

    a = run(0, 0)
    assert run(0, 0) == a
    assert run(0, 1) != a and run(1, 0) != a
    assert sorted(i for b in run(0, 1) for i in b) == sorted(i for b in a for i in b)


def test_same_batches_for_any_number_of_workers(small_store):
    ds = SelectedBatches(small_store, batch_size=3, seed=4, shuffle_buffer=16)
    ds.set_epoch(2)
    ref = [(b["group"], b["segment_ids"].tolist(), b["x"].clone()) for b in ds]
    for nw in (0, 1, 2):
        ds = SelectedBatches(small_store, batch_size=3, seed=4, shuffle_buffer=16)
        ds.set_epoch(2)
        got = [(b["group"], b["segment_ids"].tolist(), b["x"]) for b in
               make_dataloader(ds, num_workers=nw, prefetch_factor=2)]
        assert [g[:2] for g in got] == [r[:2] for r in ref], nw
        assert all(torch.equal(g[2], r[2]) for g, r in zip(got, ref))
        assert ds.state() == LoaderState(2, ds.batches_per_epoch())


def test_persistent_workers_follow_epochs_and_resume(small_store, store):
    """One loader iterated once per epoch keeps its worker processes, and every pass yields
    what a fresh in-process pass of that epoch yields — also a first pass resumed mid-epoch and
    a pass that follows one abandoned part-way."""
    kw = {"batch_size": 2, "seed": 8, "shuffle_buffer": 8}

    def epoch(e: int) -> list[list[int]]:
        ds = SelectedBatches(small_store, **kw)
        ds.set_epoch(e)
        return _ids(ds)

    ds = SelectedBatches(small_store, **kw, state=LoaderState(1, 3))
    loader = make_dataloader(ds, num_workers=2, prefetch_factor=2)
    assert loader.persistent_workers
    pids = None
    for e in (1, 2, 3):
        ds.set_epoch(e)
        got = list(loader)
        assert _ids(got) == (epoch(1)[3:] if e == 1 else epoch(e)), e
        for b in got[:4]:
            ref = np.stack([store.get(i) for i in b["segment_ids"].tolist()])
            np.testing.assert_array_equal(b["x"].numpy(), ref)
        workers = [w.pid for w in loader._iterator._workers]
        assert pids is None or workers == pids  # the same processes every epoch
        pids = workers
        assert ds.state() == LoaderState(e, ds.batches_per_epoch())
    ds.set_epoch(4)
    it = iter(loader)
    first = [next(it)["segment_ids"].tolist() for _ in range(2)]  # abandoned after 2 batches
    assert first == epoch(4)[:2]
    ds.set_epoch(5)
    assert _ids(loader) == epoch(5)
    assert not make_dataloader(ds, num_workers=2, persistent=False).persistent_workers


def test_workers_start_with_the_parent_heap_frozen(small_store, monkeypatch):
    """Forked workers see the parent's objects in the permanent generation (their full
    collections do not walk, nor copy, the inherited heap); the parent gets its collector back
    as it was, and a process that froze objects itself is left as it was."""
    seen = []
    read_batch = SelectedBatches.read_batch

    def recording(self, j, **kw):
        batch = read_batch(self, j, **kw)
        batch["group"] = (batch["group"], gc.get_freeze_count())
        return batch

    monkeypatch.setattr(SelectedBatches, "read_batch", recording)
    assert gc.get_freeze_count() == 0
    ds = SelectedBatches(small_store, batch_size=4, seed=0)
    loader = make_dataloader(ds, num_workers=2, prefetch_factor=2)
    for epoch in range(2):  # the first pass forks the workers, the second reuses them
        ds.set_epoch(epoch)
        seen += [b["group"][1] for b in loader]
        assert gc.get_freeze_count() == 0
    assert len(seen) == 2 * ds.batches_per_epoch() and min(seen) > 1000
    gc.freeze()
    try:
        mine = gc.get_freeze_count()
        ds = SelectedBatches(small_store, batch_size=4, seed=0)
        assert min(b["group"][1] for b in make_dataloader(ds, num_workers=1)) > 1000
        assert gc.get_freeze_count() > mine // 2  # not unfrozen by the loader
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("workers", [0, 2])
def test_x_in_the_store_dtype_holds_the_same_values(small_store, store, workers):
    """``x_dtype="store"``: the store's float16, the same values as the float32 batches (the
    conversion is exact), through the slot pool, its fallback (every batch kept) and in-process."""
    kw = {"batch_size": 2, "seed": 3, "shuffle_buffer": 4}
    ref = list(make_dataloader(SelectedBatches(small_store, **kw), num_workers=workers))
    ds = SelectedBatches(small_store, **kw, x_dtype="store")
    kept = list(make_dataloader(ds, num_workers=workers, prefetch_factor=2) if workers
                else ds)
    assert len(kept) == len(ref) == ds.batches_per_epoch() > 3 * 2 * 2
    for b, r in zip(kept, ref):
        assert b["x"].dtype == torch.float16 and r["x"].dtype == torch.float32
        assert torch.equal(b["segment_ids"], r["segment_ids"])
        assert torch.equal(b["x"].float(), r["x"])
        np.testing.assert_array_equal(
            b["x"].numpy(), np.stack([store.get(i) for i in b["segment_ids"].tolist()]))
    with pytest.raises(LoaderError, match="x_dtype must be one of float32, store"):
        SelectedBatches(small_store, **kw, x_dtype="float16")


def test_held_batches_stay_intact_with_workers(small_store, store):
    """Batches come back through reused shared slots: keeping every batch of an epoch must not
    let a worker overwrite one (the pool falls back to fresh memory when its slots are busy)."""
    ds = SelectedBatches(small_store, batch_size=2, seed=1, shuffle_buffer=4)
    kept = list(make_dataloader(ds, num_workers=2, prefetch_factor=2))
    assert len(kept) == ds.batches_per_epoch() > 3 * 2 * 2
    for b in kept:
        ref = np.stack([store.get(i) for i in b["segment_ids"].tolist()])
        np.testing.assert_array_equal(b["x"].numpy(), ref)


def test_slot_pool_reuse_and_fallback():
    pool = SlotPool(4, 2 * 3 * 4 * 4, n_owners=2)
    a, b = pool.acquire(1), pool.acquire(1)
    assert (a, b) == (2, 3) and pool.acquire(1) is None and pool.fallbacks == 1
    pool.view(a, (2, 3, 4))[:] = 7.0
    t = pool.tensor(SlotRef(a, (2, 3, 4)))
    view = t[1]
    assert float(t.sum()) == 7.0 * 24
    del t
    gc.collect()
    assert pool.busy[a] == 1  # a view keeps the slot
    del view
    gc.collect()
    assert pool.busy[a] == 0 and pool.acquire(1) == a
    assert pool.acquire(0) == 0  # owners have disjoint slots


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_slot_pool_allocates_a_slot_on_its_first_write_only():
    shape = (8, 64, 4096)  # 8 MiB of float32
    pool = SlotPool(2, 4 * int(np.prod(shape)))
    try:
        pool.mem.madvise(23, 0, 4096)  # MADV_POPULATE_WRITE
    except (OSError, ValueError):
        pytest.skip("kernel without MADV_POPULATE_WRITE")
    before = _rss_bytes()
    view = pool.writable(1, shape)
    grown = _rss_bytes() - before
    assert grown >= 0.95 * view.nbytes  # allocated before anything is written
    assert grown < 1.5 * view.nbytes  # only the slot asked for, not the whole pool
    view[:] = 3.0
    assert pool._populated.tolist() == [0, view.nbytes]
    again = pool.writable(1, shape)
    assert np.shares_memory(again, view) and float(again[-1, -1, -1]) == 3.0
    np.testing.assert_array_equal(pool.view(1, shape), view)
    before = _rss_bytes()
    half = pool.writable(0, shape, "float16")  # a float16 batch: half the slot
    assert half.dtype == np.float16 and pool._populated.tolist() == [half.nbytes, view.nbytes]
    assert 0.95 * half.nbytes <= _rss_bytes() - before < 1.5 * half.nbytes


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_reserve_descriptors_grows_the_table_and_touches_no_descriptor():
    import resource

    from streamdistill.store.segment_sources import reserve_descriptors

    def table() -> int:
        line = [x for x in Path("/proc/self/status").read_text().splitlines()
                if x.startswith("FDSize:")]
        return int(line[0].split()[1])

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = table() + 1
    if soft != resource.RLIM_INFINITY and want > soft:
        pytest.skip("descriptor limit too low")
    open_before = sorted(os.listdir("/proc/self/fd"))
    assert reserve_descriptors(want)
    assert table() >= want
    # the descriptor listing itself uses one fd: compare the sets, not the count
    assert sorted(os.listdir("/proc/self/fd")) == open_before
    if soft != resource.RLIM_INFINITY:
        assert not reserve_descriptors(soft + 1)  # beyond the limit: declined, nothing done


# ------------------------------------------------------------------------------ DDP/resume


def test_ddp_shares_are_equal_and_disjoint(small_store):
    plan_ds = SelectedBatches(small_store, batch_size=2, seed=9)
    plan = plan_ds.plan()
    shares = []
    for r in range(3):
        ds = SelectedBatches(small_store, batch_size=2, seed=9, rank=r, world_size=3)
        shares.append(_ids(ds))
        assert len(shares[-1]) == ds.batches_per_epoch() == plan.n_batches // 3
        want = [plan.ids[plan.starts[j]:plan.starts[j + 1]].tolist()
                for j in range(r, 3 * ds.batches_per_epoch(), 3)]
        assert shares[-1] == want
    flat = [i for s in shares for b in s for i in b]
    assert len(flat) == len(set(flat)) and set(flat) <= set(plan.ids.tolist())


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_yields_exactly_the_rest(small_store, workers):
    kw = {"batch_size": 2, "seed": 5, "shuffle_buffer": 6, "rank": 1, "world_size": 2}
    full = SelectedBatches(small_store, **kw)
    full.set_epoch(3)
    whole = _ids(full)
    ds = SelectedBatches(small_store, **kw)
    ds.set_epoch(3)
    n = 5
    it = iter(make_dataloader(ds, num_workers=workers, prefetch_factor=2))
    first = [next(it)["segment_ids"].tolist() for _ in range(n)]
    state = ds.state()
    del it
    assert state == LoaderState(3, n) and first == whole[:n]
    resumed = SelectedBatches(small_store, **kw, state=state)
    resumed.set_epoch(3)  # resuming that very epoch keeps the position
    rest = _ids(make_dataloader(resumed, num_workers=workers, prefetch_factor=2))
    assert rest == whole[n:]
    assert resumed.state() == LoaderState(3, resumed.batches_per_epoch())
    resumed.set_epoch(4)
    assert resumed.state() == LoaderState(4, 0)
    # a finished epoch iterated again starts over (like DistributedSampler without set_epoch)
    full.set_epoch(3)
    assert _ids(full) == whole and _ids(full) == whole


# -------------------------------------------------------------------------------- sources


def test_wds_export_gives_the_same_samples(small_store, store, tmp_path):
    from streamdistill.store.wds import export_wds

    ids = _subset(store.n_segments, 0.5, seed=2)
    export_wds(store, tmp_path / "wds", segment_ids=ids, shard_segments=7)
    kw = {"batch_size": 3, "drop_last": False, "seed": 1, "shuffle_buffer": 5}
    from_store = {i: x for b in SelectedBatches(small_store, ids, **kw)
                  for i, x in zip(b["segment_ids"].tolist(), b["x"])}
    wds = SelectedBatches(tmp_path / "wds", **kw)
    assert wds.source_kind == "wds" and wds.fingerprint == loader_fingerprint(
        store.fingerprint, ids)
    from_wds = {}
    for b in make_dataloader(wds, num_workers=2, prefetch_factor=2):
        assert set(store.locate(b["segment_ids"].numpy())[0]) == {b["group"]}
        assert b["channels"] == store.groups[b["group"]].channels
        from_wds.update(zip(b["segment_ids"].tolist(), b["x"]))
    assert sorted(from_wds) == sorted(from_store) == ids.tolist()
    for i in ids.tolist():
        assert torch.equal(from_wds[i], from_store[i])
    sub = ids[::2]
    part = SelectedBatches(tmp_path / "wds", sub, **kw)
    assert sorted(i for b in part for i in b["segment_ids"].tolist()) == sub.tolist()
    missing = np.setdiff1d(np.arange(store.n_segments), ids)[:2]
    with pytest.raises(ValueError, match="not among"):
        SelectedBatches(tmp_path / "wds", np.concatenate([sub, missing]), **kw)


@pytest.mark.parametrize("comp", ["zstd", "none", "blosc-lz4"])
def test_shard_reader_matches_zarr(many_shards, comp):
    store = open_store(many_shards[comp])
    (g,) = store.groups
    arr = store.array(g)
    reader = ShardReader.open(store.layout.zarr / store.layout.group_array_path(g))
    assert reader is not None and arr.shards[0] == 4
    rows = np.random.default_rng(0).permutation(arr.shape[0])[:50]
    a = np.empty((50, *arr.shape[1:]), np.float16)
    b = np.empty_like(a)
    reader.read_into(rows, a)
    ZarrReader(arr).read_into(rows, b)
    assert np.array_equal(a.view(np.uint16), b.view(np.uint16))
    assert np.array_equal(a, np.asarray(arr.get_orthogonal_selection((np.sort(rows),)))[
        np.argsort(np.argsort(rows))])
    x = torch.empty(a.shape)
    reader.read_into(rows, x)
    assert torch.equal(x, torch.from_numpy(a.astype(np.float32)))


def test_blosc_decoders_agree_and_numcodecs_is_the_fallback(many_shards, monkeypatch):
    """blosc2 (where installed) and numcodecs decode the store's blosc chunks to the same bits
    as Zarr; without blosc2 the reader falls back to numcodecs."""
    from streamdistill.store import chunk_codecs

    store = open_store(many_shards["blosc-lz4"])
    (g,) = store.groups
    array_dir = store.layout.zarr / store.layout.group_array_path(g)
    rows = np.random.default_rng(2).permutation(store.n_segments)[:40]
    ref = np.asarray(store.array(g).get_orthogonal_selection((np.sort(rows),)))[
        np.argsort(np.argsort(rows))]
    got = {}
    for name in ("installed", "without blosc2"):
        if name == "without blosc2":
            monkeypatch.setattr(chunk_codecs, "_blosc2_decompress", lambda: None)
            assert chunk_codecs.blosc_decoder() == "numcodecs"
        got[name] = np.empty_like(ref)
        ShardReader.open(array_dir).read_into(rows, got[name])
        assert np.array_equal(got[name].view(np.uint16), ref.view(np.uint16)), name
    pytest.importorskip("blosc2")
    monkeypatch.undo()
    assert chunk_codecs.blosc_decoder() == "blosc2"


def test_undecodable_chunk_is_a_clear_store_error(many_shards, tmp_path):
    """A chunk whose bytes do not decode (its blosc header overwritten; the shard index intact)
    fails its batch with a StoreError naming the shard file and the chunk."""
    from streamdistill.store.segment_store import StoreError

    shutil.copytree(many_shards["blosc-lz4"], tmp_path / "s")
    store = open_store(tmp_path / "s")
    (g,) = store.groups
    array_dir = store.layout.zarr / store.layout.group_array_path(g)
    reader = ShardReader.open(array_dir)
    shard = array_dir / "c" / "2" / "0" / "0"
    fd = os.open(shard, os.O_RDONLY)
    offset = int(reader._index(fd)[1, 0])  # row 9 = chunk 1 of shard 2
    os.close(fd)
    data = bytearray(shard.read_bytes())
    data[offset:offset + 16] = b"\xff" * 16
    shard.write_bytes(bytes(data))
    out = np.empty((3, *store.array(g).shape[1:]), np.float16)
    reader.read_into(np.array([8, 10, 11]), out)  # the shard's other chunks still read
    with pytest.raises(StoreError, match=r"c/2/0/0: chunk 1 does not decode .*damaged"):
        reader.read_into(np.array([8, 9]), out[:2])
    reader.close()


def test_bounded_open_shards_and_each_segment_read_once(many_shards):
    store = open_store(many_shards["zstd"])
    (g,) = store.groups
    n_shards = -(-store.n_segments // store.array(g).shards[0])
    ids = _subset(store.n_segments, 0.7, seed=3)
    ds = SelectedBatches(many_shards["zstd"], ids, batch_size=8, shuffle_buffer=32,
                         drop_last=False, max_open_shards=3)
    reader = ds.reader(g)
    assert isinstance(reader, ShardReader) and n_shards > 10
    n = sum(len(b["segment_ids"]) for b in ds)
    assert n == len(ids) == reader.decoded  # no segment decoded twice, none skipped
    assert 1 <= reader.files.peak <= 3 and len(reader.files) <= 3


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_shard_reader_announced_indexes_missing_shard_and_no_fd_leak(many_shards, tmp_path):
    """A batch spanning more shards than the open-file LRU holds, one shard file missing (an
    unwritten shard reads as the fill value, as in Zarr): values equal Zarr's, and the files
    opened ahead to announce their indexes are all taken over or closed."""
    src = many_shards["blosc-lz4"]
    shutil.copytree(src, tmp_path / "s")
    store = open_store(tmp_path / "s")
    (g,) = store.groups
    arr = store.array(g)
    array_dir = store.layout.zarr / store.layout.group_array_path(g)
    (gone,) = [p for p in (array_dir / "c").iterdir() if p.name == "3"]
    shutil.rmtree(gone)  # shard 3 (rows 12..15) never written
    rows = np.random.default_rng(1).permutation(arr.shape[0])[:60]
    assert np.any((rows // 4) == 3)
    before = _open_fds()
    reader = ShardReader.open(array_dir, files=2)
    out = np.empty((len(rows), *arr.shape[1:]), np.float16)
    reader.read_into(rows, out)
    assert not reader._opened and len(reader.files) <= 2
    expect = np.asarray(arr.get_orthogonal_selection((np.sort(rows),)))[
        np.argsort(np.argsort(rows))]
    assert np.array_equal(out.view(np.uint16), expect.view(np.uint16))
    assert np.all(out[(rows // 4) == 3] == 0)
    reader.close()
    assert _open_fds() == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_shard_reader_damaged_shard_clear_error_and_no_fd_leak(many_shards, tmp_path):
    """A shard file cut short (its index damaged) fails the batch with a clear StoreError;
    the files opened ahead for the batch's indexes are closed all the same."""
    from streamdistill.store.segment_store import StoreError

    shutil.copytree(many_shards["blosc-lz4"], tmp_path / "s")
    store = open_store(tmp_path / "s")
    (g,) = store.groups
    array_dir = store.layout.zarr / store.layout.group_array_path(g)
    damaged = array_dir / "c" / "5" / "0" / "0"
    damaged.write_bytes(damaged.read_bytes()[:100])  # shard 5: rows 20..23
    rows = np.arange(0, 40)
    before = _open_fds()
    reader = ShardReader.open(array_dir, files=8)
    out = np.empty((len(rows), *store.array(g).shape[1:]), np.float16)
    with pytest.raises(StoreError, match="checksum mismatch|truncated"):
        reader.read_into(rows, out)
    assert not reader._opened
    reader.close()
    assert _open_fds() == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir() or not hasattr(os, "posix_fadvise"),
                    reason="needs /proc/self/fd and posix_fadvise")
def test_shard_reader_read_ahead(many_shards, tmp_path):
    """announce() then prepare() of later batches: their shard indexes are looked up ahead (in
    the LRU before the batch is read, nothing left half-open), the values are unchanged, the
    files opened ahead stay bounded, and a damaged shard is reported by its own batch's read,
    not by the read-ahead of the batch before."""
    from streamdistill.store.segment_store import StoreError

    shutil.copytree(many_shards["blosc-lz4"], tmp_path / "s")
    store = open_store(tmp_path / "s")
    (g,) = store.groups
    arr = store.array(g)
    array_dir = store.layout.zarr / store.layout.group_array_path(g)
    batches = np.array_split(np.random.default_rng(2).permutation(arr.shape[0]), 6)
    before = _open_fds()
    reader = ShardReader.open(array_dir, files=64)
    for b in batches:  # every batch announced ahead, more than one batch's worth
        reader.announce(b)
    assert 0 < len(reader._opened) <= reader.files.max_open
    for p, b in enumerate(batches):
        if p + 1 < len(batches):
            reader.prepare(batches[p + 1])
            assert all((reader._key, int(r) // arr.shards[0]) in reader.files
                       for r in batches[p + 1])
        out = np.empty((len(b), *arr.shape[1:]), np.float16)
        reader.read_into(b, out)
        expect = np.asarray(arr.get_orthogonal_selection((np.sort(b),)))[
            np.argsort(np.argsort(b))]
        assert np.array_equal(out.view(np.uint16), expect.view(np.uint16))
    assert not reader._opened
    reader.close()
    assert _open_fds() == before

    damaged = array_dir / "c" / "5" / "0" / "0"
    damaged.write_bytes(damaged.read_bytes()[:100])  # shard 5: rows 20..23
    reader = ShardReader.open(array_dir, files=8)
    reader.announce(np.arange(16, 28))
    reader.prepare(np.arange(16, 28))  # silent: the batch's own read reports it
    with pytest.raises(StoreError, match="checksum mismatch|truncated"):
        reader.read_into(np.arange(16, 28), np.empty((12, *arr.shape[1:]), np.float16))
    reader.close()
    assert _open_fds() == before


# --------------------------------------------------------------------------------- errors


def test_clear_errors(small_store, store, tmp_path):
    n = store.n_segments
    with pytest.raises(ValueError, match="out of range"):
        SelectedBatches(small_store, np.array([0, n]), batch_size=1)
    with pytest.raises(ValueError, match="out of range"):
        SelectedBatches(small_store, np.array([-1, 2]), batch_size=1)
    with pytest.raises(ValueError, match="empty selection"):
        SelectedBatches(small_store, np.zeros(0, np.int64), batch_size=1)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            SelectedBatches(small_store, batch_size=bad)
    (tmp_path / "junk").mkdir()
    with pytest.raises(ValueError, match="neither a segment store"):
        SelectedBatches(tmp_path / "junk", batch_size=1)
    with pytest.raises(ValueError, match="duplicates"):
        SelectedBatches(small_store, np.array([1, 1, 2]), batch_size=1)
    with pytest.raises(ValueError, match="none per rank"):
        SelectedBatches(small_store, np.array([0, 1, 2]), batch_size=4)
    with pytest.raises(ValueError, match="rank"):
        SelectedBatches(small_store, batch_size=1, rank=2, world_size=2)
    with pytest.raises(ValueError, match="does not fit"):
        SelectedBatches(small_store, batch_size=1, state=LoaderState(0, 10**6))
    with pytest.raises(ValueError, match="integer"):
        SelectedBatches(small_store, np.array([0.5, 1.0]), batch_size=1)
