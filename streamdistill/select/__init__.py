"""``select``: HBOS outlier removal and k-center greedy over memory-mapped latents.

Python API: :func:`run_select` writes a selection; :func:`open_selection` reads one back and
``open_selection(path).subset(eta)`` gives the sorted segment ids selected at η%.
"""

from streamdistill.select.selection import Selection, SelectionError, open_selection, quota


def run_select(*args, **kwargs):
    """See :func:`streamdistill.select.run.run_select` (imported lazily: numba compiles)."""
    from streamdistill.select.run import run_select as _run

    return _run(*args, **kwargs)


__all__ = ["Selection", "SelectionError", "open_selection", "quota", "run_select"]
