"""Differential edge cases: every expression of tests/differential/cases.py must give PyTorch's
recorded outcome (values, dtype, shape, or exception type) on each device it claims, unless it is
listed in KNOWN_DIFFERENCES below with the reason the difference is kept.

Re-record after changing the table (needs a Python with torch; CI does not):
    PYTHONPATH=python <venv with torch>/bin/python tests/differential/record.py
"""
import json
import os
import warnings

import pytest

import ferrograd
import helpers
from differential import cases, outcome

FIXTURE = os.path.join(os.path.dirname(__file__), "differential", "expected.json")
TOLERANCE = {"cpu": (1e-5, 1e-6), "gpu": (1e-4, 1e-5)}

_BEYOND_INT64 = (
    "A Python int in [2**63, 2**64) as an operand: PyTorch reinterprets it as the int64 with the "
    "same bits (int_tensor + 2**63 adds -2**63: a silent wrong answer) or as a float; ferrograd "
    "refuses it with RuntimeError (overflow), as it refuses any int beyond int64.")
_NO_UINT64 = "numpy uint64 data: ferrograd has no uint64 dtype and raises TypeError (rather than wrap values past 2**63)."
_CHECKPOINT_FORMAT = (
    "Checkpoints are safetensors, not pickles: a damaged file raises the documented RuntimeError naming "
    "the file, where torch.load raises its unpickler's EOFError / UnpicklingError.")
_NO_INT_CONV_POOL = "No integer convolution or pooling kernels (CUDA has none for conv either): NotImplementedError naming op and dtype."
_UNCHECKED_IN_PYTORCH = (
    "Out-of-range take_along_dim indices: PyTorch 2.15 reads memory outside the tensor without a check "
    "(the recorded values are whatever lay there); ferrograd raises RuntimeError.")
_GPU_INT_MATMUL = "Integer matmul has no GPU kernel (as on CUDA): NotImplementedError naming op and device (README, GPU)."
_GPU_TRIG_RANGE = "sin/cos/tan of |x| >= 2**62 on the GPU: the driver's float32 range reduction is not exact that far out."
_GPU_FMOD = ("float32 fmod/remainder on the GPU computes a - b*trunc(a/b), exact only while |a/b| < 2**24 "
             "(here 1e30 mod 1e-30); the CPU's fmod is exact.")
_GPU_DEVICE_SIDE_INDEX = (
    "An out-of-range embedding index on the GPU is caught on the device and raised at the next read as "
    "RuntimeError (as CUDA's device-side assert), not as IndexError at the call.")
_BF16_SUBNORMAL_FLUSH = ("PyTorch's vectorised bfloat16 erf flushes a subnormal result (erf(1e-38) = 1.13e-38) to zero; "
                         "ferrograd keeps the correctly rounded subnormal.")
_F16_RSQRT_APPROX = ("PyTorch's float16 rsqrt(65504) is 0.0039100647, one float16 step from the correctly rounded "
                     "0.00390625 (1/sqrt(65504) = 0.0039072) that ferrograd gives.")
_BF16_LOG_SOFTMAX = ("PyTorch's bfloat16 log_softmax rounds an intermediate to bfloat16 (log_softmax([0.5, -1.5, 2])[0] "
                     "= -1.71875; exact -1.72565, which rounds to ferrograd's -1.7265625), and cross_entropy inherits it.")

