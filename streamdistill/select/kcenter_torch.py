"""k-center greedy on a torch device (CUDA, or the CPU device — how the tests check this path).

Same semantics as the numba backend (:mod:`streamdistill.select.kcenter`). The points are moved to
the device once (``float32``; ``precision='fp16'`` stores them as float16 and computes the
differences and sums in float32 — half the bytes per pick, **not exact**: the points themselves are
rounded, so picks diverge from float32 after some dozens of picks). When they do not fit
(``torch.cuda.mem_get_info``) they stay on the host and are streamed to the device in row chunks at
every pick (PCIe-bound; a fallback for very large arrays).

Per pick, in row chunks of ``chunk_rows`` (bounded temporaries): ``sqrt(Σ(x − c)²)`` (direct form,
float32 accumulation in torch's reduction order — it may differ from numba's in the last bit, so
near-ties within float32 rounding can resolve differently; the float32 sqrt is correctly rounded
as numba's, via float64), ``min_dist ← min(min_dist, dist)``,
``nearest`` where it decreased. The next pick is selected on the device (largest ``min_dist`` over
unpicked rows, lowest index among equal maxima: ``where(key == max, index, n).min()``; the
subject-balance rules with their fallback as masked maxima), so the loop never waits for the
device except to copy a checkpoint out (and at every pick in streaming mode, which needs the center
on the host).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from streamdistill.select.kcenter import KCenterState, KCenterStats, _Driver

#: Bytes of float32 temporaries per chunk (the difference block dominates).
CHUNK_BYTES = {"cuda": 512 * 2**20, "cpu": 16 * 2**20}


def _device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r}: not a torch device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: CUDA is not available on this machine")
    if dev.type not in ("cuda", "cpu"):
        raise ValueError(f"device={device!r}: expected 'cpu' or 'cuda[:i]'")
    return dev


class TorchKCenter:
    """Device-side state and the per-pick step (used by :func:`run_torch`).

    ``X: (n, d) float32`` host array; ``labels: (n,) int32`` compact labels or ``None``.
    ``resident``/``chunk_rows`` default to what fits (overridable for tests).
    """

    def __init__(self, X: np.ndarray, device: str, precision: str, labels: np.ndarray | None,
                 n_labels: int, *, resident: bool | None = None, chunk_rows: int | None = None):
        self.dev = _device(device)
        self.host = X
        n, d = X.shape
        self.n, self.d = n, d
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        esize = 2 if precision == "fp16" else 4
        if chunk_rows is None:
            chunk_rows = max(1024, CHUNK_BYTES[self.dev.type] // (4 * d))
        self.chunk = int(min(chunk_rows, n))
        # min_dist, nearest, picked, index + the selection's temporaries (key, mask, indices);
        # labels (int64) and their masked maxima
        per_row_state = 4 + 4 + 1 + 8 + 4 + 1 + 8 + (8 + 20 if labels is not None else 0)
        if resident is None:
            if self.dev.type == "cpu":
                resident = True
            else:
                free, _ = torch.cuda.mem_get_info(self.dev)
                need = n * (d * esize + per_row_state) + 4 * self.chunk * d * 4
                resident = need < 0.85 * free
        self.resident = bool(resident)
        self.X: torch.Tensor | None = None
        if self.resident:
            if self.dev.type == "cpu" and self.dtype == torch.float32:
                with warnings.catch_warnings():  # read-only memmaps: we never write through it
                    warnings.simplefilter("ignore", UserWarning)
                    self.X = torch.from_numpy(X)
            else:
                self.X = torch.empty((n, d), dtype=self.dtype, device=self.dev)
                for a in range(0, n, self.chunk):
                    self.X[a:a + self.chunk] = self._host_chunk(a, a + self.chunk)
        f32 = {"dtype": torch.float32, "device": self.dev}
        self.buf = torch.empty((self.chunk, d), **f32)
        self.s32 = torch.empty(self.chunk, **f32)
        self.s64 = torch.empty(self.chunk, dtype=torch.float64, device=self.dev)
        self.upd = torch.empty(self.chunk, dtype=torch.bool, device=self.dev)
        self.min_dist = torch.full((n,), float("inf"), **f32)
        self.nearest = torch.full((n,), -1, dtype=torch.int32, device=self.dev)
        self.picked = torch.zeros(n, dtype=torch.bool, device=self.dev)
        self.index = torch.arange(n, dtype=torch.int64, device=self.dev)
        self.sentinel = torch.tensor(n, dtype=torch.int64, device=self.dev)
        self.labels = None
        if labels is not None:
            self.labels = torch.from_numpy(np.ascontiguousarray(labels, np.int64)).to(self.dev)
            self.counts = torch.zeros(n_labels, dtype=torch.int64, device=self.dev)
            self.big = torch.tensor(np.iinfo(np.int64).max, dtype=torch.int64, device=self.dev)

    def _host_chunk(self, a: int, b: int) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(self.host[a:b])
        return t.to(self.dev, dtype=self.dtype)

    def load(self, state: KCenterState) -> None:
        self.min_dist.copy_(torch.from_numpy(state.min_dist))
        self.nearest.copy_(torch.from_numpy(state.nearest))
        if len(state.picks):
            idx = torch.from_numpy(state.picks).to(self.dev)
            self.picked[idx] = True
            if self.labels is not None:
                self.counts.index_add_(0, self.labels[idx], torch.ones_like(idx))

    def center(self, p: torch.Tensor | int) -> torch.Tensor:
        """``(d,) float32`` coordinates of row ``p`` as stored (float16-rounded with fp16)."""
        if self.resident:
            return self.X.index_select(0, p.view(1)).view(-1).float()
        p = int(p)
        return self._host_chunk(p, p + 1).view(-1).float()

    def _argmax_low(self, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(max, lowest index attaining it) on the device."""
        m = key.max()
        return m, torch.where(key == m, self.index, self.sentinel).min()

    def update(self, c: torch.Tensor, j: int) -> None:
        """``min_dist``/``nearest`` with center ``c`` (pick number ``j``); preallocated chunk
        buffers (no allocation per pick)."""
        for a in range(0, self.n, self.chunk):
            b = min(self.n, a + self.chunk)
            x = self.X[a:b] if self.resident else self._host_chunk(a, b)
            diff = torch.sub(x, c, out=self.buf[: b - a])  # float32, also for fp16 storage
            dist = torch.sum(diff.mul_(diff), dim=1, out=self.s32[: b - a])
            # sqrt in float64, rounded once to float32: the correctly rounded float32 sqrt
            # (torch's vectorised float32 sqrt on the CPU is not, and ties depend on it)
            s64 = self.s64[: b - a]
            s64.copy_(dist).sqrt_()
            dist.copy_(s64)
            md = self.min_dist[a:b]
            upd = torch.lt(dist, md, out=self.upd[: b - a])
            torch.minimum(md, dist, out=md)
            self.nearest[a:b].masked_fill_(upd, j)

    def select(self, quota: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(next pick, max ``min_dist`` over unpicked rows) — both 0-dim device tensors; the max
        is ``-1`` when every row is picked. ``quota``: eligible labels have fewer picks."""
        key = torch.where(self.picked, -1.0, self.min_dist)
        gm, ga = self._argmax_low(key)
        if self.labels is None:
            return ga, gm
        zero = torch.zeros((), dtype=torch.float32, device=self.dev)
        elig_rows = (self.counts < quota)[self.labels]
        em, ea = self._argmax_low(torch.where(elig_rows, self.min_dist, zero))
        lmax = torch.zeros(self.counts.shape[0], dtype=torch.float32, device=self.dev)
        lmax.scatter_reduce_(0, self.labels, self.min_dist, reduce="amax", include_self=True)
        has = lmax > 0
        low = torch.where(has, self.counts, self.big).min()
        fb_rows = (has & (self.counts == low))[self.labels]
        fm, fa = self._argmax_low(torch.where(fb_rows, self.min_dist, zero))
        nxt = torch.where(em > 0, ea, torch.where(fm > 0, fa, ga))
        return nxt, gm

    def mark(self, p: torch.Tensor) -> None:
        """Row ``p`` (0-dim device tensor) is picked (index ops: no host sync)."""
        idx = p.view(1)
        self.picked.index_fill_(0, idx, True)
        if self.labels is not None:
            self.counts.index_add_(0, self.labels.index_select(0, idx),
                                   torch.ones(1, dtype=torch.int64, device=self.dev))

    def sync(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)


def run_torch(X: np.ndarray, k: int, start: KCenterState, first: int, lab, n_labels: int, cap,
              device: str, precision: str, driver: _Driver, *, resident: bool | None = None,
              chunk_rows: int | None = None) -> tuple[KCenterState, KCenterStats]:
    """The k-center loop on a torch device (arguments prepared by
    :func:`streamdistill.select.kcenter.greedy_with_stats`)."""
    import time

    from streamdistill.select.kcenter import KCenterState, KCenterStats, label_quota

    tk = TorchKCenter(X, device, precision, lab, n_labels, resident=resident,
                      chunk_rows=chunk_rows)
    j0 = len(start.picks)
    tk.load(start)
    dev = tk.dev
    picks_t = torch.empty(k, dtype=torch.int64, device=dev)
    radius_t = torch.empty(k, dtype=torch.float32, device=dev)
    if j0:
        picks_t[:j0] = torch.from_numpy(start.picks).to(dev)

    def quota(m: int) -> int | None:
        return label_quota(cap, m) if lab is not None else None

    if j0 == 0:
        p = torch.tensor(first, dtype=torch.int64, device=dev)
    else:
        p, _ = tk.select(quota(j0 + 1))

    def state_at(j: int) -> KCenterState:
        tk.sync()
        r = np.concatenate([start.radius[: min(j, j0)],
                            radius_t[j0:j].cpu().numpy().astype(np.float64)])
        return KCenterState(picks_t[:j].cpu().numpy(), r, tk.min_dist.cpu().numpy(),
                            tk.nearest.cpu().numpy())

    secs = np.zeros(k - j0)
    for j in range(j0, k):
        t0 = time.perf_counter()
        picks_t[j] = p
        tk.mark(p)
        tk.update(tk.center(p), j)
        nxt, gm = tk.select(quota(j + 2))
        radius_t[j] = gm.clamp(min=0.0)
        p = nxt
        secs[j - j0] = time.perf_counter() - t0
        driver.tick(j + 1, lambda done=j + 1: state_at(done))
    driver.close(k, lambda: state_at(k))
    state = state_at(k)
    return state, KCenterStats(j0, secs, np.zeros(k - j0, bool), np.full(k - j0, -1, np.int64))
