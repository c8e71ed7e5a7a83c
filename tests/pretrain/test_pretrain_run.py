"""`streamdistill pretrain` end to end on a small real store: outputs, resume, DDP, refusals."""

from __future__ import annotations

import json
import os
import shutil
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
from streamdistill.pretrain.run import PretrainError, run_pretrain

TINY = ["--config", "tiny", "--no-progress", "--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def selection(small_store, tmp_path_factory) -> Path:
    """A random-latent DLite selection of the small store (η up to 60%)."""
    from streamdistill.config import SelectConfig
    from streamdistill.select.run import run_select
    from streamdistill.store import open_store

    store = open_store(small_store)
    folder = tmp_path_factory.mktemp("pretrain_sel")
    lat = folder / "latents.npy"
    np.save(lat, np.random.default_rng(0).normal(size=(store.n_segments, 16)).astype(np.float32))
    run_select(lat, folder / "sel", SelectConfig(eta=[30.0, 60.0], tau=0.0), store=small_store,
               progress=False)
    return folder / "sel"


def _tiny(**pretrain):
    cfg = load_config("tiny", {f"pretrain.{k}": v for k, v in pretrain.items()})
    return cfg.pretrain


def test_all_stages_write_weights_logs_and_export(small_store, selection, tmp_path):
    out = tmp_path / "run"
    code = main(["pretrain", str(small_store), "--selection", str(selection), "--eta", "60",
                 "--out", str(out), *TINY, "--set", "pretrain.log_every=1"])
    assert code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["eta"] == 60.0 and [s["stage"] for s in run["stages"]] == ["tokenizer", "mem"]
    for stage in ("tokenizer", "mem"):
        recs = [json.loads(x) for x in (out / stage / "metrics.jsonl").read_text().splitlines()]
        assert recs and all(np.isfinite(r["loss"]) for r in recs)
        assert all(0 <= r["data_wait"] <= 1 and r["tokens_per_s"] > 0 for r in recs)
        assert (out / stage / "loss.png").stat().st_size > 5000
    assert (out / "tokenizer" / "tokenizer.pt").is_file() and (out / "mem" / "student.pt").is_file()
    tok = run["stages"][0]
    assert tok["extra"]["codebook_used"] > 1
    weights = torch.load(out / "mem" / "braindecode.pt", weights_only=True)
    meta = json.loads((out / "mem" / "braindecode.json").read_text())
    assert meta["class"] == "braindecode.models.Labram" and "position_embedding" in weights
    assert (out / "config.resolved.yaml").is_file()
    # a finished run is not redone
    assert main(["pretrain", str(small_store), "--selection", str(selection), "--eta", "60",
                 "--out", str(out), *TINY]) == 0


def test_loss_decreases(small_store, tmp_path):
    cfg = _tiny(stage="tokenizer", log_every=2)
    cfg.tokenizer.epochs = 6
    run_pretrain(small_store, tmp_path / "r", cfg, progress=False)
    recs = [json.loads(x) for x in (tmp_path / "r" / "tokenizer" / "metrics.jsonl")
            .read_text().splitlines()]
    first, last = np.mean([r["loss"] for r in recs[:2]]), np.mean([r["loss"] for r in recs[-2:]])
    assert last < first, (first, last)


def test_kill_then_resume_equals_uninterrupted(small_store, selection, tmp_path):
    args = [str(small_store), "--selection", str(selection), "--stage", "tokenizer",
            *TINY, "--tokenizer-epochs", "3", "--set", "pretrain.checkpoint_every=2"]
    ref = tmp_path / "ref"
    assert main(["pretrain", *args, "--out", str(ref)]) == 0
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "streamdistill", "pretrain", *args, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ck = out / "tokenizer" / "checkpoint.pt"
    deadline = time.time() + 120
    while not ck.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = torch.load(ck, weights_only=False) if ck.exists() else None
    assert done is None or not done["complete"], "the kill came too late to test a resume"
    assert main(["pretrain", *args, "--out", str(out)]) == 2  # checkpoint there: needs --resume
    assert main(["pretrain", *args, "--out", str(out), "--resume"]) == 0
    a = torch.load(ref / "tokenizer" / "tokenizer.pt", weights_only=False)["model"]
    b = torch.load(out / "tokenizer" / "tokenizer.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_selection_of_another_store_refused(small_store, selection, tmp_path):
    other = tmp_path / "sel"
    shutil.copytree(selection, other)
    meta = json.loads((other / "selection.json").read_text())
    meta["store_fingerprint"] = "0" * 64
    (other / "selection.json").write_text(json.dumps(meta))
    with pytest.raises(PretrainError, match="another segment store"):
        run_pretrain(small_store, tmp_path / "r", _tiny(), selection=other, progress=False)
    with pytest.raises(PretrainError, match="η = 60"):
        run_pretrain(small_store, tmp_path / "r", _tiny(eta=80.0), selection=selection,
                     progress=False)


def test_mem_without_tokenizer_refused(small_store, tmp_path, capsys):
    code = main(["pretrain", str(small_store), "--out", str(tmp_path / "r"), "--stage", "mem",
                 *TINY])
    assert code == 2 and "tokenizer" in capsys.readouterr().err


@pytest.mark.parametrize("argv, flag", [(["--eta", "0"], "--eta"),
                                        (["--batch-size", "0"], "--batch-size"),
                                        (["--workers", "-1"], "--workers")])
def test_bad_flags_rejected(small_store, tmp_path, capsys, argv, flag):
    out = tmp_path / "never"
    assert main(["pretrain", str(small_store), "--out", str(out), *argv]) == 2
    assert flag in capsys.readouterr().err
    assert not out.exists()


def test_torchrun_two_processes_gloo(small_store, selection, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29517", "-m", "streamdistill", "pretrain", str(small_store),
           "--selection", str(selection), "--out", str(out), "--stage", "tokenizer", *TINY,
           "--tokenizer-epochs", "1", "--batch-size", "4"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["world_size"] == 2
    assert (out / "tokenizer" / "tokenizer.pt").is_file()
