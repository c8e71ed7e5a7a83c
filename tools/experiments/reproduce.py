"""EEG-DLite's central experiment, small scale, on real EEG (PhysioNet eegmmidb).

Pretraining pool: subjects S001–S015 (every run present); downstream test: S016–S020, never seen in
pretraining (the task's own split). Arms, each pretrained with the same recipe and epochs:

- ``dlite``      η = 5, 10, 25% — HBOS τ = 1% then k-center on the compressor's latents;
- ``random``     η = 5, 10, 25% — a seeded random subset (τ = 0);
- ``pca-kcenter`` η = 5, 10, 25% — k-center on a streamed PCA of the raw segments (τ = 0);
- ``full``       100% of the pool (the paper's "Full" arm);
- ``none``       no pretraining (a randomly initialised backbone).

Every arm × seed pretrains LaBraM (``--model``, tokenizer then masked EEG modeling) and is scored
by ``evaluate`` on ``--task`` (eegmmidb left vs right fist imagery by default) with ``--protocol``.
The table (mean ± std over seeds of balanced accuracy, Cohen's κ, weighted F1, AUROC on the test
subjects) and each arm's pretraining wall time go to ``docs/results.md`` with the exact command.
Everything is resumable: rerunning the same command skips finished steps (stage outputs are
idempotent), so a long run can be stopped and continued.

    python -m tools.experiments.reproduce --workdir /tmp/sd-repro            # full (hours on CPU)
    python -m tools.experiments.reproduce --workdir /tmp/sd-repro-q --quick  # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "eegmmidb"
POOL = [f"S{i:03d}" for i in range(1, 16)]
METRICS = ("balanced_accuracy", "cohen_kappa", "f1_weighted", "auroc")


def log(msg: str) -> None:
    print(f"[reproduce {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_store(work: Path, data: Path):
    from streamdistill.config import ShardConfig
    from streamdistill.shard.run import run_shard
    from streamdistill.store import open_store

    store = work / "store"
    if not (store / "store.json").is_file():
        inputs = [str(data / s) for s in POOL if (data / s).is_dir()]
        log(f"shard {len(inputs)} pool subjects → {store}")
        run_shard(inputs, store, ShardConfig(dataset="eegmmidb"), progress=False)
    return open_store(store)


def encode(work: Path, store, epochs: int, config: str | None):
    from streamdistill.config import load_config
    from streamdistill.encode.run import run_encode

    out = work / "latents"
    if json.loads((out / "latents.json").read_text()).get("complete", False) if (
            out / "latents.json").is_file() else False:
        return out
    cfg = load_config(config, {"encode.epochs": epochs})
    log(f"encode (compressor {epochs} epochs) → {out}")
    run_encode(store, out, cfg.encode, progress=False)
    return out


def select(work: Path, store, latents: Path, method: str, etas: list[float], seed: int) -> Path:
    from streamdistill.config import SelectConfig
    from streamdistill.select.run import run_select

    out = work / "selections" / f"{method}-seed{seed}"
    if not (out / "selection.json").is_file():
        tau = 1.0 if method == "dlite" else 0.0
        log(f"select {method} (τ = {tau:g}, η = {etas}) → {out}")
        run_select(None if method == "pca-kcenter" else latents, out,
                   SelectConfig(method=method, tau=tau, eta=etas, seed=seed),
                   store=store.path, progress=False)
    return out


def pretrain(work: Path, store, arm: str, selection: Path | None, eta: float | None, seed: int,
             args) -> tuple[Path, float]:
    from streamdistill.config import load_config
    from streamdistill.pretrain.run import run_pretrain

    out = work / "runs" / f"{arm}-seed{seed}"
    if (out / "run.json").is_file() and len(json.loads((out / "run.json").read_text())
                                            .get("stages", [])) == 2:
        meta = json.loads((out / "run.json").read_text())
        return out, sum(s["seconds"] for s in meta["stages"])
    cfg = load_config(args.config, {
        "pretrain.model": args.model, "pretrain.tokenizer_encoder": args.model,
        "pretrain.tokenizer.epochs": args.epochs, "pretrain.mem.epochs": args.epochs,
        "pretrain.seed": seed, "pretrain.eta": eta, "pretrain.device": args.device,
        "pretrain.batch_size": args.batch_size, "pretrain.num_workers": args.workers,
        "pretrain.tokenizer.warmup_epochs": min(args.epochs, 1.0),
        "pretrain.mem.warmup_epochs": min(args.epochs, 1.0)})
    log(f"pretrain {arm} seed {seed} → {out}")
    t0 = time.perf_counter()
    run_pretrain(store.path, out, cfg.pretrain, selection=selection, resume=True, progress=False)
    return out, time.perf_counter() - t0


def evaluate(work: Path, arm: str, source: str, seed: int, args) -> dict:
    from streamdistill.evaluate.run import run_evaluate
    from streamdistill.evaluate.tasks import load_task

    out = work / "eval" / f"{arm}-seed{seed}"
    if (out / "results.json").is_file():
        return json.loads((out / "results.json").read_text())
    task = load_task(args.task, data_root=args.data)
    return run_evaluate(source, task, protocol=args.protocol, seed=seed, out=out,
                        size=args.model, cache_dir=work / "eval-cache", device=args.device)


def mean_std(values: list[float]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.3f}"
    return f"{statistics.mean(vals):.3f} ± {statistics.stdev(vals):.3f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.experiments.reproduce")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--etas", type=float, nargs="+", default=[5.0, 10.0, 25.0])
    p.add_argument("--methods", nargs="+", default=["dlite", "random", "pca-kcenter"])
    p.add_argument("--model", default="tiny")
    p.add_argument("--epochs", type=int, default=10, help="epochs of each pretraining stage")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--encode-epochs", type=int, default=20)
    p.add_argument("--encode-config", default=None, help="encode config (default: full size)")
    p.add_argument("--config", default="tiny", help="base config of pretraining")
    p.add_argument("--task", default="eegmmidb_lr_imagery")
    p.add_argument("--protocol", default="probe", choices=("probe", "finetune"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 seed, η 10 only, 1 epoch, tiny compressor 1 epoch")
    p.add_argument("--doc", type=Path, default=REPO / "docs" / "results.md")
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"reproduce: {args.data}: eegmmidb not found (pass --data)", file=sys.stderr)
        return 2
    if args.quick:
        args.seeds, args.etas, args.epochs = args.seeds[:1], [10.0], 1
        args.encode_epochs, args.encode_config, args.no_doc = 1, "tiny", True
    t_start = time.perf_counter()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    store = build_store(work, args.data)
    latents = encode(work, store, args.encode_epochs, args.encode_config)
    rows: dict[str, dict] = {}
    for seed in args.seeds:
        arms: list[tuple[str, Path | None, float | None]] = [("full", None, None)]
        for method in args.methods:
            sel = select(work, store, latents, method, args.etas, seed)
            arms += [(f"{method}-{eta:g}", sel, eta) for eta in args.etas]
        for arm, sel, eta in arms:
            run, seconds = pretrain(work, store, arm, sel, eta, seed, args)
            res = evaluate(work, arm, str(run), seed, args)
            rows.setdefault(arm, {"seconds": [], "n": [], **{m: [] for m in METRICS}})
            rows[arm]["seconds"].append(seconds)
            rows[arm]["n"].append(json.loads((run / "run.json").read_text())["n_segments"])
            for m in METRICS:
                rows[arm][m].append(res["metrics"]["test"][m])
        res = evaluate(work, "none", "random", seed, args)
        rows.setdefault("none", {"seconds": [], "n": [], **{m: [] for m in METRICS}})
        rows["none"]["seconds"].append(0.0)
        rows["none"]["n"].append(0)
        for m in METRICS:
            rows["none"][m].append(res["metrics"]["test"][m])
    wall = time.perf_counter() - t_start
    full_s = statistics.mean(rows["full"]["seconds"]) if "full" in rows else float("nan")
    table = ["| arm | segments | pretraining s (× full) | balanced acc | Cohen κ | weighted F1 "
             "| AUROC |", "|---|---|---|---|---|---|---|"]
    for arm, r in rows.items():
        sec = statistics.mean(r["seconds"])
        ratio = f"{sec:.0f} ({sec / full_s:.2f}×)" if arm != "none" else "0"
        table.append(f"| {arm} | {r['n'][0]} | {ratio} | " + " | ".join(
            mean_std(r[m]) for m in METRICS) + " |")
    cmd = "python -m tools.experiments.reproduce " + " ".join(argv if argv is not None
                                                              else sys.argv[1:])
    body = "\n".join([
        "# Results: EEG-DLite on eegmmidb, small scale", "",
        f"Command: `{cmd}` ({wall / 60:.1f} min wall in all, this run).", "",
        f"Pool S001–S015 ({store.n_segments} segments), test subjects S016–S020 "
        f"(task `{args.task}`, protocol `{args.protocol}`), LaBraM `{args.model}`, "
        f"{args.epochs} epochs per pretraining stage, seeds {args.seeds}. Mean ± std over "
        "seeds on the test subjects.", "",
        *table, "",
        "<!-- results-json " + json.dumps(rows) + " -->",
    ])
    print(body)
    if not args.no_doc:
        args.doc.write_text(body + "\n")
        log(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
