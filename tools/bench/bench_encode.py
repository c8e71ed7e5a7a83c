"""Benchmark of ``streamdistill encode``: store read rate vs encode throughput, training speed,
peak memory against store size.

Usage (from the repository root)::

    python -m tools.bench.bench_encode                       # CPU, full run, writes docs/benchmarks.md
    python -m tools.bench.bench_encode --quick --no-doc      # smoke test (small corpus)
    python -m tools.bench.bench_encode --device cuda --quick --json /tmp/encode_cuda.json

What it measures, all in one run (timings are the median of ``--runs`` runs, default 3):

1. **Read vs encode**, per montage group (19, 32 and 64 channels) of one synthetic corpus
   (``streamdistill.synth.generate_corpus``, FIF files, sharded once into the cache folder):
   (a) the store read rate alone — ``store.read_rows(group, a, b)`` over the whole group in blocks
   of ``encode.encode_batch`` rows (the read ``encode_store`` issues), and for comparison the plain
   Zarr slice ``arr[a:b]`` with Zarr's default codec pipeline; (b) encode throughput of the full-size
   compressor through ``encode_store`` into a fresh folder (segments/s and hours of EEG per second;
   the weights come from a one-batch ``train_group`` run — encoding speed does not depend on them);
   (c) encode / read, i.e. how far encoding is from being I/O bound; plus a decomposition pass that
   times reading and model compute of each block separately.
2. **Training**: seconds per epoch per 10k segments of the full-size compressor (batch 512, the
   streamed loader, ``train_group``), on the 64-channel group, median over the epochs; on CPU always
   and on CUDA with ``--device cuda``.
3. **Memory**: peak RSS of ``streamdistill encode --config tiny --epochs 1`` (child process,
   :func:`tools.bench.common.run_measured`, started from a small launcher process because a child's
   ``ru_maxrss`` starts at its parent's high-water mark) on stores of N, 4N and 16N segments
   (hard-linked copies of one long recording per montage, each copy under a distinct path, each
   size sharded into its own store; every group exceeds the tiny encode block and shuffle buffer
   already at 1×), with the same training work at every size (``--train-fraction 1/k``) and once
   with a full epoch at 16×; plus the default (full-size) config on the main store.

On CPU torch runs with ``--threads`` threads (default 2, this machine's core count). The CUDA mode
builds everything it needs itself (``generate_corpus(..., formats=('fif',))`` needs MNE only).
``--json`` writes every number; the ``encode`` section of ``docs/benchmarks.md`` is rewritten
(full CPU runs only, unless ``--no-doc``), keeping the latent-sanity part that
``tools/bench/latent_sanity.py`` stored there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tools.bench.common import (
    REPO_ROOT,
    fmt_bytes,
    machine_info,
    machine_table,
    md_table,
    median,
    cached_store,
    run_measured,
    which,
    write_section,
)

DEFAULT_CACHE = Path("/tmp/streamdistill-encode-bench/cache")
DEFAULT_WORK = Path("/tmp/streamdistill-encode-bench/work")
DOC = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = "encode"
PACKAGES = ("streamdistill", "torch", "numpy", "zarr", "numcodecs", "mne", "scikit-learn", "psutil")
#: Markers of the machine-readable results kept inside the doc section (so that either script can
#: rewrite the section without losing the other's numbers).
DATA_TAGS = {"bench": "encode-bench-json", "sanity": "latent-sanity-json"}

#: Corpus of the read/encode/training parts: (n_subjects, recordings_per_subject, duration_s).
#: Full: 6 recordings per montage × 1500 s → ≈ 690 / 1125 / 2250 segments (19 / 32 / 64 ch).
FULL_CORPUS = (6, 3, 1500.0)
QUICK_CORPUS = (3, 3, 600.0)
SFREQS = (160.0, 250.0, 256.0)
CORPUS_SEED = 11

def read_encode_finding(read_encode: dict[str, Any]) -> str:
    """The first note, its numbers taken from the run's per-group results."""
    def span(key: str, fmt: str = ",.0f") -> str:
        vals = [g[key] for g in read_encode.values()]
        return f"{min(vals):{fmt}}–{max(vals):{fmt}}"

    bound = max(g["encode_over_read"] for g in read_encode.values()) < 0.5
    verdict = "compute bound, far from I/O bound" if bound else "not far from I/O bound"
    return (
        f"On 2 CPU threads encoding is {verdict}: the groups encode at "
        f"{span('encode_seg_s')} segments/s while the store reads at {span('read_rows_seg_s')} "
        f"segments/s (encode/read {span('encode_over_read', '.2f')}). The model alone runs at "
        f"{span('decomp_model_seg_s')} segments/s; the rest is the per-block fsync and the read, "
        "which overlaps the model on a prefetch thread (with 2 cores the overlap is limited: "
        "the read thread competes with torch's threads). C·W ≈ 51k samples per segment in "
        "every group, so the cost per segment is about constant and hours of EEG per second "
        "scale with the window (13 s for 19 ch, 4 s for 64 ch).")


