"""Records PyTorch's outcome of every case in cases.py into expected.json (run with a Python
that has torch installed; CI only reads the file):

    PYTHONPATH=python <venv with torch>/bin/python tests/differential/record.py
"""
import json
import os
import sys
import warnings

import torch

import cases
import outcome

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected.json")


def main():
    warnings.simplefilter("ignore")
    table = cases.all_cases()
    recorded = {src: outcome.run(src, torch) for _, src, _ in table}
    with open(FIXTURE + ".tmp", "w") as f:
        f.write("{\n")
        f.write(",\n".join(f"{json.dumps(src)}:{json.dumps(out, separators=(',', ':'))}" for src, out in recorded.items()))
        f.write("\n}\n")
    os.replace(FIXTURE + ".tmp", FIXTURE)
    errors = sum(o[0] == "err" for o in recorded.values())
    print(f"recorded {len(recorded)} cases ({errors} raise) with torch {torch.__version__} into {FIXTURE}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
