"""ferrograd.keras compile/fit/evaluate/predict semantics: Keras's validation split, callback
order and logs, EarlyStopping, History against evaluate, sample and class weights, losses and
metrics against Keras 3's own (numpy backend), the input kinds fit takes, and the printouts."""
import io
import os
import re
from contextlib import redirect_stdout

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")
keras = pytest.importorskip("keras")

import ferrograd as torch  # noqa: E402
from ferrograd import keras as fk  # noqa: E402
from ferrograd.utils.data import DataLoader, TensorDataset  # noqa: E402

import helpers  # noqa: E402


def _data(n=40, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y.clip(0, classes - 1)


def _model(K=fk, classes=3, features=6, **dense):
    return K.Sequential([K.Input((features,)), K.layers.Dense(8, activation="relu", **dense),
                         K.layers.Dense(classes)])


def _compiled(optimizer="sgd", metrics=("accuracy",), **kwargs):
    model = _model(**kwargs)
    model.compile(optimizer=optimizer, loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics))
    return model


def test_validation_split_takes_the_last_fraction_and_history_equals_evaluate():
    x, y = _data()
    model = _compiled()
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25, shuffle=False, verbose=0)
    assert history.epoch == [0, 1]
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 4}
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    val = model.evaluate(x[30:], y[30:], verbose=0, return_dict=True)
    assert history.history["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val["accuracy"], rel=1e-6)
    train_part = model.evaluate(x[:30], y[:30], verbose=0, return_dict=True)
    assert train_part["loss"] != pytest.approx(val["loss"])
    with pytest.raises(ValueError, match="not sufficient to split"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


class _Recorder(fk.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def _record(name):  # noqa: N805
        def hook(self, *args, logs=None):
            logs = args[-1] if args and isinstance(args[-1], dict) else logs
            index = [a for a in args if isinstance(a, int)]
            self.events.append((name, *index, tuple(logs or {})))
        return hook

    for _hook in ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
                  "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
                  "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"]:
        locals()[_hook] = _record(_hook)


# Recorded from Keras 3.15.1 (jax backend): fit(x[100], y, epochs=2, batch_size=40, validation_split=0.2)
# with metrics=["accuracy"], a callback logging every hook with its index and its logs' keys.
_M = ("accuracy", "loss")
KERAS_FIT_EVENTS = [("on_train_begin", ())]
for _epoch in range(2):
    KERAS_FIT_EVENTS += [("on_epoch_begin", _epoch, ()),
                         ("on_train_batch_begin", 0, ()), ("on_train_batch_end", 0, _M),
                         ("on_train_batch_begin", 1, ()), ("on_train_batch_end", 1, _M),
                         ("on_test_begin", ()), ("on_test_batch_begin", 0, ()), ("on_test_batch_end", 0, _M),
                         ("on_test_end", _M),
                         ("on_epoch_end", _epoch, _M + ("val_accuracy", "val_loss"))]
KERAS_FIT_EVENTS += [("on_train_end", _M + ("val_accuracy", "val_loss"))]


def test_callbacks_fire_in_keras_order_with_keras_logs():
    x, y = _data(n=100)
    recorder = _Recorder()
    model = _compiled(optimizer="adam")
    model.fit(x, y, epochs=2, batch_size=40, validation_split=0.2, callbacks=[recorder], verbose=0)
    assert recorder.events == KERAS_FIT_EVENTS
    recorder.events.clear()
    model.evaluate(x, y, batch_size=60, callbacks=[recorder], verbose=0)
    assert recorder.events == [("on_test_begin", ()), ("on_test_batch_begin", 0, ()), ("on_test_batch_end", 0, _M),
                               ("on_test_batch_begin", 1, ()), ("on_test_batch_end", 1, _M), ("on_test_end", _M)]
    recorder.events.clear()
    model.predict(x, batch_size=60, callbacks=[recorder], verbose=0)
    assert [e[:2] for e in recorder.events] == [("on_predict_begin", ()), ("on_predict_batch_begin", 0),
                                               ("on_predict_batch_end", 0), ("on_predict_batch_begin", 1),
                                               ("on_predict_batch_end", 1), ("on_predict_end", ())]


def test_batch_hooks_reach_callbacks_that_override_only_the_legacy_or_lambda_hook():
    # fit calls a batch hook only on callbacks whose hook is not Callback's no-op; Callback's
    # on_train_batch_end calls on_batch_end, and LambdaCallback sets its hooks on the instance
    x, y = _data(n=40)
    seen = []

    class Legacy(fk.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(("on_batch_end", batch, tuple(sorted(logs))))

    hooks = [Legacy(), fk.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(
        ("on_train_batch_begin", batch)))]
    _compiled().fit(x, y, batch_size=20, epochs=1, verbose=0, callbacks=hooks)
    assert seen == [("on_train_batch_begin", 0), ("on_batch_end", 0, _M),
                    ("on_train_batch_begin", 1), ("on_batch_end", 1, _M)]


def test_early_stopping_restores_the_best_weights():
    x, y = _data(n=60)
    torch.manual_seed(1)
    model = _compiled(optimizer=fk.optimizers.SGD(learning_rate=3.0))   # too large: the loss jumps around
    snapshots = []
    keep = fk.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(
        (logs["val_loss"], model.get_weights())))
    stop = fk.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=30, batch_size=20, validation_split=0.25, shuffle=False, verbose=0,
                        callbacks=[keep, stop])
    best = int(np.argmin([loss for loss, _ in snapshots]))
    assert len(history.epoch) < 30 and stop.stopped_epoch == len(history.epoch) - 1
    assert best != len(snapshots) - 1, "the run must end on an epoch worse than the best one"
    assert stop.best_epoch == best
    for restored, saved in zip(model.get_weights(), snapshots[best][1]):
        np.testing.assert_array_equal(restored, saved)


