//! GPU kernels of the index-driven ops (`shaders/index.wgsl`): gather along a dim with int64
//! indices, its partner scatter_add, and scatter; index_select and index_add are the same
//! kernels with the 1-D index broadcast over the other dims (a zero-stride view, no copy).
use super::ops::{binary, buffer, contiguous, full, split_groups, to_cpu, u32_of, where_select, write_into};
use super::reduce::reduce;
use crate::op::ReduceOp;
use super::runtime::{context, Kernel};
use super::{elem_size, Shader};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::op::{index_out_of_range, no_kernel, BinaryOp, IndexOp, Op};
use crate::storage::Storage;
use crate::tensor::Tensor;

pub static INDEX: Shader = Shader { name: "index", body: include_str!("../../../../shaders/index.wgsl") };

const WG: usize = 256;
const MAX_DIMS: usize = 8;

/// `op` along `d` over the inputs `ops::index` prepared (see `Op::Index`). Out-of-range
/// index values: scatter and index_add check them first (two readbacks); gather and
/// scatter_add flag them on the device, raised at the next read.
pub fn index(op: IndexOp, d: usize, inputs: &[&Tensor]) -> Result<Tensor> {
    let (x, index) = (inputs[0], inputs[1]);
    if !matches!(x.dtype(), DType::F32 | DType::I64 | DType::Bool) {
        return Err(no_kernel(&Op::Index { op, dim: d }, x.dtype(), x.device()));
    }
    if x.ndim().max(1) > MAX_DIMS {
        return Err(Error::NotImplemented(format!("{} on {}: more than {MAX_DIMS} dims", op.name(), x.device())));
    }
    let size = x.shape().get(d).copied().unwrap_or(1);
    match op {
        IndexOp::Gather => gather(x, d, index),
        IndexOp::ScatterAdd => scatter_add(x, d, index, inputs[2]),
        IndexOp::Scatter => {
            check_range(index, size, d, op)?;
            scatter(x, d, index, inputs[2])
        }
        IndexOp::IndexSelect => gather(x, d, &broadcast_index(index, x.shape(), d)),
        IndexOp::IndexAdd => {
            check_range(index, size, d, op)?;
            scatter_add(x, d, &broadcast_index(index, inputs[2].shape(), d), inputs[2])
        }
    }
}

/// PyTorch's RuntimeError when an element of `index` lies outside [0, size) (two readbacks:
/// its min and max).
fn check_range(index: &Tensor, size: usize, d: usize, op: IndexOp) -> Result<()> {
    if index.numel() == 0 {
        return Ok(());
    }
    let all: Vec<usize> = (0..index.ndim()).collect();
    let lo = to_cpu(&reduce(ReduceOp::Min, index, &all, false)?)?.item::<i64>()?;
    let hi = to_cpu(&reduce(ReduceOp::Max, index, &all, false)?)?.item::<i64>()?;
    let size = size as i64;
    match [lo, hi].into_iter().find(|&i| i < 0 || i >= size) {
        Some(i) => Err(Error::Runtime(format!("{}(): index {i} is out of bounds for dimension {d} with size {size}", op.name()))),
        None => Ok(()),
    }
}

/// The KIND constant of index.wgsl for elements of `dtype`.
fn kind(dtype: DType) -> f64 {
    match dtype {
        DType::I64 => 1.0,
        DType::Bool => 2.0,
        _ => 0.0,
    }
}

