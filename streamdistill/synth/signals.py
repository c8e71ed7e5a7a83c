"""Seeded, blockwise-deterministic synthetic resting-state EEG.

The model is a sum of spatially smooth sources, all in µV:

* **aperiodic background** — one white-noise source per channel shaped to a power spectrum
  ``P(f) ∝ (f² + f₀²)^(-a/2)``, f₀ = 0.5 Hz (1/f^a, ``a`` ≈ 1–2; He 2014, Donoghue et al. 2020),
  then mixed across channels by a Gaussian kernel of the electrodes' distance on the unit sphere, so
  neighbouring channels are correlated as volume conduction makes them;
* **alpha** — two narrow-band (Gaussian spectral peak at 8–12 Hz) sources with posterior, left- and
  right-centred topographies, so alpha waxes and wanes like the real rhythm;
* **beta** — two wider-band (15–25 Hz) sources centred on C3 and C4;
* **line noise** — a sinusoid at 50 or 60 Hz with a per-channel amplitude and a small phase spread;
* optional **EOG** (slow 1/f² drift) and **ECG** (a P-QRS-T template at the subject's heart rate).

Blockwise determinism
---------------------
Time is cut into fixed tiles of ``L`` samples (``L``: the power of two ≥ 8 s, set by ``sfreq``).
The white noise of tile ``t`` is ``numpy.random.default_rng([*seed, 0x71, t + 2])`` (every
entropy list used here ends in a non-zero salt or index: ``SeedSequence`` treats trailing zeros as
absent). Every spectral shaping is an FIR filter of length ``L`` applied by one FFT of the noise of
tiles ``t - 1`` and ``t`` (length ``2L``), keeping the last ``L`` outputs: a linear convolution, so
tiles join without any edge effect. A tile is always computed by the same operations on arrays of
the same shapes, so a sample's value does not depend on which block asked for it: rendering
``[0, N)`` in one call equals rendering it in any number of uneven calls, bit for bit (on one
machine and library build; BLAS/FFT kernels of other CPUs may round differently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np
import scipy.fft

from streamdistill.blas import single_threaded_blas
from streamdistill.synth.montages import EXTRA_CHANNELS, get_montage, unit_positions

#: Tiles last at least this long (s); also the FIR length: the lowest shaped frequency is ≈ 1/8 Hz.
MIN_TILE_S: float = 8.0

Seed = int | tuple[int, ...]


def seed_tuple(seed: Seed | Sequence[int]) -> tuple[int, ...]:
    """Normalise a seed (a non-negative int or a sequence of them) to a tuple of ints."""
    if np.isscalar(seed):
        out: tuple[int, ...] = (int(seed),)  # type: ignore[arg-type]
    else:
        out = tuple(int(s) for s in seed)  # type: ignore[union-attr]
    if any(s < 0 for s in out):
        raise ValueError(f"seeds must be non-negative integers, got {seed!r}")
    return out


@dataclass(frozen=True)
class SubjectParams:
    """A subject's EEG "fingerprint", shared by all of the subject's recordings.

    Attributes
    ----------
    alpha_freq_hz, alpha_width_hz, alpha_uv
        Alpha peak frequency (8–12 Hz), Gaussian spectral half-width (Hz) and RMS amplitude (µV) at
        the centre of its topography.
    alpha_lateral
        Left/right offset of the two alpha sources from the midline (unit-sphere x).
    alpha_spread
        Gaussian width (unit-sphere chord) of the posterior alpha topography.
    beta_freq_hz, beta_width_hz, beta_uv
        Beta peak (15–25 Hz), half-width (Hz) and RMS amplitude (µV) at C3/C4.
    aperiodic_exponent
        ``a`` in the background's ``1/f^a`` power spectrum (1–2).
    background_uv
        RMS amplitude (µV) of the aperiodic background per channel (before channel gains).
    spatial_scale
        Length scale (unit-sphere chord) of the Gaussian mixing that correlates nearby channels.
    heart_rate_bpm
        Heart rate of the ECG channel (beats per minute).
    """

    alpha_freq_hz: float
    alpha_width_hz: float
    alpha_uv: float
    alpha_lateral: float
    alpha_spread: float
    beta_freq_hz: float
    beta_width_hz: float
    beta_uv: float
    aperiodic_exponent: float
    background_uv: float
    spatial_scale: float
    heart_rate_bpm: float


def draw_subject(seed: Seed | Sequence[int]) -> SubjectParams:
    """Draw one subject's parameters (see :class:`SubjectParams` for ranges) from a seed."""
    rng = np.random.default_rng([*seed_tuple(seed), 0x5B])
    u = rng.uniform
    return SubjectParams(
        alpha_freq_hz=round(float(u(8.5, 11.5)), 3),
        alpha_width_hz=round(float(u(0.4, 0.9)), 3),
        alpha_uv=round(float(u(8.0, 20.0)), 3),
        alpha_lateral=round(float(u(0.15, 0.35)), 3),
        alpha_spread=round(float(u(0.45, 0.7)), 3),
        beta_freq_hz=round(float(u(16.0, 24.0)), 3),
        beta_width_hz=round(float(u(1.5, 3.0)), 3),
        beta_uv=round(float(u(2.0, 5.0)), 3),
        aperiodic_exponent=round(float(u(1.0, 2.0)), 3),
        background_uv=round(float(u(15.0, 30.0)), 3),
        spatial_scale=round(float(u(0.3, 0.5)), 3),
        heart_rate_bpm=round(float(u(55.0, 85.0)), 3),
    )


