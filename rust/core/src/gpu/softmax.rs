//! Fused softmax / log-softmax on the GPU (`shaders/softmax.wgsl`): one workgroup per row,
//! the row's max and sum of exponentials as tree reductions in workgroup memory. Tensors
//! larger than one storage binding go in slices along another dim.
use super::ops::{buffer, coalesce, contiguous, empty, fits_binding, full, split_groups, u32_of, view_window, write_into, Span, MAX_DIMS};
use super::reduce::{reach_bytes, slice_count};
use super::runtime::{context, Kernel};
use super::SOFTMAX;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::contiguous_strides;
use crate::op::{no_kernel, Op, SoftmaxOp};
use crate::tensor::Tensor;

/// Softmax (or log-softmax) of float32 `x` along `d`, as `Op::Softmax` describes.
pub fn softmax(op: SoftmaxOp, x: &Tensor, d: usize) -> Result<Tensor> {
    let dev = x.device();
    if x.dtype() != DType::F32 {
        return Err(no_kernel(&Op::Softmax { op, dim: d }, x.dtype(), dev));
    }
    let out = empty(x.shape(), DType::F32, dev)?;
    if x.numel() == 0 {
        return Ok(out);
    }
    if x.ndim() == 0 {
        return full(&[], if op == SoftmaxOp::LogSoftmax { 0.0 } else { 1.0 }, DType::F32, dev);
    }
    if !fits_binding(x.shape(), &Span { offset: x.offset(), strides: x.strides(), elem: 4 })? || !fits_binding(&[x.numel()], &Span { offset: 0, strides: &[1], elem: 4 })? {
        return softmax_split(op, x, d, &out);
    }
    let ostrides = contiguous_strides(x.shape());
    let l = x.layout();
    let mut outer = vec![];
    let mut istr = vec![];
    let mut ostr = vec![];
    for k in 0..x.ndim() {
        if k != d && l.shape[k] != 1 {
            outer.push(l.shape[k]);
            istr.push(l.strides[k]);
            ostr.push(ostrides[k]);
        }
    }
    let (sh, st) = coalesce(&outer, &[istr, ostr]);
    if sh.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("softmax on {dev}: more than {MAX_DIMS} dims")));
    }
    let rows: usize = sh.iter().product();
    let mut info = vec![0u32; 40];
    info[0] = u32_of(rows, "rows")?;
    info[1] = u32_of(l.shape[d], "row length")?;
    info[2] = sh.len() as u32;
    info[3] = u32_of(l.offset, "offset")?;
    info[4] = u32_of(l.strides[d], "stride")?;
    info[5] = ostrides[d] as u32;
    u32_of(x.numel(), "element count")?;
    for k in 0..sh.len() {
        info[16 + k] = sh[k] as u32;
        info[24 + k] = u32_of(st[0][k], "stride")?;
        info[32 + k] = st[1][k] as u32;
    }
    let (input, rel) = view_window(buffer(x), l.offset, &l.shape, &l.strides, 4)?;
    info[3] = u32_of(rel, "offset")?;
    let (output, _) = view_window(buffer(&out), 0, &[x.numel()], &[1], 4)?;
    let consts = [("OP", f64::from(op.code()))];
    let k = Kernel { shader: &SOFTMAX, entry: "softmax_main", constants: &consts, inputs: 1 };
    context()?.dispatch_windows(&k, &[Some(input)], &[output], &info, split_groups(rows)?)?;
    Ok(out)
}

/// Softmax of a tensor larger than one storage binding into `out`: slices along the dim
/// other than `d` outermost in memory, each computed on its own (or cut again) and copied into
/// its part of `out`; rows along `d` are made contiguous first and never cut.
fn softmax_split(op: SoftmaxOp, x: &Tensor, d: usize, out: &Tensor) -> Result<Tensor> {
    let l = x.layout();
    let last = x.ndim() - 1;
    if l.strides[d] != 1 && l.shape[d] > 1 {
        // A row read through a stride spans the buffer: softmax over a copy in which it is
        // contiguous, written back through the transposed view.
        let moved = contiguous(&x.view_with_layout(l.transpose(d, last)))?;
        let r = softmax(op, &moved, last)?;
        write_into(out, &r.view_with_layout(r.layout().transpose(d, last)))?;
        return Ok(out.clone());
    }
    let Some(s) = (0..x.ndim()).filter(|&k| k != d && l.shape[k] > 1).max_by_key(|&k| l.strides[k]) else {
        return Err(Error::NotImplemented(format!(
            "'{}' on {}: a row of {} elements along dim {d} exceeds the adapter's max storage binding size ({} bytes)",
            op.name(),
            x.device(),
            l.shape[d],
            context()?.max_binding()
        )));
    };
    let bytes = reach_bytes(x).max(x.numel() * 4);
    let len = l.shape[s].div_ceil(slice_count(bytes, l.shape[s])?);
    for start in (0..l.shape[s]).step_by(len) {
        let stop = (start + len).min(l.shape[s]);
        let part = softmax(op, &x.view_with_layout(l.slice(s, start, stop, 1)), d)?;
        write_into(&out.view_with_layout(out.layout().slice(s, start, stop, 1)), &part)?;
    }
    Ok(out.clone())
}

