"""LaBraM pretraining on CPU: training throughput of ``tiny`` and peak memory against store size.

Stores: the 1×, 4× and 16× stores of ``bench_encode``'s memory part (one recording per montage
19/32/64 ch, hard-linked copies under distinct paths, each sharded into its own store; built on
first use and cached). On each store a random selection of ≈ N₁ segments (the 1× store's size,
``select --method random --tau 0``) is pretrained with ``--config tiny`` (tokenizer then MEM, one
epoch each, 2 DataLoader workers), so every size does the same training work while the loader
plans over a store 1×, 4× or 16× larger. Each run is a child process measured with
:func:`tools.bench.common.run_measured` (wall, ``ru_maxrss``, tree RSS of the main process and
its workers), median of ``--runs``; throughput (tokens/s = patches of 1 s × channels) and the
data-wait fraction come from the run's own ``run.json``.

Writes section ``pretrain`` of docs/benchmarks.md. ``--quick`` for a smoke test (1×, 1 run).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tools.bench.bench_encode import RSS_ROWS, linked_copies, make_store, rss_base_corpus, sd
from tools.bench.common import (
    REPO_ROOT,
    fmt_bytes,
    machine_info,
    machine_table,
    md_table,
    median,
    run_measured,
    publish,
)

SECTION = "pretrain"
CACHE = Path("/tmp/streamdistill-encode-bench/cache")


def make_selection(store: Path, n_target: int, out: Path) -> Path:
    """A random selection of ≈ ``n_target`` segments of ``store`` (prefix of a seeded order)."""
    from streamdistill.config import SelectConfig
    from streamdistill.select.run import run_select
    from streamdistill.store import open_store

    if (out / "selection.json").is_file():
        return out
    n = open_store(store).n_segments
    lat = out.with_name(out.name + "-latents.npy")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(lat, np.zeros((n, 2), np.float32))  # random order needs no latent content
    eta = min(100.0, 100.0 * n_target / n)
    run_select(lat, out, SelectConfig(method="random", tau=0.0, eta=[eta]), store=store,
               progress=False)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.bench.bench_pretrain")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--doc", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sd-bench-pretrain")
    args = p.parse_args(argv)
    scales = (1,) if args.quick else (1, 4, 16)
    runs = 1 if args.quick else args.runs
    t_start = time.perf_counter()
    tag = "full"
    base_root = rss_base_corpus(CACHE / f"rss-base-{tag}", RSS_ROWS[tag])
    base = sorted(base_root.rglob("*.fif"))
    from streamdistill.store import open_store

    stores = {k: make_store([linked_copies(base, base_root, CACHE / f"rss-{tag}-x{k}-files", k)],
                            CACHE / f"rss-{tag}-x{k}.store") for k in scales}
    n1 = open_store(stores[1]).n_segments
    rows, raw = [], []
    for k in scales:
        sel = make_selection(stores[k], n1, args.work / f"sel-x{k}")
        results, stage_stats = [], []
        for i in range(runs):
            out = args.work / f"run-x{k}-{i}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [*sd(), "pretrain", str(stores[k]), "--selection", str(sel), "--out", str(out),
                   "--config", "tiny", "--device", "cpu", "--no-progress", "--workers",
                   str(args.workers), "--tokenizer-epochs", "1", "--mem-epochs", "1"]
            res = run_measured(cmd, cwd=REPO_ROOT).check()
            results.append(res)
            stage_stats.append(json.loads((out / "run.json").read_text())["stages"])
            print(f"{k}×: {res.wall_s:.1f} s, maxrss {fmt_bytes(res.maxrss_bytes)}, tree "
                  f"{fmt_bytes(res.tree_peak_bytes)}, background {res.background_cores:.2f}",
                  flush=True)
        st = {s["stage"]: s for s in stage_stats[0]}
        n_store = open_store(stores[k]).n_segments
        n_sel = json.loads((args.work / f"run-x{k}-0" / "run.json").read_text())["n_segments"]
        row = {
            "scale": k, "store_segments": n_store, "selected": n_sel,
            "wall_s": median([r.wall_s for r in results]),
            "maxrss": median([r.maxrss_bytes for r in results]),
            "tree": median([r.tree_peak_bytes for r in results]),
            "background": median([r.background_cores for r in results]),
            **{f"{s}_tokens_s": median([{x["stage"]: x for x in ss}[s]["tokens_per_s"]
                                        for ss in stage_stats]) for s in st},
            **{f"{s}_wait": median([{x["stage"]: x for x in ss}[s]["data_wait"]
                                    for ss in stage_stats]) for s in st},
        }
        raw.append(row)
        rows.append([f"{k}×", f"{n_store:,}", f"{n_sel:,}", f"{row['wall_s']:.1f}",
                     f"{row['tokenizer_tokens_s']:,.0f}", f"{100 * row['tokenizer_wait']:.1f}%",
                     f"{row['mem_tokens_s']:,.0f}", f"{100 * row['mem_wait']:.1f}%",
                     fmt_bytes(row["maxrss"]), fmt_bytes(row["tree"]),
                     f"{row['background']:.2f}"])
    first, last = raw[0], raw[-1]
    growth = (last["tree"] - first["tree"]) / first["tree"] * 100 if len(raw) > 1 else 0.0
    body = "\n".join([
        "## pretrain — LaBraM `tiny` on CPU: throughput and memory against store size",
        "",
        f"Written by `python -m tools.bench.bench_pretrain` "
        f"({(time.perf_counter() - t_start) / 60:.1f} min in all).",
        "",
        machine_table(machine_info(("torch", "numpy", "zarr", "numcodecs"))),
        "",
        "`streamdistill pretrain STORE --selection SEL --config tiny --tokenizer-epochs 1 "
        f"--mem-epochs 1 --workers {args.workers} --device cpu`: tiny LaBraM (D 100, 2 blocks; "
        "tokenizer with a 1024-code book, batch 16) on a random selection of the same ≈ N₁ "
        "segments from stores 1×, 4×, 16× as large (groups of 19/32/64 channels, windows "
        f"13/8/4 s). Median of {runs} runs. Tokens = 1-s patches × channels per second of "
        "training (per stage, from `run.json`); data wait = share of the step time spent "
        "waiting for the next batch. maxrss = largest single process (`ru_maxrss`); tree = "
        "summed RSS of the main process and its DataLoader workers (polled).",
        "",
        md_table(["store", "store segments", "selected", "wall s", "tokenizer tokens/s",
                  "tokenizer data wait", "MEM tokens/s", "MEM data wait", "maxrss", "tree RSS",
                  "background cores"], rows),
        "",
        (f"Memory against store size with the same training work: tree RSS {fmt_bytes(first['tree'])}"
         f" at 1× → {fmt_bytes(last['tree'])} at {last['scale']}× ({growth:+.1f}%)."
         if len(raw) > 1 else ""),
        "",
        "<!-- pretrain-json " + json.dumps(raw) + " -->",
    ])
    publish(args.doc, SECTION, body, print_only=args.no_doc or args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
