"""Write a recording to real EEG file formats: through MNE, or streamed block by block (EDF/BDF).

A recording to write is any :class:`BlockSource` — on-disk channel names and types, ``sfreq``,
``n_samples`` and a ``block(start, n)`` method returning ``(C, n)`` float32 µV — so a writer never
needs more than one block of it in memory unless the format does.

============  ========================================  ==========================================
format        extension                                 writer
============  ========================================  ==========================================
edf           ``.edf`` (16 bit)                         ``mne.export.export_raw`` (edfio) or
                                                        :func:`write_edf_streaming`
bdf           ``.bdf`` (24 bit, BioSemi)                 same
fif           ``.fif`` (name should end ``_eeg.fif``)   ``Raw.save`` (float32, V)
brainvision   ``.vhdr`` + ``.vmrk`` + ``.eeg``          ``mne.export.export_raw`` (pybv, float32)
eeglab        ``.set``                                  ``mne.export.export_raw`` (eeglabio)
============  ========================================  ==========================================

MNE's writers hold the whole recording in memory (float64: 8 bytes × C × samples, ≈ 0.5 GB for an
hour of 64 channels at 250 Hz). :func:`write_edf_streaming` holds one block: it writes the EDF (or
BDF) header and then the data records of each block as they are rendered. EDF and BDF store integers
scaled from a fixed physical range, :data:`PHYSICAL_RANGE_UV` (± 3200 µV, the clipping level of
e.g. Nihon Kohden amplifiers) mapped onto a symmetric digital range, so 0 µV is digital 0; values
beyond the range are clipped.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

#: File extension written for each format.
FORMAT_EXTENSIONS: dict[str, str] = {
    "edf": ".edf", "bdf": ".bdf", "fif": ".fif", "brainvision": ".vhdr", "eeglab": ".set",
}

#: Physical range (µV) of every EDF/BDF signal.
PHYSICAL_RANGE_UV: tuple[float, float] = (-3200.0, 3200.0)

#: Recordings longer than this (s) are written to EDF/BDF by the streaming writer by default.
STREAM_THRESHOLD_S: float = 1800.0

#: Measurement date written to every file (fixed, so reruns write the same headers).
MEAS_DATE: dt.datetime = dt.datetime(2000, 1, 1, 0, 0, 0, tzinfo=dt.timezone.utc)

_DIGITAL_MAX = {"edf": 32767, "bdf": 8388607}


class BlockSource(Protocol):
    """A recording that can be rendered in blocks.

    Attributes
    ----------
    ch_names
        On-disk channel names, ``(C,)``.
    ch_types
        MNE channel types, ``(C,)`` (``'eeg'``, ``'eog'``, ``'ecg'``, ...).
    sfreq
        Sampling frequency (Hz).
    n_samples
        Length in samples.
    """

    ch_names: Sequence[str]
    ch_types: Sequence[str]
    sfreq: float
    n_samples: int

    def block(self, start: int, n: int) -> np.ndarray:
        """Samples ``[start, start + n)``, ``(C, n)`` float32 µV."""
        ...


@dataclass(frozen=True)
class ArraySource:
    """A :class:`BlockSource` over an in-memory ``(C, N)`` array in µV (small recordings, tests)."""

    data: np.ndarray
    ch_names: Sequence[str]
    sfreq: float
    ch_types: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or self.data.shape[0] != len(self.ch_names):
            raise ValueError(
                f"data {self.data.shape} does not match {len(self.ch_names)} channel names"
            )
        if self.ch_types is None:
            object.__setattr__(self, "ch_types", ("eeg",) * len(self.ch_names))

    @property
    def n_samples(self) -> int:
        """Length in samples."""
        return int(self.data.shape[1])

    def block(self, start: int, n: int) -> np.ndarray:
        """Samples ``[start, start + n)``, ``(C, n)`` float32 µV."""
        return np.asarray(self.data[:, start : start + n], dtype=np.float32)


def format_for_path(path: str | Path) -> str:
    """Infer the format name (a key of :data:`FORMAT_EXTENSIONS`) from a file name."""
    suffix = Path(path).suffix.lower()
    for fmt, ext in FORMAT_EXTENSIONS.items():
        if suffix == ext:
            return fmt
    known = sorted(FORMAT_EXTENSIONS.values())
    raise ValueError(f"cannot infer the format of '{path}'; use one of {known}")


def to_raw(
    source: BlockSource,
    *,
    line_freq: float | None = None,
    clip_uv: tuple[float, float] | None = None,
    verbose: bool | str | None = "error",
):
    """Render a whole recording into an :class:`mne.io.RawArray` (data in V, float64, in memory).

    Parameters
    ----------
    source
        The recording.
    line_freq
        Stored as ``info['line_freq']`` (Hz).
    clip_uv
        Clip the data to this (min, max) range in µV first (e.g. a file format's physical range).
    verbose
        MNE verbosity.

    Returns
    -------
    mne.io.RawArray
        ``(C, n_samples)``, ``meas_date`` = :data:`MEAS_DATE`.
    """
    import mne

    names, types = list(source.ch_names), list(source.ch_types)
    info = mne.create_info(names, source.sfreq, types, verbose=verbose)
    info["line_freq"] = line_freq
    data = source.block(0, source.n_samples).astype(np.float64)
    if clip_uv is not None:
        np.clip(data, clip_uv[0], clip_uv[1], out=data)
    data *= 1e-6
    raw = mne.io.RawArray(data, info, verbose=verbose)
    raw.set_meas_date(MEAS_DATE)
    return raw


def write_recording(
    source: BlockSource,
    path: str | Path,
    fmt: str | None = None,
    *,
    line_freq: float | None = None,
    stream: bool | None = None,
    block_s: float = 60.0,
    overwrite: bool = True,
) -> Path:
    """Write one recording to ``path`` in ``fmt``.

    Parameters
    ----------
    source
        The recording.
    path
        Output file; for BrainVision the ``.vhdr`` (``.vmrk`` and ``.eeg`` are written beside it).
    fmt
        One of :data:`FORMAT_EXTENSIONS`; inferred from the extension when ``None``.
    line_freq
        Mains frequency recorded in the header where the format has a place for it.
    stream
        For EDF/BDF: write block by block with :func:`write_edf_streaming`. ``None`` streams when
        the recording is longer than :data:`STREAM_THRESHOLD_S`. Other formats cannot stream.
    block_s
        Block length (s) of the streaming writer.
    overwrite
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    fmt = format_for_path(path) if fmt is None else fmt
    if fmt not in FORMAT_EXTENSIONS:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(FORMAT_EXTENSIONS)}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("edf", "bdf"):
        if stream is None:
            stream = source.n_samples / source.sfreq > STREAM_THRESHOLD_S
        if stream:
            return write_edf_streaming(source, path, fmt=fmt, block_s=block_s)
    elif stream:
        raise ValueError(f"format {fmt!r} cannot be streamed; only 'edf' and 'bdf' can")

    import mne

    clip = PHYSICAL_RANGE_UV if fmt in ("edf", "bdf") else None
    raw = to_raw(source, line_freq=line_freq, clip_uv=clip)
    with warnings.catch_warnings():
        # pybv converts MNE's float64 to float32 and says so; that is the intended storage.
        warnings.filterwarnings("ignore", message="Encountered data in")
        if fmt == "fif":
            raw.save(path, overwrite=True, verbose="error")
        elif fmt in ("edf", "bdf"):
            mne.export.export_raw(
                path, raw, fmt=fmt, physical_range=PHYSICAL_RANGE_UV, overwrite=True,
                verbose="error",
            )
        else:
            mne.export.export_raw(path, raw, fmt=fmt, overwrite=True, verbose="error")
    return path


