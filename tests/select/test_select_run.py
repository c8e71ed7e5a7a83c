"""The `select` stage: outputs, prefix stability, resume after kill -9, scopes, baselines, errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamdistill.cli import main
from streamdistill.config import SelectConfig
from streamdistill.select.run import run_select
from streamdistill.select.selection import open_selection, quota

ROOT = Path(__file__).resolve().parents[2]


def make_latents(folder: Path, *, n_per_group=(1000, 1000), n_subjects=4, n_recordings=8,
                 outlier_frac=0.01, dim=16, seed=0) -> tuple[Path, Path, np.ndarray]:
    """Clustered float32 latents of two groups with planted far outliers, and their table.

    Returns (latents.npy, segments.parquet, ids of the planted outliers). Segments of the two
    groups are interleaved by recording, as in a real store.
    """
    rng = np.random.default_rng(seed)
    rows, lat = [], []
    sid = 0
    outliers = []
    for gi, n in enumerate(n_per_group):
        centers = rng.normal(0, 4, size=(6, dim))
        per_rec = n // n_recordings
        for r in range(n_recordings):
            x = centers[rng.integers(0, 6, per_rec)] + rng.normal(0, 0.5, (per_rec, dim))
            n_out = int(round(outlier_frac * per_rec))
            for j in rng.choice(per_rec, n_out, replace=False):
                x[j] += rng.choice([-1, 1], dim) * 25.0
                outliers.append(sid + j)
            lat.append(x.astype(np.float32))
            for j in range(per_rec):
                rows.append({"segment_id": sid + j, "group": f"c{19 + 45 * gi}-g{gi}",
                             "recording_id": gi * 100 + r, "subject": f"S{r % n_subjects:02d}"})
            sid += per_rec
    lat_path = folder / "latents.npy"
    np.save(lat_path, np.concatenate(lat))
    seg_path = folder / "segments.parquet"
    pd.DataFrame(rows).to_parquet(seg_path, index=False)
    return lat_path, seg_path, np.array(outliers, np.int64)


@pytest.fixture
def latents(tmp_path):
    return make_latents(tmp_path)


def run(lat, seg, out, **kw) -> Path:
    cfg = SelectConfig(**{"eta": [5.0, 10.0, 25.0], **kw})
    run_select(lat, out, cfg, segments=seg, progress=False)
    return out


def read_outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes()
            for name in ("order.npy", "radius.npy", "hbos.npy", "scopes.parquet")}


def test_outputs_follow_the_design(latents, tmp_path):
    lat, seg, planted = latents
    out = run(lat, seg, tmp_path / "sel")
    sel = open_selection(out)
    table = pd.read_parquet(seg)
    order, radius, hbos = np.load(out / "order.npy"), np.load(out / "radius.npy"), sel.hbos
    assert order.dtype == np.int64 and radius.dtype == np.float64 and hbos.dtype == np.float64
    assert hbos.shape == (len(table),) and np.isfinite(hbos).all()
    assert len(order) == len(radius) == len(np.unique(order))
    scopes = sel.scopes
    assert list(scopes["scope"]) == sorted(table["group"].unique())
    for row in scopes.itertuples(index=False):
        ids = order[row.start:row.end]
        assert (table["group"].to_numpy()[ids] == row.group).all()
        assert row.end - row.start == quota(25, row.n_scope)
        r = radius[row.start:row.end]
        assert np.all(np.diff(r) <= 1e-6 * r[0]), "radius must not increase"
    # planted outliers are removed by τ = 1% and never picked
    assert not np.isin(planted, order).any()
    meta = json.loads((out / "selection.json").read_text())
    assert meta["method"] == "dlite" and meta["tau"] == 1.0 and meta["eta"] == [5.0, 10.0, 25.0]
    assert sel.subset(5).tolist() == sorted(sel.subset(5).tolist())
    assert len(sel.subset(10)) == sum(quota(10, n) for n in scopes["n_scope"])
    assert set(sel.subset(5)) <= set(sel.subset(10)) <= set(sel.subset(25))
    for png in ("hbos_hist", "radius_vs_eta", "subject_share", "latents_2d"):
        assert (out / "report" / f"{png}.png").stat().st_size > 5000


def test_rerun_is_noop_and_larger_eta_extends_prefix(latents, tmp_path):
    lat, seg, _ = latents
    small = run(lat, seg, tmp_path / "a", eta=[5.0])
    before = read_outputs(small)
    run(lat, seg, small, eta=[5.0])
    assert read_outputs(small) == before
    run(lat, seg, small, eta=[5.0, 30.0])          # extends every scope's k-center
    direct = run(lat, seg, tmp_path / "b", eta=[5.0, 30.0])
    assert read_outputs(small) == read_outputs(direct)
    assert open_selection(small).subset(5).tolist() == open_selection(direct).subset(5).tolist()


def test_extend_from_another_selection(latents, tmp_path):
    lat, seg, _ = latents
    first = run(lat, seg, tmp_path / "first", eta=[4.0])
    cfg = SelectConfig(eta=[20.0])
    run_select(lat, tmp_path / "ext", cfg, segments=seg, extend=first, progress=False)
    direct = run(lat, seg, tmp_path / "direct", eta=[20.0])
    assert np.array_equal(np.load(tmp_path / "ext" / "order.npy"), np.load(direct / "order.npy"))


def test_other_parameters_refused_in_same_folder(latents, tmp_path):
    lat, seg, _ = latents
    out = run(lat, seg, tmp_path / "sel", eta=[5.0])
    from streamdistill.select.selection import SelectionError
    with pytest.raises(SelectionError, match="tau"):
        run(lat, seg, out, eta=[5.0], tau=2.0)


def test_scope_recording_and_subject_caps(latents, tmp_path):
    lat, seg, _ = latents
    table = pd.read_parquet(seg)
    out = run(lat, seg, tmp_path / "rec", scope="recording", eta=[10.0, 50.0])
    sel = open_selection(out)
    assert len(sel.scopes) == table["recording_id"].nunique()
    order = np.load(out / "order.npy")
    for row in sel.scopes.itertuples(index=False):
        ids = order[row.start:row.end]
        assert table["recording_id"].to_numpy()[ids].tolist() == [int(row.scope.split("rec")[1])] * len(ids)

    cap = 0.3
    out = run(lat, seg, tmp_path / "subj", scope="subject", subject_cap=cap, eta=[40.0], tau=0.0)
    sel = open_selection(out)
    subj = table["subject"].to_numpy()
    for row in sel.scopes.itertuples(index=False):
        ids = np.load(out / "order.npy")[row.start:row.end]
        for j in range(1, len(ids) + 1, 7):  # every prefix respects the cap (while feasible)
            counts = pd.Series(subj[ids[:j]]).value_counts()
            assert counts.max() <= int(np.ceil(cap * j)), (row.scope, j)


def test_random_baseline_same_format(latents, tmp_path):
    lat, seg, _ = latents
    out = run(lat, seg, tmp_path / "rnd", method="random", tau=0.0, eta=[10.0, 20.0])
    sel = open_selection(out)
    assert np.isnan(sel.radius).all()
    again = run(lat, seg, tmp_path / "rnd2", method="random", tau=0.0, eta=[10.0])
    assert open_selection(again).subset(10).tolist() == sel.subset(10).tolist()
    other = run(lat, seg, tmp_path / "rnd3", method="random", tau=0.0, eta=[10.0], seed=1)
    assert open_selection(other).subset(10).tolist() != sel.subset(10).tolist()


def test_kill_during_kcenter_then_rerun_equals_uninterrupted(tmp_path):
    lat, seg, _ = make_latents(tmp_path, n_per_group=(40_000,), dim=32, n_recordings=4)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "streamdistill", "select", str(lat), "--segments", str(seg),
           "--out", str(out), "--eta", "20", "--no-progress", "--threads", "1",
           "--pruning", "off", "--set", "select.checkpoint_every=200"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = out / ".work" / "kcenter" / "scope-000000.npz"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    if killed:
        assert not (out / "selection.json").exists()
    assert main(cmd[3:]) == 0
    ref = tmp_path / "ref"
    assert main(["select", str(lat), "--segments", str(seg), "--out", str(ref), "--eta", "20",
                 "--no-progress"]) == 0
    assert read_outputs(out) == read_outputs(ref)


@pytest.mark.parametrize("argv, flag", [
    (["--tau", "60"], "--tau"), (["--tau", "-1"], "--tau"), (["--eta", "0"], "--eta"),
    (["--eta", "5", "150"], "--eta"), (["--subject-cap", "1.5"], "--subject-cap"),
    (["--n-bins", "0"], "--n-bins"), (["--n-bins", "sturges"], "--n-bins"),
    (["--threads", "0"], "--threads"),
])
def test_bad_values_rejected_before_work(latents, tmp_path, capsys, argv, flag):
    lat, seg, _ = latents
    out = tmp_path / "never"
    code = main(["select", str(lat), "--segments", str(seg), "--out", str(out), *argv])
    assert code == 2
    assert flag in capsys.readouterr().err
    assert not out.exists()


def test_bad_inputs_rejected_with_clear_message(latents, tmp_path, capsys):
    lat, seg, _ = latents
    x = np.load(lat)
    bad = tmp_path / "nan.npy"
    x2 = x.copy()
    x2[123, 3] = np.nan
    np.save(bad, x2)
    assert main(["select", str(bad), "--segments", str(seg), "--out", str(tmp_path / "o1")]) == 2
    assert "segment 123" in capsys.readouterr().err
    short = tmp_path / "short.npy"
    np.save(short, x[:-5])
    assert main(["select", str(short), "--segments", str(seg), "--out", str(tmp_path / "o2")]) == 2
    assert "rows" in capsys.readouterr().err
    empty = tmp_path / "empty.parquet"
    pd.read_parquet(seg).iloc[:0].to_parquet(empty)
    assert main(["select", str(lat), "--segments", str(empty), "--out", str(tmp_path / "o3")]) == 2
    assert "segments" in capsys.readouterr().err
    assert main(["select", str(lat), "--out", str(tmp_path / "o4")]) == 2
    assert "--store" in capsys.readouterr().err
    f64 = tmp_path / "f64.npy"
    np.save(f64, x.astype(np.float64))
    assert main(["select", str(f64), "--segments", str(seg), "--out", str(tmp_path / "o5")]) == 2
    assert "float32" in capsys.readouterr().err


def test_on_a_real_store_with_export_and_pca(small_store, tmp_path):
    from streamdistill.store import open_store

    store = open_store(small_store)
    rng = np.random.default_rng(3)
    lat = tmp_path / "latents.npy"
    np.save(lat, rng.normal(size=(store.n_segments, 64)).astype(np.float32))
    out = tmp_path / "sel"
    assert main(["select", str(lat), "--store", str(small_store), "--out", str(out), "--eta",
                 "20", "50", "--export", "npy", str(tmp_path / "npy"), "--export-eta", "20",
                 "--no-progress"]) == 0
    sel = open_selection(out)
    ids = sel.subset(20)
    groups, rows = store.locate(ids)
    for g in set(groups.tolist()):
        arr = np.load(tmp_path / "npy" / f"{g}.npy", mmap_mode="r")
        gids = np.load(tmp_path / "npy" / f"{g}.segment_ids.npy")
        assert gids.tolist() == ids[groups == g].tolist()
        for i in (0, len(gids) - 1):
            assert np.array_equal(arr[i], store.get(int(gids[i])))
    pca = tmp_path / "pca"
    assert main(["select", "--method", "pca-kcenter", "--store", str(small_store), "--out",
                 str(pca), "--eta", "20", "--export", "wds", str(tmp_path / "wds"),
                 "--no-progress"]) == 0
    assert len(open_selection(pca).subset(20)) == len(ids)
    manifest = json.loads((tmp_path / "wds" / "wds.json").read_text())
    assert manifest["n_segments"] == len(ids)
