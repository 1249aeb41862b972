//! CPU kernels: element-wise maps with a contiguous fast path and a strided path, run on
//! the CPU team (`team`) above a size threshold so small tensors stay single-threaded and cheap.
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::storage::try_with_capacity;
use crate::tensor::Tensor;

pub mod binary;
pub mod conv;
pub mod copy;
pub mod fused;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod random;
pub mod reduce;
pub mod scan;
pub mod softmax;
pub mod sort;
pub mod team;
pub mod unary;

/// The CPU backend.
pub struct Cpu;

impl crate::op::Backend for Cpu {
    fn run(&self, op: &crate::op::Op<'_>, inputs: &[&Tensor]) -> Result<crate::op::Outputs> {
        use crate::op::{Op, Outputs::{Nothing, One, Two}};
        Ok(match *op {
            Op::Unary(u) => One(unary::unary(u, inputs[0])?),
            Op::Binary(b) => One(binary::binary(b, inputs[0], inputs[1])?),
            Op::Where => One(binary::where_select(inputs[0], inputs[1], inputs[2])?),
            Op::Cast(dtype) => One(copy::cast(inputs[0], dtype)?),
            Op::ToDevice(device) => return Err(Error::Runtime(format!("a transfer to {device} reached the CPU backend"))),
            Op::Write => {
                copy::write(inputs[0], inputs[1])?;
                Nothing
            }
            Op::AddInto => {
                copy::add_into(inputs[0], inputs[1])?;
                Nothing
            }
            Op::ReluBackward => One(unary::relu_backward(inputs[0], inputs[1])?),
            Op::Full { shape, value, dtype, .. } => One(Tensor::full_dtype(shape, value, dtype)?),
            Op::Index { op, dim } => One(index::index(op, dim, inputs)?),
            Op::Im2Col { window, pad_value, batch_major } => One(conv::im2col(inputs[0], window, pad_value, batch_major)?),
            Op::Col2Im { window, size, batch_major, n } => One(conv::col2im(inputs[0], window, size, batch_major, n)?),
            Op::MaxPool2d { window, out_size } => {
                let (values, indices) = conv::max_pool2d(inputs[0], window, out_size)?;
                Two(values, indices)
            }
            Op::PlaneScatterAdd { size } => One(conv::plane_scatter_add(inputs[0], inputs[1], size)?),
            Op::PlaneGather => One(conv::plane_gather(inputs[0], inputs[1])?),
            Op::Conv2d { shape, part } => conv::conv2d(&shape, part, inputs)?,
            Op::CrossEntropyRows { ignore_index } => {
                let (loss, weight) = loss::cross_entropy_rows(inputs[0], inputs[1], inputs.get(2).copied(), ignore_index)?;
                Two(loss, weight)
            }
            Op::Reduce { op, dims, keepdim } => One(reduce::reduce(op, inputs[0], dims, keepdim)?),
            Op::ArgReduce { op, dim, keepdim } => One(reduce::arg_reduce(op, inputs[0], dim, keepdim)?),
            Op::Scan { op, dim } => One(scan::scan(op, inputs[0], dim)?),
            Op::Flip { dims } => One(scan::flip(inputs[0], dims)?),
            Op::Sort { dim, descending } => {
                let (values, indices) = sort::sort(inputs[0], dim, descending)?;
                Two(values, indices)
            }
            Op::Softmax { op, dim } => One(softmax::softmax(op, inputs[0], dim)?),
            Op::Matmul { batch } => One(matmul::matmul(inputs[0], inputs[1], batch)?),
            Op::Random { dist, shape, dtype } => One(random::random(dist, shape, dtype)?),
            Op::Fused(f) => crate::op::Outputs::Many(fused::run(f, inputs)?),
            Op::OptimStep { options, params, fresh } => {
                optim::optim_step(&options, fresh, &crate::op::optim::OptimOperands::new(&options, params, inputs));
                Nothing
            }
            Op::Nonzero => One(index::nonzero(inputs[0])?),
            Op::WrapIndex { size, dim } => One(index::wrap_index(inputs[0], size, dim)?),
        })
    }
}

