""".npy staging files written and read with plain file I/O (no memory maps).

A worker appends windows one at a time; the committer reads them back one shard-sized slab at a
time. Plain ``write``/``readinto`` keep the pages out of the process's resident set (a memory map
would count every touched page of a 24-hour recording in its RSS); the file is synced at close
(before its completion record exists) and ``posix_fadvise`` then drops it from the page cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class StagedWriter:
    """Write rows of shape ``row_shape`` into a ``.npy`` file sized for ``max_rows``.

    The header states ``max_rows``; rows not written stay a sparse, zero-filled tail. The number
    of rows written (``n_rows``) travels in the staging record, and readers use only those.
    ``fsync``: sync the file at close (``shard --durable``); either way the close asks the kernel
    to write it back and drop it from the page cache.
    """

    def __init__(self, path: Path, max_rows: int, row_shape: tuple[int, ...], dtype: str,
                 fsync: bool = True):
        self.path = path
        self.fsync = fsync
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(row_shape)) * self.dtype.itemsize
        self.max_rows = max_rows
        self.n_rows = 0
        self._fh = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (max_rows, *row_shape)}
        np.lib.format.write_array_header_1_0(self._fh, header)
        self.header_bytes = self._fh.tell()

    def append(self, row: np.ndarray) -> None:
        if self.n_rows >= self.max_rows:
            raise IndexError("more rows than the staging file was sized for")
        self._fh.write(np.ascontiguousarray(row, dtype=self.dtype).tobytes())
        self.n_rows += 1

    def _release(self) -> None:
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        self._fh.truncate(self.header_bytes + self.max_rows * self.row_bytes)
        self._release()
        self._fh.close()


class SpooledRows:
    """A recording's rows, kept in memory up to ``spool_bytes`` and spilled to a
    :class:`StagedWriter` file at ``path`` beyond that.

    ``shard --workers 1`` processes and commits in one process, so a short recording's windows
    need not go through the disk twice; a long one still streams to staging with bounded memory
    (at most ``spool_bytes`` held). ``spool_bytes=0`` always writes the file (worker processes).
    After :meth:`close`, ``rows`` is the in-memory ``(n, *row_shape)`` array, or None if spilled.
    """

    def __init__(self, path: Path, max_rows: int, row_shape: tuple[int, ...], dtype: str,
                 spool_bytes: int = 0, fsync: bool = True):
        self.path, self.max_rows, self.row_shape = path, max_rows, row_shape
        self.dtype, self.fsync = np.dtype(dtype), fsync
        row_bytes = int(np.prod(row_shape)) * self.dtype.itemsize
        self.capacity = min(max_rows, spool_bytes // row_bytes)
        self._memory: np.ndarray | None = (
            np.empty((self.capacity, *row_shape), self.dtype) if self.capacity else None)
        self._file: StagedWriter | None = None if self.capacity else self._open_file()
        self.n_rows = 0
        self.rows: np.ndarray | None = None

    def _open_file(self) -> StagedWriter:
        return StagedWriter(self.path, self.max_rows, self.row_shape, self.dtype.str, self.fsync)

    def append(self, row: np.ndarray) -> None:
        if self._file is None:
            if self.n_rows < self.capacity:
                self._memory[self.n_rows] = row
                self.n_rows += 1
                return
            self._file = self._open_file()  # spill what is held, then go on in the file
            for held in self._memory[: self.n_rows]:
                self._file.append(held)
            self._memory = None
        self._file.append(row)
        self.n_rows += 1

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        """Finish: sync/release the spilled file, or expose the held rows (idempotent)."""
        if self._file is not None:
            if not self._file._fh.closed:
                self._file.close()
        elif self._memory is not None:
            self.rows = self._memory[: self.n_rows]
            self._memory = None

    def discard(self) -> None:
        """Close and remove the staging file, if any (a failed or empty recording)."""
        if self._file is not None and not self._file._fh.closed:
            self._file._fh.close()
        self._memory = self.rows = None
        self.path.unlink(missing_ok=True)


def _read_header(fh) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of an open ``.npy`` file; leaves ``fh`` at the first data byte."""
    major, _ = np.lib.format.read_magic(fh)
    read = (np.lib.format.read_array_header_1_0 if major == 1
            else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read(fh)
    return shape, dtype


def read_rows(path: str | Path, start: int, stop: int) -> np.ndarray:
    """Rows ``[start, stop)`` of a staged ``.npy`` file as a new array (no memory map)."""
    with open(path, "rb") as fh:
        shape, dtype = _read_header(fh)
        row_shape = shape[1:]
        row_bytes = int(np.prod(row_shape)) * dtype.itemsize
        fh.seek(fh.tell() + start * row_bytes)
        out = np.empty((stop - start, *row_shape), dtype=dtype)
        fh.readinto(memoryview(out).cast("B"))
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return out


class StagedRows:
    """The first ``n_rows`` rows of a staged file, sliceable like an array (``[a:b]`` reads
    from disk); ``shape`` is ``(n_rows, *row_shape)``."""

    def __init__(self, path: str | Path, n_rows: int):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            shape, self.dtype = _read_header(fh)
        if n_rows > shape[0]:
            raise ValueError(f"{path}: {n_rows} rows asked, {shape[0]} staged")
        self.shape = (n_rows, *shape[1:])

    def __getitem__(self, item: slice) -> np.ndarray:
        start, stop, step = item.indices(self.shape[0])
        if step != 1:
            raise IndexError("staged rows are read in contiguous slices")
        return read_rows(self.path, start, stop)


class ChainedRows:
    """Rows of several sources (arrays or :class:`StagedRows`) one after the other, sliceable
    in contiguous ranges; ``shape`` is ``(total_rows, *row_shape)``."""

    def __init__(self, *sources):
        self.sources = [s for s in sources if s.shape[0] > 0]
        row_shape = sources[0].shape[1:]
        self.shape = (sum(s.shape[0] for s in self.sources), *row_shape)
        self.dtype = sources[0].dtype

    def __getitem__(self, item: slice) -> np.ndarray:
        start, stop, _ = item.indices(self.shape[0])
        parts = []
        offset = 0
        for s in self.sources:
            n = s.shape[0]
            a, b = max(start - offset, 0), min(stop - offset, n)
            if a < b:
                parts.append(np.asarray(s[a:b]))
            offset += n
        if not parts:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
