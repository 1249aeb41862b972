//! Neural-network ops that frameworks fuse: softmax/log_softmax along a dim, clamp, and
//! the im2col pair (unfold/fold) that conv2d and the pools are built on.
use crate::autograd::Recorder;
use crate::dtype::{result_type, DType, Element, Float, Operand};
use crate::error::{Error, Result};
use crate::layout::wrap_dim;
use crate::ops::BinaryOp;
use crate::storage::try_vec;
use crate::tensor::Tensor;
use crate::op::{Op, SoftmaxOp};
use crate::ops::dispatch::run1;
use crate::cpu::team;

/// Geometry of a 2-D sliding window (kernel, dilation, padding, stride) over an H x W input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub padding: (usize, usize),
    pub stride: (usize, usize),
}

impl Window {
    /// Output size along one axis, or an error naming the sizes when the window does not fit.
    fn out_len(input: usize, k: usize, d: usize, p: usize, s: usize) -> Result<usize> {
        let span = d * (k - 1) + 1;
        if input + 2 * p < span {
            return Err(Error::Shape(format!(
                "Calculated output size is too small: input size {input} with padding {p} is smaller than the effective kernel size {span}"
            )));
        }
        Ok((input + 2 * p - span) / s + 1)
    }
    pub fn output_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let Window { kernel: (kh, kw), dilation: (dh, dw), padding: (ph, pw), stride: (sh, sw) } = *self;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || dh == 0 || dw == 0 {
            return Err(Error::Runtime(format!("kernel size, stride and dilation must be greater than zero, got {self:?}")));
        }
        Ok((Window::out_len(h, kh, dh, ph, sh)?, Window::out_len(w, kw, dw, pw, sw)?))
    }
}

