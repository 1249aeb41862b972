"""ferrograd.keras models without the reference: lazy building, weights API and errors,
initializers' statistics, activations by name or callable, and clear errors on bad input."""
import numpy as np
import pytest

import ferrograd as torch
from ferrograd import keras


def test_sequential_builds_lazily_from_the_first_input():
    model = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="isn't built"):
        model.count_params()
    out = model(np.ones((3, 5), np.float32))
    assert tuple(out.shape) == (3, 2) and model.built
    assert model.count_params() == 5 * 4 + 4 + 4 * 2 + 2
    assert model.input_shape == (None, 5) and model.output_shape == (None, 2)
    legacy = keras.Sequential([keras.layers.Dense(3, input_shape=(7,))])
    assert legacy.built and legacy.count_params() == 24


def test_functional_model_with_two_inputs_and_outputs():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    merged = keras.layers.Concatenate()([keras.layers.Dense(4)(a), b])
    model = keras.Model([a, b], {"x": keras.layers.Dense(1)(merged), "y": keras.layers.Dense(2)(merged)})
    xa, xb = np.ones((5, 3), np.float32), np.zeros((5, 2), np.float32)
    out = model.predict({"a": xa, "b": xb}, verbose=0)
    assert set(out) == {"x", "y"} and out["x"].shape == (5, 1) and out["y"].shape == (5, 2)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0)["y"], out["y"])
    with pytest.raises(ValueError, match="expected shape=\\(None, 3\\), found shape=\\(5, 4\\)"):
        model([np.ones((5, 4), np.float32), xb])
    with pytest.raises(ValueError, match="Missing data for input 'b'"):
        model({"a": xa})
    with pytest.raises(ValueError, match="expects 2 input"):
        model(xa)


def test_weights_api_in_keras_layouts():
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(3, 2), keras.layers.Flatten(),
                              keras.layers.Dense(5)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(2, 2, 2, 3), (3,), (27, 5), (5,)]
    assert [w.name for w in model.weights] == ["kernel", "bias", "kernel", "bias"]
    assert model.weights[0].path == f"{model.layers[0].name}/kernel"
    with pytest.raises(ValueError, match="expecting 4 weights"):
        model.set_weights(model.get_weights()[:3])
    bad = model.get_weights()
    bad[2] = bad[2].T
    with pytest.raises(ValueError, match=r"weight shape \(27, 5\) is not compatible with provided weight shape "
                                         r"\(5, 27\)"):
        model.set_weights(bad)
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    assert not model.layers[0].kernel.requires_grad and model.layers[2].kernel.requires_grad


def test_initializers_follow_keras_statistics():
    torch.manual_seed(0)
    glorot = keras.initializers.GlorotUniform()((200, 300)).numpy()
    limit = np.sqrt(6 / 500)
    assert glorot.max() <= limit and glorot.min() >= -limit and abs(glorot.std() - limit / np.sqrt(3)) < 0.003
    kernel = keras.initializers.get("glorot_uniform")((3, 3, 8, 16)).numpy()   # fans include the receptive field
    assert np.abs(kernel).max() <= np.sqrt(6 / (9 * 8 + 9 * 16))
    he = keras.initializers.HeNormal()((400, 400)).numpy()
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.003 and np.abs(he).max() <= 2 * np.sqrt(2 / 400) / 0.8796 + 1e-6
    q = keras.initializers.Orthogonal()((6, 4)).numpy()
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    seeded = [keras.initializers.RandomNormal(seed=3)((5,)).numpy() for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    lstm = keras.layers.LSTM(3)
    lstm(np.ones((2, 4, 5), np.float32))
    bias = lstm.cell.bias.numpy()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])   # unit_forget_bias
    recurrent = lstm.cell.recurrent_kernel.numpy()
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)    # orthogonal recurrent kernel
    with pytest.raises(ValueError, match="Could not interpret initializer"):
        keras.initializers.get("glorot")


def test_activation_by_name_or_callable():
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    by_name = keras.layers.Dense(4, activation="tanh", kernel_initializer="identity")
    by_callable = keras.layers.Dense(4, activation=torch.tanh, kernel_initializer="identity")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(by_name(x)), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(by_callable(x)), np.tanh(x), rtol=1e-6)
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: 'tanhh'"):
        keras.layers.Dense(2, activation="tanhh")


def test_bad_layer_arguments_raise_keras_errors():
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to Dense"):
        keras.layers.Dense(3, foo=1)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        layer = keras.layers.Dense(2)
        layer(np.ones((1, 4), np.float32))
        layer(np.ones((1, 5), np.float32))
    with pytest.raises(ValueError, match="padding"):
        keras.layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="expected ndim=4"):
        keras.layers.Conv2D(2, 3)(np.ones((2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="compile"):
        keras.Sequential([keras.layers.Dense(1)]).fit(np.ones((2, 2)), np.ones(2), verbose=0)


def test_float_inputs_are_cast_to_the_layer_dtype():
    model = keras.Sequential([keras.Input((3,), dtype="float64"), keras.layers.Dense(2, dtype="float64"),
                              keras.layers.Dense(1)])
    assert [w.dtype for w in model.weights] == [torch.float64] * 2 + [torch.float32] * 2
    out = model.predict(np.ones((2, 3)), verbose=0)
    assert out.dtype == np.float32 and out.shape == (2, 1)


def test_subclassed_model_builds_from_a_shape_summarizes_and_saves_weights(tmp_path):
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.hidden = keras.layers.Dense(5, activation="relu")
            self.blocks = [keras.layers.Dense(4), keras.layers.Dense(2)]

        def call(self, inputs, training=False):
            x = self.hidden(inputs)
            for block in self.blocks:
                x = block(x)
            return x

    model = Net()
    assert not model.built and len(model.layers) == 3
    model.build((None, 3))
    assert model.built and model.count_params() == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2
    lines = []
    model.summary(print_fn=lambda text, **kw: lines.append(text))
    text = "".join(lines)
    assert 'Model: "net"' in text and "Total params: 54 (216.00 B)" in text
    model.save_weights(tmp_path / "net.weights.h5")
    other = Net()
    other.build((None, 3))
    other.load_weights(tmp_path / "net.weights.h5")
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_backend_settings_and_image_data_format():
    assert keras.backend.floatx() == "float32" and keras.config.epsilon() == 1e-7
    assert keras.backend.image_data_format() == "channels_last"
    keras.config.set_image_data_format("channels_first")
    try:
        layer = keras.layers.Conv2D(4, 3)
        assert layer.data_format == "channels_first"
        assert tuple(layer(np.ones((1, 2, 5, 5), np.float32)).shape) == (1, 4, 3, 3)
    finally:
        keras.config.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="data_format"):
        keras.config.set_image_data_format("nhwc")
    keras.backend.clear_session()
    assert keras.layers.Dense(1).name == "dense"
