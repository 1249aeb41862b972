"""Keras 3 behaviours of ferrograd.keras that raised NotImplementedError before: Embedding
`mask_zero` with mask propagation (RNNs, Bidirectional, Dense, GlobalAveragePooling1D, merges,
losses), RNN `dropout`/`recurrent_dropout`, `stateful=True` with `reset_states()`, and weight
constraints. Each compared with Keras 3 itself (numpy backend) after copying its weights."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")
keras = pytest.importorskip("keras")

import ferrograd as torch  # noqa: E402
from ferrograd import keras as fk  # noqa: E402

import helpers  # noqa: E402

# Padding (0) at the end, in the middle, at the start, and a row with nothing masked.
TOKENS = np.array([[1, 2, 0, 0, 0, 0], [3, 0, 4, 5, 6, 0], [0, 0, 7, 8, 9, 1], [2, 3, 4, 5, 6, 7]])

MASKED_MODELS = [
    ("lstm", lambda K: K.layers.LSTM(3)),
    ("lstm_states", lambda K: K.layers.LSTM(3, return_sequences=True, return_state=True)),
    ("gru_sequences", lambda K: K.layers.GRU(3, return_sequences=True)),
    ("gru_reset_before_backwards", lambda K: K.layers.GRU(3, reset_after=False, go_backwards=True)),
    ("simple_rnn_backwards_sequences", lambda K: K.layers.SimpleRNN(3, return_sequences=True, go_backwards=True)),
    ("simple_rnn_zero_output", lambda K: K.layers.SimpleRNN(3, return_sequences=True, zero_output_for_mask=True)),
    ("bidirectional_lstm_sequences", lambda K: K.layers.Bidirectional(K.layers.LSTM(3, return_sequences=True))),
    ("bidirectional_gru_last", lambda K: K.layers.Bidirectional(K.layers.GRU(2), merge_mode="sum")),
    ("global_average_pooling1d", lambda K: K.layers.GlobalAveragePooling1D()),
    ("stacked_lstms", lambda K: (lambda x: K.layers.LSTM(2)(K.layers.LSTM(3, return_sequences=True)(x)))),
]


def _int_input(K):
    return K.Input((TOKENS.shape[1],), dtype="int32" if K is keras else "int64")


def _masked_model(K, head):
    tokens = _int_input(K)
    x = K.layers.Embedding(10, 4, mask_zero=True)(tokens)
    x = K.layers.Dense(5, activation="tanh")(x)  # Dense passes the mask on
    return K.Model(tokens, head(K)(x))


def _same_outputs(k_out, f_out, tol=1e-5):
    k_out = k_out if isinstance(k_out, (list, tuple)) else [k_out]
    f_out = f_out if isinstance(f_out, (list, tuple)) else [f_out]
    assert len(k_out) == len(f_out)
    for e, g in zip(k_out, f_out):
        g = g.detach().cpu().numpy() if isinstance(g, torch.Tensor) else g
        np.testing.assert_allclose(g, keras.ops.convert_to_numpy(e), rtol=tol, atol=tol)


def _copy_weights(k_model, f_model):
    f_model.set_weights(k_model.get_weights())


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=helpers.needs_gpu)])
@pytest.mark.parametrize("name,head", MASKED_MODELS, ids=[m[0] for m in MASKED_MODELS])
def test_masked_sequences_match_keras(name, head, device):
    k_model = _masked_model(keras, head)
    torch.set_default_device(device)
    try:
        f_model = _masked_model(fk, head)
        _copy_weights(k_model, f_model)
        _same_outputs(k_model(TOKENS), f_model.predict(TOKENS, verbose=0))
    finally:
        torch.set_default_device(None)


def test_compute_mask_and_propagation():
    layer = fk.layers.Embedding(10, 3, mask_zero=True)
    np.testing.assert_array_equal(layer.compute_mask(TOKENS).numpy(), TOKENS != 0)
    assert fk.layers.Embedding(10, 3).compute_mask(TOKENS) is None
    out = layer(TOKENS)
    np.testing.assert_array_equal(out._keras_mask.numpy(), TOKENS != 0)
    dense = fk.layers.Dense(2)(out)
    assert dense._keras_mask is out._keras_mask
    seq = fk.layers.LSTM(2, return_sequences=True)(dense)
    np.testing.assert_array_equal(seq._keras_mask.numpy(), TOKENS != 0)
    assert fk.layers.LSTM(2)(dense)._keras_mask is None
    with pytest.warns(UserWarning, match="does not support masking"):
        flat = fk.layers.Flatten()(out)
    assert flat._keras_mask is None


def test_merge_masks_match_keras():
    def model(K):
        tokens = _int_input(K)
        a = K.layers.Embedding(10, 3, mask_zero=True, name="a")(tokens)
        b = K.layers.Dense(3, name="b_dense")(K.layers.Embedding(10, 3, name="b")(tokens))  # unmasked
        c = K.layers.Embedding(10, 3, mask_zero=True, name="c")(tokens)
        concat = K.layers.Concatenate()([a, b])
        added = K.layers.Add()([a, c])
        return K.Model(tokens, [K.layers.LSTM(2, name="lstm")(concat),
                                K.layers.GRU(2, return_sequences=True, name="gru")(added)])
    k_model, f_model = model(keras), model(fk)
    for name in ("a", "b", "b_dense", "c", "lstm", "gru"):
        f_model.get_layer(name).set_weights(k_model.get_layer(name).get_weights())
    _same_outputs(k_model(TOKENS), f_model.predict(TOKENS, verbose=0))
    concat = fk.layers.Concatenate()
    mask = torch.tensor(TOKENS != 0)
    x = torch.ones(4, 6, 2)
    expected = keras.layers.Concatenate().compute_mask([np.ones((4, 6, 2))] * 2, [TOKENS != 0, None])
    np.testing.assert_array_equal(concat.compute_mask([x, x], [mask, None]).numpy(),
                                  keras.ops.convert_to_numpy(expected))


def test_masked_loss_matches_keras_evaluate():
    def model(K):
        tokens = _int_input(K)
        x = K.layers.Embedding(10, 4, mask_zero=True)(tokens)
        x = K.layers.Dense(3)(K.layers.LSTM(5, return_sequences=True)(x))
        m = K.Model(tokens, x)
        m.compile(loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return m
    labels = np.random.default_rng(0).integers(0, 3, size=TOKENS.shape)
    k_model, f_model = model(keras), model(fk)
    k_model.set_weights([w * 8 for w in k_model.get_weights()])  # confident logits: padded steps matter
    _copy_weights(k_model, f_model)
    expected = k_model.evaluate(TOKENS, labels, verbose=0)  # [loss, accuracy], both over unmasked steps
    assert f_model.evaluate(TOKENS, labels, verbose=0) == pytest.approx(expected, rel=1e-5)
    predictions = f_model.predict(TOKENS, verbose=0)
    unmasked = fk.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, predictions)
    assert float(unmasked) != pytest.approx(expected[0], rel=1e-3)  # the mask changed the loss
    assert np.mean(predictions.argmax(-1) == labels) != pytest.approx(expected[1], rel=1e-3)  # and the accuracy


def test_masked_batch_normalization_matches_keras_in_training():
    def model(K):
        tokens = _int_input(K)
        return K.Model(tokens, K.layers.BatchNormalization()(K.layers.Embedding(10, 4, mask_zero=True)(tokens)))
    k_model, f_model = model(keras), model(fk)
    _copy_weights(k_model, f_model)
    _same_outputs(k_model(TOKENS, training=True), f_model(TOKENS, training=True), tol=1e-4)
    _same_outputs(k_model.get_weights(), f_model.get_weights(), tol=1e-5)  # moving statistics


# ----------------------------------------------------------------------------- dropout
def _fixed_masks(like, rate, count):
    """The same dropout masks for Keras and ferrograd: Keras's formula on fixed uniforms."""
    shape = tuple(like.shape)
    rng = np.random.default_rng(abs(hash((shape, rate))) % 2 ** 32)
    masks = [(rng.random(shape) >= rate).astype(np.float32) / (1 - rate) for _ in range(count or 1)]
    return masks if count else masks[0]


