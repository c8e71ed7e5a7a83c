"""k-center greedy (farthest-first traversal) over the latents: EEG-DLite's diversity selection.

EEG-DLite keeps the η% most diverse segments by running k-center greedy on the 64-d latents of
the segments that survived HBOS (released code: Google active-learning ``kcenter_greedy``, start at
row 0, ``k = int(η · N)``). k-center greedy is the core-set selection of Sener & Savarese
(ICLR 2018, "Active learning for convolutional neural networks: a core-set approach", §4.1):
repeatedly add the point farthest from the chosen centers; Gonzalez (1985, "Clustering to
minimize the maximum intercluster distance") showed that this is a 2-approximation of the optimal
k-center radius.

Semantics (every backend, pruning mode and resume path gives the same picks):

* ``points: (n, d) float32``, C-contiguous, possibly a read-only memory map (never copied whole).
  Rows are in ascending segment-id order, so "lowest index" means "lowest segment id".
* Distances are Euclidean, computed in the direct form ``sqrt(Σ(x − c)²)`` with float32
  accumulation. Pick ``j + 1`` is the unpicked row with the largest ``min_dist`` (distance to its
  nearest pick), ties → lowest index; ``k`` counts every pick, the first included. When every
  unpicked row is at distance 0 (duplicates of picks), the lowest-index unpicked row is taken, so
  picks are always distinct.
* ``radius[j]`` = max over all rows of ``min_dist`` after pick ``j`` (non-increasing); it is the
  distance of pick ``j + 1``.
* First pick (``init``): ``'first'`` row 0 (the released code); ``'medoid'`` the row nearest to the
  column mean (mean accumulated in float64 over row blocks, rounded to float32; ties → lowest
  index); ``'random'`` ``np.random.default_rng(seed).integers(n)``.
* Subject balance (``labels`` with ``label_cap``): when choosing pick number ``m`` (1-based), a
  label is eligible if it has fewer than ``ceil(label_cap · m)`` picks (``label_cap`` read as the
  nearest fraction with denominator ≤ 10⁶, so the quota is exact integer arithmetic:
  :func:`label_quota`). The pick is the farthest unpicked row whose label is eligible (ties → lowest
  index). If no eligible row is left at ``min_dist > 0``, the pick falls back to the labels with the
  fewest picks among those that still have rows at ``min_dist > 0`` (farthest of their rows); if no
  row at all is at positive distance, to the lowest-index unpicked row. The quota therefore holds
  for every prefix as long as it is feasible (some eligible label has rows left).

Backends: ``'numba'`` (CPU; :mod:`~streamdistill.select.kcenter_numba`: one fused parallel pass per
pick at the memory-bandwidth floor, optional exact pruning that skips the rows the new center
cannot reach — bit-identical results) and ``'torch'`` (``device='cpu'`` or
``'cuda[:i]'``; :mod:`~streamdistill.select.kcenter_torch`). The torch path sums the squares in
torch's own reduction order, so its distances may differ from numba's in the last bit: picks agree
except where two candidates are within float32 rounding of each other (exact ties of exactly
representable sums — duplicates, grid data — agree). ``precision='fp16'`` (torch only) stores the
points in float16 and is **not exact**: picks diverge from float32 after some dozens of picks
(clustered 64-d test data: first different pick at 36, radius within 0.02%).

Resume: the returned :class:`KCenterState` holds everything needed to continue; ``kcenter_greedy(
..., state=s)`` continues from ``s`` and equals an uninterrupted run (picks, radius, ``min_dist``,
``nearest``). :func:`seed_state` builds a state from a list of earlier picks (``--extend``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np

from streamdistill.select import kcenter_numba as kn
from streamdistill.select.kcenter_pruning import _AutoPruning, _Grouping

INITS = ("first", "medoid", "random")
BACKENDS = ("numba", "torch")
PRECISIONS = ("fp32", "fp16")
PRUNINGS = ("off", "on", "auto")

#: Rows per block when streaming over the points on the host (mean, faiss batches).
_HOST_BLOCK_ROWS = 65536


@dataclass
class KCenterState:
    """Everything needed to resume or extend a k-center greedy run.

    Attributes
    ----------
    picks
        ``(j,) int64`` row indices (into ``points``) in pick order.
    radius
        ``(j,) float64``; ``radius[i]`` = max over all rows of ``min_dist`` after pick ``i``
        (non-increasing). :func:`seed_state` cannot know the radius of earlier prefixes: NaN there.
    min_dist
        ``(n,) float32`` Euclidean distance of every row to its nearest pick (``inf`` before the
        first pick, 0 for picked rows).
    nearest
        ``(n,) int32`` position in ``picks`` of that nearest pick (the earliest one on exact ties;
        ``-1`` before the first pick).
    """

    picks: np.ndarray
    radius: np.ndarray
    min_dist: np.ndarray
    nearest: np.ndarray

    def copy(self) -> KCenterState:
        return KCenterState(self.picks.copy(), self.radius.copy(), self.min_dist.copy(),
                            self.nearest.copy())


@dataclass
class KCenterStats:
    """Per-pick diagnostics of one call (picks ``first .. first + len(seconds) − 1``).

    ``seconds: float64`` wall time of each pick's pass (for the torch backend the time to enqueue
    it: device work is asynchronous); ``pruned: bool`` whether the pass ran pruned;
    ``computed: int64`` rows whose distance was computed (``n`` for unpruned passes, ``-1`` for
    torch); ``mode_switches``: picks at which ``pruning='auto'`` switched mode.
    """

    first: int
    seconds: np.ndarray
    pruned: np.ndarray
    computed: np.ndarray
    mode_switches: list[tuple[int, str]] = field(default_factory=list)


@lru_cache(maxsize=16)
def _cap_fraction(label_cap: float) -> Fraction:
    return Fraction(label_cap).limit_denominator(1_000_000)


def label_quota(label_cap: float, m: int) -> int:
    """``ceil(label_cap · m)``: the most picks one label may hold among the first ``m`` picks
    (``label_cap`` as the nearest fraction with denominator ≤ 10⁶, exact integer arithmetic)."""
    f = _cap_fraction(float(label_cap))
    return -((-f.numerator * m) // f.denominator)


# ------------------------------------------------------------------------------ validation


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, allowed))}")


def _as_points(points: np.ndarray, name: str = "points") -> np.ndarray:
    """``points`` as a base-class ndarray view (no copy) after checking shape/dtype/layout."""
    x = np.asarray(points)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name}: expected a non-empty (n, d) array, got shape {x.shape}")
    if x.dtype != np.float32:
        raise ValueError(f"{name}: expected float32, got {x.dtype} (convert once with "
                         "astype(np.float32) before selecting)")
    if not x.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (np.ascontiguousarray)")
    x = x.view()
    x.flags.writeable = False  # never written; one compiled kernel for arrays and memory maps
    return x


def _check_finite(x: np.ndarray, name: str = "points") -> None:
    bad = int(kn.first_nonfinite_row(x, kn.BLOCK))
    if bad >= 0:
        raise ValueError(f"{name}: row {bad} is not finite (NaN or inf): drop or repair it "
                         "before selecting")


def _check_k(k: int, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k={k!r}: expected an integer")
    k = int(k)
    if k < 1:
        raise ValueError(f"k={k}: must be at least 1")
    if k > n:
        raise ValueError(f"k={k} exceeds the number of rows ({n})")
    return k


def _prepare_labels(labels, label_cap, n: int):
    """``(labels as int32 0..L−1, L, cap)`` or ``(None, 0, None)``."""
    if labels is None:
        if label_cap is not None:
            raise ValueError("label_cap: given without labels")
        return None, 0, None
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"labels: expected shape ({n},) (one label per row), got {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels: expected integers, got {lab.dtype}")
    if label_cap is None:
        raise ValueError("label_cap: required with labels (a fraction in (0, 1])")
    cap = float(label_cap)
    if not (0.0 < cap <= 1.0) or math.isnan(cap):
        raise ValueError(f"label_cap={label_cap!r}: must be in (0, 1]")
    _, inv = np.unique(lab, return_inverse=True)
    inv = np.ascontiguousarray(inv.reshape(-1), dtype=np.int32)
    return inv, int(inv.max()) + 1, cap


def _check_state(state: KCenterState, n: int) -> KCenterState:
    picks = np.asarray(state.picks)
    if picks.ndim != 1 or (picks.size and not np.issubdtype(picks.dtype, np.integer)):
        raise ValueError("state.picks: expected a 1-d integer array")
    picks = picks.astype(np.int64)
    if picks.size and (picks.min() < 0 or picks.max() >= n):
        raise ValueError(f"state.picks: row indices outside [0, {n})")
    if np.unique(picks).size != picks.size:
        raise ValueError("state.picks: repeated rows")
    radius = np.asarray(state.radius, np.float64)
    if radius.shape != picks.shape:
        raise ValueError(f"state.radius: expected shape {picks.shape}, got {radius.shape}")
    md = np.asarray(state.min_dist)
    nr = np.asarray(state.nearest)
    if md.shape != (n,) or nr.shape != (n,):
        raise ValueError(f"state.min_dist/state.nearest: expected shape ({n},) (one per row of "
                         f"points), got {md.shape} and {nr.shape}")
    return KCenterState(picks, radius, np.ascontiguousarray(md, np.float32).copy(),
                        np.ascontiguousarray(nr, np.int32).copy())


# ------------------------------------------------------------------------------ first pick


def column_mean(points: np.ndarray, block_rows: int = _HOST_BLOCK_ROWS) -> np.ndarray:
    """``(d,) float64`` column mean, accumulated over row blocks (never the whole array)."""
    acc = np.zeros(points.shape[1], np.float64)
    for a in range(0, points.shape[0], block_rows):
        acc += points[a:a + block_rows].sum(axis=0, dtype=np.float64)
    return acc / points.shape[0]


def first_pick(points: np.ndarray, init: str, seed: int = 0) -> int:
    """Row index of the first pick for ``init`` (see the module docstring)."""
    n = points.shape[0]
    if init == "first":
        return 0
    if init == "random":
        return int(np.random.default_rng(seed).integers(n))
    mu = column_mean(points).astype(np.float32)
    return int(kn.nearest_to(points, mu, kn.BLOCK))


# ------------------------------------------------------------------------------ driver


class _Driver:
    """Checkpoint cadence and the progress bar, shared by the backends."""

    def __init__(self, k: int, j0: int, checkpoint, every: int, progress: bool):
        self.k, self.checkpoint, self.every = k, checkpoint, max(1, int(every))
        self.last_ckpt = j0
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=k, initial=j0, unit="pick", desc="k-center", smoothing=0.05)

    def tick(self, done: int, get_state: Callable[[], KCenterState]) -> None:
        """``done`` picks made."""
        if self.bar is not None:
            self.bar.update(1)
        if self.checkpoint is not None and done % self.every == 0:
            self.checkpoint(get_state())
            self.last_ckpt = done

    def close(self, done: int, get_state: Callable[[], KCenterState]) -> None:
        if self.checkpoint is not None and self.last_ckpt != done:
            self.checkpoint(get_state())
        if self.bar is not None:
            self.bar.close()


def _run_numba(X: np.ndarray, k: int, start: KCenterState, first: int, lab, n_labels: int, cap,
               pruning: str, driver: _Driver) -> tuple[KCenterState, KCenterStats]:
    n, d = X.shape
    j0 = len(start.picks)
    picks = np.empty(k, np.int64)
    radius = np.empty(k, np.float64)
    picks[:j0] = start.picks
    radius[:j0] = start.radius
    min_dist, nearest = start.min_dist, start.nearest
    picked = np.zeros(n, np.uint8)
    picked[start.picks] = 1
    C = np.empty((k, d), np.float32)
    if j0:
        C[:j0] = X[np.sort(start.picks)][np.argsort(np.argsort(start.picks))]
    use_labels = lab is not None
    labels = lab if use_labels else np.zeros(1, np.int32)
    counts = np.zeros(max(n_labels, 1), np.int64)
    if use_labels and j0:
        np.add.at(counts, lab[start.picks], 1)
    elig = np.ones(max(n_labels, 1), np.uint8)
    rel, abs_eps = kn.prune_margin(d)
    cc = np.zeros(k, np.float32)
    grouped: _Grouping | None = None  # allocated on the first pruned pass without labels
    policy = _AutoPruning(pruning, j0)
    secs = np.zeros(k - j0, np.float64)
    was_pruned = np.zeros(k - j0, bool)
    computed = np.zeros(k - j0, np.int64)

    def set_elig(m: int) -> None:
        if use_labels:
            np.less(counts, label_quota(cap, m), out=elig, casting="unsafe")

    def choose(gm, ga, em, ea) -> int:
        if use_labels:
            if em > 0:
                return int(ea)
            fb = int(kn.label_fallback(min_dist, labels, counts))
            if fb >= 0:
                return fb
        return int(ga)

    if j0 == 0:
        p = first
    else:
        set_elig(j0 + 1)
        gm, ga, em, ea, _ = kn.fused_pass(X, C[0], 0, min_dist, nearest, picked, labels, elig,
                                          use_labels, False, False, cc, rel, abs_eps, kn.BLOCK)
        p = choose(gm, ga, em, ea)

    def state_at(j: int) -> KCenterState:
        if grouped is not None:
            grouped.sync(min_dist, nearest)
        return KCenterState(picks[:j].copy(), radius[:j].copy(), min_dist.copy(), nearest.copy())

    for j in range(j0, k):
        picks[j] = p
        picked[p] = 1
        C[j] = X[p]
        if use_labels:
            counts[lab[p]] += 1
            set_elig(j + 2)
        prune = policy.use_prune(j) and j > 0
        t0 = time.perf_counter()
        if prune and not use_labels:
            if grouped is None:
                grouped = _Grouping(n, k)
            gm, ga, cnt = grouped.pass_(X, C, j, p, min_dist, nearest, picked, cc, rel, abs_eps)
            em, ea = gm, ga
        else:
            if grouped is not None:
                grouped.leave(min_dist, nearest)
            if prune:
                kn.center_dists(C, j, C[j], cc)
            gm, ga, em, ea, cnt = kn.fused_pass(X, C[j], j, min_dist, nearest, picked, labels,
                                                elig, use_labels, True, prune, cc, rel, abs_eps,
                                                kn.BLOCK)
        dt = time.perf_counter() - t0
        radius[j] = max(float(gm), 0.0)
        if j + 1 < k:
            p = choose(gm, ga, em, ea)
        policy.record(j, prune, dt, cnt / n)
        secs[j - j0], was_pruned[j - j0], computed[j - j0] = dt, prune, cnt
        driver.tick(j + 1, lambda done=j + 1: state_at(done))
    driver.close(k, lambda: state_at(k))
    if grouped is not None:
        grouped.leave(min_dist, nearest)
    state = KCenterState(picks, radius, min_dist, nearest)
    return state, KCenterStats(j0, secs, was_pruned, computed, policy.switches)


# ------------------------------------------------------------------------------ public API


def greedy_with_stats(
    points: np.ndarray, k: int, *, init: str = "medoid", seed: int = 0,
    state: KCenterState | None = None, labels: np.ndarray | None = None,
    label_cap: float | None = None, backend: str = "numba", device: str = "cpu",
    precision: str = "fp32", pruning: str = "auto",
    checkpoint: Callable[[KCenterState], None] | None = None, checkpoint_every: int = 1000,
    progress: bool = False,
) -> tuple[KCenterState, KCenterStats]:
    """:func:`kcenter_greedy` that also returns per-pick :class:`KCenterStats` (benchmarks)."""
    _check_choice("init", init, INITS)
    _check_choice("backend", backend, BACKENDS)
    _check_choice("precision", precision, PRECISIONS)
    _check_choice("pruning", pruning, PRUNINGS)
    if backend == "numba":
        if str(device) != "cpu":
            raise ValueError(f"device={device!r}: the numba backend runs on the CPU only "
                             "(use backend='torch' for CUDA)")
        if precision != "fp32":
            raise ValueError(f"precision={precision!r}: fp16 storage needs backend='torch'")
    elif pruning == "on":
        raise ValueError("pruning='on': pruning exists in the numba backend only (the torch pass "
                         "is a plain pass); use 'auto' or 'off' with backend='torch'")
    if isinstance(checkpoint_every, bool) or int(checkpoint_every) < 1:
        raise ValueError(f"checkpoint_every={checkpoint_every!r}: must be a positive integer")
    X = _as_points(points)
    n = X.shape[0]
    k = _check_k(k, n)
    lab, n_labels, cap = _prepare_labels(labels, label_cap, n)
    if state is not None:
        state = _check_state(state, n)
        if len(state.picks) >= k:
            return state, KCenterStats(len(state.picks), np.zeros(0), np.zeros(0, bool),
                                       np.zeros(0, np.int64))
    _check_finite(X)
    if state is None or len(state.picks) == 0:
        first = first_pick(X, init, seed)
        start = KCenterState(np.zeros(0, np.int64), np.zeros(0), np.full(n, np.inf, np.float32),
                             np.full(n, -1, np.int32))
    else:
        first, start = -1, state
    driver = _Driver(k, len(start.picks), checkpoint, checkpoint_every, progress)
    if backend == "numba":
        return _run_numba(X, k, start, first, lab, n_labels, cap, pruning, driver)
    from streamdistill.select.kcenter_torch import run_torch

    return run_torch(X, k, start, first, lab, n_labels, cap, device, precision, driver)


def kcenter_greedy(
    points: np.ndarray, k: int, *, init: str = "medoid", seed: int = 0,
    state: KCenterState | None = None, labels: np.ndarray | None = None,
    label_cap: float | None = None, backend: str = "numba", device: str = "cpu",
    precision: str = "fp32", pruning: str = "auto",
    checkpoint: Callable[[KCenterState], None] | None = None, checkpoint_every: int = 1000,
    progress: bool = False,
) -> KCenterState:
    """Exact k-center greedy (farthest-first traversal; Gonzalez 1985; Sener & Savarese 2018) —
    the diversity selection of EEG-DLite. Semantics in the module docstring.

    Parameters
    ----------
    points
        ``(n, d) float32`` C-contiguous (a read-only ``np.memmap`` is fine; it is streamed, never
        copied whole). No row may hold NaN/inf.
    k
        Total number of picks, the first included (``1 ≤ k ≤ n``). With ``state`` holding ``≥ k``
        picks the state is returned unchanged: its first ``k`` picks are the ``k``-selection
        (prefix stability).
    init, seed
        First pick: ``'first'`` (row 0, the released code), ``'medoid'`` (row nearest to the
        column mean) or ``'random'`` (``default_rng(seed).integers(n)``). Unused with ``state``.
    state
        Continue from this state (a checkpoint of a killed run, or :func:`seed_state` for
        ``--extend``); the result equals an uninterrupted run. Not modified.
    labels, label_cap
        ``labels: (n,)`` integers (e.g. subject per row) and ``label_cap`` in ``(0, 1]``:
        subject-balanced picking (module docstring).
    backend, device, precision
        ``'numba'`` (CPU, ``device='cpu'``, ``'fp32'``) or ``'torch'`` (``device`` ``'cpu'``/
        ``'cuda[:i]'``; ``precision='fp16'`` stores the points in float16, not exact).
    pruning
        numba only: ``'off'`` plain fused pass; ``'on'`` exact triangle-inequality pruning
        (:mod:`~streamdistill.select.kcenter_numba`); ``'auto'`` plain first, pruned while it is
        measured to be cheaper. All three give identical picks, radii, ``min_dist`` and ``nearest``.
        Measured on a 2-core machine, N = 1M × 64 clustered (256-component mixture): the plain
        pass ≈ 6–7 ms per pick (the bandwidth floor), pruned ≈ 0.5 ms at 1k–5k picks rising to
        ≈ 1 ms at 20k (it computes ~0.4% of the distances; the rest is the centers loop and the
        visited blocks); before ~400 picks it does not pay. On structureless Gaussian data it never
        pays (``'on'`` is then ~3× slower than plain, ``'auto'`` stays plain).
    checkpoint, checkpoint_every
        ``checkpoint(state_copy)`` after every ``checkpoint_every`` picks and at the end (the
        caller writes it atomically).
    progress
        Show a tqdm bar.

    Returns
    -------
    KCenterState
        ``picks: (k,) int64``, ``radius: (k,) float64``, ``min_dist: (n,) float32``,
        ``nearest: (n,) int32``.
    """
    return greedy_with_stats(points, k, init=init, seed=seed, state=state, labels=labels,
                             label_cap=label_cap, backend=backend, device=device,
                             precision=precision, pruning=pruning, checkpoint=checkpoint,
                             checkpoint_every=checkpoint_every, progress=progress)[0]


def seed_state(points: np.ndarray, centers: np.ndarray, *,
               batch_rows: int = 262144) -> KCenterState:
    """The state of a run whose picks so far are ``centers`` (``--extend`` a selection).

    ``points: (n, d) float32``; ``centers: (m,) int`` row indices in pick order. Each row's nearest
    center is found with faiss (``IndexFlatL2`` over the centered center rows, searched in batches
    of ``batch_rows`` rows for the 4 nearest), then its distance is recomputed exactly in the
    direct float32 form of the numba kernels — faiss uses the expanded form
    ``|x|² − 2x·c + |c|²``, whose rounding can reorder near-tied centers. Rows where a center
    outside faiss's four could be as near within faiss's worst-case rounding are re-checked
    against every center. ``min_dist`` and ``nearest`` (earliest pick on exact ties) are therefore
    bit-identical to the state after an uninterrupted run's ``m`` picks, and continuing with
    :func:`kcenter_greedy` gives the same picks as that run.

    ``radius``: ``(m,) float64``, NaN except ``radius[m − 1]`` (the current max ``min_dist``): the
    radii of earlier prefixes would need the whole pick history (``m`` passes).
    """
    X = _as_points(points)
    n, d = X.shape
    c = np.asarray(centers)
    if c.ndim != 1 or (c.size and not np.issubdtype(c.dtype, np.integer)):
        raise ValueError("centers: expected a 1-d array of row indices")
    c = c.astype(np.int64)
    if c.size == 0:  # nothing to extend: the state before the first pick
        return KCenterState(c, np.zeros(0), np.full(n, np.inf, np.float32),
                            np.full(n, -1, np.int32))
    if c.min() < 0 or c.max() >= n:
        raise ValueError(f"centers: row indices outside [0, {n})")
    if np.unique(c).size != c.size:
        raise ValueError("centers: repeated rows")
    if int(batch_rows) < 1:
        raise ValueError(f"batch_rows={batch_rows!r}: must be positive")
    _check_finite(X)
    import faiss

    m = c.size
    C = np.ascontiguousarray(X[np.sort(c)][np.argsort(np.argsort(c))])
    mu = C.mean(axis=0, dtype=np.float64).astype(np.float32)
    Cc = C - mu
    cmax2 = float((Cc.astype(np.float64) ** 2).sum(axis=1).max())
    index = faiss.IndexFlatL2(d)
    index.add(Cc)
    kk = min(4, m)
    rel, _ = kn.prune_margin(d)
    tol_scale = 4.0 * (d + 4) * kn.U32
    min_dist = np.empty(n, np.float32)
    nearest = np.empty(n, np.int32)
    redo: list[np.ndarray] = []
    for a in range(0, n, int(batch_rows)):
        q = X[a:a + int(batch_rows)] - mu
        dist2, cand = index.search(q, kk)
        flag = np.zeros(len(q), np.uint8)
        kn.assign_exact(X, a, C, np.ascontiguousarray(cand, np.int64),
                        np.ascontiguousarray(dist2[:, kk - 1], np.float32), tol_scale, cmax2, mu,
                        rel, min_dist, nearest, flag)
        if flag.any():
            redo.append(a + np.flatnonzero(flag))
    if redo:
        kn.assign_brute(X, np.concatenate(redo), C, min_dist, nearest)
    radius = np.full(m, np.nan)
    radius[-1] = float(min_dist.max())
    return KCenterState(c, radius, min_dist, nearest)


def plain_kcenter_reference(points: np.ndarray, k: int, first: int) -> np.ndarray:
    """The released code's loop (Google active-learning ``kcenter_greedy``, as EEG-DLite calls
    it): ``sklearn.metrics.pairwise_distances`` of every row to the newest center, ``np.minimum``,
    ``np.argmax``. ``O(n·d)`` per pick, unfused. Returns ``(k,) int64`` picks starting at row
    ``first``. A speed anchor and correctness oracle (sklearn computes float32 distances in the
    expanded form in float64, so near-ties can resolve differently from :func:`kcenter_greedy`;
    like the original it would repeat a row once every row is at distance 0)."""
    from sklearn.metrics import pairwise_distances

    X = np.asarray(points)
    picks = [int(first)]
    min_d = pairwise_distances(X, X[[first]], metric="euclidean").ravel()
    for _ in range(int(k) - 1):
        ind = int(np.argmax(min_d))
        picks.append(ind)
        min_d = np.minimum(min_d, pairwise_distances(X, X[[ind]], metric="euclidean").ravel())
    return np.asarray(picks, np.int64)
