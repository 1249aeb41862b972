"""Run on every rank by tests/test_distributed.py (`python -m ferrograd.distributed.run -n N
tests/_mpi_checks.py CASE`): many checks per MPI launch, since starting ranks is slow. Each
rank prints `rank R: ok` at the end; any failure raises (non-zero exit)."""
import datetime
import os
import sys
import time

import numpy as np

import ferrograd as torch
import ferrograd.distributed as dist
import ferrograd.nn as nn
import ferrograd.optim as optim
from ferrograd.nn.parallel import DistributedDataParallel as DDP

DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "bool": torch.bool}
NP_REDUCE = {dist.ReduceOp.SUM: np.sum, dist.ReduceOp.PRODUCT: np.prod, dist.ReduceOp.MIN: np.min,
             dist.ReduceOp.MAX: np.max}


def data_of(rank, dtype, shape):
    """Rank `rank`'s deterministic input (every rank can recompute every other rank's)."""
    rng = np.random.default_rng(1000 + rank)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "int64":
        return rng.integers(-5, 6, shape).astype(np.int64)
    return (rng.random(shape) + 0.5).astype(dtype)


def expected_reduce(arrays, op, dtype):
    stacked = np.stack(arrays)
    if dtype == "bool":
        return stacked.any(0) if op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX) else stacked.all(0)
    if op is dist.ReduceOp.AVG:
        total = stacked.sum(0)
        if dtype == "int64":
            return np.sign(total) * (np.abs(total) // len(arrays))
        return total / len(arrays)
    return NP_REDUCE[op](stacked, axis=0).astype(dtype)


def check(a, b, what, dtype):
    """Floats within rounding (MPI may sum in another order), integers and bools exactly."""
    if dtype == "float32":
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=what)
    elif dtype == "float64":
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def expect_error(exc_type, fragments, fn):
    try:
        fn()
    except exc_type as e:
        for f in fragments:
            assert f in str(e), (f, str(e))
        return
    raise AssertionError(f"expected {exc_type.__name__}")


def collectives(rank, world):
    shapes = [(6, 3), (0,), (7,)]  # 6 rows split over 2 and 3 ranks; 7 rows do not
    for dtype in DTYPES:
        for shape in shapes:
            everyone = [data_of(r, dtype, shape) for r in range(world)]
            ops = [dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN, dist.ReduceOp.MAX]
            if dtype != "bool":
                ops.append(dist.ReduceOp.AVG)
            for op in ops:
                t = torch.from_numpy(everyone[rank].copy())
                dist.all_reduce(t, op=op)
                check(t.numpy(), expected_reduce(everyone, op, dtype), f"all_reduce {op} {dtype} {shape}", dtype)
                t = torch.from_numpy(everyone[rank].copy())
                dist.reduce(t, dst=world - 1, op=op)
                want = expected_reduce(everyone, op, dtype) if rank == world - 1 else everyone[rank]
                check(t.numpy(), want, f"reduce {op} {dtype}", dtype)
                if shape[0] % world == 0 or shape == (0,):
                    rows = shape[0] // world
                    inp = torch.from_numpy(everyone[rank].copy())
                    out = torch.from_numpy(np.zeros((rows,) + shape[1:], everyone[rank].dtype))
                    dist.reduce_scatter_tensor(out, inp, op=op)
                    full = expected_reduce(everyone, op, dtype)
                    check(out.numpy(), full[rank * rows:(rank + 1) * rows], f"reduce_scatter {op} {dtype}", dtype)
            t = torch.from_numpy(everyone[rank].copy())
            dist.broadcast(t, src=1)
            check(t.numpy(), everyone[1], f"broadcast {dtype}", dtype)
            outs = [torch.from_numpy(np.zeros_like(everyone[0])) for _ in range(world)]
            dist.all_gather(outs, torch.from_numpy(everyone[rank]))
            for r in range(world):
                check(outs[r].numpy(), everyone[r], f"all_gather {dtype}", dtype)
            big = torch.from_numpy(np.zeros((world * shape[0],) + shape[1:], everyone[0].dtype))
            dist.all_gather_into_tensor(big, torch.from_numpy(everyone[rank]))
            check(big.numpy(), np.concatenate(everyone), f"all_gather_into_tensor {dtype}", dtype)
            gathered = [torch.from_numpy(np.zeros_like(everyone[0])) for _ in range(world)] if rank == 0 else None
            dist.gather(torch.from_numpy(everyone[rank]), gathered, dst=0)
            if rank == 0:
                for r in range(world):
                    check(gathered[r].numpy(), everyone[r], f"gather {dtype}", dtype)
            t = torch.from_numpy(np.zeros_like(everyone[0]))
            dist.scatter(t, [torch.from_numpy(everyone[r]) for r in range(world)] if rank == 0 else None, src=0)
            check(t.numpy(), everyone[rank], f"scatter {dtype}", dtype)
    # all_to_all_single, equal and uneven splits: rank r sends r + j + 1 rows to rank j.
    inp = torch.arange(world * 2 * 3, dtype=torch.float32).view(world * 2, 3) + 100 * rank
    out = torch.zeros(world * 2, 3)
    dist.all_to_all_single(out, inp)
    want = np.concatenate([(np.arange(world * 6).reshape(world * 2, 3) + 100 * r)[2 * rank:2 * rank + 2]
                           for r in range(world)])
    check(out.numpy(), want, "all_to_all_single", "float32")
    sends = [rank + j + 1 for j in range(world)]
    recvs = [r + rank + 1 for r in range(world)]
    inp = torch.full((sum(sends), 2), float(rank))
    out = torch.zeros(sum(recvs), 2)
    dist.all_to_all_single(out, inp, output_split_sizes=recvs, input_split_sizes=sends)
    check(out.numpy(), np.repeat(np.arange(world, dtype=np.float32), recvs)[:, None].repeat(2, 1),
          "all_to_all_single uneven", "float32")
    dist.barrier()


