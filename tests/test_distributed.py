"""ferrograd.distributed and DDP on real MPI ranks (tests/_mpi_checks.py, launched through
`python -m ferrograd.distributed.run`), and DistributedSampler in one process."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.distributed as dist
from ferrograd.distributed import run as launcher
from ferrograd.utils.data import DistributedSampler, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))


def _mpi_installed():
    if not dist.is_available():
        return False
    try:
        launcher.mpirun_path()
    except SystemExit:
        return False
    return True


needs_mpi = pytest.mark.skipif(not _mpi_installed(),
                               reason="mpi4py and mpirun are not installed (pip install 'ferrograd[distributed]')")


def _launch_command(n, case, script):
    # One compute thread per rank: the ranks already share the machine's cores.
    env = dict(os.environ, FERROGRAD_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(torch.__file__)),
                                           os.environ.get("PYTHONPATH", "")]))
    return [sys.executable, "-m", "ferrograd.distributed.run", "-n", str(n), *script.split(), case], env


def launch(n, case, timeout, script=os.path.join(HERE, "_mpi_checks.py")):
    """Runs the checks of `case` on n ranks through the launcher; returns (return code, output)."""
    cmd, env = _launch_command(n, case, script)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def launch_together(n, cases, timeout, script=os.path.join(HERE, "_mpi_checks.py")):
    """`launch` for several cases at once (they mostly wait): {case: (return code, output)}."""
    procs = {}
    for case in cases:
        cmd, env = _launch_command(n, case, script)
        procs[case] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    outputs = {case: p.communicate(timeout=timeout)[0] for case, p in procs.items()}
    return {case: (p.returncode, outputs[case]) for case, p in procs.items()}


@needs_mpi
def test_ddp_digits_demo_reaches_95_percent():
    rc, out = launch(2, "--epochs=30", timeout=120, script="-m ferrograd.examples.ddp_digits")
    assert rc == 0, out
    assert "ddp digits: 2 ranks, 719 samples each, global batch 32" in out, out
    accuracy = float(out.split("test accuracy: ")[1].split("%")[0])
    assert accuracy >= 95.0, out
    assert out.count("test accuracy") == 1  # rank 0 only


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_collectives_groups_p2p_errors_and_ddp(n):
    rc, out = launch(n, "all", timeout=240)
    assert rc == 0, out
    for r in range(n):
        assert f"rank {r}: ok" in out, out


@needs_mpi
def test_a_dead_rank_ends_the_job_instead_of_hanging():
    rc, out = launch(2, "dead_rank", timeout=60)
    assert rc != 0, out
    assert "rank 0: ok" not in out


@needs_mpi
def test_a_hung_or_departed_rank_makes_the_others_raise_within_the_timeout():
    """A blocking collective (small: MPI's non-blocking variant polled; large: a polled barrier
    before the blocking call), wait() on an async one, and a peer that left: each raises a
    catchable RuntimeError after the 1 s timeout (checked in _mpi_checks.expect_timeout), later
    calls raise at once, and the process exits without MPI_Finalize (status 1)."""
    ops = {"hung_rank": "all_reduce", "hung_rank_blocking": "barrier", "hung_rank_large": "broadcast",
           "rank_left": "all_reduce"}
    for case, (rc, out) in launch_together(2, ops, timeout=60).items():
        assert rc != 0, (case, out)
        assert f"rank 0: {ops[case]} timed out as expected" in out, (case, out)
        assert "rank 0: ok" in out, (case, out)  # caught: the script went on to its end
        assert f"exiting without MPI_Finalize: [Rank 0] {ops[case]} on a group of 2 ranks timed out after 1 s" in out


def test_calls_before_init_raise_torchs_error():
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, dist.barrier, lambda: dist.all_reduce(torch.ones(2))):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            call()
    with pytest.raises(RuntimeError, match="Default process group has not been initialized"):
        dist.broadcast(torch.ones(2), src=0)


def test_only_the_mpi_backend_exists():
    with pytest.raises(ValueError, match="backend='mpi'"):
        dist.init_process_group("nccl")


def test_launcher_command(monkeypatch):
    monkeypatch.setattr(launcher, "mpirun_path", lambda: "/opt/mpi/bin/mpirun")
    monkeypatch.setattr(launcher.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout="mpirun (Open MPI) 5.0.11"))
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 2)
    args = launcher.argparse.Namespace(nproc_per_node=3, hostfile=None, module=False, script="train.py",
                                       script_args=["--epochs", "2"])
    cmd = launcher.command(args)
    assert cmd[:3] == ["/opt/mpi/bin/mpirun", "-n", "3"] and "--oversubscribe" in cmd
    assert cmd[-4:] == [sys.executable, "train.py", "--epochs", "2"]
    assert ("--allow-run-as-root" in cmd) == (os.geteuid() == 0)
    args.hostfile, args.module, args.script = "hosts", True, "ferrograd.examples.ddp_digits"
    cmd = launcher.command(args)
    assert cmd[cmd.index("--hostfile") + 1] == "hosts" and "--oversubscribe" not in cmd
    assert cmd[-5:-2] == [sys.executable, "-m", "ferrograd.examples.ddp_digits"]


# ------------------------------------------------------------------ DistributedSampler


def shards(n, replicas, **kw):
    data = TensorDataset(torch.arange(n))
    return [list(DistributedSampler(data, num_replicas=replicas, rank=r, **kw)) for r in range(replicas)]


@pytest.mark.parametrize("n,replicas", [(10, 3), (12, 4), (5, 2), (2, 3)])
def test_sampler_shards_are_equal_and_cover_the_dataset(n, replicas):
    parts = shards(n, replicas, shuffle=True, seed=5)
    size = -(-n // replicas)
    assert all(len(p) == size for p in parts)
    flat = [i for p in parts for i in p]
    assert set(flat) == set(range(n))
    if n % replicas == 0:
        assert sorted(flat) == list(range(n))  # disjoint when nothing needs padding
    else:
        assert len(flat) - len(set(flat)) == size * replicas - n  # only the padding repeats


def test_sampler_drop_last_and_order():
    parts = shards(10, 3, shuffle=False, drop_last=True)
    assert parts == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    parts = shards(10, 3, shuffle=False)
    assert parts == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]  # padded with the first indices, as torch


def test_sampler_set_epoch_reshuffles_and_seed_repeats():
    data = TensorDataset(torch.arange(50))
    s = DistributedSampler(data, num_replicas=2, rank=0, seed=1)
    first = list(s)
    assert list(s) == first
    s.set_epoch(1)
    second = list(s)
    assert second != first
    other = DistributedSampler(data, num_replicas=2, rank=1, seed=1)
    other.set_epoch(1)
    assert set(second).isdisjoint(other) and len(set(second) | set(other)) == 50
    assert np.unique(second).size == 25


def test_sampler_rank_errors():
    data = TensorDataset(torch.arange(4))
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(data, num_replicas=2, rank=2)
