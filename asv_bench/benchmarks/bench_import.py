"""Cost of `import ferrograd` in a fresh interpreter: wall time (asv timeraw_, which runs the
code in a new subprocess) and the peak RSS of a `python -c "import ferrograd"` subprocess."""
from . import _workloads as W

MODULE = "ferrograd"


def timeraw_import_ferrograd():
    return f"import {MODULE}"
timeraw_import_ferrograd.repeat = (3, 10, 10.0)  # noqa: E305


def track_import_peak_rss():
    """Peak resident set size (MB) of `python -c "import ferrograd"`."""
    return W.import_peak_rss_mb(MODULE)
track_import_peak_rss.unit = "MB"  # noqa: E305
