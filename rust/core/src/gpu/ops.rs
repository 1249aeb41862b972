//! GPU op entry points: argument checks, layouts and metadata, and the kernel launches. The
//! tensor ops (`binary`, `unary`, `sum`, `matmul`, `softmax`, ...) dispatch here when their
//! operands live on a GPU; autograd is recorded by the callers as on the CPU, so backward
//! rules written with tensor ops run on the GPU too.
use super::runtime::{context, Kernel, Window};
use super::{dtype_error, elem_size, is_cpu_scalar, op_device, ELEMENTWISE, MATMUL, REDUCE, SOFTMAX};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::{broadcast_shapes, contiguous_strides, Layout};
use crate::autograd::Recorder;
use crate::op::{elementwise_codes as codes, no_kernel, BinaryKind, BinaryOp, Op, UnaryKind, UnaryOp};
use crate::storage::Storage;
use crate::tensor::Tensor;

/// Dims a kernel's index math handles after merging.
const MAX_DIMS: usize = 8;
/// Workgroup size of the 1-D kernels.
const WG: usize = 256;
/// Elements one reduction workgroup sums before a second pass takes over.
const REDUCE_CHUNK: usize = 4096;

pub(crate) fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::NotImplemented(format!("GPU kernels index with 32 bits: {what} {v} is too large")))
}

/// Workgroups (x, y) covering `groups` in a 1-D launch, split over y past the per-dim limit.
pub(crate) fn split_groups(groups: usize) -> Result<(u32, u32, u32)> {
    let max = context()?.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    if groups == 0 {
        return Ok((0, 1, 1));
    }
    let x = groups.min(max);
    let y = groups.div_ceil(x);
    if y > max {
        return Err(Error::NotImplemented(format!("a launch of {groups} workgroups is too large")));
    }
    Ok((x as u32, y as u32, 1))
}

/// A new contiguous GPU tensor (uninitialised).
pub fn empty(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
    let n = crate::layout::checked_numel(shape)?;
    let bytes = n.checked_mul(elem_size(dtype)).ok_or_else(|| Error::OutOfMemory(format!("GPU out of memory: a tensor of shape {shape:?} has more bytes than can be addressed")))?;
    let buf = context()?.alloc(bytes as u64)?;
    Ok(Tensor::from_parts(Storage::from_gpu(buf, n, dtype, device), Layout::contiguous(shape)))
}

pub(crate) fn buffer(t: &Tensor) -> &wgpu::Buffer {
    t.storage().gpu_buffer().expect("GPU tensor")
}

/// Checks a device index names the GPU the runtime drives.
pub fn check_device(device: Device) -> Result<()> {
    match device {
        Device::Gpu(0) => context().map(|_| ()),
        Device::Gpu(i) => Err(Error::Device(format!("Invalid device {device}: gpu index {i} out of range (1 GPU device is available)"))),
        Device::Cpu => Ok(()),
    }
}

// ---- transfers ----

/// A contiguous copy of a CPU tensor in GPU memory.
pub fn to_gpu(t: &Tensor, device: Device) -> Result<Tensor> {
    check_device(device)?;
    let ctx = context()?;
    let buf = match t.dtype() {
        DType::Bool => ctx.upload(bytemuck::cast_slice(&t.to_vec::<bool>().into_iter().map(u32::from).collect::<Vec<u32>>()))?,
        DType::F32 => ctx.upload(bytemuck::cast_slice(&t.contiguous_data::<f32>()))?,
        DType::F64 => ctx.upload(bytemuck::cast_slice(&t.contiguous_data::<f64>()))?,
        DType::I64 => ctx.upload(bytemuck::cast_slice(&t.contiguous_data::<i64>()))?,
    };
    Ok(Tensor::from_parts(Storage::from_gpu(buf, t.numel(), t.dtype(), device), Layout::contiguous(t.shape())))
}

/// A contiguous copy of `t` on `device`, from or to the GPU (GPU to GPU through the host).
pub fn transfer(t: &Tensor, device: Device) -> Result<Tensor> {
    match (t.device(), device) {
        (_, Device::Cpu) => to_cpu(t),
        (Device::Cpu, d) => to_gpu(t, d),
        (_, d) => to_gpu(&to_cpu(t)?, d),
    }
}

/// A contiguous copy of a GPU tensor in host memory (waits for pending GPU work).
pub fn to_cpu(t: &Tensor) -> Result<Tensor> {
    let src = if t.is_contiguous() { t.clone() } else { contiguous(t)? };
    let es = elem_size(t.dtype());
    let bytes = context()?.download(buffer(&src), (src.offset() * es) as u64, (src.numel() * es) as u64)?;
    let shape = t.shape();
    match t.dtype() {
        DType::Bool => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, u32>(&bytes).iter().map(|&w| w != 0).collect::<Vec<bool>>(), shape),
        DType::F32 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes), shape),
        DType::F64 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, f64>(&bytes), shape),
        DType::I64 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, i64>(&bytes), shape),
    }
}

// ---- element-wise launches ----

/// An element-wise operand: a GPU tensor (read through its strides, broadcast to the output
/// shape) or a scalar's bits.
#[derive(Clone)]
enum Operand {
    T(Tensor),
    S(u32),
    /// An int64 scalar's (low, high) words.
    S64(u32, u32),
}

/// Scalar bits of a 0-d CPU tensor as `dtype` on the GPU.
fn scalar_bits(t: &Tensor, dtype: DType, op: &str) -> Result<u32> {
    let v = t.item::<f64>()?;
    match dtype {
        DType::F32 => Ok((v as f32).to_bits()),
        DType::Bool => Ok(u32::from(v != 0.0)),
        d => Err(dtype_error(op, d, Device::Gpu(0))),
    }
}

/// `t` as an operand of dtype `dtype` (cast on the GPU when it differs).
fn operand(t: &Tensor, dtype: DType, op: &str) -> Result<Operand> {
    if is_cpu_scalar(t) {
        return Ok(Operand::S(scalar_bits(t, dtype, op)?));
    }
    if t.dtype() == dtype {
        Ok(Operand::T(t.clone()))
    } else {
        Ok(Operand::T(cast(t, dtype)?))
    }
}

