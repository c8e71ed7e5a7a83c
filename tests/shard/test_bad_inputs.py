"""Every bad input ends ok / skipped / failed with a clear reason; the run goes on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from streamdistill.cli import main
from streamdistill.store import open_store


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory, small_corpus) -> Path:
    from streamdistill.synth import write_bad_inputs

    root = tmp_path_factory.mktemp("bad")
    write_bad_inputs(root / "bad")
    good = sorted(small_corpus.rglob("*.edf"))[0]
    shutil.copy(good, root / "good.edf")
    (root / "notes.txt").write_text("not an EEG file and not an EEG extension")
    return root


@pytest.fixture(scope="module")
def bad_store(bad_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("badstore") / "store"
    code = main(["shard", str(bad_dir), "--out", str(out), "--workers", "2", "--no-progress"])
    assert code == 0  # something was kept
    table = open_store(out).recordings()
    table.index = table["path"].map(lambda p: Path(p).name)
    return table


EXPECTED = {
    # file: (status, words the reason must contain)
    "random_bytes.edf": ("failed", "cannot read"),
    "text.edf": ("failed", "cannot read"),
    "empty_eeg.fif": ("failed", "empty file"),
    "non_eeg_only.edf": ("skipped", "no EEG channel"),
    "unknown_names.edf": ("skipped", "unknown channel name"),
    "too_short.edf": ("skipped", "shorter than one window"),
    "mixed_rates.edf": ("skipped", "mixed sampling rates"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_status_and_reason(bad_store, name):
    status, words = EXPECTED[name]
    row = bad_store.loc[name]
    assert row["status"] == status, row["reason"]
    assert words in row["reason"]


def test_every_input_file_is_recorded(bad_store, bad_dir):
    eeg_files = {p.name for p in bad_dir.rglob("*") if p.suffix in (".edf", ".fif")}
    assert eeg_files <= set(bad_store.index)
    assert "notes.txt" not in bad_store.index
    assert bad_store.loc["good.edf", "status"] == "ok"


def test_nan_and_flat_windows_dropped_and_counted(bad_store):
    nan = bad_store.loc["nan_inf_eeg.fif"]
    # 30 s of 19 channels = two 13-s windows, NaN in the first, ±inf in the second
    assert nan["n_windows"] == 2 and nan["n_dropped_nonfinite"] == 2
    assert nan["status"] == "skipped" and "non-finite" in nan["reason"]
    assert nan["n_segments"] + nan["n_dropped_nonfinite"] + nan["n_dropped_flat"] == \
        nan["n_windows"]
    zeros = bad_store.loc["zeros_eeg.fif"]
    assert zeros["status"] == "ok"


def test_flat_stretch_windows_dropped(tmp_path):
    """64 channels, all exactly 0 in [8, 20) s: the 4-s windows 8-12, 12-16, 16-20 are dropped."""
    import mne
    import numpy as np

    from streamdistill.synth import MONTAGES

    names = list(MONTAGES[64])
    x = np.random.default_rng(0).standard_normal((64, 200 * 40)) * 20e-6
    x[:, 200 * 8 : 200 * 20] = 0.0
    raw = mne.io.RawArray(x, mne.create_info(names, 200.0, "eeg"), verbose="error")
    raw.save(tmp_path / "flat_raw.fif", verbose="error")
    out = tmp_path / "store"
    assert main(["shard", str(tmp_path / "flat_raw.fif"), "--out", str(out),
                 "--no-progress"]) == 0
    row = open_store(out).recordings().iloc[0]
    assert (row["n_windows"], row["n_dropped_flat"], row["n_segments"]) == (10, 3, 7)
    starts = open_store(out).segments()["start_s"].tolist()
    assert starts == [0.0, 4.0, 20.0, 24.0, 28.0, 32.0, 36.0]


def test_truncated_file_keeps_complete_records_and_says_so(bad_store):
    row = bad_store.loc["truncated.edf"]
    assert row["status"] in ("ok", "skipped")
    assert "file truncated" in row["reason"]
    assert "does not match the file size" in row["notes"]


def test_summary_line_and_problem_list(bad_dir, tmp_path, capsys):
    out = tmp_path / "store"
    assert main(["shard", str(bad_dir), "--out", str(out), "--workers", "1",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "1 ok" not in captured.out or "skipped" in captured.out
    assert "failed" in captured.out and "skipped" in captured.out
    assert "random_bytes.edf" in captured.err


def test_nothing_kept_exits_nonzero(bad_dir, tmp_path, capsys):
    only_bad = tmp_path / "only_bad"
    shutil.copytree(bad_dir / "bad", only_bad)
    for name in ("nan_inf_eeg.fif", "zeros_eeg.fif", "truncated.edf"):
        (only_bad / name).unlink()
    code = main(["shard", str(only_bad), "--out", str(tmp_path / "s"), "--no-progress"])
    assert code == 1
    assert "nothing was kept" in capsys.readouterr().err


def test_unwritable_output_rejected_before_work(bad_dir, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code = main(["shard", str(bad_dir), "--out", str(blocker / "store"), "--no-progress"])
    assert code == 2
    assert "--out" in capsys.readouterr().err
    code = main(["shard", str(bad_dir), "--out", str(tmp_path / "ok"), "--wds",
                 str(blocker / "wds"), "--no-progress"])
    assert code == 2
    assert "--wds" in capsys.readouterr().err


def test_missing_input_rejected(tmp_path, capsys):
    code = main(["shard", str(tmp_path / "nope*.edf"), "--out", str(tmp_path / "s")])
    assert code == 2
    assert "INPUT" in capsys.readouterr().err


def test_recordings_table_schema(bad_store):
    for column in ("path", "size", "mtime_ns", "sha256", "dataset", "subject", "session",
                   "status", "reason", "group", "n_segments", "first_segment_id",
                   "channels", "channels_renamed", "channels_dropped"):
        assert column in bad_store.columns
    assert isinstance(bad_store, pd.DataFrame)