def _patch_keras_cell(cell):
    cell._create_dropout_mask = lambda step_input, rate: _fixed_masks(
        step_input, rate, getattr(cell, "dropout_mask_count", None))


def _patch_ferrograd_cell(cell):
    def create(like, rate):
        masks = _fixed_masks(like, rate, cell._mask_count())
        convert = lambda m: torch.tensor(m, device=like.device)  # noqa: E731
        return [convert(m) for m in masks] if isinstance(masks, list) else convert(masks)
    cell._create_dropout_mask = create


DROPOUT_LAYERS = [
    ("simple_rnn", lambda K: K.layers.SimpleRNN(4, dropout=0.3, recurrent_dropout=0.4, return_sequences=True)),
    ("lstm_input_only", lambda K: K.layers.LSTM(4, dropout=0.5)),
    ("lstm_both", lambda K: K.layers.LSTM(4, dropout=0.3, recurrent_dropout=0.25, return_sequences=True)),
    ("gru_both", lambda K: K.layers.GRU(3, dropout=0.2, recurrent_dropout=0.5)),
    ("gru_reset_before_recurrent_only", lambda K: K.layers.GRU(3, recurrent_dropout=0.5, reset_after=False,
                                                               return_sequences=True)),
]


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=helpers.needs_gpu)])
@pytest.mark.parametrize("name,factory", DROPOUT_LAYERS, ids=[d[0] for d in DROPOUT_LAYERS])
def test_rnn_dropout_matches_keras_with_the_same_masks(name, factory, device):
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    k_layer = factory(keras)
    k_model = keras.Sequential([keras.Input((5, 4)), k_layer])
    torch.set_default_device(device)
    try:
        f_layer = factory(fk)
        f_model = fk.Sequential([fk.Input((5, 4)), f_layer])
        _copy_weights(k_model, f_model)
        _same_outputs(k_model(x, training=False), f_model(x, training=False))  # inference: no dropout
        _patch_keras_cell(k_layer.cell)
        _patch_ferrograd_cell(f_layer.cell)
        _same_outputs(k_model(x, training=True), f_model(x, training=True))
    finally:
        torch.set_default_device(None)


