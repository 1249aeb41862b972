"""Keras 3's optimizer base: variables, learning rate (float or schedule), clipping, decoupled
weight decay, moving averages (`use_ema`), gradient accumulation, `apply`/`apply_gradients`/
`minimize`, configs.

Updates run under no_grad on the variables in place (version-counted, never recorded). Where
Keras's rule equals one of ferrograd's fused kernels (plain SGD; Adam/AdamW, whose Keras form is
PyTorch's with epsilon scaled by sqrt(1 - beta_2**t)), that kernel does the step; the other
rules are a few in-place tensor ops per variable.
"""
import collections
import itertools
import re
import warnings

from ... import _tensor
from ..._core import Tensor
from ..._variable import KerasVariable
from ...autograd import no_grad
from . import schedules

_name_counts = collections.defaultdict(itertools.count)


def _snake(name):
    """Keras's to_snake_case: 'AdamW' -> 'adam_w', 'SGD' -> 'sgd'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _auto_name(cls_name):
    """'adam', then 'adam_1', 'adam_2', ... (Keras's auto_name)."""
    prefix = _snake(cls_name)
    n = next(_name_counts[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def _path_of(variable, index):
    """A variable's Keras path ('dense/kernel'); an nn.Parameter has none: 'param_<index>'."""
    return getattr(variable, "path", None) or f"param_{index}"


class Optimizer:
    """Base class of the Keras optimizers (Keras 3's arguments and defaults)."""

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. Received: "
                             f"gradient_accumulation_steps={gradient_accumulation_steps}")
        if use_ema and not 0 <= ema_momentum <= 1:
            raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}")
        if use_ema and ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                                    or ema_overwrite_frequency < 1):
            raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                             f"ema_overwrite_frequency={ema_overwrite_frequency}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.name = _auto_name(type(self).__name__) if name is None else name
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.built = False
        self._variables = []
        self._trainable_variables = []
        self._index = {}
        self._exclude_ids = set()
        self._exclude_pattern = None
        self._iterations = self._track(KerasVariable(0, dtype="int64", trainable=False, name="iteration"))
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        elif isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
            self._learning_rate = self._track(KerasVariable(float(learning_rate), name="learning_rate",
                                                            trainable=False))
        else:
            raise ValueError("Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or "
                             "a callable (that takes in the current iteration value and returns the corresponding "
                             f"learning rate value). Received instead: learning_rate={learning_rate}")

    def _track(self, variable):
        variable._path = f"{self.name}/{variable.name}"
        self._variables.append(variable)
        return variable

    # ------------------------------------------------------------------ state
    @property
    def iterations(self):
        """Steps taken: calls to `apply`, or updates made when gradients are accumulated."""
        if self.gradient_accumulation_steps:
            return _tensor.floor_divide(self._iterations, self.gradient_accumulation_steps)
        return self._iterations

    @property
    def variables(self):
        return self._variables[:]

    @property
    def learning_rate(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return lr(self._iterations)
        if isinstance(lr, KerasVariable):
            return lr
        return lr()

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            if isinstance(self._learning_rate, KerasVariable):
                self._variables.remove(self._learning_rate)
            self._learning_rate = learning_rate
        elif isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its "
                            "`learning_rate` constructor argument, hence its learning rate is not settable. If you "
                            "need the learning rate to be settable, you should instantiate the optimizer with a "
                            "float `learning_rate` argument.")
        elif isinstance(self._learning_rate, KerasVariable):
            self._learning_rate.assign(float(learning_rate))
        else:
            self._learning_rate = self._track(KerasVariable(float(learning_rate), name="learning_rate",
                                                            trainable=False))

    def _current_lr(self):
        return float(self.learning_rate)

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """A slot variable shaped like `reference_variable` (named '<its path>_<name>')."""
        index = self._index[id(reference_variable)]
        value = _tensor.zeros_like(reference_variable.detach())
        if initializer != "zeros":
            value = _tensor.full_like(value, float(initializer))
        var = KerasVariable(value, dtype=value.dtype, trainable=False,
                            name=_path_of(reference_variable, index).replace("/", "_") + "_" + name)
        return self._track(var)

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """Slot variables for each of `name` (a string or a list), interleaved per variable as Keras
        creates them; returns one list per name (a single list for a single name)."""
        names = [name] if isinstance(name, str) else list(name)
        slots = tuple([] for _ in names)
        for variable in trainable_variables:
            for i, slot_name in enumerate(names):
                slots[i].append(self.add_variable_from_reference(variable, slot_name, initializer))
        return slots[0] if isinstance(name, str) else slots

    def build(self, variables):
        """Creates the optimizer's variables for `variables` (done by the first `apply`)."""
        if self.built:
            return
        for i, variable in enumerate(variables):
            if not isinstance(variable, Tensor):
                raise TypeError(f"{type(self).__name__}.build: expected Variables or Parameters, got "
                                f"{type(variable).__name__} at index {i}")
            self._index[id(variable)] = i
        # Created in Keras's order: moving averages, then one accumulator per variable.
        if self.use_ema:
            self._averages = self.add_optimizer_variables(variables, "average")
        if self.gradient_accumulation_steps:
            self._accumulated = self.add_optimizer_variables(variables, "gradient_accumulator")
        self._trainable_variables = list(variables)
        self.built = True

    def _slot_index(self, variable):
        try:
            return self._index[id(variable)]
        except KeyError:
            raise ValueError(f"Unknown variable: {getattr(variable, 'path', tuple(variable.shape))}. This optimizer "
                             "can only be called for the variables it was originally built with. When working with "
                             "a new set of variables, you should recreate a new optimizer instance.") from None

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the optimizer is built.")
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, variable):
        if id(variable) in self._exclude_ids:
            return False
        name = getattr(variable, "name", "")
        return not (self._exclude_pattern is not None and self._exclude_pattern.search(name))

    # ------------------------------------------------------------------ applying gradients
    def apply_gradients(self, grads_and_vars):
        grads, variables = zip(*grads_and_vars) if grads_and_vars else ((), ())
        self.apply(list(grads), list(variables))
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        """Updates `trainable_variables` (or the variables it was built with) from `grads`."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be built on "
                                 "a list of variables. Call `optimizer.build(trainable_variables)` first. ")
            if len(grads) != len(self._trainable_variables):
                raise ValueError(f"When passing `grads` as a list of gradient tensors, the gradients must match "
                                 f"`optimizer.variables` one-to-one. Received a list of {len(grads)} gradients, but "
                                 f"the optimizer is tracking {len(self._trainable_variables)} trainable variables.")
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if len(grads) != len(trainable_variables):
                raise ValueError(f"{type(self).__name__}.apply: {len(grads)} gradients for "
                                 f"{len(trainable_variables)} variables")
            if not self.built:
                self.build(trainable_variables)
            for v in trainable_variables:
                self._slot_index(v)
        grads, trainable_variables = self._filter_empty_gradients(grads, trainable_variables)
        with no_grad():
            grads = [self._as_gradient(g, v) for g, v in zip(grads, trainable_variables)]
            if self.loss_scale_factor is not None:
                grads = [g / self.loss_scale_factor for g in grads]
            steps = self.gradient_accumulation_steps
            accumulated = [self._accumulated[self._slot_index(v)] for v in trainable_variables] if steps else []
            if steps and (int(self._iterations) + 1) % steps != 0:
                for acc, g in zip(accumulated, grads):
                    acc.add_(g)
            else:
                if steps:
                    grads = [(g + acc) / steps for g, acc in zip(grads, accumulated)]
                grads = self._clip_gradients(grads)
                lr = self._current_lr()
                self._apply_weight_decay(trainable_variables, lr)
                self._update(grads, trainable_variables, lr)
                for acc in self._accumulated if steps else []:  # all of them, as Keras resets
                    acc.zero_()
            if self.use_ema:
                self._update_moving_averages()
            self._iterations.add_(1)
            for variable in trainable_variables:  # Keras projects constrained weights after every step
                constraint = getattr(variable, "constraint", None)
                if constraint is not None:
                    variable.copy_(constraint(variable))

    def _update_moving_averages(self):
        """Keras's EMA of the weights (momentum 0 while `iterations` is 0), written over the
        weights every `ema_overwrite_frequency` steps."""
        step = int(self.iterations)
        momentum = self.ema_momentum if step != 0 else 0.0
        for variable, average in zip(self._trainable_variables, self._averages):
            average.copy_(average * momentum + variable * (1 - momentum))
        if self.ema_overwrite_frequency and (step + 1) % self.ema_overwrite_frequency == 0:
            self.finalize_variable_values(self._trainable_variables)

    def finalize_variable_values(self, var_list):
        """With `use_ema`, sets each variable of `var_list` to its moving average."""
        if self.use_ema:
            for variable in var_list:
                variable.assign(self._averages[self._slot_index(variable)])

    def _as_gradient(self, g, variable):
        if not isinstance(g, Tensor):
            g = _tensor.tensor(g, dtype=variable.dtype, device=variable.device)
        if tuple(g.shape) != tuple(variable.shape):
            raise ValueError(f"{type(self).__name__}: gradient of shape {tuple(g.shape)} for variable "
                             f"{_path_of(variable, self._index[id(variable)])} of shape {tuple(variable.shape)}")
        if g.device != variable.device:
            raise ValueError(f"{type(self).__name__}: gradient on {g.device} for variable "
                             f"{_path_of(variable, self._index[id(variable)])} on {variable.device}")
        return g.detach().to(variable.dtype).contiguous()

    def _filter_empty_gradients(self, grads, variables):
        kept = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not kept:
            raise ValueError("No gradients provided for any variable.")
        missing = [_path_of(v, self._index[id(v)]) for g, v in zip(grads, variables) if g is None]
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss. If using "
                          "`model.compile()`, did you forget to provide a `loss` argument?")
        return [g for g, _ in kept], [v for _, v in kept]

    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            return [self._clip_by_norm(g) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return [g.clamp(-self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _clip_by_norm(self, g):
        norm = (g * g).sum().sqrt()
        return g * self.clipnorm / _tensor.clamp(norm, min=self.clipnorm)

    def _apply_weight_decay(self, variables, lr):
        if self.weight_decay is None:
            return
        for v in variables:
            if self._use_weight_decay(v):
                v.sub_(v * (self.weight_decay * lr))

    def _update(self, grads, variables, lr):
        for g, v in zip(grads, variables):
            self.update_step(g, v, lr)

    def update_step(self, gradient, variable, learning_rate):
        raise NotImplementedError(f"{type(self).__name__} must define update_step(gradient, variable, learning_rate)")

    def minimize(self, loss, var_list, tape=None):
        """tf.keras's `minimize`: the gradients of `loss` (a callable, or a tensor recorded on
        `tape`) with respect to `var_list` (a list or a callable returning one), applied."""
        from ..._tape import GradientTape
        if not callable(loss) and tape is None:
            raise ValueError("`tape` is required when a `Tensor` loss is passed. Received: loss={loss}, tape=None.")
        if tape is None:
            tape = GradientTape()
        if callable(loss):
            with tape:
                if not callable(var_list):
                    tape.watch(var_list)
                loss = loss()
        if callable(var_list):
            var_list = var_list()
        grads = tape.gradient(loss, var_list)
        return self.apply_gradients(zip(grads, var_list))

    # ------------------------------------------------------------------ config
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif isinstance(lr, KerasVariable):
            lr = float(lr.numpy())
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def set_weights(self, weights):
        if not self.built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet been built. Please "
                             "call `optimizer.build(trainable_variables)` to create the optimizer weights before "
                             "calling `set_weights()`.")
        for variable, weight in zip(self._variables, weights):
            variable.assign(weight)

    def save_own_variables(self, store):
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        if len(store.keys()) != len(self._variables):
            warnings.warn(f"Skipping variable loading for optimizer '{self.name}', because it has "
                          f"{len(self._variables)} variables whereas the saved optimizer has {len(store.keys())} "
                          "variables. ", stacklevel=2)
            return
        for i, variable in enumerate(self._variables):
            variable.assign(store[str(i)])


def global_norm(value_list):
    return _tensor.stack([(v * v).sum() for v in value_list if v is not None]).sum().sqrt()


def clip_by_global_norm(value_list, clip_norm):
    use_norm = global_norm(value_list)
    scale = clip_norm * _tensor.minimum(1.0 / use_norm, _tensor.full_like(use_norm, 1.0 / clip_norm))
    scale = scale + (use_norm - use_norm)  # NaN for a non-finite norm, as Keras
    return [v * scale if v is not None else v for v in value_list]
