//! GPU kernels of the sliding-window ops: im2col / col2im (`shaders/conv.wgsl`), on which
//! conv2d, unfold/fold and the pooling layers are built, max pooling (`shaders/pool.wgsl`), and
//! the in-plane scatter/gather pair of its backward (through the index kernels). conv2d and its
//! gradients are composed from im2col / col2im and the matmul kernel.
use super::matmul::matmul;
use super::ops::{binary, buffer, contiguous, empty, full, split_groups, u32_of};
use super::runtime::{context, Kernel};
use super::Shader;
use crate::dtype::DType;
use crate::error::Result;
use crate::layout::Layout;
use crate::op::{no_kernel, BinaryOp, ConvPart, ConvShape, Op, Outputs, Window};
use crate::tensor::Tensor;

pub static CONV: Shader = Shader { name: "conv", body: include_str!("../../../../shaders/conv.wgsl") };

const WG: usize = 256;

#[allow(clippy::too_many_arguments)]
fn info(n_out: usize, n: usize, c: usize, (h, wd): (usize, usize), (oh, ow): (usize, usize), w: &Window, batch_major: bool, offset: usize, strides: &[usize], pad: f32) -> Result<Vec<u32>> {
    let mut i = vec![0u32; 24];
    i[0] = u32_of(n_out, "element count")?;
    for (k, v) in [n, c, h, wd, oh, ow, w.kernel.0, w.kernel.1, w.stride.0, w.stride.1, w.padding.0, w.padding.1, w.dilation.0, w.dilation.1].into_iter().enumerate() {
        i[1 + k] = u32_of(v, "size")?;
    }
    i[15] = u32::from(batch_major);
    i[16] = u32_of(offset, "offset")?;
    for (k, &s) in strides.iter().enumerate() {
        i[17 + k] = u32_of(s, "stride")?;
    }
    i[21] = pad.to_bits();
    Ok(i)
}

/// im2col of a float32 [N, C, H, W] tensor (see `Op::Im2Col`).
pub fn im2col(x: &Tensor, w: Window, pad_value: f64, batch_major: bool) -> Result<Tensor> {
    if x.dtype() != DType::F32 {
        return Err(no_kernel(&Op::Im2Col { window: w, pad_value, batch_major }, x.dtype(), x.device()));
    }
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (oh, ow) = w.output_size(h, wd)?;
    let rows = c * w.kernel.0 * w.kernel.1;
    let shape = if batch_major { vec![rows, n * oh * ow] } else { vec![n, rows, oh * ow] };
    let out = empty(&shape, DType::F32, x.device())?;
    let total = out.numel();
    if total > 0 {
        u32_of(x.storage().len(), "storage length")?;
        let inf = info(total, n, c, (h, wd), (oh, ow), &w, batch_major, x.offset(), &x.layout().strides, pad_value as f32)?;
        let k = Kernel { shader: &CONV, entry: "im2col_main", constants: &[], inputs: 1 };
        context()?.dispatch(&k, &[Some(buffer(x))], buffer(&out), &inf, split_groups(total.div_ceil(WG))?)?;
    }
    Ok(out)
}

/// col2im of float32 columns (see `Op::Col2Im`).
pub fn col2im(cols: &Tensor, w: Window, (h, wd): (usize, usize), batch_major: bool, n: usize) -> Result<Tensor> {
    if cols.dtype() != DType::F32 {
        return Err(no_kernel(&Op::Col2Im { window: w, size: (h, wd), batch_major, n }, cols.dtype(), cols.device()));
    }
    let (oh, ow) = w.output_size(h, wd)?;
    let kk = w.kernel.0 * w.kernel.1;
    let rows = if batch_major { cols.shape()[0] } else { cols.shape()[1] };
    let c = rows / kk;
    let src = if cols.is_contiguous() { cols.clone() } else { contiguous(cols)? };
    let out = empty(&[n, c, h, wd], DType::F32, cols.device())?;
    let total = out.numel();
    if total > 0 {
        u32_of(src.storage().len(), "storage length")?;
        let inf = info(total, n, c, (h, wd), (oh, ow), &w, batch_major, src.offset(), &[], 0.0)?;
        let k = Kernel { shader: &CONV, entry: "col2im_main", constants: &[], inputs: 1 };
        context()?.dispatch(&k, &[Some(buffer(&src))], buffer(&out), &inf, split_groups(total.div_ceil(WG))?)?;
    }
    Ok(out)
}

pub static POOL: Shader = Shader { name: "pool", body: include_str!("../../../../shaders/pool.wgsl") };

/// Max pooling of a float32 [N, C, H, W] tensor: values and int64 in-plane indices (see
/// `Op::MaxPool2d`).
pub fn max_pool2d(x: &Tensor, w: Window, (oh, ow): (usize, usize)) -> Result<(Tensor, Tensor)> {
    if x.dtype() != DType::F32 {
        return Err(no_kernel(&Op::MaxPool2d { window: w, out_size: (oh, ow) }, x.dtype(), x.device()));
    }
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let values = empty(&[n, c, oh, ow], DType::F32, x.device())?;
    let indices = empty(&[n, c, oh, ow], DType::I64, x.device())?;
    let total = values.numel();
    if total > 0 {
        u32_of(x.storage().len(), "storage length")?;
        let mut i = vec![0u32; 20];
        i[0] = u32_of(total, "element count")?;
        for (k, v) in [c, h, wd, oh, ow, w.kernel.0, w.kernel.1, w.stride.0, w.stride.1, w.padding.0, w.padding.1, w.dilation.0, w.dilation.1].into_iter().enumerate() {
            i[1 + k] = u32_of(v, "size")?;
        }
        i[14] = u32_of(x.offset(), "offset")?;
        for (k, &s) in x.layout().strides.iter().enumerate() {
            i[15 + k] = u32_of(s, "stride")?;
        }
        let k = Kernel { shader: &POOL, entry: "maxpool_main", constants: &[], inputs: 1 };
        context()?.dispatch_multi(&k, &[Some(buffer(x))], &[buffer(&values), buffer(&indices)], &i, split_groups(total.div_ceil(WG))?)?;
    }
    Ok((values, indices))
}