def zero_copy_and_async(rank, world):
    t = torch.ones(1000)
    view = t.numpy()
    ptr = t.data_ptr()
    work = dist.all_reduce(t, async_op=True)
    assert isinstance(work, dist.Work)
    assert work.wait() is True and work.is_completed()
    assert t.data_ptr() == ptr
    np.testing.assert_array_equal(view, np.full(1000, float(world)))  # MPI wrote into the tensor's memory
    works = [dist.all_reduce(torch.full((10,), float(i)), op=dist.ReduceOp.MAX, async_op=True) for i in range(5)]
    for i, w in enumerate(works):
        w.wait()
        np.testing.assert_array_equal(w.result()[0].numpy(), np.full(10, float(i)))
    w = dist.barrier(async_op=True)
    w.wait()
    assert w.is_completed()


def groups(rank, world):
    members = [0, world - 1]
    g = dist.new_group(members)
    if rank in members:
        assert dist.get_world_size(g) == 2 and dist.get_rank(g) == members.index(rank)
        t = torch.tensor([float(rank)])
        dist.all_reduce(t, group=g)
        assert t.item() == float(sum(members))
        t = torch.tensor([float(rank)])
        dist.broadcast(t, src=world - 1, group=g)
        assert t.item() == float(world - 1)
    else:
        assert g is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(g) == -1
    assert dist.get_world_size() == world and dist.get_backend() == "mpi"


def point_to_point(rank, world):
    right, left = (rank + 1) % world, (rank - 1) % world
    recv_buf = torch.zeros(4, dtype=torch.int64)
    r = dist.irecv(recv_buf, src=left, tag=7)
    s = dist.isend(torch.full((4,), rank, dtype=torch.int64), dst=right, tag=7)
    s.wait()
    r.wait()
    assert r.is_completed()
    np.testing.assert_array_equal(recv_buf.numpy(), np.full(4, left))
    if rank == 0:
        for src in range(1, world):
            t = torch.zeros(2)
            sender = dist.recv(t)
            assert t.tolist() == [float(sender)] * 2
    else:
        dist.send(torch.full((2,), float(rank)), dst=0)
    objs = [None] * world
    dist.all_gather_object(objs, {"rank": rank, "name": f"r{rank}"})
    assert objs == [{"rank": r, "name": f"r{r}"} for r in range(world)]
    lst = [rank, "x"] if rank == 0 else [None, None]
    dist.broadcast_object_list(lst, src=0)
    assert lst == [0, "x"]


