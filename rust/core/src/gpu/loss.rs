//! The GPU half of the fused cross-entropy (`shaders/loss.wgsl`); the reduction and the
//! backward rule are shared with the CPU in `crate::ops::loss`.
use super::ops::{buffer, empty, split_groups, u32_of};
use super::runtime::{context, Kernel};
use super::{dtype_error, Shader};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::loss::RowLosses;
use crate::ops::BinaryOp;
use crate::tensor::Tensor;

pub static LOSS: Shader = Shader { name: "loss", body: include_str!("../../../../shaders/loss.wgsl") };

/// Each row's loss and weight for float32 logits [N, C] and int64 targets [N] on the GPU.
/// Targets outside [0, C) (other than `ignore_index`) raise IndexError: the check reads one
/// flag back, as PyTorch's CUDA build checks targets on the device and syncs.
pub fn cross_entropy_rows(x: &Tensor, target: &Tensor, weight: Option<&Tensor>, ignore_index: i64) -> Result<RowLosses> {
    let dev = x.device();
    if x.dtype() != DType::F32 {
        return Err(dtype_error("cross_entropy", x.dtype(), dev));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let loss = empty(&[n], DType::F32, dev)?;
    let row_weight = empty(&[n], DType::F32, dev)?;
    if n == 0 {
        return Ok(RowLosses { loss, weight: row_weight });
    }
    let scalar = |v: i64| Tensor::wrapped_scalar(v);
    let counted = target.binary(BinaryOp::Ne, &scalar(ignore_index))?;
    let outside = target.binary(BinaryOp::Lt, &scalar(0))?.binary(BinaryOp::LogicalOr, &target.binary(BinaryOp::Ge, &scalar(c as i64))?)?;
    let cpu = crate::Device::Cpu;
    if counted.binary(BinaryOp::LogicalAnd, &outside)?.any(None, false)?.to_device(cpu)?.item::<bool>()? {
        let targets = target.to_device(cpu)?;
        let t = targets.contiguous_data::<i64>().iter().copied().find(|&t| t != ignore_index && (t < 0 || t >= c as i64)).unwrap_or(-1);
        return Err(Error::Index(format!("Target {t} is out of bounds.")));
    }
    let x = x.contiguous()?;
    let target = target.contiguous()?;
    let weight = weight.map(Tensor::contiguous).transpose()?;
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
    Ok(RowLosses { loss, weight: row_weight })
}
