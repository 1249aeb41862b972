//! Scans and compaction on the GPU (`shaders/scan.wgsl`): cumsum/cumprod along a dim as a
//! block-wise parallel scan (block totals scanned recursively and combined back), nonzero as
//! stream compaction over the running count of the flags, and flip.
use super::ops::{buffer, cast, contiguous, empty, split_groups, u32_of};
use super::runtime::{context, Kernel};
use super::{elem_size, Shader};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::op::{no_kernel, Op, ScanOp};
use crate::tensor::Tensor;

pub static SCAN: Shader = Shader { name: "scan", body: include_str!("../../../../shaders/scan.wgsl") };

/// Dims a kernel's index math handles.
const MAX_DIMS: usize = 8;
/// Elements one scan workgroup covers (256 threads, 4 each).
const BLOCK: usize = 1024;
const WG: usize = 256;
/// Rows up to this long are scanned by one thread each (a block scan would leave most of its
/// workgroup idle).
const SHORT_ROW: usize = 64;

/// The elements a scan combines (scan.wgsl's KIND).
#[derive(Clone, Copy, PartialEq)]
enum ScanKind {
    F32 = 0,
    I64 = 1,
    /// u32 words (the running counts of nonzero).
    Count = 2,
}

fn kernel<'a>(entry: &'static str, constants: &'a [(&'static str, f64)]) -> Kernel<'a> {
    Kernel { shader: &SCAN, entry, constants, inputs: 1 }
}

/// Inclusive scan with `op` of `src` into `out` (same buffer dtype width), both seen through
/// layouts of the same shape with the scanned dim last. Short rows take a thread each; rows
/// longer than one block take a second scan over the block totals and a pass adding them back.
fn launch_scan(src: &Tensor, src_l: &Layout, out: &Tensor, out_l: &Layout, op: ScanOp, kind: ScanKind) -> Result<()> {
    let nd = src_l.ndim();
    let len = src_l.shape[nd - 1];
    let rows: usize = src_l.shape[..nd - 1].iter().product();
    if rows == 0 || len == 0 {
        return Ok(());
    }
    let words = if kind == ScanKind::I64 { 2 } else { 1 };
    u32_of(src.storage().len() * words, "storage length")?;
    u32_of(out.storage().len() * words, "storage length")?;
    let (outer, strides) = super::ops::coalesce(&src_l.shape[..nd - 1], &[src_l.strides[..nd - 1].to_vec(), out_l.strides[..nd - 1].to_vec()]);
    if outer.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!("cumsum/cumprod on {}: more than {MAX_DIMS} dims after merging", src.device())));
    }
    let blocks = len.div_ceil(BLOCK);
    let mut info = vec![0u32; 40];
    info[0] = u32_of(rows, "rows")?;
    info[1] = u32_of(len, "row length")?;
    info[2] = outer.len() as u32;
    info[3] = u32_of(src_l.offset, "offset")?;
    info[4] = u32_of(src_l.strides[nd - 1], "stride")?;
    info[5] = u32_of(out_l.strides[nd - 1], "stride")?;
    info[6] = u32_of(out_l.offset, "offset")?;
    info[7] = blocks as u32;
    for k in 0..outer.len() {
        info[16 + k] = outer[k] as u32;
        info[24 + k] = u32_of(strides[0][k], "stride")?;
        info[32 + k] = u32_of(strides[1][k], "stride")?;
    }
    let ctx = context()?;
    let consts = [("OP", f64::from(op.code())), ("KIND", kind as u32 as f64)];
    if len <= SHORT_ROW {
        return ctx.dispatch(&kernel("scan_rows_main", &consts), &[Some(buffer(src))], buffer(out), &info, split_groups(rows.div_ceil(WG))?);
    }
    ctx.dispatch(&kernel("scan_main", &consts), &[Some(buffer(src))], buffer(out), &info, split_groups(rows * blocks)?)?;
    if blocks == 1 {
        return Ok(());
    }
    // The totals of all blocks but the last: the last element of each scanned block of out.
    let along = out_l.strides[nd - 1];
    let mut totals = out_l.clone();
    totals.shape[nd - 1] = blocks - 1;
    totals.strides[nd - 1] = along * BLOCK;
    totals.offset += along * (BLOCK - 1);
    let mut carry_shape = src_l.shape[..nd - 1].to_vec();
    carry_shape.push(blocks - 1);
    let carry = empty(&carry_shape, out.dtype(), out.device())?;
    launch_scan(out, &totals, &carry, &Layout::contiguous(&carry_shape), op, kind)?;
    ctx.dispatch(&kernel("scan_add_main", &consts), &[Some(buffer(&carry))], buffer(out), &info, split_groups((rows * (len - BLOCK)).div_ceil(WG))?)
}