def test_sample_and_class_weights_weight_the_loss_as_keras():
    x, y = _data(n=12)
    sw = np.linspace(0.0, 2.0, 12).astype(np.float32)
    k_model, f_model = _model(keras), _model(fk)
    f_model.set_weights(k_model.get_weights())
    for m, K in ((k_model, keras), (f_model, fk)):
        m.compile(loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    expected = k_model.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=12, return_dict=True)
    got = f_model.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=12, return_dict=True)
    assert list(got) == list(expected) == ["accuracy", "weighted_accuracy", "loss"] or set(got) == set(expected)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-6), key
    unweighted = f_model.evaluate(x, y, verbose=0, batch_size=12)[0]
    assert got["loss"] != pytest.approx(unweighted)
    # class_weight is the sample weight of each sample's class, as Keras converts it
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0}
    start = f_model.get_weights()
    f_model.compile(optimizer="sgd", loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    by_class = f_model.train_on_batch(x, y, class_weight=class_weight)
    f_model.set_weights(start)
    f_model.compile(optimizer="sgd", loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    by_sample = f_model.train_on_batch(x, y, sample_weight=np.array([class_weight[c] for c in y], np.float32))
    assert by_class == pytest.approx(by_sample, rel=1e-7)
    assert by_class != pytest.approx(unweighted)
    with pytest.raises(ValueError, match="class_weight"):
        f_model.fit(x, y, class_weight=class_weight, sample_weight=sw, verbose=0)


LOSSES = [
    ("sparse_categorical_crossentropy", "int", "softmax"), ("categorical_crossentropy", "onehot", "softmax"),
    ("binary_crossentropy", "binary", "sigmoid"), ("mse", "float", None), ("mae", "float", None),
    ("huber", "float", None), ("kl_divergence", "onehot", "softmax"),
]


def _targets(kind, rng, n=10, classes=4):
    if kind == "int":
        return rng.integers(0, classes, n)
    if kind == "onehot":
        return np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]
    if kind == "binary":
        return rng.integers(0, 2, (n, classes)).astype(np.float32)
    return rng.normal(size=(n, classes)).astype(np.float32)


@pytest.mark.parametrize("name,kind,activation", LOSSES, ids=[l[0] for l in LOSSES])
def test_losses_match_keras(name, kind, activation):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(10, 4)).astype(np.float32)
    y_pred = {"softmax": lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True),
              "sigmoid": lambda z: 1 / (1 + np.exp(-z)), None: lambda z: z}[activation](logits).astype(np.float32)
    y_true = _targets(kind, rng)
    sw = rng.uniform(size=10).astype(np.float32)
    class_name = {"sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
                  "categorical_crossentropy": "CategoricalCrossentropy", "binary_crossentropy": "BinaryCrossentropy",
                  "mse": "MeanSquaredError", "mae": "MeanAbsoluteError", "huber": "Huber",
                  "kl_divergence": "KLDivergence"}[name]
    for kwargs in ({}, {"sample_weight": sw}):
        expected = float(keras.losses.get(class_name)(y_true, y_pred, **kwargs))
        got = float(fk.losses.get(class_name)(y_true, fk.ops.convert_to_tensor(y_pred), **kwargs))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)
        # the function form gives the per-sample values
        np.testing.assert_allclose(fk.losses.get(name)(y_true, fk.ops.convert_to_tensor(y_pred)).numpy(),
                                   keras.ops.convert_to_numpy(keras.losses.get(name)(y_true, y_pred)), rtol=1e-5,
                                   atol=1e-6)
    if "crossentropy" in name:
        expected = float(getattr(keras.losses, class_name)(from_logits=True)(y_true, logits))
        got = float(getattr(fk.losses, class_name)(from_logits=True)(y_true, fk.ops.convert_to_tensor(logits)))
        assert got == pytest.approx(expected, rel=1e-5)


