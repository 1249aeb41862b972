//! Matrix products: `matmul` with PyTorch's 1-D/2-D/batched-broadcast rules, `mm`, `bmm`,
//! `dot`. Floats go through the `gemm` crate with both operands' strides (no copies for
//! transposed views); int64 uses a plain loop.
use crate::autograd::Recorder;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::{broadcast_shapes, Layout};
use crate::storage::try_vec;
use crate::tensor::Tensor;
use crate::dtype::Float;
pub(crate) use gemm::Parallelism;
use crate::cpu::team::{self, SendPtr};

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
    pub(crate) fn t(self) -> Self {
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

/// Out[b] = A[b] @ B[b] for operands of shape [..batch, m, k] and [..batch, k, n] whose batch
/// dims are already broadcast to `batch`. The output is contiguous.
fn batched_matmul_forward(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    if a.device().is_gpu() || b.device().is_gpu() { return crate::gpu::ops::matmul(a, b, batch); }
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

impl Tensor {
    /// Batched matmul of operands with >= 2 dims, broadcasting the batch dims.
    fn matmul_nd(&self, other: &Tensor) -> Result<Tensor> {
        let (a, b) = (self, other);
        let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
        let (k2, n) = (b.shape()[b.ndim() - 2], b.shape()[b.ndim() - 1]);
        if k != k2 {
            return Err(Error::Shape(format!(
                "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
                a.shape()[..a.ndim() - 1].iter().product::<usize>(),
                k,
                k2,
                n
            )));
        }
        let batch = broadcast_shapes(&a.shape()[..a.ndim() - 2], &b.shape()[..b.ndim() - 2])?;
        let mut sa = batch.clone();
        sa.extend([m, k]);
        let mut sb = batch.clone();
        sb.extend([k, n]);
        let (ae, be) = (a.detach().expand_to(&sa)?, b.detach().expand_to(&sb)?);
        let out = batched_matmul_forward(&ae, &be, &batch)?;
        let Some(mut rec) = Recorder::new("MmBackward0", &[a, b]) else { return Ok(out) };
        let (na, nb) = (rec.needs(0), rec.needs(1));
        let ia = nb.then(|| rec.save(a));
        let ib = na.then(|| rec.save(b));
        let (shape_a, shape_b) = (a.shape().to_vec(), b.shape().to_vec());
        Ok(rec.finish(out, false, move |ctx, g| {
            let batched = g.ndim() > 2;
            let ga = match ib {
                // A 2-D `a` shared by every batch: one product over the batch, not a sum of many.
                Some(i) if batched && shape_a.len() == 2 => {
                    let b = ctx.saved(i)?;
                    let mut full = g.shape()[..g.ndim() - 2].to_vec();
                    full.extend_from_slice(&b.shape()[b.ndim() - 2..]);
                    let (m, k) = (shape_a[0] as i64, shape_a[1] as i64);
                    let gm = g.movedim(-2, 0)?.reshape(&[m, -1])?;
                    let bm = b.expand_to(&full)?.movedim(-2, 0)?.reshape(&[k, -1])?;
                    Some(gm.matmul_nd(&bm.t()?)?)
                }
                Some(i) => Some(g.matmul_nd(&ctx.saved(i)?.transpose(-1, -2)?)?.sum_to_shape(&shape_a)?),
                None => None,
            };
            let gb = match ia {
                Some(i) if batched && shape_b.len() == 2 => {
                    let a = ctx.saved(i)?;
                    let mut full = g.shape()[..g.ndim() - 2].to_vec();
                    full.extend_from_slice(&a.shape()[a.ndim() - 2..]);
                    let (k, n) = (shape_b[0] as i64, shape_b[1] as i64);
                    let am = a.expand_to(&full)?.reshape(&[-1, k])?;
                    Some(am.t()?.matmul_nd(&g.reshape(&[-1, n])?)?)
                }
                Some(i) => Some(ctx.saved(i)?.transpose(-1, -2)?.matmul_nd(g)?.sum_to_shape(&shape_b)?),
                None => None,
            };
            Ok(vec![ga, gb])
        }))
    }

    fn check_matmul_dtypes(&self, other: &Tensor) -> Result<()> {
        if self.dtype() != other.dtype() {
            return Err(Error::Runtime(format!(
                "expected m1 and m2 to have the same dtype, but got: {} != {}",
                self.dtype(),
                other.dtype()
            )));
        }
        if self.dtype() == DType::Bool {
            return Err(Error::DType("\"addmm_impl_cpu_\" not implemented for 'Bool'".into()));
        }
        Ok(())
    }

    /// `matmul` with PyTorch's rules for 1-D, 2-D and batched operands.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.check_matmul_dtypes(other)?;
        let (da, db) = (self.ndim(), other.ndim());
        if da == 0 || db == 0 {
            return Err(Error::Shape(format!(
                "both arguments to matmul need to be at least 1D, but they are {da}D and {db}D"
            )));
        }
        match (da, db) {
            (1, 1) => self.dot(other),
            (1, _) => self.unsqueeze(0)?.matmul_nd(other)?.squeeze(Some(&[-2])),
            (_, 1) => self.matmul_nd(&other.unsqueeze(1)?)?.squeeze(Some(&[-1])),
            _ => self.matmul_nd(other),
        }
    }

    pub fn mm(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 2 {
            return Err(Error::Shape(format!("self must be a matrix, got {}D", self.ndim())));
        }
        if other.ndim() != 2 {
            return Err(Error::Shape(format!("mat2 must be a matrix, got {}D", other.ndim())));
        }
        self.check_matmul_dtypes(other)?;
        self.matmul_nd(other)
    }

    pub fn bmm(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 3 || other.ndim() != 3 {
            return Err(Error::Shape(format!(
                "batch1 must be a 3D tensor and batch2 must be a 3D tensor, got {}D and {}D",
                self.ndim(),
                other.ndim()
            )));
        }
        if self.shape()[0] != other.shape()[0] {
            return Err(Error::Shape(format!(
                "batch1 and batch2 must have same number of batches, got {} and {}",
                self.shape()[0],
                other.shape()[0]
            )));
        }
        self.check_matmul_dtypes(other)?;
        self.matmul_nd(other)
    }

    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 1 || other.ndim() != 1 {
            return Err(Error::Shape(format!(
                "1D tensors expected, but got {}D and {}D tensors",
                self.ndim(),
                other.ndim()
            )));
        }
        if self.shape() != other.shape() {
            return Err(Error::Shape(format!(
                "inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements, but got {} and {} elements respectively",
                self.shape()[0],
                other.shape()[0],
                self.shape()[0],
                other.shape()[0]
            )));
        }
        self.check_matmul_dtypes(other)?;
        self.unsqueeze(0)?.matmul_nd(&other.unsqueeze(1)?)?.reshape_usize(&[])
    }
}

