//! Dtype casts, copies, and the in-place machinery (writes, version bumps, history rebase).
use crate::autograd::{is_grad_enabled, Recorder};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::Op;
use crate::ops::dispatch::{run, run1};
use crate::tensor::Tensor;

impl Tensor {
    /// This tensor's data as `dtype` for a kernel to read: itself when the dtype matches,
    /// else a converted copy. Never records autograd.
    pub(crate) fn cast_plain(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            Ok(self.clone())
        } else {
            self.cast_data(dtype)
        }
    }

    /// A contiguous copy in `dtype` (no autograd).
    fn cast_data(&self, dtype: DType) -> Result<Tensor> {
        run1(&Op::Cast(dtype), &[self])
    }

    /// `to(device)`: the same tensor when already there, else a contiguous copy on `device`;
    /// the backward moves the gradient back.
    pub fn to_device(&self, device: crate::Device) -> Result<Tensor> {
        if device == self.device() {
            crate::ops::dispatch::check_device(device)?;
            return Ok(self.clone());
        }
        let out = run1(&Op::ToDevice(device), &[self])?;
        if !self.dtype().is_float() {
            return Ok(out);
        }
        match Recorder::new("ToCopyBackward0", &[self]) {
            Some(rec) => {
                let src = self.device();
                Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(g.to_device(src)?)])))
            }
            None => Ok(out),
        }
    }

    /// A tensor of `shape` and `dtype` on `device` filled with `value`.
    pub fn full_on(shape: &[usize], value: f64, dtype: DType, device: crate::Device) -> Result<Tensor> {
        run1(&Op::Full { shape, value, dtype, device }, &[])
    }

    /// Zeros of this tensor's shape, dtype and device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::zeros_on(self.shape(), self.dtype(), self.device())
    }

    /// Zeros of `shape` and `dtype` on `device`.
    pub fn zeros_on(shape: &[usize], dtype: DType, device: crate::Device) -> Result<Tensor> {
        Tensor::full_on(shape, 0.0, dtype, device)
    }

    /// `to(dtype)`: the same tensor when the dtype already matches, else a converted copy.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let out = self.cast_data(dtype)?;
        if !dtype.is_float() {
            return Ok(out);
        }
        match Recorder::new("ToCopyBackward0", &[self]) {
            Some(rec) if self.dtype().is_float() => {
                let src = self.dtype();
                Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(g.to_dtype(src)?)])))
            }
            _ => Ok(out),
        }
    }

    /// A contiguous copy that keeps the autograd history (`clone()`).
    pub fn clone_data(&self) -> Result<Tensor> {
        let out = self.cast_data(self.dtype())?;
        Ok(match Recorder::new("CloneBackward0", &[self]) {
            Some(rec) => rec.finish(out, false, |_, g| Ok(vec![Some(g.clone())])),
            None => out,
        })
    }

    /// This tensor if contiguous, else a contiguous copy (with history).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            Ok(self.clone())
        } else {
            self.clone_data()
        }
    }

    /// Writes `src` (broadcast to this shape, cast to this dtype) into this tensor's memory,
    /// through its layout, and bumps the storage version. No autograd.
    pub fn write_from(&self, src: &Tensor) -> Result<()> {
        src.layout().expand(self.shape()).map_err(|_| {
            Error::Shape(format!(
                "output with shape {:?} doesn't match the broadcast shape {:?}",
                self.shape(),
                crate::layout::broadcast_shapes(self.shape(), src.shape()).unwrap_or_else(|_| src.shape().to_vec())
            ))
        })?;
        run(&Op::Write, &[self, src]).map(drop)
    }

    /// `self += src` in place for float tensors (gradient accumulation), no autograd.
    pub(crate) fn add_assign_plain(&self, src: &Tensor) -> Result<()> {
        if !self.dtype().is_float() {
            return Err(Error::Runtime(format!("gradient accumulation into a {} tensor", self.dtype())));
        }
        run(&Op::AddInto, &[self, src]).map(drop)
    }

    /// Applies an in-place op: `f` computes the new value from the current one, which is then
    /// written into this tensor's memory. With autograd, the history is rebased onto the
    /// result (PyTorch's semantics for in-place ops on non-leaf tensors).
    /// `reads_self` is false for writes of values that do not depend on `self` (fill_, zero_),
    /// which PyTorch allows into an expanded view.
    pub fn apply_inplace(&self, others: &[&Tensor], reads_self: bool, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
        check_no_overlap(self, others, reads_self)?;
        let tracked = is_grad_enabled() && (self.requires_grad() || others.iter().any(|t| t.requires_grad()));
        if !tracked {
            let result = f(self)?;
            check_inplace_result(self, &result)?;
            return self.write_from(&result);
        }
        if self.is_leaf() && self.requires_grad() {
            return Err(Error::Autograd(
                "a leaf Variable that requires grad is being used in an in-place operation.".into(),
            ));
        }
        if let Some(base) = self.view_base() {
            return self.apply_inplace_on_view(base, f);
        }
        // The op reads a copy, so tensors saved for its backward are not the ones overwritten.
        let input = if self.requires_grad() { self.clone_data()? } else { self.detach().clone_data()? };
        let result = f(&input)?;
        check_inplace_result(self, &result)?;
        let result = if result.dtype() != self.dtype() { result.to_dtype(self.dtype())? } else { result };
        self.write_from(&result.detach())?;
        self.set_grad_fn(result.grad_fn());
        Ok(())
    }

    /// The recorded in-place op on a view: the result is written through the view, the
    /// base's history becomes a CopySlices of its old one and the result's, and the view's own
    /// history is remade from the base's at its next use (its memory version moved on).
    fn apply_inplace_on_view(&self, base: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
        if self.0.view_no_grad {
            return Err(Error::Autograd(
                "A view was created in no_grad mode and is being modified inplace with grad mode enabled. Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving both the view and the inplace either both inside the no_grad block (if you don't want the inplace to be tracked) or both outside (if you want the inplace to be tracked).".into(),
            ));
        }
        if base.is_leaf() && base.requires_grad() {
            return Err(Error::Autograd("a view of a leaf Variable that requires grad is being used in an in-place operation.".into()));
        }
        if self.layout().has_internal_overlap() {
            return Err(Error::Runtime(
                "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.".into(),
            ));
        }
        let input = if self.requires_grad() { self.clone_data()? } else { self.detach().clone_data()? };
        let result = f(&input)?;
        check_inplace_result(self, &result)?;
        let result = if result.dtype() != self.dtype() { result.to_dtype(self.dtype())? } else { result };
        self.write_from(&result.detach())?;
        crate::ops::view::record_copy_slices(base, self.layout(), &result)
    }
}

