//! Sorting on the GPU (`shaders/sort.wgsl`): a bitonic network over 64-bit keys with the
//! column as tie-break (so the order is the stable one), rows of up to 1024 entries sorted
//! in workgroup memory, longer rows merged through global steps. The tensor op and its
//! autograd are `Tensor::sort` (ops/sort.rs); this is the kernel only.
use super::ops::{buffer, contiguous, empty, split_groups, u32_of};
use super::runtime::{context, Kernel};
use super::Shader;
use crate::dtype::DType;
use crate::error::Result;
use crate::op::{no_kernel, Op};
use crate::tensor::Tensor;

pub static SORT: Shader = Shader { name: "sort", body: include_str!("../../../../shaders/sort.wgsl") };

/// Entries one workgroup sorts in workgroup memory (BLOCK in sort.wgsl).
const BLOCK: usize = 1024;
/// Invocations per workgroup of the global step.
const WG: usize = 256;

/// Sorted values and int64 indices of `x` along dim `d`, as `Op::Sort` describes.
pub fn sort(x: &Tensor, d: usize, descending: bool) -> Result<(Tensor, Tensor)> {
    let kind = match x.dtype() {
        DType::F32 => 0.0,
        DType::I64 => 1.0,
        DType::Bool => 2.0,
        dt => return Err(no_kernel(&Op::Sort { dim: d, descending }, dt, x.device())),
    };
    let last = x.ndim() - 1;
    let moved = x.view_with_layout(x.layout().transpose(d, last));
    let moved = if moved.is_contiguous() { moved } else { contiguous(&moved)? };
    let n = x.shape()[d];
    let rows = x.numel().checked_div(n).unwrap_or(0);
    let values = empty(moved.shape(), x.dtype(), x.device())?;
    let indices = empty(moved.shape(), DType::I64, x.device())?;
    if rows > 0 {
        sort_rows(&moved, rows, n, descending, kind, &values, &indices)?;
    }
    let back = |t: Tensor| -> Result<Tensor> { if d == last { Ok(t) } else { contiguous(&t.view_with_layout(t.layout().transpose(d, last))) } };
    Ok((back(values)?, back(indices)?))
}

/// Launches the network over the `rows` x `n` contiguous `x`, writing `values` and `indices`.
fn sort_rows(x: &Tensor, rows: usize, n: usize, descending: bool, kind: f64, values: &Tensor, indices: &Tensor) -> Result<()> {
    let ctx = context()?;
    let p = n.next_power_of_two();
    let total = rows * p;
    u32_of(total * 3, "sort scratch size")?;
    u32_of(x.storage().len() * 2, "storage length")?;
    let scratch = ctx.alloc(if p > BLOCK { total as u64 * 12 } else { 4 })?;
    let mut info = vec![0u32; 9];
    info[0] = rows as u32;
    info[1] = n as u32;
    info[2] = p as u32;
    info[3] = p.min(BLOCK) as u32;
    info[4] = u32::from(descending);
    info[7] = u32::from(p <= BLOCK);
    info[8] = u32_of(x.offset(), "offset")?;
    let consts = [("KIND", kind)];
    let kernel = |entry| Kernel { shader: &SORT, entry, constants: &consts, inputs: 1 };
    let outs = [buffer(values), buffer(indices), scratch.buffer()];
    let blocks = split_groups(total.div_ceil(BLOCK))?;
    ctx.dispatch_multi(&kernel("sort_block_main"), &[Some(buffer(x))], &outs, &info, blocks)?;
    let steps = split_groups((total / 2).div_ceil(WG))?;
    let mut k = 2 * BLOCK;
    while k <= p {
        info[5] = k as u32;
        let mut j = 0;
        while j == 0 || j >= BLOCK {
            info[6] = j as u32;
            ctx.dispatch_multi(&kernel("sort_step_main"), &[Some(buffer(x))], &outs, &info, steps)?;
            j = if j == 0 { k / 4 } else { j / 2 };
        }
        info[7] = u32::from(k == p);
        ctx.dispatch_multi(&kernel("sort_merge_main"), &[Some(buffer(x))], &outs, &info, blocks)?;
        k *= 2;
    }
    Ok(())
}
