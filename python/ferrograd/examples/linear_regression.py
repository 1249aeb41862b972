"""Linear regression with autograd and hand-written SGD (core API only):
`python -m ferrograd.examples.linear_regression [--epochs N] [--seed S]`.

Data: y = X @ [2, -3.4] + 4.2 + noise(0.01). Parameters are plain tensors with
requires_grad=True, updated with `w -= lr * w.grad` under `ferrograd.no_grad()`.
"""
import argparse

import ferrograd as torch

TRUE_W = [2.0, -3.4]
TRUE_B = 4.2


def synthetic_data(n):
    w = torch.tensor(TRUE_W)
    x = torch.randn(n, len(TRUE_W))
    y = x @ w + TRUE_B + 0.01 * torch.randn(n)
    return x, y


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.examples.linear_regression", description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.03)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    x, y = synthetic_data(args.samples)
    w = torch.zeros(len(TRUE_W), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    for epoch in range(args.epochs):
        perm = torch.randperm(args.samples)
        for i in range(0, args.samples, args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss = ((x[idx] @ w + b - y[idx]) ** 2 / 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= args.lr * w.grad
                b -= args.lr * b.grad
                w.grad.zero_()
                b.grad.zero_()
        with torch.no_grad():
            full = ((x @ w + b - y) ** 2 / 2).mean().item()
        print(f"epoch {epoch + 1}: loss {full:.6f}")
    wl, bl = w.detach().tolist(), b.item()
    print(f"fitted w = [{', '.join(f'{v:.4f}' for v in wl)}]  (true [{', '.join(f'{v:.4f}' for v in TRUE_W)}])")
    print(f"fitted b = {bl:.4f}  (true {TRUE_B:.4f})")
    err = max(max(abs(a - t) for a, t in zip(wl, TRUE_W)), abs(bl - TRUE_B))
    print(f"max abs error: {err:.4f}")
    return wl, bl


if __name__ == "__main__":
    main()
