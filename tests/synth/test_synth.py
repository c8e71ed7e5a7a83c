"""Tests of the synthetic EEG corpus generator (streamdistill.synth)."""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
from scipy.signal import welch

from streamdistill.shard.channels import LABRAM_CHANNELS, clean_channel_name, harmonise_channels
from streamdistill.synth import (
    ARTIFACT_KINDS,
    FORMAT_EXTENSIONS,
    ArraySource,
    ArtifactEvent,
    MONTAGES,
    SignalSpec,
    SyntheticRecording,
    draw_subject,
    generate_corpus,
    make_recording,
    render_block,
    segment_artifact_labels,
    style_name,
    style_names,
    write_bad_inputs,
    write_edf_streaming,
    write_recording,
)
from streamdistill.synth.signals import tile_length
from streamdistill.synth.writers import PHYSICAL_RANGE_UV

EDF_STEP_UV = (PHYSICAL_RANGE_UV[1] - PHYSICAL_RANGE_UV[0]) / (2 * 32767)

#: The 64 channel labels of PhysioNet eegmmidb (S001R01.edf), as stored in its EDF header.
EEGMMIDB_LABELS = (
    "Fc5. Fc3. Fc1. Fcz. Fc2. Fc4. Fc6. C5.. C3.. C1.. Cz.. C2.. C4.. C6.. Cp5. Cp3. Cp1. Cpz. "
    "Cp2. Cp4. Cp6. Fp1. Fpz. Fp2. Af7. Af3. Afz. Af4. Af8. F7.. F5.. F3.. F1.. Fz.. F2.. F4.. "
    "F6.. F8.. Ft7. Ft8. T7.. T8.. T9.. T10. Tp7. Tp8. P7.. P5.. P3.. P1.. Pz.. P2.. P4.. P6.. "
    "P8.. Po7. Po3. Poz. Po4. Po8. O1.. Oz.. O2.. Iz.."
).split()


def _read(path: Path, **kw) -> mne.io.BaseRaw:
    return mne.io.read_raw(path, preload=True, verbose="error", **kw)


# --- montages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [19, 32, 64])
def test_montage_names_are_labram_channels(n: int) -> None:
    names = MONTAGES[n]
    assert len(names) == len(set(names)) == n
    assert set(names) <= set(LABRAM_CHANNELS)


def test_name_styles_round_trip_through_harmonisation() -> None:
    assert style_names(MONTAGES[64], "dots") == EEGMMIDB_LABELS
    assert style_name("FP1", "plain") == "Fp1" and style_name("AFZ", "plain") == "AFz"
    assert style_name("FP1", "tuh") == "EEG FP1-REF"
    for style in ("plain", "tuh", "dots"):
        names = style_names(MONTAGES[64], style)
        assert [clean_channel_name(n) for n in names] == list(MONTAGES[64])
        extras = [style_name("EOG", style), style_name("ECG", style)]
        report = harmonise_channels(names + extras, ["eeg"] * 66)
        assert set(report.harmonised) == set(MONTAGES[64])
        assert set(extras) <= set(report.dropped)


# --- signals --------------------------------------------------------------------------------------


def _spec(
    n_ch: int = 32, sfreq: float = 250.0, duration_s: float = 40.0, seed: int = 1, **kw
) -> SignalSpec:
    n = int(duration_s * sfreq)
    return SignalSpec(MONTAGES[n_ch], sfreq, n, draw_subject(seed), seed=(seed, 1), **kw)


def test_blockwise_render_equals_whole_render() -> None:
    spec = _spec(extras=("EOG", "ECG"))
    whole = render_block(spec, 0, spec.n_samples)
    assert whole.shape == (34, spec.n_samples) and whole.dtype == np.float32
    tile = tile_length(spec.sfreq)
    bounds = sorted({0, 1, 2, tile - 1, tile, tile + 1, 3 * tile + 17, 5000, 9999, spec.n_samples})
    parts = [render_block(spec, a, b - a) for a, b in zip(bounds[:-1], bounds[1:])]
    assert np.array_equal(np.concatenate(parts, axis=1), whole)
    assert np.array_equal(render_block(spec, 123, 0), np.empty((34, 0), np.float32))
    with pytest.raises(ValueError, match="outside the recording"):
        render_block(spec, spec.n_samples - 5, 10)


