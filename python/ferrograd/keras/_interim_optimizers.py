"""Stand-in for `keras.optimizers` until the `tape` branch's module lands: Keras's optimizer
names and defaults over ferrograd's fused optimizers. Removed when that module is merged."""
import ferrograd.optim as optim


class Optimizer:
    _defaults = {}

    def __init__(self, learning_rate=0.001, name=None, **kwargs):
        self._learning_rate = float(learning_rate)
        self.name = name or type(self).__name__.lower()
        self.options = {**self._defaults, **kwargs}
        self._torch = None
        self._vars_key = None

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = float(value)
        if self._torch is not None:
            for group in self._torch.param_groups:
                group["lr"] = self._learning_rate

    def apply(self, grads, trainable_variables):
        key = tuple(id(v) for v in trainable_variables)
        if self._torch is None or key != self._vars_key:
            self._torch = self._make(list(trainable_variables))
            self._vars_key = key
        for var, grad in zip(trainable_variables, grads):
            if var.grad is not grad:
                var.grad = grad
        self._torch.step()

    def apply_gradients(self, grads_and_vars):
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))

    @property
    def variables(self):
        return []

    def get_config(self):
        return {"name": self.name, "learning_rate": self._learning_rate, **self.options}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SGD(Optimizer):
    _defaults = {"momentum": 0.0, "nesterov": False}

    def __init__(self, learning_rate=0.01, **kwargs):
        super().__init__(learning_rate, **kwargs)

    def _make(self, params):
        return optim.SGD(params, lr=self._learning_rate, momentum=self.options["momentum"],
                         nesterov=self.options["nesterov"])


class Adam(Optimizer):
    _defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}

    def _make(self, params):
        o = self.options
        return optim.Adam(params, lr=self._learning_rate, betas=(o["beta_1"], o["beta_2"]), eps=o["epsilon"])


class RMSprop(Optimizer):
    _defaults = {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False}

    def _make(self, params):
        o = self.options
        return optim.RMSprop(params, lr=self._learning_rate, alpha=o["rho"], eps=o["epsilon"],
                             momentum=o["momentum"], centered=o["centered"])


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


def deserialize(config):
    cls = {c.__name__: c for c in _BY_NAME.values()}[config["class_name"]]
    return cls.from_config(config["config"])