def test_rnn_dropout_masks_are_drawn_per_call_and_held_over_time():
    layer = fk.layers.SimpleRNN(64, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    like = torch.ones(8, 64)
    mask = layer.cell._create_dropout_mask(like, 0.5)
    values = set(np.unique(mask.numpy()).tolist())
    assert values == {0.0, 2.0} and 0.35 < (mask.numpy() == 0).mean() < 0.65
    assert len(fk.layers.LSTM(2, recurrent_dropout=0.1).cell._create_dropout_mask(like, 0.5)) == 4
    x = np.ones((2, 3, 64), np.float32)
    fk.Sequential([fk.Input((3, 64)), layer])
    draws = []
    create = layer.cell._create_dropout_mask
    layer.cell._create_dropout_mask = lambda like, rate: draws.append(rate) or create(like, rate)
    a, b = layer(x, training=True).detach().numpy(), layer(x, training=True).detach().numpy()
    assert draws == [0.5, 0.5] * 2  # one input and one recurrent mask per call, for all 3 steps
    assert not np.allclose(a, b)  # new masks for each call
    np.testing.assert_array_equal(layer(x, training=False).detach().numpy(), layer(x).detach().numpy())
    assert len(draws) == 4  # none at inference


# ----------------------------------------------------------------------------- stateful
@pytest.mark.parametrize("factory", [lambda K: K.layers.LSTM(3, stateful=True, return_sequences=True),
                                     lambda K: K.layers.GRU(3, stateful=True)], ids=["lstm", "gru"])
def test_stateful_rnn_carries_states_between_batches_like_keras(factory):
    def model(K):
        return K.Sequential([K.Input((4, 2), batch_size=2), factory(K)])
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(2, 4, 2)).astype(np.float32) for _ in range(3)]
    k_model, f_model = model(keras), model(fk)
    _copy_weights(k_model, f_model)
    outputs = [f_model.predict_on_batch(x) for x in batches]
    for x, got in zip(batches, outputs):
        _same_outputs(k_model(x), got)
    assert not np.allclose(f_model.predict_on_batch(batches[0]), outputs[0])  # the states moved on
    k_model.layers[0].reset_states()
    f_model.layers[0].reset_states()
    assert all(not s.numpy().any() for s in f_model.layers[0].states)
    _same_outputs(k_model(batches[1]), f_model.predict_on_batch(batches[1]))
    assert len(f_model.get_weights()) == len(k_model.get_weights())  # states are not weights
    with pytest.raises(ValueError, match="batch size of the input sequences must be the same"):
        f_model(np.ones((3, 4, 2), np.float32))
    with pytest.raises(ValueError, match="batch size must be static"):
        fk.Sequential([fk.Input((4, 2)), fk.layers.LSTM(2, stateful=True)])


