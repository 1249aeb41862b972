"""Checkpoints (`save`/`load`) in the safetensors format; filled in by the training issue."""


def save(obj, f):
    raise NotImplementedError("ferrograd.save is not implemented yet")


def load(f, map_location=None, weights_only=None):
    raise NotImplementedError("ferrograd.load is not implemented yet")
