"""HBOS outlier scores of latents, streamed in row blocks (EEG-DLite's outlier-removal step).

Histogram-based outlier score (Goldstein & Dengel 2012, "Histogram-based Outlier Score (HBOS): a
fast unsupervised anomaly detection algorithm", KI-2012): each feature gets a histogram of the
scope's rows, a value scores ``log2(density of its bin + alpha)``, a row scores minus the sum over
its features (higher = more anomalous). ``n_bins='auto'`` picks each feature's bin count by the
penalised likelihood of Birgé & Rozenblac 2006 ("How many bins should be put in a regular
histogram", ESAIM: P&S 10). The released EEG-DLite code first standardises every column with
sklearn's ``StandardScaler`` (``standardize=True``); k-center later runs on the raw latents.

Scores equal ``pyod.models.hbos.HBOS(n_bins, alpha, tol).fit(X).decision_scores_`` for
``X = StandardScaler().fit_transform(np.ascontiguousarray(latents[rows], dtype=float64))``: the
mean and variance follow sklearn's arithmetic in numpy's summation order, so X is reproduced bit
for bit; edges are ``np.linspace`` over each column's [min, max] (±0.5 when min == max); counts
follow ``np.histogram`` (bins closed on the left, the last also on the right) and scores PyOD's
``np.digitize(right=True)``, so a value on an inner edge is counted in the bin to its right but
scored with the bin to its left; outside [min, max] a value gets the edge bin within ``tol`` bin
widths, else the feature's lowest score. Each edge becomes the smallest raw value that
standardises onto (or past) it, so the hot loops compare raw values and never divide; counts are
taken in the variance pass against the uniform grid those thresholds lie within 1e-9 bin of
(values that close to a grid line are set aside and placed afterwards). PyOD's 'auto' builds a
histogram per candidate b (O(n^1.5)); here each column is sorted once and every b's counts are
binary searches (O(n log n)), near-ties settled with ``np.histogram`` and PyOD's formula. (PyOD
fed the float32 latents themselves stays in float32 — sklearn keeps the dtype — and differs from
this float64 reference where a value lies within float32 rounding of an edge.)

Passes over the latents: 3 (sums/min/max; centred sums + counts; scores; a 4th counting pass
only when over 65536 values lie on grid lines), plus ``ceil(d / 4)`` column gathers for 'auto'. Memory: O(d · bins) + O(n): the scores and, for 'auto' (or d == 1),
4 columns of n values in the latents' dtype plus one float64 column — never an (n, d) array.
Float32/float64 ndarrays (``open_memmap`` too) are read in place, block by block; other arrays
as float64 blocks ``latents[rows[a:b]]``. Scoring splits rows between ``numba.get_num_threads()``
threads; results do not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

__all__ = ["auto_bins", "hbos_scores", "outlier_mask"]

_EPS = float(np.finfo(np.float64).eps)
_FMAX = float(np.finfo(np.float64).max)
_NO_ROWS = np.empty(0, dtype=np.int64)
_GATHER = 4  # columns per gather pass for 'auto'
_PAR_ROWS = 16384  # blocks this long are scored by all numba threads
_ASIDE = 1 << 16  # values kept aside near grid lines before a third (exact) counting pass
_WIN = 1e-9  # ... "near": within this many bin widths


# ---------------------------------------------------------------------------------- kernels
# Kernels read rows lo..hi-1 of the scope: X[rows[i]] when use_rows, else X[i].


@njit(cache=True)
def _moments(X, rows, use_rows, lo, hi, sums, mins, maxs):
    """Per column: Σx in row order (numpy's axis-0 order for C-ordered d >= 2), min, max."""
    for i in range(lo, hi):
        r = rows[i] if use_rows else i
        for j in range(X.shape[1]):
            v = np.float64(X[r, j])
            sums[j] += v
            mins[j] = min(mins[j], v)
            maxs[j] = max(maxs[j], v)


@njit(cache=True)
def _centre_count(X, rows, use_rows, lo, hi, centre, t, csum, sqsum, count, skip, base, inv, nbs,
                  eoff, thr, win, counts, aside_x, aside_j, n_aside):
    """If ``centre``: per column Σ(x - t), Σ(x - t)² in row order (sklearn's two-pass variance).
    If ``count``: bin k = max{k < nb: x >= thr_k} (columns not ``skip``ped); with ``count`` 2, an
    x within ``win`` of thr_k or thr_k+1 is set aside instead (``n_aside[0]`` counts them all)."""
    U = np.uint64
    for i in range(lo, hi):
        r = rows[i] if use_rows else i
        for j in range(X.shape[1]):
            x = np.float64(X[r, j])
            if centre:
                c = x - t[j]
                csum[j] += c
                sqsum[j] += c * c
            if count == 0 or skip[j]:
                continue
            o, top = U(eoff[j]), U(nbs[j] - 1)
            k = U(np.int64(min(max((x - base[j]) * inv[j], 0.0), nbs[j] - 1.0)))
            while k > 0 and x < thr[o + k]:
                k -= U(1)
            while k < top and x >= thr[o + k + U(1)]:
                k += U(1)
            if count == 2 and ((k > 0 and x - thr[o + k] < win[j]) or (
                    k < top and thr[o + k + U(1)] - x <= win[j])):
                if n_aside[0] < aside_x.shape[0]:
                    aside_x[n_aside[0]], aside_j[n_aside[0]] = x, j
                n_aside[0] += 1
                continue
            counts[o - U(j) + k] += 1


@njit(cache=True)
def _gather(X, rows, use_rows, lo, hi, j0, out):
    """out[g, i - lo] = X[row i, j0 + g]: a few columns per pass over the rows."""
    for i in range(lo, hi):
        r = rows[i] if use_rows else i
        for g in range(out.shape[0]):
            out[g, i - lo] = X[r, j0 + g]


@njit(cache=True)
def _threshold(e, m, s, strict):
    """Smallest float64 x with (x - m) / s >= e (> e when ``strict``), s > 0: a bracket around
    e·s + m widened until it holds the switch, then bisected down to adjacent floats."""
    x0 = e * s + m
    w = 4.0 * _EPS * max(abs(x0), abs(m), abs(e * s)) + 5e-324
    lo, hi = x0, x0
    while ((lo - m) / s > e) if strict else ((lo - m) / s >= e):
        if lo == -_FMAX:
            return lo
        lo, w = max(lo - w, -_FMAX), 2.0 * w
    while not (((hi - m) / s > e) if strict else ((hi - m) / s >= e)):
        if hi == _FMAX:
            return np.inf
        hi, w = min(hi + w, _FMAX), 2.0 * w
    while True:
        mid = 0.5 * lo + 0.5 * hi
        mid = mid if lo < mid < hi else np.nextafter(lo, np.inf)
        if not mid < hi:
            return hi
        if ((mid - m) / s > e) if strict else ((mid - m) / s >= e):
            hi = mid
        else:
            lo = mid


@njit(cache=True)
def _thresholds(edges, eoff, nbs, mean, scale, tau, sig):
    for j in range(nbs.shape[0]):
        for k in range(eoff[j], eoff[j] + nbs[j] + 1):
            tau[k] = _threshold(edges[k], mean[j], scale[j], False)
            sig[k] = _threshold(edges[k], mean[j], scale[j], True)


@njit(cache=True)
def _score(X, rows, use_rows, lo, hi, base, inv, nbs, eoff, sig, mean, scale, edges, table,
           tabmin, tol, out):
    """out[i - lo] = -Σ_j table[bin]; bin from k = #{edges < v} (PyOD's digitize(right=True))
    and its tol rule outside the edges (v: the standardised value, x: the raw one)."""
    U = np.uint64
    for i in range(lo, hi):
        r = rows[i] if use_rows else i
        acc = 0.0
        for j in range(X.shape[1]):
            x, o, nb = np.float64(X[r, j]), U(eoff[j]), U(nbs[j])
            t = o - U(j)
            if x < sig[o]:  # v <= edges[0]
                v = (x - mean[j]) / scale[j]
                w = edges[o + U(1)] - edges[o]
                acc += table[t] if edges[o] - v <= w * tol else tabmin[j]
            elif x >= sig[o + nb]:  # v > edges[nb]
                v = (x - mean[j]) / scale[j]
                w = edges[o + nb] - edges[o + nb - U(1)]
                acc += table[t + nb - U(1)] if v - edges[o + nb] <= w * tol else tabmin[j]
            else:  # k with edges[k-1] < v <= edges[k]: estimate, then walk
                k = U(np.int64(min(max((x - base[j]) * inv[j] + 1.0, 1.0), np.float64(nb))))
                while k > 1 and x < sig[o + k - U(1)]:
                    k -= U(1)
                while k < nb and x >= sig[o + k]:
                    k += U(1)
                acc += table[t + k - U(1)]
        out[i - lo] = -acc


@njit(cache=True, parallel=True)
def _score_par(X, rows, use_rows, lo, hi, chunks, base, inv, nbs, eoff, sig, mean, scale, edges,
               table, tabmin, tol, out):
    for c in prange(chunks):
        a, b = lo + c * (hi - lo) // chunks, lo + (c + 1) * (hi - lo) // chunks
        _score(X, rows, use_rows, a, b, base, inv, nbs, eoff, sig, mean, scale, edges, table,
               tabmin, tol, out[a - lo:b - lo])


@njit(cache=True)
def _linspace(first, last, b, e):
    """``e[:b + 1] = np.linspace(first, last, b + 1)``, bit for bit (numpy's step formula)."""
    delta = last - first
    step = delta / b
    for k in range(b + 1):
        e[k] = (k / b) * delta + first if step == 0.0 else k * step + first
    e[b] = last


@njit(cache=True)
def _lower_bound(s, x, lo, hi):
    """First i in [lo, hi) with s[i] >= x (hi if none) of the sorted ``s``; branch-free."""
    base, m = lo, hi - lo
    while m > 1:
        half = m >> 1
        base = base + half if s[base + half] < x else base
        m -= half
    return base + 1 if m == 1 and s[base] < x else base


@njit(cache=True)
def _br_objective(s, ub):
    """PyOD's Birgé–Rozenblac objective Σ_k [h_k ln(b h_k / n + 1) - (b - 1 + ln(b)^2.5)] for
    b = 1..ub-1 from the sorted column ``s`` (counts by binary search, bracketed by a grid of
    n/4 cells); ``risky[b-1]``: bins only ulps wide (np.histogram's own rounding may differ)."""
    n = s.shape[0]
    first, last = s[0], s[-1]
    if first == last:
        first, last = first - 0.5, last + 0.5
    big, cells = max(abs(first), abs(last)), n // 4 + 1
    width = (last - first) / cells
    pos, i = np.empty(cells + 1, dtype=np.int64), 0
    for m in range(cells + 1):  # pos[m]: lower bound of grid line m, by a merge walk
        while i < n and s[i] < (first + m * width if m < cells else np.inf):
            i += 1
        pos[m] = i
    like, risky, e = np.empty(ub - 1), np.zeros(ub - 1, dtype=np.bool_), np.empty(ub + 1)
    for b in range(1, ub):
        _linspace(first, last, b, e)
        risky[b - 1] = (last - first) / b <= 64.0 * _EPS * big
        pen = b - 1 + np.log(b) ** 2.5
        tot, prev = 0.0, 0
        for k in range(1, b + 1):
            at = n
            if k < b:  # grid line m <= e[k] < line m + 1 brackets the lower bound
                m = min(max(int((e[k] - first) / width), 0), cells - 1)
                while m > 0 and first + m * width > e[k]:
                    m -= 1
                while m + 1 < cells and first + (m + 1) * width <= e[k]:
                    m += 1
                at = _lower_bound(s, e[k], max(pos[m], prev), max(pos[m + 1], prev))
            tot += (at - prev) * np.log(b * (at - prev) / n + 1.0) - pen
            prev = at
        like[b - 1] = tot
    return like, risky


# ------------------------------------------------------------------------------- python side


def auto_bins(sorted_col: np.ndarray) -> int:
    """PyOD's 'auto' bin count (Birgé & Rozenblac 2006) of one column, in O(n log n).

    ``sorted_col``: (n,) float64, ascending (already standardised where that applies). Returns
    the first b in ``1 .. max(2, ⌊√n⌋) - 1`` maximising PyOD's objective over the
    ``np.histogram(col, b)`` counts; candidates within 1e-9·(|best| + n) of the best (and bins
    only ulps wide) are re-evaluated with ``np.histogram`` and PyOD's arithmetic.
    """
    s = np.ascontiguousarray(sorted_col, dtype=np.float64)
    n = s.shape[0]
    if n == 0:
        raise ValueError("auto_bins: sorted_col is empty")
    like, risky = _br_objective(s, max(2, int(np.sqrt(n))))
    cand = np.flatnonzero((like >= like.max() - 1e-9 * (abs(like.max()) + n)) | risky) + 1
    exact = []
    for b in cand if cand.size > 1 else []:
        try:
            h, _ = np.histogram(s, bins=int(b))
        except ValueError:  # edges would repeat: np.histogram (and so PyOD) refuses the column
            raise ValueError(f"range [{s[0]}, {s[-1]}] too narrow for {b} bins") from None
        exact.append(np.sum(h * np.log(b * h / n + 1) - (b - 1 + np.power(np.log(b), 2.5))))
    return int(cand[int(np.argmax(exact)) if exact else 0])


def _check_args(n_bins, alpha: float, tol: float, block_rows: int) -> bool:
    auto = isinstance(n_bins, str) and n_bins.lower() == "auto"
    if not auto and (isinstance(n_bins, (str, bool, np.bool_))
                     or not isinstance(n_bins, (int, np.integer)) or n_bins < 1):
        raise ValueError(f"n_bins must be a positive int or 'auto', got {n_bins!r}")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if int(block_rows) < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows!r}")
    return auto


