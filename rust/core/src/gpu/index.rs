//! Index-driven ops on the GPU (`shaders/index.wgsl`): gather along a dim with int64 indices,
//! its partner scatter_add, and scatter; index_select and index_add are the same kernels with
//! the 1-D index broadcast over the other dims (a zero-stride view, no copy). Autograd as on
//! the CPU: each op's backward is its partner.
use super::ops::{buffer, cast, contiguous, full, split_groups, to_cpu, u32_of, write_into};
use super::reduce::reduce;
use crate::op::ReduceOp;
use super::runtime::{context, Kernel};
use super::{dtype_error, elem_size, is_cpu_scalar, mixed, Shader};
use crate::autograd::Recorder;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::{wrap_dim, Layout};
use crate::storage::Storage;
use crate::tensor::Tensor;

pub static INDEX: Shader = Shader { name: "index", body: include_str!("../../../../shaders/index.wgsl") };

const WG: usize = 256;
const MAX_DIMS: usize = 8;

fn check(op: &str, x: &Tensor, index: &Tensor) -> Result<()> {
    if index.device() != x.device() {
        return Err(mixed(x.device(), index.device()));
    }
    if index.dtype() != DType::I64 {
        return Err(Error::Runtime(format!("{op}(): Expected dtype int64 for index, got {}", index.dtype())));
    }
    if !matches!(x.dtype(), DType::F32 | DType::I64 | DType::Bool) {
        return Err(dtype_error(op, x.dtype(), x.device()));
    }
    if x.ndim().max(1) > MAX_DIMS {
        return Err(Error::NotImplemented(format!("{op} on {}: more than {MAX_DIMS} dims", x.device())));
    }
    Ok(())
}

