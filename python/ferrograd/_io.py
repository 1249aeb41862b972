"""Checkpoints: `ferrograd.save(obj, f)` / `ferrograd.load(f)` in the safetensors format.

File format
-----------
A ferrograd checkpoint is a plain safetensors file (https://github.com/huggingface/safetensors),
so `safetensors.numpy.load_file(path)` (and `safetensors.torch.load_file`) read it, and
ferrograd loads safetensors files written by other tools.

* Every tensor in `obj` is stored as one safetensors tensor. Its name is the path of keys /
  indices leading to it joined by dots, so a flat `state_dict` keeps its own keys
  (`"fc1.weight"`) and an optimizer state_dict `{'state': {0: {'exp_avg': t}}, ...}` stores `t`
  as `"state.0.exp_avg"`. (Colliding names get a `#n` suffix; a tensor object that appears
  twice is stored once.)
* Everything that is not a tensor — dict keys (with their types: int keys stay ints), nesting,
  lists vs tuples, OrderedDict, numbers, strings, bools, None, `Size`, dtypes — is kept as JSON
  in the safetensors `__metadata__` under `"ferrograd.structure"`; `load` rebuilds the same
  nested object from it. Anything else (modules, arbitrary classes) is refused with TypeError:
  save `model.state_dict()` instead of the model.
* `"ferrograd.sha256"` in the metadata is a SHA-256 over the structure JSON and every tensor's
  name, dtype, shape and bytes; `load` recomputes and compares it (and checks the header's
  offsets and sizes), so a truncated, bit-flipped or otherwise damaged file raises
  RuntimeError naming the file and the problem, never returns altered values.
* `"format": "pt"` is set, as `safetensors.torch.save_file` does.

Files written by other tools have no ferrograd metadata: `load` returns a flat dict
name -> tensor. Every ferrograd dtype is stored natively (F64, F32, F16, BF16, I64, I32, I16,
I8, U8, BOOL), so PyTorch reads ferrograd's files with their dtypes and the other way round;
the unsigned types ferrograd lacks are widened: uint16/uint32 -> int64, uint64 -> int64 (if the
values fit).

Writes are atomic: bytes go to a temporary file in the target directory, which is fsynced and
renamed over the target with `os.replace`, so the target is either the old file or the
complete new one. As `torch.save`'s `open(path, "wb")`: a symlink's target is written (the
link stays), an existing file keeps its mode and a read-only one is refused (PermissionError),
a new file gets 0o666 less the umask; a directory or a missing parent directory raises
RuntimeError. A tensor keyed "__metadata__" (the safetensors header's own key) is stored
under a suffixed name and loads back under its key.
"""
import collections
import hashlib
import io
import json
import os
import struct
import tempfile

import numpy as np

from ._core import Tensor

__all__ = ["save", "load"]

_FORMAT_VERSION = "1"
_META_STRUCT = "ferrograd.structure"
_META_SHA = "ferrograd.sha256"
_META_VERSION = "ferrograd.version"

# bfloat16 values travel as their 16-bit patterns (numpy has no bfloat16), in arrays of this
# dtype, which the writer stores as BF16.
_BF16_BITS = np.dtype("<u2", metadata={"safetensors": "BF16"})

# safetensors dtype names -> numpy little-endian dtypes
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
              "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


class _CorruptFile(Exception):
    pass


