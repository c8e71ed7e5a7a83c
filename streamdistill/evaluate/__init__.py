"""``evaluate`` stage: downstream scores of a LaBraM backbone on labelled EEG event tasks.

- :mod:`~streamdistill.evaluate.tasks` — task YAMLs (files, annotation → class, windows, subject
  splits); built-in tasks in ``tasks/*.yaml``
- :mod:`~streamdistill.evaluate.windows` — event windows preprocessed as ``shard`` does, streamed
  block by block, cached on disk per task
- :mod:`~streamdistill.evaluate.metrics` — balanced accuracy, Cohen's κ, weighted F1, AUROC
- :mod:`~streamdistill.evaluate.protocols` — linear probe and full fine-tuning (LaBraM recipe)
- :mod:`~streamdistill.evaluate.run` — model sources and :func:`run_evaluate` (``results.json``)
- :mod:`~streamdistill.evaluate.cli` — ``register_evaluate`` for the ``streamdistill`` CLI
"""

# Light package import (the CLI imports ``evaluate.cli`` at start-up): the modules above load
# torch and MNE, so their names are resolved on first use.
_EXPORTS = {
    "classification_metrics": "metrics", "finetune": "protocols", "linear_probe": "protocols",
    "EvaluateError": "run", "load_backbone": "run", "run_evaluate": "run", "Task": "tasks",
    "TaskError": "tasks", "builtin_tasks": "tasks", "load_task": "tasks",
    "WindowCache": "windows", "build_cache": "windows", "scan_task": "windows",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"streamdistill.evaluate.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'streamdistill.evaluate' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
