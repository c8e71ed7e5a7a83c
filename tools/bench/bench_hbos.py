"""Benchmark of HBOS outlier scoring (``streamdistill.select.hbos``) against PyOD.

Usage (from the repository root)::

    python -m tools.bench.bench_hbos           # full: N = 1M and 4M, writes docs/benchmarks.md
    python -m tools.bench.bench_hbos --quick   # smoke test: N = 20k, 1 run, temporary doc

What it measures. Latents: N × 64 float32 in an ``.npy`` under ``--work`` (default
``/tmp/streamdistill-hbos-bench``), a seeded mixture of 32 Gaussian clusters with 0.5% of the rows
pushed 12 units out in 8 random dimensions; every size is a prefix of one generated file. Each
configuration runs ``--runs`` times (median reported) in its own child process
(:func:`tools.bench.common.run_measured`), each child timing its own work after a small warm-up:

* **ours**: ``hbos_scores(open_memmap(path, 'r')[:N], n_bins=...)`` with 'auto' and 10 bins,
  numba's default thread count (reported);
* **PyOD**: ``np.load(path, mmap_mode='r')[:N]`` as float64 → ``StandardScaler().fit_transform``
  → ``HBOS(n_bins=10).fit`` (what the released EEG-DLite code runs, with fixed bins) at each N
  whose float64 copies fit in the available RAM; ``HBOS(n_bins='auto')`` — O(N^1.5) — only at
  ``--auto-n`` (default 100k), where ours runs too. Nothing is extrapolated.

Reported: seconds (the child's timed section: read + standardise + fit + score, the data in the
page cache), rows/s, ours/PyOD throughput at the same N and n_bins, peak RSS of the child
(``ru_maxrss``: the memory-mapped latents' pages count too), and the largest score difference
relative to max |PyOD score|, from the score files the children save. The parent process stays
small until every child has run (a child's ``ru_maxrss`` starts at its parent's high-water mark).
``--quick``, ``--sizes``, ``--runs`` and ``--auto-n`` change the sizes; only a full run writes the
``hbos`` section of ``docs/benchmarks.md`` (``--quick`` writes a temporary doc, ``--no-doc`` none).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tools.bench.common import (
    REPO_ROOT,
    fmt_bytes,
    machine_info,
    machine_table,
    md_table,
    median,
    run_measured,
    wait_for_quiet,
    write_section,
)

DOC = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = "hbos"
DEFAULT_WORK = Path("/tmp/streamdistill-hbos-bench")
PACKAGES = ("numpy", "numba", "pyod", "scikit-learn", "psutil")
DIM, CLUSTERS, SEED, CHUNK = 64, 32, 2024, 1 << 18
OUTLIER_FRAC, OUTLIER_SHIFT, OUTLIER_DIMS = 0.005, 12.0, 8


def log(msg: str) -> None:
    print(f"[bench_hbos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ children


def make_latents(path: str, n: int) -> int:
    """``--_make``: write the N × 64 float32 latents, chunk by chunk (seeded per chunk, so every
    size is a prefix of the largest)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    centres = rng.normal(0.0, 3.0, (CLUSTERS, DIM))
    spread = rng.uniform(0.5, 1.5, (CLUSTERS, DIM))
    weights = rng.dirichlet(np.full(CLUSTERS, 2.0))
    tmp = Path(path + ".part")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, DIM))
    for a in range(0, n, CHUNK):
        r = np.random.default_rng([SEED, a // CHUNK])
        m = min(n, a + CHUNK) - a
        lab = r.choice(CLUSTERS, m, p=weights)
        x = centres[lab] + r.standard_normal((m, DIM)) * spread[lab]
        for i in np.flatnonzero(r.random(m) < OUTLIER_FRAC):
            x[i, r.choice(DIM, OUTLIER_DIMS, replace=False)] += OUTLIER_SHIFT
        out[a:a + m] = x
    out.flush()
    del out
    os.replace(tmp, path)
    return 0


def run_child(spec_json: str) -> int:
    """``--_run``: one measured configuration; writes its scores (.npy) and timing (.json)."""
    import resource

    import numpy as np

    spec = json.loads(spec_json)
    n, nb, impl = spec["n"], spec["n_bins"], spec["impl"]

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    if impl == "ours":
        import numba

        from streamdistill.select.hbos import hbos_scores

        lat = np.lib.format.open_memmap(spec["path"], mode="r")
        for warm in (1000, min(n, 40_000)):  # warm-up: the serial and the threaded kernels
            hbos_scores(lat[:warm], n_bins=nb)
        before, t0 = peak(), time.perf_counter()
        scores = hbos_scores(lat[:n], n_bins=nb)
        seconds, threads = time.perf_counter() - t0, numba.get_num_threads()
    else:
        from pyod.models.hbos import HBOS
        from sklearn.preprocessing import StandardScaler

        HBOS(n_bins=nb).fit(np.random.default_rng(0).normal(size=(500, DIM)))  # warm-up: numba
        before, t0 = peak(), time.perf_counter()
        x = np.array(np.load(spec["path"], mmap_mode="r")[:n], dtype=np.float64)
        x = StandardScaler().fit_transform(x)
        scores = HBOS(n_bins=nb).fit(x).decision_scores_
        seconds, threads = time.perf_counter() - t0, 1
    np.save(spec["scores"], scores)
    Path(spec["timing"]).write_text(json.dumps({"seconds": seconds, "threads": threads,
                                                "peak_gain_bytes": peak() - before}))
    return 0


# ------------------------------------------------------------------------------ parent


def available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def measure(cfg: dict[str, Any], runs: int, work: Path, path: Path, quiet_s: float) -> dict:
    """Run one configuration ``runs`` times in child processes; median seconds, max peak RSS."""
    tag = f"{cfg['impl']}-{cfg['n_bins']}-{cfg['n']}"
    spec = {**cfg, "path": str(path), "scores": str(work / f"{tag}.npy"),
            "timing": str(work / f"{tag}.json")}
    secs, rss, gain, walls, bg, threads = [], [], [], [], [], 1
    for i in range(runs):
        if quiet_s > 0:
            wait_for_quiet(quiet_s)
        r = run_measured([sys.executable, "-m", "tools.bench.bench_hbos", "--_run",
                          json.dumps(spec)], cwd=REPO_ROOT).check()
        t = json.loads(Path(spec["timing"]).read_text())
        secs.append(t["seconds"])
        threads = t["threads"]
        rss.append(r.maxrss_bytes)
        gain.append(t["peak_gain_bytes"])
        walls.append(r.wall_s)
        bg.append(r.background_cores)
        log(f"{tag} run {i + 1}/{runs}: {t['seconds']:.3f} s (child {r.wall_s:.1f} s, "
            f"maxrss {fmt_bytes(r.maxrss_bytes)}, background {r.background_cores:.2f} cores)")
    return {**cfg, "seconds": median(secs), "all_seconds": secs, "maxrss_bytes": max(rss),
            "peak_gain_bytes": max(gain),
            "child_wall_s": median(walls), "background_cores": max(bg), "threads": threads,
            "scores": spec["scores"]}


def compare(results: list[dict]) -> None:
    """Throughput ratio and max relative score difference of ours vs PyOD at the same N, n_bins
    (loaded only now: the parent stays small while children are measured)."""
    import numpy as np

    for r in results:
        ref = next((p for p in results if p["impl"] == "pyod" and p["n"] == r["n"]
                    and p["n_bins"] == r["n_bins"]), None)
        if r["impl"] != "ours" or ref is None:
            continue
        ours, theirs = np.load(r["scores"]), np.load(ref["scores"])
        r["max_rel_diff"] = float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))
        r["ratio"] = ref["seconds"] / r["seconds"]
        ref["ratio"] = 1.0