def test_blockwise_render_with_artifacts_is_exact() -> None:
    rec = make_recording(
        32, 256.0, 60.0, seed=(4, 2), artifact_rate_per_min=60.0, extras=("EOG", "ECG")
    )
    assert {e.kind for e in rec.events} == set(ARTIFACT_KINDS)
    whole = rec.block(0, rec.n_samples)
    rng = np.random.default_rng(0)
    bounds = np.unique(np.r_[0, rng.integers(1, rec.n_samples, 25), rec.n_samples])
    parts = [rec.block(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]
    assert np.array_equal(np.concatenate(parts, axis=1), whole)


def test_same_seed_same_data_different_seed_differs() -> None:
    a = render_block(_spec(seed=3), 0, 5000)
    b = render_block(_spec(seed=3), 0, 5000)
    c = render_block(_spec(seed=4), 0, 5000)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert draw_subject(3) == draw_subject(3) != draw_subject(4)


def test_realistic_amplitudes_and_posterior_alpha_peak() -> None:
    spec = _spec(n_ch=64, sfreq=250.0, duration_s=120.0, seed=11, line_freq=None)
    x = render_block(spec, 0, spec.n_samples).astype(np.float64)
    rms = x.std(axis=1)
    assert np.all((rms > 5) & (rms < 100)), rms  # tens of µV
    freqs, psd = welch(x, fs=spec.sfreq, nperseg=1024)
    band = lambda lo, hi: psd[:, (freqs >= lo) & (freqs <= hi)].mean(axis=1)  # noqa: E731
    alpha, below, above = band(8, 12), band(5, 7), band(14, 17)
    posterior = [MONTAGES[64].index(c) for c in ("O1", "OZ", "O2", "POZ", "PO7", "PO8")]
    assert np.all(alpha[posterior] > 2 * below[posterior]), (alpha, below)
    assert np.all(alpha[posterior] > 2 * above[posterior])
    frontal = [MONTAGES[64].index(c) for c in ("FP1", "FPZ", "FP2")]
    assert alpha[posterior].mean() > 3 * alpha[frontal].mean()
    # neighbouring channels correlate more than distant ones (spatial mixing)
    corr = np.corrcoef(x)
    idx = MONTAGES[64].index
    assert corr[idx("C3"), idx("C1")] > corr[idx("C3"), idx("O2")] + 0.2


def test_line_noise_at_requested_frequency() -> None:
    spec = _spec(n_ch=19, sfreq=500.0, duration_s=20.0, line_freq=60.0, line_uv=5.0)
    freqs, psd = welch(render_block(spec, 0, spec.n_samples), fs=500.0, nperseg=2000)
    at = lambda f: psd[:, np.argmin(np.abs(freqs - f))].mean()  # noqa: E731
    assert at(60.0) > 20 * at(57.0) and at(60.0) > 20 * at(50.0)


# --- artifacts ------------------------------------------------------------------------------------


def test_artifact_kinds_render_as_described() -> None:
    sfreq = 250.0
    spec = _spec(n_ch=19, sfreq=sfreq, duration_s=30.0, extras=("EOG",))
    events = (
        ArtifactEvent("blink", 1.0, 0.3, ("FP1", "FP2", "F7", "F3", "FZ", "F4", "F8"), 200.0, 1),
        ArtifactEvent("flat_channel", 5.0, 2.0, ("C3",), 0.0, 2),
        ArtifactEvent("saturation", 10.0, 2.0, ("PZ",), 700.0, 3),
        ArtifactEvent("flat_all", 20.0, 4.0, MONTAGES[19], 0.0, 4),
        ArtifactEvent("pop", 15.0, 1.0, ("O1",), -300.0, 5),
    )
    rec = SyntheticRecording(spec, events)
    clean = render_block(spec, 0, spec.n_samples)
    x = rec.block(0, rec.n_samples)
    s = lambda a, b: slice(int(a * sfreq), int(b * sfreq))  # noqa: E731
    fp1, eog = MONTAGES[19].index("FP1"), 19
    assert 150 < (x[fp1, s(1, 1.3)] - clean[fp1, s(1, 1.3)]).max() <= 200.01
    assert (x[eog, s(1, 1.3)] - clean[eog, s(1, 1.3)]).max() > 200
    assert np.all(x[MONTAGES[19].index("C3"), s(5, 7)] == 0)
    pz = x[MONTAGES[19].index("PZ"), s(10, 12)]
    assert np.abs(pz).max() == pytest.approx(700.0)
    assert np.mean(np.abs(pz) == np.float32(700.0)) > 0.5  # mostly pinned at the rail
    assert np.all(x[:, s(20, 24)] == 0)  # every row, EOG included
    assert (x - clean)[MONTAGES[19].index("O1"), int(15 * sfreq)] == pytest.approx(-300.0, rel=1e-3)
    untouched = np.ones(rec.n_samples, bool)
    for ev in events:
        untouched[s(ev.onset_s, ev.onset_s + ev.duration_s)] = False
    assert np.array_equal(x[:, untouched], clean[:, untouched])


def test_placed_artifacts_fit_and_are_seeded() -> None:
    a = make_recording(19, 160.0, 120.0, seed=9, artifact_rate_per_min=20.0)
    b = make_recording(19, 160.0, 120.0, seed=9, artifact_rate_per_min=20.0)
    assert a.events == b.events and len(a.events) > 10
    for ev in a.events:
        onset, n = ev.span(a.sfreq)
        assert 0 <= onset and onset + n <= a.n_samples and n >= 1
        assert set(ev.channels) <= set(MONTAGES[19])
    assert make_recording(19, 160.0, 120.0, seed=9, artifact_rate_per_min=0).events == ()


def test_segment_artifact_labels() -> None:
    table = pd.DataFrame({
        "file": ["a.edf", "a.edf", "a.edf", "b.edf"],
        "subject": ["sub-001"] * 4,
        "kind": ["blink", "muscle", "flat_all", "pop"],
        "onset_s": [1.0, 11.0, 20.0, 0.0],
        "duration_s": [0.3, 2.0, 4.0, 100.0],
        "channels": ["FP1;FP2", "T7", "FP1", "CZ"],
    })
    starts = np.array([0.0, 4.0, 8.0, 12.0, 16.0, 20.0])
    labels = segment_artifact_labels(table, "a.edf", starts, 4.0)
    assert list(labels.columns) == ["start_s", *ARTIFACT_KINDS, "any_artifact"]
    assert labels["blink"].tolist() == [True, False, False, False, False, False]
    assert labels["muscle"].tolist() == [False, False, True, True, False, False]  # 11–13 spans two
    # [16, 20) only touches the flat stretch [20, 24): no overlap
    assert labels["flat_all"].tolist() == [False, False, False, False, False, True]
    assert not labels["pop"].any()  # the pop is in another file
    assert labels["any_artifact"].tolist() == [True, False, True, True, False, True]
    empty = segment_artifact_labels(table, "missing.edf", np.arange(3.0), 1.0)
    assert not empty[list(ARTIFACT_KINDS) + ["any_artifact"]].to_numpy().any()


# --- writers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["edf", "bdf", "fif", "brainvision", "eeglab"])
def test_formats_round_trip_through_mne(tmp_path: Path, fmt: str) -> None:
    rec = make_recording(
        19, 256.0, 12.0, seed=5, artifact_rate_per_min=10.0, name_style="tuh", extras=("EOG", "ECG")
    )
    path = write_recording(rec, tmp_path / f"rec_eeg{FORMAT_EXTENSIONS[fmt]}", fmt)
    raw = _read(path)
    assert raw.ch_names == rec.ch_names
    assert raw.info["nchan"] == 21 and raw.info["sfreq"] == 256.0
    assert raw.n_times == rec.n_samples and raw.n_times / raw.info["sfreq"] == 12.0
    expected = rec.block(0, rec.n_samples)
    tol = {"edf": EDF_STEP_UV, "bdf": 1e-3}.get(fmt, 1e-3)
    np.testing.assert_allclose(raw.get_data() * 1e6, expected, atol=tol, rtol=1e-6)
    if fmt == "fif":
        assert raw.get_channel_types()[-2:] == ["eog", "ecg"]


def test_streamed_edf_equals_in_memory_values(tmp_path: Path) -> None:
    rec = make_recording(64, 160.0, 95.5, seed=6, artifact_rate_per_min=10.0, name_style="dots")
    path = write_recording(rec, tmp_path / "long.edf", stream=True, block_s=7.0)
    raw = _read(path)
    assert raw.ch_names == EEGMMIDB_LABELS and raw.info["sfreq"] == 160.0
    assert raw.n_times == 96 * 160  # last 1-s record padded with zeros
    expected = np.clip(rec.block(0, rec.n_samples), *PHYSICAL_RANGE_UV)
    got = raw.get_data() * 1e6
    assert np.abs(got[:, : rec.n_samples] - expected).max() <= EDF_STEP_UV / 2 + 1e-6
    assert np.all(got[:, rec.n_samples :] == 0)
    # the in-memory (MNE/edfio) writer stores the same digital values
    in_memory = _read(write_recording(rec, tmp_path / "mem.edf", stream=False)).get_data() * 1e6
    assert np.abs(in_memory[:, : rec.n_samples] - expected).max() <= EDF_STEP_UV / 2 + 1e-6
    # BDF: 24-bit samples
    bdf = _read(write_edf_streaming(rec, tmp_path / "long.bdf", fmt="bdf")).get_data() * 1e6
    assert np.abs(bdf[:, : rec.n_samples] - expected).max() < 1e-3


def test_streamed_edf_memory_is_bounded_by_block(tmp_path: Path) -> None:
    rec = make_recording(64, 160.0, 20 * 60.0, seed=8, artifact_rate_per_min=4.0)
    whole_mb = 4 * 64 * rec.n_samples / 1e6  # float32 recording: 49 MB
    rec.block(0, 10)  # warm caches (plans, template positions)
    tracemalloc.start()
    write_edf_streaming(rec, tmp_path / "bounded.edf", block_s=30.0)
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    assert peak_mb < whole_mb / 4, (peak_mb, whole_mb)
    raw = mne.io.read_raw_edf(tmp_path / "bounded.edf", preload=False, verbose="error")
    assert raw.n_times == rec.n_samples
    start = 11 * 60 * 160 + 33
    got = raw.get_data(start=start, stop=start + 500) * 1e6
    expected = np.clip(rec.block(start, 500), *PHYSICAL_RANGE_UV)
    assert np.abs(got - expected).max() <= EDF_STEP_UV / 2 + 1e-6


def test_array_source_and_unknown_format(tmp_path: Path) -> None:
    data = np.zeros((2, 100), np.float32)
    src = ArraySource(data, ["CZ", "PZ"], 100.0)
    assert src.block(10, 5).shape == (2, 5)
    with pytest.raises(ValueError, match="cannot infer"):
        write_recording(src, tmp_path / "x.xyz")
    with pytest.raises(ValueError, match="cannot be streamed"):
        write_recording(src, tmp_path / "x_eeg.fif", stream=True)
    with pytest.raises(ValueError, match="whole number"):
        write_edf_streaming(ArraySource(data, ["CZ", "PZ"], 100.5), tmp_path / "x.edf")


# --- corpus ---------------------------------------------------------------------------------------


def test_generate_corpus(tmp_path: Path) -> None:
    kw = dict(n_subjects=3, recordings_per_subject=2, duration_s=10.0, sfreqs=(160, 250), seed=3)
    table = generate_corpus(tmp_path / "a", **kw)
    again = generate_corpus(tmp_path / "b", **kw)
    pd.testing.assert_frame_equal(table, again)
    assert len(table) == 6 and list(table["subject"].unique()) == ["sub-001", "sub-002", "sub-003"]
    assert set(table["format"]) == {"edf", "fif", "brainvision", "eeglab"}
    assert set(table["montage"]) == {19, 32, 64}
    assert set(table["name_style"]) == {"plain", "tuh", "dots"}
    on_disk = pd.read_csv(tmp_path / "a" / "recordings.csv")
    assert list(on_disk.columns[:10]) == [
        "file", "subject", "run", "format", "montage", "n_channels", "sfreq", "duration_s",
        "name_style", "line_freq",
    ]
    artifacts = pd.read_csv(tmp_path / "a" / "artifacts.csv")
    assert list(artifacts.columns) == [
        "file", "subject", "kind", "onset_s", "duration_s", "channels"
    ]
    assert set(artifacts["file"]) <= set(table["file"])
    for channels in artifacts["channels"]:
        assert set(channels.split(";")) <= set(LABRAM_CHANNELS)
    for row in table.itertuples():
        path = tmp_path / "a" / row.file
        assert path.parent.name == row.subject
        assert path.name.startswith(f"{row.subject}_run-{row.run:02d}_eeg")
        raw_a, raw_b = _read(path), _read(tmp_path / "b" / row.file)
        assert raw_a.info["nchan"] == row.n_channels and raw_a.info["sfreq"] == row.sfreq
        assert raw_a.n_times / raw_a.info["sfreq"] == row.duration_s
        assert np.array_equal(raw_a.get_data(), raw_b.get_data())  # same seed, same samples


def test_long_corpus_recordings_are_streamed_edf(tmp_path: Path) -> None:
    table = generate_corpus(
        tmp_path, n_subjects=1, recordings_per_subject=2, montages=(19,), sfreqs=(160,),
        duration_s=31 * 60.0, formats=("fif", "brainvision"), artifact_rate_per_min=1.0, seed=1,
    )
    assert table["format"].tolist() == ["edf", "edf"]
    for row in table.itertuples():
        assert row.file.endswith(".edf")
        raw = mne.io.read_raw(tmp_path / row.file, preload=False, verbose="error")
        assert raw.n_times == 31 * 60 * 160 and raw.info["nchan"] == row.n_channels


# --- bad inputs -----------------------------------------------------------------------------------


def test_bad_inputs_behave_as_documented(tmp_path: Path) -> None:
    paths = write_bad_inputs(tmp_path)
    assert all(p.exists() for p in paths.values())
    assert all(p.stat().st_size < 1_000_000 for p in paths.values())
    for case, error in [
        ("random_bytes_edf", ValueError), ("text_edf", ValueError), ("empty_fif", Exception)
    ]:
        with pytest.raises(error), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mne.io.read_raw(paths[case], preload=True, verbose="error")
    assert paths["empty_fif"].stat().st_size == 0

    with pytest.warns(RuntimeWarning, match="Number of records"):
        raw = mne.io.read_raw(paths["truncated_edf"], preload=True, verbose="warning")
    assert raw.n_times == 4 * 256 and raw.info["nchan"] == 19

    raw = _read(paths["non_eeg_only_edf"])
    assert harmonise_channels(raw.ch_names, raw.get_channel_types()).kept == ()
    raw = _read(paths["unknown_names_edf"])
    assert raw.ch_names[0] == "XYZ1"
    assert harmonise_channels(raw.ch_names, raw.get_channel_types()).kept == ()

    raw = _read(paths["too_short_edf"])
    assert raw.info["nchan"] == 64 and raw.n_times / raw.info["sfreq"] == 2.0

    data = _read(paths["nan_inf_fif"]).get_data()
    assert np.isnan(data[:, 5 * 250 : 7 * 250]).all()
    assert np.isposinf(data[0, 15 * 250 : 16 * 250]).all()  # FP1
    assert np.isneginf(data[18, 15 * 250 : 16 * 250]).all()  # O2
    assert np.isfinite(data[:, : 5 * 250]).all()

    data = _read(paths["zeros_fif"]).get_data()
    flat = np.all(data == 0, axis=0)
    assert flat[10 * 250 : 20 * 250].all()
    assert not flat[: 10 * 250].any() and not flat[20 * 250 :].any()

    raw = _read(paths["mixed_rate_edf"])
    assert raw.info["sfreq"] == 256.0 and raw.info["nchan"] == 20 and raw.n_times == 10 * 256
    assert raw.ch_names[-1] == "RESP"