METRICS = [
    ("AUC", {}, "binary"), ("AUC", {"curve": "PR"}, "binary"), ("Precision", {}, "binary"),
    ("Recall", {"thresholds": 0.3}, "binary"), ("TopKCategoricalAccuracy", {"k": 2}, "onehot"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "int"), ("CategoricalAccuracy", {}, "onehot"),
    ("SparseCategoricalAccuracy", {}, "int"), ("BinaryAccuracy", {}, "binary"), ("MeanSquaredError", {}, "float"),
    ("MeanAbsoluteError", {}, "float"),
]


@pytest.mark.parametrize("name,kwargs,kind", METRICS, ids=[f"{m[0]}{m[1]}" for m in METRICS])
def test_metrics_match_keras(name, kwargs, kind):
    rng = np.random.default_rng(0)
    k_metric, f_metric = getattr(keras.metrics, name)(**kwargs), getattr(fk.metrics, name)(**kwargs)
    for batch in range(3):   # state accumulates over batches, with and without sample weights
        y_true = _targets(kind, rng)
        y_pred = rng.uniform(size=(10, 4)).astype(np.float32)
        sw = rng.uniform(size=10).astype(np.float32) if batch == 1 else None
        k_metric.update_state(y_true, y_pred, sample_weight=sw)
        f_metric.update_state(y_true, fk.ops.convert_to_tensor(y_pred), sample_weight=sw)
    assert re.sub(r"_\d+$", "", f_metric.name) == re.sub(r"_\d+$", "", k_metric.name)
    assert float(f_metric.result()) == pytest.approx(float(k_metric.result()), rel=1e-5, abs=1e-6)
    f_metric.reset_state()
    k_metric.reset_state()
    assert float(f_metric.result()) == float(k_metric.result()) == 0.0


def test_mean_sums_many_unread_batches_as_keras():
    # batch sums wait for the next read, folded every so often: the state of a metric updated
    # far more often than it is read stays bounded, and its result is Keras's
    rng = np.random.default_rng(0)
    k_mean, f_mean = keras.metrics.Mean(), fk.metrics.Mean()
    for _ in range(2500):
        values = rng.normal(size=int(rng.integers(1, 5))).astype(np.float32)
        k_mean.update_state(values)
        f_mean.update_state(values)
    assert len(f_mean._pending) < 2500
    assert f_mean.result() == pytest.approx(float(k_mean.result()), rel=1e-5)