/// PyTorch's RuntimeError when an element of `index` lies outside [0, size) (two readbacks:
/// its min and max).
fn check_range(index: &Tensor, size: usize, d: usize, op: &str) -> Result<()> {
    if index.numel() == 0 {
        return Ok(());
    }
    let all: Vec<usize> = (0..index.ndim()).collect();
    let lo = to_cpu(&reduce(ReduceOp::Min, index, &all, false)?)?.item::<i64>()?;
    let hi = to_cpu(&reduce(ReduceOp::Max, index, &all, false)?)?.item::<i64>()?;
    let size = size as i64;
    match [lo, hi].into_iter().find(|&i| i < 0 || i >= size) {
        Some(i) => Err(Error::Runtime(format!("{op}(): index {i} is out of bounds for dimension {d} with size {size}"))),
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

/// gather without autograd: out has the index's shape.
pub(crate) fn gather_forward(x: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    let out = super::ops::empty(index.shape(), x.dtype(), x.device())?;
    launch("gather_main", x, index, None, &out, d, 0)?;
    Ok(out)
}

/// A copy of `x` with `src` added at `index` along `d` (no autograd).
fn scatter_add_forward(x: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    if src.device() != x.device() {
        return Err(mixed(x.device(), src.device()));
    }
    let src = if src.dtype() == x.dtype() { src.clone() } else { cast(src, x.dtype())? };
    let out = contiguous(x)?;
    launch("scatter_add_main", &out, index, Some(&src), &out, d, 0)?;
    Ok(out)
}

/// A copy of `x` with `src` written at `index` along `d`; where several index elements name
/// one position the last one wins, as on the CPU (no autograd). The output's buffer holds one
/// claim word per element after the values: the first launch marks each position with the
/// last index element naming it, the second lets that element write.
fn scatter_forward(x: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    let ctx = context()?;
    let src = if src.dtype() == x.dtype() { src.clone() } else { cast(src, x.dtype())? };
    let n = x.numel();
    let words = elem_size(x.dtype()) / 4;
    let buf = ctx.alloc(((words + 1) * n * 4) as u64)?;
    let out = Tensor::from_parts(Storage::from_gpu(buf, n, x.dtype(), x.device()), Layout::contiguous(x.shape()));
    write_into(&out, x)?;
    let zeros = full(&[n], 0.0, DType::Bool, x.device())?;
    ctx.copy(buffer(&zeros), 0, buffer(&out), (words * n * 4) as u64, (n * 4) as u64)?;
    launch("scatter_claim_main", &out, index, Some(&src), &out, d, words * n)?;
    launch("scatter_main", &out, index, Some(&src), &out, d, words * n)?;
    Ok(out)
}

/// The src of a scatter: a 0-d src (a Python number) expanded to the index's shape, moved to
/// `x`'s device; else checked to cover the index.
fn scatter_src(x: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    let src = if is_cpu_scalar(src) {
        // (a Python number arrives as a float64 scalar, which the GPU does not hold)
        src.to_dtype(x.dtype())?.to_device(x.device())?
    } else if src.device() != x.device() {
        return Err(mixed(x.device(), src.device()));
    } else {
        src.clone()
    };
    if src.ndim() == 0 && index.ndim() > 0 {
        return src.expand_to(index.shape());
    }
    for k in 0..index.ndim() {
        if index.shape()[k] > src.shape().get(k).copied().unwrap_or(1) {
            return Err(Error::Shape(format!(
                "Expected index {:?} to be smaller than self {:?} apart from dimension {} and to be smaller size than src {:?}",
                index.shape(),
                x.shape(),
                d,
                src.shape()
            )));
        }
    }
    Ok(src)
}

/// `scatter(dim, index, src)` on the GPU with autograd (ScatterBackward0, as on the CPU).
pub fn scatter(x: &Tensor, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    check("scatter", x, index)?;
    let d = wrap_dim(dim, x.ndim())?;
    crate::ops::index::check_scatter_shapes(x, index, d, "scatter")?;
    let src = scatter_src(x, d, index, src)?;
    check_range(index, if x.ndim() == 0 { 1 } else { x.shape()[d] }, d, "scatter")?;
    let out = scatter_forward(x, d, index, &src)?;
    let Some(rec) = Recorder::new("ScatterBackward0", &[x, &src]) else { return Ok(out) };
    let (index, src_shape) = (index.clone(), src.shape().to_vec());
    Ok(rec.finish(out, false, move |ctx, g| {
        let gself = if ctx.needs(0) { Some(scatter(g, d as i64, &index, &Tensor::zeros(&[], g.dtype())?)?) } else { None };
        let gsrc = if ctx.needs(1) {
            let gi = gather(g, d as i64, &index)?;
            if gi.shape() != src_shape.as_slice() {
                return Err(Error::NotImplemented(format!("scatter backward on {}: src larger than index", g.device())));
            }
            Some(gi)
        } else {
            None
        };
        Ok(vec![gself, gsrc])
    }))
}

/// `gather(dim, index)` on the GPU with autograd (the CPU's shape checks; backward is
/// scatter_add into zeros).
pub fn gather(x: &Tensor, dim: i64, index: &Tensor) -> Result<Tensor> {
    check("gather", x, index)?;
    let d = wrap_dim(dim, x.ndim())?;
    crate::ops::index::check_scatter_shapes(x, index, d, "gather")?;
    let out = gather_forward(x, d, index)?;
    let Some(rec) = Recorder::new("GatherBackward0", &[x]) else { return Ok(out) };
    let (shape, index) = (x.shape().to_vec(), index.clone());
    Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(scatter_add(&full(&shape, 0.0, g.dtype(), g.device())?, d as i64, &index, g)?)])))
}

/// `scatter_add(dim, index, src)` on the GPU with autograd (float32).
pub fn scatter_add(x: &Tensor, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    check("scatter_add", x, index)?;
    let d = wrap_dim(dim, x.ndim())?;
    crate::ops::index::check_scatter_shapes(x, index, d, "scatter_add")?;
    let src = &scatter_src(x, d, index, src)?;
    let out = scatter_add_forward(x, d, index, src)?;
    let Some(rec) = Recorder::new("ScatterAddBackward0", &[x, src]) else { return Ok(out) };
    let (index, src_shape) = (index.clone(), src.shape().to_vec());
    Ok(rec.finish(out, false, move |ctx, g| {
        let gsrc = if ctx.needs(1) {
            let gi = gather_forward(g, d, &index)?;
            if gi.shape() != src_shape.as_slice() {
                return Err(Error::NotImplemented(format!("scatter_add backward on {}: src larger than index", g.device())));
            }
            Some(gi)
        } else {
            None
        };
        Ok(vec![Some(g.clone()), gsrc])
    }))
}