/// `t` as an int64 operand (bool tensors cast on the GPU; CPU scalars as their int64 value).
fn operand64(t: &Tensor, op: &str) -> Result<Operand> {
    if is_cpu_scalar(t) {
        if t.dtype().is_float() {
            return Err(dtype_error(op, t.dtype(), Device::Gpu(0)));
        }
        let v = t.item::<i64>()? as u64;
        return Ok(Operand::S64(v as u32, (v >> 32) as u32));
    }
    match t.dtype() {
        DType::I64 => Ok(Operand::T(t.clone())),
        _ => Ok(Operand::T(cast(t, DType::I64)?)),
    }
}

/// Merges dims that every stride array walks as one, and drops size-1 dims.
pub(crate) fn coalesce(shape: &[usize], strides: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut sh: Vec<usize> = vec![];
    let mut st: Vec<Vec<usize>> = vec![vec![]; strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        if let Some(last) = sh.last_mut() {
            if strides.iter().zip(&st).all(|(s, o)| *o.last().expect("same length") == s[d] * shape[d]) {
                *last *= shape[d];
                for (o, s) in st.iter_mut().zip(strides) {
                    *o.last_mut().expect("same length") = s[d];
                }
                continue;
            }
        }
        sh.push(shape[d]);
        for (o, s) in st.iter_mut().zip(strides) {
            o.push(s[d]);
        }
    }
    (sh, st)
}

// ---- tensors larger than one storage binding ----

/// Launches one binding may not split into (a guard against pathological strides).
const MAX_BLOCKS: usize = 1 << 16;

/// A view's place in memory: element offset, strides, bytes per element.
struct Span<'a> {
    offset: usize,
    strides: &'a [usize],
    elem: usize,
}

/// Offset alignment of a window into a buffer of `elem`-byte elements.
fn window_align(elem: usize) -> Result<u64> {
    Ok(u64::from(context()?.limits.min_storage_buffer_offset_alignment).max(elem as u64))
}

/// The part of `buf` that a view (element `offset`, `shape`, `strides`, `elem` bytes per
/// element) reads or writes, as a binding, and the view's element offset inside it: the whole
/// buffer when it fits one binding, else a window from an aligned offset.
pub(crate) fn view_window<'a>(buf: &'a wgpu::Buffer, offset: usize, shape: &[usize], strides: &[usize], elem: usize) -> Result<(Window<'a>, usize)> {
    let ctx = context()?;
    if buf.size() <= ctx.max_binding() {
        return Ok((Window::whole(buf), offset));
    }
    if shape.contains(&0) {
        // Nothing is read: any valid window will do.
        return Ok((Window { buffer: buf, offset: 0, size: ctx.max_binding() / 4 * 4 }, 0));
    }
    let last = offset + shape.iter().zip(strides).map(|(&n, &s)| (n - 1) * s).sum::<usize>();
    let align = window_align(elem)?;
    let start = (offset * elem) as u64 / align * align;
    let end = ((last + 1) * elem) as u64;
    Ok((Window { buffer: buf, offset: start, size: end - start }, offset - (start / elem as u64) as usize))
}

/// Whether a view fits one storage binding wherever it starts in its buffer.
fn fits_binding(shape: &[usize], span: &Span<'_>) -> Result<bool> {
    let reach: usize = shape.iter().zip(span.strides).map(|(&n, &s)| n.saturating_sub(1) * s).sum();
    Ok(((reach + 1) * span.elem) as u64 + window_align(span.elem)? <= context()?.max_binding())
}

/// A part of a launch over `shape`: its shape (the dims from some `p` on, dim `p` cut to a
/// chunk) and each view's element offset at its origin.
struct Block {
    shape: Vec<usize>,
    offsets: Vec<usize>,
}

