"""Benchmark of k-center greedy (``streamdistill.select.kcenter``) against the released loop.

Usage (from the repository root)::

    python -m tools.bench.bench_kcenter                         # CPU, full run, docs/benchmarks.md
    python -m tools.bench.bench_kcenter --quick                 # smoke test (N = 50k, k = 500)
    python -m tools.bench.bench_kcenter --device cuda --json /tmp/kcenter_cuda.json   # GPU machine
    python -m tools.bench.bench_kcenter --merge /tmp/kcenter_cuda.json               # back here

CPU mode (N = 1M × 64 float32, k = 10k and 50k; ``--quick``: N = 50k, k = 500, no doc):

1. **Data**: a clustered Gaussian mixture (256 components, centers ~ N(0, 4²), per-component
   scale U(0.3, 1.5), uneven weights, rows in random order; seed 0), written once to an ``.npy``
   under ``--work`` and memory-mapped read-only, as ``select`` reads ``latents.npy``.
2. **Ours**: ``kcenter_greedy(init='first')`` with the numba backend, ``pruning='off'`` and
   ``'auto'``, one run each to the largest k in a child process (:func:`run_measured`: wall time and
   peak RSS — the RSS includes the memory-mapped points); the numbers at the smaller k are the same
   run's first k picks (prefix stability). Per pick: the median pass time, the mean per window of
   1000 picks (figure ``docs/figures/kcenter_per_pick.png``), the fraction of passes run pruned and
   of rows whose distance was computed. Picks of both modes are compared (identical).
3. **Anchor**: ``plain_kcenter_reference`` (the released loop: ``sklearn pairwise_distances`` to the
   newest center, ``np.minimum``, ``argmax``) timed over its first ``anchor picks`` only — it costs
   ~60 ms per pick at N = 1M, an hour for k = 50k — and checked to give exactly our first picks.
   Ratio = anchor time per pick / ours (median) per pick.
4. **Bandwidth floor**: the machine's streaming-read rate over the same array (fastest of 9
   passes — other processes only slow a read down; the larger of a parallel numba streaming sum
   and ``numpy.sum(axis=0)``), and floor = N·d·4 bytes / that rate per pick; "of floor" = floor /
   our median pick time (> 1 once pruning skips rows).

CUDA mode (``--device cuda``; ``--quick`` shrinks it): time per pick of the torch backend at
N = 2.25M and 20M (× 64), float32 and float16 storage, after warm-up picks, against the bytes of
points read per pick divided by the device bandwidth (``torch`` copy of a 2 GiB buffer: (read +
written bytes) / time). Written with ``--json``; ``--merge`` adds it to the CPU section.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.common import (
    REPO_ROOT,
    fmt_bytes,
    machine_info,
    machine_table,
    md_table,
    run_measured,
    write_section,
)

DEFAULT_WORK = Path("/tmp/streamdistill-kcenter-bench")
DOC = REPO_ROOT / "docs" / "benchmarks.md"
FIGURE = REPO_ROOT / "docs" / "figures" / "kcenter_per_pick.png"
SECTION = "kcenter"
DATA_TAG = "kcenter-bench-json"
PACKAGES = ("streamdistill", "numpy", "numba", "scikit-learn", "torch", "faiss-cpu")
D = 64
SEED = 0
N_COMPONENTS = 256
#: (N, ks, anchor picks, window) of the CPU part.
FULL = (1_000_000, (10_000, 50_000), 300, 1000)
QUICK = (50_000, (500,), 100, 100)
#: (sizes, timed picks, warm-up picks) of the CUDA part.
CUDA_FULL = ((2_250_000, 20_000_000), 300, 30)
CUDA_QUICK = ((200_000,), 100, 10)

#: Hand-written findings of the CPU run in docs/benchmarks.md; revise when the numbers change.
NOTES: tuple[str, ...] = ()


def log(msg: str) -> None:
    print(f"[bench_kcenter {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def child_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tools.bench.bench_kcenter", "--_child", *args]


# ------------------------------------------------------------------------------ data


def mixture_block(rng: np.random.Generator, rows: int, centers: np.ndarray, scale: np.ndarray,
                  weights: np.ndarray) -> np.ndarray:
    comp = rng.choice(len(centers), size=rows, p=weights)
    x = rng.standard_normal((rows, centers.shape[1]), dtype=np.float32)
    x *= scale[comp, None]
    x += centers[comp]
    return x


def mixture(n: int, d: int = D, seed: int = SEED, out: np.ndarray | None = None,
            block: int = 262144) -> np.ndarray:
    """``(n, d) float32`` clustered Gaussian mixture (module docstring), filled block by block
    into ``out`` (an ``open_memmap`` or an array) when given."""
    rng = np.random.default_rng(seed)
    centers = (rng.standard_normal((N_COMPONENTS, d)) * 4).astype(np.float32)
    scale = rng.uniform(0.3, 1.5, N_COMPONENTS).astype(np.float32)
    weights = rng.dirichlet(np.full(N_COMPONENTS, 2.0))
    if out is None:
        out = np.empty((n, d), np.float32)
    for a in range(0, n, block):
        b = min(n, a + block)
        out[a:b] = mixture_block(rng, b - a, centers, scale, weights)
    return out


def ensure_points(work: Path, n: int) -> Path:
    """The ``.npy`` of the CPU part (generated once, in a child process)."""
    path = work / f"mixture_{n}x{D}_seed{SEED}.npy"
    done = path.with_suffix(".done")
    if not (path.exists() and done.exists()):
        work.mkdir(parents=True, exist_ok=True)
        log(f"generating {n} × {D} mixture → {path}")
        subprocess.run(child_cmd("gen", str(path), str(n)), cwd=REPO_ROOT, check=True)
        done.write_text("ok")
    return path


# ------------------------------------------------------------------------------ children


def child(argv: list[str]) -> int:
    what = argv[0]
    if what == "gen":
        path, n = Path(argv[1]), int(argv[2])
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, D))
        mixture(n, out=mm)
        mm.flush()
        return 0
    if what == "run":
        from streamdistill.select.kcenter import greedy_with_stats

        path, k, pruning, out = argv[1], int(argv[2]), argv[3], argv[4]
        x = np.load(path, mmap_mode="r")
        t0 = time.perf_counter()
        state, stats = greedy_with_stats(x, k, init="first", pruning=pruning)
        total = time.perf_counter() - t0
        np.savez(out, picks=state.picks, radius=state.radius, seconds=stats.seconds,
                 pruned=stats.pruned, computed=stats.computed, total=total,
                 switches=np.array(stats.mode_switches, dtype=object))
        return 0
    if what == "anchor":
        from streamdistill.select.kcenter import plain_kcenter_reference

        path, picks, out = argv[1], int(argv[2]), argv[3]
        x = np.load(path, mmap_mode="r")
        plain_kcenter_reference(x, 2, 0)  # warm-up (imports, page cache)
        t0 = time.perf_counter()
        p = plain_kcenter_reference(x, picks, 0)
        sec = time.perf_counter() - t0
        Path(out).write_text(json.dumps({"picks": p.tolist(), "seconds": sec}))
        return 0
    if what == "bw":
        from streamdistill.select import kcenter_numba as kn

        path, out = argv[1], argv[2]
        x = np.load(path, mmap_mode="r")
        x = np.asarray(x)
        res: dict[str, list[float]] = {"numba": [], "numpy": []}
        kn.stream_read(x, kn.BLOCK)
        x.sum(axis=0, dtype=np.float32)
        for _ in range(9):
            t0 = time.perf_counter()
            kn.stream_read(x, kn.BLOCK)
            res["numba"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            x.sum(axis=0, dtype=np.float32)
            res["numpy"].append(time.perf_counter() - t0)
        Path(out).write_text(json.dumps({"bytes": x.nbytes, **res}))
        return 0
    raise SystemExit(f"unknown child {what!r}")


# ------------------------------------------------------------------------------ CPU part


def windows(seconds: np.ndarray, w: int) -> np.ndarray:
    m = len(seconds) // w
    return seconds[: m * w].reshape(m, w).mean(axis=1)


def part_cpu(work: Path, quick: bool) -> dict[str, Any]:
    n, ks, anchor_picks, win = QUICK if quick else FULL
    kmax = max(ks)
    path = ensure_points(work, n)
    res: dict[str, Any] = {"n": n, "d": D, "ks": list(ks), "window": win, "points": str(path),
                           "data": (f"Gaussian mixture, {N_COMPONENTS} components, centers "
                                    f"N(0, 4²), scales U(0.3, 1.5), Dirichlet(2) weights, "
                                    f"rows in random order, seed {SEED}; memory-mapped .npy "
                                    f"({fmt_bytes(n * D * 4)})")}
    runs: dict[str, Any] = {}
    per_pick: dict[str, np.ndarray] = {}
    picks: dict[str, np.ndarray] = {}
    for pruning in ("off", "auto"):
        out = work / f"run_{n}_{kmax}_{pruning}.npz"
        log(f"ours, pruning={pruning}: k = {kmax} on N = {n}")
        r = run_measured(child_cmd("run", str(path), str(kmax), pruning, str(out)),
                         cwd=REPO_ROOT).check()
        z = np.load(out, allow_pickle=True)
        sec = z["seconds"]
        per_pick[pruning], picks[pruning] = sec, z["picks"]
        entry: dict[str, Any] = {"wall_s": r.wall_s, "maxrss_bytes": r.maxrss_bytes,
                                 "background_cores": r.background_cores,
                                 "call_s": float(z["total"]),
                                 "switches": [tuple(s) for s in z["switches"].tolist()]}
        for k in ks:
            entry[f"k{k}"] = {
                "passes_s": float(sec[:k].sum()),
                "median_ms": 1e3 * float(np.median(sec[:k])),
                "pruned_frac": float(z["pruned"][:k].mean()),
                "computed_frac": float(z["computed"][:k].mean() / n),
            }
        w = windows(sec, win)
        entry["windows_ms"] = (1e3 * w).tolist()
        entry["radius_last"] = float(z["radius"][-1])
        runs[pruning] = entry
        log(f"  {r.wall_s:.1f} s wall, median pick {entry[f'k{kmax}']['median_ms']:.2f} ms, "
            f"peak RSS {fmt_bytes(r.maxrss_bytes)}")
    res["runs"] = runs
    base = run_measured(child_cmd("run", str(path), "1", "off", str(work / "run_k1.npz")),
                        cwd=REPO_ROOT).check()
    res["rss_k1_bytes"] = base.maxrss_bytes  # imports + the mapped points + one pass
    res["identical_off_auto"] = bool(np.array_equal(picks["off"], picks["auto"]))
    log(f"anchor: plain_kcenter_reference, {anchor_picks} picks")
    aout = work / f"anchor_{n}_{anchor_picks}.json"
    ra = run_measured(child_cmd("anchor", str(path), str(anchor_picks), str(aout)),
                      cwd=REPO_ROOT).check()
    a = json.loads(aout.read_text())
    res["anchor"] = {"picks": anchor_picks, "seconds": a["seconds"],
                     "per_pick_ms": 1e3 * a["seconds"] / anchor_picks,
                     "identical": bool(np.array_equal(np.array(a["picks"]),
                                                      picks["off"][:anchor_picks])),
                     "maxrss_bytes": ra.maxrss_bytes}
    log("read bandwidth")
    bout = work / f"bw_{n}.json"
    run_measured(child_cmd("bw", str(path), str(bout)), cwd=REPO_ROOT).check()
    b = json.loads(bout.read_text())
    bw = {k: b["bytes"] / min(b[k]) for k in ("numba", "numpy")}  # noise only slows a read
    res["bandwidth"] = {"numba_GBps": bw["numba"] / 1e9, "numpy_GBps": bw["numpy"] / 1e9,
                        "floor_ms": 1e3 * b["bytes"] / max(bw.values())}
    res["per_pick_series"] = {m: s for m, s in per_pick.items()}
    return res


def plot(res: dict[str, Any], dest: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    win = res["window"]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for m, label in (("off", "numba, pruning off"), ("auto", "numba, pruning auto")):
        w = res["runs"][m]["windows_ms"]
        ax.plot((np.arange(len(w)) + 0.5) * win, w, label=label)
    ax.axhline(res["bandwidth"]["floor_ms"], color="k", ls="--", lw=1,
               label="memory-bandwidth floor")
    ax.axhline(res["anchor"]["per_pick_ms"], color="tab:red", ls=":", lw=1,
               label=f"released loop (first {res['anchor']['picks']} picks)")
    ax.set_yscale("log")
    ax.set_xlabel("pick")
    ax.set_ylabel(f"ms per pick (mean over {win} picks)")
    ax.set_title(f"k-center greedy, N = {res['n']:,} × {res['d']} float32 (clustered)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return dest


# ------------------------------------------------------------------------------ CUDA part


def part_device(device: str, quick: bool, sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Per-pick time of the torch backend on ``device`` (``cuda``; ``cpu`` works for smoke tests)
    against the bytes read per pick over the measured copy bandwidth."""
    import torch

    from streamdistill.select.kcenter_torch import TorchKCenter

    default_sizes, picks, warm = CUDA_QUICK if quick else CUDA_FULL
    sizes = sizes or default_sizes
    dev = torch.device(device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    nbytes = 2 * 2**30 if dev.type == "cuda" else 256 * 2**20
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=dev).uniform_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    times = []
    for _ in range(10):
        sync()
        t0 = time.perf_counter()
        dst.copy_(src)
        sync()
        times.append(time.perf_counter() - t0)
    del src, dst
    copy_bw = 2 * nbytes / min(times)  # noise only slows a copy
    out: dict[str, Any] = {"device": device, "copy_GBps": copy_bw / 1e9, "picks": picks,
                           "warmup": warm, "rows": []}
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(dev)
    for n in sizes:
        log(f"{device}: generating N = {n}")
        x = mixture(n)
        for precision in ("fp32", "fp16"):
            tk = TorchKCenter(x, device, precision, None, 0)
            p = torch.tensor(0, dtype=torch.int64, device=dev)
            ts = []
            for j in range(warm + picks):
                if j == warm:
                    sync()
                    t0 = time.perf_counter()
                tk.mark(p)
                tk.update(tk.center(p), j)
                p, _ = tk.select(None)
            sync()
            ts = (time.perf_counter() - t0) / picks
            esize = 2 if precision == "fp16" else 4
            floor = n * D * esize / copy_bw
            row = {"n": n, "precision": precision, "resident": tk.resident, "chunk_rows": tk.chunk,
                   "per_pick_ms": 1e3 * ts, "floor_ms": 1e3 * floor, "x_floor": ts / floor}
            out["rows"].append(row)
            log(f"  {precision}: {1e3 * ts:.3f} ms/pick, floor {1e3 * floor:.3f} ms "
                f"({ts / floor:.2f}×), resident {tk.resident}")
            del tk
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        del x
    return out


