"""keras.optimizers and schedules against Keras 3 (numpy backend, one reference run in its own
interpreter): the same weights after each of several steps from the same start, within 1e-6;
the same optimizer variables and configs; apply/apply_gradients/minimize/get; each device."""
import warnings

import numpy as np
import pytest

import ferrograd as tf
from ferrograd import keras
from helpers import on_gpu
from keras_optimizer_cases import OPTIMIZERS, SCHEDULE_STEPS, SCHEDULES, build, run_optimizer
from keras_reference import reference


def pytest_generate_tests(metafunc):
    metafunc.parametrize("on_device", ["cpu", "gpu"], indirect=True)


def _reference():
    return reference("keras_optimizer_cases", "keras_results")


def _spec_id(spec):
    name, kw = spec
    return name + "".join(f"-{k}={v[0] if isinstance(v, tuple) else v}" for k, v in kw.items())


@pytest.mark.parametrize("index", range(len(OPTIMIZERS)), ids=[_spec_id(s) for s in OPTIMIZERS])
def test_updates_match_keras(index, on_device):
    ref = _reference()["optimizers"][index]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = run_optimizer(keras, keras.Variable, OPTIMIZERS[index])
    assert any("Gradients do not exist for variables" in str(w.message) for w in caught)
    tol = 1e-5 if on_gpu() else 1e-6
    for step, (got, expected) in enumerate(zip(ours["history"], ref["history"])):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=tol, atol=tol, err_msg=f"step {step}")
    assert ours["iterations"] == ref["iterations"]
    assert len(ours["variables"]) == len(ref["variables"])
    for g, e in zip(ours["variables"], ref["variables"]):
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("index", range(len(SCHEDULES)), ids=[s[0] for s in SCHEDULES])
def test_schedules_match_keras(index):
    schedule = build(keras.optimizers.schedules, SCHEDULES[index])
    got = [float(schedule(step)) for step in SCHEDULE_STEPS]
    np.testing.assert_allclose(got, _reference()["schedules"][index], rtol=1e-6, atol=1e-9)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()


@pytest.mark.parametrize("index", range(len(OPTIMIZERS)), ids=[_spec_id(s) for s in OPTIMIZERS])
def test_config_matches_keras_and_round_trips(index):
    opt = build(keras.optimizers, OPTIMIZERS[index])
    ours, expected = opt.get_config(), dict(_reference()["configs"][index])
    ours.pop("name"), expected.pop("name")
    assert ours == expected
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == opt.get_config()


def test_keras_defaults():
    assert keras.optimizers.SGD().get_config()["learning_rate"] == pytest.approx(0.01)
    adam = keras.optimizers.Adam()
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == (0.9, 0.999, 1e-7)
    assert keras.optimizers.AdamW().weight_decay == 0.004
    rms = keras.optimizers.RMSprop()
    assert (rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-7, False)
    assert keras.optimizers.Adagrad().initial_accumulator_value == 0.1


def test_get_by_name_dict_or_instance():
    for name, cls in [("sgd", keras.optimizers.SGD), ("Adam", keras.optimizers.Adam), ("adamw", keras.optimizers.AdamW),
                      ("rmsprop", keras.optimizers.RMSprop), ("adagrad", keras.optimizers.Adagrad)]:
        assert type(keras.optimizers.get(name)) is cls
    opt = keras.optimizers.SGD(0.5)
    assert keras.optimizers.get(opt) is opt
    assert keras.optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.25}}).get_config()["learning_rate"] == 0.25
    assert keras.optimizers.get(None) is None
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        keras.optimizers.get("nope")


def test_gradient_tape_loop_updates_module_parameters_and_variables(on_device):
    net = tf.nn.Linear(3, 1)
    scale = tf.Variable(np.float32(1.0), name="scale")
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3) * 2.0
    opt = keras.optimizers.Adam(learning_rate=0.05)
    variables = list(net.parameters()) + [scale]
    for _ in range(300):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(y - net(tf.tensor(x)) * scale))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    assert float(loss) < 1e-3
    assert int(opt.iterations) == 300
    assert all(p.grad is None for p in variables)