/// Below this many elements a kernel runs on the calling thread.
pub const PAR_THRESHOLD: usize = 1 << 15;
const PAR_CHUNK: usize = 1 << 13;

/// Fills `n` outputs with `f(i_range)` chunk by chunk (on the CPU team when large): each chunk is a
/// plain slice loop the compiler vectorises, written straight into the new Vec.
fn fill_chunks<U: Element>(n: usize, f: impl Fn(usize, &mut [std::mem::MaybeUninit<U>]) + Sync + Send) -> Result<Vec<U>> {
    let mut out = try_with_capacity::<U>(n)?;
    let spare = &mut out.spare_capacity_mut()[..n];
    if n >= PAR_THRESHOLD {
        team::chunks_mut(spare, PAR_CHUNK, |c, dst| f(c * PAR_CHUNK, dst));
    } else {
        f(0, spare);
    }
    // SAFETY: `f` writes every element of each chunk it is given, and the chunks cover 0..n.
    unsafe { out.set_len(n) };
    Ok(out)
}

/// Whether the CPU has AVX2 (detected once).
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| std::is_x86_feature_detected!("avx2"))
}

/// Runs `f` compiled for AVX2 where the CPU has it, else for the baseline target: `f`'s body
/// (and the `#[inline(always)]` functions it calls) is inlined into a function built with the
/// feature, so its loops run 8 float32 lanes wide instead of 4.
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { avx2(f) };
    }
    f()
}

/// `f` over every element of float32 `x`, in a loop compiled for AVX2 where the CPU has it
/// (`wide`): for branch-free math such as `exp_f32`.
pub fn unary_map_f32_wide(x: &Tensor, f: impl Fn(f32) -> f32 + Copy + Sync + Send) -> Result<Tensor> {
    let data = x.contiguous_data::<f32>();
    let out = fill_chunks(data.len(), |start, dst| {
        let src = &data[start..start + dst.len()];
        wide(|| {
            for (d, &v) in dst.iter_mut().zip(src) {
                d.write(f(v));
            }
        })
    })?;
    Tensor::from_vec(out, x.shape())
}


fn map_slice<T: Element, U: Element>(src: &[T], f: impl Fn(T) -> U + Sync + Send) -> Result<Vec<U>> {
    fill_chunks(src.len(), |start, dst| {
        let end = start + dst.len();
        for (d, &x) in dst.iter_mut().zip(&src[start..end]) {
            d.write(f(x));
        }
    })
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
    if n == 0 {
        return Tensor::from_vec(Vec::<U>::new(), shape);
    }
    let out = match (la.contiguous_range(), lb.contiguous_range()) {
        (Some(ra), Some(rb)) => {
            let (sa, sb) = (&da[ra], &db[rb]);
            fill_chunks(n, |start, dst| {
                let end = start + dst.len();
                for ((d, &x), &y) in dst.iter_mut().zip(&sa[start..end]).zip(&sb[start..end]) {
                    d.write(f(x, y));
                }
            })?
        }
        (Some(ra), None) if b.numel() == 1 => {
            let y = db[b.offset()];
            map_slice(&da[ra], move |x| f(x, y))?
        }
        (None, Some(rb)) if a.numel() == 1 => {
            let x = da[a.offset()];
            map_slice(&db[rb], move |y| f(x, y))?
        }
        _ => {
            let (la, lb) = coalesce2(&la, &lb);
            let (inner, sa, sb) = (la.shape.last().copied().unwrap_or(1), la.strides.last().copied().unwrap_or(0), lb.strides.last().copied().unwrap_or(0));
            let (ra, rb) = (row_starts(&la), row_starts(&lb));
            let mut out = crate::storage::try_vec::<U>(n, U::default())?;
            let row = |(r, dst): (usize, &mut [U])| {
                let (oa, ob) = (ra[r], rb[r]);
                match (sa, sb) {
                    (1, 1) => dst.iter_mut().zip(&da[oa..oa + inner]).zip(&db[ob..ob + inner]).for_each(|((d, &x), &y)| *d = f(x, y)),
                    (1, 0) => {
                        let y = db[ob];
                        dst.iter_mut().zip(&da[oa..oa + inner]).for_each(|(d, &x)| *d = f(x, y));
                    }
                    (0, 1) => {
                        let x = da[oa];
                        dst.iter_mut().zip(&db[ob..ob + inner]).for_each(|(d, &y)| *d = f(x, y));
                    }
                    _ => dst.iter_mut().enumerate().for_each(|(j, d)| *d = f(da[oa + j * sa], db[ob + j * sb])),
                }
            };
            if n >= PAR_THRESHOLD {
                team::chunks_mut(&mut out, inner, |r, dst| row((r, dst)));
            } else {
                out.chunks_mut(inner).enumerate().for_each(row);
            }
            out
        }
    };
    Tensor::from_vec(out, shape)
}