/// [N, C, L] values added into zero [N, C, H, W] planes at flat in-plane positions, through
/// the scatter_add kernel over [N, C, H*W] (see `Op::PlaneScatterAdd`).
pub fn plane_scatter_add(g: &Tensor, index: &Tensor, (h, wd): (usize, usize)) -> Result<Tensor> {
    let (n, c) = (g.shape()[0], g.shape()[1]);
    let l = g.numel() / (n * c).max(1);
    let zeros = full(&[n, c, h * wd], 0.0, g.dtype(), g.device())?;
    let out = super::index::scatter_add(&zeros, 2, &reshaped(index, &[n, c, l])?, &reshaped(g, &[n, c, l])?)?;
    reshaped(&out, &[n, c, h, wd])
}

/// out[n, c, j] = x[n, c, index[n, c, j]] over flattened planes, through the gather kernel
/// (see `Op::PlaneGather`).
pub fn plane_gather(x: &Tensor, index: &Tensor) -> Result<Tensor> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let plane = x.numel() / (n * c).max(1);
    let l = index.numel() / (n * c).max(1);
    let out = super::index::gather(&reshaped(x, &[n, c, plane])?, 2, &reshaped(index, &[n, c, l])?)?;
    reshaped(&out, index.shape())
}

/// `t`'s elements in row-major order viewed with `shape` (copied first when `t` is strided).
fn reshaped(t: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let t = if t.is_contiguous() { t.clone() } else { contiguous(t)? };
    Ok(Tensor::from_parts(t.storage().clone(), Layout { offset: t.offset(), ..Layout::contiguous(shape) }))
}

/// One part of a conv2d (see `Op::Conv2d`): batch-major columns [C*kh*kw, N*L] and one matmul
/// batched over the groups.
pub fn conv2d(s: &ConvShape, part: ConvPart, inputs: &[&Tensor]) -> Result<Outputs> {
    let (a, b) = (inputs[0], inputs[1]);
    if a.dtype() != DType::F32 {
        return Err(no_kernel(&Op::Conv2d { shape: *s, part }, a.dtype(), a.device()));
    }
    Ok(match part {
        ConvPart::Forward => Outputs::One(forward(s, a, b, inputs.get(2).copied())?),
        ConvPart::InputGrad => Outputs::One(input_grad(s, a, b)?),
        ConvPart::WeightGrad => Outputs::One(weight_grad(s, a, b)?),
        ConvPart::Grads => Outputs::Two(input_grad(s, a, inputs[2])?, weight_grad(s, a, b)?),
    })
}

/// `x`'s columns as [groups, C/groups*kh*kw, N*L].
fn columns(s: &ConvShape, x: &Tensor) -> Result<Tensor> {
    reshaped(&im2col(x, s.window, 0.0, true)?, &[s.groups, s.group_rows(), s.n * s.l()])
}

fn forward(s: &ConvShape, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let out = matmul(&reshaped(w, &[s.groups, s.out_per_group(), s.group_rows()])?, &columns(s, x)?, &[s.groups])?;
    // [O, N, L] read as [N, O, oh, ow].
    let nchw = out.view_with_layout(Layout { shape: s.output_shape().to_vec(), strides: vec![s.l(), s.n * s.l(), s.out_size.1, 1], offset: out.offset() });
    match bias {
        Some(bias) => binary(BinaryOp::Add, &nchw, &reshaped(bias, &[1, s.out, 1, 1])?),
        None => contiguous(&nchw),
    }
}

fn input_grad(s: &ConvShape, g: &Tensor, w: &Tensor) -> Result<Tensor> {
    let w = reshaped(w, &[s.groups, s.out_per_group(), s.group_rows()])?;
    let dcols = matmul(&w.view_with_layout(w.layout().transpose(1, 2)), &grad_rows(g, s)?, &[s.groups])?;
    col2im(&reshaped(&dcols, &[s.c * s.kk(), s.n * s.l()])?, s.window, s.size, true, s.n)
}

fn weight_grad(s: &ConvShape, g: &Tensor, x: &Tensor) -> Result<Tensor> {
    let cols = columns(s, x)?;
    let dw = matmul(&grad_rows(g, s)?, &cols.view_with_layout(cols.layout().transpose(1, 2)), &[s.groups])?;
    reshaped(&dw, &s.weight_shape())
}

/// The output's gradient [N, O, oh, ow] as [groups, O/groups, N*L] rows.
fn grad_rows(g: &Tensor, s: &ConvShape) -> Result<Tensor> {
    let g3 = reshaped(g, &[s.n, s.out, s.l()])?;
    let rows = contiguous(&g3.view_with_layout(g3.layout().transpose(0, 1)))?;
    reshaped(&rows, &[s.groups, s.out_per_group(), s.n * s.l()])
}
