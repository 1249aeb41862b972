"""`python -m ferrograd.examples`: lists the demos."""
from . import __doc__ as _doc

print(_doc.strip())
