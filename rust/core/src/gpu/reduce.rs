//! Reductions on the GPU (`shaders/reduce.wgsl`): workgroup tree reductions over rows (the
//! reduced dims permuted last), long rows in two passes; argmax/argmin one workgroup per row.
//! Tensors larger than one storage binding are reduced in slices whose partial results are
//! combined here, kernel by kernel.
use super::ops::{binary, buffer, cast, coalesce, contiguous, empty, fits_binding, split_groups, u32_of, view_window, write_into, Span, MAX_DIMS};
use super::runtime::{context, Kernel, Window};
use super::{elem_size, REDUCE};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::op::{no_kernel, Extremum, Op, ReduceOp};
use crate::op::BinaryOp;
use crate::tensor::Tensor;

/// Elements one reduction workgroup sums before a second pass takes over.
const REDUCE_CHUNK: usize = 4096;

/// `op` over `dims` of `x`, as `Op::Reduce` describes: float32 and int64 kernels (exact,
/// wrapping sums as on the CPU); bool words reduce as float32 0/1.
pub fn reduce(op: ReduceOp, x: &Tensor, dims: &[usize], keepdim: bool) -> Result<Tensor> {
    match (op, x.dtype()) {
        // any: a sum of the 0/1 words (0 over no elements), all: their min (+inf over none).
        (ReduceOp::Any, DType::Bool) => cast(&reduce_rows(ReduceOp::Sum, &cast(x, DType::F32)?, dims, keepdim)?, DType::Bool),
        (ReduceOp::All | ReduceOp::Max | ReduceOp::Min, DType::Bool) => {
            let code = if op == ReduceOp::All { ReduceOp::Min } else { op };
            cast(&reduce_rows(code, &cast(x, DType::F32)?, dims, keepdim)?, DType::Bool)
        }
        (ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min, DType::F32 | DType::I64) => reduce_rows(op, x, dims, keepdim),
        (_, dt) => Err(no_kernel(&Op::Reduce { op, dims, keepdim }, dt, x.device())),
    }
}

/// Joins GPU tensors of one dtype along `d` into a new contiguous tensor (the partial results
/// of launches split to fit a storage binding).
pub(crate) fn concat(parts: &[Tensor], d: usize) -> Result<Tensor> {
    let first = parts.first().ok_or_else(|| Error::Runtime("concat of no GPU tensors".into()))?;
    let mut shape = first.shape().to_vec();
    shape[d] = parts.iter().map(|p| p.shape()[d]).sum();
    let out = empty(&shape, first.dtype(), first.device())?;
    let mut start = 0;
    for p in parts {
        let len = p.shape()[d];
        write_into(&out.view_with_layout(out.layout().slice(d, start, start + len, 1)), p)?;
        start += len;
    }
    Ok(out)
}

/// Reduces float32 or int64 `x` over `dims` with `op` (Sum, Prod, Max or Min).
fn reduce_rows(op: ReduceOp, x: &Tensor, dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let dev = x.device();
    let nd = x.ndim();
    let mut order: Vec<usize> = (0..nd).filter(|d| !dims.contains(d)).collect();
    order.extend(dims.iter().copied());
    let moved = x.layout().permute(&order)?;
    let rows: usize = (0..nd).filter(|d| !dims.contains(d)).map(|d| x.shape()[d]).product();
    let inner: usize = dims.iter().map(|&d| x.shape()[d]).product();
    let out_shape: Vec<usize> = (0..nd)
        .filter_map(|d| if dims.contains(&d) { keepdim.then_some(1) } else { Some(x.shape()[d]) })
        .collect();
    if !fits_binding(x.shape(), &Span { offset: x.offset(), strides: x.strides(), elem: 4 })? || !fits_binding(&[rows], &Span { offset: 0, strides: &[1], elem: 4 })? {
        return reduce_split(op, x, dims, keepdim, &out_shape);
    }
    let (sh, st) = coalesce(&moved.shape, std::slice::from_ref(&moved.strides));
    if sh.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("{} on {dev}: more than {MAX_DIMS} dims after merging", op.name())));
    }
    let contiguous = sh.len() <= 1 && st[0].first().copied().unwrap_or(1) == 1;
    let out = empty(&out_shape, x.dtype(), dev)?;
    if rows == 0 {
        return Ok(out);
    }
    reduce_pass(x, &sh, &st[0], moved.offset, contiguous, rows, inner, op, &out)?;
    Ok(out)
}

/// Into how many slices along dim `d` a tensor of `bytes` (of its view or its result) is cut
/// so that each fits one storage binding with room to spare (a slice still too large is cut
/// again by the caller's recursion).
pub(crate) fn slice_count(bytes: usize, d_len: usize) -> Result<usize> {
    let half = (context()?.max_binding() / 2).max(1) as usize;
    Ok(bytes.div_ceil(half).clamp(2, d_len.max(2)))
}