def test_minimize_with_callable_or_tape():
    w = tf.Variable([3.0, -1.0])
    opt = keras.optimizers.SGD(learning_rate=0.25)
    opt.minimize(lambda: (w * w).sum(), [w])
    np.testing.assert_allclose(w.numpy(), [1.5, -0.5])
    with tf.GradientTape() as tape:
        loss = (w * w).sum()
    opt.minimize(loss, lambda: [w], tape=tape)
    np.testing.assert_allclose(w.numpy(), [0.75, -0.25])
    with pytest.raises(ValueError, match="`tape` is required"):
        opt.minimize((w * w).sum(), [w])
    assert int(opt.iterations) == 2


def test_apply_without_variables_uses_the_built_ones():
    w = tf.Variable([1.0])
    opt = keras.optimizers.SGD(learning_rate=0.5)
    with pytest.raises(ValueError, match="must already be built"):
        opt.apply([np.ones(1, np.float32)])
    opt.build([w])
    opt.apply([np.ones(1, np.float32)])
    np.testing.assert_allclose(w.numpy(), [0.5])
    with pytest.raises(ValueError, match="the optimizer is tracking 1 trainable variables"):
        opt.apply([np.ones(1, np.float32)] * 2)
    with pytest.raises(ValueError, match="can only be called for the variables it was originally built with"):
        opt.apply([np.ones(1, np.float32)], [tf.Variable([1.0])])


def test_learning_rate_is_settable_unless_a_schedule():
    opt = keras.optimizers.SGD(learning_rate=0.1)
    opt.learning_rate = 0.5
    assert float(opt.learning_rate) == 0.5 and opt.get_config()["learning_rate"] == 0.5
    sched = keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5))
    assert float(sched.learning_rate) == pytest.approx(0.1)
    with pytest.raises(TypeError, match="not settable"):
        sched.learning_rate = 0.3


def test_bad_arguments():
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        keras.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="`momentum` must be a float between"):
        keras.optimizers.SGD(momentum=2.0)
    with pytest.raises(ValueError, match="not recognized"):
        keras.optimizers.Adam(lr=0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        keras.optimizers.Adam(learning_rate="fast")
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        keras.optimizers.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum"):
        keras.optimizers.Adam(use_ema=True, ema_momentum=1.5)
    w = tf.Variable(np.zeros((2, 2), np.float32), name="kernel")
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for variable kernel of shape \(2, 2\)"):
        keras.optimizers.SGD().apply([np.ones(3, np.float32)], [w])
    with pytest.raises(ValueError, match="No gradients provided"):
        keras.optimizers.SGD().apply([None], [w])


def test_finalize_variable_values_writes_the_moving_averages():
    w = tf.Variable([1.0, 2.0])
    opt = keras.optimizers.SGD(learning_rate=0.5, use_ema=True, ema_momentum=0.5)
    for _ in range(3):
        opt.apply([np.ones(2, np.float32)], [w])
    average = opt.variables[2]
    assert average.path.endswith("_average")
    # EMA: the first step copies the weights, later ones blend with momentum 0.5.
    np.testing.assert_allclose(average.numpy(), [-0.125, 0.875])
    opt.finalize_variable_values([w])
    np.testing.assert_allclose(w.numpy(), average.numpy())


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_is_one_fused_call_per_step_and_follows_a_schedule(nesterov, on_device, monkeypatch):
    from ferrograd import _core
    calls = []
    fused = _core.optim_step
    monkeypatch.setattr(_core, "optim_step", lambda *args: calls.append(args[0]) or fused(*args))
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(np.float32) for s in [(3, 2), (2,), (4,)]]
    grads = [[rng.standard_normal(w.shape).astype(np.float32) for w in start] for _ in range(4)]
    lr = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    opt = keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=nesterov)
    variables = [keras.Variable(w) for w in start]
    weights, momentums = [w.astype(np.float64) for w in start], [np.zeros(w.shape) for w in start]
    for step, gs in enumerate(grads):
        opt.apply_gradients(zip([tf.tensor(g) for g in gs], variables))
        rate = 0.1 * 0.5 ** step
        for i, g in enumerate(gs):
            momentums[i] = 0.9 * momentums[i] - rate * g
            weights[i] += 0.9 * momentums[i] - rate * g if nesterov else momentums[i]
    assert calls == ["sgd"] * len(grads)
    for v, w, m, slot in zip(variables, weights, momentums, opt.momentums):
        np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(slot.numpy(), m, rtol=1e-5, atol=1e-6)