# Differences kept on purpose: source -> reason (a (source, device) key limits it to one device).
# The test fails when an entry starts to match PyTorch, so the table cannot go stale.
KNOWN_DIFFERENCES = {
    ("torch.erf(torch.tensor([0.0, -0.0, 0.5, -1.0, 2.5, -3.7, 100.0, 3e+38, 1e-38, inf, -inf, nan], dtype=torch.bfloat16))",
     "cpu"): _BF16_SUBNORMAL_FLUSH,
    "torch.rsqrt(torch.tensor([0.0, -0.0, 0.5, -1.0, 2.5, -3.7, 100.0, 65504.0, 1e-06, 3e-08, inf, -inf, nan], dtype=torch.float16))":
        _F16_RSQRT_APPROX,
    "F.cross_entropy(torch.tensor([[0.5, -1.5, 2.0], [3.0, 0.25, -4.0]], dtype=torch.bfloat16), torch.tensor([0, 2]))":
        _BF16_LOG_SOFTMAX,
    **{(f"torch.tensor({v}, dtype=torch.{dt}).view(2, 3) @ torch.tensor({v}, dtype=torch.{dt}).view(3, 2)", "gpu"): _GPU_INT_MATMUL
       for dt, v in (("int32", "[7, -7, 0, 2147483647, -2147483648, 5]"), ("int16", "[7, -7, 0, 32767, -32768, 5]"),
                     ("int8", "[7, -7, 0, 127, -128, 5]"), ("uint8", "[7, 200, 0, 255, 128, 5]"))},
    ("torch.sin(torch.tensor([0.0, -0.0, 0.5, -1.0, 2.5, -3.7, 100.0, 3e+38, 1e-38, inf, -inf, nan], dtype=torch.bfloat16))", "gpu"):
        _GPU_TRIG_RANGE,
    ("torch.sin(torch.tensor([0, 1, -1, 7, -7, 100, 2147483647, -2147483648], dtype=torch.int32))", "gpu"): _GPU_TRIG_RANGE,
    **dict.fromkeys([
        "torch.add(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.add(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.add(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.sub(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.sub(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.sub(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.sub(torch.tensor([True, True, False, False], dtype=torch.bool), 2**63)",
        "torch.mul(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.mul(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.mul(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.div(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.div(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.div(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.floor_divide(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.floor_divide(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.floor_divide(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.remainder(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.remainder(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.remainder(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.fmod(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.fmod(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.fmod(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.pow(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.pow(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.eq(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.eq(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.eq(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.lt(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.lt(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.lt(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
        "torch.bitwise_and(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float32), 2**63)",
        "torch.bitwise_and(torch.tensor([5.5, -5.5, 0.0, inf], dtype=torch.float64), 2**63)",
        "torch.bitwise_and(torch.tensor([7, -7, 0, 1000000000000000007], dtype=torch.int64), 2**63)",
    ], _BEYOND_INT64),
    "torch.tensor(np.array([2**64 - 1], dtype=np.uint64))": _NO_UINT64,
    "torch.from_numpy(np.array([1, 2], dtype=np.uint64))": _NO_UINT64,
    "open(path, 'wb').write(b''); torch.load(path)": _CHECKPOINT_FORMAT,
    "open(path, 'wb').write(b'garbage!' * 4); torch.load(path)": _CHECKPOINT_FORMAT,
    "torch.utils.data.WeightedRandomSampler([0.1, -0.9], 5)":
        "WeightedRandomSampler checks its weights when built (RuntimeError); PyTorch accepts negative weights until iterated.",
    "F.conv2d(torch.ones(1, 1, 3, 3, dtype=torch.int64), torch.ones(1, 1, 2, 2, dtype=torch.int64))": _NO_INT_CONV_POOL,
    "F.max_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.int64), 2)": _NO_INT_CONV_POOL,
    "F.avg_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.int64), 2)": _NO_INT_CONV_POOL,
    "torch.take_along_dim(torch.arange(6.0).view(2, 3), torch.tensor([[0, 3], [1, 0]]), 1)": _UNCHECKED_IN_PYTORCH,
    "torch.take_along_dim(torch.arange(6.0).view(2, 3), torch.tensor([[0, 2**62], [0, 0]]), 1)": _UNCHECKED_IN_PYTORCH,
    "torch.arange(6.0).view(2, 3)[..., ...]":
        "Two ellipses in one index: ferrograd raises IndexError, as numpy does; PyTorch 2.15 accepts it.",
    ("torch.dot(torch.tensor([1, 2]), torch.tensor([3, 4]))", "gpu"): _GPU_INT_MATMUL,
    ("torch.einsum('i,j->ij', torch.tensor([1, 2]), torch.tensor([3, 4]))", "gpu"): _GPU_INT_MATMUL,
    **{(f"torch.{op}(torch.tensor([0, 1, -1, 7, -7, 100, 4611686018427387904, -9223372036854775808, "
        f"9223372036854775807], dtype=torch.int64))", "gpu"): _GPU_TRIG_RANGE for op in ("sin", "cos", "tan")},
    **{(f"torch.{op}(torch.tensor({a}, dtype=torch.{dt}), torch.tensor([2.0, 2.0, 0.0, 3.0, inf, 1.0, -0.0, -3.0, "
        f"1e-30], dtype=torch.float32))", "gpu"): _GPU_FMOD
       for op in ("fmod", "remainder")
       for a, dt in (("[5.5, -5.5, 0.0, inf, -inf, nan, 7.0, -2.0, 1e+30]", "float32"),
                     ("[7, -7, 0, 1000000000000000007, -9223372036854775808, 9223372036854775807, 5, -1, 3]", "int64"))},
    ("F.embedding(torch.tensor([[0, -1], [1, 0]]), torch.arange(12.0).view(4, 3))", "gpu"): _GPU_DEVICE_SIDE_INDEX,
    ("F.embedding(torch.tensor([[0, 2**62], [0, 0]]), torch.arange(12.0).view(4, 3))", "gpu"): _GPU_DEVICE_SIDE_INDEX,
    ("F.embedding(torch.tensor([3]), torch.ones(3, 2))", "gpu"): _GPU_DEVICE_SIDE_INDEX,
}


