"""Segment store and latent array formats, readers, streaming loaders, WebDataset export."""

from streamdistill.store.segment_store import Chunk, GroupInfo, SegmentStore, StoreError, open_store

__all__ = ["Chunk", "GroupInfo", "SegmentStore", "StoreError", "open_store"]
