"""End-to-end shard of the real PhysioNet EEG Motor Movement/Imagery recordings (skipped when
``../shared/data`` is absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from streamdistill.shard.run import run_shard
from streamdistill.config import ShardConfig
from streamdistill.store import open_store

EEGMMIDB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "eegmmidb"

pytestmark = pytest.mark.skipif(not (EEGMMIDB / "MANIFEST.tsv").exists(),
                                reason="../shared/data/eegmmidb is absent")


def test_real_recordings_segment_counts(tmp_path):
    with open(EEGMMIDB / "MANIFEST.tsv") as fh:
        manifest = {row["file"]: row for row in csv.DictReader(fh, delimiter="\t")}
    out = tmp_path / "store"
    summary = run_shard([str(EEGMMIDB)], out, ShardConfig(workers=2), progress=False)
    assert summary.status_counts == {"ok": len(manifest)}
    store = open_store(out)
    assert len(store.groups) == 1
    (group,) = store.groups.values()
    assert group.n_channels == 64 and group.n_times == 800 and group.window_s == 4.0
    rec = store.recordings()
    for _, r in rec.iterrows():
        rel = Path(r["path"]).relative_to(EEGMMIDB.resolve()).as_posix()  # stored resolved
        m = manifest[rel]
        n_in = round(float(m["duration_s"]) * float(m["sfreq"]))
        n_out = -(-n_in * 200 // 160)
        assert r["n_segments"] == (n_out - 800) // 800 + 1, rel
        assert r["subject"] == m["subject"]
        assert r["sha256"] == m["sha256"]
        assert r["dataset"] == "eegmmidb"
        assert "EEG" not in r["channels"] and r["channels"].count(";") == 63
    assert store.n_segments == rec["n_segments"].sum()
    hours = sum(float(m["duration_s"]) for m in manifest.values()) / 3600
    assert abs(summary.hours_by_group[group.name] - hours) < 0.05 * hours


def test_real_recording_blockwise_equals_whole():
    import mne
    import numpy as np

    from streamdistill.shard.channels import harmonise_channels
    from streamdistill.shard.preprocess import iter_blocks, make_plan, process_whole

    raw = mne.io.read_raw_edf(EEGMMIDB / "S001" / "S001R03.edf", preload=True, verbose="error")
    picks = list(harmonise_channels(raw.ch_names, raw.get_channel_types()).kept)
    x = raw.get_data(picks=picks, units="uV")
    plan = make_plan(raw.info["sfreq"], ShardConfig().preprocess)
    whole = process_whole(x, plan)
    blocks = np.concatenate(
        [b.data for b in iter_blocks(lambda a, b: x[:, a:b], x.shape[1], plan, 30.0)], axis=1)
    assert blocks.shape == whole.shape
    assert np.sqrt(np.mean((blocks - whole) ** 2)) < 1e-3
