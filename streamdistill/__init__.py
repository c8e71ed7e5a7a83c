"""streamdistill: out-of-core EEG-DLite."""

__version__ = "0.1.0"
