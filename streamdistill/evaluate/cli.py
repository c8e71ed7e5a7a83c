"""``streamdistill evaluate`` subcommand: flags, up-front validation, handler.

``register_evaluate(subparsers)`` adds the subcommand (the main CLI calls it). Every flag value is
checked before any work: a bad value is reported with the flag's name and allowed range and the
handler returns 2; so do an unknown task, a missing data root or model source. Exit codes: 0 done,
2 bad input (flags, task definition, data, model source); anything unexpected propagates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


_SIZES = ("tiny", "base", "large", "huge")


def register_evaluate(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate RUN --task NAME|YAML --protocol probe|finetune --out DIR`` to ``sub``."""
    from streamdistill.evaluate.tasks import builtin_tasks

    p = sub.add_parser(
        "evaluate", help="pretrained model → downstream scores",
        description="Score a LaBraM backbone on a labelled event task: windows cut after each "
        "annotation onset, preprocessed as `shard` does and cached per task; a linear probe on "
        "frozen mean-pooled features or full fine-tuning (LaBraM recipe); balanced accuracy, "
        "Cohen's kappa, weighted F1 and AUROC per split in OUT/results.json.",
    )
    p.add_argument("model", metavar="RUN",
                   help="a pretrain run folder (mem/student.pt), 'random' (no pretraining, see "
                        "--size), or a braindecode Labram .pt (e.g. RUN/mem/braindecode.pt)")
    p.add_argument("--task", required=True,
                   help=f"built-in task ({', '.join(builtin_tasks())}) or a task YAML path")
    from streamdistill.cli import _ConfigFlags, functools_partial

    p.add_argument("--out", required=True, help="output folder for results.json")
    flags = _ConfigFlags()
    add = functools_partial(flags.add, p)
    add("--protocol", "evaluate.protocol", choices=("probe", "finetune"),
        help="probe: logistic regression on frozen features (default); finetune")
    add("--seed", "evaluate.seed", type=int, help="seed of init, training order (default 0)")
    add("--size", "evaluate.size", help=f"backbone size for RUN=random: one of "
        f"{', '.join(_SIZES)} (default base)")
    add("--epochs", "evaluate.finetune.epochs", type=int, help="fine-tuning epochs (default 5)")
    add("--batch-size", "evaluate.finetune.batch_size", type=int,
        help="fine-tuning batch (default 32)")
    add("--lr", "evaluate.finetune.lr", type=float,
        help="fine-tuning base learning rate (default 5e-4)")
    add("--device", "evaluate.device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--data-root", default=None,
                   help="replace the task's data root (default: its 'root', ${SHARED_DATA} = "
                        "$SHARED_DATA or the nearest ../shared/data)")
    p.add_argument("--cache", default=None,
                   help="window cache folder (default $STREAMDISTILL_CACHE/evaluate or "
                        "~/.cache/streamdistill/evaluate)")
    p.add_argument("--config", type=Path, default=None,
                   help="YAML config (default: built-in defaults = configs/default.yaml)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config key, e.g. --set evaluate.finetune.drop_path=0.2")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.set_defaults(handler=lambda args: _run_evaluate(args, flags), _flags=flags)


def _fail(message: str) -> int:
    print(f"streamdistill evaluate: {message}", file=sys.stderr)
    return 2


def _validate(args: argparse.Namespace, cfg):
    """Check what the config cannot (no data is read); returns ``(task, error or None)``.

    ``cfg`` is the validated :class:`~streamdistill.config.EvaluateConfig` (ranges of every
    flag were checked when it was loaded)."""
    from streamdistill.evaluate.tasks import TaskError, load_task

    finetune_flags = [f for f, k in (("--epochs", "epochs"), ("--batch-size", "batch_size"),
                                     ("--lr", "lr"))
                      if getattr(args, f"evaluate.finetune.{k}", None) is not None]
    if cfg.protocol == "probe" and finetune_flags:
        return None, f"{', '.join(finetune_flags)} apply to --protocol finetune only"
    if args.model != "random":
        if getattr(args, "evaluate.size", None) is not None:
            return None, "--size applies only to RUN=random (a checkpoint knows its size)"
        if not Path(args.model).exists():
            return None, (f"RUN {args.model}: no such folder or file; pass a pretrain run "
                          "folder, a .pt file or 'random'")
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None, f"--device {cfg.device}: CUDA is not available here; use --device cpu"
    if args.data_root is not None and not Path(args.data_root).is_dir():
        return None, f"--data-root {args.data_root}: no such folder"
    try:
        task = load_task(args.task, data_root=args.data_root)
    except TaskError as exc:
        return None, f"--task {args.task}: {exc}"
    if not task.root.is_dir():
        return None, (f"--task {args.task}: data root {task.root} does not exist; pass "
                      "--data-root DIR or set SHARED_DATA")
    from streamdistill.io_utils import check_writable_dir

    try:
        check_writable_dir(args.out, "--out")
        if args.cache:
            check_writable_dir(args.cache, "--cache")
    except PermissionError as exc:
        return None, str(exc)
    return task, None


def _run_evaluate(args: argparse.Namespace, flags) -> int:
    from streamdistill.cli import _load
    from streamdistill.config import write_resolved
    from streamdistill.evaluate.run import EvaluateError, run_evaluate
    from streamdistill.evaluate.tasks import TaskError

    full = _load(args, flags)
    cfg = full.evaluate
    task, error = _validate(args, cfg)
    if error:
        return _fail(error)
    log = None if args.no_progress else (lambda line: print(line, file=sys.stderr))
    try:
        results = run_evaluate(args.model, task, protocol=cfg.protocol, seed=cfg.seed,
                               out=args.out, size=cfg.size, cache_dir=args.cache,
                               device=cfg.device, finetune_cfg=cfg.finetune,
                               probe_cfg=cfg.probe, log=log)
    except (TaskError, EvaluateError) as exc:
        return _fail(str(exc))
    write_resolved(full, args.out)
    test = results["metrics"]["test"]
    print(f"evaluate {results['task']['name']} ({cfg.protocol}, {results['model']['kind']} "
          f"{results['model']['size']}): test balanced accuracy {test['balanced_accuracy']:.4f}, "
          f"kappa {test['cohen_kappa']:.4f}, weighted F1 {test['f1_weighted']:.4f}, AUROC "
          f"{'n/a' if test['auroc'] is None else format(test['auroc'], '.4f')} → "
          f"{Path(args.out) / 'results.json'}")
    return 0