def test_one_hot_metrics_refuse_integer_labels():
    y_pred = fk.ops.convert_to_tensor(np.full((4, 3), 1 / 3, np.float32))
    for metric in (fk.metrics.TopKCategoricalAccuracy(k=2), fk.metrics.CategoricalAccuracy()):
        with pytest.raises(ValueError, match=r"targets of shape \(4,\) do not match predictions of shape \(4, 3\)"):
            metric.update_state(np.array([0, 1, 2, 0]), y_pred)


@pytest.mark.parametrize("y_kind,units,expected", [("int", 3, "SparseCategoricalAccuracy"),
                                                    ("onehot", 3, "CategoricalAccuracy"),
                                                    ("binary1", 1, "BinaryAccuracy")])
def test_accuracy_resolves_as_keras(y_kind, units, expected):
    x, y = _data(n=16)
    y = {"int": y, "onehot": np.eye(3, dtype=np.float32)[y], "binary1": (y > 0).astype(np.float32)[:, None]}[y_kind]
    model = fk.Sequential([fk.Input((6,)), fk.layers.Dense(units, activation="sigmoid" if units == 1 else "softmax")])
    model.compile(loss="binary_crossentropy" if units == 1 else
                  ("sparse_categorical_crossentropy" if y_kind == "int" else "categorical_crossentropy"),
                  metrics=["accuracy"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert type(model.metrics[1]).__name__ == expected and model.metrics[1].name == "accuracy"
    assert set(logs) == {"accuracy", "loss"}


def test_regularizers_and_loss_weights_add_to_the_loss():
    x, y = _data(n=10)
    model = _model(kernel_regularizer=fk.regularizers.l2(0.1), bias_regularizer="l1")
    model.compile(loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    plain = _model()
    plain.set_weights(model.get_weights())
    plain.compile(loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    kernel, bias = model.layers[0].kernel.numpy(), model.layers[0].bias.numpy()
    penalty = 0.1 * np.sum(kernel ** 2) + 0.01 * np.sum(np.abs(bias))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0) + penalty, rel=1e-5)
    assert len(model.losses) == 2
    # two outputs with loss weights: loss = sum of weighted per-output losses, each logged
    inp = fk.Input((6,))
    hidden = fk.layers.Dense(4)(inp)
    two = fk.Model(inp, [fk.layers.Dense(3, name="cls")(hidden), fk.layers.Dense(1, name="reg")(hidden)])
    two.compile(loss=[fk.losses.SparseCategoricalCrossentropy(from_logits=True), "mse"], loss_weights=[0.5, 2.0],
                metrics=[["accuracy"], ["mae"]])
    target = x[:, :1]
    logs = two.evaluate(x, [y, target], verbose=0, return_dict=True)
    assert set(logs) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"}
    assert logs["loss"] == pytest.approx(0.5 * logs["cls_loss"] + 2.0 * logs["reg_loss"], rel=1e-5)


def test_fit_takes_arrays_tensors_datasets_loaders_and_generators():
    x, y = _data(n=32)
    results = []
    sources = [
        lambda: dict(x=x, y=y),
        lambda: dict(x=torch.tensor(x), y=torch.tensor(y)),
        lambda: dict(x=TensorDataset(torch.tensor(x), torch.tensor(y))),
        lambda: dict(x=DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=8)),
        lambda: dict(x=((x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8)), steps_per_epoch=4),
    ]
    for make in sources:
        torch.manual_seed(0)
        model = _compiled()
        history = model.fit(**make(), batch_size=8, epochs=1, shuffle=False, verbose=0)
        assert history.params["steps"] == 4
        results.append((history.history["loss"][0], model.get_weights()))
    for loss, weights in results[1:]:
        assert loss == pytest.approx(results[0][0], rel=1e-6)
        for a, b in zip(weights, results[0][1]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_generator_runs_out_with_a_warning():
    x, y = _data(n=16)
    model = _compiled()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(((x[i:i + 8], y[i:i + 8]) for i in range(0, 16, 8)), epochs=3, verbose=0)
    assert history.epoch == [0]


def test_progress_output_per_verbose_level():
    x, y = _data(n=64)
    model = _compiled()
    out = io.StringIO()
    with redirect_stdout(out):
        model.fit(x, y, epochs=2, batch_size=16, verbose=2, validation_data=(x, y))
    lines = out.getvalue().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"4/4 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4} - "
                        r"val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}", lines[1]), lines[1]
    out = io.StringIO()
    with redirect_stdout(out):
        model.fit(x, y, epochs=1, batch_size=16, verbose=1)
    text = out.getvalue()
    # redrawn in place (carriage returns, padded to the previous width), then a newline
    assert re.search(r"\r4/4 ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4} *\n$", text), text
    out = io.StringIO()
    with redirect_stdout(out):
        model.fit(x, y, epochs=1, verbose=0)
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
    assert out.getvalue() == ""


def test_on_batch_methods_and_predict_batches():
    x, y = _data(n=10)
    model = _compiled()
    before = model.predict_on_batch(x)
    loss, acc = model.test_on_batch(x, y)
    assert loss == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-6)
    model.train_on_batch(x, y)
    assert not np.allclose(model.predict_on_batch(x), before)
    np.testing.assert_allclose(model.predict(x, batch_size=3, verbose=0), model.predict_on_batch(x), rtol=1e-6)