/// Splits a launch over `shape` into blocks in which every view fits one storage binding:
/// one block when all fit (the common case), else chunks of the outermost dim `p` whose
/// inner dims fit, for each index of the dims before it.
fn binding_blocks(op: &str, shape: &[usize], spans: &[Span<'_>]) -> Result<Vec<Block>> {
    let whole = || Block { shape: shape.to_vec(), offsets: spans.iter().map(|s| s.offset).collect() };
    let all_fit = |p: usize| -> Result<bool> {
        for s in spans {
            if !fits_binding(&shape[p..], &Span { offset: s.offset, strides: &s.strides[p..], elem: s.elem })? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    if all_fit(0)? {
        return Ok(vec![whole()]);
    }
    let nd = shape.len();
    let p = (0..nd).find(|&p| all_fit(p + 1).unwrap_or(false)).ok_or_else(|| {
        Error::NotImplemented(format!("'{op}' on the GPU: one element does not fit the adapter's max storage binding size"))
    })?;
    let max = context()?.max_binding();
    let mut chunk = shape[p];
    for s in spans.iter().filter(|s| s.strides[p] > 0) {
        let reach: usize = (p + 1..nd).map(|d| (shape[d] - 1) * s.strides[d]).sum();
        let room = ((max - window_align(s.elem)?) / s.elem as u64) as usize - 1 - reach;
        chunk = chunk.min(room / s.strides[p] + 1);
    }
    let outer: usize = shape[..p].iter().product();
    let count = outer * shape[p].div_ceil(chunk);
    if count > MAX_BLOCKS {
        return Err(Error::NotImplemented(format!(
            "'{op}' on the GPU: a tensor of shape {shape:?} with these strides needs {count} launches to fit the adapter's max storage binding size ({max} bytes); make it contiguous first"
        )));
    }
    let mut blocks = Vec::with_capacity(count);
    let mut index = vec![0usize; p];
    for _ in 0..outer {
        let base: Vec<usize> = spans.iter().map(|s| s.offset + index.iter().zip(s.strides).map(|(i, st)| i * st).sum::<usize>()).collect();
        for start in (0..shape[p]).step_by(chunk) {
            let mut sub = shape[p..].to_vec();
            sub[0] = chunk.min(shape[p] - start);
            blocks.push(Block { shape: sub, offsets: base.iter().zip(spans).map(|(b, s)| b + start * s.strides[p]).collect() });
        }
        for d in (0..p).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(blocks)
}

/// Launches `entry` (binary_main, unary_main or where_main) with op code `op` over `shape`,
/// reading up to three operands and writing `out` through `out_layout`; split into several
/// launches over windows of the buffers when a view is larger than one storage binding.
fn launch_elementwise(entry: &'static str, op: u32, operands: &[Operand], shape: &[usize], out: &Tensor, out_layout: &Layout) -> Result<()> {
    let n = shape.iter().product::<usize>();
    if n == 0 {
        return Ok(());
    }
    let ctx = context()?;
    let mut strides = vec![out_layout.strides.clone()];
    let mut offsets = vec![out_layout.offset];
    let mut views: Vec<(usize, &Tensor)> = vec![(0, out)];
    let mut flags = 0u32;
    let mut scalars = [0u32; 3];
    let mut highs = [0u32; 3];
    for (k, o) in operands.iter().enumerate() {
        match o {
            Operand::T(t) => {
                let l = t.layout().expand(shape)?;
                views.push((k + 1, t));
                offsets.push(l.offset);
                strides.push(l.strides);
            }
            Operand::S(bits) => {
                flags |= 1 << k;
                scalars[k] = *bits;
                offsets.push(0);
                strides.push(vec![0; shape.len()]);
            }
            Operand::S64(lo, hi) => {
                flags |= 1 << k;
                scalars[k] = *lo;
                highs[k] = *hi;
                offsets.push(0);
                strides.push(vec![0; shape.len()]);
            }
        }
    }
    let (sh, st) = coalesce(shape, &strides);
    if sh.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("GPU element-wise kernels handle up to {MAX_DIMS} dims after merging, got {}", sh.len())));
    }
    let spans: Vec<Span> = views.iter().map(|&(k, t)| Span { offset: offsets[k], strides: &st[k], elem: elem_size(t.dtype()) }).collect();
    let consts = [("OP", op as f64)];
    let kernel = Kernel { shader: &ELEMENTWISE, entry, constants: &consts, inputs: 3 };
    for block in binding_blocks(entry.trim_end_matches("_main"), &sh, &spans)? {
        let skip = sh.len() - block.shape.len();
        let mut windows: [Option<Window>; 4] = [None; 4];
        let mut info = vec![0u32; 56];
        for (&(k, t), &offset) in views.iter().zip(&block.offsets) {
            let (w, rel) = view_window(buffer(t), offset, &block.shape, &st[k][skip..], elem_size(t.dtype()))?;
            windows[k] = Some(w);
            info[if k == 0 { 9 } else { 2 + k }] = u32_of(rel, "offset")?;
        }
        let n = block.shape.iter().product::<usize>();
        info[0] = u32_of(n, "element count")?;
        info[1] = block.shape.len() as u32;
        info[2] = flags;
        info[6..9].copy_from_slice(&scalars);
        info[10..13].copy_from_slice(&highs);
        for (d, &s) in block.shape.iter().enumerate() {
            info[16 + d] = s as u32;
            info[48 + d] = u32_of(st[0][skip + d], "stride")?;
            for k in 0..operands.len() {
                info[24 + 8 * k + d] = u32_of(st[k + 1][skip + d], "stride")?;
            }
        }
        let out_window = windows[0].ok_or_else(|| Error::Runtime("element-wise launch without an output".into()))?;
        ctx.dispatch_windows(&kernel, &windows[1..], &[out_window], &info, split_groups(n.div_ceil(WG))?)?;
    }
    Ok(())
}

/// A new contiguous tensor from an element-wise launch.
fn elementwise(entry: &'static str, op: u32, operands: &[Operand], shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
    let out = empty(shape, dtype, device)?;
    launch_elementwise(entry, op, operands, shape, &out, &Layout::contiguous(shape))?;
    Ok(out)
}

/// A GPU tensor filled with `value`.
pub fn full(shape: &[usize], value: f64, dtype: DType, device: Device) -> Result<Tensor> {
    check_device(device)?;
    match dtype {
        DType::F32 | DType::Bool => {
            let bits = if dtype == DType::F32 { (value as f32).to_bits() } else { u32::from(value != 0.0) };
            elementwise("unary_main", codes::COPY, &[Operand::S(bits)], shape, dtype, device)
        }
        _ => to_gpu(&Tensor::full_dtype(shape, value, dtype)?, device),
    }
}

/// A contiguous copy of a GPU tensor.
pub fn contiguous(t: &Tensor) -> Result<Tensor> {
    if elem_size(t.dtype()) == 4 {
        return elementwise("unary_main", codes::COPY, &[Operand::T(t.clone())], t.shape(), t.dtype(), t.device());
    }
    if t.is_contiguous() {
        let out = empty(t.shape(), t.dtype(), t.device())?;
        let es = elem_size(t.dtype()) as u64;
        context()?.copy(buffer(t), t.offset() as u64 * es, buffer(&out), 0, t.numel() as u64 * es)?;
        return Ok(out);
    }
    if t.dtype() == DType::I64 {
        return elementwise("unary64_main", codes::COPY_I64, &[Operand::T(t.clone())], t.shape(), DType::I64, t.device());
    }
    Err(dtype_error("contiguous (strided copy)", t.dtype(), t.device()))
}

/// A contiguous copy in `dtype`.
pub fn cast(t: &Tensor, dtype: DType) -> Result<Tensor> {
    let code = match (t.dtype(), dtype) {
        (a, b) if a == b => return contiguous(t),
        (DType::F32, DType::Bool) => codes::CAST_F32_BOOL,
        (DType::Bool, DType::F32) => codes::CAST_BOOL_F32,
        (DType::I64, DType::F32) => codes::CAST_I64_F32,
        (DType::F32, DType::I64) => codes::CAST_F32_I64,
        (DType::I64, DType::Bool) => codes::CAST_I64_BOOL,
        (DType::Bool, DType::I64) => codes::CAST_BOOL_I64,
        (a, b) => {
            return Err(Error::NotImplemented(format!(
                "casting {a} to {b} on {} is not implemented (GPU casts: between float32, int64 and bool)",
                t.device()
            )))
        }
    };
    let entry = if code >= codes::CAST_I64_F32 { "unary64_main" } else { "unary_main" };
    elementwise(entry, code, &[Operand::T(t.clone())], t.shape(), dtype, t.device())
}

/// Writes `src` (broadcast, cast to `dst`'s dtype) into `dst`'s memory through its layout.
pub fn write_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let dev = op_device(&[dst, src])?;
    if !dev.is_gpu() || !dst.device().is_gpu() {
        return Err(super::mixed(dst.device(), src.device()));
    }
    src.layout().expand(dst.shape())?;
    if dst.dtype() == DType::I64 && !(src.device().is_gpu() && src.dtype() == DType::I64 && src.shape() == dst.shape() && src.is_contiguous() && dst.is_contiguous() && !src.same_storage(dst)) {
        let (code, mut s) = if is_cpu_scalar(src) && !src.dtype().is_float() {
            (codes::COPY_I64, operand64(src, "copy_")?)
        } else {
            match src.dtype() {
                DType::I64 => (codes::COPY_I64, Operand::T(src.clone())),
                DType::Bool => (codes::CAST_BOOL_I64, operand(src, DType::Bool, "copy_")?),
                _ => (codes::CAST_F32_I64, operand(src, DType::F32, "copy_")?),
            }
        };
        if let Operand::T(t) = &s {
            if t.same_storage(dst) {
                s = Operand::T(contiguous(t)?);
            }
        }
        launch_elementwise("unary64_main", code, &[s], dst.shape(), dst, dst.layout())?;
        dst.storage().bump_version();
        return Ok(());
    }
    if elem_size(dst.dtype()) != 4 {
        if src.device().is_gpu() && src.dtype() == dst.dtype() && src.shape() == dst.shape() && src.is_contiguous() && dst.is_contiguous() && !src.same_storage(dst) {
            let es = elem_size(dst.dtype()) as u64;
            context()?.copy(buffer(src), src.offset() as u64 * es, buffer(dst), dst.offset() as u64 * es, src.numel() as u64 * es)?;
            dst.storage().bump_version();
            return Ok(());
        }
        return Err(dtype_error("copy_", dst.dtype(), dst.device()));
    }
    let mut s = operand(src, dst.dtype(), "copy_")?;
    if let Operand::T(t) = &s {
        if t.same_storage(dst) {
            s = Operand::T(contiguous(t)?);
        }
    }
    launch_elementwise("unary_main", codes::COPY, &[s], dst.shape(), dst, dst.layout())?;
    dst.storage().bump_version();
    Ok(())
}

