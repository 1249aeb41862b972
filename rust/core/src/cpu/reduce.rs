//! Reduction kernels: each output element reduces one run of the input, the reduced dims
//! moved last (a layout permutation, no copy when the runs already lie contiguously).
use crate::dtype::{DType, Element, Float};
use crate::error::Result;
use crate::op::{no_kernel, Extremum, Op, ReduceOp};
use crate::storage::try_with_capacity;
use crate::tensor::Tensor;

/// Shape of a reduction's result.
pub fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let mut out = vec![];
    for (i, &s) in shape.iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                out.push(1);
            }
        } else {
            out.push(s);
        }
    }
    out
}

/// Applies `f` to each reduced run of `x` (as `T`), giving a tensor of the reduced shape.
fn reduce_with<T: Element, U: Element>(x: &Tensor, dims: &[usize], keepdim: bool, f: impl Fn(&[T]) -> U + Sync + Send) -> Result<Tensor> {
    let shape = reduced_shape(x.shape(), dims, keepdim);
    let n = x.ndim();
    let mut order: Vec<usize> = (0..n).filter(|d| !dims.contains(d)).collect();
    order.extend(dims);
    let k: usize = dims.iter().map(|&d| x.shape()[d]).product();
    let moved = x.view_with_layout(x.layout().permute(&order)?);
    // Borrowed when the runs already lie contiguously (e.g. a full reduction): no copy.
    let data = moved.contiguous_data::<T>();
    let outer: usize = shape.iter().product();
    let mut out = try_with_capacity::<U>(outer)?;
    if k == 0 {
        out.resize(outer, f(&[]));
    } else if data.len() >= super::PAR_THRESHOLD && outer > 1 {
        out.resize(outer, U::zero());
        super::team::chunks_mut(&mut out, 1, |i, o| o[0] = f(&data[i * k..(i + 1) * k]));
    } else {
        out.extend(data.chunks(k).map(&f));
    }
    Tensor::from_vec(out, &shape)
}

/// Sum of a run: 32 lanes over blocks of 4096 (vectorised, error bounded per block; AVX2
/// where the CPU has it), blocks combined in f64 in order, on the CPU team when the run is long.
fn sum_blocks<T: Element + std::ops::Add<Output = T>>(r: &[T]) -> f64 {
    const BLOCK: usize = 4096;
    #[inline(always)]
    fn block_lanes<T: Element + std::ops::Add<Output = T>>(b: &[T]) -> f64 {
        let mut acc = [T::zero(); 32];
        let chunks = b.chunks_exact(32);
        let rem = chunks.remainder();
        for c in chunks {
            for i in 0..32 {
                acc[i] = acc[i] + c[i];
            }
        }
        acc.iter().chain(rem).map(|v| v.to_f64()).sum()
    }
    fn block<T: Element + std::ops::Add<Output = T>>(b: &[T]) -> f64 {
        super::wide(|| block_lanes(b))
    }
    if r.len() >= super::PAR_THRESHOLD {
        let mut partial = vec![0.0; r.len().div_ceil(BLOCK)];
        super::team::chunks_mut(&mut partial, 1, |i, p| p[0] = block(&r[i * BLOCK..((i + 1) * BLOCK).min(r.len())]));
        partial.iter().sum()
    } else {
        r.chunks(BLOCK).map(block).sum()
    }
}

/// How many of the reduced dims form a prefix 0..p of the tensor's dims, when the rest of them
/// form a suffix (e.g. [0, 2, 3] of a 4-D tensor: prefix 1); 0 when the pattern does not fit.
fn leading_dims(ds: &[usize]) -> usize {
    let p = ds.iter().enumerate().take_while(|&(i, &d)| i == d).count();
    let rest = &ds[p..];
    let suffix_ok = rest.windows(2).all(|w| w[1] == w[0] + 1);
    if p > 0 && suffix_ok { p } else { 0 }
}