def _contig(a):
    """C-contiguous, keeping 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


# ---------------------------------------------------------------------------- flatten

def _flatten(obj):
    """(structure, tensors): a JSON-able skeleton of `obj` and a dict name -> numpy array."""
    from ._tensor import Size
    from ._dtype import dtype as _dtype_cls
    tensors = {}
    seen = {}  # id(tensor) -> name

    def name_for(path):
        base = ".".join(path) if path else "tensor"
        name, n = base, 1
        # "__metadata__" is the safetensors header's own key: such a tensor gets a suffix too.
        while name in tensors or name == "__metadata__":
            name = f"{base}#{n}"
            n += 1
        return name

    def key_json(k):
        if isinstance(k, bool) or k is None or isinstance(k, (int, float, str)):
            return k
        if isinstance(k, tuple):
            return {"__tuple__": [key_json(x) for x in k]}
        raise TypeError(f"ferrograd.save: unsupported dict key type {type(k).__name__} ({k!r})")

    def walk(o, path):
        if isinstance(o, Tensor):
            if id(o) in seen:
                return {"__tensor__": seen[id(o)]}
            name = name_for(path)
            host = o.detach().cpu()
            if host.dtype.name == "bfloat16":
                # float32 holds each bfloat16 exactly, in its high 16 bits.
                arr = (_contig(host.float().numpy()).view(np.uint32) >> 16).astype(_BF16_BITS)
            else:
                arr = _contig(host.numpy())
            tensors[name] = arr
            seen[id(o)] = name
            node = {"__tensor__": name}
            from .nn.parameter import Parameter
            if isinstance(o, Parameter):
                node["param"] = bool(o.requires_grad)
            elif o.requires_grad:
                node["requires_grad"] = True
            return node
        if o is None or isinstance(o, (bool, str)):
            return o
        if isinstance(o, (int, np.integer)):
            return int(o)
        if isinstance(o, (float, np.floating)):
            o = float(o)
            if o != o or o in (float("inf"), float("-inf")):
                return {"__float__": repr(o)}
            return o
        if isinstance(o, Size):
            return {"__size__": list(o)}
        if isinstance(o, _dtype_cls):
            return {"__dtype__": o.name}
        if isinstance(o, dict):
            items = [[key_json(k), walk(v, path + [str(k)])] for k, v in o.items()]
            return {"__odict__" if isinstance(o, collections.OrderedDict) else "__dict__": items}
        if isinstance(o, tuple) and not hasattr(o, "_fields"):
            return {"__tuple__": [walk(v, path + [str(i)]) for i, v in enumerate(o)]}
        if isinstance(o, list):
            return [walk(v, path + [str(i)]) for i, v in enumerate(o)]
        if isinstance(o, np.ndarray):
            raise TypeError(f"ferrograd.save: numpy array at {'.'.join(path) or 'top level'}: "
                            "convert it with ferrograd.from_numpy first")
        raise TypeError(
            f"ferrograd.save: cannot store an object of type {type(o).__name__} "
            f"(at {'.'.join(path) or 'top level'}); checkpoints hold tensors, dicts, lists, tuples, "
            "numbers, strings, bools and None — save model.state_dict() rather than the model")

    structure = walk(obj, [])
    return structure, tensors


def _unflatten(structure, tensors, map_fn):
    from ._tensor import Size
    from ._dtype import from_name
    made = {}

    def key(k):
        if isinstance(k, dict) and "__tuple__" in k:
            return tuple(key(x) for x in k["__tuple__"])
        return k

    def build(node):
        if isinstance(node, list):
            return [build(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "__tensor__" in node:
            name = node["__tensor__"]
            if name not in made:
                if name not in tensors:
                    raise _CorruptFile(f"the structure refers to tensor {name!r}, which the file lacks")
                t = map_fn(_to_tensor(tensors[name], name))
                if "param" in node:
                    from .nn.parameter import Parameter
                    t = Parameter(t, requires_grad=node["param"])
                elif node.get("requires_grad"):
                    t.requires_grad_(True)
                made[name] = t
            return made[name]
        if "__dict__" in node or "__odict__" in node:
            cls = dict if "__dict__" in node else collections.OrderedDict
            return cls((key(k), build(v)) for k, v in node.get("__dict__", node.get("__odict__")))
        if "__tuple__" in node:
            return tuple(build(v) for v in node["__tuple__"])
        if "__size__" in node:
            return Size(node["__size__"])
        if "__dtype__" in node:
            return from_name(node["__dtype__"])
        if "__float__" in node:
            return float(node["__float__"])
        raise _CorruptFile(f"unknown structure node {str(node)[:80]}")

    return build(structure)


# ---------------------------------------------------------------------------- hashing & conversion

def _digest(tensors, structure):
    """SHA-256 over the structure JSON and every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(structure.encode("utf-8"))
    h.update(b"\0")
    for name in sorted(tensors):
        a = tensors[name]
        h.update(json.dumps([name, np.dtype(a.dtype).newbyteorder("<").str if a.dtype.itemsize > 1 else a.dtype.str,
                             list(a.shape)]).encode())
        h.update(b"\0")
        h.update(_contig(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def _to_tensor(arr, name):
    from ._tensor import tensor
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if arr.dtype.metadata == _BF16_BITS.metadata:
        as_float32 = (arr.astype(np.uint32) << 16).view(np.float32)
        return tensor(_contig(as_float32), device="cpu").bfloat16()
    if kind == "f" or (kind == "i" and size < 8) or (kind == "u" and size == 1):
        arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    elif kind == "u" and size == 8:
        if arr.size and arr.max() > np.iinfo(np.int64).max:
            raise RuntimeError(f"tensor {name!r}: uint64 values exceed int64, which ferrograd cannot hold")
        arr = arr.astype(np.int64)
    elif kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    elif kind == "b":
        arr = arr.astype(np.bool_, copy=False)
    else:
        raise RuntimeError(f"tensor {name!r}: unsupported dtype {arr.dtype}")
    return tensor(_contig(arr), device="cpu")  # map_location moves it


# ---------------------------------------------------------------------------- save

def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Saves `obj` (a state_dict, a tensor, or nested dicts/lists/tuples of tensors and plain
    values such as an optimizer state_dict) to `f` (a path or a writable binary file object)
    as a safetensors file. See the module docstring for the layout; the write is atomic."""
    structure, tensors = _flatten(obj)
    structure = json.dumps(structure, separators=(",", ":"))
    metadata = {"format": "pt", _META_VERSION: _FORMAT_VERSION, _META_STRUCT: structure,
                _META_SHA: _digest(tensors, structure)}
    data = _serialize(tensors, metadata)
    if hasattr(f, "write"):
        f.write(data)
        if hasattr(f, "flush"):
            f.flush()
        return
    _atomic_write(os.fspath(f), data)


def _serialize(tensors, metadata):
    """safetensors bytes of name -> little-endian C-contiguous array (bfloat16 as `_BF16_BITS`)."""
    from safetensors import TensorSpec, serialize
    specs = {name: TensorSpec(dtype="bfloat16" if a.dtype.metadata == _BF16_BITS.metadata else a.dtype.name,
                              shape=a.shape, data_ptr=a.ctypes.data, data_len=a.nbytes)
             for name, a in tensors.items()}
    return bytes(serialize(specs, metadata=metadata))


def _atomic_write(path, data):
    """Writes `data` to `path` through a temporary file renamed over it. As `open(path, "wb")`
    would: a symlink's target is written, an existing file keeps its mode (a read-only one
    refuses the write), a new one gets 0o666 less the umask."""
    path = os.path.realpath(path)
    d = os.path.dirname(path)
    if os.path.isdir(path):
        raise RuntimeError(f"ferrograd.save: {path} is a directory")
    if not os.path.isdir(d):
        raise RuntimeError(f"ferrograd.save: Parent directory {d} does not exist.")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise PermissionError(f"ferrograd.save: permission denied: {path}")
        mode = os.stat(path).st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    try:  # make the rename itself durable (best effort; not possible on every platform)
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# ---------------------------------------------------------------------------- load

def _parse_header(raw):
    if len(raw) < 8:
        raise _CorruptFile(f"file is {len(raw)} bytes long, too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise _CorruptFile(f"header claims {n} bytes but only {len(raw) - 8} follow (truncated file?)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _CorruptFile(f"the safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _CorruptFile("the safetensors header is not a JSON object")
    data_len = len(raw) - 8 - n
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _CorruptFile("the safetensors __metadata__ is not a map of strings")
    end_max = 0
    for name, info in header.items():
        if (not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info)
                or not isinstance(info["shape"], list) or not isinstance(info["data_offsets"], list)
                or len(info["data_offsets"]) != 2
                or not all(type(v) is int and v >= 0 for v in info["shape"] + info["data_offsets"])):
            raise _CorruptFile(f"bad header entry for tensor {name!r}")
        dt = info["dtype"]
        if dt not in _ST_DTYPES and dt != "BF16":
            raise _CorruptFile(f"tensor {name!r} has dtype {dt}, which ferrograd cannot load")
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        itemsize = 2 if dt == "BF16" else np.dtype(_ST_DTYPES[dt]).itemsize
        if not (0 <= begin <= end <= data_len) or end - begin != count * itemsize:
            raise _CorruptFile(f"tensor {name!r}: data offsets {begin}..{end} do not fit the "
                               f"{data_len}-byte data section (truncated file?)")
        end_max = max(end_max, end)
    if end_max != data_len:
        raise _CorruptFile(f"the data section is {data_len} bytes but the tensors cover {end_max} "
                           "(truncated or padded file?)")
    return header, metadata, 8 + n


def _read_tensors(raw, header, start):
    """name -> numpy array. Uses safetensors' numpy API; bfloat16 (which numpy lacks) by hand."""
    import safetensors.numpy as stn
    if all(info["dtype"] != "BF16" for info in header.values()):
        return stn.load(bytes(raw))
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        buf = raw[start + begin:start + end]
        if info["dtype"] == "BF16":
            out[name] = np.frombuffer(buf, dtype=_BF16_BITS).reshape(info["shape"]).copy()
        else:
            out[name] = np.frombuffer(buf, dtype=_ST_DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return out


def _map_fn(map_location):
    from ._device import check_device, device
    if map_location is None:
        return lambda t: t
    if callable(map_location) and not isinstance(map_location, (str, device)):
        def call(t):
            r = map_location(t, "cpu")
            return r if isinstance(r, Tensor) else t
        return call
    if isinstance(map_location, dict):
        return lambda t: t
    dev = check_device(map_location)
    if dev.type == "cpu":
        return lambda t: t
    return lambda t: t.to(dev)


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Loads what `save` wrote (rebuilding the nested object), or any safetensors file (as a
    flat dict name -> tensor). `f` is a path or a readable binary file object.
    `map_location` may be None, 'cpu', a device, a dict or a callable, as in PyTorch;
    `weights_only` is accepted (loading never runs pickled code). A damaged file raises
    RuntimeError naming the file and what is wrong."""
    if hasattr(f, "read"):
        where = getattr(f, "name", None) or "<file object>"
        raw = f.read()
    else:
        where = os.fspath(f)
        with open(where, "rb") as fh:
            raw = fh.read()
    if isinstance(raw, str):
        raise TypeError("ferrograd.load needs a binary file object (open it with 'rb')")
    mapper = _map_fn(map_location)
    try:
        header, metadata, start = _parse_header(raw)
        try:
            arrays = _read_tensors(raw, header, start)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # safetensors raises SafetensorError (or a Rust panic) on bad data
            raise _CorruptFile(f"safetensors could not decode the file: {type(e).__name__}: {e}") from None
        ours = [k for k in (_META_VERSION, _META_STRUCT, _META_SHA) if k in metadata]
        if ours and len(ours) != 3:
            missing = sorted({_META_VERSION, _META_STRUCT, _META_SHA} - set(ours))
            raise _CorruptFile(f"damaged ferrograd metadata (missing {', '.join(missing)})")
        if ours:
            if _digest(arrays, metadata[_META_STRUCT]) != metadata[_META_SHA]:
                raise _CorruptFile("SHA-256 checksum mismatch: the tensor data or structure is corrupted")
            try:
                structure = json.loads(metadata[_META_STRUCT])
            except json.JSONDecodeError as e:  # (the checksum above makes this unlikely)
                raise _CorruptFile(f"the ferrograd structure metadata is not valid JSON ({e})") from None
            try:
                return _unflatten(structure, arrays, mapper)
            except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
                # A structure that passes the checksum but is not one save writes (crafted).
                raise _CorruptFile(f"malformed ferrograd structure metadata ({type(e).__name__}: {e})") from None
        return {name: mapper(_to_tensor(arrays[name], name)) for name in header if name in arrays}
    except _CorruptFile as e:
        raise RuntimeError(f"ferrograd.load: {where!s}: {e}") from None
