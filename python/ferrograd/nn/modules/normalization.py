"""BatchNorm1d/2d/3d, SyncBatchNorm, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm, CrossMapLRN2d."""
import numbers

import numpy as np

from ... import _tensor as T
from ..._dtype import int64
from ...autograd import no_grad
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm", "RMSNorm",
           "LocalResponseNorm", "CrossMapLRN2d"]


class _NormBase(Module):
    _version = 2
    __constants__ = ["track_running_stats", "momentum", "eps", "num_features", "affine"]

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None, bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if self.affine:
            self.weight = Parameter(T.empty(num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(T.empty(num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", T.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", T.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", T.tensor(0, dtype=int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def extra_repr(self):
        return ("{num_features}, eps={eps}, momentum={momentum}, affine={affine}, "
                "track_running_stats={track_running_stats}".format(**self.__dict__))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats:
            # Checkpoints from before num_batches_tracked existed.
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = (self.num_batches_tracked if self.num_batches_tracked is not None
                                   else T.tensor(0, dtype=int64))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


class _BatchNorm(_NormBase):
    def forward(self, input):
        self._check_input_dim(input)
        exponential_average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                exponential_average_factor = 1.0 / float(self.num_batches_tracked.item())
            else:
                exponential_average_factor = self.momentum
        if self.training:
            bn_training = True
        else:
            bn_training = (self.running_mean is None) and (self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_running else None,
                            self.running_var if use_running else None, self.weight, self.bias, bn_training,
                            exponential_average_factor, self.eps)


class BatchNorm1d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm3d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")


def _gather_with_summed_grad(local, group, world_size, needs_grad):
    """Every rank's `local` stacked as (world_size, *shape), as torch.distributed.nn's
    all_gather: in backward, the gradients every rank computes for the stack are summed over the
    group, and this rank's row of the sum flows into `local`. `needs_grad`: whether this rank
    takes part in that backward all-reduce (its input requires grad), even when `local` holds
    no graph (an empty batch)."""
    from ... import distributed as dist
    rows = [T.zeros_like(local) for _ in range(world_size)]
    dist.all_gather(rows, local.detach().contiguous(), group=group)
    if not needs_grad:
        return T.stack(rows)
    rank = dist.get_rank(group)
    if local.requires_grad:
        stacked = T.stack(rows[:rank] + [local] + rows[rank + 1:])
    else:
        stacked = T.stack(rows).requires_grad_()

    def sum_over_group(grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=group)
        return grad

    stacked.register_hook(sum_over_group)
    return stacked


def _sync_batch_norm(input, weight, bias, running_mean, running_var, eps, momentum, group, world_size):
    """Batch norm over the batches of every rank of `group`, as torch's SyncBatchNorm: each
    rank's per-channel count, mean and variance are gathered and combined (Chan's parallel
    variance); in backward their gradients are summed over the group."""
    channels = input.shape[1]
    dims = [0] + list(range(2, input.dim()))
    count = input.numel() // channels
    if count > 0:
        local = T.cat([input.mean(dims), input.var(dims, unbiased=False),
                       T.full((1,), float(count), dtype=input.dtype, device=input.device)])
    else:  # an empty batch still takes part in the collectives, with a count of zero
        local = T.zeros(2 * channels + 1, dtype=input.dtype, device=input.device)
    everyone = _gather_with_summed_grad(local, group, world_size, input.requires_grad)
    counts = everyone[:, 2 * channels:].detach()
    total = float(counts.sum())
    means, variances = everyone[:, :channels], everyone[:, channels:2 * channels]
    mean = (counts * means).sum(0) / total
    var = (counts * (variances + (means - mean) ** 2)).sum(0) / total
    if running_mean is not None:
        with no_grad():
            running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
            running_var.mul_(1 - momentum).add_(var.detach() * (momentum * total / (total - 1)))
    # Normalising with given statistics is batch_norm's evaluation path (differentiable in them).
    return F.batch_norm(input, mean, var, weight, bias, False, 0.0, eps)


class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose batch statistics span the processes of a process group, as torch's: in
    training with an initialised `ferrograd.distributed` group of several processes, each
    process's per-channel count, mean and variance are all-gathered and combined, and in
    backward their gradients are summed over the group, so every process normalises with (and
    differentiates through) the statistics of the whole batch. Otherwise it is BatchNorm."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _check_non_zero_input_channels(self, input):
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input):
        from ... import distributed as dist
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        world_size = 1
        if self.training and dist.is_available() and dist.is_initialized():
            group = self.process_group or dist.GroupMember.WORLD
            world_size = dist.get_world_size(group)
        if world_size <= 1:
            return super().forward(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.item())
        running_mean, running_var = ((self.running_mean, self.running_var) if self.track_running_stats
                                     else (None, None))
        return _sync_batch_norm(input, self.weight, self.bias, running_mean, running_var, self.eps, momentum,
                                group, world_size)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """A copy of `module` with every BatchNorm*D layer replaced by a SyncBatchNorm holding its state."""
        module_output = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            module_output = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                          module.track_running_stats, process_group,
                                          bias=module.bias is not None or not module.affine)
            if module.affine:
                with no_grad():
                    module_output.weight = module.weight
                    module_output.bias = module.bias
            module_output.running_mean = module.running_mean
            module_output.running_var = module.running_var
            module_output.num_batches_tracked = module.num_batches_tracked
            module_output.training = module.training
        for name, child in module.named_children():
            module_output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return module_output


class LayerNorm(Module):
    __constants__ = ["normalized_shape", "eps", "elementwise_affine"]

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(T.empty(self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(T.empty(self.normalized_shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}".format(**self.__dict__)


class GroupNorm(Module):
    __constants__ = ["num_groups", "num_channels", "eps", "affine"]

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, bias=True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if self.affine:
            self.weight = Parameter(T.empty(num_channels, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(T.empty(num_channels, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        if input.dim() < 2:
            raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
        if input.shape[1] != self.num_channels:
            raise RuntimeError(f"Expected weight to be a vector of size equal to the number of channels in input, "
                               f"but got weight of shape [{self.num_channels}] and input of shape {list(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return "{num_groups}, {num_channels}, eps={eps}, affine={affine}".format(**self.__dict__)


class RMSNorm(Module):
    __constants__ = ["normalized_shape", "eps", "elementwise_affine"]

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(T.empty(self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}".format(**self.__dict__)


class LocalResponseNorm(Module):
    __constants__ = ["size", "alpha", "beta", "k"]

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)


def _cross_map_windows(channels, size):
    """The legacy CrossMapLRN2d's channel windows. Forward: which channels' squares enter each
    channel's scale, from PyTorch's running-sum loop (channel 0 is added first and never removed).
    Backward: PyTorch's hand-written gradient, which sums over its own window [c - r, c + size - 1 - r]."""
    pre_pad = int((size - 1) / 2 + 1)
    forward = np.zeros((channels, channels))
    forward[0, :min(pre_pad, channels)] = 1
    for c in range(1, channels):
        forward[c] = forward[c - 1]
        if c < channels - pre_pad + 1:
            forward[c, c + pre_pad - 1] += 1
        if c > pre_pad:
            forward[c, c - pre_pad] -= 1
    r = int(size - (size - 1) / 2)
    offsets = np.arange(channels)[None, :] - np.arange(channels)[:, None]
    backward = ((offsets >= -r) & (offsets <= size - 1 - r)).astype(np.float64)
    return forward, backward


class CrossMapLRN2d(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        if input.dim() != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.dim()}D instead.")
        forward, backward = (T.tensor(w, dtype=input.dtype, device=input.device)
                             for w in _cross_map_windows(input.shape[1], self.size))
        x = input.detach()
        scale = T.einsum("dc,nchw->ndhw", forward, x * x) * (self.alpha / self.size) + self.k
        output = x * scale.pow(-self.beta)
        # PyTorch's gradient for this legacy layer is its own formula, not the derivative of the
        # forward: g * scale^-beta - 2 alpha beta / size * x * sum over its window of g * out / scale.
        # A surrogate whose gradient is that formula carries it, with the forward's value.
        ratio = output / scale
        surrogate = input * scale.pow(-self.beta) - (2 * self.alpha * self.beta / self.size) * ratio * \
            T.einsum("cr,nchw->nrhw", backward, x * input)
        return output + (surrogate - surrogate.detach())

    def extra_repr(self):
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)