def _blocks(latents, rows, n: int, block_rows: int):
    """Yield (X, rows, use_rows, lo, hi, a): the kernels' view of scope rows a .. a + hi - lo."""
    direct = isinstance(latents, np.ndarray) and latents.dtype in (np.float32, np.float64)
    base = np.asarray(latents) if direct else None
    for a in range(0, n, block_rows):
        b = min(n, a + block_rows)
        if direct:
            yield base, (_NO_ROWS if rows is None else rows), rows is not None, a, b, a
        else:
            idx = slice(a, b) if rows is None else rows[a:b]
            yield np.ascontiguousarray(latents[idx], np.float64), _NO_ROWS, False, 0, b - a, a


def _columns(latents, rows, n: int, j0: int, j1: int, block_rows: int) -> np.ndarray:
    """Columns j0..j1-1 of the scope, (j1 - j0, n), in the latents' dtype (float64 if not float)."""
    direct = isinstance(latents, np.ndarray) and latents.dtype in (np.float32, np.float64)
    out = np.empty((j1 - j0, n), dtype=latents.dtype if direct else np.float64)
    for X, r, use, lo, hi, a in _blocks(latents, rows, n, block_rows):
        _gather(X, r, use, lo, hi, j0, out[:, a:a + hi - lo])
    return out