impl Tensor {
    /// Softmax (or log-softmax) along `dim`, computed stably in one pass per row.
    pub fn softmax(&self, dim: i64, op: SoftmaxOp) -> Result<Tensor> {
        let x = if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::F32)? };
        let d = wrap_dim(dim, x.ndim())?;
        let out = run1(&Op::Softmax { op, dim: d }, &[&x])?;
        let Some(rec) = Recorder::new(op.grad_fn_name().unwrap_or("SoftmaxBackward0"), &[&x]) else { return Ok(out) };
        Ok(rec.finish(out, true, move |ctx, g| {
            let y = ctx.saved(0)?;
            let dims = [d as i64];
            let gx = if op == SoftmaxOp::LogSoftmax {
                g.sub(&y.exp()?.mul(&g.sum(Some(&dims), true)?)?)?
            } else {
                y.mul(&g.sub(&g.mul(&y)?.sum(Some(&dims), true)?)?)?
            };
            Ok(vec![Some(gx)])
        }))
    }

    /// Clamps to [min, max] (either bound optional); NaN stays NaN.
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if min.is_none() && max.is_none() {
            return Err(Error::Runtime("torch.clamp: At least one of 'min' or 'max' must not be None".into()));
        }
        let mut operands = vec![self.operand()];
        operands.extend(min.iter().chain(max.iter()).map(|v| Operand::Wrapped(if v.fract() == 0.0 && !self.dtype().is_float() { DType::I64 } else { DType::F64 })));
        let dt = result_type(&operands);
        let x = self.to_dtype(dt)?;
        let mut out = x.detach();
        if let Some(lo) = min {
            out = out.binary(BinaryOp::Maximum, &Tensor::wrapped_scalar(lo).to_dtype(dt)?)?;
        }
        if let Some(hi) = max {
            out = out.binary(BinaryOp::Minimum, &Tensor::wrapped_scalar(hi).to_dtype(dt)?)?;
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                // PyTorch sets everything but NaN to max when min > max.
                let all_max = Tensor::full_dtype(x.shape(), hi, dt)?.to_device(x.device())?;
                out = if dt.is_float() { x.detach().unary(crate::ops::UnaryOp::IsNan)?.where_(&x.detach(), &all_max)? } else { all_max };
            }
        }
        if !dt.is_float() {
            return Ok(out);
        }
        let Some(mut rec) = Recorder::new("ClampBackward1", &[&x]) else { return Ok(out) };
        rec.save(&x);
        Ok(rec.finish(out, false, move |ctx, g| {
            let x = ctx.saved(0)?;
            let mut mask = Tensor::full(x.shape(), true)?.to_device(x.device())?;
            if let Some(lo) = min {
                // Strictly inside the bounds, as PyTorch 2.15: a value at a bound gets 0.
                mask = mask.binary(BinaryOp::LogicalAnd, &x.binary(BinaryOp::Gt, &Tensor::wrapped_scalar(lo))?)?;
            }
            if let Some(hi) = max {
                mask = mask.binary(BinaryOp::LogicalAnd, &x.binary(BinaryOp::Lt, &Tensor::wrapped_scalar(hi))?)?;
            }
            Ok(vec![Some(mask.where_(g, &Tensor::zeros(&[], g.dtype())?)?)])
        }))
    }

    /// im2col: [N, C, H, W] -> [N, C*kh*kw, L] (`batch_major` false, F.unfold's layout) or
    /// [C*kh*kw, N*L] (`batch_major` true: one gemm then covers the whole batch), padding
    /// with `pad_value`.
    pub fn im2col(&self, w: Window, pad_value: f64, batch_major: bool) -> Result<Tensor> {
        if self.device().is_gpu() { return crate::gpu::conv::im2col(self, w, pad_value, batch_major); }
        if self.ndim() != 4 {
            return Err(Error::Shape(format!(
                "Expected 4D (batched) input to unfold, but got input of size: {:?}",
                self.shape()
            )));
        }
        if !self.dtype().is_float() {
            return Err(Error::DType(format!("\"im2col\" not implemented for '{}'", crate::ops::copy::titled(self.dtype()))));
        }
        let (n, c, h, wd) = (self.shape()[0], self.shape()[1], self.shape()[2], self.shape()[3]);
        let (oh, ow) = w.output_size(h, wd)?;
        let g = ColGeometry::new(w, n, c, (h, wd), (oh, ow), false);
        let out = crate::with_float!(
            self.dtype(),
            T,
            {
                let x = self.contiguous_data::<T>();
                let pad = T::from_f64(pad_value);
                let kk = w.kernel.0 * w.kernel.1;
                // Sample-major [N, C*kh*kw, L]: each input plane owns kh*kw consecutive runs.
                let mut out = try_vec::<T>(n * g.rows * g.l, pad)?;
                if g.l > 0 {
                    team::chunks_mut(&mut out, kk * g.l, |plane_id, runs| {
                        let mut padded = Vec::new();
                        g.pad_plane(&x[plane_id * h * wd..(plane_id + 1) * h * wd], pad, &mut padded);
                        for (k, run) in runs.chunks_exact_mut(g.l).enumerate() {
                            g.fill_run(run, &padded, k);
                        }
                    });
                }
                let out = Tensor::from_vec(out, &[n, g.rows, g.l])?;
                if batch_major {
                    out.transpose(0, 1)?.contiguous()?.reshape_usize(&[g.rows, n * g.l])?
                } else {
                    out
                }
            },
            unreachable!()
        );
        let Some(rec) = Recorder::new("Im2ColBackward0", &[self]) else { return Ok(out) };
        Ok(rec.finish(out, false, move |_, grad| Ok(vec![Some(grad.col2im((h, wd), w, batch_major, n)?)])))
    }

    /// col2im, the adjoint of `im2col`: columns in either layout -> [N, C, H, W], summing
    /// overlapping windows. `n` is the batch size (needed for the batch-major layout).
    pub fn col2im(&self, size: (usize, usize), w: Window, batch_major: bool, n: usize) -> Result<Tensor> {
        if self.device().is_gpu() { return crate::gpu::conv::col2im(self, size, w, batch_major, n); }
        let (h, wd) = size;
        let (oh, ow) = w.output_size(h, wd)?;
        let kk = w.kernel.0 * w.kernel.1;
        let (rows, n) = if batch_major {
            if self.ndim() != 2 || self.shape()[1] != n * oh * ow {
                return Err(Error::Shape(format!("col2im: expected columns of shape [C*{kk}, {}], got {:?}", n * oh * ow, self.shape())));
            }
            (self.shape()[0], n)
        } else {
            if self.ndim() != 3 || self.shape()[2] != oh * ow {
                return Err(Error::Shape(format!(
                    "Expected input of shape [N, C*{}*{}, {}] to fold into {:?}, but got {:?}",
                    w.kernel.0, w.kernel.1, oh * ow, size, self.shape()
                )));
            }
            (self.shape()[1], self.shape()[0])
        };
        if rows % kk != 0 {
            return Err(Error::Shape(format!("col2im: {rows} rows is not a multiple of the kernel size {kk}")));
        }
        let c = rows / kk;
        let g = ColGeometry::new(w, n, c, (h, wd), (oh, ow), batch_major);
        let out = crate::with_float!(
            self.dtype(),
            T,
            {
                let cols = self.contiguous_data::<T>();
                let mut out = try_vec::<T>(n * c * h * wd, T::zero())?;
                if h * wd > 0 && g.l > 0 {
                    team::chunks_mut(&mut out, h * wd, |plane_id, plane| {
                        let (b, ci) = (plane_id / c, plane_id % c);
                        let mut padded = Vec::new();
                        g.pad_plane(&[], T::zero(), &mut padded);
                        for k in 0..kk {
                            let base = g.offset(b, ci * kk + k);
                            g.add_run(&mut padded, &cols[base..base + g.l], k);
                        }
                        g.crop_plane(&padded, plane);
                    });
                }
                Tensor::from_vec(out, &[n, c, h, wd])?
            },
            return Err(Error::DType(format!("\"col2im\" not implemented for '{}'", crate::ops::copy::titled(self.dtype()))))
        );
        let Some(rec) = Recorder::new("Col2ImBackward0", &[self]) else { return Ok(out) };
        Ok(rec.finish(out, false, move |_, grad| Ok(vec![Some(grad.im2col(w, 0.0, batch_major)?)])))
    }
}

