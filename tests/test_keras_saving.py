"""`.keras` and `.weights.h5` files between Keras 3 and ferrograd.keras, both ways; atomic writes
and clear errors for damaged files."""
import os
import zipfile

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")
keras = pytest.importorskip("keras")

from ferrograd import keras as fk  # noqa: E402


def _cnn(K):
    return K.Sequential([K.Input((8, 8, 1)), K.layers.Conv2D(4, 3, padding="same", activation="relu"),
                         K.layers.BatchNormalization(), K.layers.MaxPooling2D(), K.layers.Flatten(),
                         K.layers.Dropout(0.2), K.layers.Dense(10, activation="softmax")])


def _mixed(K):
    """Two inputs, two outputs, and the layers whose weights nest (RNN cells, Bidirectional, MHA)."""
    a, b = K.Input((5,), name="a"), K.Input((6, 3), name="b")
    x = K.layers.Dense(4)(a)
    lstm = K.layers.LSTM(2)(b)
    gru = K.layers.GRU(2, return_sequences=True)(b)
    rnn = K.layers.SimpleRNN(2)(b)
    bi = K.layers.Bidirectional(K.layers.LSTM(2))(b)
    att = K.layers.MultiHeadAttention(2, 3)(b, b)
    norm = K.layers.LayerNormalization()(K.layers.BatchNormalization()(x))
    emb = K.layers.GlobalAveragePooling1D()(K.layers.Conv1D(3, 2, padding="causal")(b))
    merged = K.layers.Concatenate()([norm, lstm, rnn, bi, K.layers.Flatten()(att), K.layers.Flatten()(gru), emb])
    return K.Model([a, b], [K.layers.Dense(1, name="o1")(merged), K.layers.Dense(2, name="o2")(merged)])


def _rest(K):
    """The remaining layers: Embedding, Conv2DTranspose, reshaping, activations, merges, pools."""
    tokens, image = K.Input((6,), dtype="int32", name="tokens"), K.Input((6, 6, 2), name="image")
    words = K.layers.GlobalMaxPooling1D()(K.layers.Embedding(20, 4)(tokens))
    x = K.layers.Rescaling(0.5, offset=0.1)(image)
    x = K.layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")(x)
    x = K.layers.AveragePooling2D(2)(x)
    x = K.layers.Permute((2, 1, 3))(K.layers.Reshape((6, 6, 3))(x))
    x = K.layers.GlobalAveragePooling2D()(K.layers.LeakyReLU(0.1)(x))
    y = K.layers.Activation("gelu")(K.layers.Dense(3)(words))
    merged = K.layers.Multiply()([K.layers.Add()([x, y]), K.layers.ReLU(max_value=2.0)(y)])
    merged = K.layers.Dropout(0.3)(K.layers.Concatenate()([merged, K.layers.Subtract()([x, y])]))
    return K.Model([tokens, image], K.layers.Softmax()(merged))


def _inputs(model_name, rng):
    if model_name == "cnn":
        return rng.normal(size=(4, 8, 8, 1)).astype(np.float32)
    if model_name == "rest":
        return [rng.integers(0, 20, size=(4, 6)).astype(np.int32), rng.normal(size=(4, 6, 6, 2)).astype(np.float32)]
    return [rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=(4, 6, 3)).astype(np.float32)]


def _randomize(model, rng):
    model.set_weights([w + rng.normal(scale=0.2, size=w.shape).astype(w.dtype) for w in model.get_weights()])