def _field(value: object, width: int) -> bytes:
    """An EDF header field: ASCII, left-aligned, space-padded to ``width`` bytes."""
    text = str(value)
    if len(text) > width:
        raise ValueError(f"EDF header field {text!r} longer than {width} characters")
    return text.ljust(width).encode("ascii")


def _number(value: float, width: int = 8) -> bytes:
    """A numeric EDF header field (shortest text that fits ``width`` characters)."""
    text = f"{value:g}" if float(value) != int(value) else str(int(value))
    return _field(text[:width], width)


def edf_header(
    ch_names: Sequence[str],
    samples_per_record: int,
    n_records: int,
    record_s: float,
    *,
    fmt: str = "edf",
    physical_range: tuple[float, float] = PHYSICAL_RANGE_UV,
    start: dt.datetime = MEAS_DATE,
    patient: str = "X X X X",
) -> bytes:
    """The header of an EDF (Kemp et al. 1992) or BDF (BioSemi 24-bit) file; all signals alike.

    Returns ``256 * (1 + C)`` bytes: physical dimension ``uV``, the given physical range, digital
    range ``±(2^15 - 1)`` (EDF) or ``±(2^23 - 1)`` (BDF).
    """
    n_ch = len(ch_names)
    dmax = _DIGITAL_MAX[fmt]
    version = b"\xffBIOSEMI" if fmt == "bdf" else _field("0", 8)
    head = b"".join([
        version,
        _field(patient, 80),
        _field(f"Startdate {start.strftime('%d-%b-%Y').upper()} X X X", 80),
        _field(start.strftime("%d.%m.%y"), 8),
        _field(start.strftime("%H.%M.%S"), 8),
        _field(256 * (n_ch + 1), 8),
        _field("24BIT" if fmt == "bdf" else "", 44),
        _field(n_records, 8),
        _number(record_s),
        _field(n_ch, 4),
    ])
    per_signal = [
        [_field(name, 16) for name in ch_names],
        [_field("AgAgCl electrode", 80)] * n_ch,
        [_field("uV", 8)] * n_ch,
        [_number(physical_range[0])] * n_ch,
        [_number(physical_range[1])] * n_ch,
        [_number(-dmax)] * n_ch,
        [_number(dmax)] * n_ch,
        [_field("", 80)] * n_ch,
        [_field(samples_per_record, 8)] * n_ch,
        [_field("", 32)] * n_ch,
    ]
    out = head + b"".join(b"".join(column) for column in per_signal)
    assert len(out) == 256 * (n_ch + 1)
    return out


