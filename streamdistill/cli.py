"""``streamdistill`` command line: a thin registry of subcommands.

Each subcommand is one ``register_<cmd>(subparsers)`` function that declares its flags and binds a
handler. Every flag that sets a config value names its dotted key (``dest``); the handler loads
the config (defaults ← ``--config FILE`` ← flags), validates it *before any work* (a bad value
is reported with the flag's name and allowed range, exit 2), runs the stage and writes the
resolved config beside the output.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable

from streamdistill import __version__
from streamdistill.config import (
    COMPRESSORS, SHUFFLES, Config, ConfigError, load_config, write_resolved,
)

#: Subcommands of the design, in pipeline order, with what they do.
PIPELINE = {
    "shard": "EEG files → segment store (Zarr v3, fp16 µV)",
    "encode": "segment store → latent array (multi-view compressor)",
    "select": "latents → HBOS outlier removal + k-center selection",
    "pretrain": "selected segments → LaBraM (VQ-NSP tokenizer + masked EEG modeling)",
    "evaluate": "pretrained model → downstream scores",
    "report": "workspace → HTML report",
    "demo": "generate a synthetic corpus and run the pipeline on it",
}


class _ConfigFlags:
    """Remembers which flag sets which config key, to name flags in error messages."""

    def __init__(self) -> None:
        self.flag_of: dict[str, str] = {}

    def add(self, parser: argparse.ArgumentParser, flag: str, key: str, **kw: Any) -> None:
        self.flag_of[key] = flag
        parser.add_argument(flag, dest=key, default=None, **kw)

    def overrides(self, args: argparse.Namespace) -> dict[str, Any]:
        return {k: getattr(args, k) for k in self.flag_of if getattr(args, k, None) is not None}

    def describe(self, exc: ConfigError, args: argparse.Namespace | None = None) -> str:
        flag = self.flag_of.get(exc.key)
        where = f"{flag} (config key {exc.key})" if flag else f"config key {exc.key}"
        value = getattr(args, exc.key, None) if args is not None else None
        got = f" (got {value!r})" if value is not None and "(got" not in str(exc) else ""
        return f"{where} {exc}{got}"


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "null", "off") else float(text)


def _parse_set(pairs: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError("--set", f"--set expects KEY=VALUE (got {pair!r})")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _load(args: argparse.Namespace, flags: _ConfigFlags) -> Config:
    overrides = _parse_set(getattr(args, "set", None))
    overrides.update(flags.overrides(args))
    return load_config(args.config, overrides)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML config (default: built-in defaults = configs/default.yaml)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override any config key, e.g. --set shard.preprocess.block_s=120")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


# ------------------------------------------------------------------------------------- shard
def register_shard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shard", help=PIPELINE["shard"],
        description="Read EEG files with MNE, harmonise channels to LaBraM's 10-20 names, "
        "band-pass / notch / resample blockwise (bounded memory), cut windows of "
        "min(256 // C, 16) s and write the segment store. Resumable: rerun to continue or to "
        "append new files.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="files, folders (recursive), globs or BIDS roots")
    p.add_argument("--out", required=False, help="segment store directory (created/resumed)")
    p.add_argument("--dry-run", action="store_true",
                   help="print files, groups, hours and estimated size; write nothing")
    flags = _ConfigFlags()
    add = functools_partial(flags.add, p)
    add("--workers", "shard.workers", type=int, help="worker processes (default: all cores)")
    add("--scheduler", "shard.scheduler", help="dask.distributed scheduler address")
    add("--wds", "shard.wds", help="also write WebDataset shards to this folder")
    add("--wds-shard-segments", "shard.wds_shard_segments", type=int,
        help="segments per WebDataset shard (default 1000)")
    add("--dataset", "shard.dataset", help="dataset name (default: the input folder's name)")
    add("--path-pattern", "shard.path_pattern",
        help="regex with named groups dataset/subject/session, searched in each file's path")
    add("--retry-failed", "shard.retry_failed", action="store_const", const=True,
        help="process again files that failed in an earlier run")
    add("--durable", "shard.durable", action="store_const", const=True,
        help="fsync each commit (rows, table, ledger) so it survives a power loss; kill -9 "
             "safety needs no fsync and is the default (slower on many short files)")
    add("--spool-mb", "shard.spool_mb", type=float,
        help="with --workers 1, keep a recording's windows in memory up to this many MB "
             "instead of staging them on disk (default 16; 0 = always stage)")
    add("--l-freq", "shard.preprocess.l_freq", type=float, help="high-pass Hz (default 0.1)")
    add("--h-freq", "shard.preprocess.h_freq", type=float, help="low-pass Hz (default 75)")
    add("--notch", "shard.preprocess.notch_freq", type=_optional_float,
        help="line frequency to notch, Hz, or 'none' (default 50)")
    add("--sfreq", "shard.preprocess.sfreq", type=float, help="output rate Hz (default 200)")
    add("--window-s", "shard.preprocess.window_s", type=float,
        help="window seconds for every group (default: min(256 // C, 16))")
    add("--stride-s", "shard.preprocess.stride_s", type=float, help="stride s (default: window)")
    add("--block-s", "shard.preprocess.block_s", type=float,
        help="seconds of input per processing block; sets memory (default 300)")
    add("--dsp-dtype", "shard.preprocess.dsp_dtype", choices=("float32", "float64"))
    add("--map-old-names", "shard.preprocess.map_old_names", action="store_const", const=True,
        help="map T3/T4/T5/T6 to T7/T8/P7/P8")
    add("--keep-references", "shard.preprocess.drop_references", action="store_const",
        const=False, help="keep M1/M2/A1/A2")
    add("--dtype", "shard.store.dtype", choices=("float16", "float32"), help="store dtype")
    add("--compressor", "shard.store.compressor", choices=COMPRESSORS,
        help="store codec (default blosc-lz4: as small as zstd-1, decodes 2.6x faster)")
    add("--shuffle", "shard.store.shuffle", choices=SHUFFLES,
        help="blosc pre-filter (default bitshuffle)")
    add("--clevel", "shard.store.clevel", type=int,
        help="compression level (default: zstd 1, blosc 9)")
    add("--shard-mb", "shard.store.shard_mb", type=float, help="Zarr shard size, MB (default 4)")
    _add_common(p)
    p.set_defaults(handler=lambda args: _run_shard(args, flags), _flags=flags)


def functools_partial(fn: Callable, *a: Any) -> Callable:
    import functools

    return functools.partial(fn, *a)


def _run_shard(args: argparse.Namespace, flags: _ConfigFlags) -> int:
    from streamdistill.shard.commit import StoreMismatch
    from streamdistill.shard.discover import InputError

    cfg = _load(args, flags)
    if args.dry_run:
        from streamdistill.shard.dry_run import plan_recordings, print_plan

        print_plan(plan_recordings(args.inputs, cfg.shard), sys.stdout)
        return 0
    if not args.out:
        print("streamdistill shard: --out STORE is required (or use --dry-run)", file=sys.stderr)
        return 2
    from streamdistill.shard.run import run_shard

    try:
        summary = run_shard(args.inputs, args.out, cfg.shard, progress=not args.no_progress)
    except (InputError, PermissionError, StoreMismatch) as exc:
        print(f"streamdistill shard: {exc}", file=sys.stderr)
        return 2
    write_resolved(cfg, args.out)
    for path, status, reason in summary.problems:
        print(f"  {status:7s} {path}: {reason}", file=sys.stderr)
    print(summary.line())
    if not summary.kept_anything:
        print(
            "streamdistill shard: nothing was kept (see the reasons above and "
            f"{Path(args.out) / 'recordings.parquet'})",
            file=sys.stderr,
        )
        return 1
    return 0


# ------------------------------------------------------------------------------------ encode
def register_encode(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode", help=PIPELINE["encode"],
        description="Train EEG-DLite's multi-view compressor (one per montage group) on the "
        "store, streamed in shuffled batches, then encode every segment into latents.npy "
        "(float32 (N, 64), segment_id order). Rerun to resume after a kill.",
    )
    p.add_argument("store", metavar="STORE", help="segment store written by `shard`")
    p.add_argument("--out", required=True, help="output folder for latents and compressors")
    flags = _ConfigFlags()
    add = functools_partial(flags.add, p)
    add("--epochs", "encode.epochs", type=int, help="training epochs (default 50)")
    add("--batch-size", "encode.batch_size", type=int, help="training batch (default 512)")
    add("--lr", "encode.lr", type=float, help="Adam learning rate (default 1e-3)")
    add("--train-fraction", "encode.train_fraction", type=float,
        help="train on a seeded random fraction (0, 1] of each group; encode all of it")
    add("--idc", "encode.idc", choices=("inter", "intra", "none"),
        help="instance-discrimination loss: inter (paper, default), intra (released code)")
    add("--decoder", "encode.model.decoder", choices=("transformer", "bypass"),
        help="transformer (paper, default) or bypass (released code)")
    add("--beta", "encode.beta", type=float, help="weight of L_IDC (default 1e-4)")
    add("--seed", "encode.seed", type=int)
    add("--device", "encode.device", help="auto (default), cpu, cuda or cuda:N")
    add("--threads", "encode.threads", type=int, help="torch CPU threads")
    add("--encode-batch", "encode.encode_batch", type=int,
        help="rows per encoding block (default 1024; fixed for a resumable run)")
    add("--groups", "encode.groups", nargs="+", help="only these montage groups")
    _add_common(p)
    p.set_defaults(handler=lambda args: _run_encode(args, flags), _flags=flags)


def _run_encode(args: argparse.Namespace, flags: _ConfigFlags) -> int:
    from streamdistill.encode.latents import LatentsMismatch
    from streamdistill.encode.run import run_encode
    from streamdistill.encode.train import TrainingError
    from streamdistill.store import StoreError, open_store

    cfg = _load(args, flags)
    try:
        store = open_store(args.store)
        summary = run_encode(store, args.out, cfg.encode, progress=not args.no_progress)
    except (StoreError, LatentsMismatch, TrainingError, RuntimeError, FileNotFoundError) as exc:
        print(f"streamdistill encode: {exc}", file=sys.stderr)
        return 2
    write_resolved(cfg, args.out)
    print(summary.line())
    return 0


# ------------------------------------------------------------------------------------ select
def register_select(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "select", help=PIPELINE["select"],
        description="EEG-DLite selection: drop the top τ%% of each montage group by HBOS in "
        "latent space, then order the rest by k-center greedy (farthest-first) up to the "
        "largest η; every smaller η is a prefix. Writes hbos.npy, order.npy, radius.npy, "
        "scopes.parquet, selection.json and report/*.png. Rerun with a larger η to extend.",
    )
    p.add_argument("latents", metavar="LATENTS", nargs="?",
                   help="output folder of `encode` (or a float32 (N, d) .npy); not needed by "
                   "--method pca-kcenter")
    p.add_argument("--out", required=True, help="selection folder (created / resumed)")
    p.add_argument("--store", help="segment store (default: the one named in latents.json)")
    p.add_argument("--segments", help="parquet table segment_id, group, recording_id, subject "
                   "(instead of a store, for latents made elsewhere)")
    p.add_argument("--extend", metavar="SEL", help="continue from a previous selection's picks")
    p.add_argument("--export", nargs=2, metavar=("KIND", "DIR"),
                   help="also write the selected segments: KIND wds or npy, into DIR")
    p.add_argument("--export-eta", type=float, help="η of the export (default: the largest)")
    flags = _ConfigFlags()
    add = functools_partial(flags.add, p)
    add("--method", "select.method", choices=("dlite", "random", "pca-kcenter"),
        help="dlite (default), random, or pca-kcenter (ablation)")
    add("--tau", "select.tau", type=float, help="outlier percent removed per group, [0, 50) "
        "(default 1)")
    add("--eta", "select.eta", type=float, nargs="+",
        help="selection percents in (0, 100] (default 5 10 25)")
    add("--scope", "select.scope", choices=("group", "recording", "subject"),
        help="group (default), recording (released code), subject (capped shares)")
    add("--subject-cap", "select.subject_cap", type=float,
        help="scope subject: largest share of any subject, (0, 1] (default 1/subjects)")
    add("--init", "select.init", choices=("medoid", "first", "random"),
        help="first k-center pick: medoid (default), first (released code), random")
    add("--seed", "select.seed", type=int)
    add("--n-bins", "select.n_bins", help="HBOS bins: auto (default) or an integer")
    add("--device", "select.device", help="cpu (default), cuda, cuda:N or auto")
    add("--precision", "select.precision", choices=("fp32", "fp16"),
        help="k-center storage precision on GPU (fp16 is not exact)")
    add("--pruning", "select.pruning", choices=("auto", "on", "off"))
    add("--threads", "select.threads", type=int, help="numba threads")
    add("--block-rows", "select.block_rows", type=int, help="latent rows per streamed block")
    _add_common(p)
    p.set_defaults(handler=lambda args: _run_select(args, flags), _flags=flags)


def _run_select(args: argparse.Namespace, flags: _ConfigFlags) -> int:
    from streamdistill.select.inputs import SelectInputError
    from streamdistill.select.run import run_select
    from streamdistill.select.selection import SelectionError, open_selection
    from streamdistill.store import StoreError, open_store

    cfg = _load(args, flags)
    if args.export and args.export[0] not in ("wds", "npy"):
        raise ConfigError("select.export", f"KIND must be wds or npy (got {args.export[0]!r})")
    if args.export_eta is not None and not 0 < args.export_eta <= max(cfg.select.eta):
        raise ConfigError("select.export_eta",
                          f"must be in (0, {max(cfg.select.eta):g}] (the largest --eta)")
    flags.flag_of.update({"select.export": "--export", "select.export_eta": "--export-eta"})
    if args.latents is None and cfg.select.method != "pca-kcenter":
        raise ConfigError("select.method", f"{cfg.select.method} needs LATENTS (the output "
                          "folder of `streamdistill encode`)")
    from streamdistill.io_utils import check_writable_dir
    try:
        check_writable_dir(args.out, "--out")
        if args.export:
            check_writable_dir(args.export[1], "--export DIR")
        summary = run_select(args.latents, args.out, cfg.select, store=args.store,
                             segments=args.segments, extend=args.extend,
                             progress=not args.no_progress)
        write_resolved(cfg, args.out)
        print(summary.line())
        if args.export:
            from streamdistill.select.export import export_selection
            sel = open_selection(args.out)
            store_path = args.store or sel.meta.get("store")
            if not store_path:
                raise SelectionError("--export needs the segment store: pass --store")
            eta = args.export_eta if args.export_eta is not None else max(cfg.select.eta)
            paths = export_selection(open_store(store_path), sel.subset(eta), args.export[0],
                                     args.export[1], progress=not args.no_progress)
            print(f"select: exported η = {eta:g}% as {args.export[0]} ({len(paths)} file(s)) "
                  f"into {args.export[1]}")
    except (SelectInputError, SelectionError, StoreError, FileNotFoundError,
            PermissionError) as exc:
        print(f"streamdistill select: {exc}", file=sys.stderr)
        return 2
    return 0


# ---------------------------------------------------------------------------------- pretrain
def register_pretrain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain", help=PIPELINE["pretrain"],
        description="Pretrain LaBraM on the selected segments, streamed from the store: the "
        "VQ-NSP tokenizer, then masked EEG modeling against its codes. Without --selection the "
        "whole store is used (the paper's full-data arm). Works under `torchrun "
        "--nproc_per_node N` (each rank reads an equal, disjoint share).",
    )
    p.add_argument("store", metavar="STORE", help="segment store written by `shard`")
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, weights)")
    p.add_argument("--selection", help="selection folder written by `select`")
    p.add_argument("--tokenizer", help="a trained tokenizer.pt to use for --stage mem")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    flags = _ConfigFlags()
    add = functools_partial(flags.add, p)
    add("--eta", "pretrain.eta", type=float,
        help="selection prefix in percent (default: the selection's largest η)")
    add("--stage", "pretrain.stage", choices=("tokenizer", "mem", "all"))
    add("--model", "pretrain.model", choices=("tiny", "base", "large", "huge"),
        help="student size (default base, 5.8M)")
    add("--tokenizer-encoder", "pretrain.tokenizer_encoder",
        choices=("tiny", "base", "large", "huge"))
    add("--batch-size", "pretrain.batch_size", type=int, help="per process (default 64)")
    add("--tokenizer-epochs", "pretrain.tokenizer.epochs", type=int, help="default 100")
    add("--mem-epochs", "pretrain.mem.epochs", type=int, help="default 50")
    add("--seed", "pretrain.seed", type=int)
    add("--device", "pretrain.device", help="auto (default), cpu, cuda or cuda:N")
    add("--workers", "pretrain.num_workers", type=int, help="DataLoader workers (default 2)")
    add("--threads", "pretrain.threads", type=int, help="torch CPU threads")
    add("--checkpoint-every", "pretrain.checkpoint_every", type=int,
        help="steps between checkpoints (default 500)")
    _add_common(p)
    p.set_defaults(handler=lambda args: _run_pretrain(args, flags), _flags=flags)


def _run_pretrain(args: argparse.Namespace, flags: _ConfigFlags) -> int:
    from streamdistill.io_utils import check_writable_dir
    from streamdistill.pretrain.run import PretrainError, run_pretrain

    cfg = _load(args, flags)
    try:
        check_writable_dir(args.out, "--out")
        summary = run_pretrain(args.store, args.out, cfg.pretrain, selection=args.selection,
                               tokenizer=args.tokenizer, resume=args.resume,
                               progress=not args.no_progress)
    except (PretrainError, FileNotFoundError, PermissionError) as exc:
        print(f"streamdistill pretrain: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        write_resolved(cfg, args.out)
        print(summary.line())
    return 0


# ------------------------------------------------------------------------------------ report
def register_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help=PIPELINE["report"],
        description="Gather a workspace's outputs (stores, latents, selections, pretraining "
        "runs, evaluation results; any layout, searched recursively) into one self-contained "
        "HTML page with the plots.",
    )
    p.add_argument("workspace", metavar="WORKSPACE", help="folder holding the outputs")
    p.add_argument("--out", help="HTML file (default WORKSPACE/report/index.html)")
    p.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from streamdistill.report import write_report

    try:
        path = write_report(args.workspace, args.out)
    except (FileNotFoundError, PermissionError) as exc:
        print(f"streamdistill report: {exc}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


# -------------------------------------------------------------------------------------- demo
def register_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help=PIPELINE["demo"],
        description="Generate a small multi-subject synthetic EEG corpus (EDF, FIF, BrainVision, "
        "EEGLAB; labelled artifacts) and run the pipeline on it. Today: generate → shard → "
        "encode (with the `tiny` compressor unless --config says otherwise) → select → "
        "pretrain (tiny LaBraM) → evaluate (linear probe on a synthetic motor-imagery task, "
        "pretrained vs random init) → report (HTML).",
    )
    p.add_argument("--workspace", type=Path, default=Path("demo-workspace"),
                   help="folder for the corpus and every output (default ./demo-workspace)")
    p.add_argument("--subjects", type=int, default=4, help="synthetic subjects (1-100)")
    p.add_argument("--minutes", type=float, default=3.0,
                   help="minutes per recording (0.2-600)")
    p.add_argument("--seed", type=int, default=0)
    flags = _ConfigFlags()
    flags.add(p, "--workers", "shard.workers", type=int, help="worker processes")
    _add_common(p)
    flags.flag_of.update({"demo.subjects": "--subjects", "demo.minutes": "--minutes"})
    p.set_defaults(handler=lambda args: _run_demo(args, flags), _flags=flags)


def _run_demo(args: argparse.Namespace, flags: _ConfigFlags) -> int:
    if not 1 <= args.subjects <= 100:
        raise ConfigError("demo.subjects", f"must be in [1, 100] (got {args.subjects})")
    if not 0.2 <= args.minutes <= 600:
        raise ConfigError("demo.minutes", f"must be in [0.2, 600] (got {args.minutes})")
    if args.config is None:
        args.config = "tiny"
    cfg = _load(args, flags)
    from streamdistill.encode.run import run_encode
    from streamdistill.shard.run import run_shard
    from streamdistill.store import open_store
    from streamdistill.synth import generate_corpus

    corpus = args.workspace / "corpus"
    store = args.workspace / "store"
    print(f"demo: generating {args.subjects} subjects into {corpus}")
    table = generate_corpus(corpus, n_subjects=args.subjects, duration_s=args.minutes * 60,
                            seed=args.seed, progress=not args.no_progress)
    print(f"demo: {len(table)} recordings written; sharding into {store}")
    summary = run_shard([str(corpus)], store, cfg.shard, progress=not args.no_progress)
    write_resolved(cfg, store)
    print(summary.line())
    if not summary.kept_anything:
        return 1
    latents = args.workspace / "latents"
    print(f"demo: training compressors and encoding into {latents}")
    encoded = run_encode(open_store(store), latents, cfg.encode, progress=not args.no_progress)
    write_resolved(cfg, latents)
    print(encoded.line())
    from streamdistill.select.run import run_select

    selection = args.workspace / "selection"
    print(f"demo: HBOS + k-center selection into {selection}")
    selected = run_select(latents, selection, cfg.select, store=store,
                          progress=not args.no_progress)
    write_resolved(cfg, selection)
    print(selected.line())
    from streamdistill.pretrain.run import run_pretrain

    run_dir = args.workspace / "pretrain"
    # a small demo corpus may select fewer segments of a group than one batch: shrink the batch
    from streamdistill.select.selection import open_selection

    groups, _ = open_store(store).locate(open_selection(selection).subset(max(cfg.select.eta)))
    smallest = min(int((groups == g).sum()) for g in set(groups.tolist()))
    if smallest < cfg.pretrain.batch_size:
        cfg.pretrain.batch_size = max(1, smallest)
        print(f"demo: batch size {cfg.pretrain.batch_size} (the smallest group selects "
              f"{smallest} segments)")
    print(f"demo: pretraining LaBraM ({cfg.pretrain.model}) on the selection into {run_dir}")
    pretrained = run_pretrain(store, run_dir, cfg.pretrain, selection=selection,
                              resume=True, progress=not args.no_progress)
    write_resolved(cfg, run_dir)
    print(pretrained.line())
    from streamdistill.evaluate.run import run_evaluate
    from streamdistill.evaluate.tasks import load_task
    from streamdistill.report import write_report
    from streamdistill.synth.events import generate_event_task

    task_yaml = generate_event_task(args.workspace / "task", seed=args.seed)
    task = load_task(task_yaml)
    for name, source in (("pretrained", run_dir), ("random", "random")):
        print(f"demo: linear probe of the {name} backbone on {task.name}")
        res = run_evaluate(str(source), task, protocol="probe", seed=cfg.evaluate.seed,
                           out=args.workspace / "evaluate" / name, size=cfg.pretrain.model,
                           cache_dir=args.workspace / "task" / "cache", device="cpu")
        test = res["metrics"]["test"]
        print(f"demo: {name}: test balanced accuracy {test['balanced_accuracy']:.3f}, "
              f"κ {test['cohen_kappa']:.3f}")
    page = write_report(args.workspace)
    print(f"demo: done. The report is {page}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamdistill",
        description="Out-of-core EEG-DLite: shard | encode | select | pretrain an EEG corpus "
        "into a small LaBraM pretraining set.",
    )
    parser.add_argument("--version", action="version", version=f"streamdistill {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from streamdistill.evaluate.cli import register_evaluate

    registry = {"shard": register_shard, "encode": register_encode, "select": register_select,
                "pretrain": register_pretrain, "evaluate": register_evaluate,
                "report": register_report, "demo": register_demo}
    for name in PIPELINE:
        registry[name](sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        flags = getattr(args, "_flags", None)
        message = flags.describe(exc, args) if flags else str(exc)
        print(f"streamdistill {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
