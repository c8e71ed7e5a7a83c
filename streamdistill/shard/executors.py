"""Where units of work run: serially, in worker processes, or on a dask.distributed cluster.

:func:`ordered_map` runs ``fn(item)`` for every item and yields the results **in input order**
with a bounded number of items in flight, whatever executor runs them. Results are small records
(the bulk data travels through the staging folder on disk), so memory in the caller stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    max_in_flight: int | None = None,
    on_error: Callable[[T, BaseException], R] | None = None,
    preload: tuple[str, ...] = (),
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in order.

    Parameters
    ----------
    workers
        1 runs in this process; N > 1 uses N processes (forkserver start method).
    scheduler
        Address of a dask.distributed scheduler (``tcp://host:8786``); overrides ``workers``.
    max_in_flight
        Items submitted but not yet yielded (default ``2 × workers + 1``; bounds staging disk).
    on_error
        Turns an exception that escaped ``fn`` or a dead worker into a result; re-raised if None.
    preload
        Modules the forkserver imports once, so that worker processes start already warm.
    """
    if scheduler:
        yield from _dask_map(fn, items, scheduler, max_in_flight or 64, on_error)
    elif workers <= 1:
        for item in items:
            try:
                yield fn(item)
            except Exception as exc:  # noqa: BLE001
                if on_error is None:
                    raise
                yield on_error(item, exc)
    else:
        yield from _process_map(fn, items, workers, max_in_flight or 2 * workers + 1, on_error,
                                preload)


def _resolve(fut: Future, item: Any, on_error) -> Any:
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001
        if on_error is None:
            raise
        return on_error(item, exc)


def _top_up(pending: deque, it: Iterator, submit: Callable[[Any], Any], max_in_flight: int) -> None:
    """Submit items from ``it`` until ``max_in_flight`` are pending (or ``it`` is exhausted)."""
    while len(pending) < max_in_flight:
        try:
            item = next(it)
        except StopIteration:
            return
        pending.append((item, submit(item)))


def start_forkserver(preload: tuple[str, ...]) -> None:
    """Start the forkserver now, importing ``preload`` in its own process while the caller goes
    on (worker processes fork from it later, already warm)."""
    import multiprocessing.forkserver as forkserver

    forkserver.set_forkserver_preload(list(preload))
    forkserver.ensure_running()


def _process_map(fn, items, workers, max_in_flight, on_error, preload=()) -> Iterator[Any]:
    ctx = multiprocessing.get_context("forkserver")
    if preload:
        ctx.set_forkserver_preload(list(preload))
    it = iter(items)
    pending: deque[tuple[Any, Future]] = deque()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        while True:
            _top_up(pending, it, lambda item: pool.submit(fn, item), max_in_flight)
            if not pending:
                break
            item, fut = pending.popleft()
            try:
                yield fut.result()
            except BrokenProcessPool as exc:
                # A worker died (killed, out of memory, crashed in a C library). Its item is
                # reported; the others in flight are resubmitted to a fresh pool.
                if on_error is None:
                    raise
                yield on_error(item, exc)
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
                pending = deque((i, pool.submit(fn, i)) for i, _ in pending)
            except Exception as exc:  # noqa: BLE001
                if on_error is None:
                    raise
                yield on_error(item, exc)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask_map(fn, items, scheduler, max_in_flight, on_error) -> Iterator[Any]:
    from distributed import Client

    with Client(scheduler, set_as_default=False) as client:
        it = iter(items)
        pending: deque[tuple[Any, Any]] = deque()
        while True:
            _top_up(pending, it, lambda item: client.submit(fn, item, pure=False), max_in_flight)
            if not pending:
                break
            item, fut = pending.popleft()
            yield _resolve(fut, item, on_error)
