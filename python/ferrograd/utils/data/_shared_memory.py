"""Passing tensors between DataLoader processes through shared memory instead of pickling
their data.

`dumps(obj, prefix)` pickles `obj` with every CPU tensor replaced by a reference to a new
shared-memory file (in /dev/shm where it exists) holding its elements; `pickle.loads` in the
receiving process maps the file and wraps it with `from_numpy`, so the data is copied once
(into the segment) and never serialized. A batch's segments are unlinked as soon as they are
mapped (the receiver is their only reader; the memory lives until the tensor dies); the
dataset's, which every worker maps, stay until the loader removes every file of its `prefix`.

`multiprocessing.shared_memory.SharedMemory` makes the same /dev/shm files, but its object has
to outlive every numpy view of it (its `close()` fails while one exists); a plain `mmap` handed to
numpy is unmapped when the last view, i.e. the tensor, goes.
"""
import copyreg
import glob
import io
import itertools
import mmap
import os
import pickle
import tempfile

import numpy as np

from ... import _core
from ..._core import Tensor

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
_segment_ids = itertools.count()


def _rebuild(path, dtype, shape, requires_grad, unlink):
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        segment = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    if unlink:
        os.unlink(path)
    array = np.frombuffer(segment, dtype=dtype).reshape(shape)
    tensor = _core.from_numpy(array)
    return tensor.requires_grad_(True) if requires_grad else tensor


def _share(tensor, prefix, unlink):
    if tensor.device.type != "cpu":
        raise RuntimeError(f"a DataLoader process sent a tensor on {tensor.device}: tensors cross processes on "
                           "the CPU; move batches to the GPU in the main process (e.g. with pin_memory=False and "
                           ".to(device) in the training loop)")
    array = np.ascontiguousarray(tensor.detach().numpy())
    if array.nbytes == 0:
        return _core.from_numpy, (array,)
    path = f"{prefix}{os.getpid()}-{next(_segment_ids)}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, array.nbytes)
        with mmap.mmap(fd, array.nbytes) as segment:
            np.frombuffer(segment, dtype=array.dtype).reshape(array.shape)[...] = array
    finally:
        os.close(fd)
    return _rebuild, (path, array.dtype.str, array.shape, tensor.requires_grad, unlink)


def dumps(obj, prefix, unlink_on_load=True):
    """Pickles `obj`, its tensors through shared-memory files named `prefix...`."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = copyreg.dispatch_table.copy()
    pickler.dispatch_table[Tensor] = lambda t: _share(t, prefix, unlink_on_load)
    pickler.dump(obj)
    return buf.getvalue()


def new_prefix():
    """A file-name prefix unique to one loader's segments."""
    return os.path.join(SHM_DIR, f"ferrograd-loader-{os.getpid()}-{os.urandom(4).hex()}-")


def remove_all(prefix):
    """Removes every segment still named `prefix...` (the dataset's, and batches never received)."""
    for path in glob.glob(glob.escape(prefix) + "*"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
