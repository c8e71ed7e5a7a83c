"""Downstream task definitions: a labelled event dataset read straight from EEG files (YAML).

A task is one YAML file of this form (every key but ``name``, ``root``, ``files``, ``classes``
and ``splits.test`` has a default)::

    name: eegmmidb_lr_imagery
    root: ${SHARED_DATA}/eegmmidb       # absolute, relative to the YAML, or ${VAR}/...
    files: ["S*/S*R*.edf"]              # globs under root
    run_regex: 'R(?P<run>\\d+)\\.edf$'  # optional: a run number from the path ...
    runs: [4, 8, 12]                    # ... and the runs to keep
    subject_regex: '(?P<subject>S\\d{3})'   # searched in the path relative to root
    classes: {T1: left_fist, T2: right_fist}  # annotation description -> class name
    window: {offset_s: 0.0, length_s: 4}      # after each onset; whole seconds, 1..16 (LaBraM)
    splits:
      test: [S016, S017, S018, S019, S020]    # a list, or {n: N} / {fraction: F} (seeded)
      val: {n: 3}                             # chosen from the rest; train = the rest
      seed: 0
    preprocess: {}                            # PreprocessConfig overrides (default = shard's)

Several descriptions may map to one class; class ``k`` is the ``k``-th distinct name in
``classes``. Annotations not in ``classes`` are ignored (and counted). Split membership is decided
per *subject*, so a subject is never in two splits.

Built-in tasks ship in ``streamdistill/evaluate/tasks/*.yaml`` and are found by name through
:mod:`importlib.resources`. ``${SHARED_DATA}`` is the environment variable of that name or, if it
is unset, the first ``<ancestor>/shared/data`` folder above the working directory or above this
package (a checkout next to ``../shared/data``). ``data_root=`` (``--data-root``) replaces ``root``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from streamdistill.config import ConfigError, PreprocessConfig

#: Split names in the order they are chosen (test first, then val from the rest).
SPLITS: tuple[str, ...] = ("train", "val", "test")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TaskError(ValueError):
    """A task cannot be loaded or has no usable data; the message names the task, file or key and
    what to do."""


@dataclass(frozen=True)
class SplitRule:
    """One split's membership: explicit ``subjects``, or ``n`` / ``fraction`` of the subjects
    left, drawn with the task's split seed."""

    subjects: tuple[str, ...] | None = None
    n: int | None = None
    fraction: float | None = None

    @classmethod
    def parse(cls, value: Any, key: str) -> SplitRule:
        if value is None:
            return cls(n=0)
        if isinstance(value, (list, tuple)):
            return cls(subjects=tuple(str(s) for s in value))
        if isinstance(value, dict) and set(value) <= {"n", "fraction"} and len(value) == 1:
            if "n" in value:
                n = value["n"]
                if not isinstance(n, int) or n < 0:
                    raise TaskError(f"{key}.n must be an integer >= 0 (got {n!r})")
                return cls(n=n)
            frac = value["fraction"]
            if not isinstance(frac, (int, float)) or not 0 < frac < 1:
                raise TaskError(f"{key}.fraction must be in (0, 1) (got {frac!r})")
            return cls(fraction=float(frac))
        raise TaskError(f"{key} must be a list of subjects, {{n: N}} or {{fraction: F}} "
                        f"(got {value!r})")

    def to_dict(self) -> Any:
        if self.subjects is not None:
            return list(self.subjects)
        return {"n": self.n} if self.n is not None else {"fraction": self.fraction}


