//! Neural-network ops that frameworks fuse: softmax/log_softmax along a dim, clamp, and
//! the im2col pair (unfold/fold) that conv2d and the pools are built on.
use crate::autograd::Recorder;
use crate::dtype::{result_type, DType, Operand};
use crate::error::{Error, Result};
use crate::layout::wrap_dim;
pub use crate::op::Window;
use crate::op::{Op, SoftmaxOp, WindowOp};
use crate::ops::dispatch::{run, run1};
use crate::ops::BinaryOp;
use crate::tensor::Tensor;

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
            // One float32 pass over the (rounded) output for 16-bit floats, as PyTorch's kernel.
            let y32 = if y.dtype().is_reduced_float() { y.to_dtype(DType::F32)? } else { y.clone() };
            let gx = g.in_float32(|g| {
                let g = g.to_dtype(y32.dtype())?;
                if op == SoftmaxOp::LogSoftmax {
                    g.sub(&y32.exp()?.mul(&g.sum(Some(&dims), true)?)?)
                } else {
                    y32.mul(&g.sub(&g.mul(&y32)?.sum(Some(&dims), true)?)?)
                }
            })?;
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
    /// im2col: [N, C, H, W] -> [N, C*kh*kw, L] (`batch_major` false, F.unfold's layout) or
    /// [C*kh*kw, N*L] (`batch_major` true: one gemm then covers the whole batch), padding
    /// with `pad_value`.
    pub fn im2col(&self, w: Window, pad_value: f64, batch_major: bool) -> Result<Tensor> {
        if self.ndim() != 4 {
            return Err(Error::Shape(format!(
                "Expected 4D (batched) input to unfold, but got input of size: {:?}",
                self.shape()
            )));
        }
        if !self.dtype().is_float() {
            return Err(Error::DType(format!("\"im2col\" not implemented for '{}'", self.dtype().titled())));
        }
        let (n, h, wd) = (self.shape()[0], self.shape()[2], self.shape()[3]);
        w.output_size(h, wd)?;
        let out = run1(&Op::Im2Col { window: w, pad_value, batch_major }, &[self])?;
        let Some(rec) = Recorder::new(grad_fn(WindowOp::Im2Col), &[self]) else { return Ok(out) };
        Ok(rec.finish(out, false, move |_, grad| Ok(vec![Some(grad.col2im((h, wd), w, batch_major, n)?)])))
    }

    /// col2im, the adjoint of `im2col`: columns in either layout -> [N, C, H, W], summing
    /// overlapping windows. `n` is the batch size (needed for the batch-major layout).
    pub fn col2im(&self, size: (usize, usize), w: Window, batch_major: bool, n: usize) -> Result<Tensor> {
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
        if !self.dtype().is_float() {
            return Err(Error::DType(format!("\"col2im\" not implemented for '{}'", self.dtype().titled())));
        }
        let out = run1(&Op::Col2Im { window: w, size, batch_major, n }, &[self])?;
        let Some(rec) = Recorder::new(grad_fn(WindowOp::Col2Im), &[self]) else { return Ok(out) };
        Ok(rec.finish(out, false, move |_, grad| Ok(vec![Some(grad.im2col(w, 0.0, batch_major)?)])))
    }

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
        let (h, wd) = (self.shape()[2], self.shape()[3]);
        let oh = pool_out_len(h, kh, dh, ph, sh, ceil_mode)?;
        let ow = pool_out_len(wd, kw, dw, pw, sw, ceil_mode)?;
        if !self.dtype().is_float() {
            return Err(Error::DType(format!("\"max_pool2d\" not implemented for '{}'", self.dtype().titled())));
        }
        let (values, indices) = run(&Op::MaxPool2d { window: w, out_size: (oh, ow) }, &[self])?.two()?;
        let Some(rec) = Recorder::new(grad_fn(WindowOp::MaxPool2d), &[self]) else { return Ok((values, indices)) };
        let idx = indices.clone();
        let values = rec.finish(values, false, move |_, g| Ok(vec![Some(g.plane_scatter_add(&idx, (h, wd))?)]));
        Ok((values, indices))
    }

    /// [N, C, L] values added into zero planes [N, C, H, W] at flat plane positions `index`
    /// (the backward of max pooling; its own backward is `plane_gather`).
    pub fn plane_scatter_add(&self, index: &Tensor, size: (usize, usize)) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::DType("plane_scatter_add expects a float tensor".into()));
        }
        let out = run1(&Op::PlaneScatterAdd { size }, &[self, index])?;
        let Some(rec) = Recorder::new(grad_fn(WindowOp::PlaneScatterAdd), &[self]) else { return Ok(out) };
        let index = index.clone();
        Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(g.plane_gather(&index)?)])))
    }

    /// out[n, c, j] = self[n, c, index[n, c, j]] over flattened planes; shaped like `index`.
    pub fn plane_gather(&self, index: &Tensor) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::DType("plane_gather expects a float tensor".into()));
        }
        let out = run1(&Op::PlaneGather, &[self, index])?;
        let Some(rec) = Recorder::new(grad_fn(WindowOp::PlaneGather), &[self]) else { return Ok(out) };
        let (index, h, w) = (index.clone(), self.shape()[2], self.shape()[3]);
        Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(g.plane_scatter_add(&index, (h, w))?)])))
    }
}

/// The autograd node name of a window op (each has one).
fn grad_fn(op: WindowOp) -> &'static str {
    op.grad_fn_name().unwrap_or(op.name())
}
