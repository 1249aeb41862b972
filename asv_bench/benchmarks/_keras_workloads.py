"""Keras workloads shared by bench_keras.py and keras_side_by_side.py.

Builders take a Keras module `K` (`ferrograd.keras`, or Keras 3 itself on any backend: the API
is the same) and return a zero-argument callable that runs one epoch of `fit` on the shipped
digits (1437 training images, batch 32: 45 steps). `hand_loop_epoch` runs the same epoch as a
hand-written loop over the same ferrograd.keras model and optimizer, so the difference is what
`fit` adds (data slicing, callbacks, loss tracking, logs).
"""
from ._workloads import _digits_arrays

BATCH = 32
MODELS = {"mlp": "digits MLP 64-128-10", "cnn": "seed CNN 16-32 channels on 8x8"}


def _train_arrays(name):
    x, y = _digits_arrays()
    x, y = x[:1437], y[:1437]
    return (x.reshape(-1, 8, 8, 1) if name == "cnn" else x), y


def keras_model(K, name):
    if name == "mlp":
        return K.Sequential([K.Input((64,)), K.layers.Dense(128, activation="relu"), K.layers.Dense(10)])
    return K.Sequential([K.Input((8, 8, 1)),
                         K.layers.Conv2D(16, 3, padding="same", activation="relu"), K.layers.MaxPooling2D(),
                         K.layers.Conv2D(32, 3, padding="same", activation="relu"), K.layers.MaxPooling2D(),
                         K.layers.Flatten(), K.layers.Dense(10)])


def _compiled(K, name, metrics=()):
    model = keras_model(K, name)
    model.compile(optimizer=K.optimizers.SGD(learning_rate=0.02, momentum=0.9),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=list(metrics))
    return model


def keras_fit_epoch(K, name, metrics=()):
    x, y = _train_arrays(name)
    model = _compiled(K, name, metrics)
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)


def hand_loop_epoch(name):
    """One epoch by hand over a ferrograd.keras model: shuffle, slice, forward, loss, backward,
    optimizer.apply."""
    import ferrograd as torch
    from ferrograd import keras as K
    x, y = _train_arrays(name)
    model = _compiled(K, name)
    x, y = torch.tensor(x), torch.tensor(y)
    variables = model.trainable_weights
    loss_fn, optimizer = model.loss, model.optimizer

    def epoch():
        order = torch.randperm(len(y))
        xs, ys = x.index_select(0, order), y.index_select(0, order)
        total = 0.0
        for start in range(0, len(y), BATCH):
            for v in variables:
                v.grad = None
            loss = loss_fn(ys[start:start + BATCH], model(xs[start:start + BATCH], training=True))
            loss.backward()
            optimizer.apply([v.grad for v in variables], variables)
            total = total + loss.detach()
        return float(total)
    return epoch
