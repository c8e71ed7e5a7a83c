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

**On a GPU** (``--device cuda``; the issue's "``base`` on a lent GPU, data wait < 5%"): LaBraM
``--model base`` (tokenizer encoder ``base``, the default recipe otherwise) on the whole 4× store
of the quick corpus (≈ 4k segments, 19/32/64 ch), ``--epochs`` epochs per stage, once per
``--device-workers`` setting. Throughput and data wait are read per logged window of 5 steps from each
stage's ``metrics.jsonl``; the first window of a stage (CUDA start-up, the codebook's k-means
initialisation, the loader's start) is reported apart from the rest (steady state). No psutil
there (the GPU machine may lack it): wall time from the child and ``ru_maxrss`` of the children.
The device has no project checkout with a doc to write, so ``--json`` keeps the numbers and
``--render JSON`` writes them here as section ``pretrain-gpu``::

    python -m tools.bench.bench_pretrain --device cuda --json pretrain_cuda.json   # on the GPU
    python -m tools.bench.bench_pretrain --render pretrain_cuda.json               # here
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.bench_encode import rss_stores, sd
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
DEVICE_SECTION = "pretrain-gpu"
CACHE = Path("/tmp/streamdistill-encode-bench/cache")
#: Store of the device runs: this many hard-linked copies of the quick base corpus.
DEVICE_SCALE = 4
#: Steps per logged window in the device runs (``pretrain.log_every``).
DEVICE_LOG_EVERY = 5


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


def stage_windows(metrics: Path) -> dict[str, Any]:
    """Throughput and data wait of one stage from its ``metrics.jsonl``: the first logged window
    (start-up: CUDA context, k-means codebook initialisation, the loader's first batch) apart
    from the later ones (medians over windows; each window is ``DEVICE_LOG_EVERY`` steps)."""
    recs = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    later = recs[1:]
    return {
        "windows": len(recs),
        "first_tokens_s": recs[0]["tokens_per_s"] if recs else None,
        "first_wait": recs[0]["data_wait"] if recs else None,
        "steady_tokens_s": median([r["tokens_per_s"] for r in later]) if later else None,
        "steady_wait": median([r["data_wait"] for r in later]) if later else None,
        "steady_wait_max": max((r["data_wait"] for r in later), default=None),
        "loss_first": recs[0].get("loss") if recs else None,
        "loss_last": recs[-1].get("loss") if recs else None,
    }


def device_runs(args: argparse.Namespace) -> dict[str, Any]:
    """``pretrain --model MODEL --device DEVICE`` over the whole :data:`DEVICE_SCALE`× quick store,
    once per ``--device-workers`` setting (module docstring). Writes ``--json`` after every run, so a
    run cut short by the device's time limit still leaves the ones before it."""
    import resource
    import subprocess

    import torch

    store = rss_stores(CACHE, "quick", (DEVICE_SCALE,))[DEVICE_SCALE]
    from streamdistill.store import open_store

    st = open_store(store)
    cuda = args.device.startswith("cuda")
    result: dict[str, Any] = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if cuda else "cpu",
        "model": args.model, "epochs": args.epochs, "log_every": DEVICE_LOG_EVERY,
        "store_segments": st.n_segments,
        "groups": {g.name: [len(g.channels), g.n_times, g.n_segments] for g in st.groups.values()},
        "command": "python -m tools.bench.bench_pretrain " + " ".join(sys.argv[1:]),
        "machine": machine_info(("torch", "numpy", "zarr", "numcodecs")),
        "runs": [],
    }
    for workers in args.workers_list:
        out = args.work / f"device-{args.model}-w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*sd(), "pretrain", str(store), "--out", str(out), "--model", args.model,
               "--tokenizer-encoder", args.model, "--device", args.device, "--no-progress",
               "--workers", str(workers), "--tokenizer-epochs", str(args.epochs),
               "--mem-epochs", str(args.epochs), "--set",
               f"pretrain.log_every={DEVICE_LOG_EVERY}",
               # the recipe's warm-up (10 / 5 epochs) is longer than these runs; one epoch
               "--set", "pretrain.tokenizer.warmup_epochs=1", "--set", "pretrain.mem.warmup_epochs=1"]
        print("running:", " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(f"pretrain failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        run = json.loads((out / "run.json").read_text())
        row = {"workers": workers, "wall_s": wall,
               "maxrss_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
               "stages": {s["stage"]: {**{k: s[k] for k in ("steps", "seconds", "tokens_per_s",
                                                            "data_wait", "final_loss")},
                                       **stage_windows(out / s["stage"] / "metrics.jsonl")}
                          for s in run["stages"]}}
        result["runs"].append(row)
        for name, s in row["stages"].items():
            print(f"workers {workers} {name}: {s['steps']} steps, {s['tokens_per_s']:,.0f} "
                  f"tokens/s whole stage, steady {s['steady_tokens_s'] or 0:,.0f} tokens/s, data "
                  f"wait {100 * (s['steady_wait'] or 0):.1f}% (whole stage "
                  f"{100 * s['data_wait']:.1f}%)", flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        shutil.rmtree(out, ignore_errors=True)
    return result


def render_device(res: dict[str, Any]) -> str:
    """Section ``pretrain-gpu`` from a :func:`device_runs` result."""
    def pct(v):
        return "—" if v is None else f"{100 * v:.1f}%"

    def num(v):
        return "—" if v is None else f"{v:,.0f}"

    rows = []
    for run in res["runs"]:
        for name, s in run["stages"].items():
            rows.append([str(run["workers"]), name, str(s["steps"]), num(s["steady_tokens_s"]),
                         pct(s["steady_wait"]), pct(s["steady_wait_max"]),
                         num(s["first_tokens_s"]), pct(s["first_wait"]),
                         num(s["tokens_per_s"]), pct(s["data_wait"]), f"{s['seconds']:.1f}"])
    groups = ", ".join(f"{c} ch × {t / 200:g} s: {n:,}" for c, t, n in res["groups"].values())
    default = [run for run in res["runs"] if run["workers"] == 2]
    verdict = ""
    if default:
        worst = max(s["steady_wait"] or 0.0 for s in default[0]["stages"].values())
        verdict = (f"With the default 2 workers the steady data wait is at most "
                   f"{100 * worst:.1f}% of the step time: the < 5% target is "
                   f"{'met' if worst < 0.05 else 'not met'}.")
    cuda = res["device"].startswith("cuda")
    where = (f"on {res['device_name']}" if cuda else "on the CPU (a smoke test of the device runs)")
    return "\n".join([
        f"## pretrain on a GPU — LaBraM `{res['model']}` {where}",
        "",
        f"Measured by `{res['command']}`" + (" on the lent GPU machine" if cuda else "") +
        ", rendered here with `python -m tools.bench.bench_pretrain --render JSON`.",
        "",
        machine_table({**res["machine"], "GPU": res["device_name"] if cuda else "none"}),
        "",
        f"`streamdistill pretrain STORE --model {res['model']} --tokenizer-encoder {res['model']} "
        f"--device {res['device']} --tokenizer-epochs {res['epochs']} --mem-epochs "
        f"{res['epochs']} --workers W`, whole store ({res['store_segments']:,} segments; {groups}"
        "), batch 64" + (", bf16 autocast, pinned memory" if cuda else "") + ". Tokens = 1-s "
        "patches × channels per second of training; windows of "
        f"{res['log_every']} steps from the stage's `metrics.jsonl`. *Steady*: median over the "
        "windows after the first; *first window*: start-up (CUDA context, k-means codebook "
        "initialisation, the loader's first batch). Data wait = share of the step time spent "
        "waiting for the next batch. One run per setting.",
        "",
        md_table(["workers", "stage", "steps", "steady tokens/s", "steady data wait",
                  "worst window wait", "first window tokens/s", "first window wait",
                  "whole stage tokens/s", "whole stage wait", "stage s"], rows),
        "",
        verdict,
        "",
        "<!-- pretrain-gpu-json " + json.dumps(res) + " -->",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.bench.bench_pretrain")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--doc", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sd-bench-pretrain")
    p.add_argument("--device", default=None,
                   help="run the device runs there (cuda[:N]: section pretrain-gpu; cpu: a "
                        "smoke test of that path) instead of the CPU table")
    p.add_argument("--model", default="base", choices=("tiny", "base", "large", "huge"),
                   help="LaBraM size of the --device runs (default base)")
    p.add_argument("--epochs", type=int, default=3, help="per stage, device runs")
    p.add_argument("--device-workers", default="2,4",
                   help="comma-separated DataLoader worker counts of the device runs")
    p.add_argument("--json", type=Path, default=None, help="device runs: write the numbers here")
    p.add_argument("--render", type=Path, default=None, metavar="JSON",
                   help="write section pretrain-gpu from a device run's --json")
    args = p.parse_args(argv)
    if args.render:
        publish(args.doc, DEVICE_SECTION, render_device(json.loads(args.render.read_text())),
                print_only=args.no_doc)
        return 0
    if args.device is not None:
        args.workers_list = [int(w) for w in args.device_workers.split(",")]
        print(render_device(device_runs(args)))
        return 0
    scales = (1,) if args.quick else (1, 4, 16)
    runs = 1 if args.quick else args.runs
    t_start = time.perf_counter()
    tag = "full"
    from streamdistill.store import open_store

    stores = rss_stores(CACHE, tag, scales)
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
