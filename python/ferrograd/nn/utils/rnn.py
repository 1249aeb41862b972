"""Sequence padding helpers (PackedSequence is not supported)."""
from ... import _tensor as T

__all__ = ["pad_sequence"]


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks variable-length tensors [L_i, *] into [max_L, B, *] (or [B, max_L, *]) padded with padding_value."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    max_len = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = max_len - s.shape[0]
        if extra:
            fill = T.full((extra,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype)
            s = T.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return T.stack(padded, 0 if batch_first else 1)