// ---- binary and unary ops ----

/// `op` of `a` and `b` (the same dtype; 0-d CPU tensors as scalars), as `Op::Binary`
/// describes: float32 and bool words, exact int64.
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    use BinaryOp::*;
    let dev = op_device(&[a, b])?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let out_dtype = |dt: DType| if op.kind() == BinaryKind::Comparison { DType::Bool } else { dt };
    match a.dtype() {
        DType::Bool => {
            let logic = match op {
                BitAnd => LogicalAnd,
                BitOr => LogicalOr,
                BitXor => LogicalXor,
                op => op,
            };
            let operands = [operand(a, DType::Bool, op.name())?, operand(b, DType::Bool, op.name())?];
            elementwise("binary_main", logic.code(), &operands, &shape, DType::Bool, dev)
        }
        DType::I64 => elementwise("binary64_main", op.code(), &[operand64(a, op.name())?, operand64(b, op.name())?], &shape, out_dtype(DType::I64), dev),
        DType::F32 => elementwise("binary_main", op.code(), &[operand(a, DType::F32, op.name())?, operand(b, DType::F32, op.name())?], &shape, out_dtype(DType::F32), dev),
        dt => Err(no_kernel(&Op::Binary(op), dt, dev)),
    }
}

/// ReLU's fused backward: `g` where `y > 0`, else 0 (both float32).
pub fn relu_backward(g: &Tensor, y: &Tensor) -> Result<Tensor> {
    let dev = op_device(&[g, y])?;
    if g.dtype() != DType::F32 {
        return Err(no_kernel(&Op::ReluBackward, g.dtype(), dev));
    }
    let shape = broadcast_shapes(g.shape(), y.shape())?;
    let operands = [operand(g, DType::F32, "threshold_backward")?, operand(y, DType::F32, "threshold_backward")?];
    elementwise("binary_main", codes::THRESHOLD_BACKWARD, &operands, &shape, DType::F32, dev)
}

/// `op` over `x` in `x`'s dtype, as `Op::Unary` describes: float32 for the float ops and
/// predicates, exact int64 kernels, bool logic.
pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    use UnaryOp::*;
    let (dev, shape) = (x.device(), x.shape());
    let xo = [Operand::T(x.clone())];
    match (x.dtype(), op.kind()) {
        (DType::F32, UnaryKind::Predicate) => elementwise("unary_main", op.code(), &xo, shape, DType::Bool, dev),
        (DType::F32, UnaryKind::Float | UnaryKind::Exact) => elementwise("unary_main", op.code(), &xo, shape, DType::F32, dev),
        (DType::Bool, UnaryKind::Logic) => elementwise("unary_main", LogicalNot.code(), &xo, shape, DType::Bool, dev),
        (DType::I64, _) if matches!(op, Neg | Abs | Square | Relu | Sign | BitwiseNot) => elementwise("unary64_main", op.code(), &xo, shape, DType::I64, dev),
        (dt, _) => Err(no_kernel(&Op::Unary(op), dt, dev)),
    }
}

/// `where(cond, a, b)` with `a` and `b` of one dtype (float32, int64 or bool), broadcast.
pub fn where_select(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dev = op_device(&[cond, a, b])?;
    let shape = broadcast_shapes(&broadcast_shapes(cond.shape(), a.shape())?, b.shape())?;
    let dt = a.dtype();
    let c = operand(cond, DType::Bool, "where")?;
    match dt {
        DType::I64 => elementwise("where64_main", 0, &[c, operand64(a, "where")?, operand64(b, "where")?], &shape, dt, dev),
        DType::F32 | DType::Bool => elementwise("where_main", 0, &[c, operand(a, dt, "where")?, operand(b, dt, "where")?], &shape, dt, dev),
        dt => Err(no_kernel(&Op::Where, dt, dev)),
    }
}

// ---- reductions ----

