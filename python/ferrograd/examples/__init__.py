"""Runnable demos (`python -m ferrograd.examples.<name>`):

* `linear_regression`   — fit y = Xw + b with autograd and hand-written SGD (core API only);
* `logistic_regression` — a binary classifier with nn.Linear, BCEWithLogitsLoss and SGD;
* `digits`              — an MLP on the shipped 8x8 digits (>= 95% test accuracy);
* `cnn`                 — a small CNN on the same digits as [N, 1, 8, 8] images;
* `mnist`               — the same models on real MNIST IDX files (`--root DIR`);
* `gradient_tape`       — the TensorFlow way: linear regression with GradientTape, Variables and
                          keras.optimizers.SGD;
* `keras_digits`        — the digits MLP the Keras way: Sequential, compile, fit with a validation
                          split and EarlyStopping, evaluate (>= 95% test accuracy).
"""
