"""The digits MLP the Keras way: `python -m ferrograd.examples.keras_digits [--epochs N] [--seed S]
[--save PATH.keras] [--quiet]`.

keras.Sequential([Input((64,)), Dense(128, relu), Dense(10, softmax)]), compiled with Adam and
sparse categorical cross-entropy, fitted with a 10% validation split and EarlyStopping (restoring
the best weights), then evaluated on the held-out digits. Prints the test accuracy (about 97%).
"""
import argparse

from ferrograd import keras
from ferrograd.datasets import Digits

from ._common import Timer


def build_model():
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.examples.keras_digits", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", metavar="PATH.keras", help="save the trained model (Keras 3's .keras format)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = p.parse_args(argv)

    keras.utils.set_random_seed(args.seed)   # initial weights and fit's shuffling
    train, test = Digits(train=True, scale=True), Digits(train=False, scale=True)
    x_train, y_train = train.data.numpy(), train.targets.numpy()
    x_test, y_test = test.data.numpy(), test.targets.numpy()
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=args.lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if not args.quiet:
        model.summary()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True,
                                         verbose=0 if args.quiet else 1)
    with Timer() as t:
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.1,
                            callbacks=[stop], verbose=0 if args.quiet else 2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained {len(history.epoch)} epochs (best validation loss at epoch {stop.best_epoch + 1})")
    print(f"test loss: {loss:.4f}")
    print(f"test accuracy: {100 * accuracy:.2f}%")
    print(f"training time: {t.seconds:.1f}s")
    if args.save:
        model.save(args.save)
        print(f"saved the model to {args.save}")
    return accuracy


if __name__ == "__main__":
    main()
