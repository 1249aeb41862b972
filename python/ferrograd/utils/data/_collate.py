"""`default_collate` and `default_convert`, following `torch.utils.data.default_collate`:

* tensors are stacked along a new dim 0;
* numpy arrays become tensors and are stacked; numpy scalars become a 1-D tensor of their dtype;
* Python floats -> a float64 tensor, ints -> int64, bools -> bool;
* str/bytes are returned as the list of samples;
* dicts (Mappings) collate per key; namedtuples per field (same namedtuple type);
* tuples collate per position and come back as a *list* (as in PyTorch), other sequences keep
  their type when they can. Sequences must all have the same length.
"""
import collections.abc
import re

import numpy as np

from ..._core import Tensor

_np_str_obj = re.compile(r"[SaUO]")

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def _tensor_mod():
    from ... import _tensor
    return _tensor


def _np_to_tensor(arr):
    t = _tensor_mod()
    arr = np.asarray(arr)
    if _np_str_obj.search(arr.dtype.str) is not None:
        raise TypeError(_ERR.format(arr.dtype))
    return t.as_tensor(arr if arr.flags.c_contiguous else arr.copy(order="C"))


def default_collate(batch):
    t = _tensor_mod()
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return t.stack(list(batch), 0)
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_", "bytes_"):
        if elem_type.__name__ in ("ndarray", "memmap"):
            if _np_str_obj.search(elem.dtype.str) is not None:
                raise TypeError(_ERR.format(elem.dtype))
            return default_collate([_np_to_tensor(b) for b in batch])
        if elem.shape == ():  # numpy scalars
            return _np_to_tensor(np.array(batch))
    if isinstance(elem, bool):
        return t.tensor(list(batch), dtype=t.bool_)
    if isinstance(elem, float):
        return t.tensor(list(batch), dtype=t.float64)
    if isinstance(elem, int):
        return t.tensor(list(batch), dtype=t.int64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                out = copy_mapping(elem)
                out.update(collated)
                return out
            return elem_type(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(list(samples)) for samples in transposed]
        try:
            return elem_type([default_collate(list(samples)) for samples in transposed])
        except TypeError:
            return [default_collate(list(samples)) for samples in transposed]
    raise TypeError(_ERR.format(elem_type))


def copy_mapping(m):
    import copy
    out = copy.copy(m)
    return out


def default_convert(data):
    """What the DataLoader applies when batching is off (`batch_size=None`): numpy arrays and
    scalars become tensors, containers are converted recursively, everything else is left."""
    t = _tensor_mod()
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_", "bytes_"):
        if elem_type.__name__ in ("ndarray", "memmap"):
            if _np_str_obj.search(data.dtype.str) is not None:
                return data
            return _np_to_tensor(data)
        if data.shape == ():
            return _np_to_tensor(np.asarray(data))
        return data
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                out = copy_mapping(data)
                out.update({k: default_convert(data[k]) for k in data})
                return out
            return elem_type({k: default_convert(data[k]) for k in data})
        except TypeError:
            return {k: default_convert(data[k]) for k in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        try:
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