# ----------------------------------------------------------------------------- constraints
CONSTRAINTS = [("MaxNorm", {"max_value": 0.7, "axis": 0}), ("NonNeg", {}), ("UnitNorm", {"axis": 1}),
               ("MinMaxNorm", {"min_value": 0.5, "max_value": 0.9, "rate": 0.7, "axis": 0})]


@pytest.mark.parametrize("name,kwargs", CONSTRAINTS, ids=[c[0] for c in CONSTRAINTS])
def test_constraints_match_keras(name, kwargs):
    w = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(getattr(keras.constraints, name)(**kwargs)(w))
    ours = getattr(fk.constraints, name)(**kwargs)
    np.testing.assert_allclose(ours(torch.tensor(w)).numpy(), expected, rtol=1e-6, atol=1e-7)
    assert ours.get_config() == getattr(keras.constraints, name)(**kwargs).get_config()
    serialized = keras.constraints.serialize(getattr(keras.constraints, name)(**kwargs))
    assert type(fk.constraints.get(serialized)) is type(ours)


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=helpers.needs_gpu)])
def test_constraints_are_applied_after_each_optimizer_step(device):
    def model(K):
        return K.Sequential([K.Input((4,)), K.layers.Dense(3, kernel_constraint=K.constraints.MaxNorm(0.5),
                                                           bias_constraint="non_neg")])
    k_model = model(keras)
    torch.set_default_device(device)
    try:
        f_model = model(fk)
        _copy_weights(k_model, f_model)
        grads = [np.random.default_rng(1).normal(size=w.shape).astype(np.float32) for w in k_model.get_weights()]
        opt = fk.optimizers.SGD(learning_rate=0.5)
        dense = f_model.layers[0]
        opt.apply_gradients(zip([torch.tensor(g) for g in grads], [dense.kernel, dense.bias]))
        kernel, bias = [w - 0.5 * g for w, g in zip(k_model.get_weights(), grads)]
        np.testing.assert_allclose(dense.kernel.numpy(), keras.constraints.MaxNorm(0.5)(kernel), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dense.bias.numpy(), np.maximum(bias, 0), rtol=1e-6)
        assert np.linalg.norm(dense.kernel.numpy(), axis=0).max() <= 0.5 + 1e-6
    finally:
        torch.set_default_device(None)


def test_constraint_configs_load_in_keras():
    layer = fk.layers.Dense(3, kernel_constraint=fk.constraints.UnitNorm(axis=1))
    config = layer.get_config()
    rebuilt = keras.layers.Dense.from_config(config)
    assert isinstance(rebuilt.kernel_constraint, keras.constraints.UnitNorm) and rebuilt.kernel_constraint.axis == 1
    lstm = fk.layers.LSTM.from_config(keras.layers.LSTM(2, recurrent_constraint="max_norm", dropout=0.25).get_config())
    assert isinstance(lstm.cell.recurrent_constraint, fk.constraints.MaxNorm) and lstm.cell.dropout == 0.25