def render(res: dict[str, Any]) -> str:
    rows = []
    for r in sorted(res["results"], key=lambda r: (r["n"], str(r["n_bins"]), r["impl"])):
        rows.append([
            f"{r['n']:,}", r["n_bins"], "ours" if r["impl"] == "ours" else "PyOD", r["threads"],
            f"{r['seconds']:.3f}", f"{r['n'] / r['seconds']:,.0f}",
            f"{r['ratio']:.1f}×" if "ratio" in r else "–", fmt_bytes(r["maxrss_bytes"]),
            fmt_bytes(r["peak_gain_bytes"]),
            f"{r['child_wall_s']:.1f}", f"{r['background_cores']:.2f}",
            f"{r['max_rel_diff']:.1e}" if "max_rel_diff" in r else "–"])
    table = md_table(["N", "n_bins", "impl", "threads", "s (median)", "rows/s",
                      "ours/PyOD rows/s", "peak RSS", "peak RSS growth", "child wall s",
                      "background cores",
                      "max rel. score diff"], rows)
    notes = [
        (f"Latents: N × {DIM} float32, {CLUSTERS} Gaussian clusters, {OUTLIER_FRAC:.1%} of rows "
         f"+{OUTLIER_SHIFT:g} in {OUTLIER_DIMS} random dims (seed {SEED}); sizes are prefixes of "
         f"one file; {res['runs']} run(s) per row, median."),
        ("s: the child's timed section — read from the page cache, standardise, fit, score (PyOD: "
         "`np.load(...)[:N]` as float64, `StandardScaler`, `HBOS.fit`; ours: `hbos_scores` over an "
         "`open_memmap`), after a warm-up that compiles PyOD's numba function / loads ours from "
         "cache. Child wall adds interpreter start and imports."),
        ("Peak RSS is the child's `ru_maxrss` (interpreter and imports included); it counts the "
         f"pages of the memory-mapped latents it touched ({DIM * 4} B per row) as well as its own "
         "arrays. Peak RSS growth: how far the timed section raised the child's high-water mark "
         "above where the imports and warm-up had left it."),
        ("PyOD's 'auto' builds ⌊√N⌋ - 1 histograms per feature (O(N^1.5)); it runs only at the "
         "N listed, where ours runs too; nothing is extrapolated. PyOD's fixed-bin rows are "
         "skipped at N whose float64 copies would not fit in the available RAM."),
        "max rel. score diff: max |ours - PyOD| / max |PyOD| over all rows.",
    ]
    return "\n".join([table, "", "Notes:", ""] + [f"- {n}" for n in notes])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_make"]:
        return make_latents(argv[1], int(argv[2]))
    if argv[:1] == ["--_run"]:
        return run_child(argv[1])
    p = argparse.ArgumentParser(prog="python -m tools.bench.bench_hbos",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: N = 20k, 1 run, PyOD 'auto' "
                   "at 10k, a temporary doc")
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="N values (default 1000000 4000000; quick 20000)")
    p.add_argument("--runs", type=int, default=None, help="runs per configuration (default 3, "
                   "quick 1)")
    p.add_argument("--auto-n", type=int, default=None, help="N of the PyOD 'auto' comparison "
                   "(default 100000, quick 10000)")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="latents and score files")
    p.add_argument("--doc", type=Path, default=None, help=f"Markdown file to update (default "
                   f"{DOC}; quick: <work>/benchmarks.md)")
    p.add_argument("--no-doc", action="store_true", help="write no Markdown file")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    p.add_argument("--quiet-wait", type=float, default=None, help="seconds to wait before each "
                   "run for a quiet machine (default 30, quick 0)")
    args = p.parse_args(argv)
    sizes = args.sizes or ([20_000] if args.quick else [1_000_000, 4_000_000])
    runs = args.runs or (1 if args.quick else 3)
    auto_n = args.auto_n or (10_000 if args.quick else 100_000)
    quiet = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 30.0)
    doc = None if args.no_doc else (args.doc or (args.work / "benchmarks.md" if args.quick
                                                  else DOC))
    command = "python -m tools.bench.bench_hbos" + ("" if not argv else " " + " ".join(argv))
    t_start = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)

    n_max = max(sizes + [auto_n])
    path = args.work / f"latents-{n_max}x{DIM}-seed{SEED}.npy"
    if not path.exists():
        log(f"generating {path} ({fmt_bytes(n_max * DIM * 4)})")
        run_measured([sys.executable, "-m", "tools.bench.bench_hbos", "--_make", str(path),
                      str(n_max)], cwd=REPO_ROOT).check()
    configs = [{"impl": "ours", "n_bins": nb, "n": n} for n in sizes for nb in ("auto", 10)]
    for n in sizes:
        need = 3 * n * DIM * 8  # float64 copy, standardised copy, PyOD's per-feature scores
        if need < 0.8 * available_bytes():
            configs.append({"impl": "pyod", "n_bins": 10, "n": n})
        else:
            log(f"PyOD at N = {n:,} skipped: needs ≈ {fmt_bytes(need)}, "
                f"{fmt_bytes(available_bytes())} available")
    configs += [{"impl": "pyod", "n_bins": "auto", "n": auto_n}]
    if auto_n not in sizes:
        configs.append({"impl": "ours", "n_bins": "auto", "n": auto_n})
    results = [measure(c, runs, args.work, path, quiet) for c in configs]
    compare(results)

    info = machine_info(PACKAGES)
    res = {"command": command, "runs": runs, "sizes": sizes, "auto_n": auto_n, "machine": info,
           "results": results, "wall_s": time.perf_counter() - t_start}
    text = render(res)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    if doc is not None:
        intro = ("Written by `python -m tools.bench.bench_hbos` (inputs generated under `/tmp`). "
                 "To reproduce:")
        body = "\n".join(["## hbos", "", intro, "", "```", command, "```", "", "Machine:", "",
                          machine_table(info), "", text])
        write_section(doc, SECTION, body)
        log(f"updated {doc}")
    log(f"done in {(time.perf_counter() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