def test_frozen_layer_keeps_its_weights():
    x, y = _data(n=16)
    model = _compiled()
    model.layers[0].trainable = False
    frozen = model.layers[0].get_weights()
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(model.layers[0].get_weights(), frozen):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(model.layers[1].get_weights()[0], _compiled().layers[1].get_weights()[0])


def test_jit_compile_true_needs_ferrograd_compile():
    with pytest.raises(NotImplementedError, match="ferrograd.compile"):
        _model().compile(loss="mse", jit_compile=True)


def test_subclassed_model_trains():
    class TwoLayer(fk.Model):
        def __init__(self):
            super().__init__()
            self.hidden = fk.layers.Dense(8, activation="relu")
            self.out = fk.layers.Dense(3)

        def call(self, inputs, training=False):
            return self.out(self.hidden(inputs))

    x, y = _data(n=32)
    model = TwoLayer()
    model.compile(optimizer="adam", loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(model.layers) == 2
    assert len(model.trainable_weights) == 4


@helpers.needs_gpu
def test_fit_on_gpu_matches_cpu():
    x, y = _data(n=32)
    runs = []
    for device in ("cpu", "gpu"):
        torch.set_default_device(device)
        try:
            torch.manual_seed(0)
            model = _compiled(optimizer="adam")
            history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
            assert all(w.device.type == device for w in model.weights)
            runs.append((history.history, model.predict(x, verbose=0)))
        finally:
            torch.set_default_device(None)
    (cpu_hist, cpu_pred), (gpu_hist, gpu_pred) = runs
    for key in cpu_hist:
        np.testing.assert_allclose(gpu_hist[key], cpu_hist[key], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gpu_pred, cpu_pred, rtol=1e-4, atol=1e-5)


def test_learning_rate_callbacks_csv_logger_and_terminate_on_nan(tmp_path):
    x, y = _data(n=32)
    model = _compiled(optimizer=fk.optimizers.SGD(learning_rate=0.1))
    schedule = fk.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    plateau = fk.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0, min_delta=10.0)
    csv_path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[schedule, plateau, fk.callbacks.CSVLogger(csv_path)])
    # the scheduler halves the rate as each epoch begins; the plateau (no epoch improves the loss by
    # 10) divides it by 10 as the second epoch ends; logs carry the rate the epoch ran with
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.00125], rel=1e-5)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.000125, rel=1e-5)
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "epoch,accuracy,learning_rate,loss" and len(rows) == 4 and rows[1].startswith("0,")
    model = _compiled(optimizer=fk.optimizers.SGD(learning_rate=1e30))
    x_big = x * 1e20
    history = model.fit(x_big, y, epochs=5, batch_size=4, verbose=0, callbacks=[fk.callbacks.TerminateOnNaN()])
    assert len(history.epoch) == 1 and not np.isfinite(history.history["loss"][0])


