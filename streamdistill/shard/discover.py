"""Find the EEG files behind ``shard INPUT...`` and name their dataset / subject / session.

INPUT may be a file, a folder (searched recursively), a glob, or a BIDS root (a folder with
``dataset_description.json``, read with mne-bids so that ``channels.tsv`` types are honoured).
Every file MNE can read is a candidate; sidecar files (EEGLAB ``.fdt``, BrainVision ``.vmrk`` and
its ``.eeg`` data file) are not recordings of their own.
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass
from pathlib import Path

#: Extensions of recordings MNE reads with ``mne.io.read_raw`` (lower case).
EEG_EXTENSIONS: tuple[str, ...] = (
    ".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".vhdr", ".set", ".cnt", ".mff", ".eeg",
    ".lay", ".nedf", ".data", ".xdf", ".ahdr", ".nxe", ".mat",
)
#: Extensions MNE's generic reader handles; other matches (``.xdf``, ``.mat``) only when explicit.
_DIRECTORY_EXTENSIONS = tuple(e for e in EEG_EXTENSIONS if e not in (".xdf", ".mat", ".data"))
_BIDS_ENTITY = re.compile(r"(?:^|[_/])(sub|ses)-([A-Za-z0-9]+)")


@dataclass(frozen=True)
class RecordingTask:
    """One input file to shard: the unit of work of ``shard`` (see ``recording.py``).

    ``path`` is absolute; ``bids_root`` is set when the file came from a BIDS root.
    """

    path: str
    dataset: str
    subject: str
    session: str
    bids_root: str | None = None


def _extension(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


def _is_sidecar(path: Path) -> bool:
    """BrainVision data (``.eeg`` beside a ``.vhdr``) is read through its header."""
    if _extension(path) == ".eeg":
        return path.with_suffix(".vhdr").exists() or path.with_suffix(".VHDR").exists()
    return False


def _candidates(folder: Path) -> list[Path]:
    out = []
    for p in folder.rglob("*"):
        if p.is_file() and _extension(p) in _DIRECTORY_EXTENSIONS and not _is_sidecar(p):
            if not any(part.startswith(".") for part in p.relative_to(folder).parts):
                out.append(p)
    return out


def _entities_from_path(
    rel: Path, pattern: re.Pattern[str] | None
) -> tuple[str | None, str | None, str | None]:
    """(dataset, subject, session) from the configured regex, else BIDS-style entities in the path,
    else the parent folder as subject."""
    text = rel.as_posix()
    if pattern is not None:
        m = pattern.search(text)
        if m:
            d = m.groupdict()
            return d.get("dataset"), d.get("subject"), d.get("session")
    found = dict((k, v) for k, v in _BIDS_ENTITY.findall(text))
    subject = found.get("sub")
    if subject is None:
        subject = rel.parent.name if rel.parent.name else rel.stem
    return None, subject, found.get("ses", "")


def _bids_tasks(root: Path, dataset: str) -> list[RecordingTask]:
    import mne_bids

    paths = mne_bids.find_matching_paths(
        root, datatypes="eeg", suffixes="eeg",
        extensions=[".edf", ".bdf", ".vhdr", ".set", ".fif", ".eeg", ".gdf", ".cnt"],
    )
    tasks = []
    for bp in paths:
        fpath = Path(bp.fpath)
        if _is_sidecar(fpath):
            continue
        tasks.append(
            RecordingTask(
                path=str(fpath.resolve()),
                dataset=dataset,
                subject=bp.subject or "",
                session=bp.session or "",
                bids_root=str(root.resolve()),
            )
        )
    return tasks


def _dataset_name(root: Path, override: str | None) -> str:
    if override:
        return override
    desc = root / "dataset_description.json"
    if desc.exists():
        try:
            name = json.loads(desc.read_text()).get("Name")
            if name:
                return str(name)
        except (OSError, json.JSONDecodeError):
            pass
    return root.resolve().name


def _glob_root(arg: str) -> Path:
    """The deepest folder of a glob that contains no wildcard."""
    fixed: list[str] = []
    for part in Path(arg).parts:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    root = Path(*fixed) if fixed else Path(".")
    return root if root.is_dir() else root.parent


class InputError(ValueError):
    """An INPUT argument matches nothing (names the argument)."""


def discover(
    inputs: list[str], *, dataset: str | None = None, path_pattern: str | None = None
) -> list[RecordingTask]:
    """Expand INPUT arguments into recording tasks, sorted by path, without duplicates.

    Raises :class:`InputError` for an argument that is neither an existing file, a folder nor a
    glob with matches.
    """
    pattern = re.compile(path_pattern) if path_pattern else None
    tasks: dict[str, RecordingTask] = {}
    for arg in inputs:
        p = Path(arg)
        if p.is_dir() and (p / "dataset_description.json").exists():
            for t in _bids_tasks(p, _dataset_name(p, dataset)):
                tasks.setdefault(t.path, t)
            continue
        if p.is_dir():
            root, files = p, _candidates(p)
        elif p.is_file():
            root, files = p.parent, [p]
        else:
            matches = [Path(m) for m in sorted(glob.glob(arg, recursive=True))]
            if not matches:
                raise InputError(f"INPUT {arg!r}: no such file or folder, and no glob match")
            root = _glob_root(arg)
            files = []
            for m in matches:
                files.extend(_candidates(m) if m.is_dir() else [m])
        for f in files:
            if f.is_dir():
                continue
            rel = f.resolve().relative_to(root.resolve()) if f.resolve().is_relative_to(
                root.resolve()) else Path(f.name)
            d, subject, session = _entities_from_path(rel, pattern)
            task = RecordingTask(
                path=str(f.resolve()),
                dataset=d or _dataset_name(root, dataset),
                subject=subject or "",
                session=session or "",
            )
            tasks.setdefault(task.path, task)
    return [tasks[k] for k in sorted(tasks)]
