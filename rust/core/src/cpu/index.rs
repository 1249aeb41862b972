//! CPU kernels of the index-driven ops (gather, scatter, scatter_add, index_select, index_add).
//! They read the index values, so they are where an out-of-range value is caught.
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::{contiguous_strides, Layout};
use crate::op::{index_out_of_range, IndexOp};
use crate::tensor::Tensor;

/// `op` along `d` over the inputs `ops::index` prepared (see `Op::Index`).
pub fn index(op: IndexOp, d: usize, inputs: &[&Tensor]) -> Result<Tensor> {
    let (x, index) = (inputs[0], inputs[1]);
    match op {
        IndexOp::Gather => gather(x, d, index),
        IndexOp::Scatter => scatter(x, d, index, inputs[2], false, op),
        IndexOp::ScatterAdd => scatter(x, d, index, inputs[2], true, op),
        IndexOp::IndexSelect => index_select(x, d, index),
        IndexOp::IndexAdd => index_add(x, d, index, inputs[2]),
    }
}

/// Index values of gather/scatter/index_select/index_add, each in `0..size`: negative values
/// do not wrap there (PyTorch raises RuntimeError for them as for any out-of-range index).
fn checked_indices(index: &Tensor, size: usize, dim: usize, op: IndexOp) -> Result<Vec<usize>> {
    index
        .contiguous_data::<i64>()
        .iter()
        .map(|&i| {
            if i < 0 || i >= size as i64 {
                Err(Error::Runtime(format!("{}(): index {i} is out of bounds for dimension {dim} with size {size}", op.name())))
            } else {
                Ok(i as usize)
            }
        })
        .collect()
}

/// The length along `d` of `x`, where a 0-d tensor counts as one element.
fn size_along(x: &Tensor, d: usize) -> usize {
    x.shape().get(d).copied().unwrap_or(1)
}

fn gather(x: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    let idx = checked_indices(index, size_along(x, d), d, IndexOp::Gather)?;
    let il = Layout::contiguous(index.shape());
    crate::with_dtype!(x.dtype(), T, {
        let src = x.storage().slice::<T>();
        let l = x.layout();
        let mut out: Vec<T> = Vec::with_capacity(idx.len());
        let mut pos = 0;
        for_each_index_pos(&il, |coords| {
            let mut off = l.offset;
            for (k, &c) in coords.iter().enumerate() {
                off += if k == d { idx[pos] } else { c } * l.strides.get(k).copied().unwrap_or(0);
            }
            out.push(src[off]);
            pos += 1;
        });
        Tensor::from_vec(out, index.shape())
    })
}

/// A copy of `x` with `src` written (or added) at `index` along `d`; where several index
/// elements name one position the last one wins.
fn scatter(x: &Tensor, d: usize, index: &Tensor, src: &Tensor, add: bool, op: IndexOp) -> Result<Tensor> {
    let idx = checked_indices(index, size_along(x, d), d, op)?;
    let il = Layout::contiguous(index.shape());
    crate::with_dtype!(x.dtype(), T, {
        let mut data = x.contiguous_data::<T>().into_owned();
        let sl = src.layout();
        let sv = src.storage().slice::<T>();
        let strides = contiguous_strides(x.shape());
        let mut pos = 0;
        for_each_index_pos(&il, |coords| {
            let mut off = 0;
            let mut soff = sl.offset;
            for (k, &c) in coords.iter().enumerate() {
                off += if k == d { idx[pos] } else { c } * strides.get(k).copied().unwrap_or(0);
                soff += c * sl.strides.get(k).copied().unwrap_or(0);
            }
            data[off] = if add { add_elem(data[off], sv[soff]) } else { sv[soff] };
            pos += 1;
        });
        Tensor::from_vec(data, x.shape())
    })
}

