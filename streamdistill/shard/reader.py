"""Open one recording lazily with MNE and expose its kept EEG channels as a block reader."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from streamdistill.config import PreprocessConfig
from streamdistill.shard.channels import ChannelReport, harmonise_channels


class RecordingSkipped(Exception):
    """The file was read but holds nothing to shard (the message is the reason)."""


@dataclass
class OpenedRecording:
    """A lazily read recording restricted to its harmonised EEG channels.

    ``read(start, stop)`` returns ``(C, stop - start)`` float64 µV of the kept channels in LaBraM
    order; nothing else of the file is held in memory (formats MNE can only preload, such as an
    EEGLAB ``.set`` with embedded data, are the exception and are noted).
    """

    raw: object
    picks: list[int]
    report: ChannelReport
    sfreq: float
    n_times: int
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.n_times / self.sfreq

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.raw.get_data(picks=self.picks, start=start, stop=stop, units="uV")


#: Fragments of MNE reader warnings that mean the file is shorter than its header says.
_TRUNCATION_HINTS = ("does not match the file size", "truncated", "fewer samples than")


def truncation_note(notes: list[str]) -> str | None:
    """A reason line if MNE warned that the file is truncated, else None."""
    for note in notes:
        if any(h in note.lower() for h in _TRUNCATION_HINTS):
            return f"file truncated; only the complete data MNE could read was used ({note[:160]})"
    return None


def _warning_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    seen: list[str] = []
    for w in caught:
        text = " ".join(str(w.message).split())[:300]
        if text and text not in seen:
            seen.append(text)
    return seen


def _per_channel_rates(raw, picks: list[int]) -> list[float] | None:
    """Original per-signal sampling rates of EDF/BDF/GDF files (MNE up-samples slower signals
    to the fastest one when reading); None for formats with one rate per file."""
    extras = getattr(raw, "_raw_extras", None)
    if not extras or not isinstance(extras[0], dict) or "n_samps" not in extras[0]:
        return None
    n_samps = np.asarray(extras[0]["n_samps"], dtype=float)
    record_length = extras[0].get("record_length")
    if record_length is None or len(n_samps) < len(raw.ch_names):
        return None
    seconds = float(np.atleast_1d(record_length)[0])
    return [float(n_samps[i]) / seconds for i in picks] if seconds > 0 else None


def open_recording(path: str, cfg: PreprocessConfig, bids_root: str | None = None) -> OpenedRecording:
    """Open ``path`` with ``mne.io.read_raw(preload=False)`` (or mne-bids for a BIDS file).

    Raises
    ------
    RecordingSkipped
        No channel left after harmonisation, or kept channels at mixed sampling rates.
    Exception
        Whatever MNE raises for an unreadable file (the caller records it as ``failed``).
    """
    import mne

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if bids_root is not None:
            import mne_bids

            bids_path = mne_bids.get_bids_path_from_fname(path)
            bids_path.update(root=bids_root)
            raw = mne_bids.read_raw_bids(bids_path, verbose="warning")
        else:
            raw = mne.io.read_raw(path, preload=False, verbose="warning")
    notes = _warning_notes(caught)
    types = raw.get_channel_types()
    report = harmonise_channels(
        list(raw.ch_names),
        types,
        map_old_names=cfg.map_old_names,
        drop_references=cfg.drop_references,
        extra_map=cfg.channel_map,
    )
    bads = set(raw.info.get("bads", []))
    if bads:
        report.dropped.update({b: "marked bad in the file" for b in bads if b in report.kept})
        kept = [(k, h) for k, h in zip(report.kept, report.harmonised) if k not in bads]
        report = ChannelReport(
            kept=tuple(k for k, _ in kept),
            harmonised=tuple(h for _, h in kept),
            renamed={k: v for k, v in report.renamed.items() if k not in bads},
            dropped=report.dropped,
        )
    if not report.kept:
        listing = "; ".join(f"{k}: {v}" for k, v in list(report.dropped.items())[:8])
        raise RecordingSkipped(
            f"no EEG channel with a LaBraM 10-20/10-10 name ({len(raw.ch_names)} channels: "
            f"{listing}{' ...' if len(report.dropped) > 8 else ''})"
        )
    picks = [raw.ch_names.index(name) for name in report.kept]
    rates = _per_channel_rates(raw, picks)
    if rates is not None and len(set(rates)) > 1:
        summary = ", ".join(f"{r:g} Hz" for r in sorted(set(rates)))
        raise RecordingSkipped(
            f"kept EEG channels were recorded at mixed sampling rates ({summary}); MNE would "
            "interpolate the slower ones. Resample or split the file per rate."
        )
    return OpenedRecording(
        raw=raw,
        picks=picks,
        report=report,
        sfreq=float(raw.info["sfreq"]),
        n_times=int(raw.n_times),
        notes=notes,
    )
