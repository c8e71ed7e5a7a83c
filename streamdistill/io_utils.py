"""Small file-system primitives shared by every stage: atomic writes, hashing, versions."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def _file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` would give a new file (``mkstemp``
    creates ``0o600``, which would hide outputs from the other users of a shared machine)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], None], *, fsync: bool = True
) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` over ``path`` (same directory).

    A reader (or a run resumed after kill -9) sees either the old file or the complete new one:
    the rename is atomic whether or not the data was synced, because a killed process's writes
    stay in the page cache. ``fsync=True`` (default) also syncs the data before the rename, so
    that a *power loss* cannot leave the new name pointing at missing bytes; ``shard`` turns it
    off for its per-recording files unless ``--durable``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, _FILE_MODE)
        if fsync:
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> Path:
    """Atomically replace ``path`` with ``text`` (UTF-8); ``fsync`` as :func:`atomic_write`."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), fsync=fsync)


def atomic_write_json(path: str | os.PathLike, data: Any, *, fsync: bool = True) -> Path:
    """Atomically replace ``path`` with ``data`` as indented JSON; ``fsync`` as
    :func:`atomic_write`."""
    return atomic_write_text(
        path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", fsync=fsync)


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 8 << 20) -> str:
    """SHA-256 of a file, streamed in ``chunk_bytes`` pieces (memory O(chunk))."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: tuple[str, ...] = (
    "streamdistill", "numpy", "scipy", "mne", "zarr", "numcodecs", "pyarrow", "torch", "dask",
)) -> dict[str, str]:
    """Installed versions of the packages whose behaviour shapes an output."""
    from importlib import metadata

    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def check_writable_dir(path: str | os.PathLike, flag: str) -> Path:
    """Create ``path`` if needed and prove it is writable; raise ``PermissionError`` naming ``flag``."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise PermissionError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from exc
    return path