def write_edf_streaming(
    source: BlockSource,
    path: str | Path,
    *,
    fmt: str = "edf",
    physical_range: tuple[float, float] = PHYSICAL_RANGE_UV,
    record_s: float = 1.0,
    block_s: float = 60.0,
) -> Path:
    """Write an EDF/BDF file block by block; memory is bounded by ``block_s``, not the recording.

    Parameters
    ----------
    source
        The recording; ``source.sfreq * record_s`` must be a whole number of samples.
    path
        Output ``.edf`` / ``.bdf`` file.
    fmt
        ``'edf'`` (int16 samples) or ``'bdf'`` (int24 samples).
    physical_range
        (min, max) µV mapped onto the symmetric digital range; values beyond it are clipped.
    record_s
        Data-record duration (s).
    block_s
        Seconds rendered and written at a time (rounded to whole records).

    Returns
    -------
    pathlib.Path
        The file. If the recording is not a whole number of records long, the last record is padded
        with zeros (the file is up to one record longer than the recording).
    """
    if fmt not in _DIGITAL_MAX:
        raise ValueError(f"streaming writes 'edf' or 'bdf', not {fmt!r}")
    spr = source.sfreq * record_s
    if abs(spr - round(spr)) > 1e-9 or round(spr) < 1:
        raise ValueError(
            f"sfreq {source.sfreq} Hz × record {record_s} s is not a whole number of samples; "
            "choose record_s so that it is"
        )
    spr = int(round(spr))
    n_ch, n_total = len(source.ch_names), source.n_samples
    n_records = -(-n_total // spr)
    records_per_block = max(1, int(block_s / record_s))
    dmax = _DIGITAL_MAX[fmt]
    pmin, pmax = physical_range
    scale = 2.0 * dmax / (pmax - pmin)
    centre = (pmax + pmin) / 2.0
    path = Path(path)
    with open(path, "wb") as fh:
        header = edf_header(
            source.ch_names, spr, n_records, record_s, fmt=fmt, physical_range=physical_range
        )
        fh.write(header)
        for first in range(0, n_records, records_per_block):
            n_rec = min(records_per_block, n_records - first)
            start = first * spr
            n_real = min(n_rec * spr, n_total - start)
            block = np.zeros((n_ch, n_rec * spr), dtype=np.float64)
            block[:, :n_real] = source.block(start, n_real)
            digital = np.rint((np.clip(block, pmin, pmax) - centre) * scale)
            # (C, n_rec, spr) → (n_rec, C, spr): each data record holds every signal in turn
            records = digital.reshape(n_ch, n_rec, spr).transpose(1, 0, 2)
            if fmt == "edf":
                fh.write(np.ascontiguousarray(records, dtype="<i2").tobytes())
            else:
                as_bytes = np.ascontiguousarray(records, dtype="<i4").view(np.uint8)
                fh.write(np.ascontiguousarray(as_bytes.reshape(-1, 4)[:, :3]).tobytes())
    return path