/// A 1-D (or 0-d) index viewed with `shape`'s dims, varying only along `d`.
fn broadcast_index(index: &Tensor, shape: &[usize], d: usize) -> Result<Tensor> {
    let mut s = vec![1usize; shape.len()];
    s[d] = index.numel();
    let mut full_shape = shape.to_vec();
    full_shape[d] = index.numel();
    index.reshape_usize(&s)?.expand_to(&full_shape)
}

/// `index_select(dim, index)` on the GPU with autograd (IndexSelectBackward0: index_add into
/// zeros).
pub fn index_select(x: &Tensor, dim: i64, index: &Tensor) -> Result<Tensor> {
    check("index_select", x, index)?;
    if index.ndim() > 1 {
        return Err(Error::Index("index_select(): Index is supposed to be a vector".into()));
    }
    let xs = if x.ndim() == 0 { x.reshape_usize(&[1])? } else { x.clone() };
    let d = wrap_dim(dim, xs.ndim())?;
    let bi = broadcast_index(index, xs.shape(), d)?;
    let out = gather_forward(&xs, d, &bi)?;
    let out = if x.ndim() == 0 { out.reshape_usize(&[])? } else { out };
    let Some(rec) = Recorder::new("IndexSelectBackward0", &[x]) else { return Ok(out) };
    let (shape, xshape) = (xs.shape().to_vec(), x.shape().to_vec());
    Ok(rec.finish(out, false, move |_, g| {
        let zeros = full(&shape, 0.0, g.dtype(), g.device())?;
        let gs = if g.ndim() == 0 { g.reshape_usize(&[1])? } else { g.clone() };
        Ok(vec![Some(scatter_add_forward(&zeros, d, &bi, &gs)?.reshape_usize(&xshape)?)])
    }))
}

/// `index_add(dim, index, source)` on the GPU with autograd.
pub fn index_add(x: &Tensor, dim: i64, index: &Tensor, source: &Tensor) -> Result<Tensor> {
    check("index_add", x, index)?;
    if source.device() != x.device() {
        return Err(mixed(x.device(), source.device()));
    }
    let xs = if x.ndim() == 0 { x.reshape_usize(&[1])? } else { x.clone() };
    let ss = if source.ndim() == 0 { source.reshape_usize(&[1])? } else { source.clone() };
    let d = wrap_dim(dim, xs.ndim())?;
    let mut expect = xs.shape().to_vec();
    expect[d] = index.numel();
    if ss.shape() != expect.as_slice() || index.ndim() > 1 {
        return Err(Error::Shape(format!(
            "index_add_(): source shape {:?} does not match self shape {:?} with {} indices along dim {}",
            ss.shape(),
            xs.shape(),
            index.numel(),
            d
        )));
    }
    check_range(index, xs.shape()[d], d, "index_add")?;
    let bi = broadcast_index(index, &expect, d)?;
    let out = scatter_add_forward(&xs, d, &bi, &ss)?.reshape_usize(x.shape())?;
    let Some(rec) = Recorder::new("IndexAddBackward0", &[x, source]) else { return Ok(out) };
    let src_shape = source.shape().to_vec();
    Ok(rec.finish(out, false, move |ctx, g| {
        let gs = if ctx.needs(1) {
            let gx = if g.ndim() == 0 { g.reshape_usize(&[1])? } else { g.clone() };
            Some(gather_forward(&gx, d, &bi)?.reshape_usize(&src_shape)?)
        } else {
            None
        };
        Ok(vec![Some(g.clone()), gs])
    }))
}