def errors(rank, world):
    expect_error(RuntimeError, ["all_reduce", f"[Rank {rank}]", "contiguous", "[4, 3]"],
                 lambda: dist.all_reduce(torch.ones(3, 4).t()))
    expect_error(TypeError, ["AVG", "bool"],
                 lambda: dist.all_reduce(torch.ones(3, dtype=torch.bool), op=dist.ReduceOp.AVG))
    os.environ["FERROGRAD_DISTRIBUTED_DEBUG"] = "DETAIL"
    expect_error(RuntimeError, ["mismatch", "all_reduce", "[2]", "[3]"] if world > 1 else [],
                 lambda: dist.all_reduce(torch.ones(2 if rank == 0 else 3)))
    t = torch.ones(4)
    dist.all_reduce(t)  # matching shapes still pass the check
    assert t.tolist() == [float(world)] * 4
    del os.environ["FERROGRAD_DISTRIBUTED_DEBUG"]


def gpu_tensors(rank, world):
    """GPU tensors are staged through host memory and written back in place."""
    if not torch.gpu.is_available() and os.environ.get("FERROGRAD_REQUIRE_GPU") != "1":
        print(f"rank {rank}: GPU checks skipped: no adapter ({torch.gpu.unavailable_reason()})", flush=True)
        return
    t = torch.full((5,), float(rank + 1), device="gpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    assert t.device.type == "gpu" and t.cpu().tolist() == [float(world)] * 5
    t = torch.full((3,), float(rank), device="gpu")
    dist.all_reduce(t, async_op=True).wait()
    assert t.cpu().tolist() == [float(sum(range(world)))] * 3
    outs = [torch.zeros(2, device="gpu") for _ in range(world)]
    dist.all_gather(outs, torch.full((2,), float(rank), device="gpu"))
    assert [o.cpu().tolist() for o in outs] == [[float(r)] * 2 for r in range(world)]


# ------------------------------------------------------------------ DDP


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def cnn():
    from ferrograd.examples.cnn import build_model
    return build_model(size=8, channels=(4, 8), num_classes=4)


class Branchy(nn.Module):
    """A model whose second branch is skipped: its parameters get no gradient."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(8, 4)
        self.unused = nn.Linear(8, 4)

    def forward(self, x):
        return self.trunk(x)


def batches(shape, steps, per_rank, world):
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((per_rank * world,) + shape).astype(np.float32) for _ in range(steps)]
    ys = [rng.integers(0, 4, per_rank * world) for _ in range(steps)]
    return xs, ys


class Shuffled(nn.Module):
    """The head is registered first but used last: gradients become ready in another order
    than the parameters' (reversed) order, which the first buckets assume."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 4)
        self.body = nn.Linear(8, 16)

    def forward(self, x):
        return self.head(self.body(x).relu())


def ddp_matches_single_process(rank, world, make_model, shape, make_opt, accumulate=1, find_unused=False,
                               device="cpu"):
    """10 steps of DDP on each rank's shard == 10 single-process steps on the whole batch."""
    steps, per_rank = 10, 4
    xs, ys = batches(shape, steps * accumulate, per_rank, world)
    torch.manual_seed(rank)  # different initial weights per rank: DDP must broadcast rank 0's
    model = DDP(make_model().to(device), find_unused_parameters=find_unused, bucket_cap_mb=0.0002)
    torch.manual_seed(0)
    reference = make_model().to(device)
    reference.load_state_dict(model.module.state_dict())
    opt, ref_opt = make_opt(model.parameters()), make_opt(reference.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for step in range(steps):
        opt.zero_grad()
        ref_opt.zero_grad()
        for micro in range(accumulate):
            i = step * accumulate + micro
            x, y = torch.from_numpy(xs[i]).to(device), torch.from_numpy(ys[i]).to(device)
            shard = slice(rank * per_rank, (rank + 1) * per_rank)
            if micro < accumulate - 1:
                with model.no_sync():
                    (loss_fn(model(x[shard]), y[shard]) / accumulate).backward()
            else:
                (loss_fn(model(x[shard]), y[shard]) / accumulate).backward()
            (loss_fn(reference(x), y) / accumulate).backward()
        opt.step()
        ref_opt.step()
    for (name, p), q in zip(model.module.named_parameters(), reference.parameters()):
        assert p.device.type == device
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().cpu().numpy(), atol=1e-5, rtol=1e-5,
                                   err_msg=f"{name} after {steps} steps on {world} ranks ({device})")
    return model


def ddp(rank, world):
    sgd = lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
    adam = lambda ps: optim.Adam(ps, lr=0.01)  # noqa: E731
    model = ddp_matches_single_process(rank, world, mlp, (8,), sgd)
    assert list(model.state_dict()) == ["module.0.weight", "module.0.bias", "module.2.weight", "module.2.bias"]
    assert len(model._buckets) > 1  # the tiny cap splits the model into several buckets
    ddp_matches_single_process(rank, world, mlp, (8,), adam)
    ddp_matches_single_process(rank, world, cnn, (1, 8, 8), sgd)
    ddp_matches_single_process(rank, world, cnn, (1, 8, 8), adam)
    ddp_matches_single_process(rank, world, mlp, (8,), sgd, accumulate=3)
    model = ddp_matches_single_process(rank, world, Branchy, (8,), sgd, find_unused=True)
    assert model.module.unused.weight.grad is None
    # Without find_unused_parameters, the skipped branch is reported at the next forward.
    model = DDP(Branchy())
    model(torch.ones(2, 8)).sum().backward()
    expect_error(RuntimeError, ["Expected to have finished reduction", "find_unused_parameters=True"],
                 lambda: model(torch.ones(2, 8)))
    # gradient_as_bucket_view: .grad is a view of the bucket, and still right.
    torch.manual_seed(0)
    model = DDP(mlp(), gradient_as_bucket_view=True)
    for _ in range(2):
        model.zero_grad()
        model(torch.full((2, 8), float(rank))).sum().backward()
    reference = mlp()
    reference.load_state_dict(model.module.state_dict())
    reference(torch.cat([torch.full((2, 8), float(r)) for r in range(world)])).sum().backward()
    for p, q in zip(model.module.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy() / world, rtol=1e-5, atol=1e-6)


def ddp_bucket_rebuild(rank, world):
    """After the first iteration the buckets are rebuilt in the order gradients became ready
    (the same on every rank), and training still equals single-process training."""
    sgd = lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
    model = ddp_matches_single_process(rank, world, Shuffled, (8,), sgd)
    assert model._has_rebuilt_buckets
    torch.manual_seed(0)
    model = DDP(Shuffled(), bucket_cap_mb=0.0002)  # 210 bytes: head.weight 256 B, body.weight 512 B
    ready = []
    for i, p in enumerate(model.module.parameters()):
        p.register_post_accumulate_grad_hook(lambda t, i=i: ready.append(i))
    assert [b.indices for b in model._buckets] == [[3, 2], [1, 0]]  # reversed: body's bias and weight, ...
    x = torch.ones(2, 8)
    model(x).sum().backward()
    assert not model._has_rebuilt_buckets and [b.indices for b in model._buckets] == [[3, 2], [1, 0]]
    assert sorted(ready[:2]) == [0, 1] and sorted(ready[2:]) == [2, 3]  # the head's gradients come first
    model(x).sum().backward()
    assert model._has_rebuilt_buckets
    # In ready order, each bucket closed once it holds at least the cap (210 bytes), as torch's.
    nbytes = [p.numel() * 4 for p in model.module.parameters()]
    groups, current = [], []
    for i in ready[:4]:
        current.append(i)
        if sum(nbytes[j] for j in current) >= 210:
            groups, current = groups + [current], []
    assert [b.indices for b in model._buckets] == groups + ([current] if current else []), (ready, groups)
    everyone = [None] * world
    dist.all_gather_object(everyone, [b.indices for b in model._buckets])
    assert all(e == everyone[0] for e in everyone), everyone
    # No rebuild with find_unused_parameters (torch's rule): the ready set may change each iteration.
    model = DDP(Shuffled(), bucket_cap_mb=0.0002, find_unused_parameters=True)
    for _ in range(2):
        model(x).sum().backward()
    assert not model._has_rebuilt_buckets and [b.indices for b in model._buckets] == [[3, 2], [1, 0]]


def ddp_on_gpu(rank, world):
    """DDP of models on the GPU (gradient buckets staged through host memory) equals
    single-process training on the GPU."""
    if not torch.gpu.is_available() and os.environ.get("FERROGRAD_REQUIRE_GPU") != "1":
        print(f"rank {rank}: GPU DDP checks skipped: no adapter ({torch.gpu.unavailable_reason()})", flush=True)
        return
    sgd = lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
    model = ddp_matches_single_process(rank, world, mlp, (8,), sgd, device="gpu")
    assert all(b.buffer.device.type == "gpu" for b in model._buckets)
    ddp_matches_single_process(rank, world, cnn, (1, 8, 8), lambda ps: optim.Adam(ps, lr=0.01), device="gpu")


def sync_batch_norm(rank, world):
    """SyncBatchNorm over the ranks' uneven batches (one of them empty, and momentum=None, in a
    second round) equals BatchNorm on the concatenated batch: outputs, running statistics, and
    the gradients of the input and (summed over ranks) of weight and bias; on the CPU in
    float64, and on the GPU."""
    from ferrograd.autograd import no_grad
    devices = ["cpu"] + (["gpu"] if torch.gpu.is_available() else [])
    for device, dtype, tol in [(d, torch.float64 if d == "cpu" else torch.float32, 1e-10 if d == "cpu" else 1e-4)
                               for d in devices]:
        rng = np.random.default_rng(3)
        for round_, sizes in enumerate([[3 + r for r in range(world)], [2] * (world - 1) + [0]]):
            xs = [rng.standard_normal((n, 4, 5)) * 2 + 1 for n in sizes]
            ups = [rng.standard_normal(x.shape) for x in xs]
            momentum = 0.3 if round_ == 0 else None  # None: a cumulative average
            reference = nn.BatchNorm1d(4, momentum=momentum).to(device=device, dtype=dtype)
            with no_grad():
                reference.weight.copy_(torch.tensor(rng.standard_normal(4)))
                reference.bias.copy_(torch.tensor(rng.standard_normal(4)))
            local = nn.BatchNorm1d(4, momentum=momentum).to(device=device, dtype=dtype)
            local.load_state_dict(reference.state_dict())
            net = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(local))
            sync = net[0]
            assert type(sync) is nn.SyncBatchNorm and sync.weight is local.weight
            start = sum(sizes[:rank])
            for step in range(2):
                x = torch.tensor(xs[rank], dtype=dtype, device=device, requires_grad=True)
                y = net(x)
                (y * torch.tensor(ups[rank], dtype=dtype, device=device)).sum().backward()
                whole = torch.tensor(np.concatenate(xs), dtype=dtype, device=device, requires_grad=True)
                expected = reference(whole)
                (expected * torch.tensor(np.concatenate(ups), dtype=dtype, device=device)).sum().backward()
                what = f"SyncBatchNorm on {device}, batches {sizes}, step {step}, rank {rank}"
                rows = slice(start, start + sizes[rank])
                np.testing.assert_allclose(y.detach().cpu().numpy(), expected.detach().cpu().numpy()[rows],
                                           rtol=tol, atol=tol, err_msg=what)
                np.testing.assert_allclose(x.grad.cpu().numpy(), whole.grad.cpu().numpy()[rows], rtol=tol,
                                           atol=tol, err_msg=what + " input grad")
                for name in ("weight", "bias"):
                    summed = getattr(sync, name).grad.clone()
                    dist.all_reduce(summed)
                    np.testing.assert_allclose(summed.cpu().numpy(), getattr(reference, name).grad.cpu().numpy(),
                                               rtol=tol, atol=tol, err_msg=f"{what} {name} grad")
                for name in ("running_mean", "running_var", "num_batches_tracked"):
                    np.testing.assert_allclose(getattr(sync, name).cpu().numpy(),
                                               getattr(reference, name).cpu().numpy(), rtol=tol, atol=tol,
                                               err_msg=f"{what} {name}")
        sync.eval()
        reference.eval()
        x = torch.tensor(xs[0], dtype=dtype, device=device)
        np.testing.assert_allclose(sync(x).detach().cpu().numpy(), reference(x).detach().cpu().numpy(), rtol=tol,
                                   atol=tol)


