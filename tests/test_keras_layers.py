"""ferrograd.keras layers and models against Keras 3: the same weights (copied with set_weights)
must give the same predictions within 1e-5, on the CPU and on the GPU.

Keras runs on its numpy backend here (it imports jax; the jax backend gives the same results but
compiles every op, about 5 s per layer on this machine) unless KERAS_BACKEND is already set."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")
keras = pytest.importorskip("keras")

import ferrograd as torch  # noqa: E402
from ferrograd import keras as fk  # noqa: E402

import helpers  # noqa: E402

# (id, layer factory taking the keras module, input shape without batch, input kind)
LAYERS = [
    ("dense", lambda K: K.layers.Dense(5, activation="relu"), (7,), "float"),
    ("dense_3d_tanh_nobias", lambda K: K.layers.Dense(4, activation="tanh", use_bias=False), (3, 6), "float"),
    ("conv2d_valid", lambda K: K.layers.Conv2D(4, 3), (8, 8, 3), "float"),
    ("conv2d_same_stride2", lambda K: K.layers.Conv2D(5, (3, 2), strides=2, padding="same", activation="relu"),
     (9, 7, 2), "float"),
    ("conv2d_dilated_same", lambda K: K.layers.Conv2D(3, 3, dilation_rate=2, padding="same"), (9, 9, 2), "float"),
    ("conv2d_groups", lambda K: K.layers.Conv2D(4, 3, groups=2), (6, 6, 4), "float"),
    ("conv2d_channels_first", lambda K: K.layers.Conv2D(4, 3, data_format="channels_first", padding="same"),
     (2, 6, 6), "float"),
    ("conv1d_same", lambda K: K.layers.Conv1D(4, 3, padding="same", activation="sigmoid"), (10, 3), "float"),
    ("conv1d_causal_stride", lambda K: K.layers.Conv1D(3, 2, padding="causal", dilation_rate=2), (9, 2), "float"),
    ("conv2d_transpose_valid", lambda K: K.layers.Conv2DTranspose(3, 3, strides=2), (4, 5, 2), "float"),
    ("conv2d_transpose_same", lambda K: K.layers.Conv2DTranspose(3, 3, strides=2, padding="same"), (4, 5, 2),
     "float"),
    ("conv2d_transpose_k2s2", lambda K: K.layers.Conv2DTranspose(2, 2, strides=2, padding="same"), (3, 3, 2),
     "float"),
    ("maxpool2d", lambda K: K.layers.MaxPooling2D(), (6, 7, 3), "float"),
    ("maxpool2d_same_stride1", lambda K: K.layers.MaxPooling2D(3, strides=1, padding="same"), (5, 5, 2), "float"),
    ("avgpool2d_same", lambda K: K.layers.AveragePooling2D(2, padding="same"), (5, 7, 2), "float"),
    ("maxpool1d", lambda K: K.layers.MaxPooling1D(2), (8, 3), "float"),
    ("global_avg_pool2d", lambda K: K.layers.GlobalAveragePooling2D(), (4, 5, 3), "float"),
    ("global_max_pool2d_keepdims", lambda K: K.layers.GlobalMaxPooling2D(keepdims=True), (4, 5, 3), "float"),
    ("global_avg_pool1d", lambda K: K.layers.GlobalAveragePooling1D(), (6, 3), "float"),
    ("flatten", lambda K: K.layers.Flatten(), (3, 4, 2), "float"),
    ("reshape", lambda K: K.layers.Reshape((4, -1)), (3, 4, 2), "float"),
    ("permute", lambda K: K.layers.Permute((2, 1, 3)), (3, 4, 2), "float"),
    ("dropout_inference", lambda K: K.layers.Dropout(0.5), (6,), "float"),
    ("batchnorm", lambda K: K.layers.BatchNormalization(), (4, 4, 3), "float"),
    ("batchnorm_axis1", lambda K: K.layers.BatchNormalization(axis=1, epsilon=1e-2), (3, 5), "float"),
    ("layernorm", lambda K: K.layers.LayerNormalization(), (5, 6), "float"),
    ("layernorm_rms", lambda K: K.layers.LayerNormalization(rms_scaling=True), (6,), "float"),
    ("embedding", lambda K: K.layers.Embedding(10, 4), (5,), "int"),
    ("simple_rnn", lambda K: K.layers.SimpleRNN(4), (5, 3), "float"),
    ("simple_rnn_sequences_backwards", lambda K: K.layers.SimpleRNN(3, return_sequences=True, go_backwards=True),
     (5, 3), "float"),
    ("lstm", lambda K: K.layers.LSTM(4), (5, 3), "float"),
    ("lstm_sequences", lambda K: K.layers.LSTM(3, return_sequences=True), (4, 2), "float"),
    ("gru", lambda K: K.layers.GRU(4), (5, 3), "float"),
    ("gru_reset_before", lambda K: K.layers.GRU(3, reset_after=False, return_sequences=True), (4, 2), "float"),
    ("bidirectional_lstm", lambda K: K.layers.Bidirectional(K.layers.LSTM(3)), (5, 2), "float"),
    ("bidirectional_gru_sum", lambda K: K.layers.Bidirectional(K.layers.GRU(3, return_sequences=True),
                                                               merge_mode="sum"), (5, 2), "float"),
    ("activation_softmax", lambda K: K.layers.Activation("softmax"), (6,), "float"),
    ("activation_gelu", lambda K: K.layers.Activation("gelu"), (6,), "float"),
    ("relu_capped", lambda K: K.layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2), (6,), "float"),
    ("leaky_relu", lambda K: K.layers.LeakyReLU(negative_slope=0.2), (6,), "float"),
    ("softmax_axis1", lambda K: K.layers.Softmax(axis=1), (3, 4), "float"),
    ("rescaling", lambda K: K.layers.Rescaling(1 / 255.0, offset=-0.5), (4, 4, 1), "float"),
]


def _input(shape, kind, rng, batch=3):
    if kind == "int":
        return rng.integers(0, 10, size=(batch,) + shape).astype(np.int64)
    return rng.normal(size=(batch,) + shape).astype(np.float32)


def _pair(factory, shape, kind):
    """The same one-layer functional model in Keras and in ferrograd.keras, ferrograd's weights
    copied from Keras's with set_weights."""
    dtype = "int32" if kind == "int" else "float32"
    k_in = keras.Input(shape, dtype=dtype)
    k_model = keras.Model(k_in, factory(keras)(k_in))
    f_in = fk.Input(shape, dtype="int64" if kind == "int" else "float32")
    f_model = fk.Model(f_in, factory(fk)(f_in))
    weights = [w + np.random.default_rng(1).normal(scale=0.1, size=w.shape).astype(w.dtype)
               for w in k_model.get_weights()]   # move BatchNorm statistics and zero biases off their defaults
    k_model.set_weights(weights)
    f_model.set_weights(k_model.get_weights())
    return k_model, f_model


