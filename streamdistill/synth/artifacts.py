"""Labelled EEG artifacts: seeded placement and blockwise-consistent rendering.

Kinds (:data:`ARTIFACT_KINDS`), all amplitudes in µV:

================  =========================================================================
``blink``         eye blink: a skewed positive bump of 200–400 ms, 100–300 µV at FP channels,
                  ×0.6 at AF, ×0.25 on the F row, ×1.2 on an EOG channel (Lins et al. 1993)
``muscle``        EMG burst: band-limited noise 20–70 Hz (capped below Nyquist), 10–40 µV RMS,
                  1–5 s, on the temporal channels of one side (F7/FT7/T7/TP7/T9/TP9 or right)
``pop``           electrode pop: a 100–400 µV step on one channel decaying exponentially to 0
                  over 0.5–2 s
``flat_channel``  one channel disconnected: exactly 0 for 2–10 s
``noisy_channel`` one channel replaced by white noise of 100–300 µV RMS for 2–10 s
``saturation``    1–3 channels driven into the amplifier rail: ``clip(100·x ± rail/2, ±rail)``
                  with rail 500–1000 µV, for 1–5 s
``flat_all``      every channel (extras included) exactly 0 for 4–20 s (data loss / paused
                  acquisition), so a downstream stage can drop it
================  =========================================================================

An event is an :class:`ArtifactEvent`; its onset and duration are whole samples, its waveform a
function of (event, sample index inside the event) only, so an event straddling a block boundary
renders identically whatever the blocks are. Events are applied in a fixed order — additive kinds,
then channel replacements, then saturation, then ``flat_all`` — each kind in list order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from streamdistill.synth.signals import seed_tuple

#: Artifact kinds, in the order they are applied to a block.
ARTIFACT_KINDS: tuple[str, ...] = (
    "blink", "muscle", "pop", "noisy_channel", "flat_channel", "saturation", "flat_all",
)

#: Relative frequency of each kind when placing artifacts.
DEFAULT_WEIGHTS: dict[str, float] = {
    "blink": 0.35, "muscle": 0.2, "pop": 0.1, "noisy_channel": 0.08, "flat_channel": 0.08,
    "saturation": 0.07, "flat_all": 0.12,
}

#: (min, max) duration (s) and (min, max) amplitude (µV) of each kind.
_RANGES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "blink": ((0.2, 0.4), (100.0, 300.0)),
    "muscle": ((1.0, 5.0), (10.0, 40.0)),
    "pop": ((0.5, 2.0), (100.0, 400.0)),
    "noisy_channel": ((2.0, 10.0), (100.0, 300.0)),
    "flat_channel": ((2.0, 10.0), (0.0, 0.0)),
    "saturation": ((1.0, 5.0), (500.0, 1000.0)),
    "flat_all": ((4.0, 20.0), (0.0, 0.0)),
}

_TEMPORAL = {
    "L": ("F7", "FT7", "T7", "TP7", "T9", "TP9", "FT9", "T3", "T5"),
    "R": ("F8", "FT8", "T8", "TP8", "T10", "TP10", "FT10", "T4", "T6"),
}


@dataclass(frozen=True)
class ArtifactEvent:
    """One labelled artifact.

    Attributes
    ----------
    kind
        One of :data:`ARTIFACT_KINDS`.
    onset_s, duration_s
        Start and length (s); both whole multiples of the sampling period.
    channels
        Canonical upper-case EEG names the artifact affects (all EEG channels for ``flat_all``).
    amplitude_uv
        Peak (blink, pop: signed), RMS (muscle, noisy_channel) or rail (saturation) amplitude, µV.
    seed
        Seed of the event's own random waveform.
    """

    kind: str
    onset_s: float
    duration_s: float
    channels: tuple[str, ...]
    amplitude_uv: float
    seed: int

    def span(self, sfreq: float) -> tuple[int, int]:
        """First sample and number of samples of the event at ``sfreq``."""
        return int(round(self.onset_s * sfreq)), int(round(self.duration_s * sfreq))


def _blink_weights(channels: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in channels:
        if name.startswith("FP"):
            out[name] = 1.0
        elif name.startswith("AF"):
            out[name] = 0.6
        elif name[0] == "F" and name[1:2] in ("Z", "1", "2", "3", "4", "5", "6", "7", "8"):
            out[name] = 0.25
    return out


def place_artifacts(
    channels: Sequence[str],
    sfreq: float,
    n_samples: int,
    *,
    rate_per_min: float,
    seed: int | Sequence[int],
    weights: dict[str, float] | None = None,
) -> list[ArtifactEvent]:
    """Place artifacts at seeded random times in one recording.

    Parameters
    ----------
    channels
        C canonical EEG names of the recording.
    sfreq, n_samples
        Sampling frequency (Hz) and length (samples) of the recording.
    rate_per_min
        Mean number of artifacts per minute (the count is Poisson).
    seed
        Non-negative int or ints; the same seed gives the same events.
    weights
        Relative frequency per kind (default :data:`DEFAULT_WEIGHTS`); kinds left out never occur.

    Returns
    -------
    list of ArtifactEvent
        Sorted by onset; every event lies inside the recording (durations are shortened to fit).
    """
    weights = DEFAULT_WEIGHTS if weights is None else weights
    unknown = set(weights) - set(ARTIFACT_KINDS)
    if unknown:
        raise ValueError(f"unknown artifact kinds {sorted(unknown)}; use {ARTIFACT_KINDS}")
    kinds = [k for k in ARTIFACT_KINDS if weights.get(k, 0) > 0]
    rng = np.random.default_rng([*seed_tuple(seed), 0xA7])
    duration_s = n_samples / sfreq
    if not kinds or n_samples < 2:
        return []
    p = np.array([weights[k] for k in kinds], dtype=float)
    n_events = int(rng.poisson(rate_per_min * duration_s / 60.0))
    channels = list(channels)
    events = []
    for _ in range(n_events):
        kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
        (d_lo, d_hi), (a_lo, a_hi) = _RANGES[kind]
        n_dur = max(1, min(n_samples - 1, int(round(rng.uniform(d_lo, d_hi) * sfreq))))
        onset = int(rng.integers(0, n_samples - n_dur + 1))
        amplitude = float(rng.uniform(a_lo, a_hi))
        if kind == "blink":
            chans = tuple(_blink_weights(channels))
        elif kind == "muscle":
            side = "L" if rng.random() < 0.5 else "R"
            chans = tuple(c for c in channels if c in _TEMPORAL[side])
        elif kind in ("pop", "noisy_channel", "flat_channel"):
            chans = (channels[int(rng.integers(len(channels)))],)
            if kind == "pop" and rng.random() < 0.5:
                amplitude = -amplitude
        elif kind == "saturation":
            n_picks = min(len(channels), int(rng.integers(1, 4)))
            picks = rng.choice(len(channels), size=n_picks, replace=False)
            chans = tuple(channels[i] for i in sorted(picks))
        else:  # flat_all
            chans = tuple(channels)
        event_seed = int(rng.integers(0, 2**63 - 1))
        if not chans:  # e.g. a blink in a montage without frontal channels
            continue
        onset_s, dur_s = onset / sfreq, n_dur / sfreq
        events.append(ArtifactEvent(kind, onset_s, dur_s, chans, round(amplitude, 3), event_seed))
    events.sort(key=lambda e: (e.onset_s, ARTIFACT_KINDS.index(e.kind)))
    return events


def _waveform(event: ArtifactEvent, n_dur: int, sfreq: float) -> np.ndarray:
    """Waveform of one event (µV): ``(n_dur,)``, or ``(len(channels), n_dur)`` for muscle."""
    rng = np.random.default_rng(event.seed)
    u = (np.arange(n_dur) + 0.5) / n_dur
    if event.kind == "blink":
        return event.amplitude_uv * np.sin(np.pi * u**0.7) ** 2  # fast rise, slower fall
    if event.kind == "pop":
        tau = n_dur / 5.0
        k = np.arange(n_dur)
        decay = np.exp(-k / tau)
        return event.amplitude_uv * (decay - decay[-1]) / (1.0 - decay[-1] + 1e-12)
    if event.kind == "muscle":
        white = rng.standard_normal((len(event.channels), n_dur))
        freqs = np.fft.rfftfreq(n_dur, 1.0 / sfreq)
        band = (freqs >= 20.0) & (freqs <= min(70.0, 0.45 * sfreq))
        burst = np.fft.irfft(np.fft.rfft(white, axis=1) * band, n=n_dur, axis=1)
        burst /= burst.std(axis=1, keepdims=True) + 1e-12
        envelope = np.minimum(1.0, np.minimum(u, 1.0 - u) / 0.1)  # 10 % linear ramps
        return event.amplitude_uv * burst * envelope
    if event.kind == "noisy_channel":
        return event.amplitude_uv * rng.standard_normal(n_dur)
    raise ValueError(f"kind {event.kind!r} has no waveform")


def render_artifacts(
    x: np.ndarray,
    events: Sequence[ArtifactEvent],
    *,
    start_sample: int,
    sfreq: float,
    ch_names: Sequence[str],
) -> np.ndarray:
    """Apply artifacts to one block of a recording, in place.

    Parameters
    ----------
    x
        ``(C_total, n)`` float32 µV block, samples ``[start_sample, start_sample + n)``; rows named
        by ``ch_names`` (canonical names, EEG then extras such as ``'EOG'``, ``'ECG'``).
    events
        The recording's events (:func:`place_artifacts`); those outside the block are skipped.
    start_sample
        Index of the block's first sample in the recording.
    sfreq
        Sampling frequency (Hz).
    ch_names
        Canonical name of every row of ``x``.

    Returns
    -------
    numpy.ndarray
        ``x`` itself, modified.
    """
    index = {name: i for i, name in enumerate(ch_names)}
    n = x.shape[1]
    order = sorted(range(len(events)), key=lambda i: (ARTIFACT_KINDS.index(events[i].kind), i))
    for i in order:
        ev = events[i]
        onset, n_dur = ev.span(sfreq)
        lo, hi = max(onset, start_sample), min(onset + n_dur, start_sample + n)
        if lo >= hi:
            continue
        inner = slice(lo - onset, hi - onset)  # inside the event
        outer = slice(lo - start_sample, hi - start_sample)  # inside the block
        rows = [index[c] for c in ev.channels if c in index]
        if ev.kind == "blink":
            wave = _waveform(ev, n_dur, sfreq)[inner]
            weights = _blink_weights(ev.channels)
            for c in ev.channels:
                x[index[c], outer] += np.float32(weights[c]) * wave.astype(np.float32)
            if "EOG" in index:
                x[index["EOG"], outer] += (1.2 * wave).astype(np.float32)
        elif ev.kind in ("muscle", "pop"):
            x[rows, outer] += _waveform(ev, n_dur, sfreq)[..., inner].astype(np.float32)
        elif ev.kind == "noisy_channel":
            x[rows, outer] = _waveform(ev, n_dur, sfreq)[inner].astype(np.float32)
        elif ev.kind == "flat_channel":
            x[rows, outer] = 0.0
        elif ev.kind == "saturation":
            rail = np.float32(abs(ev.amplitude_uv))
            offset = np.float32(rail / 2 if ev.seed % 2 else -rail / 2)
            x[rows, outer] = np.clip(np.float32(100.0) * x[rows, outer] + offset, -rail, rail)
        elif ev.kind == "flat_all":
            x[:, outer] = 0.0
        else:
            raise ValueError(f"unknown artifact kind {ev.kind!r}")
    return x
