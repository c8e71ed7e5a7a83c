"""Benchmark of ``streamdistill shard`` against LaBraM's preparation recipe.

Usage (from the repository root)::

    python -m tools.bench.bench_shard            # full run, writes docs/benchmarks.md (shard section)
    python -m tools.bench.bench_shard --quick    # smoke test: 1 run, small corpora, prints only

What it measures (every command runs as a child process, see :mod:`tools.bench.common`):

1. **Throughput**, on the same files, interleaved, ``--runs`` times each (median reported):
   ``streamdistill shard --workers 1`` vs :mod:`tools.bench.labram_reference` (LaBraM's recipe:
   MNE preload, ``filter(0.1, 75)``, ``notch_filter(50)``, FFT ``resample(200)``, float64 HDF5).
   Both are pinned to one CPU with every thread pool at one thread, so hours of EEG per minute is
   per core. Corpora: (a) ``/work/shared/data/eegmmidb`` (71 EDF, 64 ch, 160 Hz, 2.4 h); (b) a
   synthetic 64-channel corpus, 6 × 30 min at 256 Hz (``streamdistill.synth``), generated once into
   the cache folder. Also one ``shard --workers 2`` run on both cores.
2. **Memory scaling**: peak RSS of ``shard --workers 1`` on 1×, 4×, 16× eegmmidb (hard-linked
   copies under distinct paths) and on single 64-channel 160-Hz recordings of 1, 4 and 12 h
   (synth streaming EDF writer); then ``shard`` under ``/work/shared/tools/memcap`` on the 16×
   corpus and the 12-h recording.
3. **Accuracy**: RMS difference (µV) of the blockwise output to whole-recording processing
   (``process_whole``) and to the LaBraM recipe, with and without the first/last 20 s.
4. **Where the time goes**: cProfile of one in-process ``run_shard`` per corpus, by step.

Inputs are generated into ``--cache`` (default ``/tmp/streamdistill-bench-cache``), outputs into
``--work`` (removed after each run); nothing is written into the repository except the
``shard`` section of ``docs/benchmarks.md`` (full runs only, unless ``--no-doc``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tools.bench.common import (
    REPO_ROOT,
    wait_for_quiet,
    SINGLE_THREAD_ENV,
    RunResult,
    dir_bytes,
    fmt_bytes,
    machine_info,
    machine_table,
    md_table,
    median,
    run_measured,
    which,
    write_section,
)

EEGMMIDB = Path("/work/shared/data/eegmmidb")
MEMCAP = Path("/work/shared/tools/memcap")
DEFAULT_CACHE = Path("/tmp/streamdistill-bench-cache")
DEFAULT_WORK = Path("/tmp/streamdistill-bench-work")
DOC = REPO_ROOT / "docs" / "benchmarks.md"
#: Recordings used for the accuracy table (relative to the eegmmidb root).
ACCURACY_FILES = ("S001/S001R03.edf", "S002/S002R04.edf", "S010/S010R12.edf")
EDGE_S = 20.0
#: Before each measured run, wait at most this long for other processes' load to fall below 0.3
#: cores (``--quiet-wait``).
QUIET_WAIT_S = 45.0
#: Folder (under each run's work folder) that holds ``shard``'s filter-kernel cache.
KERNELS = "kernel-cache"
#: The accuracy table reports the share of the difference's power at or above this frequency.
HF_HZ = 70.0
PACKAGES = ("streamdistill", "numpy", "scipy", "mne", "zarr", "numcodecs", "h5py", "pyarrow", "psutil")


def source_digest() -> str:
    """SHA-256 (12 hex) over ``streamdistill/**/*.py``: identifies the code that was measured
    (other engineers may edit the working tree during a run)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted((REPO_ROOT / "streamdistill").rglob("*.py")):
        h.update(str(f.relative_to(REPO_ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def log(msg: str) -> None:
    print(f"[bench_shard {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ corpora


@dataclass
class Corpus:
    """Input of a run: a folder (or file) and its hours of EEG."""

    name: str
    path: Path
    hours: float
    n_files: int
    note: str = ""


def eeg_files(root: Path) -> list[Path]:
    from tools.bench.labram_reference import find_recordings

    return find_recordings(root)


def hours_of(files: list[Path]) -> float:
    """Total duration (h) from the file headers (MNE, no data read)."""
    import mne

    total = 0.0
    for f in files:
        raw = mne.io.read_raw(f, preload=False, verbose="error")
        total += raw.n_times / raw.info["sfreq"]
    return total / 3600


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:  # another file system or no permission: copy (cache only, never the repo)
        shutil.copy2(src, dst)


def linked_copies(src_root: Path, files: list[Path], dest: Path, k: int) -> Path:
    """``k`` copies of ``files`` (hard links, distinct paths ``copyNN/<relative path>``)."""
    done = dest / "done.json"
    if done.exists():
        return dest
    for j in range(k):
        for f in files:
            _link_or_copy(f, dest / f"copy{j:02d}" / f.relative_to(src_root))
    done.write_text(json.dumps({"copies": k, "files": len(files)}))
    return dest


def synth_corpus(dest: Path, n_rec: int, duration_s: float, sfreq: float, seed: int = 2024) -> Path:
    """``n_rec`` synthetic 64-channel EDF recordings (10-10 names, no EOG/ECG, 50 Hz line noise,
    default artifacts), written by the synth streaming EDF writer; cached."""
    from streamdistill.synth.corpus import make_recording
    from streamdistill.synth.writers import write_recording

    done = dest / "done.json"
    if done.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n_rec):
        rec = make_recording(64, sfreq, duration_s, seed=(seed, i, 1), line_freq=50.0)
        path = dest / f"sub-{i + 1:03d}_run-01_eeg.edf"
        log(f"generating {path} ({duration_s / 3600:.2f} h, {sfreq:g} Hz)")
        write_recording(rec, path, "edf", line_freq=50.0, stream=True)
    done.write_text(json.dumps({"n": n_rec, "duration_s": duration_s, "sfreq": sfreq, "seed": seed}))
    return dest


def long_recording(dest_dir: Path, hours: float, sfreq: float = 160.0, seed: int = 77) -> Path:
    """One 64-channel recording of ``hours`` h (synth streaming EDF writer); cached."""
    from streamdistill.synth.corpus import make_recording
    from streamdistill.synth.writers import write_recording

    path = dest_dir / f"rec_{hours:g}h_{sfreq:g}hz" / "recording.edf"
    done = path.with_suffix(".done")
    if done.exists():
        return path.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"generating {path} ({hours:g} h, {sfreq:g} Hz)")
    rec = make_recording(64, sfreq, hours * 3600, seed=(seed, int(hours * 100)), line_freq=50.0)
    write_recording(rec, path, "edf", line_freq=50.0, stream=True)
    done.write_text("ok")
    return path.parent


def make_corpus(name: str, path: Path, note: str = "", hours: float | None = None) -> Corpus:
    """A corpus; ``hours`` from the file headers unless given (hard-linked copies)."""
    files = eeg_files(path)
    return Corpus(name, path, hours_of(files) if hours is None else hours, len(files), note)


# -------------------------------------------------------------------------------- runners


def ours_cmd(inp: Path, out: Path, workers: int = 1, extra: tuple[str, ...] = ()) -> list[str]:
    return [which("streamdistill"), "shard", str(inp), "--out", str(out), "--workers", str(workers),
            "--no-progress", *extra]


def ref_cmd(inp: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tools.bench.labram_reference", str(inp), str(out), "--quiet"]


@dataclass
class Measured:
    """Runs of one command on one corpus, plus what they wrote."""

    runs: list[RunResult] = field(default_factory=list)
    out_bytes: int = 0

    @property
    def wall(self) -> float:
        return median([r.wall_s for r in self.runs])

    @property
    def maxrss(self) -> float:
        return median([r.maxrss_bytes for r in self.runs])

    @property
    def tree_peak(self) -> float:
        return median([r.tree_peak_bytes for r in self.runs])

    @property
    def cpu(self) -> float:
        return median([r.cpu_s for r in self.runs])

    @property
    def background(self) -> float:
        return median([r.background_cores for r in self.runs])


def measure(cmd_for: Callable[[Path], list[str]], out: Path, *, cpus: set[int] | None,
            keep_size: bool, into: Measured, timeout_s: float | None = None,
            quiet: bool = True, kernels: Path | None = None) -> RunResult:
    """One run into a fresh ``out``; record its output size (if asked) and remove ``out``.
    Waits first (at most ``QUIET_WAIT_S``) for other processes' load to settle. ``kernels``:
    the filter-kernel cache folder of ``shard`` (``STREAMDISTILL_CACHE_DIR``; default
    ``KERNELS`` under the work folder, so the user's own cache plays no part)."""
    shutil.rmtree(out, ignore_errors=True)
    if quiet and QUIET_WAIT_S > 0:
        waited, load = wait_for_quiet(QUIET_WAIT_S)
        if waited > 2.5:
            log(f"  waited {waited:.0f} s for a quiet machine (load now {load:.2f} cores)")
    env = {**SINGLE_THREAD_ENV, "STREAMDISTILL_CACHE_DIR": str(kernels or out.parent / KERNELS)}
    res = run_measured(cmd_for(out), env=env, cpus=cpus, cwd=REPO_ROOT, timeout_s=timeout_s)
    res.check()
    if keep_size:
        into.out_bytes = dir_bytes(out)
    into.runs.append(res)
    shutil.rmtree(out, ignore_errors=True)
    return res


def throughput(corpora: list[Corpus], runs: int, work: Path) -> dict[str, Any]:
    """Interleaved runs on every corpus: ours on a machine that has never designed the filter
    kernels (empty kernel cache: the user's first run), ours (kernels cached, as every later
    run), the reference, ours ``--durable``; plus one ``--workers 2`` run each."""
    results: dict[str, Any] = {}
    one_cpu = {sorted(os.sched_getaffinity(0))[0]}
    for c in corpora:
        ours, ref, two, durable, first = (Measured(), Measured(), Measured(), Measured(),
                                          Measured())
        for i in range(runs):
            log(f"throughput {c.name}: run {i + 1}/{runs} ours, empty kernel cache")
            shutil.rmtree(work / KERNELS, ignore_errors=True)
            r = measure(lambda o: ours_cmd(c.path, o), work / "ours", cpus=one_cpu,
                        keep_size=False, into=first)
            log(f"  ours (first run) {r.wall_s:.1f} s, cpu {r.cpu_s:.1f} s")
            log(f"throughput {c.name}: run {i + 1}/{runs} ours")
            r = measure(lambda o: ours_cmd(c.path, o), work / "ours", cpus=one_cpu,
                        keep_size=i == 0, into=ours)
            log(f"  ours {r.wall_s:.1f} s, cpu {r.cpu_s:.1f} s, maxrss {fmt_bytes(r.maxrss_bytes)}, "
                f"background {r.background_cores:.2f} cores")
            log(f"throughput {c.name}: run {i + 1}/{runs} reference")
            r = measure(lambda o: ref_cmd(c.path, o), work / "ref", cpus=one_cpu,
                        keep_size=i == 0, into=ref)
            log(f"  reference {r.wall_s:.1f} s, cpu {r.cpu_s:.1f} s, maxrss {fmt_bytes(r.maxrss_bytes)}, "
                f"background {r.background_cores:.2f} cores")
            r = measure(lambda o: ours_cmd(c.path, o, extra=("--durable",)), work / "durable",
                        cpus=one_cpu, keep_size=False, into=durable)
            log(f"  ours --durable {r.wall_s:.1f} s, cpu {r.cpu_s:.1f} s")
        log(f"throughput {c.name}: ours --workers 2")
        cpus2 = set(sorted(os.sched_getaffinity(0))[:2])
        r = measure(lambda o: ours_cmd(c.path, o, workers=2), work / "ours2", cpus=cpus2,
                    keep_size=True, into=two)
        log(f"  ours -w2 {r.wall_s:.1f} s on {len(cpus2)} cores")
        results[c.name] = {"corpus": c, "ours": ours, "ref": ref, "two": two,
                           "durable": durable, "first": first, "two_cores": len(cpus2)}
    return results


_MEMCAP_RE = re.compile(r"memcap: limit (\S+), peak (\S+), exit (-?\d+)")


def _iec(text: str) -> float:
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    text = text.strip()
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def prime_kernels(corpus: Corpus) -> None:
    """Design (into the bench's kernel cache) the filter kernels of the corpus's first file's
    rate, so that a measured run reads them as every run after a user's first does."""
    import mne

    from streamdistill.config import PreprocessConfig
    from streamdistill.shard.preprocess import make_plan

    first = corpus.path if corpus.path.is_file() else eeg_files(corpus.path)[0]
    sfreq = mne.io.read_raw(first, preload=False, verbose="error").info["sfreq"]
    make_plan(sfreq, PreprocessConfig())


def memory(sets: list[tuple[str, Corpus, bool]], work: Path, cap: str,
           baseline: dict[str, Measured]) -> list[dict[str, Any]]:
    """Peak RSS of ``shard --workers 1`` per corpus; those flagged also run under ``memcap cap``.
    Filter kernels are cached beforehand (:func:`prime_kernels`): the first-run rows of the
    throughput section give the cost of designing them."""
    rows: list[dict[str, Any]] = []
    one_cpu = {sorted(os.sched_getaffinity(0))[0]}
    for _kind, c, _capped in sets:
        prime_kernels(c)
    for kind, c, capped in sets:
        if c.name in baseline:  # reuse the throughput runs (median of them)
            m = baseline[c.name]
            row = {"kind": kind, "corpus": c, "wall": m.wall, "maxrss": m.maxrss,
                   "tree": m.tree_peak, "runs": len(m.runs)}
        else:
            log(f"memory {c.name}: {c.hours:.1f} h")
            m = Measured()
            r = measure(lambda o: ours_cmd(c.path, o), work / "mem", cpus=one_cpu,
                        keep_size=False, into=m, quiet=False)
            log(f"  {r.wall_s:.1f} s, maxrss {fmt_bytes(r.maxrss_bytes)}")
            row = {"kind": kind, "corpus": c, "wall": r.wall_s, "maxrss": r.maxrss_bytes,
                   "tree": r.tree_peak_bytes, "runs": 1}
        if capped:
            row["memcap"] = memcap_run(c, work, cap, one_cpu)
        rows.append(row)
    return rows


def memcap_run(c: Corpus, work: Path, cap: str, cpus: set[int]) -> dict[str, Any]:
    log(f"memcap {cap}: {c.name}")
    out = work / "memcap"
    shutil.rmtree(out, ignore_errors=True)
    res = run_measured([str(MEMCAP), cap, *ours_cmd(c.path, out)], env=SINGLE_THREAD_ENV,
                       cpus=cpus, cwd=REPO_ROOT)
    shutil.rmtree(out, ignore_errors=True)
    found = _MEMCAP_RE.findall(res.stderr_tail)
    info: dict[str, Any] = {"cap": cap, "rc": res.returncode, "wall": res.wall_s,
                            "maxrss": res.maxrss_bytes, "peak": None}
    if found:
        info["peak"] = _iec(found[-1][1])
    if res.returncode == 77:
        info["note"] = "memcap unavailable here (no writable memory cgroup)"
    elif res.returncode != 0:
        info["note"] = res.stderr_tail.splitlines()[-3:] if res.stderr_tail else []
    summary = [ln for ln in res.stdout_tail.splitlines() if ln.startswith("shard:")]
    info["summary"] = summary[-1] if summary else ""
    log(f"  rc {res.returncode}, cgroup peak {fmt_bytes(info['peak'] or 0)}, {res.wall_s:.1f} s")
    return info


# ------------------------------------------------------------------------------- accuracy


def _rms(x) -> float:
    import numpy as np

    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _power_share_above(d, sfreq: float, f0: float) -> float:
    """Share of the power of ``d: (C, n)`` at frequencies ≥ ``f0`` Hz (Welch, 1024 samples)."""
    from scipy.signal import welch

    f, p = welch(d, fs=sfreq, nperseg=min(1024, d.shape[1]), axis=1)
    p = p.mean(axis=0)
    return float(p[f >= f0].sum() / max(p.sum(), 1e-300))


def accuracy(paths: list[Path], min_block: bool) -> list[dict[str, Any]]:
    """Blockwise output vs ``process_whole`` and vs the LaBraM recipe, per recording (µV RMS)."""
    import dataclasses

    import numpy as np

    from streamdistill.config import PreprocessConfig
    from streamdistill.shard.preprocess import iter_blocks, make_plan, process_whole
    from streamdistill.shard.reader import open_recording
    from tools.bench.labram_reference import prepare

    rows = []
    for path in paths:
        log(f"accuracy {path}")
        base = PreprocessConfig()
        rec = open_recording(str(path), base)
        # Short recordings fit one default block; use the shortest block the filters allow so
        # that block edges are exercised (the plan raises a too-short block to its minimum).
        block_s = 1.0 if min_block else base.block_s
        x = rec.read(0, rec.n_times)
        ref, ref_names = prepare(path)
        order = [ref_names.index(k.upper()) for k in rec.report.kept]
        ref = ref[order]
        row: dict[str, Any] = {"file": path.name, "duration_s": rec.duration_s,
                               "sfreq_in": rec.sfreq}
        for dtype in ("float32", "float64"):
            cfg = dataclasses.replace(base, dsp_dtype=dtype)
            plan = make_plan(rec.sfreq, cfg)
            blocks = list(iter_blocks(rec.read, rec.n_times, plan, block_s))
            ours = np.concatenate([b.data for b in blocks], axis=1)
            whole = np.asarray(process_whole(x, plan), np.float64)[:, : ours.shape[1]]
            n = min(ours.shape[1], ref.shape[1])
            e = int(EDGE_S * plan.sfreq_out)
            row[dtype] = {
                "n_blocks": len(blocks),
                "vs_whole": _rms(ours - whole),
                "vs_labram_interior": _rms(ours[:, e:n - e] - ref[:, e:n - e]),
                "vs_labram_all": _rms(ours[:, :n] - ref[:, :n]),
                "max_labram_interior": float(np.abs(ours[:, e:n - e] - ref[:, e:n - e]).max()),
                "hf_share": _power_share_above(ours[:, e:n - e] - ref[:, e:n - e], plan.sfreq_out,
                                               HF_HZ),
            }
            if dtype == "float32":
                row["signal_rms"] = _rms(ref[:, e:n - e])
                row["fp16_step_rms"] = _rms(ours.astype(np.float16).astype(np.float64) - ours)
                row["len_ours"], row["len_ref"] = ours.shape[1], ref.shape[1]
        rows.append(row)
    return rows


# -------------------------------------------------------------------------------- profile

#: Steps of a shard run: (label, file name suffix, function names); cumulative times. Steps are
#: disjoint (none calls another), so "other" is the remainder of ``run_shard``.
PROFILE_STEPS = (
    ("open file (MNE header, channels)", "shard/reader.py", ("open_recording",)),
    ("SHA-256 of the input", "streamdistill/io_utils.py", ("sha256_file",)),
    ("filter design (make_plan)", "shard/preprocess.py", ("make_plan",)),
    ("read blocks (MNE get_data)", "shard/reader.py", ("read",)),
    ("FIR band-pass + notch (_filter)", "shard/preprocess.py", ("_filter",)),
    ("polyphase resample (_resample)", "shard/preprocess.py", ("_resample",)),
    ("NaN/flat flags", "shard/preprocess.py", ("_input_flags", "_flags_to_output")),
    ("fp16 cast", "shard/segments.py", ("to_storage", "to_storage_block")),
    ("windows to the memory spool / staging file", "shard/staging.py", ("append", "close")),
    ("result record (_finish)", "shard/recording.py", ("_finish",)),
    ("commit (shard files + parquet parts)", "shard/commit.py", ("commit",)),
    ("finalize (parquet, store.json)", "shard/commit.py", ("finalize",)))


def profile_child(inp: str, out: str) -> int:
    """Hidden entry point: cProfile an in-process ``run_shard`` (workers 1), print JSON."""
    import cProfile
    import pstats

    t0 = time.perf_counter()
    from streamdistill.config import ShardConfig
    from streamdistill.shard.run import run_shard
    import streamdistill.shard.commit  # noqa: F401 - import cost is counted as startup
    t_import = time.perf_counter() - t0
    cfg = ShardConfig()
    cfg.workers = 1
    shutil.rmtree(out, ignore_errors=True)
    prof = cProfile.Profile()
    t1 = time.perf_counter()
    prof.enable()
    run_shard([inp], out, cfg, progress=False)
    prof.disable()
    wall = time.perf_counter() - t1
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    steps = {}
    for label, suffix, funcs in PROFILE_STEPS:
        steps[label] = sum(v[3] for (fn, _ln, name), v in stats.items()
                           if fn.endswith(suffix) and name in funcs)
    total = sum(v[3] for (fn, _ln, name), v in stats.items()
                if fn.endswith("shard/run.py") and name == "run_shard")
    print(json.dumps({"imports_s": t_import, "run_shard_s": total, "wall_s": wall, "steps": steps}))
    shutil.rmtree(out, ignore_errors=True)
    return 0


def profile(corpora: list[Corpus], work: Path) -> dict[str, Any]:
    out = {}
    one_cpu = {sorted(os.sched_getaffinity(0))[0]}
    for c in corpora:
        log(f"profile {c.name}")
        res = run_measured([sys.executable, "-m", "tools.bench.bench_shard", "--_profile", str(c.path),
                            str(work / "prof")], env=SINGLE_THREAD_ENV, cpus=one_cpu,
                           cwd=REPO_ROOT).check()
        out[c.name] = json.loads(res.stdout_tail.splitlines()[-1])
    return out


# ------------------------------------------------------------------------------- markdown


def hpm(hours: float, wall_s: float, cores: int = 1) -> float:
    """Hours of EEG per minute per core."""
    return hours / (wall_s / 60) / cores


def render(args, info, tp, mem, sweep, acc, prof, total_s: float) -> str:
    parts: list[str] = []
    parts.append("## shard: `streamdistill shard` vs LaBraM's preparation recipe\n")
    parts.append(f"Command: `{args.command_line}` (total {total_s / 60:.1f} min"
                 f"{', QUICK smoke run: 1 run, small corpora' if args.quick else ''}).\n")
    parts.append(machine_table(info) + "\n")
    parts.append(
        "**Setup.** Ours: `streamdistill shard INPUT --out STORE --workers 1 --no-progress` "
        "(defaults: 0.1–75 Hz band-pass + 50 Hz notch as one combined FIR kernel, float32 DSP, "
        "polyphase resampling to 200 Hz, 300-s blocks, 4-s windows, Zarr v3 fp16 blosc-lz4 + "
        "bit-shuffle; filter kernels read from the kernel cache that the interleaved first-run "
        "measurement below fills, as on every run after a user's first). Reference: "
        "`python -m tools.bench.labram_reference INPUT OUT` — LaBraM's recipe per recording "
        "(`read_raw_edf(preload=True)`, drop M1/M2/VEO/HEO/ECG, `filter(0.1, 75)`, "
        "`notch_filter(50)`, `resample(200)` FFT, `get_data(units='uV')` float64 into one HDF5 file "
        "per recording, chunks (C, 200), as `make_h5dataset_for_pretrain.py`; `n_jobs=1`). Each is "
        "a child process pinned to one CPU (`sched_setaffinity`) with `OMP_NUM_THREADS`, "
        "`OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS` ... = 1, runs interleaved (ours, reference, "
        f"ours, ...), {args.runs} run(s) each, median reported; wall time includes Python start-up "
        "and imports. Hours are hours of input EEG (file headers). Peak RSS is `ru_maxrss` from "
        "`os.wait4` on the child (exact kernel peak of the largest process in its tree); the "
        "`--workers 2` row also gives the summed RSS of the whole process tree from psutil polling "
        "every 50 ms. Output bytes: all files of the store directory vs all HDF5 files. "
        "CPU s: user + system time of the child; the CPU-time ratio is less sensitive to other "
        "jobs on the machine than the wall-time ratio. Background load: cores kept busy by other "
        "processes during the run (system-wide busy time minus the child's, includes this "
        f"script's 50-ms RSS poller); before each run the script waits up to {QUIET_WAIT_S:g} s "
        "for it to fall below 0.3 cores.\n")
    # throughput table
    rows = []
    for name, r in tp.items():
        c: Corpus = r["corpus"]
        o, f, two = r["ours"], r["ref"], r["two"]
        rows.append([
            f"{name} ({c.n_files} files, {c.hours:.2f} h)",
            f"{o.wall:.1f} s", f"{f.wall:.1f} s",
            f"{hpm(c.hours, o.wall):.1f}", f"{hpm(c.hours, f.wall):.1f}",
            f"**{f.wall / o.wall:.2f}×**", f"{o.cpu:.1f} s / {f.cpu:.1f} s", f"{f.cpu / o.cpu:.2f}×",
            f"{o.background:.2f} / {f.background:.2f}",
            fmt_bytes(o.maxrss), fmt_bytes(f.maxrss),
            fmt_bytes(o.out_bytes / c.hours), fmt_bytes(f.out_bytes / c.hours),
            f"{f.out_bytes / max(o.out_bytes, 1):.1f}×",
        ])
    parts.append("### Throughput, one core\n")
    parts.append(md_table(
        ["corpus", "ours wall", "ref wall", "ours h EEG/min/core", "ref h EEG/min/core",
         "ours/ref speed (wall)", "CPU s ours / ref", "ours/ref speed (CPU)",
         "background load ours / ref (cores)", "ours peak RSS", "ref peak RSS", "ours bytes/h", "ref bytes/h",
         "ref/ours bytes"], rows) + "\n")
    runs_detail = "; ".join(
        f"{n}: ours " + ", ".join(f"{x.wall_s:.1f}" for x in r["ours"].runs)
        + " s, ref " + ", ".join(f"{x.wall_s:.1f}" for x in r["ref"].runs) + " s"
        for n, r in tp.items())
    parts.append(f"Individual wall times — {runs_detail}. CPU time (median) — " + "; ".join(
        f"{n}: ours {r['ours'].cpu:.1f} s, ref {r['ref'].cpu:.1f} s" for n, r in tp.items()) + ".\n")
    if all(r.get("first") and r["first"].runs for r in tp.values()):
        parts.append("Ours on a machine that has never designed the filter kernels (kernel cache "
                     "emptied before each run, so MNE and `scipy.signal` design them: a user's "
                     "very first run), interleaved with the runs above — " + "; ".join(
                         f"{n}: {r['first'].wall:.1f} s wall, {r['first'].cpu:.1f} s CPU, "
                         f"{r['ref'].wall / r['first'].wall:.2f}× the reference's speed, peak RSS "
                         f"{fmt_bytes(r['first'].maxrss)} (`scipy.signal` loaded)"
                         for n, r in tp.items()) + ".\n")
    if all(r.get("durable") and r["durable"].runs for r in tp.values()):
        parts.append("`shard --durable` (fsync of every commit: shard files, table part, ledger "
                     "line), interleaved with the runs above, same pinning — " + "; ".join(
                         f"{n}: {r['durable'].wall:.1f} s wall, {r['durable'].cpu:.1f} s CPU, "
                         f"{r['durable'].wall / r['ours'].wall:.2f}× the default's wall time, "
                         f"{r['ref'].wall / r['durable'].wall:.2f}× the reference's speed"
                         for n, r in tp.items()) + ".\n")
    rows = []
    for name, r in tp.items():
        c, two, k = r["corpus"], r["two"], r["two_cores"]
        rows.append([name, f"{two.wall:.1f} s", f"{hpm(c.hours, two.wall):.1f}",
                     f"{hpm(c.hours, two.wall, k):.1f}", f"{r['ours'].wall / two.wall:.2f}×",
                     fmt_bytes(two.maxrss), fmt_bytes(two.tree_peak)])
    parts.append(f"### `shard --workers 2` ({tp and next(iter(tp.values()))['two_cores']} cores, 1 run)\n")
    parts.append(md_table(["corpus", "wall", "h EEG/min (total)", "h EEG/min/core",
                           "speed-up vs --workers 1", "ru_maxrss (largest process)",
                           "tree RSS peak (psutil)"], rows) + "\n")
    # memory
    if mem:
        parts.append("### Memory scaling (`shard --workers 1`)\n")
        rows = []
        for m in mem:
            c = m["corpus"]
            rows.append([m["kind"], f"{c.n_files}", f"{c.hours:.2f}", f"{m['wall']:.1f} s",
                         f"{hpm(c.hours, m['wall']):.1f}", fmt_bytes(m["maxrss"]),
                         fmt_bytes(m["tree"]), m["runs"]])
        parts.append(md_table(["input", "files", "hours", "wall", "h/min/core", "peak RSS (ru_maxrss)",
                               "peak RSS (psutil)", "runs"], rows) + "\n")
        rows = []
        for m in mem:
            mc = m.get("memcap")
            if not mc:
                continue
            c = m["corpus"]
            peak = fmt_bytes(mc["peak"]) if mc["peak"] is not None else "n/a"
            rows.append([m["kind"], f"{c.hours:.2f} h", mc["cap"], peak, fmt_bytes(mc["maxrss"]),
                         mc["rc"], f"{mc['wall']:.1f} s", mc.get("summary") or mc.get("note", "")])
        if rows:
            parts.append(f"Out-of-core check: `{MEMCAP} CAP streamdistill shard INPUT --out STORE "
                         "--workers 1 --no-progress` (cgroup v2 / v1 memory limit; the cgroup's peak "
                         "counts RSS **plus page cache** charged to it — input files read and store "
                         "files written — which the kernel reclaims under the cap, so a peak close to "
                         "the cap is expected and is not the process's RSS).\n")
            parts.append(md_table(["input", "hours", "cap", "cgroup peak", "ru_maxrss", "exit code",
                                   "wall", "result"], rows) + "\n")
        if sweep:
            c0 = sweep[0][0]
            parts.append(f"Lowest cap: the same on {c0.name} ({c0.hours:.2f} h) under smaller caps. "
                         "`ru_maxrss` can exceed the cgroup peak: shared-library pages already in the "
                         "page cache count in RSS but are charged to the cgroup that first read them.\n")
            parts.append(md_table(["cap", "exit code", "cgroup peak", "ru_maxrss", "wall", "result"], [
                [mc["cap"], mc["rc"], fmt_bytes(mc["peak"]) if mc["peak"] is not None else "n/a",
                 fmt_bytes(mc["maxrss"]), f"{mc['wall']:.1f} s",
                 mc.get("summary")
                 or ("killed (over the cap)" if mc["rc"] == 137 else str(mc.get("note", "")))]
                for _c, mc in sweep]) + "\n")
    # accuracy
    if acc:
        parts.append("### Accuracy of the blockwise output (µV RMS over all channels and samples)\n")
        parts.append(
            "Blockwise = `iter_blocks` as `shard` runs it (before the fp16 cast); whole = "
            "`process_whole` (same kernel, whole recording in memory); LaBraM = the reference "
            f"recipe above. \"interior\" leaves out the first and last {EDGE_S:g} s. eegmmidb "
            "recordings use the shortest block the filters allow (so they have several block "
            "edges); the synthetic one the default 300-s blocks. Last columns: the same with "
            "`--dsp-dtype float64` (isolates the float32 arithmetic).\n")
        rows = []
        for a in acc:
            f32, f64 = a["float32"], a["float64"]
            rows.append([
                a["file"], f"{a['duration_s']:.0f} s @ {a['sfreq_in']:g} Hz", f32["n_blocks"],
                f"{a['signal_rms']:.1f}", f"{f32['vs_whole']:.1e}", f"{f32['vs_labram_interior']:.3f}",
                f"{f32['vs_labram_all']:.3f}", f"{f32['max_labram_interior']:.2f}",
                f"{f32['hf_share']:.0%}",
                f"{a['fp16_step_rms']:.1e}", f"{f64['vs_whole']:.1e}",
                f"{f64['vs_labram_interior']:.3f}", f"{f64['vs_labram_all']:.3f}",
            ])
        parts.append(md_table(
            ["recording", "length", "blocks", "signal RMS", "blockwise − whole",
             "− LaBraM (interior)", "− LaBraM (all)", "max abs − LaBraM (interior)",
             f"share of (interior) difference power ≥ {HF_HZ:g} Hz",
             "fp16 storage step", "f64: − whole", "f64: − LaBraM (interior)",
             "f64: − LaBraM (all)"], rows) + "\n")
    # profile
    if prof:
        parts.append("### Where `shard --workers 1` spends its time (cProfile, in-process `run_shard`)\n")
        labels = [s[0] for s in PROFILE_STEPS]
        rows = []
        for label in ["imports (streamdistill, mne, scipy, zarr)"] + labels + ["other"]:
            row = [label]
            for _name, p in prof.items():
                if label.startswith("imports"):
                    v = p["imports_s"]
                elif label == "other":
                    v = p["run_shard_s"] - sum(p["steps"][x] for x in labels)
                else:
                    v = p["steps"][label]
                share = v / (p["run_shard_s"] + p["imports_s"])
                row.append(f"{v:.2f} s ({share:.0%})")
            rows.append(row)
        rows.append(["total (profiled)"] + [f"{p['run_shard_s'] + p['imports_s']:.2f} s"
                                            for p in prof.values()])
        parts.append(md_table(["step"] + list(prof), rows) + "\n")
        parts.append("cProfile adds overhead to Python-level calls, so the total is above the "
                     "unprofiled wall time; the shares are what to read. \"read blocks\" is "
                     "nested in the filter loop, not inside `_filter`.\n")
    parts.append("### Reading\n")
    parts.append(reading(tp, mem, sweep, acc, prof) + "\n")
    return "\n".join(parts)


def reading(tp, mem, sweep, acc, prof) -> str:
    lines = []
    for name, r in tp.items():
        ratio = r["ref"].wall / r["ours"].wall
        verdict = "meets" if ratio >= 2 else "misses"
        cratio = r["ref"].cpu / r["ours"].cpu
        lines.append(f"- {name}: ours is {ratio:.2f}× the reference's throughput per core by wall "
                     f"time ({verdict} the ≥ 2× target), {cratio:.2f}× by CPU time, at "
                     f"{fmt_bytes(r['ours'].maxrss)} vs "
                     f"{fmt_bytes(r['ref'].maxrss)} peak RSS, and writes "
                     f"{r['ref'].out_bytes / max(r['ours'].out_bytes, 1):.1f}× fewer bytes "
                     "(fp16 + blosc-lz4 vs float64 HDF5).")
    if mem:
        families = {
            "multi-file corpus (hard-linked copies)": [m for m in mem if m["corpus"].n_files > 1],
            "single recording": [m for m in mem if m["corpus"].n_files == 1],
        }
        for fam, ms in families.items():
            if len(ms) < 2:
                continue
            lo, hi = min(ms, key=lambda m: m["corpus"].hours), max(ms, key=lambda m: m["corpus"].hours)
            rss = [m["maxrss"] for m in ms]
            lines.append(
                f"- Peak RSS, {fam}: {fmt_bytes(lo['maxrss'])} at {lo['corpus'].hours:.1f} h → "
                f"{fmt_bytes(hi['maxrss'])} at {hi['corpus'].hours:.1f} h "
                f"({hi['corpus'].hours / lo['corpus'].hours:.0f}× the input; RSS range "
                f"{fmt_bytes(min(rss))} – {fmt_bytes(max(rss))}, "
                f"{max(rss) / min(rss) - 1:+.1%} max/min).")
        multi = sorted(families["multi-file corpus (hard-linked copies)"], key=lambda m: m["corpus"].n_files)
        if len(multi) >= 2 and multi[-1]["corpus"].n_files > multi[0]["corpus"].n_files:
            # slope between the two largest corpora (least affected by start-up effects)
            per_file = (multi[-1]["maxrss"] - multi[-2]["maxrss"]) / (
                multi[-1]["corpus"].n_files - multi[-2]["corpus"].n_files)
            lines.append(f"- Between the two largest multi-file corpora the peak grows by "
                         f"≈ {per_file / 1024:.1f} KiB per "
                         f"input file ({per_file * 1e5 / 2**30:.2f} GiB extrapolated to 100,000 files): "
                         "state kept per recording for the whole run, not per hour of EEG.")
        if all(len(v) for v in families.values()):
            lines.append("- The two families differ by the block actually processed: eegmmidb files "
                         "are 1–2 min, each one short block; the long recordings run full 300-s "
                         "blocks (`--block-s` sets this part of the memory).")
        for m in mem:
            mc = m.get("memcap")
            if mc:
                ok = "completed" if mc["rc"] == 0 else f"exited {mc['rc']}"
                lines.append(f"- Under `memcap {mc['cap']}`, {m['kind']} ({m['corpus'].hours:.1f} h) "
                             f"{ok}.")
    for name, p in prof.items():
        labels = [x[0] for x in PROFILE_STEPS]
        items = [("imports", p["imports_s"])] + [(k, p["steps"][k]) for k in labels]
        tot = p["run_shard_s"] + p["imports_s"]
        top = sorted(items, key=lambda kv: -kv[1])[:4]
        lines.append(f"- Profile, {name}: " + ", ".join(f"{k} {v / tot:.0%}" for k, v in top) + ".")
    if sweep:
        passed = [mc["cap"] for _c, mc in sweep if mc["rc"] == 0]
        failed = [mc["cap"] for _c, mc in sweep if mc["rc"] == 137]
        lines.append(f"- Cap sweep on {sweep[0][0].name}: completes under "
                     f"{', '.join(passed) or 'none'}; killed under {', '.join(failed) or 'none'}.")
    if acc:
        w = max(a["float32"]["vs_whole"] for a in acc)
        li = max(a["float32"]["vs_labram_interior"] for a in acc)
        la = max(a["float32"]["vs_labram_all"] for a in acc)
        step = min(a["fp16_step_rms"] for a in acc)
        lines.append(f"- Blockwise equals whole-recording processing to ≤ {w:.1e} µV RMS. Against "
                     f"the LaBraM recipe the difference is ≤ {li:.3f} µV RMS in the interior and "
                     f"≤ {la:.3f} µV RMS with the edges, for signals of "
                     f"{min(a['signal_rms'] for a in acc):.0f}–{max(a['signal_rms'] for a in acc):.0f} "
                     f"µV RMS (the fp16 storage step alone is ≥ {step:.1e} µV RMS).")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_profile"]:
        return profile_child(argv[1], argv[2])
    p = argparse.ArgumentParser(prog="python -m tools.bench.bench_shard", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: 1 run, small corpora; prints "
                   "the Markdown instead of writing docs/benchmarks.md")
    p.add_argument("--runs", type=int, default=None, help="runs per command (default 3, quick 1)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="generated inputs (kept)")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="outputs (removed after runs)")
    p.add_argument("--cap", default="512M", help="memcap limit for the out-of-core runs (default 512M)")
    p.add_argument("--cap-sweep", default="384M,320M,256M",
                   help="caps tried on the shortest long recording to find the floor ('' to skip)")
    p.add_argument("--doc", type=Path, default=None, help=f"Markdown file to update (default {DOC} "
                   "for full runs, none for --quick)")
    p.add_argument("--no-doc", action="store_true", help="do not write the Markdown file")
    p.add_argument("--skip", action="append", default=[],
                   choices=["throughput", "memory", "accuracy", "profile"], help="skip a part")
    p.add_argument("--quiet-wait", type=float, default=QUIET_WAIT_S,
                   help="seconds to wait, before each measured run, for a quiet machine (default 45)")
    args = p.parse_args(argv)
    globals()["QUIET_WAIT_S"] = args.quiet_wait
    args.runs = args.runs or (1 if args.quick else 3)
    args.command_line = "python -m tools.bench.bench_shard" + ("" if not argv else " " + " ".join(argv))
    doc = None if args.no_doc else (args.doc or (None if args.quick else DOC))
    t0 = time.perf_counter()
    os.environ.update(SINGLE_THREAD_ENV)
    cache, work = args.cache, args.work
    # shard's filter-kernel cache: the bench's own (memory runs, memcap, profile inherit it)
    os.environ["STREAMDISTILL_CACHE_DIR"] = str(work / KERNELS)
    cache.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)

    base_files = eeg_files(EEGMMIDB)
    if args.quick:
        sub = [f for f in base_files if f.relative_to(EEGMMIDB).parts[0] in ("S001", "S002")]
        eeg = make_corpus("eegmmidb-S001-S002", linked_copies(EEGMMIDB, sub, cache / "eegmmidb_quick", 1))
        syn = make_corpus("synth64-256Hz", synth_corpus(cache / "synth64_256hz_quick", 1, 600.0, 256.0),
                          "1 × 10 min")
        scale = [("eegmmidb subset ×4", sub, 4, False)]
        long_hours, cap_long = (0.1, 0.25), 0.25
    else:
        eeg = make_corpus("eegmmidb", EEGMMIDB)
        syn = make_corpus("synth64-256Hz", synth_corpus(cache / "synth64_256hz_3h", 6, 1800.0, 256.0),
                          "6 × 30 min")
        scale = [("eegmmidb ×4", base_files, 4, False), ("eegmmidb ×16", base_files, 16, True)]
        long_hours, cap_long = (1.0, 4.0, 12.0), 12.0
    corpora = [eeg, syn]
    info = machine_info(PACKAGES)
    digest0 = source_digest()
    info["streamdistill source"] = f"sha256 {digest0} over streamdistill/**/*.py"
    log(f"source digest {digest0}")

    tp: dict[str, Any] = {}
    if "throughput" not in args.skip:
        tp = throughput(corpora, args.runs, work)
    mem: list[dict[str, Any]] = []
    sweep: list[tuple[Corpus, dict[str, Any]]] = []
    if "memory" not in args.skip:
        sets: list[tuple[str, Corpus, bool]] = [(f"{eeg.name} ×1", eeg, False)]
        for label, files, k, capped in scale:
            root = linked_copies(EEGMMIDB, files, cache / f"{eeg.name}_x{k}", k)
            c = make_corpus(f"{eeg.name}_x{k}", root, hours=k * (eeg.hours if len(files) == eeg.n_files
                                                                 else hours_of(files)))
            sets.append((label, c, capped or args.quick))
        for h in long_hours:
            c = make_corpus(f"long-{h:g}h", long_recording(cache / "long64_160hz", h))
            sets.append((f"one recording, {h:g} h, 64 ch, 160 Hz", c, h == cap_long))
        baseline = {n: r["ours"] for n, r in tp.items()}
        mem = memory(sets, work, args.cap, baseline)
        longs = [c for _k, c, _f in sets if c.name.startswith("long-")]
        sweep_target = longs[-2] if len(longs) >= 2 else longs[0]
        for cap in [x for x in args.cap_sweep.split(",") if x]:
            sweep.append((sweep_target, memcap_run(sweep_target, work, cap,
                                                   {sorted(os.sched_getaffinity(0))[0]})))
    acc: list[dict[str, Any]] = []
    if "accuracy" not in args.skip:
        files = [EEGMMIDB / f for f in (ACCURACY_FILES[:1] if args.quick else ACCURACY_FILES)]
        missing = [f for f in files if not f.exists()]
        if missing:  # the data folder changed: take the longest files that exist instead
            log(f"accuracy: {len(missing)} listed files missing; using the first existing ones")
            files = base_files[: len(files)]
        acc = accuracy(files, min_block=True) + accuracy(eeg_files(syn.path)[:1], min_block=False)
    prof: dict[str, Any] = {}
    if "profile" not in args.skip:
        prof = profile(corpora, work)
    shutil.rmtree(work, ignore_errors=True)
    digest1 = source_digest()
    if digest1 != digest0:
        info["streamdistill source"] += (f" at the start, **{digest1} at the end: the code changed "
                                         "during the run; rerun before trusting these numbers**")
        log(f"WARNING: streamdistill sources changed during the run ({digest0} -> {digest1})")
    total = time.perf_counter() - t0
    md = render(args, info, tp, mem, sweep, acc, prof, total)
    if doc is not None:
        write_section(doc, "shard", md)
        log(f"wrote the shard section of {doc}")
    print(md)
    log(f"done in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