def dead_rank(rank, world):
    """The last rank dies before a collective; the others must not hang."""
    if rank == world - 1:
        os._exit(3)
    dist.all_reduce(torch.ones(3))


def _sleep_then_leave(seconds=20):
    """The absent rank: mpirun ends it once the others exit (they exit without MPI_Finalize)."""
    time.sleep(seconds)
    os._exit(0)


def expect_timeout(rank, op, fn, seconds=1.0):
    """`fn` raises a catchable RuntimeError naming the op, the rank and the timeout, within the
    timeout (plus slack for a loaded machine); after it every call raises at once."""
    start = time.monotonic()
    expect_error(RuntimeError, [f"[Rank {rank}] {op} on a group of", "timed out after 1 s"], fn)
    took = time.monotonic() - start
    assert seconds <= took < seconds + 4, took
    start = time.monotonic()
    expect_error(RuntimeError, ["all_reduce: ferrograd.distributed cannot be used after an operation timed out"],
                 lambda: dist.all_reduce(torch.ones(2)))
    assert time.monotonic() - start < 0.5
    print(f"rank {rank}: {op} timed out as expected after {took:.2f} s", flush=True)


def hung_rank(rank, world):
    """The last rank never joins: wait() on an async collective raises after the timeout."""
    if rank == world - 1:
        _sleep_then_leave()
    expect_timeout(rank, "all_reduce", lambda: dist.all_reduce(torch.ones(3), async_op=True).wait())


