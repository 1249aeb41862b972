"""Weight initialisation (filled in by the training issue)."""