/// Reduces `x` over `dims` (sum: op 0, max: 1, min: 2, prod: 3), no autograd: float32, and
/// int64 exactly for sum/max/min (wrapping sums, as on the CPU).
pub fn reduce(x: &Tensor, dims: &[usize], keepdim: bool, op: u32, name: &str) -> Result<Tensor> {
    let dev = x.device();
    if !matches!(x.dtype(), DType::F32 | DType::I64) {
        return Err(dtype_error(name, x.dtype(), dev));
    }
    let nd = x.ndim();
    let mut order: Vec<usize> = (0..nd).filter(|d| !dims.contains(d)).collect();
    order.extend(dims.iter().copied());
    let moved = x.layout().permute(&order)?;
    let rows: usize = (0..nd).filter(|d| !dims.contains(d)).map(|d| x.shape()[d]).product();
    let inner: usize = dims.iter().map(|&d| x.shape()[d]).product();
    let out_shape: Vec<usize> = (0..nd)
        .filter_map(|d| if dims.contains(&d) { keepdim.then_some(1) } else { Some(x.shape()[d]) })
        .collect();
    if !fits_binding(x.shape(), &Span { offset: x.offset(), strides: x.strides(), elem: 4 })? || !fits_binding(&[rows], &Span { offset: 0, strides: &[1], elem: 4 })? {
        return reduce_split(x, dims, keepdim, op, name, &out_shape);
    }
    let (sh, st) = coalesce(&moved.shape, std::slice::from_ref(&moved.strides));
    if sh.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("{name} on {dev}: more than {MAX_DIMS} dims after merging")));
    }
    let contiguous = sh.len() <= 1 && st[0].first().copied().unwrap_or(1) == 1;
    let out = empty(&out_shape, x.dtype(), dev)?;
    if rows == 0 {
        return Ok(out);
    }
    reduce_pass(x, &sh, &st[0], moved.offset, contiguous, rows, inner, op, &out)?;
    Ok(out)
}

/// Into how many slices along dim `d` a tensor of `bytes` (of its view or its result) is cut
/// so that each fits one storage binding with room to spare (a slice still too large is cut
/// again by the caller's recursion).
fn slice_count(bytes: usize, d_len: usize) -> Result<usize> {
    let half = (context()?.max_binding() / 2).max(1) as usize;
    Ok(bytes.div_ceil(half).clamp(2, d_len.max(2)))
}

/// The bytes a view reaches from its first element to its last.
fn reach_bytes(t: &Tensor) -> usize {
    (t.shape().iter().zip(t.strides()).map(|(&n, &s)| n.saturating_sub(1) * s).sum::<usize>() + 1) * elem_size(t.dtype())
}

/// `reduce` of a tensor, or to a result, larger than one storage binding: reduces slices
/// along the dim outermost in memory (the result's outermost kept dim when only the result is
/// too large) and combines the partial results: side by side when that dim is kept, added
/// (or their maximum / minimum taken) when it is reduced.
fn reduce_split(x: &Tensor, dims: &[usize], keepdim: bool, op: u32, name: &str, out_shape: &[usize]) -> Result<Tensor> {
    let l = x.layout();
    let big_input = !fits_binding(x.shape(), &Span { offset: x.offset(), strides: x.strides(), elem: 4 })?;
    let candidates = (0..x.ndim()).filter(|&d| l.shape[d] > 1 && (big_input || !dims.contains(&d)));
    let d = if big_input { candidates.max_by_key(|&d| l.strides[d]) } else { candidates.min() };
    let d = d.ok_or_else(|| Error::NotImplemented(format!("'{name}' on {}: no dim to split the tensor along to fit a storage binding", x.device())))?;
    let bytes = if big_input { reach_bytes(x) } else { out_shape.iter().product::<usize>() * 4 };
    let len = l.shape[d].div_ceil(slice_count(bytes, l.shape[d])?);
    let mut parts = vec![];
    for start in (0..l.shape[d]).step_by(len) {
        let part = x.view_with_layout(l.slice(d, start, (start + len).min(l.shape[d]), 1));
        parts.push(reduce(&part, dims, true, op, name)?);
    }
    let r = if dims.contains(&d) {
        // Element-wise, as the partial results may be as large as the input.
        let combine = [BinaryOp::Add, BinaryOp::Maximum, BinaryOp::Minimum][op as usize];
        parts.iter().skip(1).try_fold(parts[0].clone(), |acc, p| binary(combine, &acc, p))?
    } else {
        Tensor::cat(&parts, d as i64)?
    };
    if keepdim {
        Ok(r)
    } else {
        r.reshape_usize(out_shape)
    }
}

/// One or two launches of reduce_main writing `rows` results into `out`.
#[allow(clippy::too_many_arguments)]
fn reduce_pass(x: &Tensor, shape: &[usize], strides: &[usize], offset: usize, contiguous: bool, rows: usize, inner: usize, op: u32, out: &Tensor) -> Result<()> {
    let ctx = context()?;
    // Enough workgroups to fill the device: split long rows when there are few of them.
    let chunks = if inner > REDUCE_CHUNK { inner.div_ceil(REDUCE_CHUNK).min((1024 / rows).max(1)) } else { 1 };
    let chunk_len = inner.div_ceil(chunks).max(1);
    let mut info = vec![0u32; 32];
    info[0] = u32_of(rows, "rows")?;
    info[1] = u32_of(inner, "row length")?;
    info[2] = chunks as u32;
    info[3] = u32_of(chunk_len, "chunk")?;
    info[4] = shape.len() as u32;
    info[6] = u32::from(contiguous);
    for d in 0..shape.len() {
        info[16 + d] = shape[d] as u32;
        info[24 + d] = u32_of(strides[d], "stride")?;
    }
    let consts = [("OP", op as f64)];
    let entry = if x.dtype() == DType::I64 { "reduce64_main" } else { "reduce_main" };
    let k = Kernel { shader: &REDUCE, entry, constants: &consts, inputs: 1 };
    let elem = elem_size(x.dtype());
    let (input, rel) = view_window(buffer(x), offset, shape, strides, elem)?;
    info[5] = u32_of(rel, "offset")?;
    if chunks == 1 {
        let (output, _) = view_window(buffer(out), 0, &[rows], &[1], elem)?;
        return ctx.dispatch_windows(&k, &[Some(input)], &[output], &info, split_groups(rows)?);
    }
    let partial = empty(&[rows, chunks], x.dtype(), x.device())?;
    ctx.dispatch_windows(&k, &[Some(input)], &[Window::whole(buffer(&partial))], &info, split_groups(rows * chunks)?)?;
    reduce_pass(&partial, &[rows * chunks], &[1], 0, true, rows, chunks, op, out)
}

