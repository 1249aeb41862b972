"""asv benchmarks for ferrograd (see ../README.md)."""