#: Hand-written findings from the CPU run documented in docs/benchmarks.md (2-core machine,
#: commit in the machine table); rendered under "Notes" after :func:`read_encode_finding`.
NOTES: tuple[str, ...] = (
    "`encode_store` reads each block with `store.read_rows` (one batched pass of Zarr's codec "
    "pipeline, faster than a plain `np.asarray(arr[a:b])` slice: \"read\" vs \"slice\" "
    "columns) on a background thread while the model encodes the block before "
    "(`encode/latents.py: _prefetched_blocks`), so on a fast device the encode rate can "
    "approach the read rate instead of read + model in series.",
    "Memory against store size with the same training work is flat (table). An earlier "
    "version was not (1.2 → 1.8 GiB from 1× to 16×): the training loader's shuffle buffer kept "
    "each row as a view into the shard slab it came from, so one buffered row pinned its whole "
    "shard (≈ 4 MB); it now keeps row copies (`store/loader.py`). A full epoch over the 16× "
    "store peaks a little higher than fixed work, from the larger epoch plan and loss log.",
    "The absolute peak of the default (full-size) config is set by its batch size, not the "
    "store: 3.5 GiB, reached while training the 64-channel group on a batch of 512 (a phase "
    "probe of the same run: 1.9 / 2.6 / 3.5 GiB while training the 19 / 32 / 64-ch groups on "
    "batches of 197 / 317 / 512, encoding in blocks of 1024 adds ≈ 0.2 GiB); the 10- and "
    "50-epoch runs of `latent_sanity` peak at ≈ 5 GiB. A smaller `--batch-size` lowers it.",
    "Memory is measured from a small launcher process: a child's `ru_maxrss` starts at the "
    "high-water RSS of the process that forked it (the kernel carries it over on fork/exec), so "
    "`run_measured` called from this benchmark's own process (≈ 3.7 GiB after the training "
    "part) reported 3.7 GiB for every tiny run.",
)


