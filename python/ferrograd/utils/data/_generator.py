"""`Generator`: a seedable random-number generator for samplers, `random_split` and DataLoader.

PyTorch's `torch.Generator` holds a Mersenne-Twister state; ferrograd's holds a numpy PCG64
bit generator. Seeding is deterministic (the same seed gives the same shuffles run after run),
but the streams differ from PyTorch's, so a seed does not reproduce PyTorch's exact order.
"""
import json

import numpy as np

from ... import _core

_DEFAULT_SEED = 67280421310721  # PyTorch's default initial seed


class Generator:
    """`ferrograd.Generator(device='cpu')`: `g.manual_seed(s)` returns `g`, as in PyTorch."""

    def __init__(self, device="cpu"):
        if str(device) not in ("cpu",):
            raise RuntimeError(f"ferrograd.Generator supports only device='cpu', got {device!r}")
        self._initial_seed = _DEFAULT_SEED
        self._rng = np.random.Generator(np.random.PCG64(_DEFAULT_SEED))

    @property
    def device(self):
        from ..._device import CPU
        return CPU

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:  # PyTorch accepts negative seeds by reinterpreting them as unsigned 64-bit
            seed &= 0xFFFF_FFFF_FFFF_FFFF
        self._initial_seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self):
        """Re-seeds from a non-deterministic source and returns the new seed."""
        s = int(np.random.SeedSequence().entropy) & 0xFFFF_FFFF_FFFF_FFFF
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._initial_seed

    def get_state(self):
        """The state as an int64 tensor (opaque; pass it back to `set_state`)."""
        from ..._tensor import tensor
        blob = json.dumps({"seed": self._initial_seed, "state": self._rng.bit_generator.state}).encode()
        return tensor(np.frombuffer(blob, dtype=np.uint8).astype(np.int64))

    def set_state(self, new_state):
        try:
            blob = bytes(np.asarray(new_state.tolist() if hasattr(new_state, "tolist") else new_state,
                                    dtype=np.uint8).tobytes())
            d = json.loads(blob.decode())
            bg = np.random.PCG64()
            bg.state = d["state"]
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"Generator.set_state: not a state from Generator.get_state ({e})") from None
        self._initial_seed = d["seed"]
        self._rng = np.random.Generator(bg)
        return self

    def __repr__(self):
        return "<ferrograd.Generator object>"

    # ---- used by samplers / random_split
    def _randperm(self, n):
        return self._rng.permutation(int(n)).astype(np.int64)

    def _randint(self, high, size):
        return self._rng.integers(0, int(high), size=size, dtype=np.int64)

    def _random(self, size):
        return self._rng.random(size)


def _global_seed():
    """A 63-bit seed drawn from ferrograd's global RNG (so `ferrograd.manual_seed` governs it)."""
    return int(_core.randint(0, 2 ** 62, [], "int64").item())


def _resolve(generator):
    """The generator to draw from: `generator`, or a fresh one seeded from the global RNG."""
    if generator is None:
        return Generator().manual_seed(_global_seed())
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a ferrograd.Generator, got {type(generator).__name__}")
    return generator
