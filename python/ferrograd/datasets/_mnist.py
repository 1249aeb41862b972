"""MNIST-family data sets read from IDX files, with an optional checked downloader.

IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header of two zero bytes, a type
byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and a
dimension count, then one big-endian uint32 per dimension, then the data. Image files have
magic 2051 (uint8, 3 dims), label files 2049 (uint8, 1 dim). Files may be gzip-compressed.
"""
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

import numpy as np

from ..utils.data import Dataset

_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

MIRROR_ENV = "FERROGRAD_MNIST_MIRROR"


class IDXError(RuntimeError):
    """A file that is not a well-formed IDX file (bad magic, truncated, wrong size)."""


def _open_bytes(path):
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise IDXError(f"cannot read IDX file {path}: {e}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise IDXError(f"{path}: corrupt gzip data ({e})") from None
    return raw


def read_idx(path, expected_magic=None):
    """Reads an IDX file (plain or gzip) into a numpy array (native byte order).

    Raises `IDXError` (a RuntimeError) naming the file when the header is not an IDX header,
    the magic number is not `expected_magic`, or the data size does not match the header.
    """
    path = os.fspath(path)
    raw = _open_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    zero, type_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or type_code not in _IDX_TYPES:
        raise IDXError(f"{path}: not an IDX file (magic number {magic:#010x}; "
                       f"expected 0x0000TTNN with a known type byte TT)")
    if expected_magic is not None and magic != expected_magic:
        raise IDXError(f"{path}: wrong magic number {magic} (expected {expected_magic}: "
                       f"{'images' if expected_magic == 2051 else 'labels' if expected_magic == 2049 else 'IDX'})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header ({len(raw)} bytes, need {header} for {ndim} dims)")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dt = _IDX_TYPES[type_code]
    want = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
    got = len(raw) - header
    if got != want:
        raise IDXError(f"{path}: data size mismatch: header {dims} ({dt.name}) needs {want} bytes, "
                       f"file has {got}{' (truncated?)' if got < want else ''}")
    arr = np.frombuffer(raw, dtype=dt, offset=header, count=int(np.prod(dims, dtype=np.int64)))
    return arr.reshape(dims).astype(dt.newbyteorder("="))


def write_idx(path, array):
    """Writes a numpy array as an (uncompressed, or gzip if `path` ends in .gz) IDX file."""
    arr = np.asarray(array)
    codes = {v.newbyteorder("=").str[1:]: k for k, v in _IDX_TYPES.items()}
    key = arr.dtype.newbyteorder("=").str[1:]
    if key not in codes:
        raise TypeError(f"IDX cannot store dtype {arr.dtype}")
    code = codes[key]
    data = (bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
            + np.ascontiguousarray(arr, dtype=_IDX_TYPES[code]).tobytes())
    path = os.fspath(path)
    if path.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as fh:
        fh.write(data)


def _md5_file(path):
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_url(url, dest, md5=None, progress=True, timeout=60):
    """Downloads `url` to `dest`, checking `md5` (when given) before the file appears.

    Writes to a temporary file in the destination directory, fsyncs it and renames it into place,
    so `dest` is either absent or complete. A checksum mismatch removes the temporary file and
    raises RuntimeError; so does any network error.
    """
    dest = os.fspath(dest)
    d = os.path.dirname(os.path.abspath(dest))
    os.makedirs(d, exist_ok=True)
    h = hashlib.md5(usedforsecurity=False)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dest) + ".", suffix=".part", dir=d)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                req = urllib.request.Request(url, headers={"User-Agent": "ferrograd"})
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    total = resp.headers.get("Content-Length")
                    bar = None
                    if progress:
                        from tqdm.auto import tqdm
                        bar = tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                                   unit_divisor=1024, desc=os.path.basename(dest), leave=False)
                    try:
                        for chunk in iter(lambda: resp.read(1 << 16), b""):
                            out.write(chunk)
                            h.update(chunk)
                            if bar is not None:
                                bar.update(len(chunk))
                    finally:
                        if bar is not None:
                            bar.close()
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise RuntimeError(f"failed to download {url}: {e}") from None
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if md5 is not None and got != md5.lower():
            raise RuntimeError(f"MD5 checksum mismatch for {url}: expected {md5}, got {got}; "
                               f"the download was discarded (not written to {dest})")
        os.replace(tmp, dest)
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return dest