@dataclass(frozen=True)
class SignalSpec:
    """Everything that determines a recording's clean signal.

    Attributes
    ----------
    channels
        C canonical EEG names (see :mod:`streamdistill.synth.montages`).
    sfreq
        Sampling frequency (Hz).
    n_samples
        Recording length in samples.
    subject
        The subject's parameters (:func:`draw_subject`).
    seed
        The recording's noise seed (non-negative int or tuple of ints).
    line_freq
        Mains frequency (Hz), or ``None`` for no line noise.
    line_uv
        Typical line-noise amplitude (µV); each channel's is this times a log-normal factor.
    extras
        Non-EEG channels appended after the EEG ones, from ``('EOG', 'ECG')``.
    """

    channels: tuple[str, ...]
    sfreq: float
    n_samples: int
    subject: SubjectParams
    seed: tuple[int, ...] = field(default=(0,))
    line_freq: float | None = 50.0
    line_uv: float = 3.0
    extras: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", get_montage(tuple(self.channels)))
        object.__setattr__(self, "seed", seed_tuple(self.seed))
        object.__setattr__(self, "extras", tuple(self.extras))
        bad = [e for e in self.extras if e not in EXTRA_CHANNELS]
        if bad:
            raise ValueError(f"unknown extra channels {bad}; use {tuple(EXTRA_CHANNELS)}")
        if self.sfreq <= 0 or self.n_samples < 0:
            raise ValueError("sfreq must be > 0 and n_samples >= 0")
        if self.line_freq is not None and not 0 < self.line_freq < self.sfreq / 2:
            raise ValueError(
                f"line_freq {self.line_freq} Hz is not below Nyquist ({self.sfreq / 2} Hz)"
            )

    @property
    def ch_names(self) -> tuple[str, ...]:
        """Canonical names of all rows of a rendered block: EEG channels, then extras."""
        return self.channels + self.extras

    @property
    def ch_types(self) -> tuple[str, ...]:
        """MNE channel type of every row (``'eeg'``, ``'eog'``, ``'ecg'``)."""
        return ("eeg",) * len(self.channels) + tuple(EXTRA_CHANNELS[e] for e in self.extras)

    @property
    def duration_s(self) -> float:
        """Recording length (s)."""
        return self.n_samples / self.sfreq


def tile_length(sfreq: float) -> int:
    """Samples per internal tile: the smallest power of two lasting at least :data:`MIN_TILE_S`."""
    return 1 << int(np.ceil(np.log2(MIN_TILE_S * sfreq)))


def _fir_response(amplitude: np.ndarray, n_tile: int) -> np.ndarray:
    """Unit-gain linear-phase FIR of length ``n_tile`` with a given amplitude response.

    ``amplitude`` is ``(n_tile // 2 + 1,)`` on the rFFT grid of ``n_tile`` points. The zero-phase
    impulse response is centred, Hann-windowed and scaled to unit L2 norm (unit-variance output for
    unit white noise). Returns its rFFT on ``2 * n_tile`` points, ``(n_tile + 1,)`` complex.
    """
    h = np.fft.fftshift(np.fft.irfft(amplitude, n=n_tile)) * np.hanning(n_tile)
    h /= np.linalg.norm(h)
    return np.fft.rfft(h, n=2 * n_tile)