/// Indices (int64) of the first max (`max`) or min along `d` of a float32 or int64 tensor; NaN
/// counts as the extreme, as on the CPU. One workgroup per row.
fn arg_reduce(x: &Tensor, ds: &[usize], keepdim: bool, max: bool) -> Result<Tensor> {
    let dev = x.device();
    // One workgroup scans a whole row, through one storage binding: long rows (lavapipe returned
    // index 0 for rows of 2^23 elements) and tensors larger than a binding go in chunks.
    if let [d] = ds {
        let fits = fits_binding(x.shape(), &Span { offset: x.offset(), strides: x.strides(), elem: elem_size(x.dtype()) })?;
        if !fits || x.shape()[*d] > ARG_CHUNK {
            return arg_reduce_chunked(x, *d, keepdim, max);
        }
    }
    let nd = x.ndim();
    let mut order: Vec<usize> = (0..nd).filter(|d| !ds.contains(d)).collect();
    order.extend(ds.iter().copied());
    let moved = x.layout().permute(&order)?;
    let rows: usize = (0..nd).filter(|d| !ds.contains(d)).map(|d| x.shape()[d]).product();
    let inner: usize = ds.iter().map(|&d| x.shape()[d]).product();
    let out_shape: Vec<usize> = (0..nd)
        .filter_map(|d| if ds.contains(&d) { keepdim.then_some(1) } else { Some(x.shape()[d]) })
        .collect();
    let (sh, st) = coalesce(&moved.shape, std::slice::from_ref(&moved.strides));
    if sh.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("argmax on {dev}: more than {MAX_DIMS} dims after merging")));
    }
    let out = empty(&out_shape, DType::I64, dev)?;
    if rows == 0 {
        return Ok(out);
    }
    let mut info = vec![0u32; 32];
    info[0] = u32_of(rows, "rows")?;
    info[1] = u32_of(inner, "row length")?;
    info[4] = sh.len() as u32;
    info[5] = u32_of(moved.offset, "offset")?;
    info[6] = u32::from(sh.len() <= 1 && st[0].first().copied().unwrap_or(1) == 1);
    u32_of(x.storage().len(), "storage length")?;
    for d in 0..sh.len() {
        info[16 + d] = sh[d] as u32;
        info[24 + d] = u32_of(st[0][d], "stride")?;
    }
    let consts = [("OP", if max { 1.0 } else { 2.0 })];
    let entry = if x.dtype() == DType::I64 { "argreduce64_main" } else { "argreduce_main" };
    let k = Kernel { shader: &REDUCE, entry, constants: &consts, inputs: 1 };
    context()?.dispatch(&k, &[Some(buffer(x))], buffer(&out), &info, split_groups(rows)?)?;
    Ok(out)
}

/// The longest run argmax scans in one workgroup.
const ARG_CHUNK: usize = 1 << 20;

/// arg_reduce along dim `d` in chunks of at most ARG_CHUNK positions that each fit one storage
/// binding (copied out), then per row the chunk whose best value wins (the first on ties and
/// NaN, so the first index overall wins, as in one pass).
fn arg_reduce_chunked(x: &Tensor, d: usize, keepdim: bool, max: bool) -> Result<Tensor> {
    let n = x.shape()[d];
    let row_bytes = (x.numel() / n.max(1) * elem_size(x.dtype())).max(1) as u64;
    let chunk = usize::try_from(context()?.max_binding() / 2 / row_bytes).unwrap_or(usize::MAX).min(n).min(ARG_CHUNK);
    if chunk == 0 {
        return Err(Error::NotImplemented(format!(
            "argmax on {}: a slice of {row_bytes} bytes across the reduced dim exceeds the storage binding limit",
            x.device()
        )));
    }
    let x = x.detach();
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    for start in (0..n).step_by(chunk) {
        let part = x.narrow(d as i64, start as i64, chunk.min(n - start) as i64)?.clone_data()?;
        let i = arg_reduce(&part, &[d], true, max)?;
        values.push(super::index::gather(&part, d, &i)?);
        indices.push(i.add(&Tensor::wrapped_scalar(start as i64))?);
    }
    let best = arg_reduce(&Tensor::cat(&values, d as i64)?, &[d], true, max)?;
    let out = super::index::gather(&Tensor::cat(&indices, d as i64)?, d, &best)?;
    if keepdim { Ok(out) } else { out.squeeze(Some(&[d as i64])) }
}

/// `max(dim)`/`min(dim)` on the GPU: values and int64 indices; the gradient goes to the index
/// (MaxBackward0/MinBackward0, as on the CPU).
pub fn max_dim(x: &Tensor, dim: i64, keepdim: bool, max: bool) -> Result<(Tensor, Tensor)> {
    if x.dtype() == DType::Bool {
        // Bool words compare as int64 0/1 (no autograd on bools).
        let (values, indices) = max_dim(&cast(x, DType::I64)?, dim, keepdim, max)?;
        return Ok((cast(&values, DType::Bool)?, indices));
    }
    let name = if max { "max" } else { "min" };
    let d = crate::layout::wrap_dim(dim, x.ndim())?;
    if x.ndim() > 0 && x.shape()[d] == 0 {
        return Err(Error::Index(format!("{name}(): Expected reduction dim {d} to have non-zero size.")));
    }
    if !matches!(x.dtype(), DType::F32 | DType::I64) {
        return Err(dtype_error(if max { "max.dim / argmax" } else { "min.dim / argmin" }, x.dtype(), x.device()));
    }
    let ds = if x.ndim() == 0 { vec![] } else { vec![d] };
    let indices = arg_reduce(x, &ds, keepdim, max)?;
    let values = if x.ndim() == 0 {
        contiguous(&x.detach())?
    } else {
        let idx = if keepdim { indices.clone() } else { indices.unsqueeze(d as i64)? };
        let v = super::index::gather(&x.detach(), d, &idx)?;
        if keepdim { v } else { v.squeeze(Some(&[d as i64]))? }
    };
    let Some(rec) = Recorder::new(if max { "MaxBackward0" } else { "MinBackward0" }, &[x]) else { return Ok((values, indices)) };
    let src = x.shape().to_vec();
    let idx = indices.clone();
    let values = rec.finish(values, false, move |_, g| {
        if src.is_empty() {
            return Ok(vec![Some(g.reshape_usize(&[])?)]);
        }
        let (g, i) = if keepdim { (g.clone(), idx.clone()) } else { (g.unsqueeze(d as i64)?, idx.unsqueeze(d as i64)?) };
        let zeros = full(&src, 0.0, g.dtype(), g.device())?;
        Ok(vec![Some(zeros.scatter_add(d as i64, &i, &g)?)])
    });
    Ok((values, indices))
}

