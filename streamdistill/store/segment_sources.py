"""Segment sources of the pretraining loader: byte-range readers of one segment at a time.

A segment store's group array keeps one segment per inner chunk of a Zarr v3 shard:
:class:`ShardReader` reads a chunk with one ``preadv`` of its byte range (from the shard index),
decodes it (blosc via blosc2 or numcodecs, zstd via numcodecs: ``store/chunk_codecs.py``; nothing
for ``compressor: none``) and converts fp16 → fp32 into its row of the batch. :class:`ZarrReader`
falls back to Zarr's own partial reads for other layouts; ``_TarReader`` reads the uncompressed
``x.npy`` payloads of a WebDataset export by byte range. :func:`open_source` opens a store or
an export and lists, per montage group, the selected segments and the storage unit (shard or
tar) holding each. Shard files stay open in a bounded LRU (descriptors and shard indexes only,
no data).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

try:  # POSIX only
    import fcntl
    import resource
except ImportError:  # pragma: no cover - not POSIX
    fcntl = resource = None

from streamdistill.store.arrays import batched_codecs
from streamdistill.store.chunk_codecs import chunk_decoder
from streamdistill.store.segment_store import SegmentStore, StoreError, open_store
from streamdistill.store.wds import MANIFEST as WDS_MANIFEST

_MISSING = 2**64 - 1  # offset/nbytes of an inner chunk that was never written (Zarr sharding)


class LoaderError(ValueError):
    """The source, the ids or a parameter cannot make batches (names which and what to do)."""


# --------------------------------------------------------------------------------- readers


#: PyTorch runs an element-wise copy on its intra-op threads from this many elements on
#: (``at::internal::GRAIN_SIZE``); a per-segment copy stays below it, since waking threads for
#: 0.1 MB costs more than the copy (≈ 100× more on a loaded 2-core machine).
_GRAIN = 32768


class _Sink:
    """Where a reader puts segment ``i`` of a batch ``out``: straight into ``out[i]`` when ``out``
    is an array of the store dtype, else into a one-segment scratch (cache-resident) that
    :meth:`commit` converts into ``out[i]`` (a float32 tensor) with ``copy_``."""

    def __init__(self, out, dtype: np.dtype, seg_shape: tuple[int, ...]):
        if isinstance(out, np.ndarray) and out.dtype == dtype:
            self.rows, self.seg = out, None
            return
        if isinstance(out, np.ndarray):
            out = torch.from_numpy(out)
        self.seg = np.empty(seg_shape, dtype)
        numel = self.seg.size
        step = numel if torch.get_num_threads() == 1 else -(-numel // -(-numel // (_GRAIN - 1)))
        self.src = torch.from_numpy(self.seg).view(-1).split(step)
        self.rows = out.unbind(0)
        self.dst = list(zip(*out.view(len(out), -1).split(step, dim=1))) if len(out) else []

    def target(self, i: int) -> np.ndarray:
        return self.rows[i] if self.seg is None else self.seg

    def commit(self, i: int) -> None:
        if self.seg is not None:
            for d, s in zip(self.dst[i], self.src):
                d.copy_(s)

    def commit_of(self):
        """:meth:`commit`, or ``None`` where segments land in ``out`` directly."""
        return None if self.seg is None else self.commit

    def fill(self, i: int, value) -> None:
        self.rows[i][...] = value


class _OpenFiles:
    """LRU of open files (at most ``max_open``), each with a small value (a shard index; no
    data): ``get(key, open_)`` returns ``(fd, value)``, calling ``open_(key)`` on a miss."""

    def __init__(self, max_open: int):
        self.max_open = max(1, int(max_open))
        self._lru: OrderedDict = OrderedDict()
        self.peak = 0

    def get(self, key, open_):
        entry = self._lru.get(key)
        if entry is not None:
            self._lru.move_to_end(key)
            return entry
        entry = self._lru[key] = open_(key)
        while len(self._lru) > self.max_open:
            os.close(self._lru.popitem(last=False)[1][0])
        self.peak = max(self.peak, len(self._lru))
        return entry

    def __len__(self) -> int:
        return len(self._lru)

    def __contains__(self, key) -> bool:
        return key in self._lru

    def close(self) -> None:
        while self._lru:
            os.close(self._lru.popitem()[1][0])


def reserve_descriptors(n: int) -> bool:
    """Grow this process's file-descriptor table to hold ``n`` descriptors now, while it is
    still single-threaded; ``False`` where the limit or the platform does not allow it.

    The kernel grows the table by doubling (64 → 128 → 256 → 512 → …) when a new descriptor
    does not fit, and in a process with more than one thread each growth waits for an RCU grace
    period (``expand_fdtable``'s ``synchronize_rcu``): measured 5–19 ms per growth on this
    project's VMs, against ≈ 5 µs for a plain ``open``. A DataLoader worker turns
    multi-threaded with its first batch (the queue's feeder thread), and a reader that keeps
    ``max_open_shards`` shard files plus the ones opened ahead crosses 256 descriptors a few
    batches later — a stall of a sixth of a one-epoch run over a 5% selection
    (docs/benchmarks.md, "loader"). Taking the lowest free descriptor at or above ``n - 1``
    (``F_DUPFD``; nothing open is touched) and closing it leaves the table grown; the table
    never shrinks, and a single-threaded growth costs microseconds."""
    if fcntl is None or resource is None:
        return False
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and n > soft:
            return False
        probe = os.open(os.devnull, os.O_RDONLY)
        try:
            os.close(fcntl.fcntl(probe, fcntl.F_DUPFD, max(0, int(n) - 1)))
        finally:
            os.close(probe)
        return True
    except (OSError, ValueError):
        return False


#: ``posix_fadvise`` advice that starts reading a byte range in the background (None where the
#: platform has no ``posix_fadvise``).
_WILLNEED = getattr(os, "POSIX_FADV_WILLNEED", None) if hasattr(os, "posix_fadvise") else None


class ShardReader:
    """Single segments of a group array written as DESIGN.md specifies (Zarr v3 sharding codec,
    one segment per inner chunk), read straight from the shard files: the shard index once per
    open file, then one ``pread`` + decode per segment into the caller's array.

    Use :meth:`open`, which returns ``None`` for any other layout (then use :class:`ZarrReader`).
    ``decoded`` counts segments read, ``files.peak`` the most shard files held open at once.
    """

    def __init__(self, array_dir: Path, meta: dict, decode, files: _OpenFiles):
        self.dir = Path(array_dir)
        self.shape = tuple(meta["shape"])
        self.dtype = np.dtype(meta["data_type"]).newbyteorder("<")
        cfg = meta["codecs"][0]["configuration"]
        self.shard_rows = int(meta["chunk_grid"]["configuration"]["chunk_shape"][0])
        self.index_at_end = cfg.get("index_location", "end") == "end"
        self.crc = any(c.get("name") == "crc32c" for c in cfg["index_codecs"])
        sep = meta["chunk_key_encoding"].get("configuration", {}).get("separator", "/")
        self._key = str(self.dir) + "/c" + sep + "{}" + (sep + "0") * (len(self.shape) - 1)
        self.fill = meta.get("fill_value", 0)
        self.decode = decode
        self.files = files
        self.decoded = 0
        self._buf = bytearray(0)  # compressed bytes of the segment being read
        self._index_bytes = 16 * self.shard_rows + (4 if self.crc else 0)
        #: shard -> fd opened by :meth:`_announce_indexes`, taken over by :meth:`_open`
        self._opened: dict[int, int] = {}
        #: rows (as bytes) of the batch :meth:`prepare` last announced in full, and its
        #: :meth:`_look_up` (plan, rows without data), which its :meth:`read_into` reuses
        self._prepared: tuple[bytes, list, list] = (b"", [], [])

    @classmethod
    def open(cls, array_dir: str | Path, files: _OpenFiles | int = 256) -> ShardReader | None:
        """A reader of the group array in ``array_dir`` (``None``: not this layout). ``files``:
        the LRU of open files to use (shared by a source's groups) or its size."""
        array_dir = Path(array_dir)
        try:
            meta = json.loads((array_dir / "zarr.json").read_text())
            shape = meta["shape"]
            codecs = meta["codecs"]
            outer = meta["chunk_grid"]["configuration"]["chunk_shape"]
            if (meta.get("zarr_format") != 3 or len(codecs) != 1
                    or codecs[0]["name"] != "sharding_indexed"
                    or meta["chunk_key_encoding"]["name"] != "default"
                    or meta["data_type"] not in ("float16", "float32")):
                return None
            cfg = codecs[0]["configuration"]
            inner = cfg["chunk_shape"]
            index_names = [c["name"] for c in cfg["index_codecs"]]
            if (list(inner) != [1, *shape[1:]] or list(outer[1:]) != list(shape[1:])
                    or index_names not in (["bytes"], ["bytes", "crc32c"])
                    or cfg["index_codecs"][0].get("configuration", {}).get("endian",
                                                                           "little") != "little"):
                return None
            decode = chunk_decoder(cfg["codecs"])
        except (OSError, KeyError, TypeError, ValueError):
            return None
        if decode is False:
            return None
        return cls(array_dir, meta, decode,
                   files if isinstance(files, _OpenFiles) else _OpenFiles(files))

    def _open(self, key: tuple[str, int]) -> tuple[int, list]:
        """Open shard ``key[1]``: its file descriptor and index as one flat list
        ``[offset_0, nbytes_0, offset_1, nbytes_1, ...]`` — one container, not one per chunk:
        at small selections a shard is opened for one or two segments, and a list of pairs per
        shard made the garbage collector's full passes (every ~7,000 containers, over all of
        torch's objects) cost more than reading the segments (measured: 73 ms of a 210-ms
        epoch of 960 segments)."""
        fd = self._opened.pop(key[1], None)
        if fd is None:
            fd = os.open(self._key.format(key[1]), os.O_RDONLY)
        try:
            return fd, self._index(fd).reshape(-1).tolist()
        except BaseException:
            os.close(fd)
            raise

    def _announce_indexes(self, shards: list[int]) -> None:
        """Open the files of ``shards`` not open yet and announce their index ranges with
        ``posix_fadvise(WILLNEED)``. On a first read of a small selection a batch touches about
        one new shard per segment; reading each index when its shard comes up was one blocking
        small read after another before any of the batch's data was even announced (first
        read of a 5% selection: docs/benchmarks.md, "loader")."""
        size = self._index_bytes
        for k in shards:
            if k in self._opened or (self._key, k) in self.files:
                continue
            try:
                fd = self._opened[k] = os.open(self._key.format(k), os.O_RDONLY)
            except FileNotFoundError:
                continue  # an unwritten shard: read_into fills its rows
            end = os.fstat(fd).st_size
            if end >= size:
                os.posix_fadvise(fd, end - size if self.index_at_end else 0, size, _WILLNEED)

    def _close_unused(self, shards: set[int] | None = None) -> None:
        """Close the files opened ahead for ``shards`` (all: ``None``) that no look-up took
        over (an error stopped the batch, or the LRU had them open already)."""
        for k in list(self._opened) if shards is None else shards & self._opened.keys():
            os.close(self._opened.pop(k))

    def _index(self, fd: int) -> np.ndarray:
        n = self.shard_rows
        size = self._index_bytes
        end = os.fstat(fd).st_size
        raw = os.pread(fd, size, end - size if self.index_at_end else 0) if end >= size else b""
        if len(raw) != size:
            raise StoreError(f"{self.dir}: shard index truncated (file of {end} bytes)")
        if self.crc:
            import google_crc32c

            if google_crc32c.value(raw[:-4]) != int.from_bytes(raw[-4:], "little"):
                raise StoreError(f"{self.dir}: shard index checksum mismatch; the store is "
                                 "damaged — re-run `streamdistill shard` into a new --out")
        return np.frombuffer(raw, "<u8", count=2 * n).reshape(n, 2)

    def announce(self, rows: np.ndarray) -> None:
        """Read-ahead, step 1 of 2, for a batch read later: open the files of its shards not
        open yet and announce their index ranges (:meth:`_announce_indexes`). Never blocks on
        the disk. The files stay in ``_opened`` (at most ``files.max_open``, oldest closed
        first) until :meth:`prepare` or :meth:`read_into` takes them over."""
        if _WILLNEED is None:
            return
        try:
            self._announce_indexes(sorted({int(r) // self.shard_rows for r in rows}))
        except OSError:
            pass  # an unreadable shard: reading this batch will report it
        while len(self._opened) > self.files.max_open:
            os.close(self._opened.pop(next(iter(self._opened))))

    def prepare(self, rows: np.ndarray) -> None:
        """Read-ahead, step 2 of 2: look up the batch's byte ranges (reading the shard indexes
        :meth:`announce` asked for one batch earlier, by then in the page cache) and announce
        them, so the disk fetches this batch's segments while the current one decodes."""
        if _WILLNEED is None:
            return
        key = np.asarray(rows, np.int64).tobytes()
        rows = np.asarray(rows, np.int64).tolist()
        try:
            plan, missing = self._look_up(rows, sorted(range(len(rows)), key=rows.__getitem__),
                                          True)
            self._prepared = (key, plan, missing)
        except (OSError, StoreError):
            pass  # a damaged shard: reading this batch will report it, not the one before
        finally:
            self._close_unused({r // self.shard_rows for r in rows})

    def _look_up(self, rows: list[int], order: list[int], hint: bool) -> tuple[list, list]:
        """``(i, shard, chunk, offset, nbytes)`` of ``rows`` in storage order (``order``: row
        positions sorted by row), each range announced with ``posix_fadvise(WILLNEED)`` if
        ``hint``; and the positions ``i`` of rows in unwritten shards or chunks (no data: the
        fill value)."""
        hint = hint and _WILLNEED is not None
        plan, missing = [], []
        last, fd, index = -1, -1, None
        for i in order:
            k, j = divmod(rows[i], self.shard_rows)
            if k != last:  # rows come sorted: one file look-up per shard
                last = k
                try:
                    fd, index = self.files.get((self._key, k), self._open)
                except FileNotFoundError:
                    fd, index = -1, None
            if index is None or index[2 * j] == _MISSING:
                missing.append(i)
                continue
            off, n = index[2 * j], index[2 * j + 1]
            if hint:
                os.posix_fadvise(fd, off, n, _WILLNEED)
            plan.append((i, k, j, off, n))
        return plan, missing

    def read_into(self, rows: np.ndarray, out: np.ndarray | torch.Tensor) -> None:
        """Rows ``rows`` (any order) into ``out[i]``: ``(len(rows), C, T)``, the store dtype, or
        a float32 tensor (each segment converted right after decoding, while cache-hot).

        First the index ranges of the batch's shards not open yet are announced to the
        kernel with ``posix_fadvise(WILLNEED)`` (:meth:`_announce_indexes`); then every
        chunk's byte range is looked up (one file look-up per shard, rows sorted) and
        announced the same way, which queues the reads of any range not in the page cache at
        once; then the chunks are read and decoded in order. On a first read the disk thus
        serves a whole batch's indexes, then its scattered ranges, in parallel instead of one
        blocking read at a time (first read: docs/benchmarks.md, "loader"); on cached data the
        hints cost ≈ 1 µs per segment. A caller that knows its next batches calls
        :meth:`announce` and :meth:`prepare` for them ahead (``SelectedBatches`` does), so
        those steps have already been served when their turn comes, and this call reuses the
        look-up :meth:`prepare` made (one look-up per segment, not two)."""
        rows = np.asarray(rows, np.int64)
        (key, plan, missing), self._prepared = self._prepared, (b"", [], [])
        sink = _Sink(out, self.dtype, self.shape[1:])
        if key != rows.tobytes():  # not prepared: look it up now
            rows = rows.tolist()
            shards = {r // self.shard_rows for r in rows}
            try:
                if _WILLNEED is not None:
                    self._announce_indexes(sorted(shards))
                plan, missing = self._look_up(rows, sorted(range(len(rows)),
                                                          key=rows.__getitem__), True)
            finally:
                self._close_unused(shards)
        for i in missing:
            sink.fill(i, self.fill)
        largest = max((p[4] for p in plan), default=0)
        if self.decode is not None and len(self._buf) < largest:
            self._buf = bytearray(largest)
        buf, decode, commit = memoryview(self._buf), self.decode, sink.commit_of()
        last = -1
        for i, k, j, off, n in plan:
            if k != last:  # again: the LRU may have closed it if the batch spans more shards
                fd, _ = self.files.get((self._key, k), self._open)
                last = k
            dest = sink.target(i)
            if decode is None:
                if n != dest.nbytes:
                    raise StoreError(f"{self._key.format(k)}: chunk {j} holds {n} bytes, "
                                     f"expected {dest.nbytes}")
                got = os.preadv(fd, [memoryview(dest).cast("B")], off)
            else:
                got = os.preadv(fd, [buf[:n]], off)
            if got != n:
                raise StoreError(f"{self._key.format(k)}: chunk {j} truncated ({got} of {n} "
                                 "bytes)")
            if decode is not None:
                try:
                    decode(buf[:n], dest)
                except (RuntimeError, ValueError) as exc:
                    raise StoreError(
                        f"{self._key.format(k)}: chunk {j} does not decode ({exc}); the store "
                        "is damaged — re-run `streamdistill shard` into a new --out") from None
            if commit is not None:
                commit(i)
        self.decoded += len(plan)

    def close(self) -> None:
        self._close_unused()
        self.files.close()


class ZarrReader:
    """Fallback for any other array layout: Zarr's own (partial) reads, batched codecs."""

    def __init__(self, arr):
        self.arr = arr
        self.decoded = 0

    def read_into(self, rows: np.ndarray, out: np.ndarray | torch.Tensor) -> None:
        rows = np.asarray(rows, np.int64)
        order = np.argsort(rows, kind="stable")
        with batched_codecs(len(rows)):
            data = self.arr.get_orthogonal_selection((rows[order],))
        if isinstance(out, torch.Tensor):
            out[torch.from_numpy(order)] = torch.from_numpy(np.asarray(data)).to(out.dtype)
        else:
            out[order] = data
        self.decoded += len(rows)

    def close(self) -> None:
        pass


class _TarReader:
    """Samples of WebDataset tars by byte range: ``x.npy`` payloads are uncompressed, so one
    ``preadv`` per sample lands in the caller's array."""

    def __init__(self, paths: list[Path], max_open: int):
        self.paths = paths
        self.files = _OpenFiles(max_open)
        self.decoded = 0

    def read_into(self, tar: np.ndarray, offset: np.ndarray, out: np.ndarray | torch.Tensor,
                  dtype: np.dtype) -> None:
        sink = _Sink(out, dtype, tuple(out.shape[1:]))
        for i in np.lexsort((offset, tar)).tolist():
            path = self.paths[int(tar[i])]
            fd, _ = self.files.get(path, lambda p: (os.open(p, os.O_RDONLY), None))
            view = memoryview(sink.target(i)).cast("B")
            got = os.preadv(fd, [view], int(offset[i]))
            if got != len(view):
                raise LoaderError(f"{path}: sample truncated ({got} of {len(view)} bytes)")
            sink.commit(i)
            self.decoded += 1

    def close(self) -> None:
        self.files.close()


# --------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Group:
    name: str
    channels: tuple[str, ...]
    n_times: int
    dtype: np.dtype


class _StoreSource:
    """A segment store: units are Zarr shards; ``ids`` sorted unique int64 (None: all)."""

    kind = "store"

    def __init__(self, path: Path, ids: np.ndarray | None, max_open: int):
        self.store: SegmentStore = open_store(path)
        n = self.store.n_segments
        self.ids = np.arange(n, dtype=np.int64) if ids is None else ids
        if len(self.ids) and (self.ids[0] < 0 or self.ids[-1] >= n):
            bad = self.ids[(self.ids < 0) | (self.ids >= n)]
            raise LoaderError(
                f"segment ids out of range for {path} ({n} segments: ids 0..{n - 1}); got "
                f"{bad[:5].tolist()}{' …' if len(bad) > 5 else ''} — was the selection made "
                "from another store?")
        self.fingerprint = self.store.fingerprint
        self.files = _OpenFiles(max_open)  # shared by the groups' readers
        names = sorted(self.store.groups)
        self.groups = []
        for g in names:
            arr = self.store.array(g)
            info = self.store.groups[g]
            self.groups.append(_Group(g, info.channels, info.n_times, np.dtype(arr.dtype)))
        self._readers: dict[str, object] = {}

    def layouts(self) -> list[tuple[np.ndarray, np.ndarray]]:
        groups, rows = self.store.locate(self.ids)
        out = []
        for g in self.groups:
            sel = groups == g.name
            ids, r = self.ids[sel], rows[sel].astype(np.int64)
            order = np.argsort(r, kind="stable")
            arr = self.store.array(g.name)
            unit = arr.shards[0] if arr.shards else arr.chunks[0]
            out.append((ids[order], r[order] // unit))
        return out

    def reader(self, group: str):
        if group not in self._readers:
            arr_dir = self.store.layout.zarr / self.store.layout.group_array_path(group)
            self._readers[group] = (ShardReader.open(arr_dir, self.files)
                                    or ZarrReader(self.store.array(group)))
        return self._readers[group]

    def read_into(self, group: str, ids: np.ndarray, out: np.ndarray | torch.Tensor) -> None:
        _, rows = self.store.locate(ids)
        self.reader(group).read_into(rows, out)

    def read_ahead(self, group: str, ids: np.ndarray, step: int) -> None:
        """Read-ahead of a later batch: ``step`` 1 announces its shard indexes, 2 its byte
        ranges (:meth:`ShardReader.announce`, :meth:`ShardReader.prepare`; nothing for a
        store of another layout)."""
        reader = self.reader(group)
        if isinstance(reader, ShardReader):
            _, rows = self.store.locate(ids)
            (reader.announce if step == 1 else reader.prepare)(rows)

    def close(self) -> None:
        self.files.close()
        self._readers = {}

    def __getstate__(self) -> dict:  # a spawned worker opens its own files
        state = self.__dict__.copy()
        state["files"], state["_readers"] = _OpenFiles(self.files.max_open), {}
        return state


class _WdsSource:
    """A WebDataset export: units are tars; an index of every sample (id, group, tar, byte offset
    of its ``x.npy`` payload) is built once from the tar headers and ``json`` members."""

    kind = "wds"

    def __init__(self, path: Path, ids: np.ndarray | None, max_open: int):
        manifest = json.loads((path / WDS_MANIFEST).read_text())
        self.fingerprint = str(manifest.get("store_fingerprint"))
        self.paths = [path / name for name in sorted(manifest["shards"])]
        sid, gid, tar, off = [], [], [], []
        groups: dict[str, _Group] = {}
        for t, tar_path in enumerate(self.paths):
            if not tar_path.is_file():
                raise LoaderError(f"{tar_path}: listed in {path / WDS_MANIFEST} but missing; "
                                  "re-run the export (`select --export wds` / `shard --wds`)")
            with tarfile.open(tar_path, "r:") as tf:
                pending: dict[str, dict] = {}
                for m in tf:
                    key, _, ext = m.name.partition(".")
                    slot = pending.setdefault(key, {})
                    if ext == "x.npy":
                        slot["x"] = m
                    elif ext == "json":
                        slot["meta"] = json.loads(tf.extractfile(m).read())
                    if "x" in slot and "meta" in slot:
                        meta, xm = slot["meta"], pending.pop(key)["x"]
                        name = meta["group"]
                        if name not in groups:
                            groups[name] = self._group_of(tf, xm, meta)
                        g = groups[name]
                        nbytes = len(g.channels) * g.n_times * g.dtype.itemsize
                        sid.append(int(meta["segment_id"]))
                        gid.append(name)
                        tar.append(t)
                        off.append(m_off := xm.offset_data + xm.size - nbytes)
                        if m_off < xm.offset_data:
                            raise LoaderError(f"{tar_path}: sample {key} is smaller than a "
                                              f"({len(g.channels)}, {g.n_times}) segment")
        self.groups = [groups[k] for k in sorted(groups)]
        names = {g.name: i for i, g in enumerate(self.groups)}
        all_ids = np.asarray(sid, np.int64)
        order = np.argsort(all_ids, kind="stable")
        self.all_ids = all_ids[order]
        if len(self.all_ids) > 1 and np.any(np.diff(self.all_ids) == 0):
            raise LoaderError(f"{path}: a segment id appears twice in the export")
        self.group_idx = np.asarray([names[g] for g in gid], np.int32)[order]
        self.tar = np.asarray(tar, np.int32)[order]
        self.offset = np.asarray(off, np.int64)[order]
        if ids is None:
            self.ids = self.all_ids
        else:
            missing = ~np.isin(ids, self.all_ids)
            if missing.any():
                raise LoaderError(
                    f"{path} holds {len(self.all_ids)} exported segments; "
                    f"{int(missing.sum())} of the {len(ids)} segment ids asked for are not among "
                    f"them (e.g. {ids[missing][:5].tolist()}); pass segment_ids=None to use the "
                    "export as it is")
            self.ids = ids
        self.max_open = max_open
        self._reader: _TarReader | None = None

    @staticmethod
    def _group_of(tf: tarfile.TarFile, xm: tarfile.TarInfo, meta: dict) -> _Group:
        x = np.load(io.BytesIO(tf.extractfile(xm).read()), allow_pickle=False)
        if x.ndim != 2 or not x.flags.c_contiguous or x.dtype.byteorder == ">":
            raise LoaderError(f"{tf.name}: {xm.name} is not a C-ordered little-endian (C, T) "
                              "array")
        return _Group(meta["group"], tuple(meta["channels"]), int(x.shape[1]), x.dtype)

    def _pos(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.all_ids, ids)

    def layouts(self) -> list[tuple[np.ndarray, np.ndarray]]:
        pos = self._pos(self.ids)
        out = []
        for k in range(len(self.groups)):
            p = pos[self.group_idx[pos] == k]
            order = np.lexsort((self.offset[p], self.tar[p]))
            out.append((self.all_ids[p[order]], self.tar[p[order]].astype(np.int64)))
        return out

    def read_ahead(self, group: str, ids: np.ndarray, step: int) -> None:
        """No read-ahead for tars (their samples are read in tar order, which the kernel's own
        sequential read-ahead serves)."""

    def read_into(self, group: str, ids: np.ndarray, out: np.ndarray | torch.Tensor) -> None:
        p = self._pos(ids)
        dtype = self.groups[int(self.group_idx[p[0]])].dtype if len(p) else np.float32
        self.reader(group).read_into(self.tar[p], self.offset[p], out, dtype)

    def reader(self, group: str):
        if self._reader is None:
            self._reader = _TarReader(self.paths, self.max_open)
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = None

    def __getstate__(self) -> dict:  # a spawned worker opens its own files
        return {**self.__dict__, "_reader": None}


def open_source(source: str | Path, segment_ids: np.ndarray | None, max_open: int = 256):
    """A store folder (``store.json``) or a WebDataset export (``wds.json``)."""
    path = Path(source)
    if (path / "store.json").is_file():
        return _StoreSource(path, segment_ids, max_open)
    if (path / WDS_MANIFEST).is_file():
        return _WdsSource(path, segment_ids, max_open)
    raise LoaderError(f"{path}: neither a segment store (no store.json) nor a WebDataset export "
                      f"(no {WDS_MANIFEST}); pass the --out folder of `streamdistill shard` or "
                      "the folder of `shard --wds` / `select --export wds`")


