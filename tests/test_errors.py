"""Bad input raises the exception type PyTorch raises, with a message naming what is wrong."""
import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F


@pytest.mark.parametrize("fn,exc,match", [
    (lambda: torch.ones(3) + torch.ones(4), RuntimeError, r"size of tensor a \(3\) must match the size of tensor b \(4\)"),
    (lambda: torch.ones(2, 3) @ torch.ones(2, 3), RuntimeError, r"cannot be multiplied \(2x3 and 2x3\)"),
    (lambda: torch.ones(2, 3).view(4), RuntimeError, r"invalid for input of size 6"),
    (lambda: torch.ones(2, 3).sum(2), IndexError, r"Dimension out of range"),
    (lambda: torch.ones(2, 3).permute(0, 0), RuntimeError, r"permute"),
    (lambda: torch.ones(2, 3).transpose(0, 5), IndexError, r"Dimension out of range"),
    (lambda: torch.ones(3)[5], IndexError, r"index 5 is out of bounds for dimension 0 with size 3"),
    (lambda: torch.ones(3).expand(2, 4), RuntimeError, r"expanded size"),
    (lambda: torch.cat([torch.ones(2, 2), torch.ones(2)]), RuntimeError, r"same number of dimensions"),
    (lambda: torch.tensor([1, 2]).mean(), RuntimeError, r"mean\(\): could not infer output dtype"),
    (lambda: torch.tensor([True]) - torch.tensor([True]), RuntimeError, r"Subtraction, the `-` operator, with a bool tensor"),
    (lambda: -torch.tensor([True]), RuntimeError, r"Negation, the `-` operator, on a bool tensor"),
    (lambda: torch.tensor([1, 2]) // 0, RuntimeError, r"ZeroDivisionError"),
    (lambda: torch.ones(2).gather(0, torch.tensor([0.0])), RuntimeError, r"int64"),
    (lambda: torch.ones(2, 2).index_select(0, torch.tensor([[0]])), IndexError, r"vector"),
    (lambda: torch.ones(2) + "a", TypeError, r"unsupported operand"),
    (lambda: torch.zeros(2).narrow(0, 1, 5), RuntimeError, r"exceeds dimension size"),
    (lambda: torch.ones(2, 2).split([1, 2]), RuntimeError, r"split_with_sizes"),
    (lambda: torch.ones(2).view(-1, -1), RuntimeError, r"only one dimension can be inferred"),
    (lambda: F.nll_loss(torch.ones(2, 3), torch.tensor([0.0, 1.0])), RuntimeError, r"Long"),
    (lambda: F.conv2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 3, 3)), RuntimeError, r"too small"),
    (lambda: torch.arange(0, 10, 0), RuntimeError, r"step must be nonzero"),
    (lambda: torch.ones(2).to("tpu"), RuntimeError, r"device"),
    (lambda: torch.ones(2, 3).squeeze(3), IndexError, r"Dimension out of range"),
    (lambda: torch.ones(2)[::-1], ValueError, r"step must be greater than zero"),
    (lambda: torch.ones(2, 3)[torch.ones(3, dtype=torch.bool)], IndexError, r"shape of the mask"),
    (lambda: torch.einsum("ij,jk->ik", torch.ones(2, 3)), RuntimeError, r"operands"),
])
def test_error_types_and_messages(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_no_panic_escapes():
    # PanicException derives from BaseException; every failure must be an Exception.
    bad_calls = [
        lambda: torch.ones(2, 3).reshape(7),
        lambda: torch.ones(0).max(),
        lambda: torch.ones(2, 0).argmax(1),
        lambda: torch.ones(3).unfold(0, 5, 1),
        lambda: torch.ones(2, 2).scatter(0, torch.tensor([[5, 0]]), 1.0),
        lambda: torch.from_numpy(np.ones(3)[::2].view(np.int8)),
        lambda: torch.ones(2).index_put((torch.tensor([4]),), torch.tensor(1.0)),
        lambda: F.max_pool2d(torch.ones(1, 1, 2, 2), 3),
        lambda: F.fold(torch.ones(1, 5, 4), (3, 3), 2),
        lambda: torch.ones(2, 2).flatten(1, 0),
        lambda: torch.linspace(0, 1, -1),
        lambda: torch.ones(3).unflatten(0, (2, 2)),
    ]
    for call in bad_calls:
        try:
            call()
        except Exception:
            pass
        except BaseException as e:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"{type(e).__name__} escaped: {e}")
        else:
            pytest.fail("expected an exception")


def test_empty_max_and_argmax_errors():
    with pytest.raises(RuntimeError, match="numel\\(\\) == 0"):
        torch.ones(0).max()
    with pytest.raises(IndexError):
        torch.ones(2, 0).argmax(1)