@dataclass(frozen=True)
class Task:
    """A resolved task definition (see the module docstring); ``root`` is absolute."""

    name: str
    root: Path
    files: tuple[str, ...]
    classes: dict[str, str]
    subject_regex: str = r"(?P<subject>[^/]+)/"
    run_regex: str | None = None
    runs: tuple[int, ...] | None = None
    offset_s: float = 0.0
    length_s: int = 4
    test: SplitRule = field(default_factory=lambda: SplitRule(n=1))
    val: SplitRule = field(default_factory=lambda: SplitRule(n=1))
    split_seed: int = 0
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    description: str = ""
    source: str = ""

    @property
    def class_names(self) -> list[str]:
        """Distinct class names in definition order; label ``k`` is ``class_names[k]``."""
        return list(dict.fromkeys(self.classes.values()))

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data (written beside every result and hashed for the cache)."""
        return {
            "name": self.name, "root": str(self.root), "files": list(self.files),
            "classes": dict(self.classes), "subject_regex": self.subject_regex,
            "run_regex": self.run_regex, "runs": None if self.runs is None else list(self.runs),
            "window": {"offset_s": self.offset_s, "length_s": self.length_s},
            "splits": {"test": self.test.to_dict(), "val": self.val.to_dict(),
                       "seed": self.split_seed},
            "preprocess": dataclasses.asdict(self.preprocess),
        }

    # ---------------------------------------------------------------------------- discovery
    def discover(self) -> list[tuple[str, str, int | None]]:
        """Files of the task: sorted ``(path relative to root, subject, run or None)``.

        Raises :class:`TaskError` when the root is missing, no file matches, or a path does not
        match ``subject_regex``.
        """
        if not self.root.is_dir():
            raise TaskError(f"task {self.name!r}: data root {self.root} does not exist; pass "
                            "--data-root DIR (data_root=) or set SHARED_DATA")
        found: set[str] = set()
        for pattern in self.files:
            for path in self.root.glob(pattern):
                if path.is_file():
                    found.add(path.relative_to(self.root).as_posix())
        subj_re, run_re = re.compile(self.subject_regex), (
            re.compile(self.run_regex) if self.run_regex else None)
        out: list[tuple[str, str, int | None]] = []
        for rel in sorted(found):
            run = None
            if run_re is not None:
                m = run_re.search(rel)
                if m is None:
                    continue
                run = int(m.group("run") if "run" in run_re.groupindex else m.group(1))
                if self.runs is not None and run not in self.runs:
                    continue
            m = subj_re.search(rel)
            if m is None:
                raise TaskError(f"task {self.name!r}: subject_regex {self.subject_regex!r} does "
                                f"not match file {rel}; fix the regex in {self.source or 'the task'}")
            subject = m.group("subject") if "subject" in subj_re.groupindex else m.group(
                1 if subj_re.groups else 0)
            out.append((rel, subject, run))
        if not out:
            raise TaskError(f"task {self.name!r}: no file under {self.root} matches {list(self.files)}"
                            + (f" with runs {list(self.runs)}" if self.runs else ""))
        return out


def assign_splits(subjects: list[str], test: SplitRule, val: SplitRule, seed: int,
                  task: str = "task") -> dict[str, str]:
    """Subject → split. Test subjects first (listed or drawn), validation from the rest (listed or
    drawn with ``np.random.default_rng(seed)`` over the sorted subjects), train = the rest.

    Each subject gets exactly one split, so no subject's windows are in two splits. Listed
    subjects that have no files are ignored. Raises :class:`TaskError` if a subject is listed in
    both test and val, or if train or test ends up empty.
    """
    pool = sorted(set(subjects))
    rng = np.random.default_rng(seed)
    if test.subjects and val.subjects and set(test.subjects) & set(val.subjects):
        raise TaskError(f"{task}: subjects {sorted(set(test.subjects) & set(val.subjects))} are "
                        "listed in both splits.test and splits.val")

    def draw(rule: SplitRule, left: list[str]) -> list[str]:
        if rule.subjects is not None:
            return [s for s in left if s in set(rule.subjects)]
        k = rule.n if rule.n is not None else round(rule.fraction * len(left))  # type: ignore[operator]
        k = min(k, max(len(left) - 1, 0))
        return sorted(rng.permutation(left)[:k].tolist()) if k else []

    chosen_test = draw(test, pool)
    rest = [s for s in pool if s not in set(chosen_test)]
    chosen_val = draw(val, rest)
    out = {s: "train" for s in pool}
    out.update({s: "val" for s in chosen_val})
    out.update({s: "test" for s in chosen_test})
    if not chosen_test:
        raise TaskError(f"{task}: the test split is empty (none of splits.test "
                        f"{test.to_dict()} among the subjects found: {pool[:10]}...)")
    if "train" not in out.values():
        raise TaskError(f"{task}: no subject left for training ({len(pool)} subjects)")
    return out


# -------------------------------------------------------------------------------- loading
def builtin_tasks() -> list[str]:
    """Names of the tasks shipped with the package."""
    folder = resources.files("streamdistill.evaluate") / "tasks"
    return sorted(p.name.rsplit(".", 1)[0] for p in folder.iterdir() if p.name.endswith(".yaml"))


def shared_data_dir() -> Path | None:
    """``$SHARED_DATA``, else the first ``<ancestor>/shared/data`` above the working directory or
    above this package; None if there is none."""
    env = os.environ.get("SHARED_DATA")
    if env:
        return Path(env)
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "shared" / "data").is_dir():
                return folder / "shared" / "data"
    return None


def _expand(text: str, where: str) -> str:
    def sub(m: re.Match) -> str:
        var = m.group(1)
        value = str(shared_data_dir() or "") if var == "SHARED_DATA" else os.environ.get(var, "")
        if not value:
            raise TaskError(f"{where}: ${{{var}}} is not set; set the environment variable or "
                            "pass --data-root DIR")
        return value

    return _VAR.sub(sub, text)


def load_task(task: str | os.PathLike, *, data_root: str | os.PathLike | None = None) -> Task:
    """Load a task by built-in name or YAML path; ``data_root`` replaces the YAML's ``root``.

    Raises :class:`TaskError` for an unknown name, a malformed YAML or out-of-range values.
    """
    text = str(task)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise TaskError(f"task file {path} does not exist")
        doc, base, source = yaml.safe_load(path.read_text()), path.resolve().parent, str(path)
    else:
        names = builtin_tasks()
        if text not in names:
            raise TaskError(f"unknown task {text!r}: built-in tasks are {names}; or pass the path "
                            "of a task YAML")
        res = resources.files("streamdistill.evaluate") / "tasks" / f"{text}.yaml"
        doc, base, source = yaml.safe_load(res.read_text()), None, f"built-in task {text}"
    if not isinstance(doc, dict):
        raise TaskError(f"{source}: expected a YAML mapping")
    return parse_task(doc, base=base, source=source, data_root=data_root)


def parse_task(doc: dict[str, Any], *, base: Path | None = None, source: str = "task",
               data_root: str | os.PathLike | None = None) -> Task:
    """Build a :class:`Task` from a parsed YAML mapping (see :func:`load_task`)."""
    known = {"name", "description", "root", "files", "run_regex", "runs", "subject_regex",
             "classes", "window", "splits", "preprocess"}
    unknown = set(doc) - known
    if unknown:
        raise TaskError(f"{source}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    for key in ("name", "files", "classes"):
        if not doc.get(key):
            raise TaskError(f"{source}: '{key}' is required")
    name = str(doc["name"])
    if data_root is not None:
        root = Path(data_root).expanduser()
    else:
        if not doc.get("root"):
            raise TaskError(f"{source}: 'root' is required (or pass --data-root DIR)")
        root = Path(_expand(str(doc["root"]), f"{source}: root")).expanduser()
        if not root.is_absolute():
            root = (base or Path.cwd()) / root
    files = doc["files"]
    files = (files,) if isinstance(files, str) else tuple(str(f) for f in files)
    classes = doc["classes"]
    if not isinstance(classes, dict) or not all(isinstance(v, (str, int)) for v in classes.values()):
        raise TaskError(f"{source}: 'classes' must map annotation descriptions to class names")
    window = doc.get("window") or {}
    offset, length = float(window.get("offset_s", 0.0)), window.get("length_s", 4)
    if not (isinstance(length, (int, float)) and float(length).is_integer() and 1 <= length <= 16):
        raise TaskError(f"{source}: window.length_s must be whole seconds in [1, 16] (LaBraM: 1-s "
                        f"patches, 16-row time embedding), got {length!r}")
    splits = doc.get("splits") or {}
    if "test" not in splits:
        raise TaskError(f"{source}: splits.test is required (a list of subjects or {{n: N}})")
    try:
        pre = PreprocessConfig(**(doc.get("preprocess") or {}))
    except TypeError as exc:
        raise TaskError(f"{source}: preprocess: {exc} (keys are PreprocessConfig fields, e.g. "
                        "l_freq, h_freq, notch_freq, sfreq, block_s)") from None
    try:
        pre.validate()
    except ConfigError as exc:
        raise TaskError(f"{source}: preprocess: {exc.key.rsplit('.', 1)[-1]} {exc}") from None
    runs = doc.get("runs")
    if runs is not None and not doc.get("run_regex"):
        raise TaskError(f"{source}: 'runs' needs 'run_regex' (a regex with a group named run)")
    for key in ("subject_regex", "run_regex"):
        if doc.get(key):
            try:
                re.compile(doc[key])
            except re.error as exc:
                raise TaskError(f"{source}: {key} is not a valid regex ({exc})") from None
    return Task(
        name=name, root=root.resolve(), files=files,
        classes={str(k): str(v) for k, v in classes.items()},
        subject_regex=str(doc.get("subject_regex") or Task.subject_regex),
        run_regex=doc.get("run_regex"), runs=None if runs is None else tuple(int(r) for r in runs),
        offset_s=offset, length_s=int(length),
        test=SplitRule.parse(splits.get("test"), "splits.test"),
        val=SplitRule.parse(splits.get("val", {"n": 1}), "splits.val"),
        split_seed=int(splits.get("seed", 0)), preprocess=pre,
        description=str(doc.get("description", "")), source=source,
    )


def task_digest(task: Task, files: list[tuple[str, int, int]]) -> str:
    """SHA-256 of the task definition, the preprocessing (``block_s`` excluded: it does not change
    the output) and each file's ``(relative path, size, mtime_ns)``: the window cache's key."""
    definition = task.to_dict()
    definition["preprocess"] = {k: v for k, v in definition["preprocess"].items()
                                if k not in ("block_s",)}
    payload = {"format": 1, "task": definition, "files": files}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