def _table():
    with open(FIXTURE) as f:
        expected = json.load(f)
    return cases.all_cases(), expected


CASES, EXPECTED = _table()
FAMILIES = sorted({family for family, _, _ in CASES})


def _known(src, device):
    return KNOWN_DIFFERENCES.get((src, device)) or KNOWN_DIFFERENCES.get(src)


def run_family(family, device):
    """(mismatches, stale known differences, number of cases run) for one family on one device."""
    rtol, atol = TOLERANCE[device]
    mismatches, stale, count = [], [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fam, src, gpu in CASES:
            if fam != family or (device == "gpu" and not gpu):
                continue
            count += 1
            if src not in EXPECTED:
                mismatches.append(f"{src}\n    not recorded: re-run tests/differential/record.py")
                continue
            diff = outcome.mismatch(outcome.run(src, ferrograd, device), EXPECTED[src], rtol, atol)
            known = _known(src, device)
            if diff and not known:
                mismatches.append(f"{src}\n    {diff}")
            elif known and not diff:
                stale.append(src)
    return mismatches, stale, count


@pytest.mark.parametrize("family,device", [(f, d) for f in FAMILIES for d in ("cpu", "gpu")
                                           if d == "cpu" or any(fam == f and gpu for fam, _, gpu in CASES)])
def test_matches_pytorch(family, device):
    if device == "gpu" and not ferrograd.gpu.is_available():
        if helpers.REQUIRE_GPU:
            pytest.fail("FERROGRAD_REQUIRE_GPU=1 but no GPU adapter")
        pytest.skip(f"no GPU adapter: {ferrograd.gpu.unavailable_reason()}")
    mismatches, stale, count = run_family(family, device)
    assert count > 0
    assert not stale, "known differences that now match PyTorch (remove them from KNOWN_DIFFERENCES):\n" + "\n".join(stale)
    assert not mismatches, f"{len(mismatches)} of {count} cases differ from PyTorch:\n" + "\n".join(mismatches)


def test_known_differences_are_cases():
    sources = {src for _, src, _ in CASES}
    assert all((k[0] if isinstance(k, tuple) else k) in sources for k in KNOWN_DIFFERENCES)


if __name__ == "__main__":
    # Triage: `PYTHONPATH=python python tests/test_differential.py [family ...] [--gpu]`.
    import sys
    devices = ["gpu"] if "--gpu" in sys.argv else ["cpu"]
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")] or FAMILIES
    for dev in devices:
        for fam in chosen:
            bad, old, n = run_family(fam, dev)
            print(f"== {fam} on {dev}: {n - len(bad)} of {n} match, {len(old)} stale")
            for m in bad + [f"{src}\n    stale: matches PyTorch now" for src in old]:
                print(m)