@dataclass(frozen=True)
class _Plan:
    """Derived, cached quantities for rendering one :class:`SignalSpec`."""

    n_tile: int
    n_noise: int  # rows of white noise per tile
    response: np.ndarray  # (n_noise, n_tile + 1) complex64, FIR responses on 2*n_tile points
    mixing: np.ndarray  # (C, C) float32, row-normalised Gaussian spatial kernel × channel gains
    alpha_topo: np.ndarray  # (C, 2) float32, µV per unit source
    beta_topo: np.ndarray  # (C, 2) float32, µV per unit source
    line_weights: np.ndarray  # (C, 2) float32, µV: line amplitude × (cos φ, sin φ) per channel


@lru_cache(maxsize=32)
def _plan(spec: SignalSpec) -> _Plan:
    subj = spec.subject
    n_ch = len(spec.channels)
    n_tile = tile_length(spec.sfreq)
    freqs = np.fft.rfftfreq(n_tile, 1.0 / spec.sfreq)
    rng = np.random.default_rng([*spec.seed, 0xC4])

    background = (freqs**2 + 0.5**2) ** (-subj.aperiodic_exponent / 4.0)
    alpha = np.exp(-0.5 * ((freqs - subj.alpha_freq_hz) / subj.alpha_width_hz) ** 2)
    beta = np.exp(-0.5 * ((freqs - subj.beta_freq_hz) / subj.beta_width_hz) ** 2)
    rows = [_fir_response(background, n_tile)] * n_ch
    rows += [_fir_response(alpha, n_tile)] * 2 + [_fir_response(beta, n_tile)] * 2
    if "EOG" in spec.extras:
        rows.append(_fir_response((freqs**2 + 0.1**2) ** -0.5, n_tile))
    response = np.stack(rows).astype(np.complex64)

    pos = unit_positions(spec.channels)
    dist2 = np.sum((pos[:, None, :] - pos[None, :, :]) ** 2, axis=-1)
    kernel = np.exp(-0.5 * dist2 / subj.spatial_scale**2)
    kernel /= np.linalg.norm(kernel, axis=1, keepdims=True)  # unit variance per channel
    gains = np.exp(rng.normal(0.0, 0.15, n_ch))  # electrode-to-electrode gain spread
    mixing = (gains[:, None] * kernel * subj.background_uv).astype(np.float32)

    def bump(centres: np.ndarray, width: float) -> np.ndarray:
        centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        d2 = np.sum((pos[:, None, :] - centres[None, :, :]) ** 2, axis=-1)
        return np.exp(-0.5 * d2 / width**2)

    lat = subj.alpha_lateral
    alpha_centres = np.array([[-lat, -0.9, 0.3], [lat, -0.9, 0.3]])
    alpha_topo = subj.alpha_uv * bump(alpha_centres, subj.alpha_spread)
    beta_topo = subj.beta_uv * bump(np.array([[-0.6, 0.0, 0.8], [0.6, 0.0, 0.8]]), 0.35)

    line_amp = spec.line_uv * np.exp(rng.normal(0.0, 0.5, n_ch))
    if not spec.line_freq:
        line_amp[:] = 0.0
    line_phase = rng.uniform(0.0, 2 * np.pi) + rng.normal(0.0, 0.2, n_ch)
    line_weights = np.stack([line_amp * np.cos(line_phase), line_amp * np.sin(line_phase)], axis=1)
    return _Plan(
        n_tile=n_tile,
        n_noise=len(rows),
        response=response,
        mixing=mixing,
        alpha_topo=(gains[:, None] * alpha_topo).astype(np.float32),
        beta_topo=(gains[:, None] * beta_topo).astype(np.float32),
        line_weights=line_weights.astype(np.float32),
    )


def _tile_noise(spec: SignalSpec, plan: _Plan, tile: int) -> np.ndarray:
    """White noise of one tile, ``(n_noise, n_tile)`` float32 (tile −1 exists: it feeds tile 0)."""
    rng = np.random.default_rng([*spec.seed, 0x71, tile + 2])
    return rng.standard_normal((plan.n_noise, plan.n_tile), dtype=np.float32)