def _predict(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def _k_predict(model, x):
    out = model(x, training=False)
    return [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


MODELS = {"cnn": _cnn, "mixed": _mixed, "rest": _rest}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_file_written_by_keras_loads_here(tmp_path, name):
    rng = np.random.default_rng(0)
    k_model = MODELS[name](keras)
    _randomize(k_model, rng)
    k_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    path = tmp_path / "m.keras"
    k_model.save(path)
    model = fk.models.load_model(path)
    assert [l.name for l in model.layers] == [l.name for l in k_model.layers]
    x = _inputs(name, rng)
    for got, expected in zip(_predict(model, x), _k_predict(k_model, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert model.compiled and isinstance(model.optimizer, fk.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_file_written_here_loads_in_keras(tmp_path, name):
    rng = np.random.default_rng(1)
    model = MODELS[name](fk)
    _randomize(model, rng)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    path = tmp_path / "m.keras"
    model.save(path)
    assert sorted(zipfile.ZipFile(path).namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    k_model = keras.models.load_model(path)
    x = _inputs(name, rng)
    for got, expected in zip(_predict(model, x), _k_predict(k_model, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert type(k_model.optimizer).__name__ == "SGD"


def test_weights_h5_both_ways(tmp_path):
    rng = np.random.default_rng(2)
    k_model, model = _mixed(keras), _mixed(fk)
    _randomize(k_model, rng)
    k_model.save_weights(tmp_path / "k.weights.h5")
    model.load_weights(tmp_path / "k.weights.h5")
    x = _inputs("mixed", rng)
    for got, expected in zip(_predict(model, x), _k_predict(k_model, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    _randomize(model, rng)
    model.save_weights(tmp_path / "f.weights.h5")
    k_model.load_weights(tmp_path / "f.weights.h5")
    for got, expected in zip(_predict(model, x), _k_predict(k_model, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        model.save_weights(tmp_path / "w.h5")
    with pytest.raises(NotImplementedError, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")


def test_round_trip_keeps_training_state_and_config(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype(np.float32)
    y = np.arange(16) % 10
    model = _cnn(fk)
    model.compile(optimizer=fk.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = fk.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    assert loaded.get_config()["layers"][1]["config"]["padding"] == "same"


def test_damaged_files_raise_errors_naming_the_path(tmp_path):
    model = _cnn(fk)
    good = tmp_path / "good.keras"
    model.save(good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    not_zip = tmp_path / "text.keras"
    not_zip.write_text("hello")
    flipped = tmp_path / "flipped.keras"
    damaged = bytearray(data)
    member = zipfile.ZipFile(good).getinfo("model.weights.h5")
    damaged[member.header_offset + 30 + len(member.filename) + 100] ^= 0xFF   # inside the stored weights
    flipped.write_bytes(bytes(damaged))
    for path in (truncated, not_zip, flipped):
        with pytest.raises(ValueError, match=str(path.name)):
            fk.models.load_model(path)
    no_weights = tmp_path / "no_weights.keras"
    with zipfile.ZipFile(no_weights, "w") as z:
        z.writestr("config.json", zipfile.ZipFile(good).read("config.json"))
    with pytest.raises(ValueError, match="no_weights.keras.*model.weights.h5"):
        fk.models.load_model(no_weights)
    bad_h5 = tmp_path / "bad.weights.h5"
    bad_h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(ValueError, match="bad.weights.h5"):
        model.load_weights(bad_h5)
    other = fk.Sequential([fk.Input((8, 8, 1)), fk.layers.Flatten(), fk.layers.Dense(3)])
    model.save_weights(tmp_path / "cnn.weights.h5")
    with pytest.raises(ValueError, match="cnn.weights.h5"):
        other.load_weights(tmp_path / "cnn.weights.h5")


def test_writes_are_atomic(tmp_path, monkeypatch):
    model = _cnn(fk)
    path = tmp_path / "m.keras"
    model.save(path)
    before = path.read_bytes()
    _randomize(model, np.random.default_rng(3))

    def failing_writestr(self, *args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


def test_model_checkpoint_best_only_and_weights_only(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 8, 8, 1)).astype(np.float32), np.arange(32) % 10
    model = _cnn(fk)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    best = fk.callbacks.ModelCheckpoint(tmp_path / "best.keras", monitor="loss", save_best_only=True)
    weights = fk.callbacks.ModelCheckpoint(tmp_path / "w{epoch}.weights.h5", save_weights_only=True)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[best, weights])
    assert sorted(os.listdir(tmp_path)) == ["best.keras", "w1.weights.h5", "w2.weights.h5", "w3.weights.h5"]
    assert best.best == min(history.history["loss"])
    restored = _cnn(fk)
    restored.load_weights(tmp_path / "w3.weights.h5")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        fk.callbacks.ModelCheckpoint(tmp_path / "x.keras", save_weights_only=True)