/// Launches an index.wgsl entry over the elements of `index` (viewed with `ndim` dims),
/// indexing `target` along `d`; `src` is read by the scatters; `claims` is scatter's first
/// claim word in `out`.
fn launch(entry: &'static str, target: &Tensor, index: &Tensor, src: Option<&Tensor>, out: &Tensor, d: usize, claims: usize) -> Result<()> {
    let n = index.numel();
    if n == 0 {
        return Ok(());
    }
    let nd = index.ndim().max(1);
    let pad = |v: &[usize]| if v.is_empty() { vec![1] } else { v.to_vec() };
    let shape = pad(index.shape());
    let tstr = if target.ndim() == 0 { vec![1] } else { target.layout().strides.clone() };
    let istr = if index.ndim() == 0 { vec![0] } else { index.layout().strides.clone() };
    let size = if target.ndim() == 0 { 1 } else { target.shape()[d] };
    if size > i32::MAX as usize {
        return Err(Error::NotImplemented(format!("{entry}: a dim of {size} elements is too long for the GPU kernels")));
    }
    let mut info = vec![0u32; 48];
    info[0] = u32_of(n, "element count")?;
    info[1] = nd as u32;
    info[2] = d as u32;
    info[3] = u32_of(target.offset(), "offset")?;
    info[4] = u32_of(index.offset(), "offset")?;
    info[5] = size as u32;
    info[7] = u32_of(claims, "claim offset")?;
    u32_of(target.storage().len() * 2, "storage length")?;
    u32_of(index.storage().len() * 2, "storage length")?;
    if let Some(s) = src {
        info[6] = u32_of(s.offset(), "offset")?;
        u32_of(s.storage().len(), "storage length")?;
        let sstr = if s.ndim() == 0 { vec![0] } else { s.layout().strides.clone() };
        for k in 0..nd {
            info[40 + k] = u32_of(sstr[k], "stride")?;
        }
    }
    for k in 0..nd {
        info[16 + k] = shape[k] as u32;
        info[24 + k] = u32_of(tstr[k], "stride")?;
        info[32 + k] = u32_of(istr[k], "stride")?;
    }
    let consts = [("KIND", kind(out.dtype()))];
    let k = Kernel { shader: &INDEX, entry, constants: &consts, inputs: 2 };
    let first = if entry == "gather_main" { target } else { src.expect("the scatters read src") };
    let ctx = context()?;
    ctx.dispatch_multi(&k, &[Some(buffer(first)), Some(buffer(index))], &[buffer(out), ctx.error_flags()], &info, split_groups(n.div_ceil(WG))?)
}

/// gather: out has the index's shape.
pub(crate) fn gather(x: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    let out = super::ops::empty(index.shape(), x.dtype(), x.device())?;
    launch("gather_main", x, index, None, &out, d, 0)?;
    Ok(out)
}

/// A copy of `x` with `src` added at `index` along `d`.
pub(crate) fn scatter_add(x: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    let out = contiguous(x)?;
    launch("scatter_add_main", &out, index, Some(src), &out, d, 0)?;
    Ok(out)
}

/// A copy of `x` with `src` written at `index` along `d`; where several index elements name
/// one position the last one wins, as on the CPU. The output's buffer holds one claim word per
/// element after the values: the first launch marks each position with the last index element
/// naming it, the second lets that element write.
fn scatter(x: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    let ctx = context()?;
    let n = x.numel();
    let words = elem_size(x.dtype()) / 4;
    let buf = ctx.alloc(((words + 1) * n * 4) as u64)?;
    let out = Tensor::from_parts(Storage::from_gpu(buf, n, x.dtype(), x.device()), Layout::contiguous(x.shape()));
    write_into(&out, x)?;
    let zeros = full(&[n], 0.0, DType::Bool, x.device())?;
    ctx.copy(buffer(&zeros), 0, buffer(&out), (words * n * 4) as u64, (n * 4) as u64)?;
    launch("scatter_claim_main", &out, index, Some(src), &out, d, words * n)?;
    launch("scatter_main", &out, index, Some(src), &out, d, words * n)?;
    Ok(out)
}

/// A 1-D (or 0-d) index viewed with `shape`'s dims, but its own length along `d`, varying
/// only along `d`: a zero-stride view, no copy.
fn broadcast_index(index: &Tensor, shape: &[usize], d: usize) -> Tensor {
    let mut shape = shape.to_vec();
    shape[d] = index.numel();
    let mut strides = vec![0; shape.len()];
    strides[d] = index.strides().first().copied().unwrap_or(0);
    Tensor::from_parts(index.storage().clone(), Layout { shape, strides, offset: index.offset() })
}

/// Flat positions wrapped into `0..size` (see `Op::WrapIndex`): one readback for the range
/// check, then the wrap on the device (the scatter kernels take non-negative positions only).
pub fn wrap_index(idx: &Tensor, size: usize, dim: usize) -> Result<Tensor> {
    use BinaryOp::{Add, Ge, LogicalOr, Lt};
    if idx.numel() == 0 {
        return Ok(idx.clone());
    }
    let n = i64::try_from(size).map_err(|_| no_kernel(&Op::WrapIndex { size, dim }, idx.dtype(), idx.device()))?;
    let bad = binary(LogicalOr, &binary(Lt, idx, &Tensor::scalar(-n))?, &binary(Ge, idx, &Tensor::scalar(n))?)?;
    if to_cpu(&reduce(ReduceOp::Any, &bad, &[0], false)?)?.item::<bool>()? {
        let i = to_cpu(idx)?.to_vec::<i64>().into_iter().find(|&i| i < -n || i >= n).unwrap_or_default();
        return Err(index_out_of_range(i, dim, size));
    }
    where_select(&binary(Lt, idx, &Tensor::scalar(0i64))?, &binary(Add, idx, &Tensor::scalar(n))?, idx)
}
