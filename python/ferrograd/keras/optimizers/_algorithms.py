"""SGD, Adam, AdamW, RMSprop and Adagrad with Keras 3's defaults and update rules."""
import math

from ... import _core, _tensor
from ...optim.optimizer import _Contiguous
from ._optimizer import Optimizer


class SGD(Optimizer):
    """`m = momentum * m - lr * g`; `w += m` (nesterov: `w += momentum * m - lr * g`); without
    momentum `w -= lr * g`. Each step is one call of ferrograd's fused SGD kernel (PyTorch's
    rule: `b = momentum * b + (1 - dampening) * g'`, `w -= lr_k * b`, nesterov
    `w -= lr_k * (g' + momentum * b)`, `g' = -g` under maximize), with options that make it
    Keras's: maximize, dampening `1 - lr` and `lr_k = -1` turn `b` into Keras's `m` and the
    update into `w += m`. Nesterov's `- lr * g` term needs the gradients scaled by lr first
    (then dampening 0)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        if not isinstance(momentum, float) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum != 0 else []

    def _update(self, grads, variables, lr):
        work = _Contiguous(variables)
        if self.momentum == 0:
            states, options = {}, dict(lr=lr, momentum=0.0, dampening=0.0, maximize=False)
        else:
            states = {"momentum_buffer": [self.momentums[self._slot_index(v)] for v in variables]}
            if self.nesterov:
                grads = [g * lr for g in grads]
                options = dict(lr=-1.0, momentum=self.momentum, dampening=0.0, maximize=True)
            else:
                options = dict(lr=-1.0, momentum=self.momentum, dampening=1.0 - lr, maximize=True)
        _core.optim_step("sgd", work.work, grads, states, [False] * len(variables),
                         dict(options, weight_decay=0.0, nesterov=bool(self.nesterov) and self.momentum != 0))
        work.write_back()

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """`m += (g - m)(1 - beta_1)`, `v += (g^2 - v)(1 - beta_2)`,
    `w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)` (AMSGrad: the running
    maximum of v). That is PyTorch's Adam with epsilon / sqrt(1 - beta_2^t), so ferrograd's
    fused Adam kernel runs it."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(variables, ["momentum", "velocity"])
        self._velocity_hats = self.add_optimizer_variables(variables, "velocity_hat") if self.amsgrad else []
        # The kernel's own step counters, set from `iterations` before each step.
        self._kernel_steps = [_tensor.zeros((), device="cpu") for _ in variables]

    def _update(self, grads, variables, lr):
        t = int(self.iterations) + 1
        idx = [self._slot_index(v) for v in variables]
        steps = [self._kernel_steps[i].fill_(t - 1) for i in idx]
        work = _Contiguous(variables)
        eps = self.epsilon / math.sqrt(1.0 - self.beta_2 ** t)
        states = {"exp_avg": [self._momentums[i] for i in idx], "exp_avg_sq": [self._velocities[i] for i in idx],
                  "step": steps}
        if self.amsgrad:
            states["max_exp_avg_sq"] = [self._velocity_hats[i] for i in idx]
        _core.optim_step("adam", work.work, grads, states, [], dict(
            lr=lr, beta1=float(self.beta_1), beta2=float(self.beta_2), eps=eps, weight_decay=0.0,
            amsgrad=bool(self.amsgrad), maximize=False, decoupled_weight_decay=False))
        work.write_back()

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (`w -= w * weight_decay * lr` before each step)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")


class RMSprop(Optimizer):
    """`v = rho v + (1 - rho) g^2`; `w -= lr g / sqrt(v + epsilon)` (centered: `v - a^2 + epsilon`
    with `a` the average gradient; with momentum through a momentum slot). epsilon sits inside
    the square root, unlike PyTorch's RMSprop."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        self._momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum > 0 else []
        self._average_gradients = self.add_optimizer_variables(variables, "average_gradient") if self.centered else []

    def update_step(self, gradient, variable, learning_rate):
        i = self._slot_index(variable)
        velocity = self._velocities[i]
        velocity.mul_(self.rho).add_(gradient * gradient * (1 - self.rho))
        if self.centered:
            average = self._average_gradients[i]
            average.mul_(self.rho).add_(gradient * (1 - self.rho))
            denominator = velocity - average * average + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = gradient * learning_rate / denominator.sqrt()
        if self.momentum > 0:
            momentum = self._momentums[i]
            momentum.mul_(self.momentum).add_(increment)
            variable.sub_(momentum)
        else:
            variable.sub_(increment)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """`acc += g^2`; `w -= lr g / sqrt(acc + epsilon)`, accumulators starting at
    `initial_accumulator_value` (epsilon inside the square root, unlike PyTorch's)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._accumulators = self.add_optimizer_variables(variables, "accumulator",
                                                          initializer=self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        accumulator = self._accumulators[self._slot_index(variable)]
        accumulator.add_(gradient * gradient)
        variable.sub_(gradient * learning_rate / (accumulator + self.epsilon).sqrt())

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
