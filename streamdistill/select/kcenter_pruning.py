"""Pruning machinery of the numba k-center pass (see :mod:`streamdistill.select.kcenter`).

:class:`_AutoPruning` decides, from measured per-pick costs, when the exact triangle-inequality
pruned pass pays and when to fall back to the plain pass; :class:`_Grouping` keeps the rows
grouped by their nearest pick (an index permutation, the points never move) for the pruned
pass. Neither changes a pick: both passes give bit-identical ``min_dist``, ``nearest`` and picks.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from streamdistill.select import kcenter_numba as kn


class _AutoPruning:
    """``pruning='auto'``: run plain passes; every so often probe a few pruned passes and switch to
    pruned when their median time is under 0.8× the median of the recent plain passes. While
    pruned, switch back when the median of the last 16 pruned passes exceeds that plain median
    *and* they computed the distance of more than a quarter of the rows (pruning has stopped
    working: the work, not just a timing disturbed by other processes). After a failed probe or a
    switch back, probe again after twice as long (64, 128, 256, then every 512 picks: a probe
    that does not pay costs about three plain passes). Both kinds of pass give bit-identical
    state, so switching never changes a pick — only the time."""

    PROBE_FIRST = 64
    PROBE_MAX = 512
    PROBE_PASSES = 3
    WINDOW = 16

    def __init__(self, mode: str, j0: int):
        self.mode = mode
        self.pruned_now = mode == "on"
        self.plain_times: deque[float] = deque(maxlen=32)
        self.pruned_times: deque[float] = deque(maxlen=self.WINDOW)
        self.pruned_work: deque[float] = deque(maxlen=self.WINDOW)
        self.interval = self.PROBE_FIRST
        self.next_probe = j0 + self.PROBE_FIRST
        self.probing = 0
        self.switches: list[tuple[int, str]] = []

    def use_prune(self, j: int) -> bool:
        if self.mode != "auto":
            return self.mode == "on"
        if not self.pruned_now and not self.probing and j >= self.next_probe \
                and len(self.plain_times) >= 8:
            self.probing = self.PROBE_PASSES
            self.pruned_times.clear()
            self.pruned_work.clear()
        return self.pruned_now or self.probing > 0

    def _back_off(self, j: int) -> None:
        self.interval = min(2 * self.interval, self.PROBE_MAX)
        self.next_probe = j + self.interval

    def record(self, j: int, pruned: bool, dt: float, work: float) -> None:
        """Pick ``j`` took ``dt`` s; ``work`` = fraction of rows whose distance was computed."""
        if self.mode != "auto":
            return
        if not pruned:
            self.plain_times.append(dt)
            return
        self.pruned_times.append(dt)
        self.pruned_work.append(work)
        plain = float(np.median(self.plain_times))
        if self.probing:
            self.probing -= 1
            if self.probing == 0:
                if float(np.median(self.pruned_times)) < 0.8 * plain:
                    self.pruned_now = True
                    self.switches.append((j + 1, "pruned"))
                else:
                    self._back_off(j)
            return
        if len(self.pruned_times) == self.WINDOW and (j + 1) % self.WINDOW == 0 \
                and float(np.median(self.pruned_times)) > plain \
                and float(np.mean(self.pruned_work)) > 0.25:
                self.pruned_now = False
                self.switches.append((j + 1, "plain"))
                self._back_off(j)


class _Grouping:
    """Rows grouped by nearest center for the pruned pass without labels
    (:func:`~streamdistill.select.kcenter_numba.grouped_pass`): an index permutation of the rows
    (the points are never moved) with ``min_dist``/``nearest``/``picked`` kept in that order while
    it is active (:meth:`sync` writes them back), per-center radius bounds, per-block center sets
    and cached block maxima. Built (O(n) counting sort) on entering pruned mode and rebuilt once
    the dirty blocks visited since the last build add up to ``n`` rows (visiting them has then
    cost about as much as a rebuild). About 18 bytes per row."""

    SLOTS = 8
    #: The first picks serve as coarse centers (lower bounds of center distances).
    COARSE = 256

    def __init__(self, n: int, k: int):
        self.block = kn.GROUP_BLOCK
        nb = (n + self.block - 1) // self.block
        self.nb = nb
        self.order = np.empty(n, np.int32)
        self.pos = np.empty(n, np.int32)
        self.md = np.empty(n, np.float32)
        self.nr = np.empty(n, np.int32)
        self.pk = np.empty(n, np.uint8)
        self.r = np.zeros(k, np.float32)
        self.bad = np.zeros(k, np.uint8)
        self.n_coarse = self.COARSE
        self.parent = np.zeros(k, np.int32)
        self.pdist = np.zeros(k, np.float32)
        self.dco = np.zeros(self.COARSE, np.float32)
        self.assigned = 0  # centers with parent/pdist set
        self.blo = np.empty(nb, np.int32)
        self.bhi = np.empty(nb, np.int32)
        self.ext = np.empty((nb, self.SLOTS), np.int32)
        self.n_ext = np.zeros(nb, np.int32)
        self.dirty = np.zeros(nb, np.uint8)
        self.bgm = np.empty(nb, np.float32)
        self.bga = np.empty(nb, np.int64)
        self.active = False  # grouped arrays hold the current state (row-order ones are stale)
        self.n = n
        self.n_dirty = 0
        self.dirty_rows = 0  # rows of dirty blocks visited since the last regroup
        self.regroups = 0

    def sync(self, min_dist: np.ndarray, nearest: np.ndarray) -> None:
        """Row-order ``min_dist``/``nearest`` from the grouped ones; grouping stays usable."""
        if self.active:
            kn.ungroup(self.order, self.md, self.nr, min_dist, nearest)

    def leave(self, min_dist: np.ndarray, nearest: np.ndarray) -> None:
        """Back to row order (before a plain pass)."""
        self.sync(min_dist, nearest)
        self.active = False

    def new_center(self, C: np.ndarray, j: int) -> None:
        """Coarse distances of center ``j`` (every pick, whatever the pass) and its parent."""
        m = min(j, self.n_coarse)
        if self.assigned < j:  # centers picked before this object existed (resume, first use)
            lo = max(self.assigned, self.n_coarse)
            if lo < j:
                kn.coarse_assign(C, self.n_coarse, lo, j, self.parent, self.pdist)
            self.assigned = j
        if m:
            kn.coarse_dists(C, m, C[j], self.dco)
        if j >= self.n_coarse:
            t = int(np.argmin(self.dco[:m]))
            self.parent[j], self.pdist[j] = t, self.dco[t]
        self.assigned = j + 1

    def pass_(self, X, C, j, p, min_dist, nearest, picked, cc, rel, abs_eps):
        """Pick ``j`` (row ``p``, already marked in ``picked``) as a grouped pruned pass."""
        self.new_center(C, j)
        if self.active and self.dirty_rows > self.n:
            self.leave(min_dist, nearest)
        if not self.active:
            kn.regroup(nearest, min_dist, picked, j, self.block, self.order, self.pos, self.md,
                       self.nr, self.pk, self.r, self.blo, self.bhi, self.n_ext, self.dirty,
                       self.bgm, self.bga)
            self.active, self.n_dirty, self.dirty_rows = True, 0, 0
            self.regroups += 1
        qp = int(self.pos[p])
        self.pk[qp] = 1
        kn.center_flags(C, j, C[j], cc, self.r, rel, abs_eps, self.bad, self.parent, self.pdist,
                        self.dco, min(j, self.n_coarse))
        gm, ga, cnt, self.n_dirty = kn.grouped_pass(
            X, C[j], j, qp, self.order, self.md, self.nr, self.pk, self.r, self.blo, self.bhi,
            self.ext, self.n_ext, self.dirty, self.bad, cc, self.bgm, self.bga, rel, abs_eps,
            self.block)
        self.dirty_rows += self.n_dirty * self.block
        return gm, ga, cnt
