"""Streamed training and encoding: outputs, resume after kill -9, refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from streamdistill.cli import main
from streamdistill.config import load_config
from streamdistill.encode.latents import LatentsMismatch
from streamdistill.encode.run import run_encode
from streamdistill.store import StoreError, open_store


def _tiny(**overrides):
    overrides.setdefault("encode.threads", 1)
    return load_config("tiny", overrides).encode


@pytest.fixture(scope="module")
def encoded(small_store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("enc") / "latents"
    run_encode(open_store(small_store), out, _tiny(), progress=False)
    return out


def test_outputs(encoded, small_store):
    store = open_store(small_store)
    z = np.load(encoded / "latents.npy", mmap_mode="r")
    assert z.shape == (store.n_segments, 64) and z.dtype == np.float32
    assert np.isfinite(z).all() and (np.abs(z).sum(axis=1) > 0).all()
    meta = json.loads((encoded / "latents.json").read_text())
    assert meta["complete"] and meta["store_fingerprint"] == store.fingerprint
    assert set(meta["checkpoints"]) == set(store.groups)
    for g in store.groups:
        assert (encoded / "compressor" / f"{g}.pt").exists()
        assert not (encoded / "compressor" / f"{g}.ckpt.pt").exists()
        log = [json.loads(x) for x in (encoded / "train_log" / f"{g}.jsonl").read_text()
               .splitlines()]
        assert len(log) == 3 and all(np.isfinite(r["loss"]) for r in log)
        assert log[-1]["rec"] < log[0]["rec"]  # the loss decreases
    assert (encoded / "train_log" / "loss.png").stat().st_size > 1000


def test_latents_match_direct_encoding(encoded, small_store):
    from streamdistill.encode.train import load_compressor

    store = open_store(small_store)
    z = np.load(encoded / "latents.npy", mmap_mode="r")
    for g in store.groups:
        model = load_compressor(encoded / "compressor" / f"{g}.pt", torch.device("cpu"))
        ids = store.segment_ids_of_rows(g, 0, 5)
        x = torch.from_numpy(np.stack(store.read(ids)))
        np.testing.assert_allclose(model.encode(x).numpy(), z[ids], rtol=1e-4, atol=1e-4)


def test_rerun_is_a_no_op(encoded, small_store):
    before = (encoded / "latents.npy").read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in (encoded / "compressor").glob("*.pt")}
    run_encode(open_store(small_store), encoded, _tiny(), progress=False)
    assert (encoded / "latents.npy").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def _encode_cmd(store: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "streamdistill.cli", "encode", str(store), "--out", str(out),
            "--config", "tiny", "--threads", "1", "--no-progress", *extra]


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.parametrize("phase", ["training", "encoding"])
def test_kill_9_then_rerun_equals_uninterrupted(small_store, tmp_path, phase):
    ref = tmp_path / "ref"
    extra = ("--encode-batch", "8", "--epochs", "4")
    subprocess.run(_encode_cmd(small_store, ref, *extra), check=True, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_encode_cmd(small_store, out, *extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    if phase == "training":
        ready = lambda: any((out / "compressor").glob("*.ckpt.pt")) if (out / "compressor").exists() else False  # noqa: E731
    else:
        def ready() -> bool:
            try:
                meta = json.loads((out / "latents.json").read_text())
            except (OSError, ValueError):
                return False
            return sum(meta["blocks_done"].values()) >= 3
    _kill_when(proc, ready)
    subprocess.run(_encode_cmd(small_store, out, *extra), check=True, capture_output=True)
    for p in (ref / "compressor").glob("*.pt"):
        a, b = _state(p), _state(out / "compressor" / p.name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k
    assert (ref / "latents.npy").read_bytes() == (out / "latents.npy").read_bytes()


def test_other_store_or_checkpoint_refused(encoded, small_store, tmp_path, capsys):
    import shutil

    other = tmp_path / "other_store"
    shutil.copytree(small_store, other)
    info = json.loads((other / "store.json").read_text())
    info["fingerprint"] = "0" * 64
    (other / "store.json").write_text(json.dumps(info))
    with pytest.raises(LatentsMismatch, match="another store"):
        from streamdistill.encode.latents import encode_store

        models = {g: encoded / "compressor" / f"{g}.pt" for g in open_store(other).groups}
        encode_store(open_store(other), encoded, models, encode_batch=256,
                     device=torch.device("cpu"), progress=False)
    # another checkpoint: a compressor file changed
    copy = tmp_path / "enc_copy"
    shutil.copytree(encoded, copy)
    g = sorted(open_store(small_store).groups)[0]
    meta = torch.load(copy / "compressor" / f"{g}.pt", weights_only=False)
    meta["state_dict"] = {k: v + 1e-3 if v.is_floating_point() else v
                          for k, v in meta["state_dict"].items()}
    torch.save(meta, copy / "compressor" / f"{g}.pt")
    code = main(["encode", str(small_store), "--out", str(copy), "--config", "tiny",
                 "--no-progress"])
    assert code == 2
    assert "other compressor checkpoints" in capsys.readouterr().err
    # another training config: the trained compressor is not silently reused
    code = main(["encode", str(small_store), "--out", str(encoded), "--config", "tiny",
                 "--lr", "0.01", "--no-progress"])
    assert code == 2
    assert "another config or store" in capsys.readouterr().err


def test_empty_or_corrupt_store_clear_errors(tmp_path, capsys):
    with pytest.raises(StoreError, match="not a segment store"):
        open_store(tmp_path)
    (tmp_path / "store.json").write_text("{not json")
    with pytest.raises(StoreError, match="damaged"):
        open_store(tmp_path)
    code = main(["encode", str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2 and "damaged" in capsys.readouterr().err
    # a store whose files all failed: no segments
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.edf").write_text("not EEG")
    assert main(["shard", str(bad), "--out", str(tmp_path / "empty"), "--no-progress"]) == 1
    code = main(["encode", str(tmp_path / "empty"), "--out", str(tmp_path / "o2"),
                 "--no-progress"])
    assert code == 2 and "no segments" in capsys.readouterr().err


def test_shuffle_buffer_holds_copies_not_slabs(small_store):
    """Rows waiting in the shuffle buffer must not pin whole shards in memory."""
    from streamdistill.store.loader import GroupBatches

    store = open_store(small_store)
    g = sorted(store.groups)[0]
    loader = GroupBatches(store, g, batch_size=4, seed=0, epoch=0, buffer_size=8, prefetch=0)
    rng = np.random.default_rng([0, 0])
    for _, x in loader._rows_in_shard_order(rng):
        assert x.base is None  # owns its data
        break
    rows = [b.rows for b in GroupBatches(store, g, batch_size=4, seed=0, epoch=0,
                                         buffer_size=8, prefetch=0)]
    assert len(np.unique(np.concatenate(rows))) == sum(len(r) for r in rows)
