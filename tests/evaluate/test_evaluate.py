"""The evaluate stage: task YAMLs, event windows (streamed, cached), splits, metrics, protocols,
model sources, CLI. Synthetic tasks are EDF files written with ``streamdistill.synth`` plus MNE
annotations; the real eegmmidb tests skip when ``../shared/data/eegmmidb`` is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from streamdistill.config import PreprocessConfig
from streamdistill.evaluate import windows as win_mod
from streamdistill.evaluate.metrics import classification_metrics
from streamdistill.evaluate.run import load_backbone, run_evaluate
from streamdistill.evaluate.tasks import (
    SplitRule,
    TaskError,
    assign_splits,
    builtin_tasks,
    load_task,
)
from streamdistill.evaluate.windows import (
    build_cache,
    cut_windows,
    event_windows,
    scan_task,
)
from streamdistill.shard.preprocess import Block, make_plan, process_whole

EEGMMIDB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "eegmmidb"
needs_eegmmidb = pytest.mark.skipif(not (EEGMMIDB / "MANIFEST.tsv").exists(),
                                    reason="../shared/data/eegmmidb is absent")

DURATION_S, OFFSET_S, LENGTH_S = 40.0, 0.5, 2


# ------------------------------------------------------------------------------ fixtures
def _write_subject(path: Path, seed: int, sfreq: float) -> list[tuple[float, str]]:
    """One 40-s, 19-channel EDF with alternating left/right events every 3.3 s (a 10-Hz, 30-µV
    burst in 'right' windows, so the task is learnable), one 'T0' and one overrunning event."""
    import mne

    from streamdistill.synth import ArraySource, make_recording
    from streamdistill.synth.writers import PHYSICAL_RANGE_UV, to_raw

    rec = make_recording(19, sfreq, DURATION_S, seed=seed, artifact_rate_per_min=0)
    x = rec.block(0, rec.n_samples).astype(np.float64)
    rng = np.random.default_rng(seed)
    events = [(round(1.0 + 3.3 * i, 1), rng.choice(["left", "right"])) for i in range(11)]
    events += [(38.5, "left"), (20.0, "T0")]
    t = np.arange(rec.n_samples) / sfreq
    for onset, desc in events:
        if desc == "right":
            sel = (t >= onset + OFFSET_S) & (t < onset + OFFSET_S + LENGTH_S)
            x[:, sel] += 30.0 * np.sin(2 * np.pi * 10.0 * t[sel])
    raw = to_raw(ArraySource(x.astype(np.float32), rec.ch_names, sfreq, rec.ch_types))
    raw.set_annotations(mne.Annotations([e[0] for e in events],
                                        [min(2.0, DURATION_S - e[0]) for e in events],
                                        [str(e[1]) for e in events]))
    mne.export.export_raw(path, raw, fmt="edf", physical_range=PHYSICAL_RANGE_UV,
                          overwrite=True, verbose="error")
    return events


@pytest.fixture(scope="module")
def synth_task(tmp_path_factory) -> dict:
    """Six subjects (160 and 250 Hz), a task YAML in the same tmp folder, relative root."""
    base = tmp_path_factory.mktemp("evaltask")
    events = {}
    for s in range(1, 7):
        rel = f"sub-{s:02d}/sub-{s:02d}_task-lr_eeg.edf"
        (base / "data" / f"sub-{s:02d}").mkdir(parents=True)
        events[rel] = _write_subject(base / "data" / rel, seed=s, sfreq=160.0 if s % 2 else 250.0)
    doc = {"name": "synth_lr", "root": "data", "files": ["sub-*/*_eeg.edf"],
           "subject_regex": r"(?P<subject>sub-\d+)/",
           "classes": {"left": "left_hand", "right": "right_hand"},
           "window": {"offset_s": OFFSET_S, "length_s": LENGTH_S},
           "splits": {"test": ["sub-05", "sub-06"], "val": {"n": 1}, "seed": 3},
           "preprocess": {"block_s": 30.0}}
    path = base / "synth_lr.yaml"
    path.write_text(yaml.safe_dump(doc))
    return {"yaml": path, "doc": doc, "events": events, "base": base}


def _variant(synth_task: dict, tmp_path: Path, **changes) -> Path:
    doc = {**synth_task["doc"], **changes, "root": str(synth_task["base"] / "data")}
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


# ------------------------------------------------------------------------------ windowing
def test_event_windows_onsets_labels_and_overrun():
    rows, counts = event_windows(np.array([0.0, 1.25, 2.0, 9.0, 3.0]),
                                 ["a", "b", "x", "a", "b"], {"a": "A", "b": "B"}, ["A", "B"],
                                 offset_s=0.5, n_times=400, sfreq_out=200.0, n_out=2000)
    assert rows["start"].tolist() == [100, 350, 700]          # round((onset + 0.5) · 200)
    assert rows["label"].tolist() == [0, 1, 1]
    assert counts == {"events": 4, "ignored": 1, "overrun": 1}  # 9.5 s + 2 s > 10 s dropped
    _, counts = event_windows(np.array([0.2]), ["a"], {"a": "A"}, ["A"], offset_s=-0.5,
                              n_times=200, sfreq_out=200.0, n_out=2000)
    assert counts["overrun"] == 1                              # starts before the file


def test_cut_windows_across_block_edges_and_early_stop():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, 1000)).astype(np.float32)
    consumed = []

    def blocks():
        for a in range(0, 1000, 70):
            consumed.append(a)
            n = min(70, 1000 - a)
            yield Block(a, data[:, a:a + n], np.zeros(n, bool), np.ones(n, bool))

    starts = [5, 60, 60, 130, 400, 455]   # straddling edges, duplicates, overlapping
    got = [(i, w.copy(), p) for i, w, p in cut_windows(blocks(), starts, 100)]
    assert [g[0] for g in got] == list(range(len(starts)))
    for (i, w, p), s in zip(got, starts):
        assert p is None and np.array_equal(w, data[:, s:s + 100])
    assert max(consumed) < 600            # stopped after the block holding the last window
    bad = Block(0, data[:, :300], np.r_[np.zeros(150, bool), np.ones(150, bool)],
                np.ones(300, bool))
    flat = Block(300, data[:, 300:600], np.zeros(300, bool), np.zeros(300, bool))
    assert [p for _, _, p in cut_windows(iter([bad, flat]), [0, 100, 350], 100)] == [
        None, "nonfinite", "flat"]


def test_scan_maps_annotations_to_samples(synth_task):
    scan = scan_task(load_task(synth_task["yaml"]))
    idx = scan.index
    assert scan.counts["overrun"] == 6 and scan.counts["ignored"] == 6    # one of each per file
    assert len(idx) == 6 * 11 and len(scan.channels) == 19
    for rel, events in synth_task["events"].items():
        kept = [(o, d) for o, d in events if d in ("left", "right") and o < 38]
        part = idx[idx["file"] == rel].sort_values("onset_s")
        assert np.allclose(part["onset_s"], [o for o, _ in kept])
        assert part["start"].tolist() == [round((o + OFFSET_S) * 200) for o, _ in kept]
        assert part["label"].tolist() == [0 if d == "left" else 1 for _, d in kept]


def test_cached_window_equals_whole_processing(synth_task, tmp_path, monkeypatch):
    import mne

    task = load_task(synth_task["yaml"])
    cache = build_cache(task, tmp_path / "cache")
    assert not cache.hit and cache.x.shape == (66, 19, LENGTH_S * 200)
    assert cache.x.dtype == np.float32
    for rel in ("sub-01/sub-01_task-lr_eeg.edf", "sub-02/sub-02_task-lr_eeg.edf"):
        raw = mne.io.read_raw(task.root / rel, preload=True, verbose="error")
        upper = [n.upper() for n in raw.ch_names]
        x = raw.get_data(picks=[upper.index(c) for c in cache.channels], units="uV")
        whole = process_whole(x, make_plan(raw.info["sfreq"], PreprocessConfig()))
        for _, row in cache.index[cache.index["file"] == rel].iterrows():
            ref = whole[:, row["start"]:row["start"] + LENGTH_S * 200]
            rms = float(np.sqrt(np.mean((cache.x[row["row"]] - ref) ** 2)))
            assert rms < 1e-3, (rel, row["start"], rms)
    # A second evaluation reuses the cache without reading any EEG file.
    monkeypatch.setattr(win_mod, "open_recording", lambda *a, **k: 1 / 0)
    again = build_cache(task, tmp_path / "cache")
    assert again.hit and again.path == cache.path and again.index.equals(cache.index)


def test_flat_and_nonfinite_windows_dropped_and_counted(tmp_path):
    import mne

    from streamdistill.synth import make_recording
    from streamdistill.synth.writers import to_raw

    onsets = [1.0, 5.0, 9.0, 13.0, 17.0, 21.0, 25.0]
    for s in (1, 2):
        raw = to_raw(make_recording(19, 160.0, 30.0, seed=s, artifact_rate_per_min=0))
        if s == 1:
            raw._data[:, int(8.5 * 160):int(11.5 * 160)] = 0.0        # flat window at 9 s
            raw._data[:, int(17.5 * 160):int(18.0 * 160)] = np.nan    # non-finite at 17 s
        raw.set_annotations(mne.Annotations(onsets, [2.0] * 7, ["a", "b"] * 3 + ["a"]))
        (tmp_path / f"s{s}").mkdir()
        raw.save(tmp_path / f"s{s}" / f"s{s}_eeg.fif", verbose="error")
    doc = {"name": "drops", "root": ".", "files": ["s*/*.fif"], "classes": {"a": "A", "b": "B"},
           "window": {"length_s": 2}, "splits": {"test": ["s2"], "val": {"n": 0}}}
    (tmp_path / "drops.yaml").write_text(yaml.safe_dump(doc))
    cache = build_cache(load_task(tmp_path / "drops.yaml"), tmp_path / "cache")
    counts = cache.info["counts"]
    assert counts["dropped_flat"] == 1 and counts["dropped_nonfinite"] == 1, counts
    assert len(cache.index) == cache.x.shape[0] == 12
    kept = cache.index[cache.index["file"] == "s1/s1_eeg.fif"]
    assert kept["onset_s"].tolist() == [1.0, 5.0, 13.0, 21.0, 25.0]
    raw = mne.io.read_raw(tmp_path / "s1" / "s1_eeg.fif", preload=True, verbose="error")
    whole = process_whole(raw.get_data(units="uV"), make_plan(160.0, PreprocessConfig()))
    for _, row in kept.iterrows():     # rows after the dropped ones still hold their own window
        ref = whole[:, row["start"]:row["start"] + 400]
        assert np.sqrt(np.mean((cache.x[row["row"]] - ref) ** 2)) < 1e-3


# ------------------------------------------------------------------------------ splits
@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 30), data=st.data())
def test_splits_partition_subjects(n, data):
    subjects = [f"S{i:03d}" for i in range(n)]
    listed = data.draw(st.lists(st.sampled_from(subjects), min_size=1, max_size=n - 1,
                                unique=True))
    val = data.draw(st.one_of(st.integers(0, n).map(lambda k: SplitRule(n=k)),
                              st.floats(0.05, 0.95).map(lambda f: SplitRule(fraction=f))))
    seed = data.draw(st.integers(0, 1000))
    out = assign_splits(subjects * 2, SplitRule(subjects=tuple(listed)), val, seed)
    assert set(out) == set(subjects) and set(out.values()) <= {"train", "val", "test"}
    assert {s for s, v in out.items() if v == "test"} == set(listed)
    assert "train" in out.values()
    assert out == assign_splits(list(reversed(subjects)), SplitRule(subjects=tuple(listed)),
                                val, seed)


def test_cache_index_has_no_subject_in_two_splits(synth_task, tmp_path):
    idx = scan_task(load_task(synth_task["yaml"])).index
    assert (idx.groupby("subject")["split"].nunique() == 1).all()
    assert set(idx.loc[idx["split"] == "test", "subject"]) == {"sub-05", "sub-06"}
    assert idx.loc[idx["split"] == "val", "subject"].nunique() == 1
    with pytest.raises(TaskError, match="both splits"):
        assign_splits(["a", "b", "c"], SplitRule(subjects=("a",)), SplitRule(subjects=("a",)), 0)


# ------------------------------------------------------------------------------ metrics
def test_metrics_hand_checked_values():
    m = classification_metrics(np.array([0, 0, 1, 1]),
                               np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9]]))
    assert m["balanced_accuracy"] == 0.5 and m["cohen_kappa"] == 0.0
    assert m["f1_weighted"] == 0.5 and m["auroc"] == 0.75 and m["confusion"] == [[1, 1], [1, 1]]
    m = classification_metrics(np.array([0, 0, 0, 1]),
                               np.array([[0.8, 0.2], [0.7, 0.3], [0.3, 0.7], [0.2, 0.8]]))
    assert m["balanced_accuracy"] == pytest.approx(5 / 6)      # (2/3 + 1) / 2
    assert m["cohen_kappa"] == pytest.approx(0.5)              # (0.75 − 0.5) / (1 − 0.5)
    assert m["f1_weighted"] == pytest.approx(0.75 * 0.8 + 0.25 * 2 / 3)
    assert m["auroc"] == 1.0
    one = classification_metrics(np.array([1, 1]), np.array([[0.3, 0.7], [0.6, 0.4]]))
    assert one["auroc"] is None and one["notes"]


def test_metrics_match_sklearn_multiclass():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200)
    m = classification_metrics(y, p)
    pred = p.argmax(1)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred))
    assert m["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr",
                                                         average="macro"))


# ------------------------------------------------------------------------------ protocols
def test_probe_and_finetune_random_tiny_end_to_end(synth_task, tmp_path):
    cache = tmp_path / "cache"
    probe = run_evaluate("random", synth_task["yaml"], protocol="probe", seed=0,
                         out=tmp_path / "probe", size="tiny", cache_dir=cache, device="cpu")
    saved = json.loads((tmp_path / "probe" / "results.json").read_text())
    assert saved["metrics"] == json.loads(json.dumps(probe["metrics"]))
    assert probe["n_windows"]["test"]["total"] == 22 and probe["n_windows"]["val"]["subjects"] == 1
    assert sum(c["total"] for c in probe["n_windows"].values()) == 66
    assert probe["dropped"]["overrun"] == 6
    assert probe["hyperparameters"]["C"] in probe["hyperparameters"]["Cs"]
    assert probe["model"]["kind"] == "random" and probe["model"]["size"] == "tiny"
    assert probe["metrics"]["test"]["balanced_accuracy"] > 0.8    # the 10-Hz burst is easy
    ft = run_evaluate("random", synth_task["yaml"], protocol="finetune", seed=0, epochs=2,
                      out=tmp_path / "ft", size="tiny", cache_dir=cache, device="cpu")
    assert ft["task"]["cache_hit"] and len(ft["history"]) == 2
    assert 1 <= ft["hyperparameters"]["best_epoch"] <= 2
    assert ft["hyperparameters"]["lr_scales"][-1] == 1.0
    assert min(ft["hyperparameters"]["lr_scales"]) == pytest.approx(0.65 ** 3)  # tiny: depth 2
    for split in ("train", "val", "test"):
        assert set(ft["metrics"][split]) >= {"balanced_accuracy", "cohen_kappa", "f1_weighted",
                                             "auroc"}
    again = run_evaluate("random", synth_task["yaml"], protocol="finetune", seed=0, epochs=2,
                         out=tmp_path / "ft2", size="tiny", cache_dir=cache, device="cpu")
    assert again["metrics"] == ft["metrics"]                     # seeded


def test_model_sources_run_folder_and_braindecode(tmp_path):
    from streamdistill.pretrain.export import braindecode_kwargs, export_braindecode
    from streamdistill.pretrain.mem import MEMModel

    torch.manual_seed(5)
    student = MEMModel("tiny", vocab_size=16)
    (tmp_path / "run" / "mem").mkdir(parents=True)
    torch.save({"config": {"model": "tiny", "vocab": 16, "drop_path": 0.0},
                "model": student.state_dict()}, tmp_path / "run" / "mem" / "student.pt")
    backbone, info = load_backbone(tmp_path / "run")
    assert info["kind"] == "run" and info["size"] == "tiny"
    for (n, a), (_, b) in zip(student.backbone.state_dict().items(),
                              backbone.state_dict().items()):
        assert torch.equal(a, b), n
    weights = export_braindecode(student.backbone, n_times=800)
    torch.save(weights, tmp_path / "braindecode.pt")
    (tmp_path / "braindecode.json").write_text(json.dumps(
        {"kwargs": {**braindecode_kwargs(student.backbone), "n_times": 800}}))
    again, info = load_backbone(tmp_path / "braindecode.pt")
    assert info["kind"] == "braindecode" and info["braindecode_json"]["kwargs"]["n_times"] == 800
    x, chans = torch.randn(2, 3, 800), ["C3", "CZ", "C4"]
    student.backbone.eval(), again.eval()
    assert torch.allclose(student.backbone(x, chans), again(x, chans), atol=1e-6)
    a, _ = load_backbone("random", size="tiny", seed=1)
    b, _ = load_backbone("random", size="tiny", seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# ------------------------------------------------------------------------------ errors + CLI
def test_clear_errors(synth_task, tmp_path):
    with pytest.raises(TaskError, match="unknown task 'nope'.*eegmmidb_lr_imagery"):
        load_task("nope")
    missing = _variant(synth_task, tmp_path)
    with pytest.raises(TaskError, match="does not exist.*--data-root"):
        scan_task(load_task(missing, data_root=tmp_path / "absent"))
    with pytest.raises(TaskError, match="no events found.*'left'"):
        scan_task(load_task(_variant(synth_task, tmp_path, classes={"X1": "a", "X2": "b"})))
    with pytest.raises(TaskError, match="one class only"):
        scan_task(load_task(_variant(synth_task, tmp_path, classes={"left": "a"})))
    with pytest.raises(TaskError, match="whole seconds"):
        load_task(_variant(synth_task, tmp_path, window={"length_s": 2.5}))


def test_unreadable_file_is_skipped_and_recorded(synth_task, tmp_path):
    import shutil

    shutil.copytree(synth_task["base"] / "data", tmp_path / "data")
    (tmp_path / "data" / "sub-07").mkdir()
    (tmp_path / "data" / "sub-07" / "sub-07_task-lr_eeg.edf").write_bytes(b"not an EDF" * 50)
    scan = scan_task(load_task(_variant(synth_task, tmp_path), data_root=tmp_path / "data"))
    assert scan.counts["skipped_files"] == 1 and scan.counts["files"] == 6
    assert any("sub-07" in note for note in scan.notes) and len(scan.index) == 66


def _cli(argv: list[str]) -> int:
    from streamdistill.cli import main

    return main(["evaluate", *argv])


def test_cli_rejects_bad_values_before_work(synth_task, tmp_path, capsys):
    base = ["random", "--task", str(synth_task["yaml"]), "--out", str(tmp_path / "o")]
    cases = {("--protocol", "finetune", "--epochs", "0"): "--epochs (config key "
             "evaluate.finetune.epochs) must be in [1, 10000]",
             ("--seed", "-1"): "--seed (config key evaluate.seed) must be",
             ("--size", "giant"): "--size (config key evaluate.size) must be",
             ("--device", "tpu"): "--device (config key evaluate.device) must be",
             ("--data-root", str(tmp_path / "absent")): "--data-root",
             ("--epochs", "3"): "finetune only"}
    for extra, message in cases.items():
        assert _cli([*base, *extra]) == 2
        assert message in capsys.readouterr().err
    assert _cli(["random", "--task", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert _cli([str(tmp_path / "norun"), "--task", "nope", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "o" / "results.json").exists()
    with pytest.raises(SystemExit) as exc:
        _cli([*base, "--protocol", "linear"])
    assert exc.value.code == 2
    code = _cli([*base, "--size", "tiny", "--cache", str(tmp_path / "c"), "--no-progress"])
    assert code == 0 and "test balanced accuracy" in capsys.readouterr().out
    assert (tmp_path / "o" / "results.json").is_file()


# ------------------------------------------------------------------------------ real data
@needs_eegmmidb
@pytest.mark.realdata
def test_shipped_tasks_resolve_and_split_by_subject():
    assert {"eegmmidb_lr_imagery", "eegmmidb_rest_vs_imagery"} <= set(builtin_tasks())
    if "SHARED_DATA" not in __import__("os").environ:   # ${SHARED_DATA} → ../shared/data
        assert load_task("eegmmidb_lr_imagery").root == EEGMMIDB.resolve()
    task = load_task("eegmmidb_lr_imagery", data_root=EEGMMIDB)
    files = task.discover()
    assert len(files) == 60 and {r for _, _, r in files} == {4, 8, 12}
    split = assign_splits([s for _, s, _ in files], task.test, task.val, task.split_seed)
    assert sorted(s for s, v in split.items() if v == "test") == [f"S0{i}" for i in range(16, 21)]
    val = [s for s, v in split.items() if v == "val"]
    assert len(val) == 3 and all(s <= "S015" for s in val)
    rest = load_task("eegmmidb_rest_vs_imagery", data_root=EEGMMIDB)
    assert rest.class_names == ["rest", "imagery"] and task.class_names == ["left_fist",
                                                                            "right_fist"]


@needs_eegmmidb
@pytest.mark.realdata
def test_eegmmidb_smoke_probe(tmp_path):
    doc = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "streamdistill" / "evaluate" / "tasks"
         / "eegmmidb_lr_imagery.yaml").read_text())
    doc.update(root=str(EEGMMIDB), runs=[4], files=["S00[1-4]/*.edf", "S016/*.edf"],
               splits={"test": ["S016"], "val": ["S004"]})
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(doc))
    res = run_evaluate("random", path, protocol="probe", seed=0, out=tmp_path / "out",
                       size="tiny", cache_dir=tmp_path / "cache", device="cpu")
    assert res["n_files"] == 5 and res["task"]["channels"][:3] == ["FP1", "FPZ", "FP2"]
    assert sum(c["total"] for c in res["n_windows"].values()) == 75     # 15 T1/T2 per run
    assert res["n_windows"]["test"]["total"] == 15
    cache = build_cache(load_task(path), tmp_path / "cache")
    import mne

    raw = mne.io.read_raw(EEGMMIDB / "S016" / "S016R04.edf", preload=True, verbose="error")
    x = raw.get_data(units="uV")
    names = [n.strip(".").upper() for n in raw.ch_names]
    x = x[[names.index(c) for c in cache.channels]]
    whole = process_whole(x, make_plan(160.0, PreprocessConfig()))
    row = cache.index[cache.index["file"] == "S016/S016R04.edf"].iloc[3]
    ref = whole[:, row["start"]:row["start"] + 800]
    assert float(np.sqrt(np.mean((cache.x[row["row"]] - ref) ** 2))) < 1e-3
