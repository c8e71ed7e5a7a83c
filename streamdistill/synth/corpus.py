"""A synthetic EEG corpus on disk: many subjects, montages, rates, formats and name styles.

:class:`SyntheticRecording` joins a clean signal (:mod:`~streamdistill.synth.signals`), its labelled
artifacts (:mod:`~streamdistill.synth.artifacts`) and an on-disk channel-name style
(:mod:`~streamdistill.synth.montages`) into a :class:`~streamdistill.synth.writers.BlockSource`.
:func:`generate_corpus` writes a BIDS-like tree::

    out_dir/
      recordings.csv        one row per file
      artifacts.csv         one row per artifact event
      sub-001/sub-001_run-01_eeg.edf
      sub-001/sub-001_run-02_eeg.fif
      ...

Seeds: subject ``s`` (0-based) of corpus seed ``seed`` draws its parameters from ``(seed, s)``;
its run ``r`` (1-based) renders from ``(seed, s, r)``. The same arguments give the same samples.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from streamdistill.synth.artifacts import (
    ARTIFACT_KINDS,
    ArtifactEvent,
    place_artifacts,
    render_artifacts,
)
from streamdistill.synth.montages import EXTRA_CHANNELS, NAME_STYLES, get_montage, style_names
from streamdistill.synth.signals import SignalSpec, draw_subject, render_block, seed_tuple
from streamdistill.synth.writers import FORMAT_EXTENSIONS, STREAM_THRESHOLD_S, write_recording

#: Columns of ``recordings.csv``.
RECORDING_COLUMNS: tuple[str, ...] = (
    "file", "subject", "run", "format", "montage", "n_channels", "sfreq", "duration_s",
    "name_style", "line_freq", "extra_channels",
)

#: Columns of ``artifacts.csv``.
ARTIFACT_COLUMNS: tuple[str, ...] = ("file", "subject", "kind", "onset_s", "duration_s", "channels")


@dataclass(frozen=True)
class SyntheticRecording:
    """A synthetic recording as a block source: clean signal + artifacts + name style.

    Attributes
    ----------
    signal
        The clean signal's parameters.
    events
        Artifacts applied on top (canonical channel names).
    name_style
        Spelling of the on-disk channel names (one of
        :data:`~streamdistill.synth.montages.NAME_STYLES`).
    """

    signal: SignalSpec
    events: tuple[ArtifactEvent, ...] = ()
    name_style: str = "plain"

    @property
    def ch_names(self) -> list[str]:
        """On-disk channel names, EEG then extras."""
        return style_names(self.signal.ch_names, self.name_style)

    @property
    def ch_types(self) -> tuple[str, ...]:
        """MNE channel types."""
        return self.signal.ch_types

    @property
    def sfreq(self) -> float:
        """Sampling frequency (Hz)."""
        return self.signal.sfreq

    @property
    def n_samples(self) -> int:
        """Length in samples."""
        return self.signal.n_samples

    def block(self, start: int, n: int) -> np.ndarray:
        """Samples ``[start, start + n)`` with artifacts: ``(C, n)`` float32 µV, blockwise exact."""
        x = render_block(self.signal, start, n)
        return render_artifacts(
            x, self.events, start_sample=start, sfreq=self.sfreq, ch_names=self.signal.ch_names
        )


def make_recording(
    montage: int | tuple[str, ...] = 19,
    sfreq: float = 250.0,
    duration_s: float = 60.0,
    *,
    seed: int | Sequence[int] = 0,
    subject_seed: int | Sequence[int] | None = None,
    line_freq: float | None = 50.0,
    artifact_rate_per_min: float = 4.0,
    artifact_weights: dict[str, float] | None = None,
    name_style: str = "plain",
    extras: Sequence[str] = (),
) -> SyntheticRecording:
    """Build one synthetic recording (nothing is rendered until :meth:`SyntheticRecording.block`).

    Parameters
    ----------
    montage
        A channel count in :data:`~streamdistill.synth.montages.MONTAGES` or canonical names.
    sfreq, duration_s
        Sampling frequency (Hz) and length (s, rounded to whole samples).
    seed
        Recording seed (noise, channel gains, artifacts).
    subject_seed
        Seed of the subject's parameters; defaults to ``seed``.
    line_freq
        Mains frequency (Hz) or ``None``.
    artifact_rate_per_min, artifact_weights
        See :func:`~streamdistill.synth.artifacts.place_artifacts`; rate 0 gives a clean recording.
    name_style
        On-disk channel-name style.
    extras
        Non-EEG channels to append, from ``('EOG', 'ECG')``.
    """
    if name_style not in NAME_STYLES:
        raise ValueError(f"unknown name style {name_style!r}; use one of {NAME_STYLES}")
    seeds = seed_tuple(seed)
    channels = get_montage(montage)
    n_samples = int(round(duration_s * sfreq))
    subject = draw_subject(seeds if subject_seed is None else subject_seed)
    signal = SignalSpec(
        channels, float(sfreq), n_samples, subject,
        seed=seeds, line_freq=line_freq, extras=tuple(extras),
    )
    events: list[ArtifactEvent] = []
    if artifact_rate_per_min > 0:
        events = place_artifacts(
            channels, sfreq, n_samples,
            rate_per_min=artifact_rate_per_min, seed=seeds, weights=artifact_weights,
        )
    return SyntheticRecording(signal, tuple(events), name_style)


def generate_corpus(
    out_dir: str | Path,
    *,
    n_subjects: int = 4,
    recordings_per_subject: int = 2,
    montages: Sequence[int] = (19, 32, 64),
    sfreqs: Sequence[float] = (160, 250, 256, 500, 1000),
    duration_s: float = 120.0,
    formats: Sequence[str] = ("edf", "fif", "brainvision", "eeglab"),
    line_freq: float = 50.0,
    artifact_rate_per_min: float = 4.0,
    name_styles: Sequence[str] = ("plain", "tuh", "dots"),
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Write a synthetic corpus and its ground-truth tables.

    Recording ``i`` (subject-major order) takes montage ``montages[(i + o₁) % M]``, sampling rate
    ``sfreqs[(i + o₂) % S]``, format ``formats[(i + o₃) % F]`` and name style
    ``name_styles[(i + i // M + o₄) % N]`` (shifted once per montage cycle so that equal-length
    lists do not lock styles to montages), with offsets ``o`` drawn from ``seed``. Odd-numbered
    recordings also carry EOG and ECG channels.

    Recordings longer than :data:`~streamdistill.synth.writers.STREAM_THRESHOLD_S` (30 min) are
    written by the streaming EDF/BDF writer, so memory stays bounded by one block: a long recording
    whose cycled format cannot stream (fif, brainvision, eeglab: MNE's writers hold the whole
    recording, ≈ 18 GB for 10 h of 64 channels at 1 kHz) is written as EDF instead, and its
    ``format`` column says so.

    Parameters
    ----------
    out_dir
        Output directory (created).
    n_subjects, recordings_per_subject
        Corpus size: files ``sub-001 … sub-{n_subjects:03d}``, runs ``01 …``.
    montages, sfreqs, formats, name_styles
        Values cycled across recordings (formats: keys of
        :data:`~streamdistill.synth.writers.FORMAT_EXTENSIONS`).
    duration_s
        Length of every recording (s).
    line_freq
        Mains frequency (Hz).
    artifact_rate_per_min
        Mean artifacts per minute.
    seed
        Corpus seed.
    progress
        Print one line per written file to stderr.

    Returns
    -------
    pandas.DataFrame
        The ``recordings.csv`` table (:data:`RECORDING_COLUMNS`), also written to ``out_dir``, with
        ``artifacts.csv`` (:data:`ARTIFACT_COLUMNS`; channels joined by ``';'``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        if fmt not in FORMAT_EXTENSIONS:
            raise ValueError(f"unknown format {fmt!r}; use one of {sorted(FORMAT_EXTENSIONS)}")
    offsets = np.random.default_rng([int(seed), 0xC0]).integers(0, 1 << 16, size=4)
    rec_rows: list[dict] = []
    art_rows: list[dict] = []
    n_total = n_subjects * recordings_per_subject
    for i in range(n_total):
        s, run = divmod(i, recordings_per_subject)
        run += 1
        montage = int(montages[(i + offsets[0]) % len(montages)])
        sfreq = float(sfreqs[(i + offsets[1]) % len(sfreqs)])
        fmt = formats[(i + offsets[2]) % len(formats)]
        if duration_s > STREAM_THRESHOLD_S and fmt not in ("edf", "bdf"):
            fmt = "edf"  # only EDF/BDF stream; see the docstring
        style = name_styles[(i + i // len(montages) + offsets[3]) % len(name_styles)]
        extras = tuple(EXTRA_CHANNELS) if i % 2 else ()
        rec = make_recording(
            montage, sfreq, duration_s, seed=(seed, s, run), subject_seed=(seed, s),
            line_freq=line_freq, artifact_rate_per_min=artifact_rate_per_min,
            name_style=style, extras=extras,
        )
        subject = f"sub-{s + 1:03d}"
        rel = Path(subject) / f"{subject}_run-{run:02d}_eeg{FORMAT_EXTENSIONS[fmt]}"
        write_recording(rec, out / rel, fmt, line_freq=line_freq)
        if progress:
            what = f"{fmt}, {montage} ch, {sfreq:g} Hz, {style}"
            print(f"[{i + 1}/{n_total}] {rel} ({what})", file=sys.stderr)
        rec_rows.append({
            "file": rel.as_posix(), "subject": subject, "run": run, "format": fmt,
            "montage": montage, "n_channels": len(rec.ch_names), "sfreq": sfreq,
            "duration_s": rec.n_samples / sfreq, "name_style": style, "line_freq": line_freq,
            "extra_channels": ";".join(extras),
        })
        for ev in rec.events:
            art_rows.append({
                "file": rel.as_posix(), "subject": subject, "kind": ev.kind, "onset_s": ev.onset_s,
                "duration_s": ev.duration_s, "channels": ";".join(ev.channels),
            })
    recordings = pd.DataFrame(rec_rows, columns=list(RECORDING_COLUMNS))
    artifacts = pd.DataFrame(art_rows, columns=list(ARTIFACT_COLUMNS))
    recordings.to_csv(out / "recordings.csv", index=False)
    artifacts.to_csv(out / "artifacts.csv", index=False)
    return recordings


def segment_artifact_labels(
    artifacts: pd.DataFrame, file: str, starts_s: np.ndarray, window_s: float
) -> pd.DataFrame:
    """Label fixed-length segments of one file with the artifacts that overlap them.

    Parameters
    ----------
    artifacts
        An ``artifacts.csv`` table (columns ``file``, ``kind``, ``onset_s``, ``duration_s``).
    file
        The file (as in the table's ``file`` column) the segments come from.
    starts_s
        ``(S,)`` segment start times (s).
    window_s
        Segment length (s); segment ``k`` is ``[starts_s[k], starts_s[k] + window_s)``.

    Returns
    -------
    pandas.DataFrame
        ``S`` rows: ``start_s``, one boolean column per kind in
        :data:`~streamdistill.synth.artifacts.ARTIFACT_KINDS` (true when an event of that kind
        overlaps the segment by more than 0 s), and ``any_artifact``.
    """
    starts = np.asarray(starts_s, dtype=np.float64).reshape(-1)
    events = artifacts[artifacts["file"] == file]
    onset = events["onset_s"].to_numpy(dtype=np.float64)
    end = onset + events["duration_s"].to_numpy(dtype=np.float64)
    # (S, E): overlap of [start, start + window) with [onset, end) is positive
    overlaps = (onset[None, :] < starts[:, None] + window_s) & (end[None, :] > starts[:, None])
    kinds = events["kind"].to_numpy()
    out = pd.DataFrame({"start_s": starts})
    for kind in ARTIFACT_KINDS:
        out[kind] = overlaps[:, kinds == kind].any(axis=1)
    out["any_artifact"] = overlaps.any(axis=1)
    return out
