"""`ferrograd.utils.tensorboard`: TensorBoard logs with `torch.utils.tensorboard`'s API.

    from ferrograd.utils.tensorboard import SummaryWriter
    with SummaryWriter("runs/exp1") as w:
        w.add_scalar("loss", loss.item(), step)

Events are `tensorboard`'s own protobufs in TFRecord event files, read by `tensorboard
--logdir runs`. Needs the `viz` extra (`pip install 'ferrograd[viz]'`: tensorboard, matplotlib).
"""
from .._optional import INSTALL_HINT

try:
    import tensorboard  # noqa: F401
except ImportError as e:
    raise ImportError(f"ferrograd.utils.tensorboard needs the 'tensorboard' package; {INSTALL_HINT}") from e

from .writer import FileWriter, SummaryWriter  # noqa: E402

__all__ = ["FileWriter", "SummaryWriter"]
