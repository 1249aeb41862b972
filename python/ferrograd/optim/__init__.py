"""Optimizers (filled in by the training issue)."""
