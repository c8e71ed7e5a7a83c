"""File names of the segment store (DESIGN.md, "Segment store") and its private bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Bumped whenever a reader of an older store would misread a newer one.
STORE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class StoreLayout:
    """Paths inside one segment store directory ``root``.

    Public (the contract between stages): ``store.json``, ``segments.zarr/``, ``segments.parquet``,
    ``recordings.parquet``. Private: ``ledger.jsonl`` (append-only commit log, the single source of
    truth for resuming), ``parts/`` (one segment table per committed recording, concatenated into
    ``segments.parquet``), ``staging/`` (finished but not yet committed recordings).
    """

    root: Path

    @property
    def store_json(self) -> Path:
        return self.root / "store.json"

    @property
    def zarr(self) -> Path:
        return self.root / "segments.zarr"

    @property
    def segments(self) -> Path:
        return self.root / "segments.parquet"

    @property
    def recordings(self) -> Path:
        return self.root / "recordings.parquet"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.jsonl"

    @property
    def parts(self) -> Path:
        return self.root / "parts"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    def part(self, recording_id: int) -> Path:
        """Segment table of one committed recording."""
        return self.parts / f"{recording_id:09d}.parquet"

    @staticmethod
    def group_array_path(group: str) -> str:
        """Path of a montage group's array inside ``segments.zarr``."""
        return f"groups/{group}/x"
