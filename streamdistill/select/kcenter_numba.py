"""CPU kernels of k-center greedy (numba): one fused, parallel pass per pick.

Every distance in the numba backend is computed by :func:`sqdist` — the direct form
``Σ_t (x_t − c_t)²`` with float32 accumulation (never ``|x|² − 2x·c + |c|²``, which cancels
catastrophically for near points) — followed by a float32 ``sqrt``. The compiler may reassociate
the sum over ``t`` (``fastmath={'reassoc'}``, so that it vectorises: the pass then runs at the
memory-bandwidth floor); the order it picks depends only on the loop over ``t``, so every kernel
here that inlines :func:`sqdist` computes bit-identical values for the same row and center (tested),
whatever the thread count.

:func:`fused_pass` is the whole per-pick work in one parallel sweep over the rows: distance to the
new center, the min-update of ``min_dist``/``nearest``, and the (max, argmax) that selects the next
pick. Rows are cut into fixed blocks of ``block`` rows (``prange``); each block reports its own
(max, lowest index of the max) and the blocks are reduced in block order, so the result never
depends on how many threads ran the blocks.

Exact pruning. A row ``x`` whose nearest center is ``a`` at distance ``m = min_dist(x)`` cannot
come closer to the new center ``c``, because by the triangle inequality ``d(x, c) ≥ d(c_a, c) − m``:
if ``d(c_a, c) ≥ 2m`` then ``d(x, c) ≥ m`` and the plain pass would leave the row alone (it updates
only on ``d < m``). With ``cc[a] = d(c_a, c)`` computed first (one short parallel loop over the
centers so far), a row is skipped when ``cc[a] ≥ 2·m·rel + abs_eps``; ``rel = 1 + (4d + 32)·2⁻²⁴``
covers the float32 rounding of the three computed distances (each has relative error
≤ (d/2 + 3)·2⁻²⁴; the test needs ≥ 2× that), ``abs_eps`` the underflow of tiny squares. A skipped
row is one the plain pass provably would not have changed, so ``min_dist``/``nearest`` — and
therefore every pick, radius and tie — are bit-identical to the plain pass (tested).

Two pruned passes use that test:

* :func:`fused_pass` with ``prune=True`` (used with labels): every row is still visited in row
  order; a skipped row saves reading its ``4d`` bytes but not the scan of ``nearest``/``min_dist``.
* :func:`grouped_pass` (no labels): the rows are grouped by nearest center through an index
  permutation (:func:`regroup`, a counting sort; the points themselves are never moved or copied)
  and cut into blocks of ``GROUP_BLOCK`` positions. Each block knows which centers its rows belong
  to and each center ``a`` a bound ``r[a]`` on its rows' ``min_dist``; a block none of whose
  centers satisfies ``cc[a] < 2·r[a]·rel + abs_eps`` is skipped whole, with its cached (max,
  argmax) still valid, so a pick costs ``O(centers · d)`` plus the rows near the new center.
  It pays once clusters are resolved (clustered data, after the first hundreds of picks) and
  never on structureless data, where every center is near every other: ``pruning='auto'`` in
  :mod:`~streamdistill.select.kcenter` measures which pass is cheaper.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

#: Rows per parallel block of every pass (fixed: the reduction order, hence the result, does not
#: depend on the thread count).
BLOCK = 1024

#: Rows per block of the grouped pruned pass (smaller: a skipped block is the unit of pruning).
GROUP_BLOCK = 64

#: float32 unit roundoff.
U32 = 2.0 ** -24


def prune_margin(d: int) -> tuple[float, float]:
    """``(rel, abs_eps)`` of the pruning test ``cc ≥ 2·m·rel + abs_eps`` for dimension ``d``
    (see the module docstring)."""
    return 1.0 + (4 * d + 32) * U32, 1e-15


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def sqdist(X, i, c):  # pragma: no cover - compiled
    """Squared Euclidean distance of row ``X[i]`` to ``c`` (float32, direct form)."""
    s = np.float32(0.0)
    for t in range(X.shape[1]):
        e = X[i, t] - c[t]
        s += e * e
    return s


@numba.njit(cache=True, nogil=True, parallel=True)
def fused_pass(X, c, j, min_dist, nearest, picked, labels, elig, use_labels, update, prune, cc,
               rel, abs_eps, block):  # pragma: no cover - compiled
    """One pick's pass (see the module docstring).

    ``X: (n, d) float32``; ``c: (d,) float32`` the new center (pick number ``j``, 0-based);
    ``min_dist: (n,) float32`` and ``nearest: (n,) int32`` updated in place; ``picked: (n,) uint8``;
    ``labels: (n,) int32`` and ``elig: (L,) uint8`` (eligible labels of the next pick; dummies when
    ``use_labels`` is false); ``update=False`` only scans (no distances: selection from a resumed
    state); ``cc: (≥ j,) float32`` center-to-new-center distances when ``prune``.

    Returns ``(gmax, garg, emax, earg, computed)``: the largest ``min_dist`` over unpicked rows and
    its lowest row index (``-1.0, -1`` when every row is picked); the largest positive
    ``min_dist`` over unpicked rows with an eligible label and its lowest index (``0.0, -1`` when
    none; only with labels); the number of rows whose distance was computed.
    """
    n = X.shape[0]
    nb = (n + block - 1) // block
    bgm = np.empty(nb, np.float32)
    bga = np.empty(nb, np.int64)
    bem = np.empty(nb, np.float32)
    bea = np.empty(nb, np.int64)
    bcnt = np.empty(nb, np.int64)
    for b in prange(nb):
        lo = b * block
        hi = min(n, lo + block)
        gm = np.float32(-1.0)
        ga = -1
        em = np.float32(0.0)
        ea = -1
        cnt = 0
        for i in range(lo, hi):
            m = min_dist[i]
            compute = update
            if update and prune:
                a = nearest[i]
                if a >= 0 and np.float64(cc[a]) >= 2.0 * np.float64(m) * rel + abs_eps:
                    compute = False
            if compute:
                cnt += 1
                s = np.sqrt(sqdist(X, i, c))
                if s < m:
                    min_dist[i] = s
                    nearest[i] = j
                    m = s
            if picked[i] == 0:
                if m > gm:
                    gm = m
                    ga = i
                if use_labels and m > em and elig[labels[i]] != 0:
                    em = m
                    ea = i
        bgm[b] = gm
        bga[b] = ga
        bem[b] = em
        bea[b] = ea
        bcnt[b] = cnt
    gm = np.float32(-1.0)
    ga = -1
    em = np.float32(0.0)
    ea = -1
    total = 0
    for b in range(nb):  # block order: ties keep the lowest row index
        if bgm[b] > gm:
            gm = bgm[b]
            ga = bga[b]
        if bem[b] > em:
            em = bem[b]
            ea = bea[b]
        total += bcnt[b]
    return gm, ga, em, ea, total


@numba.njit(cache=True, nogil=True, parallel=True)
def center_dists(C, jn, c, cc):  # pragma: no cover - compiled
    """``cc[a] = ‖C[a] − c‖`` for ``a < jn`` (``C: (k, d) float32`` centers in pick order)."""
    for a in prange(jn):
        cc[a] = np.sqrt(sqdist(C, a, c))


@numba.njit(cache=True, nogil=True, parallel=True)
def center_flags(C, jn, c, cc, r, rel, abs_eps, bad, parent, pdist, dco, n_coarse):
    # pragma: no cover - compiled
    """``cc[a]`` = distance of center ``a < jn`` to ``c``, or a lower bound of it, and
    ``bad[a] = cc[a] < 2·r[a]·rel + abs_eps`` (some of center ``a``'s rows, within ``r[a]`` of it,
    may come closer to ``c``).

    The first ``n_coarse`` centers are coarse: ``dco[t]`` = their exact distance to ``c``. Every
    later center ``a`` has a coarse parent ``parent[a]`` at distance ``pdist[a]``, so
    ``d(c_a, c) ≥ dco[parent[a]] − pdist[a]`` (triangle inequality), less a rounding slack of
    ``(rel − 1)·(dco + pdist)``. When that bound already clears ``2·r[a]·rel + abs_eps`` it
    stands in for ``cc[a]`` (rounded down to float32; any lower bound keeps the pruning exact)
    and the ``d`` multiply-adds are saved; only centers near ``c`` get their exact distance. So a
    pick costs ``O(jn + n_coarse·d + near·d)`` instead of ``O(jn·d)``."""
    slack = rel - 1.0
    for a in prange(jn):
        thr = 2.0 * np.float64(r[a]) * rel + abs_eps
        if a < n_coarse:
            d = dco[a]
        else:
            dp = np.float64(dco[parent[a]])
            ep = np.float64(pdist[a])
            lb = dp - ep - slack * (dp + ep)
            if lb >= thr:
                cc[a] = np.float32(lb * (1.0 - 2.0 ** -22))  # ≤ lb
                bad[a] = 0
                continue
            d = np.sqrt(sqdist(C, a, c))
        cc[a] = d
        bad[a] = 1 if np.float64(d) < thr else 0


@numba.njit(cache=True, nogil=True, parallel=True)
def coarse_dists(C, m, c, out):  # pragma: no cover - compiled
    """``out[t] = ‖C[t] − c‖`` for ``t < m`` (the coarse centers)."""
    for t in prange(m):
        out[t] = np.sqrt(sqdist(C, t, c))


@numba.njit(cache=True, nogil=True, parallel=True)
def coarse_assign(C, m, lo, hi, parent, pdist):  # pragma: no cover - compiled
    """Coarse parent (nearest of the first ``m`` centers, lowest index on ties) and its distance
    for centers ``lo .. hi − 1`` (``lo ≥ m``)."""
    for a in prange(lo, hi):
        best = np.float32(np.inf)
        bt = 0
        for t in range(m):
            s = np.sqrt(sqdist(C, t, C[a]))
            if s < best:
                best = s
                bt = t
        parent[a] = bt
        pdist[a] = best


@numba.njit(cache=True, nogil=True, parallel=True)
def regroup(nearest, min_dist, picked, jn, block, order, pos, md_g, nr_g, pk_g, r, blo, bhi,
            n_ext, dirty, bgm, bga):  # pragma: no cover - compiled
    """Group the rows by nearest center (stable counting sort; ``jn`` picks so far, every row
    assigned): ``order[q]`` = row at position ``q``, ``pos`` its inverse, ``md_g``/``nr_g``/``pk_g``
    ``min_dist``/``nearest``/``picked`` in that order; ``r[a]`` = max ``min_dist`` of center
    ``a``'s rows; per block ``b`` of positions the range ``blo[b] .. bhi[b]`` of its rows' centers,
    no extra centers, clean, and the cached ``(bgm[b], bga[b])`` = largest ``min_dist`` over its
    unpicked rows and the lowest row index attaining it (``-1``, ``n`` when all are picked)."""
    n = nearest.shape[0]
    start = np.zeros(jn + 1, np.int64)
    for i in range(n):
        start[nearest[i] + 1] += 1
    for a in range(jn):
        start[a + 1] += start[a]
        r[a] = np.float32(0.0)
    for i in range(n):
        a = nearest[i]
        q = start[a]
        start[a] = q + 1
        order[q] = i
        pos[i] = q
        if min_dist[i] > r[a]:
            r[a] = min_dist[i]
    nb = (n + block - 1) // block
    for b in prange(nb):
        lo = b * block
        hi = min(n, lo + block)
        gm = np.float32(-1.0)
        ga = n
        for q in range(lo, hi):
            i = order[q]
            m = min_dist[i]
            md_g[q] = m
            nr_g[q] = nearest[i]
            pk_g[q] = picked[i]
            if picked[i] == 0 and (m > gm or (m == gm and i < ga)):
                gm = m
                ga = i
        blo[b] = nr_g[lo]
        bhi[b] = nr_g[hi - 1]
        n_ext[b] = 0
        dirty[b] = 0
        bgm[b] = gm
        bga[b] = ga


@numba.njit(cache=True, nogil=True, parallel=True)
def ungroup(order, md_g, nr_g, min_dist, nearest):  # pragma: no cover - compiled
    """Write the grouped ``md_g``/``nr_g`` back into row order."""
    for q in prange(order.shape[0]):
        min_dist[order[q]] = md_g[q]
        nearest[order[q]] = nr_g[q]


@numba.njit(cache=True, nogil=True, parallel=True)
def grouped_pass(X, c, j, qp, order, md_g, nr_g, pk_g, r, blo, bhi, ext, n_ext, dirty, bad, cc,
                 bgm, bga, rel, abs_eps, block):  # pragma: no cover - compiled
    """The pruned pass over rows grouped by :func:`regroup` (no labels).

    Invariant: the rows of block ``b`` belong to centers ``blo[b] .. bhi[b]`` or to one of its
    ``n_ext[b]`` extra centers ``ext[b]`` (centers that took rows of the block since the regroup),
    unless ``dirty[b]`` (more than ``ext.shape[1]`` of those); every row is within ``r[a]`` of its
    center ``a`` (rows join a center only in its own pass, and their ``min_dist`` changes only
    when they change center). If none of the block's centers is ``bad`` (:func:`center_flags`),
    no row of the block can come closer to ``c``: the block is skipped whole and its cached
    (max, argmax) stays valid. Other blocks (and the block of the new pick, at position ``qp``)
    are visited row by row in grouped order (sequential memory) with the per-row test of
    :func:`fused_pass`. ``r[j]`` is set to the largest distance of the rows the new center took.

    Returns ``(gmax, garg, computed, n_dirty)`` as :func:`fused_pass` (``garg`` a row index,
    ``-1`` when every row is picked; ties → lowest row index).
    """
    n = X.shape[0]
    nb = (n + block - 1) // block
    n_slots = ext.shape[1]
    bp = qp // block
    bcnt = np.zeros(nb, np.int64)
    brj = np.zeros(nb, np.float32)
    for b in prange(nb):
        visit = dirty[b] != 0 or b == bp
        if not visit:
            for a in range(blo[b], bhi[b] + 1):
                if bad[a] != 0:
                    visit = True
                    break
        if not visit:
            for e in range(n_ext[b]):
                if bad[ext[b, e]] != 0:
                    visit = True
                    break
        if visit:
            lo = b * block
            hi = min(n, lo + block)
            gm = np.float32(-1.0)
            ga = n
            rj = np.float32(0.0)
            moved = False
            cnt = 0
            for q in range(lo, hi):
                m = md_g[q]
                if np.float64(cc[nr_g[q]]) < 2.0 * np.float64(m) * rel + abs_eps:
                    cnt += 1
                    s = np.sqrt(sqdist(X, order[q], c))
                    if s < m:
                        md_g[q] = s
                        nr_g[q] = j
                        m = s
                        moved = True
                        if s > rj:
                            rj = s
                if pk_g[q] == 0:
                    i = order[q]
                    if m > gm or (m == gm and i < ga):
                        gm = m
                        ga = i
            if moved and dirty[b] == 0:
                if n_ext[b] < n_slots:
                    ext[b, n_ext[b]] = j
                    n_ext[b] += 1
                else:
                    dirty[b] = 1
            bgm[b] = gm
            bga[b] = ga
            bcnt[b] = cnt
            brj[b] = rj
    gm = np.float32(-1.0)
    ga = n
    total = 0
    n_dirty = 0
    rj = np.float32(0.0)
    for b in range(nb):
        if bgm[b] > gm or (bgm[b] == gm and bga[b] < ga):
            gm = bgm[b]
            ga = bga[b]
        total += bcnt[b]
        n_dirty += dirty[b]
        if brj[b] > rj:
            rj = brj[b]
    r[j] = rj
    if ga == n:
        ga = -1
    return gm, ga, total, n_dirty


@numba.njit(cache=True, nogil=True)
def label_fallback(min_dist, labels, counts):  # pragma: no cover - compiled
    """The balanced pick when no eligible label has a row left at positive distance: among the
    labels that still have rows with ``min_dist > 0``, those with the fewest picks; the farthest of
    their rows (lowest index on ties). ``-1`` when no row has ``min_dist > 0``."""
    n_labels = counts.shape[0]
    has = np.zeros(n_labels, np.bool_)
    for i in range(min_dist.shape[0]):
        if min_dist[i] > 0:
            has[labels[i]] = True
    low = np.iinfo(np.int64).max
    for lab in range(n_labels):
        if has[lab] and counts[lab] < low:
            low = counts[lab]
    best = -1
    bm = np.float32(0.0)
    if low == np.iinfo(np.int64).max:
        return best
    for i in range(min_dist.shape[0]):
        lab = labels[i]
        if has[lab] and counts[lab] == low and min_dist[i] > bm:
            bm = min_dist[i]
            best = i
    return best


@numba.njit(cache=True, nogil=True, parallel=True)
def nearest_to(X, c, block):  # pragma: no cover - compiled
    """Lowest index of the row nearest to ``c`` (float32 distance as :func:`sqdist`)."""
    n = X.shape[0]
    nb = (n + block - 1) // block
    bm = np.empty(nb, np.float32)
    ba = np.empty(nb, np.int64)
    for b in prange(nb):
        lo = b * block
        hi = min(n, lo + block)
        m = np.float32(np.inf)
        a = -1
        for i in range(lo, hi):
            s = np.sqrt(sqdist(X, i, c))
            if s < m or a < 0:
                m = s
                a = i
        bm[b] = m
        ba[b] = a
    m = bm[0]
    a = ba[0]
    for b in range(1, nb):
        if bm[b] < m:
            m = bm[b]
            a = ba[b]
    return a


@numba.njit(cache=True, nogil=True, parallel=True)
def first_nonfinite_row(X, block):  # pragma: no cover - compiled
    """Lowest index of a row holding NaN or ±inf, ``-1`` if none."""
    n = X.shape[0]
    d = X.shape[1]
    nb = (n + block - 1) // block
    bad = np.full(nb, -1, np.int64)
    for b in prange(nb):
        lo = b * block
        hi = min(n, lo + block)
        for i in range(lo, hi):
            s = np.float32(0.0)
            for t in range(d):
                s += X[i, t] * np.float32(0.0)  # NaN/inf propagate, finite values give 0
            if s != 0.0:
                bad[b] = i
                break
    for b in range(nb):
        if bad[b] >= 0:
            return bad[b]
    return -1


@numba.njit(cache=True, nogil=True, parallel=True)
def assign_exact(X, row0, C, cand, kth, tol_scale, cmax2, mu, rel, min_dist, nearest,
                 flag):  # pragma: no cover - compiled
    """Exact nearest center of rows ``row0 .. row0 + len(cand)`` among faiss's candidates.

    ``C: (m, d) float32`` centers in pick order; ``cand: (B, K) int64`` faiss's K nearest
    (approximate); ``kth: (B,) float32`` faiss's squared distance of the K-th; ``mu: (d,)`` the
    centering faiss used, ``cmax2`` the largest squared centered center norm. Writes the exact
    ``min_dist``/``nearest`` (distances as :func:`sqdist`; ties → lowest pick index) and
    ``flag[r] = 1`` when a center outside the candidates could be as near within faiss's rounding
    (``kth − tol ≤ best²·rel``, ``tol = tol_scale·(|x − mu|² + cmax2)``, ``rel`` as in
    :func:`prune_margin`), to be redone by :func:`assign_brute`.
    """
    nrow = cand.shape[0]
    kk = cand.shape[1]
    m_centers = C.shape[0]
    d = X.shape[1]
    for r in prange(nrow):
        i = row0 + r
        best = np.float32(np.inf)
        bs2 = np.float32(np.inf)
        bj = -1
        for q in range(kk):
            jj = cand[r, q]
            if jj < 0:
                continue
            s2 = sqdist(X, i, C[jj])
            s = np.sqrt(s2)
            if s < best or (s == best and jj < bj):
                best = s
                bs2 = s2
                bj = jj
        min_dist[i] = best
        nearest[i] = bj
        flag[r] = 0
        if m_centers > kk:
            xn = 0.0
            for t in range(d):
                e = np.float64(X[i, t]) - np.float64(mu[t])
                xn += e * e
            tol = tol_scale * (xn + cmax2)
            if np.float64(kth[r]) - tol <= np.float64(bs2) * rel:
                flag[r] = 1


@numba.njit(cache=True, nogil=True, parallel=True)
def assign_brute(X, rows, C, min_dist, nearest):  # pragma: no cover - compiled
    """Exact nearest center of ``rows`` against every center (ties → lowest pick index)."""
    for q in prange(rows.shape[0]):
        i = rows[q]
        best = np.float32(np.inf)
        bj = -1
        for jj in range(C.shape[0]):
            s = np.sqrt(sqdist(X, i, C[jj]))
            if s < best:
                best = s
                bj = jj
        min_dist[i] = best
        nearest[i] = bj


@numba.njit(cache=True, nogil=True, parallel=True)
def stream_read(X, block):  # pragma: no cover - compiled
    """Sum of every value (a pure streaming read: the memory-bandwidth reference of a pass)."""
    n = X.shape[0]
    d = X.shape[1]
    nb = (n + block - 1) // block
    part = np.zeros(nb, np.float32)
    for b in prange(nb):
        lo = b * block
        hi = min(n, lo + block)
        s = np.float32(0.0)
        for i in range(lo, hi):
            s += sqdist_zero(X, i, d)
        part[b] = s
    return part.sum()


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def sqdist_zero(X, i, d):  # pragma: no cover - compiled
    """``Σ_t X[i, t]`` (the read half of :func:`sqdist`, for :func:`stream_read`)."""
    s = np.float32(0.0)
    for t in range(d):
        s += X[i, t]
    return s