def _nonfinite_error(latents, rows, n: int, block_rows: int) -> ValueError:
    for a in range(0, n, block_rows):
        idx = slice(a, min(n, a + block_rows)) if rows is None else rows[a:a + block_rows]
        bad = np.argwhere(~np.isfinite(np.asarray(latents[idx], dtype=np.float64)))
        if bad.size:
            i, j = (int(v) for v in bad[0])
            r = a + i if rows is None else int(rows[a + i])
            return ValueError(f"latents row {r} (column {j}) is {latents[r, j]}: HBOS needs finite "
                              "latents; re-encode that segment or leave the row out of `rows`")
    return ValueError("latents: column sums overflow float64; rescale the latents")


def _scaler(n: int, sums, csum, sqsum, col=None):
    """``StandardScaler().fit(X)``'s mean_ and scale_ from the row-order sums, bit for bit; for
    d == 1 (``col``) numpy reduces the (n, 1) array with its pairwise sum instead."""
    cnt = np.float64(n)
    if col is not None:
        sums = np.array([np.sum(col)])
        tmp = col - sums[0] / cnt
        csum, sqsum = np.array([np.sum(tmp)]), np.array([np.sum(tmp * tmp)])
    mean, var = (0.0 + sums) / cnt, (sqsum - csum**2 / cnt) / cnt
    constant = var <= np.int64(n) * _EPS * var + (np.int64(n) * mean * _EPS) ** 2
    with np.errstate(invalid="ignore"):
        scale = np.sqrt(var)
    scale[constant] = 1.0
    return mean, scale


