//! Ops that build new tensors from pieces: cat, flip, constant pad.
use crate::autograd::Recorder;
use crate::dtype::result_type;
use crate::error::{Error, Result};
use crate::layout::wrap_dim;
use crate::op::Op;
use crate::ops::dispatch::run1;
use crate::tensor::Tensor;

impl Tensor {
    /// Joins tensors along an existing dim.
    pub fn cat(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
        let device = crate::op::op_device(&tensors.iter().filter(|t| t.ndim() > 0).collect::<Vec<_>>())?;
        if tensors.is_empty() {
            return Err(Error::Value("torch.cat(): expected a non-empty list of Tensors".into()));
        }
        // Legacy rule: 1-D empty tensors are skipped.
        let parts: Vec<&Tensor> = tensors.iter().filter(|t| !(t.ndim() == 1 && t.numel() == 0)).collect();
        if parts.is_empty() {
            return Ok(tensors[0].clone());
        }
        let first = parts[0];
        if first.ndim() == 0 {
            return Err(Error::Shape("zero-dimensional tensor (at position 0) cannot be concatenated".into()));
        }
        let d = wrap_dim(dim, first.ndim())?;
        for (i, t) in parts.iter().enumerate() {
            if t.ndim() != first.ndim() {
                return Err(Error::Shape(format!(
                    "Tensors must have same number of dimensions: got {} and {}",
                    first.ndim(),
                    t.ndim()
                )));
            }
            for k in 0..first.ndim() {
                if k != d && t.shape()[k] != first.shape()[k] {
                    return Err(Error::Shape(format!(
                        "Sizes of tensors must match except in dimension {d}. Expected size {} but got size {} for tensor number {i} in the list.",
                        first.shape()[k],
                        t.shape()[k]
                    )));
                }
            }
        }
        let dt = result_type(&parts.iter().map(|t| crate::dtype::Operand::Dim(t.dtype())).collect::<Vec<_>>());
        let mut shape = first.shape().to_vec();
        shape[d] = parts.iter().map(|t| t.shape()[d]).sum();
        let out = Tensor::zeros_on(&shape, dt, device)?;
        let mut start = 0;
        for t in &parts {
            let len = t.shape()[d];
            out.view_with_layout(out.layout().slice(d, start, start + len, 1)).write_from(t)?;
            start += len;
        }
        out.storage().bump_version();
        // Skipped empty inputs are recorded too: they get an empty gradient, as in PyTorch.
        let inputs: Vec<&Tensor> = tensors.iter().collect();
        let Some(rec) = Recorder::new("CatBackward0", &inputs) else { return Ok(out) };
        let pieces: Vec<(Option<usize>, crate::dtype::DType)> =
            tensors.iter().map(|t| ((t.ndim() != 1 || t.numel() != 0).then(|| t.shape()[d]), t.dtype())).collect();
        Ok(rec.finish(out, false, move |ctx, g| {
            let mut start = 0i64;
            let mut grads = vec![];
            for (i, &(len, dtype)) in pieces.iter().enumerate() {
                grads.push(match (ctx.needs(i), len) {
                    (false, _) => None,
                    (true, None) => Some(Tensor::zeros_on(&[0], dtype, g.device())?),
                    (true, Some(len)) => Some(g.narrow(d as i64, start, len as i64)?.to_dtype(dtype)?),
                });
                start += len.unwrap_or(0) as i64;
            }
            Ok(grads)
        }))
    }

    /// Reverses the order of elements along `dims` (a copy, as in PyTorch).
    pub fn flip(&self, dims: &[i64]) -> Result<Tensor> {
        let ds = crate::ops::reduce::reduce_dims(Some(dims), self.ndim())?;
        let out = run1(&Op::Flip { dims: &ds }, &[self])?;
        let Some(rec) = Recorder::new("FlipBackward0", &[self]) else { return Ok(out) };
        let dims = dims.to_vec();
        Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(g.flip(&dims)?)])))
    }

    /// Constant padding with PyTorch's `F.pad` order (last dim first: left, right, ...).
    /// Negative amounts crop.
    pub fn pad(&self, pads: &[i64], value: f64) -> Result<Tensor> {
        if pads.len() % 2 != 0 {
            return Err(Error::Runtime("Padding length must be divisible by 2".into()));
        }
        if pads.len() / 2 > self.ndim() {
            return Err(Error::Runtime(format!(
                "Padding length should be less than or equal to two times the input dimension but got padding length {} and input of dimension {}",
                pads.len(),
                self.ndim()
            )));
        }
        let nd = self.ndim();
        let mut out_shape = self.shape().to_vec();
        let mut src = self.clone().detach();
        let mut dst_ranges = vec![];
        for (i, pair) in pads.chunks(2).enumerate() {
            let d = nd - 1 - i;
            let (lo, hi) = (pair[0], pair[1]);
            let size = self.shape()[d] as i64 + lo + hi;
            if size < 0 {
                return Err(Error::Shape(format!(
                    "The input size {}, plus negative padding {} and {} resulted in a negative output size, which is invalid. Check dimension {} of your input.",
                    self.shape()[d], lo, hi, d
                )));
            }
            out_shape[d] = size as usize;
            // Crop the source where padding is negative.
            let (crop_lo, crop_hi) = ((-lo).max(0), (-hi).max(0));
            let keep = (self.shape()[d] as i64 - crop_lo - crop_hi).max(0);
            src = src.narrow(d as i64, crop_lo.min(self.shape()[d] as i64), keep)?;
            dst_ranges.push((d, lo.max(0) as usize, keep as usize));
        }
        let out = Tensor::full_on(&out_shape, value, self.dtype(), self.device())?;
        let mut l = out.layout().clone();
        for &(d, start, len) in &dst_ranges {
            l = l.slice(d, start, start + len, 1);
        }
        if l.numel() > 0 {
            out.view_with_layout(l).write_from(&src)?;
        }
        let Some(rec) = Recorder::new("ConstantPadNdBackward0", &[self]) else { return Ok(out) };
        let neg: Vec<i64> = pads.iter().map(|p| -p).collect();
        Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(g.pad(&neg, 0.0)?)])))
    }
}