impl Tensor {
    /// `F.linear`: x @ weight^T + bias in one op (PyTorch's addmm path). The weight's gradient
    /// comes out of one gemm already in the weight's layout (no transposed copy).
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        if weight.ndim() != 2 || self.ndim() == 0 {
            return Err(Error::Shape(format!(
                "linear: expected input with at least 1 dim and a 2-D weight, got input {:?} and weight {:?}",
                self.shape(),
                weight.shape()
            )));
        }
        let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
        if self.shape()[self.ndim() - 1] != in_f {
            return Err(Error::Shape(format!(
                "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
                self.numel() / self.shape()[self.ndim() - 1].max(1),
                self.shape()[self.ndim() - 1],
                in_f,
                out_f
            )));
        }
        self.check_matmul_dtypes(weight)?;
        if let Some(b) = bias {
            if b.shape() != [out_f] {
                return Err(Error::Shape(format!("linear: bias of shape {:?} does not match {out_f} output features", b.shape())));
            }
        }
        let mut out_shape = self.shape()[..self.ndim() - 1].to_vec();
        out_shape.push(out_f);
        let x2 = self.detach().reshape_usize(&[self.numel() / in_f.max(1), in_f])?;
        let wt = weight.detach().t()?;
        let mut out = batched_matmul_forward(&x2, &wt, &[])?;
        if let Some(b) = bias {
            out = out.binary(crate::ops::BinaryOp::Add, &b.detach().to_dtype(out.dtype())?)?;
        }
        let out = out.reshape_usize(&out_shape)?;
        let inputs: Vec<&Tensor> = std::iter::once(self).chain(std::iter::once(weight)).chain(bias).collect();
        let Some(mut rec) = Recorder::new("AddmmBackward0", &inputs) else { return Ok(out) };
        let (nx, nw) = (rec.needs(0), rec.needs(1));
        let iw = nx.then(|| rec.save(weight));
        let ix = nw.then(|| rec.save(self));
        let x_shape = self.shape().to_vec();
        let has_bias = bias.is_some();
        Ok(rec.finish(out, false, move |ctx, g| {
            let g2 = g.reshape_usize(&[g.numel() / out_f.max(1), out_f])?;
            let gx = match iw {
                Some(i) => Some(g2.matmul_nd(&ctx.saved(i)?)?.reshape_usize(&x_shape)?),
                None => None,
            };
            let gw = match ix {
                Some(i) => {
                    let x = ctx.saved(i)?;
                    let x2 = x.reshape_usize(&[x.numel() / in_f.max(1), in_f])?;
                    Some(g2.t()?.matmul_nd(&x2)?)
                }
                None => None,
            };
            let mut grads = vec![gx, gw];
            if has_bias {
                grads.push(if ctx.needs(2) { Some(g2.sum(Some(&[0]), false)?) } else { None });
            }
            Ok(grads)
        }))
    }
}