/// Where each (sample, kernel row) run of L = oh*ow column values lives, for both layouts.
pub(crate) struct ColGeometry {
    w: Window,
    n: usize,
    rows: usize,
    l: usize,
    height: usize,
    width: usize,
    out_width: usize,
    batch_major: bool,
}

impl ColGeometry {
    pub(crate) fn new(w: Window, n: usize, c: usize, (height, width): (usize, usize), (oh, ow): (usize, usize), batch_major: bool) -> Self {
        ColGeometry { w, n, rows: c * w.kernel.0 * w.kernel.1, l: oh * ow, height, width, out_width: ow, batch_major }
    }
    /// Start of the run for sample `b`, kernel row `r`.
    fn offset(&self, b: usize, r: usize) -> usize {
        if self.batch_major {
            (r * self.n + b) * self.l
        } else {
            (b * self.rows + r) * self.l
        }
    }
    /// Padded plane width and length.
    fn padded_size(&self) -> (usize, usize) {
        let (ph, pw) = self.w.padding;
        let wp = self.width + 2 * pw;
        (wp, (self.height + 2 * ph) * wp)
    }
    /// Copies an H x W `plane` into `buf` inside a border of `pad` as wide as the padding, so
    /// that every window row below is a plain copy (an empty `plane` leaves all of it `pad`).
    pub(crate) fn pad_plane<T: Copy>(&self, plane: &[T], pad: T, buf: &mut Vec<T>) {
        let (ph, pw) = self.w.padding;
        let (wp, len) = self.padded_size();
        buf.clear();
        buf.resize(len, pad);
        if self.width > 0 {
            for (y, row) in plane.chunks_exact(self.width).enumerate() {
                buf[(y + ph) * wp + pw..][..self.width].copy_from_slice(row);
            }
        }
    }
    /// The inverse of `pad_plane`: the inside of `buf` into `plane`.
    pub(crate) fn crop_plane<T: Copy>(&self, buf: &[T], plane: &mut [T]) {
        let (ph, pw) = self.w.padding;
        let (wp, _) = self.padded_size();
        if self.width > 0 {
            for (y, row) in plane.chunks_exact_mut(self.width).enumerate() {
                row.copy_from_slice(&buf[(y + ph) * wp + pw..][..self.width]);
            }
        }
    }
    /// Writes the run of L column values of kernel offset `k` (= ki*kw + kj) from a plane
    /// padded by `pad_plane`.
    pub(crate) fn fill_run<T: Copy>(&self, dst: &mut [T], padded: &[T], k: usize) {
        let (ki, kj) = (k / self.w.kernel.1, k % self.w.kernel.1);
        let ((sh, sw), (dh, dw)) = (self.w.stride, self.w.dilation);
        let (wp, _) = self.padded_size();
        for (oy, row) in dst.chunks_exact_mut(self.out_width).enumerate() {
            let src = &padded[(oy * sh + ki * dh) * wp + kj * dw..];
            if sw == 1 {
                row.copy_from_slice(&src[..row.len()]);
            } else {
                for (d, &v) in row.iter_mut().zip(src.iter().step_by(sw)) {
                    *d = v;
                }
            }
        }
    }
    /// col2im of one run: adds the L column values of kernel offset `k` into a padded plane.
    pub(crate) fn add_run<T: Float>(&self, padded: &mut [T], src: &[T], k: usize) {
        let (ki, kj) = (k / self.w.kernel.1, k % self.w.kernel.1);
        let ((sh, sw), (dh, dw)) = (self.w.stride, self.w.dilation);
        let (wp, _) = self.padded_size();
        for (oy, s) in src.chunks_exact(self.out_width).enumerate() {
            let dst = &mut padded[(oy * sh + ki * dh) * wp + kj * dw..];
            if sw == 1 {
                for (d, &v) in dst[..s.len()].iter_mut().zip(s) {
                    *d = *d + v;
                }
            } else {
                for (d, &v) in dst.iter_mut().step_by(sw).zip(s) {
                    *d = *d + v;
                }
            }
        }
    }
}