/// The inclusive scan of float32 or int64 `x` along `d`, as `Op::Scan` describes.
pub fn scan(op: ScanOp, x: &Tensor, d: usize) -> Result<Tensor> {
    let kind = match x.dtype() {
        DType::F32 => ScanKind::F32,
        DType::I64 => ScanKind::I64,
        dt => return Err(no_kernel(&Op::Scan { op, dim: d }, dt, x.device())),
    };
    if x.ndim() == 0 {
        return contiguous(x);
    }
    let out = empty(x.shape(), x.dtype(), x.device())?;
    let nd = x.ndim();
    let mut order: Vec<usize> = (0..nd).filter(|&k| k != d).collect();
    order.push(d);
    launch_scan(x, &x.layout().permute(&order)?, &out, &Layout::contiguous(x.shape()).permute(&order)?, op, kind)?;
    Ok(out)
}

/// A contiguous copy of `x` reversed along `dims`, as `Op::Flip` describes.
pub fn flip(x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let dev = x.device();
    let out = empty(x.shape(), x.dtype(), dev)?;
    let n = x.numel();
    if n == 0 {
        return Ok(out);
    }
    let l = x.layout();
    let words = elem_size(x.dtype()) / 4;
    u32_of(x.storage().len() * words, "storage length")?;
    u32_of(n * words, "element count")?;
    let mut info = vec![0u32; 32];
    info[0] = n as u32;
    let mut offset = l.offset;
    let mut kept = 0;
    for k in 0..x.ndim() {
        if l.shape[k] == 1 {
            continue;
        }
        if kept == MAX_DIMS {
            return Err(Error::NotImplemented(format!("flip on {dev}: more than {MAX_DIMS} dims longer than 1")));
        }
        let stride = u32_of(l.strides[k], "stride")?;
        info[16 + kept] = l.shape[k] as u32;
        // A flipped dim starts at its last index and steps back (u32 arithmetic wraps).
        info[24 + kept] = if dims.contains(&k) {
            offset += (l.shape[k] - 1) * l.strides[k];
            stride.wrapping_neg()
        } else {
            stride
        };
        kept += 1;
    }
    info[1] = kept as u32;
    info[2] = u32_of(offset, "offset")?;
    let consts = [("WORDS", words as f64)];
    context()?.dispatch(&kernel("flip_main", &consts), &[Some(buffer(x))], buffer(&out), &info, split_groups(n.div_ceil(WG))?)?;
    Ok(out)
}

/// Indices of the non-zero elements of `x` as an [n, ndim] int64 tensor: the running count of
/// the flags (a scan) gives each non-zero element its output row. The total is read back to
/// size the output (a sync, as in PyTorch's CUDA nonzero).
pub fn nonzero(x: &Tensor) -> Result<Tensor> {
    let dev = x.device();
    let nd = x.ndim();
    if nd > MAX_DIMS {
        return Err(Error::NotImplemented(format!("nonzero on {dev}: more than {MAX_DIMS} dims")));
    }
    let n = x.numel();
    if n == 0 {
        return empty(&[0, nd], DType::I64, dev);
    }
    let flags = cast(x, DType::Bool)?;
    // Running counts are u32 words, held in a bool-typed buffer (4 bytes per element).
    let counts = empty(&[n], DType::Bool, dev)?;
    launch_scan(&flags, &Layout::contiguous(&[1, n]), &counts, &Layout::contiguous(&[1, n]), ScanOp::Sum, ScanKind::Count)?;
    let total = context()?.download(buffer(&counts), (n as u64 - 1) * 4, 4)?;
    let total = u32::from_le_bytes([total[0], total[1], total[2], total[3]]) as usize;
    let out = empty(&[total, nd], DType::I64, dev)?;
    if total == 0 || nd == 0 {
        return Ok(out);
    }
    u32_of(total * nd * 2, "output words")?;
    let mut info = vec![0u32; 24];
    info[0] = n as u32;
    info[1] = nd as u32;
    for k in 0..nd {
        info[16 + k] = x.shape()[k] as u32;
    }
    context()?.dispatch(&kernel("nonzero_main", &[]), &[Some(buffer(&counts))], buffer(&out), &info, split_groups(n.div_ceil(WG))?)?;
    Ok(out)
}
