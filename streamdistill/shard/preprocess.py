"""Blockwise band-pass, notch and resampling with exact state across block edges.

The LaBraM recipe (Jiang et al., ICLR 2024; DESIGN.md) filters a whole preloaded recording:
``filter(0.1, 75)``, ``notch_filter(50)``, ``resample(200)``. Here the same linear operations run on
time blocks of a lazily read recording, so memory is set by the block length, not the recording:

1. **FIR band-pass and notch.** MNE designs both zero-phase FIR kernels
   (:func:`mne.filter.create_filter`, firwin/Hamming, MNE's automatic lengths and transition bands,
   the notch exactly as :func:`mne.filter.notch_filter` parametrises it). Convolving with both is one
   convolution with their full convolution ``h`` (odd length ``L``, linear phase). A block of outputs
   ``[s0, s1)`` needs inputs ``[s0 − K, s1 + K)``, ``K = (L − 1) / 2``: the block is read with that much
   context and filtered with a *valid* convolution, so interior block edges are exact. At the true
   ends of the recording the input is extended by MNE's ``reflect_limited`` padding, as
   ``filter_data`` does for a whole recording.
2. **Polyphase resampling** (``scipy.signal.resample_poly``'s Kaiser kernel and
   ``padtype='reflect'``, as MNE's ``method='polyphase'``; computed by ``resample.py``, equal to
   scipy up to float rounding). It is an FIR filter too: block starts are multiples of the
   decimation factor ``down`` so every block lands on the global output grid, and ``R`` context
   samples on each side absorb the block-edge padding.

The output therefore equals whole-recording processing (``process_whole``) up to floating-point
rounding, whatever the block size (tested). Non-finite input samples are set to 0 before filtering
(so one NaN cannot spread through an FFT block) and flagged; flat stretches (no channel changes
value) are flagged too, so that ``segments.py`` can drop the windows that contain either.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator

import numpy as np
from scipy import fft as sp_fft

from streamdistill.config import PreprocessConfig
from streamdistill.shard.kernel_cache import cached_design
from streamdistill.shard.resample import polyphase_resample

#: Reads input samples ``[start, stop)`` of the kept channels: ``(C, stop - start)`` float64, µV.
BlockReader = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class FilterPlan:
    """Everything the block loop needs for one input sampling rate.

    Attributes
    ----------
    sfreq_in, sfreq_out
        Input and output sampling rates (Hz); ``sfreq_out = sfreq_in · up / down`` exactly.
    kernel
        Combined band-pass ⊛ notch zero-phase FIR kernel, float64, odd length (``[1.0]`` if no
        filtering is asked for).
    up, down
        Coprime resampling factors.
    fir_context
        ``K = (len(kernel) − 1) / 2`` input samples of context each side.
    resample_context
        ``R`` input samples of context for the resampler, a multiple of ``down``.
    resample_kernel
        The polyphase resampler's FIR kernel (:func:`design_resample_kernel`).
    dtype
        Floating type of the arithmetic (``float32`` default; see :func:`iter_blocks`).
    notes
        Human-readable notes (a low-pass or notch skipped because it lies above Nyquist, ...).
    """

    sfreq_in: float
    sfreq_out: float
    kernel: np.ndarray
    up: int
    down: int
    fir_context: int
    resample_context: int
    resample_kernel: np.ndarray
    dtype: str
    notes: tuple[str, ...]

    def n_out(self, n_in: int) -> int:
        """Number of output samples for ``n_in`` input samples (``ceil(n_in · up / down)``)."""
        return -(-n_in * self.up // self.down)


def resample_factors(sfreq_in: float, sfreq_out: float) -> tuple[int, int]:
    """Coprime ``(up, down)`` with ``sfreq_in · up / down == sfreq_out``.

    Rates with more than three decimals are approximated to the nearest ratio with
    ``down ≤ 10000`` (the achieved rate is reported by :func:`make_plan`).
    """
    ratio = Fraction(str(float(sfreq_out))) / Fraction(str(float(sfreq_in)))
    ratio = ratio.limit_denominator(10_000)
    return ratio.numerator, ratio.denominator


def make_plan(sfreq_in: float, cfg: PreprocessConfig) -> FilterPlan:
    """Design the filters and resampler for one input rate (MNE's automatic filter lengths).

    Plans are cached per (rate, parameters) in the process: a corpus usually has a handful of
    rates, and the design (MNE's attenuation check evaluates each kernel's response) costs
    ~10 ms. The kernels are also kept on disk (``kernel_cache.py``), so a later run on the same
    rates never imports ``scipy.signal`` (≈ 0.5 s per process).
    """
    return _make_plan(
        float(sfreq_in), cfg.l_freq, cfg.h_freq, cfg.notch_freq, cfg.sfreq, cfg.dsp_dtype)


@functools.lru_cache(maxsize=64)
def _make_plan(
    sfreq_in: float,
    l_freq_cfg: float,
    h_freq_cfg: float,
    notch_freq: float | None,
    sfreq_out_cfg: float,
    dsp_dtype: str,
) -> FilterPlan:
    up, down = resample_factors(sfreq_in, sfreq_out_cfg)
    sfreq_out = sfreq_in * up / down
    params = {"sfreq_in": sfreq_in, "l_freq": l_freq_cfg, "h_freq": h_freq_cfg,
              "notch_freq": notch_freq, "up": up, "down": down}
    arrays, notes = cached_design(
        params, lambda: _design_kernels(sfreq_in, l_freq_cfg, h_freq_cfg, notch_freq, up, down))
    if abs(sfreq_out - sfreq_out_cfg) > 1e-9:
        notes.append(f"output rate {sfreq_out:.6f} Hz approximates {sfreq_out_cfg:g} Hz")
    kernel = arrays["kernel"]
    # scipy's resample_poly uses a Kaiser FIR of half length 10·max(up, down) at the up-sampled
    # rate; in input samples that is 10·max(up, down)/up. Round up to a multiple of `down`.
    if up == down == 1:
        r_ctx = 0
    else:
        r_ctx = math.ceil(10 * max(up, down) / up) + 2
        r_ctx = -(-r_ctx // down) * down
    return FilterPlan(
        sfreq_in=float(sfreq_in),
        sfreq_out=float(sfreq_out),
        kernel=kernel,
        up=up,
        down=down,
        fir_context=(len(kernel) - 1) // 2,
        resample_context=r_ctx,
        resample_kernel=arrays["resample_kernel"],
        dtype=dsp_dtype,
        notes=tuple(notes),
    )


def _design_kernels(sfreq_in: float, l_freq_cfg: float, h_freq_cfg: float,
                    notch_freq: float | None, up: int, down: int
                    ) -> tuple[dict[str, np.ndarray], list[str]]:
    """The plan's kernels as MNE and scipy design them (what ``kernel_cache.py`` stores):
    ``kernel`` (band-pass ⊛ notch, float64, odd length, ``[1.0]`` for none) and
    ``resample_kernel``; plus notes on filters skipped above the input Nyquist."""
    import mne

    notes: list[str] = []
    nyq = sfreq_in / 2.0
    kernels: list[np.ndarray] = []
    l_freq = l_freq_cfg if l_freq_cfg and l_freq_cfg > 0 else None
    h_freq: float | None = h_freq_cfg
    if h_freq is not None:
        h_trans = min(max(0.25 * h_freq, 2.0), nyq - h_freq)
        if h_freq >= nyq or h_trans <= 0:
            notes.append(
                f"low-pass {h_freq:g} Hz skipped: at or above the input Nyquist ({nyq:g} Hz)"
            )
            h_freq = None
    if l_freq is not None or h_freq is not None:
        kernels.append(
            mne.filter.create_filter(
                None, sfreq_in, l_freq, h_freq, fir_design="firwin", verbose="error"
            )
        )
    if notch_freq is not None:
        # As mne.filter.notch_filter(x, sfreq, f): width f/200, transition 1 Hz.
        half = notch_freq / 200.0 / 2.0 + 0.5
        if notch_freq + half >= nyq:
            notes.append(f"notch {notch_freq:g} Hz skipped: above the input Nyquist ({nyq:g} Hz)")
        else:
            kernels.append(
                mne.filter.create_filter(
                    None, sfreq_in, notch_freq + half, notch_freq - half,
                    l_trans_bandwidth=0.5, h_trans_bandwidth=0.5,
                    fir_design="firwin", verbose="error",
                )
            )
    kernel = np.array([1.0])
    for h in kernels:
        kernel = np.convolve(kernel, np.asarray(h, dtype=np.float64))
    resample = design_resample_kernel(up, down) if (up, down) != (1, 1) else np.array([1.0])
    return {"kernel": kernel, "resample_kernel": resample}, notes


def reflect_limited_pad(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Pad the time axis as MNE's ``pad='reflect_limited'``: mirror without repeating the edge
    sample, zeros beyond what the signal can mirror.  ``x: (C, n)``."""
    n = x.shape[-1]
    out = np.empty((x.shape[0], before + n + after), x.dtype)
    out[:, before:before + n] = x
    _reflect_limited_fill(out, before, after)
    return out


def _reflect_limited_fill(x: np.ndarray, before: int, after: int) -> None:
    """:func:`reflect_limited_pad` in place: ``x: (C, before + n + after)`` holds the signal in
    ``[before, before + n)``; its margins are filled with the mirror and zeros."""
    n = x.shape[1] - before - after
    if before:
        m = min(before, n - 1)
        x[:, before - m:before] = x[:, before + 1:before + m + 1][:, ::-1]
        x[:, :before - m] = 0
    if after:
        m = min(after, n - 1)
        end = before + n
        x[:, end:end + m] = x[:, end - 1 - m:end - 1][:, ::-1]
        x[:, end + m:] = 0


def _fir_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid-mode convolution of every row with a kernel, ``x: (C, n + L − 1)`` → ``(C, n)``.

    One real FFT of ``next_fast_len(n + L − 1)`` per row: a circular convolution whose last
    ``n`` samples never wrap, so they equal the linear (valid) convolution. Computed in ``x``'s
    dtype (scipy.fft keeps float32).
    """
    kernel = kernel.astype(x.dtype, copy=False)
    n_in, n_k = x.shape[1], len(kernel)
    if n_k == 1:
        return x * kernel[0]
    n_fft = sp_fft.next_fast_len(n_in, real=True)
    spectrum = sp_fft.rfft(x, n_fft, axis=1, overwrite_x=True)
    spectrum *= sp_fft.rfft(kernel, n_fft)
    return sp_fft.irfft(spectrum, n_fft, axis=1, overwrite_x=True)[:, n_k - 1 : n_in]


def _resample(x: np.ndarray, plan: FilterPlan) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, down, padtype='reflect')`` (one batched BLAS product,
    equal to scipy up to float rounding; ``resample.py``)."""
    if plan.up == plan.down:
        return x
    return polyphase_resample(x, plan.up, plan.down, plan.resample_kernel)


def design_resample_kernel(up: int, down: int) -> np.ndarray:
    """The anti-alias FIR ``scipy.signal.resample_poly`` designs by default for ``up/down``
    (Kaiser β = 5, half length ``10·max(up, down)``, cut-off at the lower Nyquist), float64.
    Passing it explicitly lets the resampler run in float32 as well."""
    from scipy import signal

    max_rate = max(up, down)
    half_len = 10 * max_rate
    return signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))