/// Sum of a contiguous tensor over leading dims (and optionally trailing ones): trailing dims
/// first as contiguous runs, then the leading dims by adding whole rows, so no transposed copy
/// is made (the bias gradient of a linear or conv layer).
fn sum_leading<T: Float>(x: &Tensor, ds: &[usize], keepdim: bool) -> Result<Tensor> {
    let p = leading_dims(ds);
    let trailing = &ds[p..];
    let partial;
    let x = if trailing.is_empty() {
        x
    } else {
        partial = reduce_with::<T, T>(x, trailing, true, |r| T::from_f64(sum_blocks(r)))?;
        &partial
    };
    let inner: usize = x.shape()[p..].iter().product();
    let data = x.contiguous_data::<T>();
    let mut acc = vec![0f64; inner];
    let mut block = vec![T::zero(); inner];
    // Rows are added in T within blocks of 256 (vectorised), blocks into f64.
    for rows in data.chunks(inner.max(1) * 256) {
        block.iter_mut().for_each(|b| *b = T::zero());
        for row in rows.chunks(inner.max(1)) {
            block.iter_mut().zip(row).for_each(|(b, &v)| *b = *b + v);
        }
        acc.iter_mut().zip(&block).for_each(|(a, b)| *a += b.to_f64());
    }
    let out: Vec<T> = acc.into_iter().map(T::from_f64).collect();
    // The sums are in the order of the kept dims, whatever shape the result takes.
    Tensor::from_vec(out, &reduced_shape(x.shape(), ds, keepdim))
}

/// Index of the max (or min) of a run, NaN winning as in PyTorch; first occurrence on ties.
fn arg_best<T: Element>(run: &[T], max: bool) -> usize {
    let mut best = 0;
    for (i, &v) in run.iter().enumerate().skip(1) {
        let b = run[best];
        #[allow(clippy::eq_op)]
        let (v_nan, b_nan) = (v != v, b != b);
        if b_nan {
            break;
        }
        if v_nan || (max && v > b) || (!max && v < b) {
            best = i;
        }
    }
    best
}

/// `op` over `dims` of `x`, as `Op::Reduce` describes.
pub fn reduce(op: ReduceOp, x: &Tensor, ds: &[usize], keepdim: bool) -> Result<Tensor> {
    let leading = leading_dims(ds) > 0 && ds.len() < x.ndim() && x.is_contiguous();
    match (op, x.dtype()) {
        (ReduceOp::Sum, DType::F32) if leading => sum_leading::<f32>(x, ds, keepdim),
        (ReduceOp::Sum, DType::F64) if leading => sum_leading::<f64>(x, ds, keepdim),
        (ReduceOp::Sum, DType::F32) => reduce_with::<f32, f32>(x, ds, keepdim, |r| sum_blocks(r) as f32),
        (ReduceOp::Sum, DType::F64) => reduce_with::<f64, f64>(x, ds, keepdim, sum_blocks),
        (ReduceOp::Sum, DType::I64) => reduce_with::<i64, i64>(x, ds, keepdim, |r| r.iter().fold(0i64, |a, &b| a.wrapping_add(b))),
        (ReduceOp::Prod, DType::F32) => reduce_with::<f32, f32>(x, ds, keepdim, |r| r.iter().product()),
        (ReduceOp::Prod, DType::F64) => reduce_with::<f64, f64>(x, ds, keepdim, |r| r.iter().product()),
        (ReduceOp::Prod, DType::I64) => reduce_with::<i64, i64>(x, ds, keepdim, |r| r.iter().fold(1i64, |a, &b| a.wrapping_mul(b))),
        (ReduceOp::Max | ReduceOp::Min, dt) => {
            let max = op == ReduceOp::Max;
            crate::with_dtype!(dt, T, reduce_with::<T, T>(x, ds, keepdim, |r| r[arg_best(r, max)]))
        }
        (ReduceOp::Any, DType::Bool) => reduce_with::<bool, bool>(x, ds, keepdim, |r| r.iter().any(|&v| v)),
        (ReduceOp::All, DType::Bool) => reduce_with::<bool, bool>(x, ds, keepdim, |r| r.iter().all(|&v| v)),
        (_, dt) => Err(no_kernel(&Op::Reduce { op, dims: ds, keepdim }, dt, x.device())),
    }
}

/// The int64 index of the first max (or min) along `dim`, as `Op::ArgReduce` describes.
pub fn arg_reduce(op: Extremum, x: &Tensor, dim: usize, keepdim: bool) -> Result<Tensor> {
    let max = op == Extremum::Max;
    crate::with_dtype!(x.dtype(), T, reduce_with::<T, i64>(x, &[dim], keepdim, |r| arg_best(r, max) as i64))
}
