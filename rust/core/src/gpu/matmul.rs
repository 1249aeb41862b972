//! Matrix products on the GPU (`shaders/matmul.wgsl`): a tiled kernel (64 x 64 output tiles,
//! workgroup memory, register blocking) over broadcast batch dims; operands or results larger
//! than one storage binding are cut in halves and joined here, kernel by kernel.
use super::ops::{binary, buffer, coalesce, empty, fits_binding, u32_of, view_window, Span};
use super::reduce::concat;
use super::runtime::{context, Kernel};
use super::MATMUL;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::{no_kernel, Op};
use crate::op::BinaryOp;
use crate::tensor::Tensor;

/// Out[b] = A[b] @ B[b] of float32 operands, as `Op::Matmul` describes.
pub fn matmul(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    let dev = a.device();
    if a.dtype() != DType::F32 {
        return Err(no_kernel(&Op::Matmul { batch }, a.dtype(), dev));
    }
    let (la, lb) = (a.layout(), b.layout());
    let (m, k) = (la.shape[la.ndim() - 2], la.shape[la.ndim() - 1]);
    let n = lb.shape[lb.ndim() - 1];
    let nb: usize = batch.iter().product();
    let mut out_shape = batch.to_vec();
    out_shape.extend([m, n]);
    let fits = |t: &Tensor| fits_binding(t.shape(), &Span { offset: t.offset(), strides: t.strides(), elem: 4 });
    if out_shape.iter().all(|&s| s > 0) && (!fits(a)? || !fits(b)? || !fits_binding(&[nb * m * n], &Span { offset: 0, strides: &[1], elem: 4 })?) {
        return matmul_split(a, b, batch, fits(a)?, fits(b)?);
    }
    let out = empty(&out_shape, DType::F32, dev)?;
    if out.numel() == 0 {
        return Ok(out);
    }
    let sa = la.strides[..la.ndim() - 2].to_vec();
    let sb = lb.strides[..lb.ndim() - 2].to_vec();
    let (bsh, bst) = coalesce(batch, &[sa, sb]);
    if bsh.len() > 4 {
        return Err(Error::NotImplemented(format!("matmul on {dev}: more than 4 batch dims after merging")));
    }
    u32_of(out.numel(), "element count")?;
    let mut info = vec![0u32; 28];
    info[0] = m as u32;
    info[1] = n as u32;
    info[2] = u32_of(k, "inner dim")?;
    info[3] = bsh.len() as u32;
    info[6] = u32_of(la.strides[la.ndim() - 2], "stride")?;
    info[7] = u32_of(la.strides[la.ndim() - 1], "stride")?;
    info[8] = u32_of(lb.strides[lb.ndim() - 2], "stride")?;
    info[9] = u32_of(lb.strides[lb.ndim() - 1], "stride")?;
    for d in 0..bsh.len() {
        info[16 + d] = bsh[d] as u32;
        info[20 + d] = u32_of(bst[0][d], "stride")?;
        info[24 + d] = u32_of(bst[1][d], "stride")?;
    }
    let ctx = context()?;
    let max = ctx.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    let (gx, gy) = (n.div_ceil(64), m.div_ceil(64));
    if gx > max || gy > max {
        return Err(Error::NotImplemented(format!("matmul on {dev}: a {m}x{n} output needs more than {max} tiles per dim")));
    }
    let (wa, ra) = view_window(buffer(a), la.offset, &la.shape, &la.strides, 4)?;
    let (wb, rb) = view_window(buffer(b), lb.offset, &lb.shape, &lb.strides, 4)?;
    let (wo, _) = view_window(buffer(&out), 0, &[out.numel()], &[1], 4)?;
    info[4] = u32_of(ra, "offset")?;
    info[5] = u32_of(rb, "offset")?;
    let kern = Kernel { shader: &MATMUL, entry: "matmul_main", constants: &[], inputs: 2 };
    let mut base = 0;
    while base < nb {
        let z = (nb - base).min(max);
        info[10] = base as u32;
        ctx.dispatch_windows(&kern, &[Some(wa), Some(wb)], &[wo], &info, (gx as u32, gy as u32, z as u32))?;
        base += z;
    }
    Ok(out)
}

/// `matmul` with an operand or the result larger than one storage binding: halves the first
/// batch dim of size > 1, else the rows (the result or `a` too large), the columns (the result
/// or `b` too large) or the inner dim (partial products added), and joins the halves; each
/// half that is still too large is cut again.
fn matmul_split(a: &Tensor, b: &Tensor, batch: &[usize], a_fits: bool, b_fits: bool) -> Result<Tensor> {
    let nd = a.ndim();
    let (m, k, n) = (a.shape()[nd - 2], a.shape()[nd - 1], b.shape()[nd - 1]);
    let halves = |t: &Tensor, d: usize| {
        let len = t.shape()[d];
        [t.view_with_layout(t.layout().slice(d, 0, len / 2, 1)), t.view_with_layout(t.layout().slice(d, len / 2, len, 1))]
    };
    if let Some(d) = batch.iter().position(|&s| s > 1) {
        let ([a0, a1], [b0, b1]) = (halves(a, d), halves(b, d));
        let mut b_half = batch.to_vec();
        b_half[d] = a0.shape()[d];
        let first = matmul(&a0, &b0, &b_half)?;
        b_half[d] = a1.shape()[d];
        return concat(&[first, matmul(&a1, &b1, &b_half)?], d);
    }
    let out_fits = fits_binding(&[m * n], &Span { offset: 0, strides: &[1], elem: 4 })?;
    if (!out_fits || !a_fits) && m > 1 {
        let [a0, a1] = halves(a, nd - 2);
        return concat(&[matmul(&a0, b, batch)?, matmul(&a1, b, batch)?], nd - 2);
    }
    if (!out_fits || !b_fits) && n > 1 {
        let [b0, b1] = halves(b, nd - 1);
        return concat(&[matmul(a, &b0, batch)?, matmul(a, &b1, batch)?], nd - 1);
    }
    if k > 1 {
        let ([a0, a1], [b0, b1]) = (halves(a, nd - 1), halves(b, nd - 2));
        return binary(BinaryOp::Add, &matmul(&a0, &b0, batch)?, &matmul(&a1, &b1, batch)?);
    }
    Err(Error::NotImplemented(format!("'matmul' on {}: an element does not fit the adapter's max storage binding size", a.device())))
}
