"""Shared pieces of the stage benchmarks: machine description, a measured subprocess runner and
the Markdown section writer for ``docs/benchmarks.md``.

Every stage benchmark (``bench_shard``, later ``bench_encode``, ``bench_select`` ...) runs the
command under test as a child process with :func:`run_measured` and reports

* wall-clock seconds (``time.perf_counter`` around the child's lifetime);
* ``ru_maxrss`` of the child from ``os.wait4`` — the kernel's exact peak resident set of the
  *largest single process* in the child's tree (waited-for descendants included); no sampling;
* the peak of the *summed* RSS of the whole process tree from :mod:`psutil` polling (every
  ``poll_s``), which is what matters when the child starts worker processes; it can miss spikes
  shorter than the polling interval;
* CPU seconds (user + system) of the child and its waited-for descendants;
* the background load: CPU cores kept busy by *other* processes during the run (system-wide busy
  time from ``psutil.cpu_times(percpu=True)`` minus the child's CPU time, over the wall time), so
  that a run slowed down by someone else's job on a shared machine can be recognised.

:func:`wait_for_quiet` waits (bounded) until the machine's background load falls below a threshold
before a measured run.

Single-core runs are pinned to one CPU (``sched_setaffinity``) with every BLAS/OpenMP thread pool
set to one thread, so "per core" means one core.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

#: Environment variables that cap the thread pools of numpy/scipy/BLAS/numexpr/torch to one thread.
SINGLE_THREAD_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "BLIS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}

#: Repository root (``tools/bench/common.py`` → two levels up).
REPO_ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (``platform.processor()`` as a fallback)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def total_ram_bytes() -> int:
    """Physical memory in bytes."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed version of each distribution (``'-'`` when absent)."""
    from streamdistill.io_utils import package_versions as versions

    return {k: ("-" if v == "absent" else v) for k, v in versions(tuple(names)).items()}