@dataclass(frozen=True)
class Block:
    """One block of preprocessed output.

    ``start``: index of its first output sample; ``data``: ``(C, n)`` µV at ``sfreq_out`` in
    the plan's DSP dtype (possibly a strided view), or in the store dtype after
    ``segments.to_storage_block``; ``bad``: ``(n,)`` bool, the sample derives from a non-finite
    input sample; ``changed``: ``(n,)`` bool, some channel's input value changed there
    (all-False = flat); ``clipped``: ``(n,)`` bool, some value was clipped to the store dtype's
    range (None before conversion).
    """

    start: int
    data: np.ndarray
    bad: np.ndarray
    changed: np.ndarray
    clipped: np.ndarray | None = None


def _input_flags(raw: np.ndarray, previous: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per input sample: any channel non-finite; any channel differs from the previous sample."""
    bad = ~np.isfinite(raw).all(axis=0)
    changed = np.empty(raw.shape[1], bool)
    changed[1:] = (raw[:, 1:] != raw[:, :-1]).any(axis=0)
    changed[0] = False if previous is None else bool((raw[:, 0] != previous).any())
    return bad, changed


def _flags_to_output(flags: np.ndarray, s0: int, m0: int, m1: int, plan: FilterPlan) -> np.ndarray:
    """Map per-input-sample flags (input index ``s0`` at position 0) onto outputs ``[m0, m1)``:
    output ``m`` covers inputs ``[floor(m·down/up), max(floor((m+1)·down/up), that + 1))``."""
    m = np.arange(m0, m1 + 1, dtype=np.int64)
    idx = (m * plan.down) // plan.up - s0
    idx = np.clip(idx, 0, len(flags) - 1)
    return np.maximum.reduceat(flags, idx[:-1]) if len(flags) else np.zeros(m1 - m0, bool)


def iter_blocks(
    read: BlockReader, n_in: int, plan: FilterPlan, block_s: float
) -> Iterator[Block]:
    """Preprocess a recording of ``n_in`` input samples block by block.

    Yields :class:`Block` s covering output samples ``[0, plan.n_out(n_in))`` in order. Peak memory
    is ``O(C · (block + 2·(K + R)))`` input samples, independent of ``n_in``.
    """
    K, R, down = plan.fir_context, plan.resample_context, plan.down
    step = max(int(block_s * plan.sfreq_in) // down * down, down)
    # A block must be long enough that reflect-padding at a true edge sees the same samples as a
    # whole-recording filter would; also at least the kernel and resampler support.
    step = max(step, -(-(2 * (K + R) + 1) // down) * down)
    n_out_total = plan.n_out(n_in)
    previous: np.ndarray | None = None
    offset: np.ndarray | None = None
    s0 = 0
    while s0 < n_in:
        s1 = min(s0 + step, n_in)
        if n_in - s1 < step // 4:  # fold a short remainder into the last block
            s1 = n_in
        # Filtered samples needed: [f0, f1) = [s0 - R, s1 + R) ∩ [0, n); raw samples: ± K more.
        f0, f1 = max(s0 - R, 0), min(s1 + R, n_in)
        r0, r1 = max(f0 - K, 0), min(f1 + K, n_in)
        raw = np.asarray(read(r0, r1), dtype=np.float64)
        bad_in, changed_in = _input_flags(raw[:, s0 - r0 : s1 - r0], previous)
        previous = raw[:, s1 - r0 - 1].copy()
        if offset is None:
            offset = channel_offset(raw)
        pad_before = K - (f0 - r0)  # > 0 only at the true start
        pad_after = K - (r1 - f1)  # > 0 only at the true end
        filtered = _filter(raw, offset, pad_before, pad_after, plan)
        del raw
        resampled = _resample(filtered, plan)
        del filtered
        # Output index of resampled[:, 0] is f0·up/down (f0 is a multiple of down).
        m_base = f0 * plan.up // plan.down
        m0 = s0 * plan.up // plan.down
        m1 = n_out_total if s1 == n_in else s1 * plan.up // plan.down
        out = resampled[:, m0 - m_base : m1 - m_base]
        yield Block(
            start=m0,
            data=out,
            bad=_flags_to_output(bad_in, s0, m0, m1, plan),
            changed=_flags_to_output(changed_in, s0, m0, m1, plan),
        )
        s0 = s1


def process_whole(x: np.ndarray, plan: FilterPlan) -> np.ndarray:
    """Reference: the same operations on a whole in-memory recording, ``x: (C, n)`` µV.

    Used by tests and benchmarks to show that :func:`iter_blocks` equals whole-recording
    processing; it holds the whole recording in memory and is not used by ``shard``.
    """
    K = plan.fir_context
    filtered = _filter(np.asarray(x, np.float64), channel_offset(x), K, K, plan)
    return _resample(filtered, plan)


def channel_offset(raw: np.ndarray) -> np.ndarray:
    """Each channel's first sample (0 where non-finite), ``(C, 1)`` float64: removed before the
    convolution so that float32 arithmetic works on small numbers whatever the DC offset."""
    first = raw[:, :1]
    return np.where(np.isfinite(first), first, 0.0)


def _filter(
    raw: np.ndarray, offset: np.ndarray, pad_before: int, pad_after: int, plan: FilterPlan
) -> np.ndarray:
    """Zero non-finite samples, remove ``offset``, pad true edges, convolve (valid), restore the
    offset's filtered value (``offset · Σh``). Returns ``plan.dtype``."""
    # One buffer for the offset-free, cast and padded input (each temporary of a block costs
    # its page faults again: fewer, larger passes are measurably faster).
    n = raw.shape[1]
    x = np.empty((raw.shape[0], pad_before + n + pad_after), plan.dtype)
    mid = x[:, pad_before:pad_before + n]
    np.subtract(raw, offset, out=mid, casting="same_kind")  # float64 arithmetic, then cast
    finite = np.isfinite(mid)
    if not finite.all():
        mid[~finite] = 0.0
    del finite
    if pad_before or pad_after:
        _reflect_limited_fill(x, pad_before, pad_after)
    y = _fir_valid(x, plan.kernel)
    y += (offset * plan.kernel.sum()).astype(plan.dtype)
    return y
