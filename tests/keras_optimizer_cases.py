"""Inputs for tests/test_keras_optimizers.py, shared with the Keras reference run: optimizer
configs, initial weights and gradient sequences, and learning-rate schedules."""
import numpy as np

RNG = np.random.default_rng(0)
INITIAL = [RNG.uniform(-1, 1, (3, 4)).astype(np.float32), RNG.uniform(-1, 1, (4,)).astype(np.float32)]
STEPS = 5
GRADS = [[RNG.uniform(-2, 2, w.shape).astype(np.float32) for w in INITIAL] for _ in range(STEPS)]
GRADS[2][1] = None  # a variable without a gradient in one step: skipped, with a warning

EXP = ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5})
COS = ("CosineDecay", {"initial_learning_rate": 0.05, "decay_steps": 4, "alpha": 0.1})

OPTIMIZERS = [
    ("SGD", {}), ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": EXP, "momentum": 0.5}), ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5}),
    ("SGD", {"learning_rate": 0.1, "loss_scale_factor": 4.0, "weight_decay": 0.05}),
    ("Adam", {}), ("Adam", {"learning_rate": 0.01, "amsgrad": True}), ("Adam", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("Adam", {"learning_rate": 0.02, "clipvalue": 0.3, "beta_1": 0.5, "epsilon": 1e-3}),
    ("AdamW", {}), ("AdamW", {"learning_rate": COS, "weight_decay": 0.2}),
    ("RMSprop", {}), ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.5, "global_clipnorm": 1.0}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "use_ema": True, "ema_momentum": 0.5,
             "ema_overwrite_frequency": 3}),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2}),
    ("RMSprop", {"learning_rate": 0.01, "gradient_accumulation_steps": 3, "use_ema": True}),
    ("Adagrad", {}), ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-3}),
]

SCHEDULES = [
    EXP, ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.9, "staircase": True}),
    ("PiecewiseConstantDecay", {"boundaries": [2, 5], "values": [1.0, 0.5, 0.1]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 6}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 4, "end_learning_rate": 0.01, "power": 2.0,
                         "cycle": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5, "staircase": True}),
    COS, ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 5, "warmup_target": 0.1, "warmup_steps": 3}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 3, "t_mul": 2.0, "m_mul": 0.5}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 2, "t_mul": 1.0}),
]
SCHEDULE_STEPS = list(range(0, 14))


def build(module, spec):
    """`module.<name>(**kwargs)`, with schedule specs inside kwargs built the same way."""
    name, kwargs = spec
    kwargs = {k: build(module.schedules, v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    return getattr(module, name)(**kwargs)


def run_optimizer(keras_module, variable_cls, spec):
    """Weights after each step, and the optimizer's variables at the end, as numpy arrays."""
    variables = [variable_cls(w.copy()) for w in INITIAL]
    opt = build(keras_module.optimizers, spec)
    history = []
    for grads in GRADS:
        pairs = [(g, v) for g, v in zip(grads, variables)]
        opt.apply([g for g, _ in pairs], [v for _, v in pairs])
        history.append([np.array(v.numpy()) for v in variables])
    return {"history": history, "variables": [np.array(v.numpy()) for v in opt.variables],
            "iterations": int(np.asarray(keras_module.ops.convert_to_numpy(opt.iterations)))}


def keras_results(keras):
    return {"optimizers": [run_optimizer(keras, keras.Variable, spec) for spec in OPTIMIZERS],
            "schedules": [[float(np.asarray(build(keras.optimizers.schedules, spec)(step)))
                           for step in SCHEDULE_STEPS] for spec in SCHEDULES],
            "configs": [build(keras.optimizers, spec).get_config() for spec in OPTIMIZERS]}