/// `any`/`all` on the GPU: the max/min of the values as 0/1 floats.
pub fn any_all(x: &Tensor, dims: Option<&[i64]>, keepdim: bool, any: bool) -> Result<Tensor> {
    let ds = crate::ops::reduce::reduce_dims(dims, x.ndim())?;
    let b = if x.dtype() == DType::Bool { x.clone() } else { cast(x, DType::Bool)? };
    // any: a sum of the 0/1 words (0 over no elements), all: their min (+inf over none).
    let r = reduce(&cast(&b, DType::F32)?, &ds, keepdim, if any { 0 } else { 2 }, if any { "any" } else { "all" })?;
    cast(&r, DType::Bool)
}

/// `sum` on the GPU with autograd (SumBackward1, as on the CPU).
pub fn sum(x: &Tensor, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
    let ds = crate::ops::reduce::reduce_dims(dims, x.ndim())?;
    if x.dtype() == DType::Bool {
        return reduce(&cast(x, DType::I64)?, &ds, keepdim, 0, "sum");
    }
    let out = reduce(x, &ds, keepdim, 0, "sum")?;
    let Some(rec) = Recorder::new("SumBackward1", &[x]) else { return Ok(out) };
    let src = x.shape().to_vec();
    Ok(rec.finish(out, false, move |_, g| Ok(vec![Some(crate::ops::reduce::expand_reduced(g, &src, &ds, keepdim)?)])))
}

/// `prod` of a float32 tensor on the GPU (no autograd: the caller records the CPU's rule).
pub fn prod(x: &Tensor, ds: &[usize], keepdim: bool) -> Result<Tensor> {
    let x = if x.dtype() == DType::Bool { cast(x, DType::I64)? } else { x.clone() };
    reduce(&x, ds, keepdim, 3, "prod")
}

// ---- softmax ----

/// Softmax / log-softmax along dim `d` (no autograd); the output is contiguous.
pub fn softmax_forward(x: &Tensor, d: usize, log: bool) -> Result<Tensor> {
    let dev = x.device();
    if x.dtype() != DType::F32 {
        return Err(dtype_error(if log { "log_softmax" } else { "softmax" }, x.dtype(), dev));
    }
    let out = empty(x.shape(), DType::F32, dev)?;
    if x.numel() == 0 {
        return Ok(out);
    }
    if x.ndim() == 0 {
        return full(&[], if log { 0.0 } else { 1.0 }, DType::F32, dev);
    }
    if !fits_binding(x.shape(), &Span { offset: x.offset(), strides: x.strides(), elem: 4 })? || !fits_binding(&[x.numel()], &Span { offset: 0, strides: &[1], elem: 4 })? {
        return softmax_split(x, d, log, &out);
    }
    let ostrides = contiguous_strides(x.shape());
    let l = x.layout();
    let mut outer = vec![];
    let mut istr = vec![];
    let mut ostr = vec![];
    for k in 0..x.ndim() {
        if k != d && l.shape[k] != 1 {
            outer.push(l.shape[k]);
            istr.push(l.strides[k]);
            ostr.push(ostrides[k]);
        }
    }
    let (sh, st) = coalesce(&outer, &[istr, ostr]);
    if sh.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("softmax on {dev}: more than {MAX_DIMS} dims")));
    }
    let rows: usize = sh.iter().product();
    let mut info = vec![0u32; 40];
    info[0] = u32_of(rows, "rows")?;
    info[1] = u32_of(l.shape[d], "row length")?;
    info[2] = sh.len() as u32;
    info[3] = u32_of(l.offset, "offset")?;
    info[4] = u32_of(l.strides[d], "stride")?;
    info[5] = ostrides[d] as u32;
    u32_of(x.numel(), "element count")?;
    for k in 0..sh.len() {
        info[16 + k] = sh[k] as u32;
        info[24 + k] = u32_of(st[0][k], "stride")?;
        info[32 + k] = st[1][k] as u32;
    }
    let (input, rel) = view_window(buffer(x), l.offset, &l.shape, &l.strides, 4)?;
    info[3] = u32_of(rel, "offset")?;
    let (output, _) = view_window(buffer(&out), 0, &[x.numel()], &[1], 4)?;
    let consts = [("LOG", f64::from(u8::from(log)))];
    let k = Kernel { shader: &SOFTMAX, entry: "softmax_main", constants: &consts, inputs: 1 };
    context()?.dispatch_windows(&k, &[Some(input)], &[output], &info, split_groups(rows)?)?;
    Ok(out)
}

/// Softmax of a tensor larger than one storage binding into `out`: slices along the dim
/// other than `d` outermost in memory, each computed on its own (or cut again) and copied into
/// its part of `out`; rows along `d` are made contiguous first and never cut.
fn softmax_split(x: &Tensor, d: usize, log: bool, out: &Tensor) -> Result<Tensor> {
    let l = x.layout();
    let last = x.ndim() - 1;
    if l.strides[d] != 1 && l.shape[d] > 1 {
        // A row read through a stride spans the buffer: softmax over a copy in which it is
        // contiguous, written back through the transposed view.
        let moved = contiguous(&x.view_with_layout(l.transpose(d, last)))?;
        let r = softmax_forward(&moved, last, log)?;
        write_into(out, &r.view_with_layout(r.layout().transpose(d, last)))?;
        return Ok(out.clone());
    }
    let Some(s) = (0..x.ndim()).filter(|&k| k != d && l.shape[k] > 1).max_by_key(|&k| l.strides[k]) else {
        return Err(Error::NotImplemented(format!(
            "'{}' on {}: a row of {} elements along dim {d} exceeds the adapter's max storage binding size ({} bytes)",
            if log { "log_softmax" } else { "softmax" },
            x.device(),
            l.shape[d],
            context()?.max_binding()
        )));
    };
    let bytes = reach_bytes(x).max(x.numel() * 4);
    let len = l.shape[s].div_ceil(slice_count(bytes, l.shape[s])?);
    for start in (0..l.shape[s]).step_by(len) {
        let stop = (start + len).min(l.shape[s]);
        let part = softmax_forward(&x.view_with_layout(l.slice(s, start, stop, 1)), d, log)?;
        write_into(&out.view_with_layout(out.layout().slice(s, start, stop, 1)), &part)?;
    }
    Ok(out.clone())
}

