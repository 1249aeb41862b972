"""`ferrograd.datasets`: ready-made data sets.

* `Digits` / `load_digits()`: the shipped offline 8x8 handwritten digits (1797 samples) —
  UCI "Optical Recognition of Handwritten Digits", E. Alpaydin & C. Kaynak (1998),
  UCI Machine Learning Repository, CC BY 4.0 (see `datasets/data/README.md`).
* `MNIST`, `FashionMNIST`: readers for the standard IDX files, with an optional
  checksum-verified downloader (mirror configurable via `mirror=` or `FERROGRAD_MNIST_MIRROR`).
* `read_idx` / `write_idx`: the IDX file format itself.
"""
from ._digits import Digits, load_digits
from ._mnist import MIRROR_ENV, FashionMNIST, IDXError, MNIST, download_url, read_idx, write_idx

__all__ = ["Digits", "FashionMNIST", "IDXError", "MIRROR_ENV", "MNIST", "download_url", "load_digits",
           "read_idx", "write_idx"]
