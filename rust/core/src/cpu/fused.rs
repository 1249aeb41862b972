//! A fused element-wise chain (`Op::Fused`): the output is cut into chunks that fit in cache,
//! and each chunk runs the whole chain with the ordinary element-wise kernels before the next
//! chunk starts — one pass over memory instead of one per op, across the team.
use crate::error::Result;
use crate::layout::Layout;
use crate::op::{Backend, Fused, FusedOperand};
use crate::tensor::Tensor;

/// Elements per chunk: the chain's intermediates of one chunk stay in L2, and each step's
/// kernel stays below the size where it would start the team itself.
const CHUNK: usize = 1 << 14;

/// The rows `rows` (of the output's first dim) of input `x`, broadcast to `shape`; a 0-d input
/// stays 0-d, which the kernels broadcast on their scalar path.
fn rows_of(x: &Tensor, shape: &[usize], rows: std::ops::Range<usize>) -> Tensor {
    if x.ndim() == 0 {
        return x.clone();
    }
    let l = x.layout();
    // Broadcasting aligns trailing dims: the input's dims line up with the last ones of `shape`.
    let lead = shape.len() - l.shape.len();
    let mut sh = shape.to_vec();
    let mut st = vec![0; shape.len()];
    for (i, (&d, &s)) in l.shape.iter().zip(&l.strides).enumerate() {
        st[lead + i] = if d == 1 { 0 } else { s };
    }
    let offset = l.offset + rows.start * st[0];
    sh[0] = rows.len();
    x.view_with_layout(Layout { shape: sh, strides: st, offset })
}

/// An output's memory, written by the chunks before it becomes a tensor.
struct Out {
    ptr: *mut u8,
    size: usize,
    /// Makes the tensor once every element is written.
    finish: Box<dyn FnOnce() -> Result<Tensor>>,
}
// SAFETY: chunks write disjoint ranges of the buffer through `ptr` (see `run`); the buffer
// outlives the team's loop, which returns only when every chunk is done. `finish` is called
// on the calling thread only.
unsafe impl Sync for Out {}

/// An uninitialised output of `numel` elements of `dtype`.
fn output(dtype: crate::dtype::DType, shape: &[usize], numel: usize) -> Result<Out> {
    let shape = shape.to_vec();
    crate::with_dtype!(dtype, T, {
        let mut v = crate::storage::try_with_capacity::<T>(numel)?;
        let ptr = v.as_mut_ptr() as *mut u8;
        Ok(Out {
            ptr,
            size: std::mem::size_of::<T>(),
            finish: Box::new(move || {
                // SAFETY: the chunks wrote all `numel` elements (`finish` runs only when every
                // chunk succeeded); moving the Vec into this closure left its buffer in place.
                unsafe { v.set_len(numel) };
                Tensor::from_vec(v, &shape)
            }),
        })
    })
}

/// Runs the chain over inputs broadcast to `f.shape`.
pub fn run(f: &Fused, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    let numel: usize = f.shape.iter().product();
    // A 0-d or 1-d result is chunked as one row of elements per element.
    let shape: Vec<usize> = if f.shape.is_empty() { vec![1] } else { f.shape.clone() };
    let inputs: Vec<Tensor> = inputs.iter().map(|t| if f.shape.is_empty() { t.view_with_layout(Layout::contiguous(&[1])) } else { (*t).clone() }).collect();
    let row = numel / shape[0].max(1);
    let rows_per_chunk = (CHUNK / row.max(1)).max(1);
    let chunks = shape[0].div_ceil(rows_per_chunk);
    let outs: Vec<Out> = f.outputs.iter().map(|&s| output(f.dtypes[s], &f.shape, numel)).collect::<Result<_>>()?;
    let failure = std::sync::Mutex::new(None);
    super::team::run(chunks, |c| {
        let rows = c * rows_per_chunk..((c + 1) * rows_per_chunk).min(shape[0]);
        let views: Vec<Tensor> = inputs.iter().map(|x| rows_of(x, &shape, rows.clone())).collect();
        let mut results: Vec<Option<Tensor>> = vec![None; f.steps.len()];
        for (s, (op, operands)) in f.steps.iter().enumerate() {
            let args: Vec<&Tensor> = operands
                .iter()
                .map(|o| match *o {
                    FusedOperand::Input(k) => &views[k],
                    FusedOperand::Step(t) => results[t].as_ref().expect("a fused step reads an earlier step"),
                })
                .collect();
            match super::Cpu.run(op, &args).and_then(|o| o.one()) {
                Ok(t) => results[s] = Some(t),
                Err(e) => {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    return;
                }
            }
        }
        for (dest, &s) in outs.iter().zip(&f.outputs) {
            let part = results[s].as_ref().expect("every step ran");
            let size = dest.size;
            let bytes = part.numel() * size;
            let src = part.storage().data_ptr();
            // SAFETY: `part` is a new contiguous tensor of `rows.len() * row` elements of the
            // output's dtype; chunk `c` writes bytes [rows.start * row * size, + bytes) of an
            // output of `numel` elements, a range no other chunk writes.
            unsafe { std::ptr::copy_nonoverlapping(src.add(part.offset() * size), dest.ptr.add(rows.start * row * size), bytes) };
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => outs.into_iter().map(|o| (o.finish)()).collect(),
    }
}