/// The running (max, index) of a pooling window after candidate `(v, i)`: NaN wins and then
/// stays (PyTorch propagates NaN), the first maximum wins ties. Bitwise bools and selects, so
/// that vectorised loops turn them into blends: pooling inputs are data, whose comparisons a
/// branch predictor cannot learn.
#[inline(always)]
fn running_max<T: Float, I: Copy>((best, best_i): (T, I), (v, i): (T, I)) -> (T, I) {
    let take = ((v > best) | v.is_nan()) & !best.is_nan();
    (if take { v } else { best }, if take { i } else { best_i })
}

/// One output row of the 2x2 / stride 2 max pool from input rows `r0` and `r1`, which start at
/// flat plane positions `a` and `a + width`: an indexed loop over exact-length slices, which
/// the compiler vectorises (selects become blends). The window's winner is tracked as a code
/// 0..3 in 32-bit lanes, as wide as float32's, and turned into a plane index at the end.
#[inline(always)]
fn max_pool_2x2_row<T: Float>(r0: &[T], r1: &[T], (a, width): (i64, i64), vals: &mut [T], idx: &mut [i64]) {
    let ow = vals.len();
    let (r0, r1, idx) = (&r0[..2 * ow], &r1[..2 * ow], &mut idx[..ow]);
    for ox in 0..ow {
        let mut m = (r0[2 * ox], 0i32);
        m = running_max(m, (r0[2 * ox + 1], 1));
        m = running_max(m, (r1[2 * ox], 2));
        m = running_max(m, (r1[2 * ox + 1], 3));
        vals[ox] = m.0;
        // Bit 1 of the code picks the second row: -(0 or 1) as a mask, not a multiply.
        idx[ox] = a + 2 * ox as i64 + (m.1 & 1) as i64 + (-((m.1 >> 1) as i64) & width);
    }
}

/// Output length of a pooling window along one axis, as PyTorch computes it (ceil mode
/// drops a last window that would start in the right padding).
fn pool_out_len(input: usize, k: usize, d: usize, p: usize, s: usize, ceil: bool) -> Result<usize> {
    let span = d * (k - 1) + 1;
    if input + 2 * p < span {
        return Err(Error::Shape(format!(
            "Given input size {input} with padding {p}, the pooling window of effective size {span} is too large"
        )));
    }
    let num = input + 2 * p - span + if ceil { s - 1 } else { 0 };
    let mut out = num / s + 1;
    if ceil && (out - 1) * s >= input + p {
        out -= 1;
    }
    Ok(out)
}