def hung_rank_blocking(rank, world):
    """The same with a blocking call (small: MPI's non-blocking variant, polled)."""
    if rank == world - 1:
        _sleep_then_leave()
    expect_timeout(rank, "barrier", dist.barrier)


def hung_rank_large(rank, world):
    """A large blocking call (a polled barrier, then MPI's blocking call) never starts the call."""
    if rank == world - 1:
        _sleep_then_leave()
    expect_timeout(rank, "broadcast", lambda: dist.broadcast(torch.ones(1 << 19), src=0))


def rank_left(rank, world):
    """The last rank leaves without joining the collective (its loop ended early): the others'
    all_reduce raises instead of waiting for it forever."""
    if rank == world - 1:
        sys.exit(0)
    expect_timeout(rank, "all_reduce", lambda: dist.all_reduce(torch.ones(3)))


CASES = {"all": [collectives, zero_copy_and_async, groups, point_to_point, errors, gpu_tensors, ddp,
                 ddp_bucket_rebuild, ddp_on_gpu, sync_batch_norm],
         "dead_rank": [dead_rank], "hung_rank": [hung_rank], "hung_rank_blocking": [hung_rank_blocking],
         "hung_rank_large": [hung_rank_large], "rank_left": [rank_left]}


def main():
    case = sys.argv[1]
    expect_error(ValueError, ["Default process group has not been initialized"], lambda: dist.get_rank())
    expect_error(RuntimeError, ["Default process group has not been initialized"],
                 lambda: dist.all_reduce(torch.ones(1)))
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=1 if case != "all" else 120))
    rank, world = dist.get_rank(), dist.get_world_size()
    for fn in CASES[case]:
        fn(rank, world)
    dist.destroy_process_group()
    assert not dist.is_initialized()
    print(f"rank {rank}: ok", flush=True)


if __name__ == "__main__":
    main()