// ---- matmul ----

/// Out[b] = A[b] @ B[b] for [..batch, m, k] and [..batch, k, n] operands whose batch dims
/// are broadcast to `batch`; contiguous output (the GPU half of `batched_matmul_forward`).
pub fn matmul(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    let dev = op_device(&[a, b])?;
    if !a.device().is_gpu() || !b.device().is_gpu() {
        return Err(super::mixed(a.device(), b.device()));
    }
    if a.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return Err(dtype_error("matmul", if a.dtype() != DType::F32 { a.dtype() } else { b.dtype() }, dev));
    }
    let (la, lb) = (a.layout(), b.layout());
    let (m, k) = (la.shape[la.ndim() - 2], la.shape[la.ndim() - 1]);
    let n = lb.shape[lb.ndim() - 1];
    let nb: usize = batch.iter().product();
    let mut out_shape = batch.to_vec();
    out_shape.extend([m, n]);
    let fits = |t: &Tensor| fits_binding(t.shape(), &Span { offset: t.offset(), strides: t.strides(), elem: 4 });
    if out_shape.iter().all(|&s| s > 0) && (!fits(a)? || !fits(b)? || !fits_binding(&[nb * m * n], &Span { offset: 0, strides: &[1], elem: 4 })?) {
        return matmul_split(a, b, batch, fits(a)?, fits(b)?);
    }
    let out = empty(&out_shape, DType::F32, dev)?;
    if out.numel() == 0 {
        return Ok(out);
    }
    let sa = la.strides[..la.ndim() - 2].to_vec();
    let sb = lb.strides[..lb.ndim() - 2].to_vec();
    let (bsh, bst) = coalesce(batch, &[sa, sb]);
    if bsh.len() > 4 {
        return Err(Error::NotImplemented(format!("matmul on {dev}: more than 4 batch dims after merging")));
    }
    u32_of(out.numel(), "element count")?;
    let mut info = vec![0u32; 28];
    info[0] = m as u32;
    info[1] = n as u32;
    info[2] = u32_of(k, "inner dim")?;
    info[3] = bsh.len() as u32;
    info[6] = u32_of(la.strides[la.ndim() - 2], "stride")?;
    info[7] = u32_of(la.strides[la.ndim() - 1], "stride")?;
    info[8] = u32_of(lb.strides[lb.ndim() - 2], "stride")?;
    info[9] = u32_of(lb.strides[lb.ndim() - 1], "stride")?;
    for d in 0..bsh.len() {
        info[16 + d] = bsh[d] as u32;
        info[20 + d] = u32_of(bst[0][d], "stride")?;
        info[24 + d] = u32_of(bst[1][d], "stride")?;
    }
    let ctx = context()?;
    let max = ctx.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    let (gx, gy) = (n.div_ceil(64), m.div_ceil(64));
    if gx > max || gy > max {
        return Err(Error::NotImplemented(format!("matmul on {dev}: a {m}x{n} output needs more than {max} tiles per dim")));
    }
    let (wa, ra) = view_window(buffer(a), la.offset, &la.shape, &la.strides, 4)?;
    let (wb, rb) = view_window(buffer(b), lb.offset, &lb.shape, &lb.strides, 4)?;
    let (wo, _) = view_window(buffer(&out), 0, &[out.numel()], &[1], 4)?;
    info[4] = u32_of(ra, "offset")?;
    info[5] = u32_of(rb, "offset")?;
    let kern = Kernel { shader: &MATMUL, entry: "matmul_main", constants: &[], inputs: 2 };
    let mut base = 0;
    while base < nb {
        let z = (nb - base).min(max);
        info[10] = base as u32;
        ctx.dispatch_windows(&kern, &[Some(wa), Some(wb)], &[wo], &info, (gx as u32, gy as u32, z as u32))?;
        base += z;
    }
    Ok(out)
}

/// `matmul` with an operand or the result larger than one storage binding: halves the first
/// batch dim of size > 1, else the rows (the result or `a` too large), the columns (the result
/// or `b` too large) or the inner dim (partial products added), and joins the halves; each
/// half that is still too large is cut again.
fn matmul_split(a: &Tensor, b: &Tensor, batch: &[usize], a_fits: bool, b_fits: bool) -> Result<Tensor> {
    let nd = a.ndim();
    let (m, k, n) = (a.shape()[nd - 2], a.shape()[nd - 1], b.shape()[nd - 1]);
    let halves = |t: &Tensor, d: usize| {
        let len = t.shape()[d];
        [t.view_with_layout(t.layout().slice(d, 0, len / 2, 1)), t.view_with_layout(t.layout().slice(d, len / 2, len, 1))]
    };
    if let Some(d) = batch.iter().position(|&s| s > 1) {
        let ([a0, a1], [b0, b1]) = (halves(a, d), halves(b, d));
        let mut b_half = batch.to_vec();
        b_half[d] = a0.shape()[d];
        let first = matmul(&a0, &b0, &b_half)?;
        b_half[d] = a1.shape()[d];
        return Tensor::cat(&[first, matmul(&a1, &b1, &b_half)?], d as i64);
    }
    let out_fits = fits_binding(&[m * n], &Span { offset: 0, strides: &[1], elem: 4 })?;
    if (!out_fits || !a_fits) && m > 1 {
        let [a0, a1] = halves(a, nd - 2);
        return Tensor::cat(&[matmul(&a0, b, batch)?, matmul(&a1, b, batch)?], nd as i64 - 2);
    }
    if (!out_fits || !b_fits) && n > 1 {
        let [b0, b1] = halves(b, nd - 1);
        return Tensor::cat(&[matmul(a, &b0, batch)?, matmul(a, &b1, batch)?], nd as i64 - 1);
    }
    if k > 1 {
        let ([a0, a1], [b0, b1]) = (halves(a, nd - 1), halves(b, nd - 2));
        return binary(BinaryOp::Add, &matmul(&a0, &b0, batch)?, &matmul(&a1, &b1, batch)?);
    }
    Err(Error::NotImplemented(format!("'matmul' on {}: an element does not fit the adapter's max storage binding size", a.device())))
}
