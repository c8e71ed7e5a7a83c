"""HBOS (EEG-DLite's outlier removal): the streamed numba version equals PyOD's HBOS on sklearn-
standardised float64 data — same 'auto' bin counts, same scores to 1e-9, same outlier labels."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyod.models.hbos import HBOS, _calculate_outlier_scores
from pyod.utils.utility import get_optimal_n_bins
from sklearn.preprocessing import StandardScaler

from streamdistill.select import hbos as hb
from streamdistill.select.hbos import auto_bins, hbos_scores, outlier_mask

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------ reference


def standardised(X: np.ndarray, standardize: bool = True) -> np.ndarray:
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    return StandardScaler().fit_transform(X64) if standardize else X64


def pyod_scores(X, n_bins, standardize=True, alpha=0.1, tol=0.5) -> np.ndarray:
    """PyOD's decision_scores_; for n_bins 1 and 2 (which HBOS' constructor refuses) PyOD's own
    fixed-bin histogram + scoring function, exactly as HBOS.fit calls them."""
    Xs = standardised(X, standardize)
    if n_bins == "auto" or n_bins >= 3:
        return HBOS(n_bins=n_bins, alpha=alpha, tol=tol).fit(Xs).decision_scores_
    d = Xs.shape[1]
    hist, edges = np.zeros((n_bins, d)), np.zeros((n_bins + 1, d))
    for i in range(d):
        hist[:, i], edges[:, i] = np.histogram(Xs[:, i], bins=n_bins, density=True)
    return -np.sum(_calculate_outlier_scores(Xs, edges, hist, n_bins, alpha, tol), axis=1)


def assert_scores_equal(got: np.ndarray, ref: np.ndarray) -> None:
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(got), fin)
    big = float(np.abs(ref[fin]).max(initial=0.0))
    np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-9, atol=1e-9 * big)
    np.testing.assert_array_equal(got[~fin], ref[~fin])


# ------------------------------------------------------------------------------ data


def column(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(rng.uniform(-50, 50), 10 ** rng.uniform(-3, 3), n)
    if kind == "cauchy":
        return rng.standard_cauchy(n) * 10 ** rng.uniform(-2, 2)
    if kind == "student":
        return rng.standard_t(1.5, n)
    if kind == "ints":  # ties, and values exactly on bin edges
        return rng.integers(-5, 6, n).astype(float)
    if kind == "constant":
        return np.full(n, rng.choice([0.0, 0.1, -3.7, 1e4]))
    if kind == "tiny":  # a few float32 ulps around an offset
        return np.float32(rng.choice([1.0, -1000.0])) + rng.integers(0, 4, n) * 2.0**-20
    if kind == "negative":
        return -rng.exponential(1.0, n) ** 3
    if kind == "twovals":
        return np.where(rng.random(n) < 0.05, 7.5, -2.25)
    raise AssertionError(kind)


KINDS = ["normal", "cauchy", "student", "ints", "constant", "tiny", "negative", "twovals"]


@st.composite
def matrices(draw, max_n: int = 400):
    n, d = draw(st.integers(2, max_n)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=d, max_size=d))
    X = np.stack([column(k, n, rng) for k in kinds], axis=1)
    if draw(st.booleans()):  # duplicated rows
        X[rng.integers(0, n, n // 4)] = X[rng.integers(0, n, 1)]
    return X.astype(np.float32)


# ------------------------------------------------------------------------------ equality


@SETTINGS
@given(X=matrices(), n_bins=st.sampled_from(["auto", 1, 5, 10, 37]), standardize=st.booleans(),
       alpha=st.sampled_from([0.1, 0.01, 0.5]), tol=st.sampled_from([0.5, 0.1, 0.9]),
       block_rows=st.sampled_from([1, 7, 64, 65536]))
def test_equals_pyod(X, n_bins, standardize, alpha, tol, block_rows):
    kw = {"n_bins": n_bins, "standardize": standardize, "alpha": alpha, "tol": tol}
    try:
        ref = pyod_scores(X, **kw)
    except ValueError:  # np.histogram refuses bins whose edges repeat: so do we
        with pytest.raises(ValueError, match="latents column"):
            hbos_scores(X, **kw)
        return
    got = hbos_scores(X, **kw, block_rows=block_rows)
    assert got.dtype == np.float64 and got.shape == (X.shape[0],)
    assert_scores_equal(got, ref)


@settings(max_examples=25, deadline=None)
@given(X=matrices(max_n=200), n_bins=st.sampled_from(["auto", 4, 10]), data=st.data())
def test_rows_subset_equals_pyod_on_the_subset(X, n_bins, data):
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(X), max_size=len(X))))
    if not mask.any():
        mask[0] = True
    rows = np.flatnonzero(mask).astype(np.int64)
    got = hbos_scores(X, rows, n_bins=n_bins, block_rows=5)
    np.testing.assert_array_equal(got, hbos_scores(X[rows], n_bins=n_bins))
    if len(rows) >= 2:
        assert_scores_equal(got, pyod_scores(X[rows], n_bins))


@pytest.mark.parametrize("n_bins", [2, 3, 4, 5, 8, "auto"])
def test_float64_latents_with_bins_ulps_wide(n_bins):
    """Values a few float64 ulps apart, not standardised: bins about as narrow as the rounding
    of their edges, where np.histogram's own ±1 correction decides — equal to PyOD where numpy
    accepts the bins, a ValueError naming the column where it refuses them (edges repeat)."""
    rng = np.random.default_rng(3)
    X = 1000.0 + rng.integers(0, 6, (300, 2)) * np.spacing(1000.0)
    X[0] = 1000.0 + 5 * np.spacing(1000.0)
    try:
        ref = pyod_scores(X, n_bins, standardize=False)
    except ValueError:
        with pytest.raises(ValueError, match="latents column 0"):
            hbos_scores(X, n_bins=n_bins, standardize=False)
        return
    assert_scores_equal(hbos_scores(X, n_bins=n_bins, standardize=False), ref)


@pytest.mark.parametrize("aside, win", [(3, 1e-9), (1 << 16, 0.0)])
def test_third_counting_pass(monkeypatch, aside, win):
    """Integer-valued columns put many values on the grid lines the variance pass counts
    against: with room for only 3 of them set aside (or no tolerance for the grid) the counts
    come from a third, exact pass — same scores."""
    monkeypatch.setattr(hb, "_ASIDE", aside)
    monkeypatch.setattr(hb, "_WIN", win)
    rng = np.random.default_rng(9)
    X = np.concatenate([rng.integers(-5, 6, (700, 3)), rng.normal(0, 1, (700, 2))], axis=1)
    for nb in (5, 10):
        assert_scores_equal(hbos_scores(X.astype(np.float32), n_bins=nb, block_rows=128),
                            pyod_scores(X.astype(np.float32), nb))


# ------------------------------------------------------------------------------ 'auto' bins


@pytest.mark.parametrize("kind", ["normal", "clustered", "heavy"])
def test_auto_bins_match_pyod_at_3000(kind):
    rng = np.random.default_rng(11)
    n = 3000
    if kind == "normal":
        X = rng.standard_normal((n, 3))
    elif kind == "clustered":
        centres = rng.normal(0, 6, (5, 3))
        X = centres[rng.integers(0, 5, n)] + rng.normal(0, 0.5, (n, 3))
    else:
        X = np.stack([rng.standard_cauchy(n), rng.standard_t(2, n), rng.lognormal(0, 2, n)], 1)
    X = X.astype(np.float32)
    Xs = standardised(X)
    for j in range(3):
        assert auto_bins(np.sort(Xs[:, j])) == get_optimal_n_bins(Xs[:, j])
    model = HBOS(n_bins="auto").fit(Xs)
    assert_scores_equal(hbos_scores(X, n_bins="auto", block_rows=1000), model.decision_scores_)


@settings(max_examples=40, deadline=None)
@given(vals=st.lists(st.integers(-4, 4) | st.floats(-3, 3, width=32), min_size=1, max_size=300))
def test_auto_bins_on_ties(vals):
    x = np.asarray(vals, dtype=np.float64)
    assert auto_bins(np.sort(x)) == get_optimal_n_bins(x)


@settings(max_examples=40, deadline=None)
@given(first=st.floats(-1e6, 1e6), width=st.floats(1e-9, 1e6), b=st.integers(1, 2000))
def test_linspace_kernel_is_numpys(first, width, b):
    out = np.empty(b + 1)
    hb._linspace(first, first + width, b, out)
    np.testing.assert_array_equal(out, np.linspace(first, first + width, b + 1))


def test_searchsorted_counts_equal_np_histogram_on_edges():
    """Counts from the sorted column (what 'auto' uses) equal np.histogram's, values placed
    exactly on the linspace edges and one ulp either side included."""
    rng = np.random.default_rng(5)
    lo, hi = -1.3, 2.9
    parts = [rng.uniform(lo, hi, 2000), [lo, hi]]
    for b in (3, 7, 10, 37, 64):
        e = np.linspace(lo, hi, b + 1)
        parts += [e, np.nextafter(e, -np.inf), np.nextafter(e, np.inf)]
    s = np.sort(np.clip(np.concatenate(parts), lo, hi))
    for b in range(1, 80):
        e = np.linspace(s[0], s[-1], b + 1)
        ours = np.diff(np.searchsorted(s, e[1:-1]), prepend=0, append=len(s))
        np.testing.assert_array_equal(ours, np.histogram(s, bins=b)[0])


# ------------------------------------------------------------------------------ streaming


def test_blocked_equals_unblocked_and_threads_do_not_matter():
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((1500, 8)) * [1, 2, 3, 4, 5, 6, 7, 8]).astype(np.float32)
    X[::97, 3] = 40.0
    for nb in ("auto", 10):
        whole = hbos_scores(X, n_bins=nb)
        np.testing.assert_array_equal(hbos_scores(X, n_bins=nb, block_rows=7), whole)
        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            np.testing.assert_array_equal(hbos_scores(X, n_bins=nb, block_rows=100), whole)
        finally:
            numba.set_num_threads(before)


def test_open_memmap_file(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "latents.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(5000, 16))
    mm[:] = rng.standard_normal((5000, 16)).astype(np.float32) * 3 + 1
    mm.flush()
    del mm
    lat = np.lib.format.open_memmap(path, mode="r")
    mem = np.load(path)
    rows = np.sort(rng.choice(5000, 1800, replace=False)).astype(np.int64)
    for nb in ("auto", 10):
        got = hbos_scores(lat, rows, n_bins=nb, block_rows=256)
        np.testing.assert_array_equal(got, hbos_scores(mem[rows], n_bins=nb))
        assert_scores_equal(got, pyod_scores(mem[rows], nb))
    assert_scores_equal(hbos_scores(lat, n_bins=10), pyod_scores(mem, 10))


class _ArrayLike:
    """Not an ndarray (as a Zarr or h5py array): read through ``latents[rows[a:b]]`` blocks."""

    def __init__(self, a: np.ndarray):
        self.a, self.shape, self.ndim, self.dtype = a, a.shape, a.ndim, a.dtype

    def __getitem__(self, key):
        return self.a[key]


def test_other_array_types_are_read_in_blocks():
    rng = np.random.default_rng(6)
    X = rng.standard_t(4, (3000, 6)).astype(np.float32)
    rows = np.sort(rng.choice(3000, 900, replace=False))
    for nb in ("auto", 10):
        np.testing.assert_array_equal(hbos_scores(_ArrayLike(X), rows, n_bins=nb, block_rows=100),
                                      hbos_scores(X, rows, n_bins=nb))
    X[1234, 4] = np.nan
    with pytest.raises(ValueError, match=r"latents row 1234 \(column 4\)"):
        hbos_scores(_ArrayLike(X), block_rows=100)


# ------------------------------------------------------------------------------ outlier mask


@pytest.mark.parametrize("tau", [0.5, 1, 5, 0.15])
def test_outlier_mask_matches_pyod_labels(tau):
    rng = np.random.default_rng(7)
    for n in (101, 2000, 2001):
        X = rng.standard_t(3, (n, 6)).astype(np.float32)
        model = HBOS(n_bins="auto", contamination=tau / 100).fit(standardised(X))
        scores = hbos_scores(X)
        np.testing.assert_array_equal(outlier_mask(scores, tau), model.labels_.astype(bool))


def test_planted_outliers_are_flagged():
    """1% of rows at +12σ in 8 of 16 dims of a Gaussian blob are all flagged at tau = 1. (With
    alpha = 0.1 a feature adds at most -log2(0.1) ≈ 3.3, about what a 2σ Gaussian tail adds: at
    +12σ in only 3 of 16 dims, PyOD's HBOS and this one flag only about half of such rows.)"""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((10_000, 16)).astype(np.float32)
    planted = rng.choice(10_000, 100, replace=False)
    for r in planted:
        X[r, rng.choice(16, 8, replace=False)] += 12.0
    for nb in ("auto", 10):
        mask = outlier_mask(hbos_scores(X, n_bins=nb), 1.0)
        assert mask[planted].all() and mask.sum() == 100


def test_outlier_mask_tau_zero_flags_nothing():
    assert not outlier_mask(np.arange(10.0), 0).any()


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_latents_name_the_row(bad):
    X = np.ones((50, 3), dtype=np.float32)
    X[17, 2] = bad
    with pytest.raises(ValueError, match=r"latents row 17 \(column 2\)"):
        hbos_scores(X)
    with pytest.raises(ValueError, match="latents row 17"):
        hbos_scores(X, np.array([3, 17, 40]), block_rows=2)
    assert np.isfinite(hbos_scores(X, np.array([3, 16, 40]))).all()


@pytest.mark.parametrize("kw, name", [
    ({"n_bins": 0}, "n_bins"), ({"n_bins": -3}, "n_bins"), ({"n_bins": "fd"}, "n_bins"),
    ({"n_bins": 2.5}, "n_bins"), ({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"),
    ({"tol": -0.1}, "tol"), ({"block_rows": 0}, "block_rows"),
])
def test_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        hbos_scores(np.ones((10, 2), dtype=np.float32), **kw)


def test_empty_rows():
    with pytest.raises(ValueError, match="rows"):
        hbos_scores(np.ones((10, 2), dtype=np.float32), np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="rows"):
        hbos_scores(np.ones((10, 2), dtype=np.float32), np.array([0, 10]))


@pytest.mark.parametrize("tau", [-1, 100, 150, float("nan")])
def test_bad_tau(tau):
    with pytest.raises(ValueError, match="tau_percent"):
        outlier_mask(np.arange(10.0), tau)