impl Tensor {
    /// Max pooling over [N, C, H, W]: the values and, per output, the flat index
    /// (row * W + col) of the window's first maximum (PyTorch's `return_indices`).
    /// The gradient goes to that element only.
    pub fn max_pool2d(&self, w: Window, ceil_mode: bool) -> Result<(Tensor, Tensor)> {
        if self.ndim() != 4 {
            return Err(Error::Shape(format!("max_pool2d: expected a 4D input, got {:?}", self.shape())));
        }
        let Window { kernel: (kh, kw), dilation: (dh, dw), padding: (ph, pw), stride: (sh, sw) } = w;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || dh == 0 || dw == 0 {
            return Err(Error::Runtime(format!("max_pool2d: kernel size, stride and dilation must be greater than zero, got {w:?}")));
        }
        if ph > kh / 2 || pw > kw / 2 {
            return Err(Error::Runtime(format!(
                "max_pool2d: pad should be at most half of effective kernel size, but got pad=({ph}, {pw}) and kernel_size=({kh}, {kw})"
            )));
        }
        let (n, c, h, wd) = (self.shape()[0], self.shape()[1], self.shape()[2], self.shape()[3]);
        let oh = pool_out_len(h, kh, dh, ph, sh, ceil_mode)?;
        let ow = pool_out_len(wd, kw, dw, pw, sw, ceil_mode)?;
        if self.device().is_gpu() { return crate::gpu::conv::max_pool2d(self, w, (oh, ow)); }
        let (plane_in, plane_out) = (h * wd, oh * ow);
        let mut indices = try_vec::<i64>(n * c * plane_out, 0)?;
        let values = crate::with_float!(
            self.dtype(),
            T,
            {
                let x = self.contiguous_data::<T>();
                let mut out = try_vec::<T>(n * c * plane_out, T::neg_inf())?;
                // Valid kernel offsets per output row/column, so the inner loops have no
                // bounds tests.
                let valid = |o: usize, s: usize, d: usize, p: usize, k: usize, len: usize| -> Vec<usize> {
                    (0..k).map(|t| (o * s + t * d) as isize - p as isize).filter(|&i| i >= 0 && (i as usize) < len).map(|i| i as usize).collect()
                };
                let rows: Vec<Vec<usize>> = (0..oh).map(|oy| valid(oy, sh, dh, ph, kh, h)).collect();
                let cols: Vec<Vec<usize>> = (0..ow).map(|ox| valid(ox, sw, dw, pw, kw, wd)).collect();
                // Windows that all lie inside the image (no padding, no ceil overhang) take a
                // loop of plain index arithmetic.
                let interior = ph == 0 && pw == 0 && (oh - 1) * sh + (kh - 1) * dh < h && (ow - 1) * sw + (kw - 1) * dw < wd;
                let work = |(plane, (vals, idx)): (usize, (&mut [T], &mut [i64]))| {
                    let src = &x[plane * plane_in..(plane + 1) * plane_in];
                    if interior && (kh, kw, sh, sw, dh, dw) == (2, 2, 2, 2, 1, 1) {
                        // The common 2x2 / stride 2 window: row pairs walked as slices (no
                        // bounds tests in the loop).
                        for (oy, (vrow, irow)) in vals.chunks_exact_mut(ow).zip(idx.chunks_exact_mut(ow)).enumerate() {
                            let (a, b) = (2 * oy * wd, (2 * oy + 1) * wd);
                            crate::cpu::wide(|| max_pool_2x2_row(&src[a..], &src[b..], (a as i64, wd as i64), vrow, irow));
                        }
                        return;
                    }
                    if interior {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let first = oy * sh * wd + ox * sw;
                                let mut m = (src[first], first);
                                for ki in 0..kh {
                                    let row = (oy * sh + ki * dh) * wd + ox * sw;
                                    for kj in 0..kw {
                                        let i = row + kj * dw;
                                        m = running_max(m, (src[i], i));
                                    }
                                }
                                vals[oy * ow + ox] = m.0;
                                idx[oy * ow + ox] = m.1 as i64;
                            }
                        }
                        return;
                    }
                    for (oy, ys) in rows.iter().enumerate() {
                        for (ox, xs) in cols.iter().enumerate() {
                            let first = ys[0] * wd + xs[0];
                            let mut m = (src[first], first);
                            for &iy in ys {
                                for &ix in xs {
                                    let i = iy * wd + ix;
                                    m = running_max(m, (src[i], i));
                                }
                            }
                            vals[oy * ow + ox] = m.0;
                            idx[oy * ow + ox] = m.1 as i64;
                        }
                    }
                };
                if plane_out > 0 {
                    if n * c * plane_in >= crate::cpu::PAR_THRESHOLD {
                        team::zip_chunks_mut(&mut out, plane_out, &mut indices, plane_out, |p, v, i| work((p, (v, i))));
                    } else {
                        out.chunks_mut(plane_out).zip(indices.chunks_mut(plane_out)).enumerate().for_each(work);
                    }
                }
                Tensor::from_vec(out, &[n, c, oh, ow])?
            },
            return Err(Error::DType(format!("\"max_pool2d\" not implemented for '{}'", crate::ops::copy::titled(self.dtype()))))
        );
        let indices = Tensor::from_vec(indices, &[n, c, oh, ow])?;
        let Some(rec) = Recorder::new("MaxPool2DWithIndicesBackward0", &[self]) else { return Ok((values, indices)) };
        let idx = indices.clone();
        let values = rec.finish(values, false, move |_, g| Ok(vec![Some(g.plane_scatter_add(&idx, (h, wd))?)]));
        Ok((values, indices))
    }

    /// [N, C, L] values added into zero planes [N, C, H, W] at flat plane positions `index`
    /// (the backward of max pooling; its own backward is `plane_gather`).
    pub fn plane_scatter_add(&self, index: &Tensor, size: (usize, usize)) -> Result<Tensor> {
        if crate::op::op_device(&[self, index])?.is_gpu() { return crate::gpu::conv::plane_scatter_add(self, index, size); }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let l = self.numel() / (n * c).max(1);
        let plane = size.0 * size.1;
        let idx = index.contiguous_data::<i64>();
        let out = crate::with_float!(
            self.dtype(),
            T,
            {
                let g = self.contiguous_data::<T>();
                let mut out = try_vec::<T>(n * c * plane, T::zero())?;
                if plane > 0 && l > 0 {
                    team::chunks_mut(&mut out, plane, |p, dst| {
                        for j in 0..l {
                            let k = idx[p * l + j] as usize;
                            dst[k] = dst[k] + g[p * l + j];
                        }
                    });
                }
                Tensor::from_vec(out, &[n, c, size.0, size.1])?
            },
            return Err(Error::DType("plane_scatter_add expects a float tensor".into()))
        );
        let Some(rec) = Recorder::new("MaxPool2DWithIndicesBackwardBackward0", &[self]) else { return Ok(out) };
        let index = index.clone();
        Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(g.plane_gather(&index)?)])))
    }

    /// out[n, c, j] = self[n, c, index[n, c, j]] over flattened planes; shaped like `index`.
    pub fn plane_gather(&self, index: &Tensor) -> Result<Tensor> {
        if crate::op::op_device(&[self, index])?.is_gpu() { return crate::gpu::conv::plane_gather(self, index); }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let plane = self.numel() / (n * c).max(1);
        let l = index.numel() / (n * c).max(1);
        let idx = index.contiguous_data::<i64>();
        let out = crate::with_float!(
            self.dtype(),
            T,
            {
                let src = self.contiguous_data::<T>();
                let mut out = try_vec::<T>(n * c * l, T::zero())?;
                if l > 0 {
                    team::chunks_mut(&mut out, l, |p, dst| {
                        for (j, d) in dst.iter_mut().enumerate() {
                            *d = src[p * plane + idx[p * l + j] as usize];
                        }
                    });
                }
                Tensor::from_vec(out, index.shape())?
            },
            return Err(Error::DType("plane_gather expects a float tensor".into()))
        );
        let Some(rec) = Recorder::new("MaxPool2DGatherBackward0", &[self]) else { return Ok(out) };
        let (index, h, w) = (index.clone(), self.shape()[2], self.shape()[3]);
        Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(g.plane_scatter_add(&index, (h, w))?)])))
    }
}
