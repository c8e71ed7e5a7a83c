"""Small malformed or degenerate EEG files, one per failure mode the ``shard`` stage must survive.

:func:`write_bad_inputs` writes every case of :data:`BAD_INPUTS`. What MNE 1.13 does with each
(checked by ``tests/synth/test_synth.py``):

==================  =====================  =========================================================
case                file                   what ``mne.io.read_raw`` does
==================  =====================  =========================================================
truncated_edf       ``truncated.edf``      valid header claiming 10 × 1-s records, data cut in the
                                           middle of record 5: reads with a RuntimeWarning ("Number
                                           of records from the header does not match the file size
                                           ... Inferring from the file size") and returns the 4
                                           complete records (4 s)
random_bytes_edf    ``random_bytes.edf``   4 KiB of seeded random bytes: raises ``ValueError("Bad
                                           EDF file provided.")`` (after a RuntimeWarning about
                                           an invalid measurement date)
text_edf            ``text.edf``           a text file: raises the same ``ValueError``
non_eeg_only_edf    ``non_eeg_only.edf``   reads; every channel (ECG, EOG, RESP, EMG, SpO2 names)
                                           is non-EEG by name (EDF stores no types: MNE types them
                                           ``eeg``), so harmonisation keeps none
too_short_edf       ``too_short.edf``      reads; 64 channels × 2 s at 160 Hz, shorter than the
                                           4-s window of a 64-channel group
nan_inf_fif         ``nan_inf_eeg.fif``    reads; NaN on all channels in [5, 7) s, +inf on FP1 and
                                           −inf on O2 in [15, 16) s (19 ch, 30 s, 250 Hz)
zeros_fif           ``zeros_eeg.fif``      reads; all channels exactly 0 in [10, 20) s
unknown_names_edf   ``unknown_names.edf``  reads; channels XYZ1 … XYZ8, none a 10-20 name
mixed_rate_edf      ``mixed_rates.edf``    reads (no warning with ``preload=True``); EEG channels
                                           alternate 256 / 128 Hz and a RESP channel is 32 Hz.
                                           ``info['sfreq']`` is the highest rate (256) and every
                                           slower signal is upsampled to it by
                                           ``mne.filter.resample`` (FFT, ``npad=0``) over the
                                           span read, so the upsampled values ring at the span's
                                           edges and depend on which span is read; with
                                           ``preload=False`` a partial read warns about edge
                                           artifacts (MNE issue 10635). ``exclude=`` the slow
                                           channels avoids the resampling.
empty_fif           ``empty_eeg.fif``      0 bytes: raises (``AttributeError`` from inside MNE,
                                           after a RuntimeWarning "Invalid tag with only 0/16
                                           bytes"); a reader should catch any exception
==================  =====================  =========================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamdistill.synth.montages import MONTAGE_19, MONTAGE_64, style_names
from streamdistill.synth.signals import SignalSpec, draw_subject, render_block
from streamdistill.synth.writers import (
    PHYSICAL_RANGE_UV,
    ArraySource,
    write_edf_streaming,
    write_recording,
)

#: Case name → file name written by :func:`write_bad_inputs` (see the module docstring).
BAD_INPUTS: dict[str, str] = {
    "truncated_edf": "truncated.edf",
    "random_bytes_edf": "random_bytes.edf",
    "text_edf": "text.edf",
    "non_eeg_only_edf": "non_eeg_only.edf",
    "too_short_edf": "too_short.edf",
    "nan_inf_fif": "nan_inf_eeg.fif",
    "zeros_fif": "zeros_eeg.fif",
    "unknown_names_edf": "unknown_names.edf",
    "mixed_rate_edf": "mixed_rates.edf",
    "empty_fif": "empty_eeg.fif",
}


def _eeg(channels: tuple[str, ...], sfreq: float, duration_s: float, seed: int) -> np.ndarray:
    """Clean synthetic EEG, ``(C, round(duration_s * sfreq))`` float32 µV."""
    n = int(round(duration_s * sfreq))
    spec = SignalSpec(channels, sfreq, n, draw_subject(seed), seed=(seed,), line_freq=50.0)
    return render_block(spec, 0, n)


def _truncated_edf(path: Path) -> None:
    sfreq = 256.0
    data = _eeg(MONTAGE_19, sfreq, 10.0, seed=1)
    write_edf_streaming(ArraySource(data, style_names(MONTAGE_19, "plain"), sfreq), path)
    header = 256 * (len(MONTAGE_19) + 1)
    record = 2 * len(MONTAGE_19) * int(sfreq)
    with open(path, "r+b") as fh:
        fh.truncate(header + 4 * record + record // 2)


def _non_eeg_only_edf(path: Path) -> None:
    sfreq = 256.0
    names = ["ECG", "EOG-L", "EOG-R", "RESP", "EMG", "SpO2"]
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((len(names), int(10 * sfreq))) * 50.0).astype(np.float32)
    write_edf_streaming(ArraySource(data, names, sfreq), path)


def _too_short_edf(path: Path) -> None:
    sfreq = 160.0
    data = _eeg(MONTAGE_64, sfreq, 2.0, seed=4)
    write_edf_streaming(ArraySource(data, style_names(MONTAGE_64, "plain"), sfreq), path)


def _nan_inf_fif(path: Path) -> None:
    sfreq = 250.0
    data = _eeg(MONTAGE_19, sfreq, 30.0, seed=5)
    data[:, int(5 * sfreq) : int(7 * sfreq)] = np.nan
    data[MONTAGE_19.index("FP1"), int(15 * sfreq) : int(16 * sfreq)] = np.inf
    data[MONTAGE_19.index("O2"), int(15 * sfreq) : int(16 * sfreq)] = -np.inf
    write_recording(ArraySource(data, style_names(MONTAGE_19, "plain"), sfreq), path, "fif")


def _zeros_fif(path: Path) -> None:
    sfreq = 250.0
    data = _eeg(MONTAGE_19, sfreq, 30.0, seed=6)
    data[:, int(10 * sfreq) : int(20 * sfreq)] = 0.0
    write_recording(ArraySource(data, style_names(MONTAGE_19, "plain"), sfreq), path, "fif")


def _unknown_names_edf(path: Path) -> None:
    sfreq = 256.0
    names = [f"XYZ{i}" for i in range(1, 9)]
    data = _eeg(MONTAGE_19[: len(names)], sfreq, 10.0, seed=7)
    write_edf_streaming(ArraySource(data, names, sfreq), path)


def _mixed_rate_edf(path: Path) -> None:
    import edfio

    duration = 10.0
    fast = _eeg(MONTAGE_19, 256.0, duration, seed=8)
    slow = _eeg(MONTAGE_19, 128.0, duration, seed=8)
    signals = []
    header = {"physical_dimension": "uV", "physical_range": PHYSICAL_RANGE_UV}
    for i, name in enumerate(style_names(MONTAGE_19, "plain")):
        data, sfreq = (fast[i], 256.0) if i % 2 == 0 else (slow[i], 128.0)
        signals.append(edfio.EdfSignal(data.astype(np.float64), sfreq, label=name, **header))
    resp = 500.0 * np.sin(2 * np.pi * 0.25 * np.arange(int(32 * duration)) / 32.0)
    signals.append(edfio.EdfSignal(resp, 32.0, label="RESP", **header))
    edfio.Edf(signals).write(path)


def write_bad_inputs(out_dir: str | Path) -> dict[str, Path]:
    """Write one small file per bad-input case (:data:`BAD_INPUTS`) into ``out_dir``.

    Parameters
    ----------
    out_dir
        Directory (created). Existing files of the same names are replaced.

    Returns
    -------
    dict of str to pathlib.Path
        Case name → written file. Deterministic contents except the FIF files' ids.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {case: out / name for case, name in BAD_INPUTS.items()}
    _truncated_edf(paths["truncated_edf"])
    paths["random_bytes_edf"].write_bytes(np.random.default_rng(2).bytes(4096))
    paths["text_edf"].write_text(
        "This is not an EDF file.\nIt is a text file that happens to have an .edf extension.\n"
    )
    _non_eeg_only_edf(paths["non_eeg_only_edf"])
    _too_short_edf(paths["too_short_edf"])
    _nan_inf_fif(paths["nan_inf_fif"])
    _zeros_fif(paths["zeros_fif"])
    _unknown_names_edf(paths["unknown_names_edf"])
    _mixed_rate_edf(paths["mixed_rate_edf"])
    paths["empty_fif"].write_bytes(b"")
    return paths
