"""Segment store and latent array formats, readers, streaming loaders, WebDataset export.

The reader API (:func:`open_store`, :class:`SegmentStore`, ...) lives in
:mod:`~streamdistill.store.segment_store`; its names are resolved on first use, so that the
writer's modules (``store.arrays``, ``store.ledger``, imported by ``shard``) do not pay for
pandas at start-up.
"""

__all__ = ["Chunk", "GroupInfo", "SegmentStore", "StoreError", "open_store"]


def __getattr__(name: str):
    if name in __all__:
        from streamdistill.store import segment_store

        return getattr(segment_store, name)
    raise AttributeError(f"module 'streamdistill.store' has no attribute {name!r}")
