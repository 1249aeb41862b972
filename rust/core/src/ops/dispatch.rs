//! The one place where an op call meets a backend: the device comes from the operands (or, for
//! ops without inputs, from the op), the kernels from that device's backend.
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::layout::Layout;
use crate::op::{op_device, Backend, Op, Outputs};
use crate::tensor::Tensor;

/// The backend holding `device`'s kernels.
pub fn backend(device: Device) -> &'static dyn Backend {
    match device {
        Device::Cpu => &crate::cpu::Cpu,
        Device::Gpu(_) => &crate::gpu::Gpu,
    }
}

/// Runs `op` over `inputs` on their device.
pub fn run(op: &Op<'_>, inputs: &[&Tensor]) -> Result<Outputs> {
    let device = match op {
        Op::Full { device, .. } => *device,
        Op::Random { .. } => Device::Cpu,
        // Transfers run where the GPU side is.
        Op::ToDevice(to) if to.is_gpu() => *to,
        // The parameters' device: the scalar states stay on the CPU whatever it is.
        Op::OptimStep { .. } => inputs.first().map_or(Device::Cpu, |p| p.device()),
        _ => op_device(inputs)?,
    };
    if !op.takes_every_dtype(device) && inputs.iter().any(|t| t.dtype().compute_type() != t.dtype()) {
        return run_widened(op, inputs);
    }
    crate::graph::record::run(op, inputs, || backend(device).run(op, inputs))
}

/// Runs `op` on operands of 16-bit float or narrow integer dtypes in their compute type, as
/// PyTorch's kernels compute them (float32, int64): each element is widened exactly and each
/// result rounded (or wrapped) once, back to the dtype of the operands of its category. An op
/// that writes into its inputs has them written back.
fn run_widened(op: &Op<'_>, inputs: &[&Tensor]) -> Result<Outputs> {
    let narrow = |category: u8| inputs.iter().map(|t| t.dtype()).find(|d| d.category() == category && d.compute_type() != *d);
    let (narrow_float, narrow_int) = (narrow(2), narrow(1));
    let widened = inputs.iter().map(|t| widen(t)).collect::<Result<Vec<_>>>()?;
    let outputs = run(op, &widened.iter().collect::<Vec<_>>())?;
    if !op.is_pure() {
        for (original, wide) in inputs.iter().zip(&widened) {
            if original.dtype() != wide.dtype() {
                run(&Op::Write, &[original, wide])?;
            }
        }
    }
    let narrowed = |i: usize, t: &Tensor| -> Result<Tensor> {
        let back = match t.dtype() {
            _ if op.is_index_output(i) => None,
            DType::F32 => narrow_float,
            DType::I64 => narrow_int,
            _ => None,
        };
        match back {
            Some(d) => run1(&Op::Cast(d), &[t]),
            None => Ok(t.clone()),
        }
    };
    Ok(match outputs {
        Outputs::Nothing => Outputs::Nothing,
        Outputs::One(a) => Outputs::One(narrowed(0, &a)?),
        Outputs::Two(a, b) => Outputs::Two(narrowed(0, &a)?, narrowed(1, &b)?),
        Outputs::Many(ts) => Outputs::Many(ts.iter().enumerate().map(|(i, t)| narrowed(i, t)).collect::<Result<_>>()?),
    })
}

/// `t` in its compute type. A transposed or permuted tensor keeps its strides (its memory is
/// cast as one run), so kernels that read such layouts directly (matmul) still can.
fn widen(t: &Tensor) -> Result<Tensor> {
    let wide = t.dtype().compute_type();
    if wide == t.dtype() {
        return Ok(t.clone());
    }
    let l = t.layout();
    if l.is_contiguous() || !l.is_dense() {
        return run1(&Op::Cast(wide), &[t]);
    }
    let run = Tensor::from_parts(t.storage().clone(), Layout { shape: vec![l.numel()], strides: vec![1], offset: l.offset });
    let cast = run1(&Op::Cast(wide), &[&run])?;
    Ok(Tensor::from_parts(cast.storage().clone(), Layout { shape: l.shape.clone(), strides: l.strides.clone(), offset: 0 }))
}

/// Runs `f` (a captured graph's replay) so that the GPU kernels it launches go in one submission.
pub fn one_gpu_submission<R>(uses_gpu: bool, f: impl FnOnce() -> R) -> R {
    if uses_gpu {
        crate::gpu::one_submission(f)
    } else {
        f()
    }
}

/// Checks that `device` exists (a GPU index the runtime drives).
pub fn check_device(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Gpu(_) => crate::gpu::ops::check_device(device),
    }
}

/// Runs a one-output op.
pub fn run1(op: &Op<'_>, inputs: &[&Tensor]) -> Result<Tensor> {
    run(op, inputs)?.one()
}
