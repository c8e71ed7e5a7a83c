"""Polyphase rational resampling as one batched BLAS product, equal to ``scipy.signal.resample_poly``.

``resample_poly(x, up, down, window=h, padtype='reflect')`` computes, for output sample ``m``,
``y[m] = Σ_k h[k] · u[m·down + half − k]`` where ``u`` is ``x`` up-sampled by ``up`` (zeros in
between, mirrored beyond the ends) and ``half = (len(h) − 1) / 2``. Only one in ``up`` taps meets a
non-zero sample, so each output needs ``taps = ceil(len(h) / up)`` multiply-adds of input samples.

Because ``up`` and ``down`` are coprime, the pattern of weights repeats every ``up`` outputs, which
start ``down`` input samples later. So a tile of ``T = q · up`` consecutive outputs (tiles starting
at multiples of ``T``) is always the same matrix ``W`` (``T × L``, ``L ≈ q · down + taps``) applied
to ``L`` consecutive input samples, and the whole block is one ``numpy.matmul`` over overlapping
strided views of the input — ``(n_tiles, C, L) @ (L, T)`` written straight into the
channel-major ``(C, n_out)`` result (no transposing copy). ``W`` is banded (``taps`` non-zeros per
row), so the product does ``L / taps`` ≈ 2–3× the minimal arithmetic, but BLAS does it at several
times the rate of a compiled loop: on 64 ch × 300 s at 160 Hz → 200 Hz, float32, one core, 9 ms
against 27 ms for the numba kernel this replaced, which also cost ≈ 0.4 s per process to import
and load (both measured while developing, 2026-11-28, median of 3 calls after a warm-up; the
end-to-end effect is in docs/benchmarks.md, "shard"). Results equal scipy's up to float
rounding (tested, edges included).

BLAS runs single-threaded here (:func:`streamdistill.blas.single_threaded_blas`): the products
are small, OpenBLAS would otherwise thread each of them, and ``shard`` already runs one process
per core.
"""

from __future__ import annotations

import functools

import numpy as np

from streamdistill.blas import single_threaded_blas

#: Target outputs per tile (``T = q · up`` with ``q = max(1, round(TILE_OUTPUTS / up))``):
#: larger tiles mean fewer, larger products but more zeros in ``W``; 32–64 measured best.
TILE_OUTPUTS = 48


def polyphase_resample(x: np.ndarray, up: int, down: int, kernel: np.ndarray) -> np.ndarray:
    """Resample ``x: (C, n)`` by ``up/down`` with the FIR ``kernel`` (unscaled, odd length, as
    scipy's ``window=``), mirroring the ends like ``padtype='reflect'``.

    Returns ``(C, ceil(n · up / down))`` in ``x``'s dtype (float32 or float64), C-ordered.
    """
    dtype = x.dtype
    n_channels, n = x.shape
    n_out = -(-n * up // down)
    taps = -(-len(kernel) // up)
    pad = taps + 2
    if n <= pad:  # numpy's reflect needs pad < n; scipy handles tiny inputs itself
        from scipy import signal

        return np.ascontiguousarray(signal.resample_poly(
            x, up, down, axis=1, window=kernel, padtype="reflect"), dtype=dtype)
    w_t, start, shift = _tile_matrix(up, down, np.asarray(kernel, np.float64).tobytes(), pad,
                                     dtype.str)
    length, tile = w_t.shape
    n_full = n_out // tile
    rest = n_out - n_full * tile
    # Input with ``mode="reflect"`` margins, and zeros after them for the last tile's unused
    # outputs (valid outputs never reach past the mirrored margin).
    n_rows = max(n + 2 * pad, start + n_full * shift + length)
    xp = np.empty((n_channels, n_rows), dtype)
    xp[:, pad:pad + n] = x
    xp[:, :pad] = x[:, 1:pad + 1][:, ::-1]
    xp[:, pad + n:2 * pad + n] = x[:, n - 1 - pad:n - 1][:, ::-1]
    xp[:, 2 * pad + n:] = 0
    out = np.empty((n_channels, n_out), dtype)
    s_row, s_col = xp.strides
    with single_threaded_blas():
        if n_full:
            tiles = np.lib.stride_tricks.as_strided(
                xp[:, start:], shape=(n_full, n_channels, length),
                strides=(shift * s_col, s_row, s_col), writeable=False)
            dest = out[:, :n_full * tile].reshape(n_channels, n_full, tile).transpose(1, 0, 2)
            np.matmul(tiles, w_t, out=dest)
        if rest:
            a = start + n_full * shift
            np.matmul(xp[:, a:a + length], w_t[:, :rest], out=out[:, n_full * tile:])
    return out


@functools.lru_cache(maxsize=32)
def _tile_matrix(up: int, down: int, kernel_bytes: bytes, pad: int, dtype: str
                 ) -> tuple[np.ndarray, int, int]:
    """``(Wᵀ, start, shift)`` for tiles of ``T = q · up`` outputs: ``Wᵀ: (L, T)``; tile ``i``
    reads padded input samples ``[start + i · shift, start + i · shift + L)``, ``shift = q · down``.

    ``pad`` is the number of mirrored samples before the signal in the padded input."""
    h = np.frombuffer(kernel_bytes, np.float64) * up
    half = (len(h) - 1) // 2
    taps = -(-len(h) // up)
    hpoly = np.zeros(taps * up)
    hpoly[:len(h)] = h
    hpoly = hpoly.reshape(taps, up).T  # hpoly[phase, k] = h[k·up + phase]
    q = max(1, round(TILE_OUTPUTS / up))
    tile = q * up
    j = np.arange(tile)
    t = j * down + half + pad * up  # position of output j in the padded, up-sampled input
    phase, row0 = t % up, t // up
    start = int(row0[0]) - (taps - 1)
    length = int(row0[-1]) - start + 1
    w = np.zeros((tile, length))
    for k in range(taps):
        w[j, row0 - k - start] = hpoly[phase, k]
    w_t = np.ascontiguousarray(w.T, dtype=np.dtype(dtype))
    w_t.flags.writeable = False
    return w_t, start, q * down
