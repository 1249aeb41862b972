//! Scan kernels (cumsum, cumprod) and flip, over the input read in row-major order: the
//! scanned dim splits the data into `outer` slabs of `len` rows of `inner` elements.
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::op::{no_kernel, Op, ScanOp};
use crate::tensor::Tensor;

/// Inclusive scan of one slab (`len` rows of `inner` elements) along its rows, through f64
/// (i64 for int64) accumulators so one generic loop serves every dtype.
fn scan_slab<T: Element>(slab: &mut [T], inner: usize, prod: bool) {
    if T::DTYPE == DType::I64 {
        let mut acc = vec![i64::from(prod); inner];
        for row in slab.chunks_mut(inner) {
            for (a, v) in acc.iter_mut().zip(row) {
                *a = if prod { a.wrapping_mul(v.to_i64()) } else { a.wrapping_add(v.to_i64()) };
                *v = T::from_i64(*a);
            }
        }
    } else if inner == 1 {
        let mut acc: f64 = if prod { 1.0 } else { 0.0 };
        for v in slab.iter_mut() {
            acc = if prod { acc * v.to_f64() } else { acc + v.to_f64() };
            *v = T::from_f64(acc);
        }
    } else {
        let mut acc = vec![if prod { 1.0 } else { 0.0 }; inner];
        for row in slab.chunks_mut(inner) {
            for (a, v) in acc.iter_mut().zip(row) {
                *a = if prod { *a * v.to_f64() } else { *a + v.to_f64() };
                *v = T::from_f64(*a);
            }
        }
    }
}

/// The inclusive scan along `dim`, as `Op::Scan` describes.
pub fn scan(op: ScanOp, x: &Tensor, dim: usize) -> Result<Tensor> {
    let shape = x.shape();
    let (len, inner) = if shape.is_empty() { (1, 1) } else { (shape[dim], shape[dim + 1..].iter().product()) };
    let prod = op == ScanOp::Prod;
    crate::with_dtype!(x.dtype(), T, {
        if T::DTYPE == DType::Bool {
            return Err(no_kernel(&Op::Scan { op, dim }, x.dtype(), x.device()));
        }
        let mut data = x.contiguous_data::<T>().into_owned();
        if len * inner > 0 {
            data.chunks_mut(len * inner).for_each(|slab| scan_slab(slab, inner, prod));
        }
        Tensor::from_vec(data, shape)
    })
}

/// A contiguous copy of `x` reversed along `dims`, as `Op::Flip` describes.
pub fn flip(x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let l = x.layout();
    let nd = l.ndim();
    let n = l.numel();
    crate::with_dtype!(x.dtype(), T, {
        let src = x.storage().slice::<T>();
        let mut out: Vec<T> = crate::storage::try_with_capacity(n)?;
        // Walk the output's indices in order, reading the flipped dims backwards.
        let mut coords = vec![0usize; nd];
        for _ in 0..n {
            let mut off = l.offset;
            for k in 0..nd {
                let c = if dims.contains(&k) { l.shape[k] - 1 - coords[k] } else { coords[k] };
                off += c * l.strides[k];
            }
            out.push(src[off]);
            for k in (0..nd).rev() {
                coords[k] += 1;
                if coords[k] < l.shape[k] {
                    break;
                }
                coords[k] = 0;
            }
        }
        Tensor::from_vec(out, &l.shape)
    })
}
