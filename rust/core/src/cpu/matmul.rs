//! Matrix products: floats through the `gemm` crate with both operands' strides (no copies for
//! transposed views), split over the CPU team; int64 through a plain loop.
use super::team::{self, SendPtr};
use crate::dtype::Float;
use crate::error::Result;
use crate::layout::Layout;
use crate::storage::try_vec;
use crate::tensor::Tensor;
pub(crate) use gemm::Parallelism;

/// Work (m*n*k) above which a product is split across threads.
const GEMM_PAR_WORK: usize = 1 << 18;

/// A strided matrix inside a slice, for `gemm_into`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// The row-major `rows` x `cols` matrix at the start of `data`.
    pub(crate) fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Mat { data, rows, cols, row_stride: cols, col_stride: 1 }
    }
    /// The transpose, by strides.
    pub(crate) fn transposed(self) -> Self {
        Mat { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }
    fn fits(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// dst (row-major m x n) = a @ b, or dst + a @ b when `accumulate`: one call of the gemm
/// crate, bounds checked here so callers need no unsafe.
pub(crate) fn gemm_into<T: Float>(dst: &mut [T], a: Mat<T>, b: Mat<T>, accumulate: bool, par: Parallelism) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(b.rows == k && dst.len() >= m * n && a.fits() && b.fits(), "gemm_into: operands do not fit");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::zero());
        }
        return;
    }
    // SAFETY: dst holds m*n elements (row stride n, col stride 1), and `fits` checked that
    // every element reached through each operand's strides lies inside its slice.
    unsafe {
        gemm::gemm(
            m, n, k, dst.as_mut_ptr(), 1, n as isize, accumulate,
            a.data.as_ptr(), a.col_stride as isize, a.row_stride as isize,
            b.data.as_ptr(), b.col_stride as isize, b.row_stride as isize,
            T::one(), T::one(), false, false, false, par,
        );
    }
}

/// Out[b] = A[b] @ B[b], as `Op::Matmul` describes.
pub fn matmul(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let n = b.shape()[b.ndim() - 1];
    let nb: usize = batch.iter().product();
    let mut out_shape = batch.to_vec();
    out_shape.extend([m, n]);
    let la = a.layout();
    let lb = b.layout();
    // Batch offsets of each operand, from its batch strides.
    let batch_offsets = |l: &Layout| -> Vec<usize> {
        let bl = Layout { shape: batch.to_vec(), strides: l.strides[..l.ndim() - 2].to_vec(), offset: l.offset };
        let mut v = Vec::with_capacity(nb);
        bl.for_each_offset(|o| v.push(o));
        v
    };
    let (oa, ob) = (batch_offsets(la), batch_offsets(lb));
    let (ars, acs) = (la.strides[la.ndim() - 2] as isize, la.strides[la.ndim() - 1] as isize);
    let (brs, bcs) = (lb.strides[lb.ndim() - 2] as isize, lb.strides[lb.ndim() - 1] as isize);
    crate::with_float!(
        a.dtype(),
        T,
        {
            let mut out = try_vec::<T>(nb * m * n, 0.0)?;
            if m * n > 0 && k > 0 {
                let (da, db) = (a.storage().slice::<T>(), b.storage().slice::<T>());
                let work = m * n * k;
                let one = |(i, dst): (usize, &mut [T]), par: Parallelism| {
                    let lhs = Mat { data: &da[oa[i]..], rows: m, cols: k, row_stride: ars as usize, col_stride: acs as usize };
                    let rhs = Mat { data: &db[ob[i]..], rows: k, cols: n, row_stride: brs as usize, col_stride: bcs as usize };
                    gemm_into(dst, lhs, rhs, false, par);
                };
                if nb > 1 && work < GEMM_PAR_WORK && nb * work >= GEMM_PAR_WORK {
                    // Many small products: one per thread rather than threads inside each.
                    team::chunks_mut(&mut out, m * n, |i, dst| one((i, dst), Parallelism::None));
                } else if work >= GEMM_PAR_WORK && team::threads() > 1 {
                    // Split each product into row (or column) blocks, one single-threaded gemm
                    // per thread: measured faster here than gemm's own threading for the
                    // rectangular shapes of training (e.g. 64x784 @ 784x128).
                    let parts = team::threads();
                    for (i, dst) in out.chunks_mut(m * n).enumerate() {
                        let dst_ptr = SendPtr(dst.as_mut_ptr());
                        // Rows split unless that leaves each thread too few rows to fill the
                        // gemm crate's tall (up to 64-row) micro-tiles: measured on the MLP's
                        // shapes, rows win for 128x64 @ 64x784 (106 -> 83 us), columns for
                        // 64x784 @ 784x128 (86 vs 105 us).
                        let by_rows = m >= n || m >= 128;
                        let len = if by_rows { m } else { n };
                        let step = len.div_ceil(parts);
                        team::run(parts, |t| {
                            let (lo, hi) = (t * step, ((t + 1) * step).min(len));
                            if lo >= hi {
                                return;
                            }
                            let dst = dst_ptr;
                            // SAFETY: block t writes output rows (or columns) lo..hi only, which no
                            // other block touches; operand offsets stay inside their layouts.
                            unsafe {
                                if by_rows {
                                    gemm::gemm(
                                        hi - lo, n, k, dst.0.add(lo * n), 1, n as isize, false,
                                        da.as_ptr().add(oa[i] + lo * ars as usize), acs, ars,
                                        db.as_ptr().add(ob[i]), bcs, brs,
                                        0.0, 1.0, false, false, false, Parallelism::None,
                                    );
                                } else {
                                    gemm::gemm(
                                        m, hi - lo, k, dst.0.add(lo), 1, n as isize, false,
                                        da.as_ptr().add(oa[i]), acs, ars,
                                        db.as_ptr().add(ob[i] + lo * bcs as usize), bcs, brs,
                                        0.0, 1.0, false, false, false, Parallelism::None,
                                    );
                                }
                            }
                        });
                    }
                } else {
                    out.chunks_mut(m * n).enumerate().for_each(|c| one(c, Parallelism::None));
                }
            }
            Tensor::from_vec(out, &out_shape)
        },
        {
            let (ad, bd) = (a.storage().slice::<i64>(), b.storage().slice::<i64>());
            let mut out = try_vec::<i64>(nb * m * n, 0)?;
            for i in 0..nb {
                for r in 0..m {
                    for c in 0..n {
                        let mut acc = 0i64;
                        for t in 0..k {
                            let x = ad[oa[i] + r * ars as usize + t * acs as usize];
                            let y = bd[ob[i] + t * brs as usize + c * bcs as usize];
                            acc = acc.wrapping_add(x.wrapping_mul(y));
                        }
                        out[i * m * n + r * n + c] = acc;
                    }
                }
            }
            Tensor::from_vec(out, &out_shape)
        }
    )
}