def _ecg(spec: SignalSpec, samples: np.ndarray) -> np.ndarray:
    """ECG in µV at absolute sample indices ``samples`` (P-QRS-T as a sum of Gaussians)."""
    period = 60.0 / spec.subject.heart_rate_bpm
    phase = np.mod(samples / spec.sfreq, period) / period - 0.3  # R peak at 30 % of the beat
    # (centre as fraction of beat, width, amplitude µV): P, Q, R, S, T
    waves = ((-0.17, 0.025, 120.0), (-0.03, 0.01, -150.0), (0.0, 0.012, 1000.0),
             (0.03, 0.01, -250.0), (0.3, 0.05, 300.0))
    out = np.zeros(samples.shape, dtype=np.float64)
    for centre, width, amp in waves:
        out += amp * np.exp(-0.5 * ((phase - centre) / width) ** 2)
    return out


def _render_tile(
    spec: SignalSpec, plan: _Plan, tile: int, noise: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """One tile of the clean signal, ``(C + n_extras, n_tile)`` float32 µV.

    ``noise`` holds the white noise of tiles ``tile - 1`` and ``tile`` (:func:`_tile_noise`).
    """
    n_ch, n_tile = len(spec.channels), plan.n_tile
    white = np.concatenate(noise, axis=1)
    shaped = scipy.fft.irfft(scipy.fft.rfft(white, axis=1) * plan.response, n=2 * n_tile, axis=1)
    shaped = shaped[:, n_tile:].astype(np.float32, copy=False)
    out = np.empty((n_ch + len(spec.extras), n_tile), dtype=np.float32)
    eeg = plan.mixing @ shaped[:n_ch]
    eeg += plan.alpha_topo @ shaped[n_ch : n_ch + 2]
    eeg += plan.beta_topo @ shaped[n_ch + 2 : n_ch + 4]
    samples = tile * n_tile + np.arange(n_tile, dtype=np.int64)
    if spec.line_freq:
        # phase of the mains at each sample, reduced exactly before scaling by 2π
        theta = 2 * np.pi * np.mod(samples * float(spec.line_freq), spec.sfreq) / spec.sfreq
        # a sin(θ + φ) = a cos φ · sin θ + a sin φ · cos θ: two sinusoids instead of C
        sin_cos = np.stack([np.sin(theta), np.cos(theta)]).astype(np.float32)
        eeg += plan.line_weights @ sin_cos
    out[:n_ch] = eeg
    row = n_ch
    for extra in spec.extras:
        if extra == "EOG":
            out[row] = 30.0 * shaped[n_ch + 4]
        else:
            out[row] = _ecg(spec, samples)
        row += 1
    return out


def render_block(spec: SignalSpec, start_sample: int, n_samples: int) -> np.ndarray:
    """Render samples ``[start_sample, start_sample + n_samples)`` of the clean signal.

    Parameters
    ----------
    spec
        The recording's signal parameters.
    start_sample, n_samples
        First sample and number of samples; the range must lie inside ``[0, spec.n_samples)``.

    Returns
    -------
    numpy.ndarray
        ``(C + len(spec.extras), n_samples)`` float32, µV; rows in ``spec.ch_names`` order.
        Identical values for a sample whatever block it is rendered in (see the module docstring).
    """
    if start_sample < 0 or n_samples < 0 or start_sample + n_samples > spec.n_samples:
        raise ValueError(
            f"block [{start_sample}, {start_sample + n_samples}) outside the recording "
            f"[0, {spec.n_samples})"
        )
    plan = _plan(spec)
    out = np.empty((len(spec.ch_names), n_samples), dtype=np.float32)
    if n_samples == 0:
        return out
    first, last = start_sample // plan.n_tile, (start_sample + n_samples - 1) // plan.n_tile
    previous = _tile_noise(spec, plan, first - 1)
    with single_threaded_blas():
        for tile in range(first, last + 1):
            current = _tile_noise(spec, plan, tile)
            values = _render_tile(spec, plan, tile, (previous, current))
            previous = current
            lo = max(start_sample, tile * plan.n_tile)
            hi = min(start_sample + n_samples, (tile + 1) * plan.n_tile)
            offset = tile * plan.n_tile
            out[:, lo - start_sample : hi - start_sample] = values[:, lo - offset : hi - offset]
    return out
