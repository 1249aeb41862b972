//! im2col / col2im on the GPU (`shaders/conv.wgsl`), so conv2d, unfold/fold and the pooling
//! layers built on them run there; autograd as on the CPU (each is the other's backward).
use super::ops::{buffer, contiguous, empty, split_groups, u32_of};
use super::runtime::{context, Kernel};
use super::{dtype_error, Shader};
use crate::autograd::Recorder;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::nn::Window;
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

/// im2col of a [N, C, H, W] float32 GPU tensor (see `Tensor::im2col`).
pub fn im2col(x: &Tensor, w: Window, pad_value: f64, batch_major: bool) -> Result<Tensor> {
    if x.ndim() != 4 {
        return Err(Error::Shape(format!("Expected 4D (batched) input to unfold, but got input of size: {:?}", x.shape())));
    }
    if x.dtype() != DType::F32 {
        return Err(dtype_error("im2col", x.dtype(), x.device()));
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
    let Some(rec) = Recorder::new("Im2ColBackward0", &[x]) else { return Ok(out) };
    Ok(rec.finish(out, false, move |_, grad| Ok(vec![Some(col2im(grad, (h, wd), w, batch_major, n)?)])))
}

/// col2im of float32 GPU columns (see `Tensor::col2im`).
pub fn col2im(cols: &Tensor, size: (usize, usize), w: Window, batch_major: bool, n: usize) -> Result<Tensor> {
    if cols.dtype() != DType::F32 {
        return Err(dtype_error("col2im", cols.dtype(), cols.device()));
    }
    let (h, wd) = size;
    let (oh, ow) = w.output_size(h, wd)?;
    let kk = w.kernel.0 * w.kernel.1;
    let (rows, n) = if batch_major {
        if cols.ndim() != 2 || cols.shape()[1] != n * oh * ow {
            return Err(Error::Shape(format!("col2im: expected columns of shape [C*{kk}, {}], got {:?}", n * oh * ow, cols.shape())));
        }
        (cols.shape()[0], n)
    } else {
        if cols.ndim() != 3 || cols.shape()[2] != oh * ow {
            return Err(Error::Shape(format!(
                "Expected input of shape [N, C*{}*{}, {}] to fold into {:?}, but got {:?}",
                w.kernel.0,
                w.kernel.1,
                oh * ow,
                size,
                cols.shape()
            )));
        }
        (cols.shape()[1], cols.shape()[0])
    };
    if rows % kk != 0 {
        return Err(Error::Shape(format!("col2im: {rows} rows is not a multiple of the kernel size {kk}")));
    }
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
    let Some(rec) = Recorder::new("Col2ImBackward0", &[cols]) else { return Ok(out) };
    Ok(rec.finish(out, false, move |_, grad| Ok(vec![Some(im2col(grad, w, 0.0, batch_major)?)])))
}

pub static POOL: Shader = Shader { name: "pool", body: include_str!("../../../../shaders/pool.wgsl") };

/// max_pool2d forward on the GPU for a checked window and output size (see
/// `Tensor::max_pool2d`): values and int64 in-plane indices, gradient to each maximum.
pub fn max_pool2d(x: &Tensor, w: Window, (oh, ow): (usize, usize)) -> Result<(Tensor, Tensor)> {
    if x.dtype() != DType::F32 {
        return Err(dtype_error("max_pool2d", x.dtype(), x.device()));
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
    let Some(rec) = Recorder::new("MaxPool2DWithIndicesBackward0", &[x]) else { return Ok((values, indices)) };
    let idx = indices.clone();
    let values = rec.finish(values, false, move |_, g| Ok(vec![Some(g.plane_scatter_add(&idx, (h, wd))?)]));
    Ok((values, indices))
}

/// `Tensor::plane_scatter_add` on the GPU: [N, C, L] values added into zero [N, C, H, W]
/// planes at flat in-plane positions, through scatter_add.
pub fn plane_scatter_add(g: &Tensor, index: &Tensor, size: (usize, usize)) -> Result<Tensor> {
    let (n, c) = (g.shape()[0], g.shape()[1]);
    let l = g.numel() / (n * c).max(1);
    let zeros = super::ops::full(&[n, c, size.0 * size.1], 0.0, g.dtype(), g.device())?;
    let out = super::index::scatter_add(&zeros, 2, &index.reshape_usize(&[n, c, l])?, &g.reshape_usize(&[n, c, l])?)?;
    out.reshape_usize(&[n, c, size.0, size.1])
}

/// `Tensor::plane_gather` on the GPU: out[n, c, j] = x[n, c, index[n, c, j]] over flattened
/// planes, shaped like `index`, through gather.
pub fn plane_gather(x: &Tensor, index: &Tensor) -> Result<Tensor> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let plane = x.numel() / (n * c).max(1);
    let l = index.numel() / (n * c).max(1);
    let out = super::index::gather(&x.reshape_usize(&[n, c, plane])?, 2, &index.reshape_usize(&[n, c, l])?)?;
    out.reshape_usize(index.shape())
}
