"""LaBraM's data preparation, per recording, as the baseline that ``streamdistill shard`` is timed
and compared against.

It follows the recipe of LaBraM's ``dataset_maker`` (Jiang et al., ICLR 2024; repository
935963004/LaBraM, ``make_h5dataset_for_pretrain.py`` and ``shock/utils/eegUtils.py``; see
REFERENCE.md, "LaBraM", "Data prep"):

1. ``mne.io.read_raw_edf(path, preload=True)`` (``mne.io.read_raw`` for other formats) — the whole
   recording in memory, float64;
2. drop the channels LaBraM drops (``M1, M2, VEO, HEO, ECG`` where present);
3. ``raw.filter(0.1, 75)`` (MNE's default zero-phase FIR, firwin);
4. ``raw.notch_filter(50)``;
5. ``raw.resample(200)`` (MNE's default FFT method);
6. ``raw.get_data(units='uV')`` float64, written with h5py as dataset ``<stem>/eeg`` chunked
   ``(C, 200)`` (one second), with attributes ``lFreq``, ``hFreq``, ``rsFreq``, ``chOrder``.

Deviations, all to make it a fair single-core baseline: one HDF5 file per recording (LaBraM appends
every recording of a dataset to one file as a group; the bytes are the same), ``n_jobs=1`` for the
resampler (LaBraM passes ``n_jobs=5``), MNE's logging silenced, and the last 10 s are *not* cut
(LaBraM's CNT script drops them; we keep the whole recording so that the hours compare with
``shard``'s).

Usage::

    python -m tools.bench.labram_reference INPUT_DIR OUT_DIR

Serial, one recording at a time. Prints one line per recording and a total.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

#: Channels LaBraM's preparation drops when present.
LABRAM_DROP = ("M1", "M2", "VEO", "HEO", "ECG")

#: File name endings read as recordings.
EEG_SUFFIXES = (".edf", ".bdf", ".fif", ".vhdr", ".set", ".gdf", ".cnt")

L_FREQ, H_FREQ, NOTCH_FREQ, SFREQ = 0.1, 75.0, 50.0, 200


def find_recordings(input_dir: str | Path) -> list[Path]:
    """Every EEG file under ``input_dir`` (recursive, sorted; hard links are distinct files)."""
    root = Path(input_dir)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(EEG_SUFFIXES))


def read_raw(path: Path):
    """Read a whole recording into memory as LaBraM does."""
    import mne

    if path.suffix.lower() == ".edf":
        return mne.io.read_raw_edf(path, preload=True, verbose="error")
    return mne.io.read_raw(path, preload=True, verbose="error")


def prepare(path: str | Path, *, l_freq: float = L_FREQ, h_freq: float = H_FREQ,
            notch: float = NOTCH_FREQ, sfreq: float = SFREQ):
    """LaBraM's preparation of one recording.

    Returns
    -------
    data : numpy.ndarray
        ``(C, n)`` float64 µV at ``sfreq``.
    ch_names : list[str]
        Upper-cased channel names, in file order (LaBraM does not reorder EDF channels unless given
        a standard list).
    """
    raw = read_raw(Path(path))
    drop = [ch for ch in LABRAM_DROP if ch in raw.ch_names]
    if drop:
        raw.drop_channels(drop)
    raw.filter(l_freq=l_freq, h_freq=h_freq, verbose="error")
    raw.notch_filter(notch, verbose="error")
    raw.resample(sfreq, n_jobs=1, verbose="error")
    data = raw.get_data(units="uV")
    return data, [c.upper() for c in raw.ch_names]


def write_h5(out_file: Path, name: str, data, ch_names: list[str], *, l_freq: float = L_FREQ,
             h_freq: float = H_FREQ, sfreq: float = SFREQ) -> Path:
    """Write one recording as LaBraM's ``h5Dataset`` does: group ``name``, dataset ``eeg`` chunked
    one second per channel block ``(C, sfreq)``, float64, uncompressed, with its attributes."""
    import h5py

    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as f:
        grp = f.create_group(name)
        chunks = (data.shape[0], min(int(sfreq), data.shape[1]))
        dset = grp.create_dataset("eeg", data=data, chunks=chunks)
        dset.attrs["lFreq"] = l_freq
        dset.attrs["hFreq"] = h_freq
        dset.attrs["rsFreq"] = sfreq
        dset.attrs["chOrder"] = ch_names
    tmp.replace(out_file)
    return out_file


def output_name(path: Path, root: Path) -> str:
    """Flat, unique HDF5 file stem for ``path`` under ``root``
    (``S001/S001R01.edf`` → ``S001__S001R01``)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.name)
    parts = list(rel.parts[:-1]) + [rel.name.split(".")[0]]
    return "__".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench.labram_reference",
        description="LaBraM's per-recording preparation (MNE preload, filter 0.1-75 Hz, notch 50 Hz, "
        "FFT resample to 200 Hz, float64 µV) into one HDF5 file per recording; serial.",
    )
    parser.add_argument("input_dir", help="folder of EEG files (recursive) or one file")
    parser.add_argument("out_dir", help="output folder for the .h5 files")
    parser.add_argument("--quiet", action="store_true", help="print only the total")
    args = parser.parse_args(argv)

    root = Path(args.input_dir)
    files = find_recordings(root)
    if not files:
        print(f"labram_reference: no EEG files under {root}", file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir)
    t_all = time.perf_counter()
    seconds = 0.0
    for path in files:
        t0 = time.perf_counter()
        data, ch_names = prepare(path)
        name = output_name(path, root if root.is_dir() else path.parent)
        write_h5(out_dir / f"{name}.h5", name, data, ch_names)
        seconds += data.shape[1] / SFREQ
        if not args.quiet:
            print(f"{name}: {data.shape[0]} ch, {data.shape[1] / SFREQ:.1f} s, "
                  f"{time.perf_counter() - t0:.2f} s", flush=True)
        del data
    print(f"labram_reference: {len(files)} files, {seconds / 3600:.3f} h in "
          f"{time.perf_counter() - t_all:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
