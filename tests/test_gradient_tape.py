"""GradientTape: one test per TensorFlow rule, against analytic values, finite differences
(float64 gradcheck on the CPU) and backward() on the same model; each device."""
import collections

import numpy as np
import pytest

import ferrograd as tf
import ferrograd.nn as nn
from helpers import assert_close, check_grad, np_of, rand


def pytest_generate_tests(metafunc):
    metafunc.parametrize("on_device", ["cpu", "gpu"], indirect=True)


def test_watched_constant_gets_gradient_and_is_left_unchanged():
    x = tf.tensor([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = (x * x).sum()
    assert_close(tape.gradient(y, x), [2.0, 4.0, 6.0])
    assert not x.requires_grad and x.grad is None and x.grad_fn is None
    np.testing.assert_array_equal(np_of(x), [1, 2, 3])
    x.add_(1.0)  # still an ordinary tensor: in-place ops allowed, nothing recorded
    assert x.grad_fn is None


def test_unwatched_constant_has_no_gradient():
    x = tf.tensor([1.0, 2.0])
    with tf.GradientTape() as tape:
        y = (x * x).sum()
    assert tape.gradient(y, x) is None


def test_trainable_variables_are_watched_automatically():
    w = tf.Variable([1.0, -2.0])
    frozen = tf.Variable([3.0, 4.0], trainable=False)
    with tf.GradientTape(persistent=True) as tape:
        y = (w * frozen).sum()
    assert_close(tape.gradient(y, w), [3.0, 4.0])
    assert tape.gradient(y, frozen) is None
    with tf.GradientTape() as tape:
        tape.watch(frozen)
        y = (w * frozen).sum()
    assert_close(tape.gradient(y, frozen), [1.0, -2.0])
    assert not frozen.requires_grad


def test_watch_accessed_variables_false_watches_only_what_is_watched():
    w, b = tf.Variable([2.0]), tf.Variable([1.0])
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(b)
        y = (w * w + b).sum()
    gw, gb = tape.gradient(y, [w, b])
    assert gw is None
    assert_close(gb, [1.0])


def test_gradients_come_in_the_structure_of_sources():
    a, b, c = tf.Variable([1.0]), tf.Variable([2.0]), tf.Variable([3.0])
    Pair = collections.namedtuple("Pair", "first second")
    with tf.GradientTape(persistent=True) as tape:
        y = (a * b * c).sum()
    assert isinstance(tape.gradient(y, a), tf.Tensor)
    g = tape.gradient(y, [a, (b, {"c": c})])
    assert isinstance(g, list) and isinstance(g[1], tuple) and set(g[1][1]) == {"c"}
    assert_close(g[0], [6.0])
    assert_close(g[1][0], [3.0])
    assert_close(g[1][1]["c"], [2.0])
    p = tape.gradient(y, Pair(a, c))
    assert isinstance(p, Pair)
    assert_close(p.second, [2.0])
    d = tape.gradient(y, {"b": b, "a": a})
    assert list(d) == ["b", "a"]
    assert_close(d["a"], [6.0])


def test_unconnected_gradients_none_or_zero():
    w, other = tf.Variable([1.0, 2.0]), tf.Variable(np.ones((2, 3), np.float32))
    with tf.GradientTape(persistent=True) as tape:
        y = (w * w).sum()
    assert tape.gradient(y, other) is None
    zero = tape.gradient(y, [w, other], unconnected_gradients="zero")[1]
    assert_close(zero, np.zeros((2, 3)))
    zero = tape.gradient(y, other, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert tuple(zero.shape) == (2, 3)
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(y, w, unconnected_gradients="zeros")


def test_non_persistent_tape_is_used_once():
    w = tf.Variable([1.0])
    with tf.GradientTape() as tape:
        y = (w * 3.0).sum()
    tape.gradient(y, w)
    with pytest.raises(RuntimeError, match="non-persistent GradientTape can only be used to compute one set"):
        tape.gradient(y, w)
    with tf.GradientTape() as tape:
        y = w * 3.0
    tape.jacobian(y, w)
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(y, w)


def test_persistent_tape_is_reusable():
    x = tf.tensor(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    assert_close(tape.gradient(z, x), 108.0)  # 4 x^3
    assert_close(tape.gradient(y, x), 6.0)
    assert_close(tape.gradient(z, y), 18.0)   # an intermediate as the source
    del tape


def test_stop_recording():
    x = tf.tensor(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        with tape.stop_recording():
            z = x * x * x
        assert tf.is_grad_enabled()
    assert z.grad_fn is None
    assert tape.gradient(z, x) is None
    with pytest.raises(RuntimeError, match="not recording"):
        with tape.stop_recording():
            pass
    assert y.grad_fn is not None


def test_stop_recording_does_not_record_variables():
    w = tf.Variable([2.0])
    with tf.GradientTape() as tape:
        y = (w * w).sum()
        with tape.stop_recording():
            z = (w * 3.0).sum()
            assert not tf.is_grad_enabled()
    assert tf.is_grad_enabled()
    assert z.grad_fn is None
    assert_close(tape.gradient([y, z], w), [4.0])  # only y = w^2 was recorded
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            with inner.stop_recording():
                z = (w * 3.0).sum()
    assert_close(outer.gradient(z, w), [3.0])  # the enclosing tape kept recording


def test_reset_forgets_watches_and_use():
    x = tf.tensor(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        tape.reset()
        z = x * 5.0
    assert z.grad_fn is None  # x is no longer watched after the reset
    assert not x.requires_grad
    assert tape.gradient(y, x) is None
    with tf.GradientTape() as tape:
        tape.watch(x)
        tape.gradient(x * x, x)
    with pytest.raises(ValueError, match="not recording"):
        tape.reset()


def test_gradient_inside_block_stops_a_non_persistent_tape():
    x = tf.tensor(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        g = tape.gradient(y, x)
        after = x * x
    assert_close(g, 4.0)
    assert not g.requires_grad and after.grad_fn is None


def test_nested_tapes_give_second_derivatives():
    x = tf.tensor(1.5)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = x * x * x
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert_close(dy, 3 * 1.5 ** 2)
    assert_close(d2y, 6 * 1.5)
    assert not x.requires_grad


def test_nested_tapes_hessian_of_a_variable_function():
    w = tf.Variable(np.array([0.5, -1.0, 2.0], np.float32))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = (w.exp() * w).sum()
        g = inner.gradient(y, w)
    hessian = outer.jacobian(g, w)
    wn = np.array([0.5, -1.0, 2.0])
    assert_close(hessian, np.diag(np.exp(wn) * (wn + 2)), rtol=1e-5, atol=1e-5)


def test_jacobian_and_batch_jacobian():
    a = rand(2, 3)
    x = tf.tensor(a)
    m = tf.tensor(rand(3, 4, rng=np.random.default_rng(3)))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = (x @ m).tanh()
    jac = tape.jacobian(y, x)
    assert tuple(jac.shape) == (2, 4, 2, 3)
    d = 1 - np.tanh(a @ np_of(m)) ** 2
    expected = np.zeros((2, 4, 2, 3))
    for b in range(2):
        expected[b, :, b, :] = d[b][:, None] * np_of(m).T
    assert_close(jac, expected, rtol=1e-5, atol=1e-5)
    assert_close(tape.batch_jacobian(y, x), np.stack([expected[b, :, b, :] for b in range(2)]), rtol=1e-5, atol=1e-5)
    assert tape.jacobian(y, tf.Variable([1.0])) is None
    assert_close(tape.jacobian(y, tf.Variable([1.0]), unconnected_gradients="zero"), np.zeros((2, 4, 1)))


def test_tape_gradient_matches_finite_differences():
    def via_tape(x, y):
        with tf.GradientTape() as tape:
            tape.watch([x, y])
            z = ((x * y).sin() + x.exp() / (1 + y * y)).sum()
        gx, gy = tape.gradient(z, [x, y])
        return (gx * gx).sum() + gy.sum() + z

    # gradcheck differentiates the tape's (create_graph) gradients: second derivatives too.
    x, y = rand(3, 2), rand(3, 2, rng=np.random.default_rng(5))

    def fn(xl, yl):
        with tf.GradientTape() as outer:
            outer.watch([xl, yl])
            out = via_tape(xl, yl)
        return out
    check_grad(fn, x, y)


def test_non_scalar_target_output_gradients_and_target_lists():
    x = tf.tensor([1.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = x * 3.0
    assert_close(tape.gradient(y, x), [2.0, 4.0])
    assert_close(tape.gradient(y, x, output_gradients=tf.tensor([10.0, 1.0])), [20.0, 4.0])
    assert_close(tape.gradient([y, z], x), [5.0, 7.0])
    with pytest.raises(ValueError, match=r"output_gradients of shape \(3,\) for a target of shape \(2,\)"):
        tape.gradient(y, x, output_gradients=tf.ones(3))


def test_matches_backward_on_a_module_and_never_touches_grad():
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x, target = tf.tensor(rand(5, 4)).float(), tf.tensor([0, 2, 1, 1, 0])
    params = list(net.parameters())
    net[0].weight.grad = tf.ones(8, 4)
    with tf.GradientTape() as tape:
        loss = nn.functional.cross_entropy(net(x), target)
    grads = tape.gradient(loss, params)
    assert_close(net[0].weight.grad, np.ones((8, 4)))
    assert all(p.grad is None for p in params[1:])
    net.zero_grad()
    nn.functional.cross_entropy(net(x), target).backward()
    for g, p in zip(grads, params):
        assert_close(g, np_of(p.grad), rtol=1e-5, atol=1e-6)


def test_tape_records_under_no_grad_and_restores_the_mode():
    w = tf.Variable([2.0])
    with tf.no_grad():
        with tf.GradientTape() as tape:
            y = (w * w).sum()
        assert not tf.is_grad_enabled()
    assert_close(tape.gradient(y, w), [4.0])


def test_numpy_inputs_stay_on_the_tape():
    w, b = tf.Variable(np.float32(2.0)), tf.Variable(np.float32(0.5))
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y_true = np.array([2.0, 5.0, 6.0], np.float32)
    with tf.GradientTape() as tape:
        loss = ((y_true - (x * w + b)) ** 2).mean()
    gw, gb = tape.gradient(loss, [w, b])
    r = y_true - (x * 2.0 + 0.5)
    assert_close(gw, np.mean(-2 * r * x), rtol=1e-5)
    assert_close(gb, np.mean(-2 * r), rtol=1e-5)


def test_bad_arguments():
    x = tf.tensor([1.0])
    with tf.GradientTape() as tape:
        with pytest.raises(ValueError, match="ndarray, not a ferrograd Tensor"):
            tape.watch(np.ones(2))
        with pytest.warns(UserWarning, match="must be floating"):
            tape.watch(tf.tensor([1, 2]))
        tape.watch(x)
        y = x * 2
        with pytest.raises(ValueError, match="re-enter"):
            tape.__enter__()
    with pytest.raises(ValueError, match="int, not a ferrograd Tensor"):
        tape.gradient(y, [x, 3])
    assert_close(tape.gradient(y, x), [2.0])  # a refused call does not use up the tape


# TensorFlow records only what runs while the tape is active: ops on a trainable Variable before
# the block, after it, while it is paused or before a reset() are constants to the tape.
def test_ops_before_the_block_are_constants():
    w = tf.Variable([2.0, -1.0])
    y = w * w
    with tf.GradientTape(persistent=True) as tape:
        z = (y * 3.0 + w).sum()
    assert_close(tape.gradient(z, w), [1.0, 1.0])  # only `+ w` was recorded, not w * w
    assert tape.gradient(z, y) is None  # y was computed before the tape and is not watched
    with tf.GradientTape() as tape:
        tape.watch(y)
        z = (y * 3.0).sum()
    assert_close(tape.gradient(z, y), [3.0, 3.0])


def test_module_run_before_the_block_is_not_differentiated():
    net = nn.Linear(3, 2)
    hidden = net(tf.tensor(rand(4, 3)).float())
    with tf.GradientTape() as tape:
        loss = (hidden * hidden).sum()
    assert tape.gradient(loss, list(net.parameters())) == [None, None]


def test_ops_after_the_block_are_not_recorded():
    w = tf.Variable([2.0])
    with tf.GradientTape() as tape:
        y = w * w
    z = (y * 3.0).sum()
    assert tape.gradient(z, w) is None


def test_ops_before_reset_are_constants():
    w = tf.Variable([2.0])
    with tf.GradientTape() as tape:
        y = w * w
        tape.reset()
        z = (y * 3.0 + w * 5.0).sum()
    assert_close(tape.gradient(z, w), [5.0])


def test_paused_span_is_a_constant_even_when_an_outer_tape_records_it():
    w = tf.Variable([1.5])
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            a = w * 2.0
            with inner.stop_recording():
                b = w * w
            c = (a + b).sum()
        assert_close(inner.gradient(c, w), [2.0])  # b = w^2 ran while inner was paused
    assert_close(outer.gradient(c, w), [2.0 + 2 * 1.5])


def test_node_sequence_numbers_grow_in_recording_order():
    w = tf.Variable([1.0])
    first, second = w * 2.0, w * 3.0
    assert first.grad_fn._sequence_nr() < second.grad_fn._sequence_nr()


def test_watched_variables_in_order_of_first_watch():
    a, b, c = tf.Variable([1.0]), tf.Variable([2.0]), tf.Variable([3.0])
    frozen, other = tf.Variable([4.0], trainable=False), tf.Variable([5.0])
    const = tf.tensor([1.0])
    other * 2.0  # read before the tape: not watched
    with tf.GradientTape(persistent=True) as tape:
        y = c * b
        tape.watch([frozen, const])
        z = a * c + y * frozen
        with tape.stop_recording():
            other * 2.0
        assert tape.watched_variables() == (c, b, frozen, a)
    assert tape.watched_variables() == (c, b, frozen, a)  # still known after the block
    tape.gradient(z.sum(), [a, b])
    assert tape.watched_variables() == (c, b, frozen, a)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(b)
        (a * b).sum()
    assert tape.watched_variables() == (b,)
    with tf.GradientTape() as tape:
        (a * 1.0).sum()
        tape.reset()
        (b * 1.0).sum()
    assert tape.watched_variables() == (b,)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(frozen)
            (frozen * a).sum()
    assert inner.watched_variables() == (frozen, a)
    assert outer.watched_variables() == (a,)  # outer did not watch the frozen Variable


def test_watched_variables_of_a_module_and_its_gradients():
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    with tf.GradientTape() as tape:
        loss = net(tf.tensor(rand(5, 4)).float()).square().sum()
    watched = tape.watched_variables()
    expected = list(net.parameters())
    assert len(watched) == len(expected) and all(w is p for w, p in zip(watched, expected))
    assert all(g is not None for g in tape.gradient(loss, watched))