def _auto_columns(latents, rows, n, block_rows, mean, scale, first, last):
    """'auto': per column its bin count, np.histogram counts and whether bins are ulps wide —
    columns gathered a few per pass over the rows, sorted, standardised (monotone: stays sorted)."""
    d = latents.shape[1]
    nbs, counts, narrow = np.empty(d, dtype=np.int64), [], np.zeros(d, dtype=bool)
    for j0 in range(0, d, _GATHER):
        for j, raw in enumerate(_columns(latents, rows, n, j0, min(d, j0 + _GATHER), block_rows),
                                start=j0):
            raw.sort()
            col = raw.astype(np.float64)
            col -= mean[j]
            col /= scale[j]
            try:
                b = nbs[j] = auto_bins(col)
            except ValueError as err:
                raise ValueError(f"latents column {j}: {err}; standardise") from None
            narrow[j] = (last[j] - first[j]) / b <= 64.0 * _EPS * max(abs(first[j]), abs(last[j]))
            e = np.linspace(first[j], last[j], b + 1)  # edge-consistent counts = numpy's unless
            counts.append(np.histogram(col, bins=b)[0] if narrow[j] else  # bins are ulps wide
                          np.diff(np.searchsorted(col, e[1:-1]), prepend=0, append=n))
    return nbs, np.concatenate(counts), narrow


