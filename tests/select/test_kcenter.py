"""k-center greedy (EEG-DLite's diversity selection): every backend, pruning mode and resume path
gives the same picks as a literal numpy oracle of the documented rules and the released loop."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamdistill.select import kcenter as kc
from streamdistill.select import kcenter_numba as kn
from streamdistill.select.kcenter import (
    KCenterState,
    greedy_with_stats,
    kcenter_greedy,
    label_quota,
    plain_kcenter_reference,
    seed_state,
)
from streamdistill.select.kcenter_torch import TorchKCenter, run_torch

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------ data


def grid_data(seed: int, n: int, d: int, clustered: bool, dup_frac: float = 0.0) -> np.ndarray:
    """Values on the grid k/8, |k| ≤ 32: every squared distance (d ≤ 64) is an exact float32 sum
    in any order, so all backends compute bit-equal distances and exact ties are common."""
    rng = np.random.default_rng(seed)
    if clustered:
        n_c = max(1, n // 50)
        cent = rng.integers(-24, 25, size=(n_c, d))
        x = cent[rng.integers(n_c, size=n)] + rng.integers(-4, 5, size=(n, d))
    else:
        x = rng.integers(-32, 33, size=(n, d))
    x = np.clip(x, -32, 32).astype(np.float32) / 8
    if dup_frac and n > 1:
        m = int(dup_frac * n)
        x[rng.integers(n, size=m)] = x[rng.integers(n, size=m)]
    return np.ascontiguousarray(x)


def float_data(seed: int, n: int, d: int, clustered: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if clustered:
        n_c = max(2, n // 100)
        cent = rng.standard_normal((n_c, d)) * 5
        scale = rng.uniform(0.2, 1.5, n_c)
        lab = rng.integers(n_c, size=n)
        x = cent[lab] + rng.standard_normal((n, d)) * scale[lab, None]
    else:
        x = rng.standard_normal((n, d))
    return np.ascontiguousarray(x, dtype=np.float32)


def n_distinct(x: np.ndarray) -> int:
    return len(np.unique(x, axis=0))


def oracle(x: np.ndarray, k: int, first: int, labels=None, cap=None):
    """The documented rules, literally (numpy float32 direct form; exact on grid data)."""
    n = len(x)
    md = np.full(n, np.inf, np.float32)
    picked = np.zeros(n, bool)
    counts = np.zeros(int(labels.max()) + 1 if labels is not None else 1, np.int64)
    picks, radius = [], []
    p = first
    for j in range(k):
        picks.append(p)
        picked[p] = True
        if labels is not None:
            counts[labels[p]] += 1
        md = np.minimum(md, np.sqrt(((x - x[p]) ** 2).sum(axis=1, dtype=np.float32)))
        radius.append(float(md.max()))
        if labels is None:
            cand = ~picked
        else:
            cand = (counts[labels] < label_quota(cap, j + 2)) & (md > 0)
            if not cand.any():
                has = np.unique(labels[md > 0])
                if has.size:
                    low = counts[has].min()
                    cand = np.isin(labels, has[counts[has] == low]) & (md > 0)
                else:
                    cand = ~picked
        p = int(np.argmax(np.where(cand, md, -1.0)))
    return np.array(picks), np.array(radius)


def brute_min_dist(x: np.ndarray, picks: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return np.sqrt(((x64[:, None, :] - x64[picks][None]) ** 2).sum(-1)).min(axis=1)


def same_state(a: KCenterState, b: KCenterState) -> None:
    np.testing.assert_array_equal(a.picks, b.picks)
    np.testing.assert_array_equal(a.radius, b.radius)
    np.testing.assert_array_equal(a.min_dist, b.min_dist)
    np.testing.assert_array_equal(a.nearest, b.nearest)


@pytest.fixture
def alternate_pruning(monkeypatch):
    """Make ``pruning='auto'`` switch between plain and pruned passes at every other pick."""
    monkeypatch.setattr(kc._AutoPruning, "use_prune", lambda self, j: self.mode == "on"
                        or (self.mode == "auto" and j % 2 == 1))


# ------------------------------------------------------------------------------ agreement


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(2, 2000), d=st.integers(1, 16),
       clustered=st.booleans(), dup=st.sampled_from([0.0, 0.3]), k_frac=st.floats(0.01, 1.0))
def test_backends_agree_with_oracle(seed, n, d, clustered, dup, k_frac):
    x = grid_data(seed, n, d, clustered, dup)
    k = max(1, min(n, int(k_frac * min(n, 80))))
    picks, radius = oracle(x, k, 0)
    ref = {m: kcenter_greedy(x, k, init="first", pruning=m) for m in ("off", "on", "auto")}
    for m, s in ref.items():
        np.testing.assert_array_equal(s.picks, picks, err_msg=m)
        np.testing.assert_array_equal(s.radius, radius, err_msg=m)
        same_state(s, ref["off"])
    t = kcenter_greedy(x, k, init="first", backend="torch", device="cpu")
    same_state(t, ref["off"])
    if k <= n_distinct(x):  # the released loop repeats rows once everything is covered
        np.testing.assert_array_equal(plain_kcenter_reference(x, k, 0), picks)


def test_switching_mid_run_is_exact(alternate_pruning):
    x = float_data(3, 3000, 16, clustered=True)
    s, stats = greedy_with_stats(x, 300, init="first", pruning="auto")
    assert stats.pruned[1::2].all() and not stats.pruned[0::2].any()
    assert (stats.computed[stats.pruned] < len(x)).any()
    same_state(s, kcenter_greedy(x, 300, init="first", pruning="off"))


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("d", [3, 16, 64])
def test_generic_floats_agree(clustered, d):
    x = float_data(11 + d, 1500, d, clustered)
    k = 150
    off = kcenter_greedy(x, k, init="first", pruning="off")
    for m in ("on", "auto"):
        same_state(kcenter_greedy(x, k, init="first", pruning=m), off)
    np.testing.assert_array_equal(plain_kcenter_reference(x, k, 0), off.picks)
    t = kcenter_greedy(x, k, init="first", backend="torch")
    np.testing.assert_array_equal(t.picks, off.picks)
    np.testing.assert_allclose(t.radius, off.radius, rtol=1e-6)
    np.testing.assert_allclose(t.min_dist, off.min_dist, rtol=1e-6)
    np.testing.assert_allclose(off.min_dist, brute_min_dist(x, off.picks), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("block, slots, coarse", [(8, 1, 3), (32, 2, 16), (256, 8, 256)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_pruning_small_blocks(monkeypatch, block, slots, coarse, seed):
    """The grouped pass with many tiny blocks, few extra-center slots (dirty blocks, regroups) and
    few coarse centers still gives the plain pass's state, on generic floats and on grid data
    full of ties, also when resumed mid-run."""
    monkeypatch.setattr(kn, "GROUP_BLOCK", block)
    monkeypatch.setattr(kc._Grouping, "SLOTS", slots)
    monkeypatch.setattr(kc._Grouping, "COARSE", coarse)
    regroups = []
    orig = kc._Grouping.pass_

    def spy(self, *a, **kw):
        out = orig(self, *a, **kw)
        regroups.append(self.regroups)
        return out

    monkeypatch.setattr(kc._Grouping, "pass_", spy)
    for x in (float_data(seed, 1500, 6, True), grid_data(seed, 1500, 5, True, 0.2)):
        k = min(300, n_distinct(x))
        saved: list[KCenterState] = []
        on = kcenter_greedy(x, k, init="first", pruning="on", checkpoint=saved.append,
                            checkpoint_every=70)
        off = kcenter_greedy(x, k, init="first", pruning="off")
        same_state(on, off)
        same_state(kcenter_greedy(x, k, state=saved[2], pruning="on"), off)
    assert max(regroups) > 1


def test_pruning_pays_on_clustered_data():
    x = float_data(5, 20000, 16, clustered=True)
    _, st_on = greedy_with_stats(x, 600, init="first", pruning="on")
    # late picks compute only the rows near the new center
    assert st_on.computed[-100:].mean() < 0.2 * len(x)


# ------------------------------------------------------------------------------ invariants


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(3, 1500), d=st.integers(1, 16),
       clustered=st.booleans(), init=st.sampled_from(["first", "medoid", "random"]),
       pruning=st.sampled_from(["off", "on"]))
def test_prefix_stability_and_radius(seed, n, d, clustered, init, pruning):
    x = float_data(seed, n, d, clustered)
    k2 = min(n, 60)
    k1 = max(1, k2 // 3)
    s2 = kcenter_greedy(x, k2, init=init, seed=seed, pruning=pruning)
    s1 = kcenter_greedy(x, k1, init=init, seed=seed, pruning=pruning)
    np.testing.assert_array_equal(s1.picks, s2.picks[:k1])
    np.testing.assert_array_equal(s1.radius, s2.radius[:k1])
    assert len(np.unique(s2.picks)) == k2
    assert np.all(np.diff(s2.radius) <= 0)
    for j in sorted({0, k1 - 1, k2 // 2, k2 - 1}):
        brute = brute_min_dist(x, s2.picks[: j + 1])
        np.testing.assert_allclose(s2.radius[j], brute.max(), rtol=1e-5, atol=1e-6)
        if j + 1 < k2:  # the radius is the distance of the next pick
            np.testing.assert_allclose(brute[s2.picks[j + 1]], s2.radius[j], rtol=1e-5, atol=1e-6)
    assert s2.min_dist[s2.picks].max() == 0
    if n_distinct(x) == n:
        np.testing.assert_array_equal(s2.nearest[s2.picks], np.arange(k2))


def test_degenerate_duplicates():
    x = np.zeros((7, 3), np.float32)
    s = kcenter_greedy(x, 7, init="random", seed=1)
    first = int(np.random.default_rng(1).integers(7))
    np.testing.assert_array_equal(s.picks, [first] + [i for i in range(7) if i != first])
    np.testing.assert_array_equal(s.radius, np.zeros(7))
    np.testing.assert_array_equal(s.nearest, np.zeros(7))
    t = kcenter_greedy(x, 7, init="random", seed=1, backend="torch")
    same_state(t, s)


def test_inits():
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(rng.standard_normal((501, 5)), np.float32)
    x[137] = x.astype(np.float64).mean(axis=0) + 1e-3  # nearest to the mean by far
    dist = np.sqrt(((x.astype(np.float64) - x.astype(np.float64).mean(0)) ** 2).sum(1))
    assert np.argmin(dist) == 137
    assert kcenter_greedy(x, 1).picks[0] == 137  # medoid is the default
    assert kcenter_greedy(x, 1, init="first").picks[0] == 0
    assert kcenter_greedy(x, 1, init="random", seed=42).picks[0] == \
        np.random.default_rng(42).integers(len(x))
    assert kc.first_pick(x, "medoid") == 137
    # ties: the lowest index
    y = np.ascontiguousarray(np.array([[2, 0], [-1, 0], [1, 0], [-2, 0]], np.float32))
    assert kcenter_greedy(y, 1).picks[0] == 1


# ------------------------------------------------------------------------------ resume / extend


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(5, 1200), d=st.integers(1, 16),
       grid=st.booleans(), every=st.integers(1, 13), use_labels=st.booleans(),
       pruning=st.sampled_from(["auto", "on", "off"]))
def test_resume_from_checkpoint(seed, n, d, grid, every, use_labels, pruning):
    x = grid_data(seed, n, d, True, 0.2) if grid else float_data(seed, n, d, True)
    k = min(n, 50)
    kw = {}
    if use_labels:
        kw = dict(labels=np.random.default_rng(seed).integers(0, 4, n), label_cap=0.4)
    saved: list[KCenterState] = []
    full = kcenter_greedy(x, k, init="medoid", checkpoint=saved.append, checkpoint_every=every,
                          pruning=pruning, **kw)
    same_state(full, kcenter_greedy(x, k, init="medoid", pruning="off", **kw))
    assert [len(s.picks) for s in saved] == sorted(set(list(range(every, k + 1, every)) + [k]))
    same_state(saved[-1], full)
    for mid in saved[: len(saved) // 2 + 1]:
        mid_copy = mid.copy()
        resumed = kcenter_greedy(x, k, state=mid, pruning=pruning, **kw)
        same_state(mid, mid_copy)  # the given state is not modified
        same_state(resumed, full)
        resumed_t = kcenter_greedy(x, k, state=mid, backend="torch", **kw)
        if grid:
            same_state(resumed_t, full)
    # k within the state: returned unchanged
    assert kcenter_greedy(x, max(1, k // 2), state=full) is not None
    same_state(kcenter_greedy(x, k, state=full), full)


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(5, 1500), d=st.integers(1, 16),
       grid=st.booleans(), m_frac=st.floats(0.0, 1.0), batch=st.sampled_from([97, 262144]))
def test_seed_state_continuation(seed, n, d, grid, m_frac, batch):
    x = grid_data(seed, n, d, seed % 2 == 0, 0.2) if grid else float_data(seed, n, d, True)
    k = min(n, 40, n_distinct(x))
    m = max(1, int(m_frac * (k - 1)))
    full = kcenter_greedy(x, k, init="first", pruning="off")
    part = kcenter_greedy(x, m, init="first", pruning="off")
    seeded = seed_state(x, full.picks[:m], batch_rows=batch)
    np.testing.assert_array_equal(seeded.min_dist, part.min_dist)
    np.testing.assert_array_equal(seeded.nearest, part.nearest)
    assert np.isnan(seeded.radius[:-1]).all() and seeded.radius[-1] == part.radius[-1]
    cont = kcenter_greedy(x, k, state=seeded)
    np.testing.assert_array_equal(cont.picks, full.picks)
    np.testing.assert_array_equal(cont.radius[m - 1:], full.radius[m - 1:])
    np.testing.assert_array_equal(cont.min_dist, full.min_dist)
    np.testing.assert_array_equal(cont.nearest, full.nearest)


def test_seed_state_near_ties_use_brute_force():
    # many centers at the same distance from many rows: faiss's 4 candidates cannot decide
    x = np.zeros((40, 8), np.float32)
    for i in range(8):
        x[i, i], x[8 + i, i] = 1, -1
    x[16:] = np.random.default_rng(0).integers(-1, 2, size=(24, 8)) / 4
    x = np.unique(x, axis=0)
    full = kcenter_greedy(x, 20, init="first")
    for m in (5, 12):
        seeded = seed_state(x, full.picks[:m])
        part = kcenter_greedy(x, m, init="first")
        np.testing.assert_array_equal(seeded.nearest, part.nearest)
        np.testing.assert_array_equal(seeded.min_dist, part.min_dist)
        np.testing.assert_array_equal(kcenter_greedy(x, 20, state=seeded).picks, full.picks)


def test_seed_state_empty_and_progress(capsys):
    x = float_data(2, 500, 4, True)
    empty = seed_state(x, np.zeros(0, np.int64))
    assert len(empty.picks) == 0 and np.isinf(empty.min_dist).all()
    same_state(kcenter_greedy(x, 30, state=empty, progress=True), kcenter_greedy(x, 30))
    assert "k-center" in capsys.readouterr().err


def test_memmap_input(tmp_path):
    x = float_data(1, 3000, 12, True)
    path = tmp_path / "z.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    a = kcenter_greedy(x, 120)
    for kw in ({}, {"pruning": "on"}, {"backend": "torch"}):
        b = kcenter_greedy(mm, 120, **kw)
        np.testing.assert_array_equal(b.picks, a.picks)
    om = np.lib.format.open_memmap(path, mode="r")
    np.testing.assert_array_equal(kcenter_greedy(om, 120).picks, a.picks)
    np.testing.assert_array_equal(seed_state(om, a.picks[:50]).min_dist,
                                  kcenter_greedy(x, 50).min_dist)


# ------------------------------------------------------------------------------ labels


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(20, 1500), d=st.integers(1, 16),
       n_labels=st.integers(1, 6), cap_num=st.integers(1, 12), grid=st.booleans())
def test_label_cap(seed, n, d, n_labels, cap_num, grid):
    rng = np.random.default_rng(seed)
    x = grid_data(seed, n, d, True, 0.1) if grid else float_data(seed, n, d, True)
    labels = rng.integers(0, n_labels, n) * 7 + 3  # arbitrary label values
    present = len(np.unique(labels))
    cap = min(1.0, max(1.0 / present, cap_num / 12))
    k = min(60, n_distinct(x))
    s = kcenter_greedy(x, k, init="first", labels=labels, label_cap=cap)
    _, inv = np.unique(labels, return_inverse=True)
    if grid:
        picks, radius = oracle(x, k, 0, inv, cap)
        np.testing.assert_array_equal(s.picks, picks)
        np.testing.assert_array_equal(s.radius, radius)
        same_state(kcenter_greedy(x, k, init="first", labels=labels, label_cap=cap,
                                  backend="torch"), s)
    for m in ("on", "auto"):
        same_state(kcenter_greedy(x, k, init="first", labels=labels, label_cap=cap, pruning=m), s)
    # while every label keeps rows at positive distance (cap ≥ 1/labels: some label is under
    # its quota), every prefix respects the quota
    counts = np.zeros(present, np.int64)
    feasible = True
    for j, p in enumerate(s.picks, start=1):
        if j > 1:
            remaining = brute_min_dist(x, s.picks[: j - 1]) > 0
            feasible = feasible and all(remaining[inv == lab].any() for lab in range(present))
        counts[inv[p]] += 1
        if feasible:
            assert counts.max() <= label_quota(cap, j), (j, counts)
    if cap == 1.0:
        np.testing.assert_array_equal(s.picks, kcenter_greedy(x, k, init="first").picks)


def test_label_fallback_when_a_label_runs_out():
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(rng.standard_normal((300, 4)), np.float32)
    labels = np.ones(300, np.int64)
    labels[[5, 77]] = 0  # label 0 has two rows only
    s = kcenter_greedy(x, 30, init="first", labels=labels, label_cap=0.5)
    assert {5, 77} <= set(s.picks[:4].tolist())  # label 0 is served first while under quota
    assert (labels[s.picks] == 1).sum() == 28  # then label 1 takes every further pick
    # the same with the oracle on grid data, labels running out through duplicates too
    g = grid_data(4, 400, 6, True, 0.3)
    lab = (np.arange(400) % 3 == 0).astype(np.int64)
    lab[:3] = 2
    g[1] = g[0]
    g[2] = g[0]
    picks, _ = oracle(g, 40, 0, lab, 0.34)
    t = kcenter_greedy(g, 40, init="first", labels=lab, label_cap=0.34)
    np.testing.assert_array_equal(t.picks, picks)
    np.testing.assert_array_equal(
        kcenter_greedy(g, 40, init="first", labels=lab, label_cap=0.34, backend="torch").picks,
        picks)


def test_label_quota_is_exact():
    assert label_quota(0.1, 30) == 3
    assert label_quota(1 / 3, 3) == 1 and label_quota(1 / 3, 4) == 2
    assert label_quota(0.5, 1) == 1 and label_quota(1.0, 17) == 17


# ------------------------------------------------------------------------------ threads, torch


def test_thread_count_independence(monkeypatch):
    monkeypatch.setattr(kn, "GROUP_BLOCK", 64)
    x = float_data(9, 20000, 8, True)
    before = numba.get_num_threads()
    try:
        out = {}
        for th in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(th)
            out[th] = [kcenter_greedy(x, 150, pruning=m) for m in ("off", "on")]
        for a, b in zip(*out.values()):
            same_state(a, b)
        same_state(out[1][0], out[1][1])
    finally:
        numba.set_num_threads(before)


def _torch_direct(x, k, **kw):
    n = len(x)
    start = KCenterState(np.zeros(0, np.int64), np.zeros(0), np.full(n, np.inf, np.float32),
                         np.full(n, -1, np.int32))
    drv = kc._Driver(k, 0, None, 1000, False)
    return run_torch(x, k, start, 0, None, 0, None, "cpu", "fp32", drv, **kw)[0]


def test_torch_chunked_and_streamed():
    x = grid_data(2, 1000, 9, True, 0.2)
    ref = kcenter_greedy(x, 80, init="first")
    same_state(_torch_direct(x, 80, chunk_rows=97), ref)
    same_state(_torch_direct(x, 80, resident=False, chunk_rows=128), ref)
    tk = TorchKCenter(x, "cpu", "fp32", None, 0, resident=False, chunk_rows=50)
    assert not tk.resident and tk.chunk == 50


def test_torch_fp16_runs():
    x = float_data(3, 2000, 16, True)
    s = kcenter_greedy(x, 100, backend="torch", precision="fp16", init="first")
    f = kcenter_greedy(x, 100, init="first")
    assert len(np.unique(s.picks)) == 100 and np.all(np.diff(s.radius) <= 0)
    assert s.picks[0] == f.picks[0]
    np.testing.assert_allclose(s.radius[-1], f.radius[-1], rtol=0.02)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("clustered", [False, True])
def test_cuda_matches_numba(clustered):
    x = float_data(7, 20000, 64, clustered)
    ref = kcenter_greedy(x, 300, init="first")
    s = kcenter_greedy(x, 300, init="first", backend="torch", device="cuda")
    np.testing.assert_array_equal(s.picks, ref.picks)
    np.testing.assert_allclose(s.radius, ref.radius, rtol=1e-6)
    g = grid_data(7, 5000, 16, clustered, 0.2)
    labels = np.arange(5000) % 5
    same_state(kcenter_greedy(g, 200, backend="torch", device="cuda", labels=labels,
                              label_cap=0.3), kcenter_greedy(g, 200, labels=labels, label_cap=0.3))
    streamed = TorchKCenter(x, "cuda", "fp32", None, 0, resident=False)
    assert not streamed.resident
    h = kcenter_greedy(x, 300, init="first", backend="torch", device="cuda", precision="fp16")
    assert len(np.unique(h.picks)) == 300


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("kwargs, match", [
    (dict(k=0), "k=0"),
    (dict(k=11), "k=11 exceeds"),
    (dict(k=2.5), "k=2.5"),
    (dict(init="center"), "init="),
    (dict(backend="jax"), "backend="),
    (dict(precision="bf16"), "precision="),
    (dict(pruning="maybe"), "pruning="),
    (dict(precision="fp16"), "precision='fp16'"),
    (dict(device="cuda"), "device="),
    (dict(backend="torch", pruning="on"), "pruning='on'"),
    (dict(backend="torch", device="tpu"), "device="),
    (dict(labels=np.zeros(9, int), label_cap=0.5), "labels"),
    (dict(labels=np.zeros(10), label_cap=0.5), "labels"),
    (dict(labels=np.zeros(10, int)), "label_cap"),
    (dict(labels=np.zeros(10, int), label_cap=0.0), "label_cap"),
    (dict(labels=np.zeros(10, int), label_cap=1.5), "label_cap"),
    (dict(label_cap=0.5), "label_cap"),
    (dict(checkpoint_every=0), "checkpoint_every"),
])
def test_errors(kwargs, match):
    x = float_data(0, 10, 3, False)
    kwargs = {"k": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        kcenter_greedy(x, **kwargs)


def test_bad_points_and_states():
    x = float_data(0, 10, 3, False)
    bad = x.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        kcenter_greedy(bad, 3)
    bad[4, 1] = np.inf
    with pytest.raises(ValueError, match="row 4"):
        seed_state(bad, np.array([0]))
    with pytest.raises(ValueError, match="float32"):
        kcenter_greedy(x.astype(np.float64), 3)
    with pytest.raises(ValueError, match="C-contiguous"):
        kcenter_greedy(np.asfortranarray(x), 3)
    with pytest.raises(ValueError, match="points"):
        kcenter_greedy(x[0], 1)
    s = kcenter_greedy(x, 4)
    with pytest.raises(ValueError, match="state.min_dist"):
        kcenter_greedy(x[:9], 5, state=s)
    with pytest.raises(ValueError, match="repeated"):
        kcenter_greedy(x, 6, state=KCenterState(np.array([1, 1]), np.zeros(2), s.min_dist,
                                                s.nearest))
    with pytest.raises(ValueError, match="centers"):
        seed_state(x, np.array([3, 3]))
    with pytest.raises(ValueError, match="centers"):
        seed_state(x, np.array([10]))