def _check_predictions(k_model, f_model, x):
    expected = k_model(x, training=False)
    expected = ([keras.ops.convert_to_numpy(o) for o in expected] if isinstance(expected, (list, tuple))
                else keras.ops.convert_to_numpy(expected))
    got = f_model.predict(x, verbose=0)
    for e, g in zip(expected if isinstance(expected, list) else [expected], got if isinstance(got, list) else [got]):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,factory,shape,kind", LAYERS, ids=[spec[0] for spec in LAYERS])
def test_layer_matches_keras(name, factory, shape, kind):
    k_model, f_model = _pair(factory, shape, kind)
    assert [w.shape for w in f_model.get_weights()] == [w.shape for w in k_model.get_weights()]
    assert f_model.output_shape == k_model.output_shape
    _check_predictions(k_model, f_model, _input(shape, kind, np.random.default_rng(0)))


GPU_LAYERS = ["dense", "conv2d_same_stride2", "conv2d_transpose_same", "maxpool2d_same_stride1", "avgpool2d_same",
              "batchnorm", "layernorm", "embedding", "lstm", "gru", "bidirectional_lstm"]


@helpers.needs_gpu
@pytest.mark.parametrize("name", GPU_LAYERS)
def test_layer_matches_keras_on_gpu(name):
    _, factory, shape, kind = next(spec for spec in LAYERS if spec[0] == name)
    torch.set_default_device("gpu")
    try:
        k_model, f_model = _pair(factory, shape, kind)
        assert all(w.device.type == "gpu" for w in f_model.weights)
        _check_predictions(k_model, f_model, _input(shape, kind, np.random.default_rng(0)))
    finally:
        torch.set_default_device(None)


