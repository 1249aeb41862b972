//! The one place where an op call meets a backend: the device comes from the operands (or, for
//! ops without inputs, from the op), the kernels from that device's backend.
use crate::device::Device;
use crate::error::Result;
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
    crate::graph::record::run(op, inputs, || backend(device).run(op, inputs))
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
