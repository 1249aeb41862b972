"""`keras.utils`."""
# GradientTape half (branch tape): seeding and label encoding.
from ._numerical import normalize, set_random_seed, to_categorical  # noqa: F401