/// Merges adjacent dims that both layouts walk as one (so rows get as long as possible).
pub fn coalesce2(a: &Layout, b: &Layout) -> (Layout, Layout) {
    let mut la = Layout { shape: vec![], strides: vec![], offset: a.offset };
    let mut lb = Layout { shape: vec![], strides: vec![], offset: b.offset };
    for i in 0..a.ndim() {
        let (d, sa, sb) = (a.shape[i], a.strides[i], b.strides[i]);
        if d == 1 {
            continue;
        }
        if let (Some(&pd), Some(&psa), Some(&psb)) = (la.shape.last(), la.strides.last(), lb.strides.last()) {
            if psa == sa * d && psb == sb * d {
                let k = la.shape.len() - 1;
                la.shape[k] = pd * d;
                lb.shape[k] = pd * d;
                la.strides[k] = sa;
                lb.strides[k] = sb;
                continue;
            }
        }
        la.shape.push(d);
        lb.shape.push(d);
        la.strides.push(sa);
        lb.strides.push(sb);
    }
    (la, lb)
}

/// Storage offsets where each row (all dims but the last) of a layout starts.
pub fn row_starts(l: &Layout) -> Vec<usize> {
    let nd = l.ndim();
    if nd <= 1 {
        return vec![l.offset];
    }
    let rows = Layout { shape: l.shape[..nd - 1].to_vec(), strides: l.strides[..nd - 1].to_vec(), offset: l.offset };
    let mut v = Vec::with_capacity(rows.numel());
    rows.for_each_offset(|o| v.push(o));
    v
}

/// `f(dst, src)` for every element of `dst_l` (in `dst`) and the same-shaped `src_l` (in `src`),
/// row by row: contiguous rows as slices, broadcast rows with one source value.
pub fn zip_assign<T: Element>(dst: &mut [T], dst_l: &Layout, src: &[T], src_l: &Layout, f: impl Fn(&mut T, T) + Sync + Send) {
    let n = dst_l.numel();
    if n == 0 {
        return;
    }
    let (ld, ls) = coalesce2(dst_l, src_l);
    let (inner, sd, ss) = (ld.shape.last().copied().unwrap_or(1), ld.strides.last().copied().unwrap_or(0), ls.strides.last().copied().unwrap_or(0));
    let (rd, rs) = (row_starts(&ld), row_starts(&ls));
    for (&od, &os) in rd.iter().zip(&rs) {
        match (sd, ss) {
            (1, 1) => dst[od..od + inner].iter_mut().zip(&src[os..os + inner]).for_each(|(d, &v)| f(d, v)),
            (1, 0) => {
                let v = src[os];
                dst[od..od + inner].iter_mut().for_each(|d| f(d, v));
            }
            _ => (0..inner).for_each(|j| f(&mut dst[od + j * sd], src[os + j * ss])),
        }
    }
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
