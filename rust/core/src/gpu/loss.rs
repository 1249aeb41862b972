//! GPU kernel of the fused cross-entropy rows (`shaders/loss.wgsl`, see `Op::CrossEntropyRows`).
use super::ops::{buffer, contiguous, empty, split_groups, to_cpu, u32_of};
use super::runtime::{context, Kernel};
use super::Shader;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::{no_kernel, Op};
use crate::tensor::Tensor;

pub static LOSS: Shader = Shader { name: "loss", body: include_str!("../../../../shaders/loss.wgsl") };

/// Each row's loss and weight for float32 logits [N, C] and int64 targets [N] on the GPU.
/// Targets outside [0, C) (other than `ignore_index`) raise IndexError: the check reads the
/// targets back, as PyTorch's CUDA build checks targets on the device and syncs.
pub fn cross_entropy_rows(x: &Tensor, target: &Tensor, weight: Option<&Tensor>, ignore_index: i64) -> Result<(Tensor, Tensor)> {
    let dev = x.device();
    if x.dtype() != DType::F32 {
        return Err(no_kernel(&Op::CrossEntropyRows { ignore_index }, x.dtype(), dev));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let loss = empty(&[n], DType::F32, dev)?;
    let row_weight = empty(&[n], DType::F32, dev)?;
    if n == 0 {
        return Ok((loss, row_weight));
    }
    let targets = to_cpu(target)?;
    if let Some(&t) = targets.contiguous_data::<i64>().iter().find(|&&t| t != ignore_index && (t < 0 || t >= c as i64)) {
        return Err(Error::Index(format!("Target {t} is out of bounds.")));
    }
    let dense = |t: &Tensor| if t.is_contiguous() { Ok(t.clone()) } else { contiguous(t) };
    let (x, target, weight) = (dense(x)?, dense(target)?, weight.map(dense).transpose()?);
    let ignore = ignore_index as u64;
    let info = [
        u32_of(n, "rows")?,
        u32_of(c, "classes")?,
        ignore as u32,
        (ignore >> 32) as u32,
        u32::from(weight.is_some()),
        u32_of(x.offset(), "offset")?,
        u32_of(target.offset(), "offset")?,
        weight.as_ref().map_or(Ok(0), |w| u32_of(w.offset(), "offset"))?,
    ];
    u32_of(x.storage().len(), "storage length")?;
    let k = Kernel { shader: &LOSS, entry: "cross_entropy_main", constants: &[], inputs: 3 };
    let inputs = [Some(buffer(&x)), Some(buffer(&target)), weight.as_ref().map(buffer)];
    context()?.dispatch_multi(&k, &inputs, &[buffer(&loss), buffer(&row_weight)], &info, split_groups(n)?)?;
    Ok((loss, row_weight))
}