def git_revision() -> str:
    """Short commit of the repository (``+dirty`` if the tree has changes), or ``'unknown'``."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               text=True, capture_output=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info(packages: Sequence[str] = ("numpy", "scipy", "mne", "zarr", "h5py")) -> dict[str, str]:
    """What a benchmark table needs to be read: CPU, cores, RAM, OS, Python, versions, commit."""
    versions = package_versions(packages)
    return {
        "CPU": cpu_model(),
        "cores": f"{usable_cores()} usable ({os.cpu_count()} online)",
        "RAM": f"{total_ram_bytes() / 2**30:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "commit": git_revision(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def machine_table(info: dict[str, str]) -> str:
    """The machine description as a two-column Markdown table."""
    rows = [("what", "value"), ("---", "---")] + list(info.items())
    return "\n".join(f"| {a} | {b} |" for a, b in rows)


# ------------------------------------------------------------------------------ measurement


@dataclass
class RunResult:
    """One measured child process.

    ``wall_s``: seconds from start to exit; ``maxrss_bytes``: ``ru_maxrss`` from ``wait4`` (largest
    single process of the tree); ``tree_peak_bytes``: peak of the summed tree RSS (psutil polling);
    ``cpu_s``: user + system CPU seconds of the tree; ``returncode``; ``stderr_tail``: last lines;
    ``tree_anon_peak_bytes``: peak of the summed anonymous RSS (``RssAnon``: not file-backed, so
    pages of memory-mapped inputs the kernel may drop are left out).
    """

    cmd: list[str]
    returncode: int
    wall_s: float
    maxrss_bytes: int
    tree_peak_bytes: int
    cpu_s: float
    stderr_tail: str = ""
    stdout_tail: str = ""
    background_cores: float = 0.0
    tree_anon_peak_bytes: int = 0

    def check(self) -> "RunResult":
        """Raise ``RuntimeError`` with the stderr tail if the child failed."""
        if self.returncode != 0:
            raise RuntimeError(
                f"command failed with exit {self.returncode}: {' '.join(self.cmd)}\n{self.stderr_tail}"
            )
        return self


def _busy_seconds() -> float:
    """System-wide busy CPU seconds so far (all CPUs; idle and iowait excluded)."""
    import psutil

    total = 0.0
    for t in psutil.cpu_times(percpu=True):
        d = t._asdict()
        total += sum(v for k, v in d.items() if k not in ("idle", "iowait", "guest", "guest_nice"))
    return total


def background_load(sample_s: float = 2.0) -> float:
    """Cores kept busy by all processes over the next ``sample_s`` seconds (this one sleeps)."""
    b0, t0 = _busy_seconds(), time.perf_counter()
    time.sleep(sample_s)
    return (_busy_seconds() - b0) / (time.perf_counter() - t0)


def wait_for_quiet(
    max_wait_s: float, threshold_cores: float = 0.3, sample_s: float = 2.0
) -> tuple[float, float]:
    """Wait until the machine's load is below ``threshold_cores`` (sampled every ``sample_s``), at
    most ``max_wait_s``. Returns ``(seconds waited, last load)``."""
    t0 = time.perf_counter()
    load = background_load(sample_s)
    while load > threshold_cores and time.perf_counter() - t0 < max_wait_s:
        load = background_load(sample_s)
    return time.perf_counter() - t0, load


def _anon_rss(pid: int) -> int:
    """``RssAnon`` of a process (bytes): resident memory not backed by a file. Memory-mapped
    files (the latents, scratch maps) count in RSS but not here: the kernel can drop them."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_rss(proc, anon: bool = False) -> int:
    import psutil

    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += _anon_rss(p.pid) if anon else p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cpus: set[int] | None = None,
    poll_s: float = 0.05,
    cwd: str | Path | None = None,
    timeout_s: float | None = None,
) -> RunResult:
    """Run ``cmd`` and measure it (see the module docstring).

    Parameters
    ----------
    cmd
        The command line.
    env
        Extra environment variables (added to ``os.environ``).
    cpus
        CPUs to pin the child (and so its descendants) to; ``None`` leaves the affinity alone.
    poll_s
        Polling interval of the tree RSS sampler (s).
    timeout_s
        Kill the child (SIGKILL) after this many seconds; the result then has ``returncode`` -9.
    """
    import psutil

    full_env = dict(os.environ)
    full_env.update(env or {})
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    busy0 = _busy_seconds()
    t0 = time.perf_counter()
    child = subprocess.Popen(
        list(cmd), env=full_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )
    ps = psutil.Process(child.pid)
    peak = anon_peak = 0
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out_chunks.append(child.stdout.read()), daemon=True),
        threading.Thread(target=lambda: err_chunks.append(child.stderr.read()), daemon=True),
    ]
    for r in readers:
        r.start()
    status = None
    rusage = None
    while True:
        pid, status, rusage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _tree_rss(ps))
        anon_peak = max(anon_peak, _tree_rss(ps, anon=True))
        if timeout_s is not None and time.perf_counter() - t0 > timeout_s:
            child.kill()
        time.sleep(poll_s)
    wall = time.perf_counter() - t0
    busy = _busy_seconds() - busy0
    child.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    cpu_s = float(rusage.ru_utime + rusage.ru_stime)
    err = b"".join(err_chunks).decode(errors="replace")
    out = b"".join(out_chunks).decode(errors="replace")
    return RunResult(
        cmd=list(cmd),
        returncode=child.returncode,
        wall_s=wall,
        maxrss_bytes=int(rusage.ru_maxrss) * 1024,
        tree_peak_bytes=peak,
        cpu_s=cpu_s,
        background_cores=max(0.0, (busy - cpu_s) / wall) if wall > 0 else 0.0,
        tree_anon_peak_bytes=anon_peak,
        stderr_tail="\n".join(err.strip().splitlines()[-15:]),
        stdout_tail="\n".join(out.strip().splitlines()[-15:]),
    )


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(values))


# ------------------------------------------------------------------------------ cached stores