class MNIST(Dataset):
    """MNIST from its four IDX files (`.gz` or uncompressed).

    Files are looked for in `root`, `root/<ClassName>/raw` (torchvision's layout) and
    `root/<ClassName>`. With `download=True` missing files are fetched from `mirror` (a base
    URL; default: the `FERROGRAD_MNIST_MIRROR` environment variable, else the class's
    `mirrors`) into `root/<ClassName>/raw`, with a tqdm progress bar, and verified against
    `md5` (a dict filename -> md5; default: the published checksums in `resources`).

    Samples are `(image, label)`: image a float32 tensor [28, 28] with values in [0, 1]
    (passed through `transform`), label a Python int (through `target_transform`).
    `data` is the float32 tensor [N, 28, 28] of raw pixel values 0..255 (ferrograd has no
    uint8 dtype), `targets` the int64 tensor [N] of labels.
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    image_size = (28, 28)

    def __init__(self, root, train=True, download=False, transform=None, target_transform=None,
                 mirror=None, md5=None, progress=True):
        self.root = os.path.expanduser(os.fspath(root))
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.mirror = mirror
        self.md5 = dict(self.resources) if md5 is None else {**dict(self.resources), **md5}
        if download:
            self.download(progress=progress)
        prefix = "train" if train else "t10k"
        img_path = self._find(f"{prefix}-images-idx3-ubyte")
        lbl_path = self._find(f"{prefix}-labels-idx1-ubyte")
        images = read_idx(img_path, expected_magic=2051)
        labels = read_idx(lbl_path, expected_magic=2049)
        if images.ndim != 3:
            raise IDXError(f"{img_path}: expected a 3-d image array, got shape {images.shape}")
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise IDXError(f"{img_path}/{lbl_path}: expected uint8 data")
        if labels.ndim != 1 or len(labels) != len(images):
            raise IDXError(f"{lbl_path}: {labels.shape[0] if labels.ndim else 0} labels for "
                           f"{len(images)} images in {img_path}")
        self._images = images
        self._labels = labels.astype(np.int64)
        self._data = None

    # ---- files
    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    def _search_dirs(self):
        return [self.root, self.raw_folder, os.path.join(self.root, type(self).__name__)]

    def _find(self, base):
        for d in self._search_dirs():
            for name in (base, base + ".gz"):
                p = os.path.join(d, name)
                if os.path.isfile(p):
                    return p
        raise RuntimeError(
            f"{type(self).__name__}: file {base}(.gz) not found in {self._search_dirs()}. "
            f"Put the four IDX files ({', '.join(n for n, _ in self.resources)}) in {self.root!r} "
            "or pass download=True.")

    def _check_exists(self):
        try:
            for name, _ in self.resources:
                self._find(name[:-3] if name.endswith(".gz") else name)
        except RuntimeError:
            return False
        return True

    def _mirror_list(self):
        m = self.mirror or os.environ.get(MIRROR_ENV)
        return [m] if m else list(self.mirrors)

    def download(self, progress=True):
        """Fetches whichever of the four files are missing (see the class docstring)."""
        os.makedirs(self.raw_folder, exist_ok=True)
        for name, _ in self.resources:
            base = name[:-3] if name.endswith(".gz") else name
            try:
                self._find(base)
                continue
            except RuntimeError:
                pass
            md5 = self.md5.get(name)
            errors = []
            for mirror in self._mirror_list():
                url = mirror if mirror.endswith("/") else mirror + "/"
                url += name
                try:
                    download_url(url, os.path.join(self.raw_folder, name), md5=md5, progress=progress)
                    break
                except RuntimeError as e:
                    if "checksum mismatch" in str(e):
                        raise
                    errors.append(str(e))
            else:
                raise RuntimeError(f"could not download {name}: " + "; ".join(errors))

    # ---- data
    @property
    def data(self):
        if self._data is None:
            from .. import _tensor
            self._data = _tensor.tensor(self._images.astype(np.float32))
        return self._data

    @property
    def targets(self):
        from .. import _tensor
        return _tensor.tensor(self._labels)

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        from .. import _tensor
        img = _tensor.tensor(self._images[index].astype(np.float32) / np.float32(255.0))
        target = int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Split: {'Train' if self.train else 'Test'}")


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando Research): the same file layout and format as MNIST."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]
