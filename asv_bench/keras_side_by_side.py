"""ferrograd.keras against Keras 3 on its PyTorch backend: one epoch of `fit` on the digits for
the digits MLP and the seed CNN, timed interleaved in one process, plus fit's overhead over a
hand-written loop. Run it where both import, e.g.

    KERAS_BACKEND=torch PYTHONPATH=python <venv with torch and keras>/bin/python asv_bench/keras_side_by_side.py

(ferrograd.keras never imports Keras; `keras` here is the real one.) Prints a Markdown table.
`--overhead` times fit against the hand-written loop alone, in paired rounds (one epoch of
each, back to back), and reports the median and quartiles of the per-round ratio in wall and
process CPU time: on a shared machine the ratio of two runs a moment apart moves far less than
either time.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmarks import _keras_workloads as W  # noqa: E402


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _count_calls(fk):
    import cProfile
    import pstats
    steps = -(-1437 // W.BATCH)
    print("| workload | fit: Python calls per step | hand-written loop | fit overhead |")
    print("|---|---|---|---|")
    for name in sorted(W.MODELS):
        counts = {}
        for label, epoch in (("fit", W.keras_fit_epoch(fk, name)), ("hand", W.hand_loop_epoch(name))):
            epoch()
            profile = cProfile.Profile()
            profile.enable()
            epoch()
            profile.disable()
            counts[label] = pstats.Stats(profile).total_calls / steps
        print(f"| {W.MODELS[name]} | {counts['fit']:.0f} | {counts['hand']:.0f} | "
              f"{100 * (counts['fit'] / counts['hand'] - 1):+.1f}% |")


def _overhead(fk, rounds):
    print(f"fit's overhead over the hand-written loop: one epoch each (45 steps), {rounds} paired rounds")
    print()
    print("| workload | hand loop, median epoch | fit/hand wall: median [quartiles] "
          "| fit/hand CPU: median [quartiles] |")
    print("|---|---|---|---|")
    for name in sorted(W.MODELS):
        runs = {"fit": W.keras_fit_epoch(fk, name), "hand": W.hand_loop_epoch(name)}
        for fn in runs.values():
            fn()
        wall, cpu, hand_wall = [], [], []
        for i in range(rounds):
            took = {}
            # alternate which runs first, so that neither always follows the other
            for label in (("fit", "hand") if i % 2 == 0 else ("hand", "fit")):
                w, c = time.perf_counter(), time.process_time()
                runs[label]()
                took[label] = (time.perf_counter() - w, time.process_time() - c)
            wall.append(took["fit"][0] / took["hand"][0])
            cpu.append(took["fit"][1] / took["hand"][1])
            hand_wall.append(took["hand"][0])

        def fmt(ratios):
            q1, med, q3 = statistics.quantiles(ratios, n=4)
            return f"{100 * (med - 1):+.1f}% [{100 * (q1 - 1):+.1f}%, {100 * (q3 - 1):+.1f}%]"
        print(f"| {W.MODELS[name]} | {statistics.median(hand_wall) * 1e3:.1f} ms | {fmt(wall)} | {fmt(cpu)} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=9, help="epochs timed per workload (the best is reported)")
    p.add_argument("--no-peer", action="store_true", help="time ferrograd.keras only")
    p.add_argument("--calls", action="store_true",
                   help="instead of timing, count the Python calls per step of fit and of the hand-written loop "
                        "(cProfile; a measure of fit's overhead that does not move with the machine's load)")
    p.add_argument("--peer-threads", type=int, default=None,
                   help="torch.set_num_threads for the peer (default: PyTorch's own choice)")
    p.add_argument("--overhead", action="store_true",
                   help="time fit against the hand-written loop only, as medians of paired-round ratios")
    args = p.parse_args(argv)
    from ferrograd import keras as fk
    if args.calls:
        return _count_calls(fk)
    if args.overhead:
        return _overhead(fk, max(args.rounds, 4))
    keras, peer = None, None
    if not args.no_peer:
        try:
            import keras
            peer = f"Keras {keras.__version__} ({keras.backend.backend()})"
        except ImportError as e:
            print(f"no peer: {e}", file=sys.stderr)
    if peer and args.peer_threads:
        import torch
        torch.set_num_threads(args.peer_threads)
        peer += f", {args.peer_threads} thread{'s' if args.peer_threads > 1 else ''}"
    rows = []
    for name in sorted(W.MODELS):
        runs = {"fit": W.keras_fit_epoch(fk, name), "fit+accuracy": W.keras_fit_epoch(fk, name, ("accuracy",)),
                "hand loop": W.hand_loop_epoch(name)}
        if keras is not None:
            runs["peer fit"] = W.keras_fit_epoch(keras, name)
        for fn in runs.values():
            fn()   # warm-up: builds optimizer state (and Keras's compiled step)
        times = {k: [] for k in runs}
        for _ in range(args.rounds):
            for k, fn in runs.items():
                times[k].append(_time(fn))
        med = {k: min(v) for k, v in times.items()}   # the best round: the machine is shared
        rows.append((name, med))
    steps = -(-1437 // W.BATCH)
    print(f"one epoch of fit on the digits (1437 samples, batch 32, {steps} steps), best of {args.rounds} interleaved rounds")
    print()
    header = "| workload | ferrograd.keras fit | fit + accuracy | hand-written loop | fit overhead |"
    sep = "|---|---|---|---|---|"
    if peer:
        header += f" {peer} fit | ferrograd ÷ peer |"
        sep += "---|---|"
    print(header)
    print(sep)
    for name, med in rows:
        line = (f"| {W.MODELS[name]} | {med['fit'] * 1e3:.1f} ms ({med['fit'] / steps * 1e6:.0f} µs/step) | "
                f"{med['fit+accuracy'] * 1e3:.1f} ms | {med['hand loop'] * 1e3:.1f} ms | "
                f"{100 * (med['fit'] / med['hand loop'] - 1):+.1f}% |")
        if peer:
            line += f" {med['peer fit'] * 1e3:.1f} ms | {med['fit'] / med['peer fit']:.2f}× |"
        print(line)


if __name__ == "__main__":
    main()