/// The bytes a view reaches from its first element to its last.
pub(crate) fn reach_bytes(t: &Tensor) -> usize {
    (t.shape().iter().zip(t.strides()).map(|(&n, &s)| n.saturating_sub(1) * s).sum::<usize>() + 1) * elem_size(t.dtype())
}

/// `reduce` of a tensor, or to a result, larger than one storage binding: reduces slices
/// along the dim outermost in memory (the result's outermost kept dim when only the result is
/// too large) and combines the partial results: side by side when that dim is kept, added
/// (or their maximum / minimum taken) when it is reduced.
fn reduce_split(op: ReduceOp, x: &Tensor, dims: &[usize], keepdim: bool, out_shape: &[usize]) -> Result<Tensor> {
    let l = x.layout();
    let big_input = !fits_binding(x.shape(), &Span { offset: x.offset(), strides: x.strides(), elem: 4 })?;
    let candidates = (0..x.ndim()).filter(|&d| l.shape[d] > 1 && (big_input || !dims.contains(&d)));
    let d = if big_input { candidates.max_by_key(|&d| l.strides[d]) } else { candidates.min() };
    let d = d.ok_or_else(|| Error::NotImplemented(format!("'{}' on {}: no dim to split the tensor along to fit a storage binding", op.name(), x.device())))?;
    let bytes = if big_input { reach_bytes(x) } else { out_shape.iter().product::<usize>() * 4 };
    let len = l.shape[d].div_ceil(slice_count(bytes, l.shape[d])?);
    let mut parts = vec![];
    for start in (0..l.shape[d]).step_by(len) {
        let part = x.view_with_layout(l.slice(d, start, (start + len).min(l.shape[d]), 1));
        parts.push(reduce_rows(op, &part, dims, true)?);
    }
    let r = if dims.contains(&d) {
        // Element-wise, as the partial results may be as large as the input.
        let combine = match op {
            ReduceOp::Max => BinaryOp::Maximum,
            ReduceOp::Min => BinaryOp::Minimum,
            ReduceOp::Prod => BinaryOp::Mul,
            _ => BinaryOp::Add,
        };
        parts.iter().skip(1).try_fold(parts[0].clone(), |acc, p| binary(combine, &acc, p))?
    } else {
        concat(&parts, d)?
    };
    // `r` is contiguous: without keepdim, the same elements in the result's shape.
    Ok(if keepdim { r } else { r.view_with_layout(Layout::contiguous(out_shape)) })
}

/// One or two launches of reduce_main writing `rows` results into `out`.
#[allow(clippy::too_many_arguments)]
fn reduce_pass(x: &Tensor, shape: &[usize], strides: &[usize], offset: usize, contiguous: bool, rows: usize, inner: usize, op: ReduceOp, out: &Tensor) -> Result<()> {
    let ctx = context()?;
    // Enough workgroups to fill the device: split long rows when there are few of them.
    let chunks = if inner > REDUCE_CHUNK { inner.div_ceil(REDUCE_CHUNK).min((1024 / rows).max(1)) } else { 1 };
    let chunk_len = inner.div_ceil(chunks).max(1);
    let mut info = vec![0u32; 32];
    info[0] = u32_of(rows, "rows")?;
    info[1] = u32_of(inner, "row length")?;
    info[2] = chunks as u32;
    info[3] = u32_of(chunk_len, "chunk")?;
    info[4] = shape.len() as u32;
    info[6] = u32::from(contiguous);
    for d in 0..shape.len() {
        info[16 + d] = shape[d] as u32;
        info[24 + d] = u32_of(strides[d], "stride")?;
    }
    let consts = [("OP", f64::from(op.code()))];
    let entry = if x.dtype() == DType::I64 { "reduce64_main" } else { "reduce_main" };
    let k = Kernel { shader: &REDUCE, entry, constants: &consts, inputs: 1 };
    let elem = elem_size(x.dtype());
    let (input, rel) = view_window(buffer(x), offset, shape, strides, elem)?;
    info[5] = u32_of(rel, "offset")?;
    if chunks == 1 {
        let (output, _) = view_window(buffer(out), 0, &[rows], &[1], elem)?;
        return ctx.dispatch_windows(&k, &[Some(input)], &[output], &info, split_groups(rows)?);
    }
    let partial = empty(&[rows, chunks], x.dtype(), x.device())?;
    ctx.dispatch_windows(&k, &[Some(input)], &[Window::whole(buffer(&partial))], &info, split_groups(rows * chunks)?)?;
    reduce_pass(&partial, &[rows * chunks], &[1], 0, true, rows, chunks, op, out)
}

