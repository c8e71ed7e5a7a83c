"""Input discovery: folders, globs, BIDS roots, path patterns, sidecars."""

from __future__ import annotations

import shutil
from pathlib import Path

import mne
import numpy as np
import pytest

from streamdistill.shard.discover import InputError, discover


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_folder_glob_and_sidecars(tmp_path):
    _touch(tmp_path / "ds" / "S001" / "S001R01.edf")
    _touch(tmp_path / "ds" / "S002" / "rec.vhdr")
    _touch(tmp_path / "ds" / "S002" / "rec.eeg")  # BrainVision data: read through the .vhdr
    _touch(tmp_path / "ds" / "S002" / "rec.vmrk")
    _touch(tmp_path / "ds" / "S003" / "x.set")
    _touch(tmp_path / "ds" / "S003" / "x.fdt")
    _touch(tmp_path / "ds" / "notes.txt")
    _touch(tmp_path / "ds" / ".hidden" / "y.edf")
    tasks = discover([str(tmp_path / "ds")])
    names = [Path(t.path).name for t in tasks]
    assert names == ["S001R01.edf", "rec.vhdr", "x.set"]
    assert [t.subject for t in tasks] == ["S001", "S002", "S003"]
    assert {t.dataset for t in tasks} == {"ds"}
    globbed = discover([str(tmp_path / "ds" / "S00*" / "*.edf")], dataset="mine")
    assert [Path(t.path).name for t in globbed] == ["S001R01.edf"]
    assert globbed[0].dataset == "mine"
    # the same file named twice is one task
    assert len(discover([str(tmp_path / "ds"), str(tmp_path / "ds" / "S001")])) == 3


def test_path_pattern_and_bids_like_names(tmp_path):
    _touch(tmp_path / "site-A" / "patient7" / "night2.edf")
    _touch(tmp_path / "other" / "sub-04" / "ses-02" / "eeg" / "sub-04_ses-02_eeg.edf")
    tasks = discover(
        [str(tmp_path / "site-A")],
        path_pattern=r"patient(?P<subject>\d+)/night(?P<session>\d+)",
    )
    assert (tasks[0].subject, tasks[0].session, tasks[0].dataset) == ("7", "2", "site-A")
    (t,) = discover([str(tmp_path / "other")])
    assert (t.subject, t.session) == ("04", "02")


def test_missing_input_is_an_error(tmp_path):
    with pytest.raises(InputError, match="INPUT"):
        discover([str(tmp_path / "nothing-*.edf")])


def test_bids_root_uses_entities_and_channel_types(tmp_path):
    mne_bids = pytest.importorskip("mne_bids")
    from streamdistill.config import ShardConfig
    from streamdistill.shard.run import run_shard
    from streamdistill.store import open_store
    from streamdistill.synth import MONTAGES

    names = list(MONTAGES[19]) + ["VEOG"]
    rng = np.random.default_rng(0)
    root = tmp_path / "bids"
    for sub, ses in (("01", "a"), ("02", "b")):
        info = mne.create_info(names, 250.0, ["eeg"] * 19 + ["eog"])
        raw = mne.io.RawArray(rng.standard_normal((20, 250 * 30)) * 1e-5, info, verbose="error")
        fif = tmp_path / f"tmp_{sub}_raw.fif"
        raw.save(fif, verbose="error", overwrite=True)
        raw = mne.io.read_raw_fif(fif, verbose="error")
        bp = mne_bids.BIDSPath(subject=sub, session=ses, task="rest", root=root, datatype="eeg")
        mne_bids.write_raw_bids(raw, bp, format="BrainVision", allow_preload=True,
                                verbose="error", overwrite=True)
    (root / "dataset_description.json").write_text('{"Name": "toy", "BIDSVersion": "1.8.0"}')
    tasks = discover([str(root)])
    assert [(t.subject, t.session, t.dataset) for t in tasks] == [("01", "a", "toy"),
                                                                  ("02", "b", "toy")]
    assert all(t.bids_root for t in tasks)
    out = tmp_path / "store"
    summary = run_shard([str(root)], out, ShardConfig(workers=1), progress=False)
    assert summary.status_counts == {"ok": 2}
    rec = open_store(out).recordings()
    assert list(rec["subject"]) == ["01", "02"] and list(rec["session"]) == ["a", "b"]
    assert all("VEOG" in d for d in rec["channels_dropped"])
    assert set(rec["n_channels"]) == {19}
    shutil.rmtree(root)
