"""Data loading (filled in by the training issue)."""