# ------------------------------------------------------------------------------ report


def _f(x: float, nd: int = 2) -> str:
    return f"{x:,.{nd}f}"


def render(res: dict[str, Any]) -> str:
    cpu = res["cpu"]
    n, ks = cpu["n"], cpu["ks"]
    an, bw = cpu["anchor"], cpu["bandwidth"]
    rows = []
    for m in ("off", "auto"):
        r = cpu["runs"][m]
        for k in ks:
            e = r[f"k{k}"]
            rows.append([f"numba, pruning {m}", f"{k:,}", _f(e["median_ms"]),
                         _f(e["passes_s"], 1), _f(an["per_pick_ms"] / e["median_ms"], 1) + "×",
                         _f(an["per_pick_ms"] / 1e3 * k / e["passes_s"], 1) + "×",
                         _f(bw["floor_ms"] / e["median_ms"], 2),
                         f"{e['pruned_frac']:.0%} / {e['computed_frac']:.1%}",
                         fmt_bytes(r["maxrss_bytes"]) if k == max(ks) else ""])
    rows.append([f"released loop (first {an['picks']} picks)", "—", _f(an["per_pick_ms"]),
                 _f(an["per_pick_ms"] * max(ks) / 1e3, 0) + f" (k = {max(ks):,}, extrapolated)",
                 "1×", "1×", _f(bw["floor_ms"] / an["per_pick_ms"], 2), "—",
                 fmt_bytes(an["maxrss_bytes"])])
    parts = [
        f"N = {n:,} × {cpu['d']} float32: {cpu['data']}. `init='first'` (the released start), "
        "numba backend, one run per mode to the largest k (the smaller k are its first picks).",
        "",
        md_table(["method", "k", "median ms / pick", "total s (passes)", "speed-up (median)",
                  "speed-up (total)", "of floor", "pruned passes / rows computed", "peak RSS"],
                 rows),
        "",
        f"- Memory-bandwidth floor: {_f(bw['floor_ms'])} ms per pick = N·d·4 bytes / "
        f"{_f(max(bw['numba_GBps'], bw['numpy_GBps']), 1)} GB/s (fastest of 9 streaming reads of "
        f"the same array: numba {_f(bw['numba_GBps'], 1)} GB/s, `numpy.sum(axis=0)` "
        f"{_f(bw['numpy_GBps'], 1)} GB/s); \"of floor\" = floor / median pick time.",
        f"- Released loop (`plain_kcenter_reference`: sklearn `pairwise_distances` to the newest "
        f"center, `np.minimum`, `argmax`) timed over its first {an['picks']} picks only "
        f"({_f(an['seconds'], 1)} s); its picks are "
        f"{'identical to' if an['identical'] else 'DIFFERENT from'} ours. Speed-up (median) = its "
        "time per pick / our median; speed-up (total) = its time per pick × k / our total.",
        f"- Pruning off and auto give {'identical' if cpu['identical_off_auto'] else 'DIFFERENT'} "
        "picks. Peak RSS is the child's `ru_maxrss` and includes the memory-mapped points "
        f"({fmt_bytes(n * cpu['d'] * 4)}); the same child at k = 1 (imports, the mapped points, "
        f"one pass) peaks at {fmt_bytes(cpu['rss_k1_bytes'])}: the run's own state is the "
        "difference (min_dist, nearest, the grouping: ≈ 30 bytes per row, plus 4·d bytes per "
        "pick).",
    ]
    for m in ("off", "auto"):
        r = cpu["runs"][m]
        w = r["windows_ms"]
        pts = sorted({0, len(w) // 5, len(w) // 2, len(w) - 1})
        desc = ", ".join(f"{(i + 1) * cpu['window']:,}: {_f(w[i])}" for i in pts if i < len(w))
        sw = r["switches"]
        parts.append(f"- Pruning {m}: ms per pick averaged over the window of "
                     f"{cpu['window']:,} picks ending at pick {desc}"
                     + (f"; auto switched {len(sw)} times (first at pick {sw[0][0]:,} → "
                        f"{sw[0][1]})" if sw else "") + ".")
    parts += ["", f"![ms per pick over the run](figures/{FIGURE.name})", ""]
    for dev in res.get("devices", []):
        parts += [render_device(dev), ""]
    if NOTES:
        parts += ["Notes:", ""] + [f"- {x}" for x in NOTES] + [""]
    return "\n".join(parts)


def render_device(dev: dict[str, Any]) -> str:
    rows = [[f"{r['n']:,}", r["precision"], "yes" if r["resident"] else "no (streamed)",
             _f(r["per_pick_ms"], 3), _f(r["floor_ms"], 3), _f(r["x_floor"], 2) + "×"]
            for r in dev["rows"]]
    head = (f"Torch backend on {dev.get('gpu', dev['device'])} ({dev['picks']} timed picks after "
            f"{dev['warmup']} warm-up; copy bandwidth {_f(dev['copy_GBps'], 0)} GB/s; floor = "
            "N·d·bytes per value / that bandwidth):")
    if "machine" in dev:
        head += "\n\n" + machine_table(dev["machine"])
    return head + "\n\n" + md_table(["N", "storage", "resident", "ms / pick", "floor ms",
                                     "× floor"], rows)


def read_embedded(doc: Path) -> dict[str, Any] | None:
    if not doc.exists():
        return None
    m = re.search(rf"<!-- {DATA_TAG}: (.*?) -->", doc.read_text())
    return json.loads(m.group(1)) if m else None


def write_doc(doc: Path, res: dict[str, Any], command: str) -> Path:
    slim = json.loads(json.dumps(res, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    slim.get("cpu", {}).pop("per_pick_series", None)
    body = ["## k-center greedy (select)", "",
            "Written by `python -m tools.bench.bench_kcenter` (inputs are generated under `/tmp`). "
            "To reproduce:", "", "```",
            "python -m tools.bench.bench_kcenter                     # CPU",
            "python -m tools.bench.bench_kcenter --device cuda --json kcenter_cuda.json  # GPU",
            "python -m tools.bench.bench_kcenter --merge kcenter_cuda.json",
            "```", "", f"Command: `{command}`", "", "Machine:", "",
            machine_table(res["machine"]), "", render(res),
            f"<!-- {DATA_TAG}: {json.dumps(slim, separators=(',', ':'))} -->"]
    return write_section(doc, SECTION, "\n".join(body))


def merge(doc: Path, other: dict[str, Any]) -> int:
    existing = read_embedded(doc)
    if not existing:
        print("no CPU bench_kcenter result in the doc yet: run the CPU benchmark first",
              file=sys.stderr)
        return 1
    dev = other.get("device_result", other)
    if "machine" in other:
        dev = {**dev, "machine": other["machine"]}
    existing["devices"] = [d for d in existing.get("devices", [])
                           if (d["device"], d.get("gpu")) != (dev["device"], dev.get("gpu"))]
    existing["devices"].append(dev)
    write_doc(doc, existing, existing.get("command", ""))
    log(f"merged the {dev['device']} result into {doc}")
    return 0


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_child"]:
        return child(argv[1:])
    p = argparse.ArgumentParser(prog="python -m tools.bench.bench_kcenter",
                                description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quick", action="store_true",
                   help="N = 50k, k = 500, 100 anchor picks (CPU); small sizes (CUDA); no doc")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="generated points and outputs")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--no-doc", action="store_true", help="do not touch docs/benchmarks.md")
    p.add_argument("--merge", type=Path, default=None, metavar="JSON",
                   help="run nothing: add the --json result of a --device cuda run to the doc")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args.doc, json.loads(args.merge.read_text()))
    command = "python -m tools.bench.bench_kcenter" + ("" if not argv else " " + " ".join(argv))
    t_start = time.perf_counter()
    info = machine_info(PACKAGES)
    info["numba threads"] = os.environ.get("NUMBA_NUM_THREADS", "default (all usable cores)")
    result: dict[str, Any] = {"command": command, "quick": args.quick, "machine": info}
    if args.device == "cuda":
        result["device_result"] = part_device("cuda", args.quick)
        result["device_result"]["machine"] = info
    else:
        result["cpu"] = part_cpu(args.work, args.quick)
    result["wall_s"] = time.perf_counter() - t_start
    if args.device == "cpu":
        fig = plot(result["cpu"], args.work / FIGURE.name if args.quick or args.no_doc else FIGURE)
        log(f"figure {fig}")
        print(render(result))
    else:
        print(render_device(result["device_result"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        slim = json.loads(json.dumps(result, default=lambda o: np.asarray(o).tolist()))
        args.json.write_text(json.dumps(slim, indent=1))
        log(f"wrote {args.json}")
    if args.device == "cpu" and not args.quick and not args.no_doc:
        old = read_embedded(args.doc)
        if old and old.get("devices"):
            result["devices"] = old["devices"]
        write_doc(args.doc, result, command)
        log(f"updated {args.doc}")
    log(f"done in {(time.perf_counter() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