def test_initial_epoch_steps_per_epoch_and_dropout_in_training():
    x, y = _data(n=64)
    model = fk.Sequential([fk.Input((6,)), fk.layers.Dense(8), fk.layers.Dropout(0.5), fk.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=8, epochs=4, initial_epoch=2, steps_per_epoch=3, verbose=0)
    assert history.epoch == [2, 3] and history.params["steps"] == 3
    assert model.optimizer.iterations.numpy() == 6
    dropout = model.layers[1]
    ones = torch.ones(2000, 6)
    kept = dropout(ones, training=True).numpy()
    assert set(np.unique(kept)) == {0.0, 2.0} and abs((kept == 0).mean() - 0.5) < 0.05
    np.testing.assert_array_equal(dropout(ones).numpy(), ones.numpy())     # inference: identity
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


class _GuideModel(fk.Model):
    """The custom `train_step` of Keras 3's guide "Customizing what happens in fit() with PyTorch"."""

    def __init__(self):
        super().__init__()
        self.hidden = fk.layers.Dense(8, activation="relu")
        self.out = fk.layers.Dense(3)

    def call(self, x):
        return self.out(self.hidden(x))

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _same_start(model, reference, x):
    model(x[:1])
    model.set_weights(reference.get_weights())


def test_custom_train_step_of_the_keras_guide_trains_as_the_built_in_one():
    x, y = _data()
    reference = _compiled(metrics=())
    model = _GuideModel()
    _same_start(model, reference, x)
    model.compile(optimizer="sgd", loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(x, y))
    ref_history = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(x, y))
    for w, r in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], ref_history.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(history.history["val_loss"], ref_history.history["val_loss"], rtol=1e-5)
    # Equal batches: the guide's tracker averages batch means, the built-in one weighs samples.
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(reference.evaluate(x, y, batch_size=8, verbose=0), rel=1e-5)
    step_logs = model.train_on_batch(x[:8], y[:8], return_dict=True)
    assert set(step_logs) == {"loss"} and np.isfinite(step_logs["loss"])


def test_compute_loss_override_is_what_fit_minimises():
    x, y = _data()

    class Doubled(fk.Sequential):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return 2.0 * super().compute_loss(x, y, y_pred, sample_weight, training)

    reference = _compiled(metrics=())
    model = Doubled([fk.Input((6,)), fk.layers.Dense(8, activation="relu"), fk.layers.Dense(3)])
    model.set_weights(reference.get_weights())
    model.compile(optimizer=fk.optimizers.SGD(0.005), loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    reference.compile(optimizer=fk.optimizers.SGD(0.01), loss=fk.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref_history = reference.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    # Half the learning rate on twice the loss: the same steps, and a reported loss twice as large.
    for w, r in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], 2 * np.array(ref_history.history["loss"]), rtol=1e-5)


def test_default_steps_take_keras_data_and_predict_step_overrides():
    x, y = _data()
    model = _compiled()
    logs = model.train_step((torch.tensor(x[:8]), torch.tensor(y[:8])))
    assert set(logs) == {"loss", "accuracy"}
    assert set(model.test_step((torch.tensor(x[:8]), torch.tensor(y[:8])))) == {"loss", "accuracy"}
    assert tuple(model.predict_step((torch.tensor(x[:4]),)).shape) == (4, 3)

    class Softmaxed(fk.Sequential):
        def predict_step(self, data):
            return fk.ops.softmax(self(data[0], training=False))

    soft = Softmaxed([fk.Input((6,)), fk.layers.Dense(3)])
    probs = soft.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