fn index_select(x: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    let idx = checked_indices(index, x.shape()[d], d, IndexOp::IndexSelect)?;
    let mut shape = x.shape().to_vec();
    shape[d] = idx.len();
    crate::with_dtype!(x.dtype(), T, {
        let src = x.storage().slice::<T>();
        let mut out: Vec<T> = Vec::with_capacity(shape.iter().product());
        let l = x.layout();
        let inner = Layout { shape: l.shape[d + 1..].to_vec(), strides: l.strides[d + 1..].to_vec(), offset: 0 };
        let outer_l = Layout { shape: l.shape[..d].to_vec(), strides: l.strides[..d].to_vec(), offset: l.offset };
        let mut outer_offs = Vec::with_capacity(outer_l.numel());
        outer_l.for_each_offset(|o| outer_offs.push(o));
        for &ob in &outer_offs {
            for &i in &idx {
                let il = Layout { offset: ob + i * l.strides[d], ..inner.clone() };
                il.for_each_offset(|o| out.push(src[o]));
            }
        }
        Tensor::from_vec(out, &shape)
    })
}

fn index_add(x: &Tensor, d: usize, index: &Tensor, source: &Tensor) -> Result<Tensor> {
    let idx = checked_indices(index, x.shape()[d], d, IndexOp::IndexAdd)?;
    crate::with_dtype!(x.dtype(), T, {
        let mut data = x.contiguous_data::<T>().into_owned();
        let src = source.contiguous_data::<T>();
        let inner: usize = x.shape()[d + 1..].iter().product();
        let outer: usize = x.shape()[..d].iter().product();
        let (len, n) = (x.shape()[d], idx.len());
        for o in 0..outer {
            for (j, &i) in idx.iter().enumerate() {
                let dst = &mut data[(o * len + i) * inner..(o * len + i + 1) * inner];
                let sr = &src[(o * n + j) * inner..(o * n + j + 1) * inner];
                for (a, &b) in dst.iter_mut().zip(sr) {
                    *a = add_elem(*a, b);
                }
            }
        }
        Tensor::from_vec(data, x.shape())
    })
}

fn add_elem<T: Element>(a: T, b: T) -> T {
    match T::DTYPE {
        DType::Bool => T::from_i64((a.to_i64() | b.to_i64()) & 1),
        DType::I64 => T::from_i64(a.to_i64().wrapping_add(b.to_i64())),
        _ => T::from_f64(a.to_f64() + b.to_f64()),
    }
}

/// Calls `f` with the coordinates of every position of a contiguous layout, row-major.
fn for_each_index_pos(l: &Layout, mut f: impl FnMut(&[usize])) {
    let n = l.numel();
    let mut coords = vec![0usize; l.ndim()];
    for _ in 0..n {
        f(&coords);
        for k in (0..l.ndim()).rev() {
            coords[k] += 1;
            if coords[k] < l.shape[k] {
                break;
            }
            coords[k] = 0;
        }
    }
}

/// Positions of the true elements of a bool tensor (see `Op::Nonzero`).
pub fn nonzero(flags: &Tensor) -> Result<Tensor> {
    let data = flags.contiguous_data::<bool>();
    let (shape, nd) = (flags.shape(), flags.ndim());
    let strides = contiguous_strides(shape);
    let mut out = vec![];
    let mut count = 0;
    for (lin, _) in data.iter().enumerate().filter(|(_, &f)| f) {
        count += 1;
        out.extend((0..nd).map(|k| ((lin / strides[k]) % shape[k]) as i64));
    }
    Tensor::from_vec(out, &[count, nd])
}

/// Flat positions wrapped into `0..size` (see `Op::WrapIndex`).
pub fn wrap_index(idx: &Tensor, size: usize, dim: usize) -> Result<Tensor> {
    let wrapped = idx
        .contiguous_data::<i64>()
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + size as i64 } else { i };
            if j < 0 || j >= size as i64 { Err(index_out_of_range(i, dim, size)) } else { Ok(j) }
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::from_vec(wrapped, &[idx.numel()])
}
