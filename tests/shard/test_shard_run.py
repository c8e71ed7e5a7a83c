"""End-to-end ``shard`` on generated files: round trip, parallel == serial, resume, append, WDS."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mne
import numpy as np
import pytest

from streamdistill.cli import main
from streamdistill.config import ShardConfig
from streamdistill.shard.channels import harmonise_channels
from streamdistill.shard.preprocess import make_plan, process_whole
from streamdistill.shard.run import run_shard
from streamdistill.store import open_store


def _cfg(**kw) -> ShardConfig:
    cfg = ShardConfig(workers=1)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="module")
def serial_store(small_corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "store"
    summary = run_shard([str(small_corpus)], out, _cfg(), progress=False)
    assert summary.status_counts == {"ok": 4}
    return out


def test_store_layout_and_tables(serial_store, small_corpus):
    store = open_store(serial_store)
    seg = store.segments()
    rec = store.recordings()
    assert list(seg["segment_id"]) == list(range(store.n_segments))
    assert set(rec["status"]) == {"ok"} and len(rec) == 4
    assert rec["n_segments"].sum() == store.n_segments == len(seg)
    assert {g.n_channels for g in store.groups.values()} == {19, 64}
    for g in store.groups.values():
        assert g.n_times == {19: 2600, 64: 800}[g.n_channels]
        arr = store.array(g.name)
        assert arr.dtype == np.float16 and arr.shape == (g.n_segments, g.n_channels, g.n_times)
        assert (seg["group"] == g.name).sum() == g.n_segments
    # every file's channel report is recorded
    assert all(json.loads(r) is not None for r in rec["channels_dropped"])
    assert (serial_store / "config.resolved.yaml").exists() is False  # the API does not write it
    for name in ("store.json", "segments.parquet", "recordings.parquet", "segments.zarr"):
        assert (serial_store / name).exists()


def test_round_trip_equals_direct_processing(serial_store):
    """Store rows == MNE read of the whole file → whole-recording processing → windows."""
    store = open_store(serial_store)
    rec = store.recordings()
    seg = store.segments()
    for _, r in rec.iterrows():
        raw = mne.io.read_raw(r["path"], preload=True, verbose="error")
        report = harmonise_channels(raw.ch_names, raw.get_channel_types())
        x = raw.get_data(picks=list(report.kept), units="uV")
        y = process_whole(x, make_plan(raw.info["sfreq"], ShardConfig().preprocess))
        group = store.groups[r["group"]]
        assert tuple(report.harmonised) == group.channels
        mine = seg[seg["recording_id"] == r["recording_id"]]
        for sid, start_s in zip(mine["segment_id"][:5], mine["start_s"][:5]):
            a = int(round(start_s * 200))
            expected = y[:, a : a + group.n_times].astype(np.float16).astype(np.float32)
            got = store.get(int(sid))
            # float16 storage: equal up to one float16 step of the value
            np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)


def test_iter_chunks_and_locate(serial_store):
    store = open_store(serial_store)
    seen = []
    for chunk in store.iter_chunks():
        assert chunk.x.shape[0] == len(chunk.segment_ids) == chunk.rows[1] - chunk.rows[0]
        groups, rows = store.locate(chunk.segment_ids)
        assert set(groups) == {chunk.group}
        assert list(rows) == list(range(*chunk.rows))
        np.testing.assert_array_equal(chunk.x[0], store.get(int(chunk.segment_ids[0])))
        seen.extend(chunk.segment_ids.tolist())
    assert sorted(seen) == list(range(store.n_segments))
    with pytest.raises(IndexError):
        store.locate([store.n_segments])


def test_parallel_equals_serial(serial_store, small_corpus, tmp_path, same_store):
    out = tmp_path / "parallel"
    run_shard([str(small_corpus)], out, _cfg(workers=2), progress=False)
    same_store(serial_store, out)


def test_dask_scheduler_equals_serial(serial_store, small_corpus, tmp_path, same_store):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "dask"
        run_shard([str(small_corpus)], out, _cfg(scheduler=cluster.scheduler_address),
                  progress=False)
    same_store(serial_store, out)


def test_rerun_skips_and_append_keeps_ids(small_corpus, tmp_path):
    files = sorted(p for p in small_corpus.rglob("*") if p.suffix in (".edf", ".fif"))
    first, second = files[0], files[1]
    part = tmp_path / "in"
    (part / "a").mkdir(parents=True)
    shutil.copy(first, part / "a" / first.name)
    out = tmp_path / "store"
    s1 = run_shard([str(part)], out, _cfg(), progress=False)
    before = open_store(out)
    seg_before = before.segments()
    x_before = {g: before.array(g)[:] for g in before.groups}
    s2 = run_shard([str(part)], out, _cfg(), progress=False)
    assert s2.newly_processed == 0 and s2.n_segments == s1.n_segments
    (part / "b").mkdir()
    shutil.copy(second, part / "b" / second.name)
    s3 = run_shard([str(part)], out, _cfg(), progress=False)
    assert s3.newly_processed == 1 and s3.n_segments > s1.n_segments
    after = open_store(out)
    seg_after = after.segments()
    assert seg_after.iloc[: len(seg_before)].equals(seg_before)
    for g, x in x_before.items():
        np.testing.assert_array_equal(after.array(g)[: len(x)], x)
    assert list(after.recordings()["recording_id"]) == [0, 1]


def test_other_parameters_refused(serial_store, small_corpus, capsys):
    code = main(["shard", str(small_corpus), "--out", str(serial_store), "--l-freq", "0.5",
                 "--no-progress"])
    assert code == 2
    assert "l_freq" in capsys.readouterr().err


def test_store_from_before_the_codec_keys(small_corpus, tmp_path):
    """A zstd store recorded before ``shuffle`` existed (and with ``clevel: 1`` written out)
    takes more files from a run with ``--compressor zstd``, keeps its recorded parameters,
    and refuses a default run, naming the codec."""
    first, *rest = sorted(p for p in small_corpus.rglob("*") if p.suffix in (".edf", ".fif"))
    assert rest
    part = tmp_path / "in"
    (part / "a").mkdir(parents=True)
    shutil.copy(first, part / "a" / first.name)
    out = tmp_path / "store"
    assert main(["shard", str(part), "--out", str(out), "--compressor", "zstd",
                 "--no-progress"]) == 0
    info_path = out / "store.json"
    info = json.loads(info_path.read_text())
    assert info["parameters"]["store"]["clevel"] == 1
    assert info["parameters"]["store"]["shuffle"] is None
    del info["parameters"]["store"]["shuffle"]  # as written before the key existed
    info_path.write_text(json.dumps(info))
    assert main(["shard", str(part), "--out", str(out), "--no-progress"]) == 2
    (part / "b").mkdir()
    shutil.copy(rest[0], part / "b" / rest[0].name)
    assert main(["shard", str(part), "--out", str(out), "--compressor", "zstd",
                 "--no-progress"]) == 0
    after = json.loads(info_path.read_text())
    assert "shuffle" not in after["parameters"]["store"]
    assert (open_store(out).recordings()["status"] == "ok").sum() == 2


def _shard_cmd(inputs: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "streamdistill.cli", "shard", str(inputs), "--out", str(out),
            "--workers", str(workers), "--no-progress"]


@pytest.fixture(scope="module")
def many_files(tmp_path_factory) -> Path:
    """Ten short single-format recordings, enough to kill a run between commits."""
    from streamdistill.synth import generate_corpus

    out = tmp_path_factory.mktemp("many")
    generate_corpus(out, n_subjects=5, recordings_per_subject=2, montages=(32,),
                    sfreqs=(256,), duration_s=40.0, formats=("edf",), seed=3)
    return out


def _staged(out: Path) -> int:
    return len(list((out / "staging").glob("*.json"))) if (out / "staging").exists() else 0


def _ledger_lines(out: Path) -> int:
    ledger = out / "ledger.jsonl"
    return ledger.read_bytes().count(b"\n") if ledger.exists() else 0


@pytest.mark.parametrize("when,workers", [
    ("first_staged", 2), ("four_staged", 2), ("first_ledger_line", 2),
    # --workers 1 keeps windows in memory (no staging files): killed between commits
    ("first_ledger_line", 1), ("third_ledger_line", 1),
])
def test_kill_9_then_rerun_equals_uninterrupted(many_files, tmp_path, when, workers, same_store):
    ready = {
        "first_staged": lambda out: _staged(out) >= 1,
        "four_staged": lambda out: _staged(out) >= 4,
        "first_ledger_line": lambda out: _ledger_lines(out) >= 1,
        "third_ledger_line": lambda out: _ledger_lines(out) >= 3,
    }[when]
    ref = tmp_path / "ref"
    subprocess.run(_shard_cmd(many_files, ref, 1), check=True, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_shard_cmd(many_files, out, workers), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not ready(out):
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "segments.parquet").exists()  # killed before finalising
    subprocess.run(_shard_cmd(many_files, out, workers), check=True, capture_output=True)
    same_store(ref, out)


def test_wds_export_round_trip(serial_store, tmp_path):
    import webdataset as wds

    from streamdistill.store.wds import export_wds

    store = open_store(serial_store)
    shards = export_wds(store, tmp_path / "wds", shard_segments=7)
    assert len(shards) == -(-store.n_segments // 7)
    mtimes = [p.stat().st_mtime_ns for p in shards]
    export_wds(store, tmp_path / "wds", shard_segments=7)  # rerun keeps finished shards
    assert [p.stat().st_mtime_ns for p in shards] == mtimes
    seen = 0
    for sample in wds.WebDataset([str(p) for p in shards], shardshuffle=False):
        sid = int(sample["__key__"])
        meta = json.loads(sample["json"])
        x = np.load(__import__("io").BytesIO(sample["x.npy"]))
        assert meta["segment_id"] == sid
        np.testing.assert_array_equal(x.astype(np.float32), store.get(sid))
        seen += 1
    assert seen == store.n_segments


def test_cli_shard_with_wds_and_dry_run(small_corpus, tmp_path, capsys):
    out = tmp_path / "dry"
    assert main(["shard", str(small_corpus), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "dry run: 4 files" in text and not out.exists()
    code = main(["shard", str(small_corpus), "--out", str(out), "--wds", str(tmp_path / "w"),
                 "--workers", "1", "--no-progress"])
    assert code == 0
    assert "4 ok, 0 skipped, 0 failed" in capsys.readouterr().out
    assert (out / "config.resolved.yaml").exists()
    assert list((tmp_path / "w").glob("shard-*.tar"))
