//! CPU kernels: element-wise maps with a contiguous fast path and a strided path, run on
//! rayon above a size threshold so small tensors stay single-threaded and cheap.
use crate::dtype::Element;
use crate::error::Result;
use crate::layout::Layout;
use crate::storage::try_with_capacity;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Below this many elements a kernel runs on the calling thread.
pub const PAR_THRESHOLD: usize = 1 << 15;
const PAR_CHUNK: usize = 1 << 13;

fn map_slice<T: Element, U: Element>(src: &[T], f: impl Fn(T) -> U + Sync + Send) -> Result<Vec<U>> {
    let mut out = try_with_capacity::<U>(src.len())?;
    if src.len() >= PAR_THRESHOLD {
        src.par_iter().with_min_len(PAR_CHUNK).map(|&x| f(x)).collect_into_vec(&mut out);
    } else {
        out.extend(src.iter().map(|&x| f(x)));
    }
    Ok(out)
}

/// `f` applied to every element of `x` (whose dtype must be `T`), as a new contiguous tensor.
pub fn unary_map<T: Element, U: Element>(x: &Tensor, f: impl Fn(T) -> U + Sync + Send) -> Result<Tensor> {
    let data = x.contiguous_data::<T>();
    Tensor::from_vec(map_slice(&data, f)?, x.shape())
}

/// `f` applied element-wise to `a` and `b` (both of dtype `T`) broadcast to `shape`.
pub fn binary_map<T: Element, U: Element>(
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    f: impl Fn(T, T) -> U + Sync + Send,
) -> Result<Tensor> {
    // Same-shape operands (the common case) need no broadcast layouts.
    let (la, lb) = (expand_layout(a, shape)?, expand_layout(b, shape)?);
    let (da, db) = (a.storage().slice::<T>(), b.storage().slice::<T>());
    let n = la.numel();
    let out = match (la.contiguous_range(), lb.contiguous_range()) {
        (Some(ra), Some(rb)) => {
            let (sa, sb) = (&da[ra], &db[rb]);
            let mut out = try_with_capacity::<U>(n)?;
            if n >= PAR_THRESHOLD {
                sa.par_iter().zip(sb.par_iter()).with_min_len(PAR_CHUNK).map(|(&x, &y)| f(x, y)).collect_into_vec(&mut out);
            } else {
                out.extend(sa.iter().zip(sb).map(|(&x, &y)| f(x, y)));
            }
            out
        }
        (Some(ra), None) if b.numel() == 1 => {
            let y = db[b.offset()];
            map_slice(&da[ra], |x| f(x, y))?
        }
        (None, Some(rb)) if a.numel() == 1 => {
            let x = da[a.offset()];
            map_slice(&db[rb], |y| f(x, y))?
        }
        _ => {
            let mut out = try_with_capacity::<U>(n)?;
            for_each_offset2(&la, &lb, |oa, ob| out.push(f(da[oa], db[ob])));
            out
        }
    };
    Tensor::from_vec(out, shape)
}

fn expand_layout<'a>(t: &'a Tensor, shape: &[usize]) -> Result<std::borrow::Cow<'a, Layout>> {
    if t.shape() == shape {
        Ok(std::borrow::Cow::Borrowed(t.layout()))
    } else {
        Ok(std::borrow::Cow::Owned(t.layout().expand(shape)?))
    }
}

/// Calls `f` with the storage indices of the elements of two same-shaped layouts, row-major.
pub fn for_each_offset2(la: &Layout, lb: &Layout, mut f: impl FnMut(usize, usize)) {
    let n = la.numel();
    if n == 0 {
        return;
    }
    let nd = la.ndim();
    if nd == 0 {
        f(la.offset, lb.offset);
        return;
    }
    let inner = la.shape[nd - 1];
    let (sa, sb) = (la.strides[nd - 1], lb.strides[nd - 1]);
    let mut idx = vec![0usize; nd];
    let (mut ba, mut bb) = (la.offset, lb.offset);
    loop {
        let (mut oa, mut ob) = (ba, bb);
        for _ in 0..inner {
            f(oa, ob);
            oa += sa;
            ob += sb;
        }
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            ba += la.strides[d];
            bb += lb.strides[d];
            if idx[d] < la.shape[d] {
                break;
            }
            ba -= la.strides[d] * idx[d];
            bb -= lb.strides[d] * idx[d];
            idx[d] = 0;
        }
    }
}