/// The int64 index of the first max (or min) along `d`, as `Op::ArgReduce` describes: float32
/// and int64 kernels (bool words compare as int64 0/1); NaN counts as the extreme, as on the
/// CPU. One workgroup per row.
pub fn arg_reduce(op: Extremum, x: &Tensor, d: usize, keepdim: bool) -> Result<Tensor> {
    match x.dtype() {
        DType::Bool => arg_reduce(op, &cast(x, DType::I64)?, d, keepdim),
        DType::F32 | DType::I64 => arg_reduce_rows(op, x, d, keepdim),
        dt => Err(no_kernel(&Op::ArgReduce { op, dim: d, keepdim }, dt, x.device())),
    }
}

fn arg_reduce_rows(op: Extremum, x: &Tensor, d: usize, keepdim: bool) -> Result<Tensor> {
    let dev = x.device();
    let ds = [d];
    // One workgroup scans a whole row, through one storage binding: long rows (lavapipe returned
    // index 0 for rows of 2^23 elements) and tensors larger than a binding go in chunks.
    let fits = fits_binding(x.shape(), &Span { offset: x.offset(), strides: x.strides(), elem: elem_size(x.dtype()) })?;
    if !fits || x.shape()[d] > ARG_CHUNK {
        return arg_reduce_chunked(op, x, d, keepdim);
    }
    let nd = x.ndim();
    let mut order: Vec<usize> = (0..nd).filter(|d| !ds.contains(d)).collect();
    order.extend(ds.iter().copied());
    let moved = x.layout().permute(&order)?;
    let rows: usize = (0..nd).filter(|d| !ds.contains(d)).map(|d| x.shape()[d]).product();
    let inner: usize = ds.iter().map(|&d| x.shape()[d]).product();
    let out_shape: Vec<usize> = (0..nd)
        .filter_map(|d| if ds.contains(&d) { keepdim.then_some(1) } else { Some(x.shape()[d]) })
        .collect();
    let (sh, st) = coalesce(&moved.shape, std::slice::from_ref(&moved.strides));
    if sh.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("argmax on {dev}: more than {MAX_DIMS} dims after merging")));
    }
    let out = empty(&out_shape, DType::I64, dev)?;
    if rows == 0 {
        return Ok(out);
    }
    let mut info = vec![0u32; 32];
    info[0] = u32_of(rows, "rows")?;
    info[1] = u32_of(inner, "row length")?;
    info[4] = sh.len() as u32;
    info[5] = u32_of(moved.offset, "offset")?;
    info[6] = u32::from(sh.len() <= 1 && st[0].first().copied().unwrap_or(1) == 1);
    u32_of(x.storage().len(), "storage length")?;
    for d in 0..sh.len() {
        info[16 + d] = sh[d] as u32;
        info[24 + d] = u32_of(st[0][d], "stride")?;
    }
    let consts = [("OP", f64::from(op.code()))];
    let entry = if x.dtype() == DType::I64 { "argreduce64_main" } else { "argreduce_main" };
    let k = Kernel { shader: &REDUCE, entry, constants: &consts, inputs: 1 };
    context()?.dispatch(&k, &[Some(buffer(x))], buffer(&out), &info, split_groups(rows)?)?;
    Ok(out)
}

/// The longest run argmax scans in one workgroup.
const ARG_CHUNK: usize = 1 << 20;

/// arg_reduce along dim `d` in chunks of at most ARG_CHUNK positions that each fit one storage
/// binding (copied out), then per row the chunk whose best value wins (the first on ties and
/// NaN, so the first index overall wins, as in one pass).
fn arg_reduce_chunked(op: Extremum, x: &Tensor, d: usize, keepdim: bool) -> Result<Tensor> {
    let n = x.shape()[d];
    let row_bytes = (x.numel() / n.max(1) * elem_size(x.dtype())).max(1) as u64;
    let chunk = usize::try_from(context()?.max_binding() / 2 / row_bytes).unwrap_or(usize::MAX).min(n).min(ARG_CHUNK);
    if chunk == 0 {
        return Err(Error::NotImplemented(format!(
            "argmax on {}: a slice of {row_bytes} bytes across the reduced dim exceeds the storage binding limit",
            x.device()
        )));
    }
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    for start in (0..n).step_by(chunk) {
        let part = contiguous(&x.view_with_layout(x.layout().slice(d, start, (start + chunk).min(n), 1)))?;
        let i = arg_reduce_rows(op, &part, d, true)?;
        values.push(super::index::gather(&part, d, &i)?);
        indices.push(binary(BinaryOp::Add, &i, &Tensor::wrapped_scalar(start as i64))?);
    }
    let best = arg_reduce_rows(op, &concat(&values, d)?, d, true)?;
    let out = super::index::gather(&concat(&indices, d)?, d, &best)?;
    // `out` is contiguous: without keepdim, the same elements without dim `d`.
    Ok(if keepdim { out } else { out.view_with_layout(Layout::contiguous(&out.layout().squeeze_dims(&[d]).shape)) })
}
