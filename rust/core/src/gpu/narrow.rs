//! The narrow dtypes (float16, bfloat16, int8, int16, int32, uint8) in GPU memory
//! (`shaders/narrow.wgsl`): packed 16- and 8-bit words, converted to and from their compute
//! types (float32, int64), and written into strided views. Every other op sees these dtypes
//! in their compute types (`ops::dispatch` widens), so these casts and writes are all the
//! kernels they need.
use super::ops::{buffer, cast as wide_cast, contiguous, empty, split_groups, transfer, u32_of, MAX_DIMS};
use super::runtime::{context, Kernel};
use super::Shader;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::tensor::Tensor;

pub static NARROW: Shader = Shader { name: "narrow", body: include_str!("../../../../shaders/narrow.wgsl") };

const WG: usize = 256;

/// Whether GPU memory holds `dtype` packed (kernels compute it in `DType::compute_type`).
pub fn is_narrow(dtype: DType) -> bool {
    dtype.compute_type() != dtype
}

fn kind(dtype: DType) -> f64 {
    match dtype {
        DType::U8 => 0.0,
        DType::I8 => 1.0,
        DType::I16 => 2.0,
        DType::I32 => 3.0,
        DType::F16 => 4.0,
        DType::BF16 => 5.0,
        d => unreachable!("{d} is not a narrow dtype"),
    }
}

/// Metadata words of a strided view: 0 n, 1 ndim, 2 offset, 16..24 shape, 24..32 strides.
fn view_info(l: &Layout, what: &str) -> Result<Vec<u32>> {
    let kept: Vec<(usize, usize)> = l.shape.iter().zip(&l.strides).filter(|(&d, _)| d != 1).map(|(&d, &s)| (d, s)).collect();
    if kept.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("{what} on the GPU: more than {MAX_DIMS} dims longer than 1")));
    }
    let mut info = vec![0u32; 32];
    info[0] = u32_of(l.numel(), "element count")?;
    info[1] = kept.len() as u32;
    info[2] = u32_of(l.offset, "offset")?;
    for (k, &(d, s)) in kept.iter().enumerate() {
        info[16 + k] = d as u32;
        info[24 + k] = u32_of(s, "stride")?;
    }
    Ok(info)
}

fn launch(entry: &'static str, dtype: DType, input: &Tensor, out: &Tensor, info: &[u32], threads: usize) -> Result<()> {
    let consts = [("KIND", kind(dtype))];
    let k = Kernel { shader: &NARROW, entry, constants: &consts, inputs: 1 };
    context()?.dispatch(&k, &[Some(buffer(input))], buffer(out), info, split_groups(threads.div_ceil(WG))?)
}

/// A narrow GPU tensor (any layout) as a contiguous tensor of its compute type.
fn widen(t: &Tensor) -> Result<Tensor> {
    let out = empty(t.shape(), t.dtype().compute_type(), t.device())?;
    if t.numel() > 0 {
        launch("widen_main", t.dtype(), t, &out, &view_info(t.layout(), "widening")?, t.numel())?;
    }
    Ok(out)
}

/// A GPU tensor of a narrow dtype's compute type, as a contiguous tensor of `dtype`.
fn narrow(t: &Tensor, dtype: DType) -> Result<Tensor> {
    let wide = contiguous(t)?;
    let out = empty(t.shape(), dtype, t.device())?;
    let n = t.numel();
    if n > 0 {
        let per_word = 4 / dtype.size_of();
        launch("narrow_main", dtype, &wide, &out, &[u32_of(n, "element count")?], n.div_ceil(per_word))?;
    }
    Ok(out)
}

/// A contiguous copy of GPU tensor `t` in `dtype`, where either is narrow: through the compute
/// types (a float16 -> int32 cast is float16 -> float32 -> int64 -> int32, which rounds and
/// wraps as the CPU's cast does).
pub fn cast(t: &Tensor, dtype: DType) -> Result<Tensor> {
    let wide = if is_narrow(t.dtype()) { widen(t)? } else { t.clone() };
    if !is_narrow(dtype) {
        return wide_cast(&wide, dtype);
    }
    narrow(&wide_cast(&wide, dtype.compute_type())?, dtype)
}

/// Writes `src` (broadcast, cast to `dst`'s narrow dtype) into `dst`'s memory through its layout.
pub fn write_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let src = if src.device().is_gpu() { src.clone() } else { transfer(src, dst.device())? };
    let expanded = Tensor::from_parts(src.storage().clone(), src.layout().expand(dst.shape())?);
    let packed = cast(&expanded, dst.dtype())?;
    if dst.numel() > 0 {
        launch("write_main", dst.dtype(), &packed, dst, &view_info(dst.layout(), "copy_")?, dst.numel())?;
    }
    dst.storage().bump_version();
    Ok(())
}

/// Bytes of `n` elements of a narrow dtype in GPU memory (whole words: kernels read words).
pub fn buffer_bytes(dtype: DType, n: usize) -> Option<usize> {
    n.checked_mul(dtype.size_of()).map(|b| b.div_ceil(4) * 4)
}