/// PyTorch's refusal of in-place writes whose result would depend on the write order: into a
/// tensor whose elements share memory (an expanded view), or from an input that partially
/// overlaps the destination (`x[1:] = x[:-1]`). As PyTorch, overlap is judged only between
/// contiguous tensors; an input identical to the destination is fine.
fn check_no_overlap(dst: &Tensor, inputs: &[&Tensor], reads_self: bool) -> Result<()> {
    if reads_self && dst.shape().iter().zip(dst.strides()).any(|(&n, &s)| n > 1 && s == 0) {
        return Err(Error::Runtime("unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.".into()));
    }
    let span = |t: &Tensor| (t.offset(), t.offset() + t.numel());
    for src in inputs {
        if src.numel() == 0 || dst.numel() == 0 || !src.same_storage(dst) || !src.is_contiguous() || !dst.is_contiguous() {
            continue;
        }
        let ((a0, a1), (b0, b1)) = (span(dst), span(src));
        if a0 < b1 && b0 < a1 && (a0, a1) != (b0, b1) {
            return Err(Error::Runtime("unsupported operation: some elements of the input tensor and the written-to tensor refer to a single memory location. Please clone() the tensor before performing the operation.".into()));
        }
    }
    Ok(())
}

/// An in-place result must broadcast to the destination's shape and cast to its dtype's category.
fn check_inplace_result(dst: &Tensor, result: &Tensor) -> Result<()> {
    if result.shape() != dst.shape() && result.layout().expand(dst.shape()).is_err() {
        return Err(Error::Shape(format!(
            "output with shape {:?} doesn't match the broadcast shape {:?}",
            dst.shape(),
            result.shape()
        )));
    }
    if result.dtype().category() > dst.dtype().category() {
        return Err(Error::Runtime(format!(
            "result type {} can't be cast to the desired output type {}",
            result.dtype().titled(),
            dst.dtype().titled()
        )));
    }
    Ok(())
}

impl Tensor {
    /// `f` (an op of several kernels) run on a float16/bfloat16 tensor in float32, its result
    /// rounded once, as PyTorch's fused kernels compute them (each step in the 16-bit type would
    /// round every intermediate); other dtypes run as they are. Autograd records the two casts.
    pub(crate) fn in_float32(&self, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
        if !self.dtype().is_reduced_float() {
            return f(self);
        }
        f(&self.to_dtype(DType::F32)?)?.to_dtype(self.dtype())
    }

    /// The values of a composite op's forward pass (`f` of the detached tensor, no autograd):
    /// for float16/bfloat16 computed in float32 and rounded once, as PyTorch's kernels do. The
    /// op records its own node, so its `grad_fn` is PyTorch's.
    pub(crate) fn forward_in_float32(&self, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
        if !self.dtype().is_reduced_float() {
            return f(&self.detach());
        }
        f(&self.detach().to_dtype(DType::F32)?)?.to_dtype(self.dtype())
    }
}