def store_format_is_current(store: str | Path, **settings: object) -> bool:
    """Whether a store a bench built earlier and keeps in its cache was written with the store
    format ``streamdistill shard`` uses now (``StoreFormatConfig(**settings)``, the defaults
    plus the flags the bench passes), by the rule ``shard`` applies before adding files to an
    existing store. A default that changed since (the codec did) makes the cached store stale:
    reusing it would measure the old format."""
    import json

    from streamdistill.config import StoreFormatConfig
    from streamdistill.shard.commit import parameter_differences

    try:
        recorded = json.loads((Path(store) / "store.json").read_text())["parameters"]["store"]
    except (OSError, KeyError, ValueError):
        return False
    wanted = StoreFormatConfig(**settings).in_effect()
    return not parameter_differences({"store": recorded}, {"preprocess": {}, "store": wanted})


def cached_store(inputs: Sequence[str | Path], dest: Path, *, settings: dict | None = None,
                 workers: int | None = None, log=None) -> Path:
    """``streamdistill shard inputs --out dest`` once, kept in a bench's cache (``dest.done``
    marks it complete), with store format ``settings`` (``StoreFormatConfig`` fields, passed as
    ``--key value`` flags; none: the defaults). Rebuilt when it is missing, incomplete or stale
    (:func:`store_format_is_current`). ``workers``: ``--workers`` (default: shard's own)."""
    settings = dict(settings or {})
    done = dest.with_name(dest.name + ".done")
    if done.exists() and dest.exists() and store_format_is_current(dest, **settings):
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    flags = [a for k, v in settings.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    if workers is not None:
        flags += ["--workers", str(workers)]
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    say(f"sharding {', '.join(Path(p).name for p in inputs)} → {dest} {' '.join(flags)}")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "streamdistill.cli", "shard", *map(str, inputs),
                          "--out", str(dest), *flags, "--no-progress"],
                         capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"shard failed: {res.stderr[-2000:]}")
    lines = res.stdout.strip().splitlines()
    say(f"  {lines[-1] if lines else ''} ({time.perf_counter() - t0:.0f} s)")
    done.write_text("ok")
    return dest


# ------------------------------------------------------------------------------ sizes/format


def dir_bytes(path: str | Path) -> int:
    """Sum of the apparent sizes of every regular file under ``path`` (or of the file itself)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(p):
        for f in files:
            fp = os.path.join(root, f)
            if not os.path.islink(fp):
                total += os.stat(fp).st_size
    return total


def fmt_bytes(n: float) -> str:
    """``1536`` → ``'1.5 KiB'`` (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (cells are ``str()``-ed)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


DOC_HEADER = """# Benchmarks

Measured numbers for each pipeline stage, written by the scripts under `tools/bench/`. Each stage's
section is replaced in place by its script (between its `<!-- bench:NAME:start -->` and
`<!-- bench:NAME:end -->` markers); do not edit inside the markers by hand.
"""


def publish(doc: str | Path, name: str, body: str, *, print_only: bool) -> None:
    """Print ``body`` (``print_only``: smoke runs, ``--no-doc``) or write it as section ``name``
    of ``doc`` (:func:`write_section`) and say so."""
    if print_only:
        print(body)
    else:
        write_section(doc, name, body)
        print(f"wrote section {name!r} of {doc}", file=sys.stderr)


def write_section(doc: str | Path, name: str, body: str, header: str = DOC_HEADER) -> Path:
    """Replace the ``name`` section of the Markdown file ``doc`` with ``body`` (created with
    ``header`` when missing; the section is appended when its markers are absent)."""
    doc = Path(doc)
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = doc.read_text() if doc.exists() else header.rstrip() + "\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    tmp = doc.with_suffix(doc.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, doc)
    return doc


def python_cmd(*args: str) -> list[str]:
    """``[sys.executable, *args]``."""
    return [sys.executable, *args]


def which(name: str, fallback_dir: str | Path | None = None) -> str:
    """Path of executable ``name``: next to ``sys.executable`` first (the venv), then ``PATH``."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found:
        return found
    if fallback_dir is not None and (Path(fallback_dir) / name).exists():
        return str(Path(fallback_dir) / name)
    raise FileNotFoundError(f"executable {name!r} not found next to {sys.executable} or on PATH")


@dataclass
class Timer:
    """Context manager measuring elapsed seconds into ``.s``."""

    s: float = 0.0
    _t0: float = field(default=0.0, repr=False)

    def __enter__(self) -> "Timer":
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.s = time.perf_counter() - self._t0
