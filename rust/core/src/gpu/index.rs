//! Index-driven ops on the GPU (`shaders/index.wgsl`): gather along a dim with int64 indices
//! and its partner scatter_add; index_select and index_add are the same kernels with the
//! 1-D index broadcast over the other dims (a zero-stride view, no copy). Autograd as on the
//! CPU: each op's backward is its partner.
use super::ops::{buffer, contiguous, full, split_groups, u32_of};
use super::runtime::{context, Kernel};
use super::{dtype_error, mixed, Shader};
use crate::autograd::Recorder;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::wrap_dim;
use crate::tensor::Tensor;

pub static INDEX: Shader = Shader { name: "index", body: include_str!("../../../../shaders/index.wgsl") };

const WG: usize = 256;
const MAX_DIMS: usize = 8;

fn check(op: &str, x: &Tensor, index: &Tensor) -> Result<()> {
    if index.device() != x.device() {
        return Err(mixed(x.device(), index.device()));
    }
    if index.dtype() != DType::I64 {
        return Err(Error::DType(format!("{op}(): Expected dtype int64 for index, got {}", index.dtype())));
    }
    if x.dtype() != DType::F32 {
        return Err(dtype_error(op, x.dtype(), x.device()));
    }
    if x.ndim().max(1) > MAX_DIMS {
        return Err(Error::NotImplemented(format!("{op} on {}: more than {MAX_DIMS} dims", x.device())));
    }
    Ok(())
}

/// Launches gather_main or scatter_add_main over the elements of `index` (viewed with
/// `ndim` dims), indexing `target` along `d`; `src` is read by scatter_add.
fn launch(entry: &'static str, target: &Tensor, index: &Tensor, src: Option<&Tensor>, out: &Tensor, d: usize) -> Result<()> {
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
    u32_of(target.storage().len(), "storage length")?;
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
    let k = Kernel { shader: &INDEX, entry, constants: &[], inputs: 2 };
    let first = if entry == "gather_main" { target } else { src.expect("scatter_add reads src") };
    context()?.dispatch(&k, &[Some(buffer(first)), Some(buffer(index))], buffer(out), &info, split_groups(n.div_ceil(WG))?)
}

/// gather without autograd: out has the index's shape.
fn gather_forward(x: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    let out = super::ops::empty(index.shape(), x.dtype(), x.device())?;
    launch("gather_main", x, index, None, &out, d)?;
    Ok(out)
}

/// A copy of `x` with `src` added at `index` along `d` (no autograd).
fn scatter_add_forward(x: &Tensor, d: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    if src.device() != x.device() {
        return Err(mixed(x.device(), src.device()));
    }
    let src = if src.dtype() == DType::F32 { src.clone() } else { super::ops::cast(src, DType::F32)? };
    let out = contiguous(x)?;
    launch("scatter_add_main", &out, index, Some(&src), &out, d)?;
    Ok(out)
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
