"""Channel names → rows of LaBraM's channel position embedding (Jiang et al., ICLR 2024, Sec. 2.1).

LaBraM's spatial embedding ``pos_embed`` has 128 + 1 rows: row 0 belongs to the [CLS] token and row
``i + 1`` to the ``i``-th name of LaBraM's ``standard_1020`` list (``utils.py``; only its first 128
names fit the table). The project keeps that list once, as
:data:`streamdistill.shard.channels.LABRAM_CHANNELS`, because ``shard`` already orders every montage
group by it; this module only turns a montage's names into LaBraM's ``input_chans``
(``[0] + [index + 1 for each channel]``) and refuses what the model cannot place.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from streamdistill.shard.channels import LABRAM_CHANNELS, LABRAM_INDEX

#: Rows of the channel position embedding that name a channel (row 0 is the [CLS] token's).
MAX_CHANNELS: int = len(LABRAM_CHANNELS)

__all__ = ["LABRAM_CHANNELS", "MAX_CHANNELS", "channel_rows", "input_chans"]


@lru_cache(maxsize=256)
def _rows(names: tuple[str, ...]) -> tuple[int, ...]:
    if not names:
        raise ValueError("no channel names given: LaBraM needs at least one channel")
    if len(names) > MAX_CHANNELS:
        raise ValueError(
            f"{len(names)} channels given, but LaBraM's channel embedding has only {MAX_CHANNELS} "
            "rows; drop or merge channels before pretraining")
    upper = [n.strip().upper() for n in names]
    unknown = [n for n, u in zip(names, upper, strict=True) if u not in LABRAM_INDEX]
    if unknown:
        raise ValueError(
            f"channel name(s) not in LaBraM's 128-name standard_1020 list: {unknown}; rename them "
            "to 10-20/10-10 names (shard's harmonisation does this) or drop them")
    dupes = sorted({u for u in upper if upper.count(u) > 1})
    if dupes:
        raise ValueError(f"channel name(s) given more than once: {dupes}; each channel needs its "
                         "own position-embedding row")
    return tuple(LABRAM_INDEX[u] for u in upper)


def channel_rows(channels: Sequence[str]) -> tuple[int, ...]:
    """Place of each channel in LaBraM's list (0-based, case-insensitive), in input order.

    Raises ``ValueError`` naming the offending channels when a name is not in the list, appears
    twice, or when more than 128 channels are given.
    """
    return _rows(tuple(str(c) for c in channels))


def input_chans(channels: Sequence[str]) -> list[int]:
    """LaBraM's ``input_chans`` for a montage: ``[0]`` ([CLS] row) ``+ [row + 1 per channel]``.

    This is the index vector into the (128 + 1)-row ``pos_embed`` table; e.g.
    ``input_chans(['FP1', 'CZ']) == [0, 1, 42]``.
    """
    return [0] + [r + 1 for r in channel_rows(channels)]