MERGES = [
    ("add", lambda K, a, b: K.layers.Add()([a, b])),
    ("subtract", lambda K, a, b: K.layers.Subtract()([a, b])),
    ("multiply", lambda K, a, b: K.layers.Multiply()([a, b])),
    ("average", lambda K, a, b: K.layers.Average()([a, b])),
    ("maximum", lambda K, a, b: K.layers.Maximum()([a, b])),
    ("concatenate", lambda K, a, b: K.layers.Concatenate(axis=1)([a, b])),
    ("mha_self", lambda K, a, b: K.layers.MultiHeadAttention(num_heads=2, key_dim=3)(a, a)),
    ("mha_cross_value_dim_causal", lambda K, a, b: K.layers.MultiHeadAttention(
        num_heads=3, key_dim=2, value_dim=4, output_shape=5)(a, b, use_causal_mask=True)),
    ("mha_key_no_bias", lambda K, a, b: K.layers.MultiHeadAttention(num_heads=2, key_dim=4, use_bias=False)(a, b, b)),
]


# every case on the CPU; MultiHeadAttention (the merges are single element-wise ops) on the GPU too
TWO_INPUT_CASES = [pytest.param(n, b, "cpu", id=f"{n}-cpu") for n, b in MERGES] + [
    pytest.param(n, b, "gpu", id=f"{n}-gpu", marks=helpers.needs_gpu) for n, b in MERGES if n.startswith("mha")]


@pytest.mark.parametrize("name,build,device", TWO_INPUT_CASES)
def test_two_input_layers_match_keras(name, build, device):
    def model(K):
        a, b = K.Input((4, 6)), K.Input((4, 6))
        return K.Model([a, b], build(K, a, b))
    torch.set_default_device(device)
    try:
        k_model, f_model = model(keras), model(fk)
        f_model.set_weights(k_model.get_weights())
        rng = np.random.default_rng(0)
        x = [rng.normal(size=(2, 4, 6)).astype(np.float32) for _ in range(2)]
        _check_predictions(k_model, f_model, x)
    finally:
        torch.set_default_device(None)


def _seed_models(K):
    """The digits MLP and the seed CNN (python/ferrograd/examples/cnn.py) written the Keras way."""
    mlp = K.Sequential([K.Input((64,)), K.layers.Dense(128, activation="relu"), K.layers.Dense(10)])
    cnn = K.Sequential([K.Input((8, 8, 1)),
                        K.layers.Conv2D(16, 3, padding="same", activation="relu"), K.layers.MaxPooling2D(),
                        K.layers.Conv2D(32, 3, padding="same", activation="relu"), K.layers.MaxPooling2D(),
                        K.layers.Flatten(), K.layers.Dense(10)])
    return mlp, cnn


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=helpers.needs_gpu)])
def test_seed_models_match_keras(device):
    from ferrograd.datasets import Digits
    x = Digits(train=False, scale=True).data.numpy()
    torch.set_default_device(device)
    try:
        for k_model, f_model, data in zip(_seed_models(keras), _seed_models(fk), (x, x.reshape(-1, 8, 8, 1))):
            assert f_model.count_params() == k_model.count_params()
            f_model.set_weights(k_model.get_weights())
            _check_predictions(k_model, f_model, data)
    finally:
        torch.set_default_device(None)


def _summary_text(model):
    lines = []
    model.summary(line_length=78, print_fn=lambda s, **kw: lines.append(s))  # Keras crops captured text at 80
    return "".join(lines).rstrip().splitlines()


def test_summary_matches_keras_table():
    def functional(K):
        a, b = K.Input((8, 8, 1), name="image"), K.Input((5,), name="extra")
        x = K.layers.Flatten()(K.layers.MaxPooling2D()(K.layers.Conv2D(4, 3, activation="relu")(a)))
        x = K.layers.Concatenate()([x, b])
        return K.Model([a, b], [K.layers.Dense(3, name="out1")(x), K.layers.Dense(1, name="out2")(x)])
    for make in (lambda K: _seed_models(K)[1], functional):
        keras.backend.clear_session()
        fk.clear_session()
        expected, got = _summary_text(make(keras)), _summary_text(make(fk))
        assert got == expected, "\n".join(got) + "\n---\n" + "\n".join(expected)
