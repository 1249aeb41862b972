"""Linear regression the TensorFlow way: `python -m ferrograd.examples.gradient_tape [--epochs N]`.

Data: y = x @ [2, -3.4] + 4.2 + noise(0.01), as numpy arrays. The weights are
`ferrograd.Variable`s; each mini-batch's loss is recorded by a `GradientTape` (numpy and
Variables mix freely in the expressions) and `keras.optimizers.SGD(learning_rate=0.01)`
applies the tape's gradients.
"""
import argparse

import numpy as np

import ferrograd as tf
from ferrograd import keras

TRUE_W = [2.0, -3.4]
TRUE_B = 4.2


def synthetic_data(n, rng):
    x = rng.normal(size=(n, len(TRUE_W))).astype(np.float32)
    y = x @ np.array(TRUE_W, np.float32) + TRUE_B + 0.01 * rng.normal(size=n).astype(np.float32)
    return x, y


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.examples.gradient_tape", description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x, y = synthetic_data(args.samples, rng)
    w = tf.Variable(np.zeros(len(TRUE_W), np.float32), name="w")
    b = tf.Variable(0.0, name="b")
    optimizer = keras.optimizers.SGD(learning_rate=0.01)

    for epoch in range(args.epochs):
        order = rng.permutation(args.samples)
        for i in range(0, args.samples, args.batch_size):
            idx = order[i:i + args.batch_size]
            with tf.GradientTape() as tape:
                y_pred = x[idx] @ w + b
                loss = keras.ops.mean((y[idx] - y_pred) ** 2)
            grads = tape.gradient(loss, [w, b])
            optimizer.apply_gradients(zip(grads, [w, b]))
        full = float(keras.ops.mean((y - (x @ w + b)) ** 2))
        print(f"epoch {epoch + 1}: loss {full:.6f}")

    wl, bl = w.numpy().tolist(), float(b.numpy())
    print(f"fitted w = [{', '.join(f'{v:.4f}' for v in wl)}]  (true [{', '.join(f'{v:.4f}' for v in TRUE_W)}])")
    print(f"fitted b = {bl:.4f}  (true {TRUE_B:.4f})")
    err = max(max(abs(a - t) for a, t in zip(wl, TRUE_W)), abs(bl - TRUE_B))
    print(f"max abs error: {err:.4f}  after {int(optimizer.iterations)} steps")
    return wl, bl


if __name__ == "__main__":
    main()
