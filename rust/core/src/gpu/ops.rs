//! GPU op entry points: argument checks, layouts and metadata, and the kernel launches. The
//! element-wise tensor ops (`binary`, `unary`, casts, copies, ...) dispatch here when their
//! operands live on a GPU; autograd is recorded by the callers as on the CPU, so backward
//! rules written with tensor ops run on the GPU too.
use super::runtime::{context, Kernel, Window};
use super::narrow;
use super::{elem_size, is_cpu_scalar, op_device, ELEMENTWISE};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::{broadcast_shapes, Layout};
use crate::op::{elementwise_codes as codes, no_kernel, no_kernel_named, BinaryKind, BinaryOp, Op, UnaryKind, UnaryOp};
use crate::storage::Storage;
use crate::tensor::Tensor;

/// Dims a kernel's index math handles after merging.
pub(crate) const MAX_DIMS: usize = 8;
/// Workgroup size of the 1-D kernels.
const WG: usize = 256;

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
    let bytes = if narrow::is_narrow(dtype) { narrow::buffer_bytes(dtype, n) } else { n.checked_mul(elem_size(dtype)) };
    let bytes = bytes.ok_or_else(|| Error::OutOfMemory(format!("GPU out of memory: a tensor of shape {shape:?} has more bytes than can be addressed")))?;
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
        d => {
            let mut bytes = crate::with_dtype!(d, T, element_bytes(&t.contiguous_data::<T>()));
            bytes.resize(narrow::buffer_bytes(d, t.numel()).unwrap_or(bytes.len()), 0);
            ctx.upload(&bytes)?
        }
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

/// The bytes of host elements (plain numbers: integers and IEEE floats).
fn element_bytes<T: crate::dtype::Element>(v: &[T]) -> Vec<u8> {
    // SAFETY: every Element type other than bool is a plain number without padding or invalid
    // bit patterns (bool is never passed here: GPU memory holds bools as u32 words).
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }.to_vec()
}

/// Host elements from bytes of GPU memory (`n` elements of `T` at the start).
fn elements_from_bytes<T: crate::dtype::Element>(bytes: &[u8], n: usize) -> Vec<T> {
    let mut out = vec![T::zero(); n];
    // SAFETY: as in `element_bytes`; `bytes` holds at least n elements (the download covers
    // whole words) and `out` is n elements long.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr() as *mut u8, n * std::mem::size_of::<T>()) };
    out
}

/// A contiguous copy of a GPU tensor in host memory (waits for pending GPU work).
pub fn to_cpu(t: &Tensor) -> Result<Tensor> {
    if narrow::is_narrow(t.dtype()) {
        // Packed words: download a contiguous copy that starts at a word.
        let src = narrow::cast(t, t.dtype())?;
        let bytes = context()?.download(buffer(&src), 0, narrow::buffer_bytes(t.dtype(), t.numel()).unwrap_or(0) as u64)?;
        return crate::with_dtype!(t.dtype(), T, Tensor::from_vec(elements_from_bytes::<T>(&bytes, t.numel()), t.shape()));
    }
    let src = if t.is_contiguous() { t.clone() } else { contiguous(t)? };
    let es = elem_size(t.dtype());
    let bytes = context()?.download(buffer(&src), (src.offset() * es) as u64, (src.numel() * es) as u64)?;
    let shape = t.shape();
    match t.dtype() {
        DType::Bool => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, u32>(&bytes).iter().map(|&w| w != 0).collect::<Vec<bool>>(), shape),
        DType::F32 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes), shape),
        DType::F64 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, f64>(&bytes), shape),
        DType::I64 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, i64>(&bytes), shape),
        d => Err(crate::op::no_kernel(&crate::op::Op::ToDevice(Device::Cpu), d, t.device())),
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
        d => Err(no_kernel_named(op, d, Device::Gpu(0))),
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
            return Err(no_kernel_named(op, t.dtype(), Device::Gpu(0)));
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
pub(crate) struct Span<'a> {
    pub(crate) offset: usize,
    pub(crate) strides: &'a [usize],
    pub(crate) elem: usize,
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
pub(crate) fn fits_binding(shape: &[usize], span: &Span<'_>) -> Result<bool> {
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
    if narrow::is_narrow(t.dtype()) {
        return narrow::cast(t, t.dtype());
    }
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
    Err(no_kernel_named("contiguous (strided copy)", t.dtype(), t.device()))
}

/// A contiguous copy in `dtype`.
pub fn cast(t: &Tensor, dtype: DType) -> Result<Tensor> {
    if narrow::is_narrow(t.dtype()) || narrow::is_narrow(dtype) {
        return narrow::cast(t, dtype);
    }
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
    if narrow::is_narrow(dst.dtype()) {
        return narrow::write_into(dst, src);
    }
    if narrow::is_narrow(src.dtype()) {
        let src = if src.device().is_gpu() { src.clone() } else { transfer(src, dev)? };
        return write_into(dst, &narrow::cast(&src, src.dtype().compute_type())?);
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
        return Err(no_kernel_named("copy_", dst.dtype(), dst.device()));
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