# ----------------------------------------------------------------------------- attention
ATTENTION_AXES = [("axis2_of_4d", (3, 4, 6), (2,)), ("axes12_of_4d", (3, 4, 6), (1, 2)),
                  ("default_of_4d", (3, 4, 6), None), ("axes13_of_5d", (2, 3, 2, 4), (1, 3)),
                  ("int_axis1_of_3d", (4, 6), 1)]


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=helpers.needs_gpu)])
@pytest.mark.parametrize("name,shape,axes", ATTENTION_AXES, ids=[a[0] for a in ATTENTION_AXES])
def test_attention_axes_match_keras(name, shape, axes, device):
    def model(K):
        q, v = K.Input(shape), K.Input(shape)
        mha = K.layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=axes)
        out, scores = mha(q, v, return_attention_scores=True)
        return K.Model([q, v], [out, scores])
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(2,) + shape).astype(np.float32) for _ in range(2)]
    k_model = model(keras)
    torch.set_default_device(device)
    try:
        f_model = model(fk)
        _copy_weights(k_model, f_model)
        _same_outputs(k_model(x), f_model.predict(x, verbose=0))
        expected_axes = list(k_model.layers[-1].get_config()["attention_axes"])
        assert f_model.layers[-1].get_config()["attention_axes"] == expected_axes
    finally:
        torch.set_default_device(None)


def test_attention_uses_the_masks_of_its_inputs_like_keras():
    def model(K):
        tokens = _int_input(K)
        x = K.layers.Embedding(10, 4, mask_zero=True)(tokens)
        attended = K.layers.MultiHeadAttention(num_heads=2, key_dim=2)(x, x, use_causal_mask=True)
        return K.Model(tokens, K.layers.GRU(3, return_sequences=True)(attended))  # the query mask goes on
    k_model, f_model = model(keras), model(fk)
    _copy_weights(k_model, f_model)
    _same_outputs(k_model(TOKENS), f_model.predict(TOKENS, verbose=0))


def test_every_layer_with_constraints_keeps_them_through_fit():
    def model(K):
        tokens = _int_input(K)
        x = K.layers.Embedding(10, 4, embeddings_constraint="unit_norm")(tokens)
        x = K.layers.MultiHeadAttention(2, 2, kernel_constraint=K.constraints.MaxNorm(0.3))(x, x)
        x = K.layers.LayerNormalization(gamma_constraint="non_neg")(x)
        x = K.layers.Conv1D(3, 2, kernel_constraint=K.constraints.MinMaxNorm(0.2, 0.4))(x)
        x = K.layers.BatchNormalization(beta_constraint="non_neg")(x)
        x = K.layers.GRU(2, recurrent_constraint=K.constraints.MaxNorm(0.2))(x)
        return K.Model(tokens, x)
    f_model = model(fk)
    f_model.compile(optimizer=fk.optimizers.Adam(0.1), loss="mse")
    labels = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    f_model.fit(TOKENS, labels, epochs=3, batch_size=2, verbose=0)
    constrained = [(w, w.constraint) for w in f_model.trainable_weights if w.constraint is not None]
    assert len(constrained) == 1 + 4 + 1 + 1 + 1 + 1  # embeddings, 4 MHA kernels, gamma, conv, beta, GRU
    for w, constraint in constrained:
        value = w.detach().numpy()
        k_constraint = keras.constraints.deserialize(fk.constraints.serialize(constraint))
        np.testing.assert_allclose(value, keras.ops.convert_to_numpy(k_constraint(value)), rtol=1e-5, atol=1e-6)
    config = f_model.get_config()
    assert keras.Model.from_config(config).layers[1].get_config()["embeddings_constraint"]["class_name"] == "UnitNorm"


def test_masking_layer_matches_keras_and_saves_both_ways(tmp_path):
    def model(K):
        return K.Sequential([K.Input((5, 3)), K.layers.Masking(mask_value=-1.0),
                             K.layers.LSTM(4, return_sequences=True)])
    x = np.random.default_rng(0).normal(size=(3, 5, 3)).astype(np.float32)
    x[0, 3:] = -1.0
    x[2, :2] = -1.0
    x[1, 2, 0] = -1.0  # one feature equal to mask_value does not mask the step
    k_model, f_model = model(keras), model(fk)
    _copy_weights(k_model, f_model)
    _same_outputs(k_model(x), f_model.predict(x, verbose=0))
    f_model.save(tmp_path / "ours.keras")
    _same_outputs(keras.models.load_model(tmp_path / "ours.keras")(x), f_model.predict(x, verbose=0))
    k_model.save(tmp_path / "theirs.keras")
    _same_outputs(k_model(x), fk.models.load_model(tmp_path / "theirs.keras").predict(x, verbose=0))