def hbos_scores(latents: np.ndarray, rows: np.ndarray | None = None, *,
                n_bins: int | str = "auto", alpha: float = 0.1, tol: float = 0.5,
                standardize: bool = True, block_rows: int = 65536) -> np.ndarray:
    """HBOS decision scores of ``latents[rows]`` (all rows when ``rows`` is None).

    Parameters
    ----------
    latents
        (N, d) float array (float32 latents, typically a read-only ``open_memmap``), read in
        blocks of ``block_rows`` rows, values taken as float64.
    rows
        (n,) integer row indices of one selection scope (sorted, for sequential reads), or None.
    n_bins
        Bins per feature (int >= 1; PyOD's own check admits only >= 3) or 'auto' (Birgé–Rozenblac
        per feature, see :func:`auto_bins`).
    alpha, tol
        PyOD's regulariser (> 0) in ``log2(density + alpha)`` and its out-of-range tolerance
        (>= 0, in bin widths).
    standardize
        Standardise each column first (sklearn StandardScaler: population std, near-constant
        columns scaled by 1), as the released EEG-DLite code does.

    Returns
    -------
    (n,) float64 scores, higher = more anomalous, in the order of ``rows``.
    """
    auto = _check_args(n_bins, alpha, tol, block_rows)
    block_rows = int(block_rows)
    if latents.ndim != 2:
        raise ValueError(f"latents must be 2-D (N, d), got shape {latents.shape}")
    if rows is not None:
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise ValueError(f"rows must be a 1-D integer array, got {rows.dtype} {rows.shape}")
        if rows.size and (rows.min() < 0 or rows.max() >= latents.shape[0]):
            raise ValueError(f"rows must lie in [0, {latents.shape[0]}), got "
                             f"[{rows.min()}, {rows.max()}]")
        rows = np.ascontiguousarray(rows, dtype=np.int64)
    n, d = (latents.shape[0] if rows is None else rows.shape[0]), latents.shape[1]
    if n == 0 or d == 0:
        raise ValueError(f"rows selects no data (n={n}, d={d}): HBOS needs >= 1 row and column")

    def blocks():
        return _blocks(latents, rows, n, block_rows)

    # pass 1: row-order column sums (NaN/inf surface here), min, max
    sums, xmin, xmax = np.zeros(d), np.full(d, np.inf), np.full(d, -np.inf)
    for X, r, use, lo, hi, _ in blocks():
        _moments(X, r, use, lo, hi, sums, xmin, xmax)
    if not np.isfinite(np.concatenate([sums, xmin, xmax])).all():
        raise _nonfinite_error(latents, rows, n, block_rows)

    # pass 2: centred sums; for fixed bins also counts, against the edges when not standardising,
    # else against the uniform grid over [min, max] (±0.5) that the thresholds lie close to
    nbs = np.full(d, 1 if auto else int(n_bins), dtype=np.int64)
    eoff = np.arange(d, dtype=np.int64) * (nbs[0] + 1)
    const = xmin == xmax
    g_lo, g_hi = np.where(const, xmin - 0.5, xmin), np.where(const, xmax + 0.5, xmax)
    grid = np.concatenate([np.linspace(g_lo[j], g_hi[j], nbs[j] + 1) for j in range(d)])
    win = _WIN * (g_hi - g_lo) / nbs if standardize else np.zeros(d)
    csum, sqsum, counts = np.zeros(d), np.zeros(d), np.zeros(int(nbs.sum()), dtype=np.int64)
    aside_x, aside_j, n_aside = np.empty(_ASIDE), np.empty(_ASIDE, np.int64), np.zeros(1, np.int64)
    if standardize or not auto:
        for X, r, use, lo, hi, _ in blocks():
            _centre_count(X, r, use, lo, hi, standardize and d > 1, sums / n, csum, sqsum,
                          0 if auto else 2 if standardize else 1, const, g_lo,
                          nbs / (g_hi - g_lo), nbs, eoff, grid, win, counts, aside_x, aside_j,
                          n_aside)
    col = _columns(latents, rows, n, 0, 1, block_rows)[0].astype(np.float64) if standardize \
        and d == 1 else None
    mean, scale = _scaler(n, sums, csum, sqsum, col) if standardize else (np.zeros(d), np.ones(d))
    # np.histogram's range: standardised min and max (standardising is monotone), ±0.5 if equal
    first, last = (xmin - mean) / scale, (xmax - mean) / scale
    same = first == last
    first[same], last[same] = first[same] - 0.5, last[same] + 0.5
    if not np.isfinite(np.concatenate([first, last])).all():
        raise ValueError("latents: the standardised range overflows float64; rescale the latents")
    narrow = (last - first) / nbs <= 64.0 * _EPS * np.maximum(abs(first), abs(last))

    if auto:
        nbs, counts, narrow = _auto_columns(latents, rows, n, block_rows, mean, scale, first, last)
        eoff = np.concatenate([[0], np.cumsum(nbs + 1)[:-1]]).astype(np.int64)
    edges = np.concatenate([np.linspace(first[j], last[j], nbs[j] + 1) for j in range(d)])
    for j in range(d):
        if np.any(np.diff(edges[eoff[j]:eoff[j] + nbs[j] + 1]) <= 0):
            raise ValueError(f"latents column {j}: range [{first[j]}, {last[j]}] too narrow for "
                             f"n_bins={nbs[j]} (edges would repeat; np.histogram, and so PyOD, "
                             "refuses it): use fewer bins or standardize=True")
    tau, sig = np.empty_like(edges), np.empty_like(edges)
    _thresholds(edges, eoff, nbs, mean, scale, tau, sig)
    base, top = tau[eoff], tau[eoff + nbs]  # raw values of the first and last edge
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(np.isfinite(top - base) & (top > base), nbs / (top - base), 0.0)

    if standardize and not auto:  # place the values set aside, or count again exactly
        off = np.abs(tau - grid).reshape(d, -1)[:, 1:-1].max(axis=1, initial=0.0)
        if n_aside[0] <= _ASIDE and np.all(off <= win / 4):
            xs, js = aside_x[:n_aside[0]], aside_j[:n_aside[0]]
            for j in np.unique(js):
                k = np.searchsorted(tau[eoff[j] + 1:eoff[j] + nbs[j]], xs[js == j], side="right")
                np.add.at(counts, eoff[j] - j + k, 1)
        else:
            counts[:] = 0
            for X, r, use, lo, hi, _ in blocks():
                _centre_count(X, r, use, lo, hi, False, sums, csum, sqsum, 1, const, base, inv,
                              nbs, eoff, tau, win, counts, aside_x, aside_j, n_aside)
    if not auto:
        for j in np.flatnonzero(const):  # a constant column: all n rows in one bin
            c = counts[eoff[j] - j:eoff[j] - j + nbs[j]]
            c[:] = 0
            c[np.searchsorted(tau[eoff[j] + 1:eoff[j] + nbs[j]], xmin[j], side="right")] = n
        for j in np.flatnonzero(narrow):  # bins ulps wide: np.histogram's own rounding decides
            v = (_columns(latents, rows, n, j, j + 1, block_rows)[0] - mean[j]) / scale[j]
            counts[eoff[j] - j:eoff[j] - j + nbs[j]] = np.histogram(v, bins=nbs[j])[0]

    table, tabmin = np.empty(counts.shape[0]), np.empty(d)
    for j in range(d):  # density as np.histogram(density=True) computes it
        c = slice(eoff[j] - j, eoff[j] - j + nbs[j])
        dens = counts[c] / np.diff(edges[eoff[j]:eoff[j] + nbs[j] + 1]) / counts[c].sum()
        table[c] = np.log2(dens + alpha)
        tabmin[j] = np.min(table[c])
    out, threads = np.empty(n), numba.get_num_threads()  # pass 3: scores
    for X, r, use, lo, hi, a in blocks():
        args = (base, inv, nbs, eoff, sig, mean, scale, edges, table, tabmin, float(tol),
                out[a:a + hi - lo])
        if threads > 1 and hi - lo >= _PAR_ROWS:
            _score_par(X, r, use, lo, hi, threads, *args)
        else:
            _score(X, r, use, lo, hi, *args)
    return out


def outlier_mask(scores: np.ndarray, tau_percent: float) -> np.ndarray:
    """True for the top ``tau_percent`` % of ``scores`` ((n,) float) — PyOD's labels_ rule.

    ``threshold = np.percentile(scores, 100 · (1 - tau/100))`` (contamination = tau/100, written
    as PyOD computes it: for tau = 0.15 that is 99.85000000000001, not 100 - tau) and
    ``outlier = scores > threshold``; tau = 0 flags nothing.
    """
    tau = float(tau_percent)
    if not 0.0 <= tau < 100.0:
        raise ValueError(f"tau_percent must lie in [0, 100), got {tau_percent!r}")
    scores = np.asarray(scores, dtype=np.float64)
    if tau == 0.0 or scores.size == 0:
        return np.zeros(scores.shape, dtype=bool)
    return scores > np.percentile(scores, 100 * (1 - tau / 100))