def log(msg: str) -> None:
    print(f"[bench_encode {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        return -1.0


def source_digest() -> str:
    """SHA-256 (12 hex) over ``streamdistill/**/*.py`` (the code that was measured)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted((REPO_ROOT / "streamdistill").rglob("*.py")):
        h.update(str(f.relative_to(REPO_ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


# ------------------------------------------------------------------------------ inputs


def make_corpus(dest: Path, n_subjects: int, recs: int, duration_s: float, fmt: str) -> Path:
    """The synthetic corpus (all three montages), generated once (``done.json`` marks it)."""
    from streamdistill.synth import generate_corpus

    done = dest / "done.json"
    if done.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    log(f"generating {n_subjects * recs} recordings × {duration_s:g} s ({fmt}) into {dest}")
    generate_corpus(dest, n_subjects=n_subjects, recordings_per_subject=recs,
                    montages=(19, 32, 64), sfreqs=SFREQS, duration_s=duration_s,
                    formats=(fmt,), seed=CORPUS_SEED)
    done.write_text(json.dumps({"n_subjects": n_subjects, "recordings_per_subject": recs,
                                "duration_s": duration_s, "format": fmt, "seed": CORPUS_SEED}))
    return dest


def sd() -> list[str]:
    """The ``streamdistill`` command: the console script next to the interpreter or on PATH, else
    ``python -m streamdistill.cli`` (a checkout that is not pip-installed, e.g. a GPU machine)."""
    try:
        return [which("streamdistill")]
    except FileNotFoundError:
        return [sys.executable, "-m", "streamdistill.cli"]


def make_store(inputs: list[Path], dest: Path) -> Path:
    """``streamdistill shard`` of ``inputs`` into ``dest`` (once; all cores)."""
    return cached_store(inputs, dest, log=log)


def linked_copies(files: list[Path], root: Path, dest: Path, k: int) -> Path:
    """``k`` hard-linked copies of ``files`` under distinct paths ``copyNN/<relative path>``."""
    done = dest / "done.json"
    if done.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    for j in range(k):
        for f in files:
            dst = dest / f"copy{j:02d}" / f.relative_to(root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, dst)
            except OSError:
                shutil.copy2(f, dst)
    done.write_text(json.dumps({"copies": k, "files": len(files)}))
    return dest


# ------------------------------------------------------------------------------ helpers


def encode_cfg(device: str, threads: int | None, **over: Any):
    """The default (full-size) encode config with ``device``/``threads`` and overrides."""
    from streamdistill.config import load_config

    cfg = load_config().encode
    cfg = replace(cfg, device=device, threads=threads, **over)
    cfg.validate()
    return cfg


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def weights_for(store, group: str, cfg, out: Path, device) -> Path:
    """A compressor file in the format ``encode_store`` loads: ``train_group`` for one small batch
    (encoding cost does not depend on the weights)."""
    from streamdistill.encode.train import train_group

    n = store.groups[group].n_segments
    frac = min(1.0, 64 / n)
    c = replace(cfg, epochs=1, train_fraction=frac, batch_size=64)
    return train_group(store, group, c, out, device=device, progress=False)


def cpu_probe() -> float:
    """Seconds for a fixed CPU workload (torch matmuls on the current threads): recorded next to
    every run so that interference from other processes shows up in the JSON."""
    import torch

    a = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    for _ in range(40):
        a = torch.tanh(a @ a / 512)
    return time.perf_counter() - t0


def read_pass(store, group: str, block: int, how: str) -> float:
    """Seconds to read the whole group in blocks of ``block`` rows (``how``: ``read_rows``, the
    batched read ``encode_store`` uses, or ``slice`` = a plain ``np.asarray(arr[a:b], float32)``
    with Zarr's default codec pipeline, for comparison)."""
    import numpy as np

    n = store.groups[group].n_segments
    arr = store.array(group)
    t0 = time.perf_counter()
    for a in range(0, n, block):
        b = min(a + block, n)
        if how == "read_rows":
            x = store.read_rows(group, a, b)
        else:
            x = np.asarray(arr[a:b], np.float32)
        del x
    return time.perf_counter() - t0


def decomposed_pass(store, group: str, block: int, model, device, amp: bool) -> dict[str, float]:
    """One pass over the group timing the read (``store.read_rows``, as ``encode_store``) and the
    model separately."""
    from streamdistill.encode.latents import encode_block

    n = store.groups[group].n_segments
    t_read = t_model = 0.0
    for a in range(0, n, block):
        b = min(a + block, n)
        t0 = time.perf_counter()
        xn = store.read_rows(group, a, b)
        t1 = time.perf_counter()
        encode_block(model, xn, device, amp)
        sync(device)
        t2 = time.perf_counter()
        t_read += t1 - t0
        t_model += t2 - t1
    return {"read_s": t_read, "model_s": t_model}


# ------------------------------------------------------------------------------ parts


def part_read_encode(store, cfg, device, runs: int, work: Path) -> dict[str, Any]:
    """(a) read rate, (b) encode throughput, (c) ratio; per group, runs interleaved."""
    from streamdistill.encode.latents import encode_store
    from streamdistill.encode.train import load_compressor

    groups = sorted(store.groups, key=lambda g: store.groups[g].n_channels)
    wdir = work / "weights" / str(store.fingerprint)[:16]  # weights are bound to their store
    weights = {g: weights_for(store, g, cfg, wdir, device) for g in groups}
    block = cfg.encode_batch
    res: dict[str, Any] = {}
    for g in groups:
        gi = store.groups[g]
        res[g] = {"n_channels": gi.n_channels, "n_times": gi.n_times, "window_s": gi.window_s,
                  "segments": gi.n_segments, "block": block,
                  "read_rows_s": [], "slice_s": [], "encode_s": [], "decomp": [],
                  "loadavg": [], "cpu_probe_s": []}
    if device.type == "cuda":  # warm-up (CUDA context, kernels), not counted
        g = groups[-1]
        out = work / "warmup"
        shutil.rmtree(out, ignore_errors=True)
        encode_store(store, out, {g: weights[g]}, encode_batch=block, device=device, amp=cfg.amp,
                     dim=cfg.model.dim, progress=False)
        shutil.rmtree(out, ignore_errors=True)
    for r in range(runs):
        for g in groups:
            row = res[g]
            row["loadavg"].append(loadavg())
            row["cpu_probe_s"].append(cpu_probe())
            row["read_rows_s"].append(read_pass(store, g, block, "read_rows"))
            row["slice_s"].append(read_pass(store, g, block, "slice"))
            out = work / "latents"
            shutil.rmtree(out, ignore_errors=True)
            sync(device)
            t0 = time.perf_counter()
            encode_store(store, out, {g: weights[g]}, encode_batch=block, device=device,
                         amp=cfg.amp, dim=cfg.model.dim, progress=False)
            sync(device)
            row["encode_s"].append(time.perf_counter() - t0)
            shutil.rmtree(out, ignore_errors=True)
            model = load_compressor(weights[g], device)
            row["decomp"].append(decomposed_pass(store, g, block, model, device, cfg.amp))
            del model
            n = row["segments"]
            log(f"run {r + 1}/{runs} {g}: read_rows {n / row['read_rows_s'][-1]:.0f} seg/s, "
                f"slice {n / row['slice_s'][-1]:.0f} seg/s, encode {n / row['encode_s'][-1]:.1f} "
                f"seg/s (load {row['loadavg'][-1]}, cpu probe {row['cpu_probe_s'][-1]:.3f} s)")
    for g, row in res.items():
        n, w = row["segments"], row["window_s"]
        row["read_rows_seg_s"] = n / median(row["read_rows_s"])
        row["slice_seg_s"] = n / median(row["slice_s"])
        row["encode_seg_s"] = n / median(row["encode_s"])
        row["encode_h_per_s"] = row["encode_seg_s"] * w / 3600
        row["read_h_per_s"] = row["read_rows_seg_s"] * w / 3600
        row["encode_over_read"] = row["encode_seg_s"] / row["read_rows_seg_s"]
        row["decomp_read_seg_s"] = n / median([d["read_s"] for d in row["decomp"]])
        row["decomp_model_seg_s"] = n / median([d["model_s"] for d in row["decomp"]])
        row["read_share_of_encode"] = median([d["read_s"] for d in row["decomp"]]) / median(row["encode_s"])
    return res


def part_training(store, device_name: str, threads: int | None, epochs: int,
                  work: Path) -> dict[str, Any]:
    """Seconds per epoch per 10k segments of the full-size compressor on the 64-ch group."""
    import torch

    from streamdistill.encode.run import resolve_device
    from streamdistill.encode.train import train_group

    g = max(store.groups, key=lambda k: store.groups[k].n_channels)
    cfg = encode_cfg(device_name, threads, epochs=epochs)
    device = resolve_device(device_name)
    if device.type == "cpu" and threads:
        torch.set_num_threads(threads)
    out = work / f"train-{device_name}"
    shutil.rmtree(out, ignore_errors=True)
    log(f"training {epochs} epoch(s) of the full-size compressor on {g} "
        f"({store.groups[g].n_segments} segments, {device_name})")
    la0 = loadavg()
    t0 = time.perf_counter()
    path = train_group(store, g, cfg, out, device=device, progress=False)
    wall = time.perf_counter() - t0
    hist = torch.load(path, map_location="cpu", weights_only=False)["history"]
    shutil.rmtree(out, ignore_errors=True)
    per10k = [h["seconds"] / h["segments"] * 1e4 for h in hist if h["segments"]]
    out_row = {
        "device": device_name, "group": g, "segments_in_group": store.groups[g].n_segments,
        "batch_size": cfg.batch_size, "amp": bool(cfg.amp and device.type == "cuda"),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "epochs": epochs, "history": hist, "wall_s": wall,
        "s_per_epoch_per_10k": median(per10k), "s_per_epoch_per_10k_all": per10k,
        "segments_per_epoch": hist[0]["segments"] if hist else 0,
        "data_wait_fraction": median([h["data_wait_fraction"] for h in hist]),
        "loadavg": [la0, loadavg()],
    }
    log(f"  {out_row['s_per_epoch_per_10k']:.1f} s/epoch/10k segments "
        f"({out_row['segments_per_epoch']} segments/epoch)")
    return out_row


#: Rows per group of the 1× memory store: above the tiny config's encode block (256) and shuffle
#: buffer + batch (256 + 64), so the 1× run already works on full blocks and a full buffer.
RSS_ROWS = {"full": 480, "quick": 330}
RSS_SFREQ = 250.0


def rss_base_corpus(dest: Path, rows: int) -> Path:
    """One recording per montage (19, 32, 64 ch, FIF) long enough for ``rows`` windows each."""
    from streamdistill.synth.corpus import make_recording
    from streamdistill.synth.writers import write_recording

    done = dest / "done.json"
    if done.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    for i, c in enumerate((19, 32, 64)):
        window = min(256 // c, 16)
        dur = rows * window + 2 * window
        rec = make_recording(c, RSS_SFREQ, dur, seed=(CORPUS_SEED, 900 + i), line_freq=50.0)
        path = dest / f"sub-{i + 1:03d}" / f"sub-{i + 1:03d}_run-01_eeg.fif"
        log(f"generating {path.name} ({c} ch, {dur:g} s)")
        write_recording(rec, path, "fif", line_freq=50.0)
    done.write_text(json.dumps({"rows": rows, "sfreq": RSS_SFREQ}))
    return dest


def rss_stores(cache: Path, tag: str, scales) -> dict[int, Path]:
    """Stores of ``k`` hard-linked copies of the ``tag`` (``full``/``quick``) base corpus, one per
    ``k`` in ``scales`` (:func:`rss_base_corpus`, :func:`linked_copies`; each built once)."""
    base_root = rss_base_corpus(cache / f"rss-base-{tag}", RSS_ROWS[tag])
    base = sorted(base_root.rglob("*.fif"))
    return {k: make_store([linked_copies(base, base_root, cache / f"rss-{tag}-x{k}-files", k)],
                          cache / f"rss-{tag}-x{k}.store") for k in scales}


def rss_child(spec_path: str, out_path: str) -> int:
    """``--_rss-child``: run each command of the spec with :func:`run_measured`, from this small
    process. (A child's ``ru_maxrss`` starts at the high-water mark of the process it was forked
    from, so measuring from the benchmark's own, large process would report that instead.)"""
    spec = json.loads(Path(spec_path).read_text())
    results = []
    for job in spec:
        shutil.rmtree(job["out"], ignore_errors=True)
        log(f"memory: {job['label']}")
        r = run_measured(job["cmd"], cwd=REPO_ROOT).check()
        shutil.rmtree(job["out"], ignore_errors=True)
        results.append({"wall_s": r.wall_s, "maxrss_bytes": r.maxrss_bytes,
                        "tree_peak_bytes": r.tree_peak_bytes, "cpu_s": r.cpu_s})
        log(f"  {r.wall_s:.1f} s, maxrss {fmt_bytes(r.maxrss_bytes)}, "
            f"tree {fmt_bytes(r.tree_peak_bytes)}")
    Path(out_path).write_text(json.dumps(results))
    return 0


def part_memory(cache: Path, work: Path, device: str, threads: int | None, quick: bool,
                main_store: Path) -> dict[str, Any]:
    """Peak RSS of ``streamdistill encode`` on 1×, 4×, 16× stores (tiny config)."""
    from streamdistill.store import open_store

    tag = "quick" if quick else "full"
    rows = RSS_ROWS[tag]
    stores = rss_stores(cache, tag, (1, 4, 16))
    sizes = {k: open_store(p) for k, p in stores.items()}
    n1 = sizes[1].n_segments
    out = work / "rss-out"
    common = ["--epochs", "1", "--device", device, "--no-progress"]
    if threads:
        common += ["--threads", str(threads)]
    jobs = []
    for k in (1, 4, 16):  # the same training work at every size: ≈ N rows per group
        frac = 1.0 / k
        cmd = [*sd(), "encode", str(stores[k]), "--out", str(out),
               "--config", "tiny", *common] + (["--train-fraction", f"{frac:.6f}"] if k > 1 else [])
        jobs.append({"config": "tiny", "scale": k, "train": "fixed", "cmd": cmd, "out": str(out),
                     "segments": sizes[k].n_segments, "label": f"tiny {k}×, train {frac:.4f}"})
    k = 16
    jobs.append({"config": "tiny", "scale": k, "train": "full epoch",
                 "cmd": [*sd(), "encode", str(stores[k]), "--out", str(out),
                         "--config", "tiny", *common],
                 "out": str(out), "segments": sizes[k].n_segments, "label": "tiny 16×, full epoch"})
    if not quick:  # absolute peak of the default (full-size) config on the main bench store
        ms = open_store(main_store)
        frac = min(1.0, 600 / max(i.n_segments for i in ms.groups.values()))
        jobs.append({"config": "default", "scale": None, "train": f"fraction {frac:.3f}",
                     "cmd": [*sd(), "encode", str(main_store), "--out", str(out),
                             *common, "--train-fraction", f"{frac:.4f}"],
                     "out": str(out), "segments": ms.n_segments,
                     "label": "default config, main bench store"})
    spec, res_path = work / "rss-spec.json", work / "rss-result.json"
    spec.write_text(json.dumps([{k: v for k, v in j.items()} for j in jobs]))
    res_path.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "tools.bench.bench_encode", "--_rss-child", str(spec),
                    str(res_path)], cwd=REPO_ROOT, check=True)
    results = json.loads(res_path.read_text())
    out_rows = []
    for j, r in zip(jobs, results):
        st = sizes.get(j["scale"]) if j["scale"] else open_store(main_store)
        out_rows.append({
            "config": j["config"], "scale": j["scale"], "train": j["train"],
            "segments": j["segments"],
            "groups": {g: i.n_segments for g, i in st.groups.items()},
            **r, "cmd": "streamdistill " + " ".join(j["cmd"][1:]),
        })
    return {"base_files": [str(p.relative_to(base_root)) for p in base], "base_segments": n1,
            "rows_per_group": rows, "rows": out_rows}


# ------------------------------------------------------------------------------ report


def _f(x: float, nd: int = 1) -> str:
    return f"{x:,.{nd}f}"


def render_bench(b: dict[str, Any], with_machine: bool = False) -> str:
    """Markdown of a ``bench_encode`` result (one device)."""
    dev = b["device"]
    lines = [f"### Read vs encode, training, memory — `{dev}`" + (" (quick)" if b["quick"] else ""),
             ""]
    if with_machine:
        lines += ["Machine of this run:", "", machine_table(b["machine"]), ""]
    lines += [f"Command: `{b['command']}` ({b['wall_s'] / 60:.1f} min in all). "
             f"Torch threads: {b['torch_threads']}. Corpus: {b['corpus']['description']}.",
             ""]
    if b.get("read_encode"):
        rows = []
        for g, r in b["read_encode"].items():
            rows.append([
                f"{r['n_channels']} ch × {r['window_s']:g} s", r["segments"],
                _f(r["read_rows_seg_s"], 0), _f(r["slice_seg_s"], 0),
                _f(r["encode_seg_s"]), f"{r['encode_h_per_s']:.3f}",
                f"{r['encode_over_read']:.3f}",
                f"{_f(r['decomp_model_seg_s'])} / {100 * r['read_share_of_encode']:.0f}%",
            ])
        lines += [
            f"Per group, block = `encode_batch` = {next(iter(b['read_encode'].values()))['block']} "
            f"rows, median of {b['runs']} runs. (a) read = `store.read_rows` over the group (the "
            "batched read `encode_store` uses); slice = a plain `np.asarray(arr[a:b], float32)` "
            "with Zarr's default codec pipeline, for comparison; (b) encode = "
            "`encode_store` of that group into a fresh folder (full-size compressor, "
            "fsync + `latents.json` per block included); (c) encode/read = (b)/(a): 1 would be "
            "I/O bound. Last column: model-only rate from a pass that times read and model "
            "separately, and the share of the encode time spent reading.", "",
            md_table(["group", "segments", "(a) read seg/s", "slice seg/s", "(b) encode seg/s",
                      "encode h EEG/s", "(c) encode/read", "model-only seg/s / read share"], rows),
            ""]
    tr = b.get("training", [])
    if tr:
        rows = [[t["device"], t["group"], t["segments_per_epoch"], t["batch_size"],
                 t["threads"] or "-", "bf16" if t["amp"] else "fp32", t["epochs"],
                 _f(t["s_per_epoch_per_10k"]), f"{100 * t['data_wait_fraction']:.1f}%",
                 " / ".join(_f(x) for x in t["s_per_epoch_per_10k_all"])] for t in tr]
        lines += [
            "Training of the full-size compressor (`train_group`, streamed loader, Adam, batch "
            "512, drop_last), 64-channel group. Seconds per epoch normalised to 10k segments "
            "(epoch seconds × 10⁴ / segments seen), median over the epochs.", "",
            md_table(["device", "group", "segments/epoch", "batch", "threads", "precision",
                      "epochs", "s/epoch/10k seg", "data wait", "per epoch"], rows), ""]
    mem = b.get("memory")
    if mem:
        rows = []
        for m in mem["rows"]:
            rows.append([m["config"], f"{m['scale']}×" if m["scale"] else "main store",
                         m["segments"], m["train"], _f(m["wall_s"]),
                         fmt_bytes(m["maxrss_bytes"]), fmt_bytes(m["tree_peak_bytes"])])
        lines += [
            f"Peak memory of `streamdistill encode --epochs 1` (child process started from a small "
            f"launcher; `ru_maxrss` and polled tree RSS) on stores of 1×, 4× and 16× one recording "
            f"per montage (19/32/64 ch, {mem['rows_per_group']} windows per group at 1×, N = "
            f"{mem['base_segments']} segments; the copies are hard links under distinct paths, "
            "each size sharded into its own store). `tiny` = `--config tiny` (encode block 256, "
            "shuffle buffer 256, batch 64, all exceeded by every group at 1×). \"fixed\" training "
            "uses `--train-fraction 1/k` so every size trains on ≈ N rows (the loader still "
            "visits the whole store); \"full epoch\" trains on all of it. Encoding always covers "
            "the whole store. The `default` row is the full-size config on the main bench store "
            "(encode block 1024, batch 512), for the absolute number.", "",
            md_table(["config", "store", "segments", "training", "wall s", "peak RSS (maxrss)",
                      "peak tree RSS"], rows), ""]
        if mem.get("verdict"):
            lines += [mem["verdict"], ""]
    return "\n".join(lines)


def memory_verdict(mem: dict[str, Any]) -> str:
    rs = [m for m in mem["rows"] if m["config"] == "tiny" and m["train"] == "fixed"]
    if len(rs) < 2:
        return ""
    lo, hi = rs[0], rs[-1]
    growth = hi["maxrss_bytes"] - lo["maxrss_bytes"]
    per_seg = growth / max(hi["segments"] - lo["segments"], 1)
    full = [m for m in mem["rows"] if m["config"] == "tiny" and m["train"] == "full epoch"]
    txt = (f"Memory against store size (`tiny`, fixed training): {fmt_bytes(lo['maxrss_bytes'])} "
           f"at {lo['scale']}× → {fmt_bytes(hi['maxrss_bytes'])} at {hi['scale']}× "
           f"({100 * growth / lo['maxrss_bytes']:+.1f}%, {per_seg:+.0f} B per added segment)")
    if full:
        txt += (f"; a full epoch over the 16× store peaks at "
                f"{fmt_bytes(full[0]['maxrss_bytes'])}")
    return txt + "."


def read_embedded(doc: Path) -> dict[str, Any]:
    """The JSON results kept inside the doc's encode section (``{'bench': {...}, ...}``)."""
    import re

    out: dict[str, Any] = {}
    if not doc.exists():
        return out
    text = doc.read_text()
    for key, tag in DATA_TAGS.items():
        m = re.search(rf"<!-- {tag}: (.*?) -->", text)
        if m:
            try:
                out[key] = json.loads(m.group(1))
            except ValueError:
                pass
    return out


def _slim_bench(b: dict[str, Any]) -> dict[str, Any]:
    """What the doc keeps of a bench result (no per-epoch histories)."""
    b = json.loads(json.dumps(b))
    for t in b.get("training", []):
        t.pop("history", None)
    return b


def write_doc(doc: Path, *, bench: dict[str, Any] | None = None,
              sanity: dict[str, Any] | None = None) -> Path:
    """Rewrite the encode section from the given results (missing ones are read back from the
    section itself)."""
    kept = read_embedded(doc)
    if bench is not None:
        kept["bench"] = _slim_bench(bench)
    if sanity is not None:
        kept["sanity"] = sanity
    parts = ["## encode", ""]
    b = kept.get("bench")
    if b:
        parts += ["Written by `python -m tools.bench.bench_encode` and "
                  "`python -m tools.bench.latent_sanity` (inputs are generated under `/tmp`). "
                  "To reproduce:", "",
                  "```",
                  "python -m tools.bench.bench_encode --json /tmp/encode_cpu.json   # CPU, ≈ 11 min",
                  "python -m tools.bench.latent_sanity                               # CPU, ≈ 20 min",
                  "# GPU machine (needs mne to write and read the generated FIF corpus):",
                  "python -m tools.bench.bench_encode --device cuda --quick --json encode_cuda.json",
                  "# back here: add its numbers next to the CPU ones",
                  "python -m tools.bench.bench_encode --merge encode_cuda.json",
                  "```", "", "Machine:", "",
                  machine_table(b["machine"]), ""]
        parts.append(render_bench(b))
        for extra in b.get("extra_devices", []):
            parts.append(render_bench(extra, with_machine=True))
        notes = ([read_encode_finding(b["read_encode"])] if b.get("read_encode") else []) \
            + list(NOTES) if b.get("notes") else []  # the current wording of the findings
        if notes:
            parts += ["", "Notes:", ""] + [f"- {n}" for n in notes] + [""]
    else:
        parts += ["(bench_encode not run yet)", ""]
    s = kept.get("sanity")
    if s:
        from tools.bench.latent_sanity import render_sanity

        parts.append(render_sanity(s))
    else:
        parts += ["(latent_sanity not run yet)", ""]
    for key, tag in DATA_TAGS.items():
        if key in kept:
            parts.append(f"<!-- {tag}: {json.dumps(kept[key], separators=(',', ':'))} -->")
    return write_section(doc, SECTION, "\n".join(parts))


def merge(doc: Path, other: dict[str, Any]) -> int:
    """Add a result from another machine/device to the section (replacing one of the same
    device and mode)."""
    existing = read_embedded(doc).get("bench")
    if not existing:
        print("no CPU bench_encode result in the doc yet: run the full CPU benchmark first",
              file=sys.stderr)
        return 1
    other = _slim_bench(other)
    other.pop("extra_devices", None)
    extras = [e for e in existing.get("extra_devices", [])
              if (e["device"], e["quick"]) != (other["device"], other["quick"])]
    existing["extra_devices"] = extras + [other]
    write_doc(doc, bench=existing)
    log(f"merged the {other['device']} result into {doc}")
    return 0


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_rss-child"]:
        return rss_child(argv[1], argv[2])
    p = argparse.ArgumentParser(prog="python -m tools.bench.bench_encode",
                                description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quick", action="store_true", help="small corpus, 2 training epochs, no "
                   "default-config memory rows")
    p.add_argument("--runs", type=int, default=3, help="runs per timing (median; default 3)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: 2 on --device cpu, torch's default on cuda)")
    p.add_argument("--format", default="fif", help="file format of the generated corpus (fif)")
    p.add_argument("--train-epochs", type=int, default=None, help="epochs of the training "
                   "measurement (default 5, quick 2)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="generated corpus and stores")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="outputs (removed)")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--no-doc", action="store_true", help="do not touch docs/benchmarks.md")
    p.add_argument("--skip", action="append", default=[],
                   choices=["read-encode", "training", "memory"])
    p.add_argument("--merge", type=Path, default=None, metavar="JSON",
                   help="run nothing: add the --json result of a run on another machine (e.g. "
                   "--device cuda on a GPU machine) to the encode section, next to the CPU numbers")
    p.add_argument("--render", action="store_true",
                   help="run nothing: rewrite the encode section from the numbers kept in it")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args.doc, json.loads(args.merge.read_text()))
    if args.render:
        write_doc(args.doc)
        return 0
    threads = args.threads if args.threads is not None else (2 if args.device == "cpu" else None)
    epochs = args.train_epochs or (2 if args.quick else 5)
    command = "python -m tools.bench.bench_encode" + ("" if not argv else " " + " ".join(argv))

    import torch

    from streamdistill.encode.run import resolve_device
    from streamdistill.store import open_store

    device = resolve_device(args.device)
    if device.type == "cpu" and threads:
        torch.set_num_threads(threads)
    t_start = time.perf_counter()
    tag = ("quick" if args.quick else "full") + f"-{args.format}"
    args.cache.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    ns, nr, dur = QUICK_CORPUS if args.quick else FULL_CORPUS
    corpus = make_corpus(args.cache / f"corpus-{tag}", ns, nr, dur, args.format)
    store_path = make_store([corpus], args.cache / f"corpus-{tag}.store")
    store = open_store(store_path)
    info = machine_info(PACKAGES)
    info["streamdistill source"] = f"sha256 {source_digest()} over streamdistill/**/*.py"
    if device.type == "cuda":
        info["GPU"] = torch.cuda.get_device_name(device)
    result: dict[str, Any] = {
        "device": args.device, "quick": args.quick, "runs": args.runs, "command": command,
        "torch_threads": torch.get_num_threads(), "machine": info,
        "corpus": {"path": str(corpus), "store": str(store_path), "n_subjects": ns,
                   "recordings_per_subject": nr, "duration_s": dur, "sfreqs": list(SFREQS),
                   "format": args.format, "seed": CORPUS_SEED,
                   "groups": {g: asdict(i) for g, i in store.groups.items()},
                   "description": (f"`generate_corpus` {ns * nr} × {dur:g} s, montages 19/32/64, "
                                   f"{'/'.join(f'{s:g}' for s in SFREQS)} Hz, {args.format}, seed "
                                   f"{CORPUS_SEED}; {store.n_segments} segments")},
        "notes": [] if (args.quick or device.type != "cpu") else list(NOTES),
    }
    log(f"store {store_path}: " + ", ".join(f"{g}: {i.n_segments}" for g, i in store.groups.items()))
    cfg = encode_cfg(args.device, threads)
    if "read-encode" not in args.skip:
        result["read_encode"] = part_read_encode(store, cfg, device, args.runs, args.work)
    if "training" not in args.skip:
        result["training"] = [part_training(store, "cpu", threads or None, epochs, args.work)]
        if device.type == "cuda":
            result["training"].append(part_training(store, "cuda", None, epochs, args.work))
        if device.type == "cpu" and threads:
            torch.set_num_threads(threads)
    if "memory" not in args.skip:
        mem = part_memory(args.cache, args.work, args.device, threads, args.quick, store_path)
        mem["verdict"] = memory_verdict(mem)
        result["memory"] = mem
    result["wall_s"] = time.perf_counter() - t_start
    text = render_bench(result)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str))
        log(f"wrote {args.json}")
    if not args.no_doc and args.device == "cpu" and not args.quick:
        existing = read_embedded(args.doc).get("bench")
        if existing:  # keep device results merged in earlier (e.g. a CUDA run)
            result["extra_devices"] = existing.get("extra_devices", [])
            kept = [k for k in ("read_encode", "training", "memory")
                    if k not in result and k in existing]
            for k in kept:  # a part skipped this time keeps its earlier numbers
                result[k] = existing[k]
            if kept:  # name the run that measured them (the innermost of a chain of merges)
                origin = existing["command"].split("from an earlier run: ")[-1].rstrip(")")
                result["command"] += f"  (parts {', '.join(kept)} from an earlier run: {origin})"
        write_doc(args.doc, bench=result)
        log(f"updated {args.doc}")
    log(f"done in {(time.perf_counter() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
