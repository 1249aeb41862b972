"""`python -m ferrograd.distributed.run -n N [--hostfile FILE] script.py args...`: starts the
script on N MPI ranks with the `mpirun` that comes with the installed MPI (the `distributed`
extra's Open MPI, or the system's), adding the flags a single machine needs: more ranks than
cores (`--oversubscribe`) and, as root, `--allow-run-as-root`. Use `-m module` for a module.
"""
import argparse
import os
import shutil
import subprocess
import sys


def mpirun_path():
    """The mpirun next to this Python (a virtual environment's), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpirun")
    found = here if os.access(here, os.X_OK) else shutil.which("mpirun")
    if found is None:
        raise SystemExit("ferrograd.distributed.run: no mpirun found; install the MPI the 'distributed' extra brings "
                         "(pip install 'ferrograd[distributed]') or your system's Open MPI / MPICH")
    return found


def command(args):
    cmd = [mpirun_path(), "-n", str(args.nproc_per_node)]
    is_open_mpi = "Open MPI" in subprocess.run([cmd[0], "--version"], capture_output=True, text=True).stdout
    if is_open_mpi:
        if args.hostfile is None and args.nproc_per_node > (os.cpu_count() or 1):
            cmd.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    if args.hostfile:
        cmd += ["--hostfile", args.hostfile]
    cmd.append(sys.executable)
    if args.module:
        cmd += ["-m", args.script]
    else:
        cmd.append(args.script)
    return cmd + args.script_args


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.distributed.run", description=__doc__.splitlines()[0])
    p.add_argument("-n", "--nproc-per-node", "--nproc_per_node", dest="nproc_per_node", type=int, default=1,
                   help="number of ranks")
    p.add_argument("--hostfile", help="an MPI hostfile listing the machines (and slots) to run on")
    p.add_argument("-m", "--module", action="store_true", help="run the script argument as a module")
    p.add_argument("script")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.nproc_per_node < 1:
        p.error(f"-n must be at least 1, got {args.nproc_per_node}")
    return subprocess.call(command(args))


if __name__ == "__main__":
    sys.exit(main())
