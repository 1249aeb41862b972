//! The GPU backend: WGSL compute shaders (in `shaders/`) run through wgpu on any Vulkan,
//! Metal or DX12 adapter. `runtime` owns the device, pipelines, buffers and batching; `ops`
//! holds the op entry points the tensor ops dispatch to when their operands live on a GPU.
//!
//! No op falls back to the CPU silently: an op without a GPU kernel returns
//! `op::no_kernel`'s NotImplemented naming the op, the dtype and the device.
pub mod conv;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod narrow;
pub mod ops;
pub mod optim;
pub mod reduce;
pub mod runtime;
pub mod scan;
pub mod softmax;
pub mod sort;

use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;
pub(crate) use crate::op::{is_cpu_scalar, op_device, mixed};
pub use runtime::{context, is_available, GpuBuffer, Kernel, Shader, Window};

pub static ELEMENTWISE: Shader = Shader { name: "elementwise", body: include_str!("../../../../shaders/elementwise.wgsl") };
pub static REDUCE: Shader = Shader { name: "reduce", body: include_str!("../../../../shaders/reduce.wgsl") };
pub static SOFTMAX: Shader = Shader { name: "softmax", body: include_str!("../../../../shaders/softmax.wgsl") };
pub static MATMUL: Shader = Shader { name: "matmul", body: include_str!("../../../../shaders/matmul.wgsl") };

/// Every shader, for validation tests.
pub fn shaders() -> [&'static Shader; 12] {
    [&ELEMENTWISE, &REDUCE, &SOFTMAX, &MATMUL, &optim::OPTIM, &index::INDEX, &conv::CONV, &conv::POOL, &loss::LOSS, &sort::SORT, &scan::SCAN, &narrow::NARROW]
}

/// The GPU backend.
pub struct Gpu;

impl crate::op::Backend for Gpu {
    fn run(&self, op: &crate::op::Op<'_>, inputs: &[&Tensor]) -> Result<crate::op::Outputs> {
        use crate::op::{Op, Outputs::{Nothing, One, Two}};
        Ok(match *op {
            Op::Unary(u) => One(ops::unary(u, inputs[0])?),
            Op::Binary(b) => One(ops::binary(b, inputs[0], inputs[1])?),
            Op::Where => One(ops::where_select(inputs[0], inputs[1], inputs[2])?),
            Op::Cast(dtype) => One(ops::cast(inputs[0], dtype)?),
            Op::ToDevice(device) => One(ops::transfer(inputs[0], device)?),
            Op::Write => {
                ops::write_into(inputs[0], inputs[1])?;
                Nothing
            }
            Op::AddInto => {
                ops::write_into(inputs[0], &ops::binary(crate::op::BinaryOp::Add, inputs[0], inputs[1])?)?;
                Nothing
            }
            Op::ReluBackward => One(ops::relu_backward(inputs[0], inputs[1])?),
            Op::Full { shape, value, dtype, device } => One(ops::full(shape, value, dtype, device)?),
            Op::Index { op, dim } => One(index::index(op, dim, inputs)?),
            Op::Im2Col { window, pad_value, batch_major } => One(conv::im2col(inputs[0], window, pad_value, batch_major)?),
            Op::Col2Im { window, size, batch_major, n } => One(conv::col2im(inputs[0], window, size, batch_major, n)?),
            Op::MaxPool2d { window, out_size } => {
                let (values, indices) = conv::max_pool2d(inputs[0], window, out_size)?;
                Two(values, indices)
            }
            Op::PlaneScatterAdd { size } => One(conv::plane_scatter_add(inputs[0], inputs[1], size)?),
            Op::PlaneGather => One(conv::plane_gather(inputs[0], inputs[1])?),
            Op::Conv2d { shape, part } => conv::conv2d(&shape, part, inputs)?,
            Op::CrossEntropyRows { ignore_index } => {
                let (loss, weight) = loss::cross_entropy_rows(inputs[0], inputs[1], inputs.get(2).copied(), ignore_index)?;
                Two(loss, weight)
            }
            Op::Reduce { op, dims, keepdim } => One(reduce::reduce(op, inputs[0], dims, keepdim)?),
            Op::ArgReduce { op, dim, keepdim } => One(reduce::arg_reduce(op, inputs[0], dim, keepdim)?),
            Op::Scan { op, dim } => One(scan::scan(op, inputs[0], dim)?),
            Op::Flip { dims } => One(scan::flip(inputs[0], dims)?),
            Op::Sort { dim, descending } => {
                let (values, indices) = sort::sort(inputs[0], dim, descending)?;
                Two(values, indices)
            }
            Op::Softmax { op, dim } => One(softmax::softmax(op, inputs[0], dim)?),
            Op::Matmul { batch } => One(matmul::matmul(inputs[0], inputs[1], batch)?),
            // Draws come from the one CPU generator (so a seed gives the same numbers on every
            // device); `ops::dispatch` sends them to the CPU backend.
            // Graph capture fuses CPU chains only until the GPU has a generated kernel for them.
            Op::Fused(f) => return Err(crate::op::no_kernel(op, f.dtypes[0], inputs.first().map_or(crate::device::Device::Gpu(0), |t| t.device()))),
            Op::Random { dtype, .. } => return Err(crate::op::no_kernel(op, dtype, crate::device::Device::Gpu(0))),
            Op::OptimStep { options, params, fresh } => {
                optim::optim_step(&options, fresh, &crate::op::optim::OptimOperands::new(&options, params, inputs))?;
                Nothing
            }
            Op::Nonzero => One(scan::nonzero(inputs[0])?),
            Op::WrapIndex { size, dim } => One(index::wrap_index(inputs[0], size, dim)?),
        })
    }
}

/// Number of usable GPU devices (the runtime drives one: the best adapter, or the one the
/// environment selects).
pub fn device_count() -> usize {
    usize::from(is_available())
}

/// The chosen adapter's name and backend.
pub fn device_name() -> Result<String> {
    Ok(context()?.name())
}

/// Waits for all recorded GPU work to finish.
pub fn synchronize() -> Result<()> {
    match runtime::context() {
        Ok(c) => c.synchronize(),
        Err(_) => Ok(()),
    }
}

/// Runs `f` with the GPU's batch held, then submits it: the kernels `f` records go to the GPU in
/// one submission (unless the metadata arena fills or `f` reads data back).
pub fn one_submission<R>(f: impl FnOnce() -> R) -> R {
    let Ok(c) = runtime::context() else { return f() };
    c.hold_batch(true);
    let out = f();
    c.hold_batch(false);
    out
}

/// Submissions made to the GPU so far (0 without one).
pub fn submission_count() -> u64 {
    runtime::context().map_or(0, |c| c.submissions())
}

/// Bytes per element of a dtype in GPU memory (bools are 32-bit words there).
pub fn elem_size(dtype: DType) -> usize {
    match dtype {
        DType::Bool => 4,
        d => d.size_of(),
    }
}

