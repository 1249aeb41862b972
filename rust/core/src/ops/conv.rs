//! conv2d, checks to backward. On the CPU one fused kernel per sample: the sample's im2col
//! columns go to a per-thread scratch buffer and one gemm per group writes the NCHW output
//! directly, bias included; the backward recomputes each sample's columns rather than keeping
//! them. On the GPU, and for double backward, the same math is composed from differentiable
//! ops (im2col, matmul, col2im), which is also the reference the fused kernels are tested
//! against.
use crate::autograd::{is_grad_enabled, Recorder};
use crate::dtype::{Element, Float};
use crate::error::{Error, Result};
use crate::cpu::conv::ColGeometry;
use crate::cpu::matmul::{gemm_into, Mat, Parallelism};
use crate::op::Window;
use crate::storage::try_vec;
use crate::tensor::Tensor;
use crate::cpu::team;

/// Multiply-adds in a whole convolution above which it is spread over threads.
const CONV_PAR_WORK: usize = 1 << 18;

/// The sizes of one convolution, as the kernels need them.
#[derive(Clone, Copy)]
struct ConvShape {
    n: usize,
    c: usize,
    size: (usize, usize),
    out: usize,
    groups: usize,
    window: Window,
    out_size: (usize, usize),
}

impl ConvShape {
    fn plane(&self) -> usize {
        self.size.0 * self.size.1
    }
    fn l(&self) -> usize {
        self.out_size.0 * self.out_size.1
    }
    fn kk(&self) -> usize {
        self.window.kernel.0 * self.window.kernel.1
    }
    /// Column rows per group: Cg * kh * kw.
    fn group_rows(&self) -> usize {
        self.c / self.groups * self.kk()
    }
    fn out_per_group(&self) -> usize {
        self.out / self.groups
    }
    fn weight_shape(&self) -> [usize; 4] {
        [self.out, self.c / self.groups, self.window.kernel.0, self.window.kernel.1]
    }
    /// A 1x1 kernel with stride 1 and no padding: the input planes are the columns.
    fn pointwise(&self) -> bool {
        self.kk() == 1 && self.window.stride == (1, 1) && self.window.padding == (0, 0)
    }
    fn geometry(&self) -> ColGeometry {
        ColGeometry::new(self.window, 1, self.c, self.size, self.out_size, false)
    }
    fn work(&self) -> usize {
        self.n * self.out * self.l() * self.group_rows()
    }
    /// How many sample ranges to run in parallel (1: one thread, or gemm's own threads
    /// when there is a single large sample).
    fn parts(&self) -> usize {
        if self.work() < CONV_PAR_WORK { 1 } else { team::threads().min(self.n).max(1) }
    }
    /// A single large sample uses the gemm crate's own (rayon) threads, which split the long
    /// L side with shared packing: 1.70 ms for a 64->64 3x3 conv on 56x56, against 2.39 ms
    /// with its output rows split over the team.
    fn inner_parallelism(&self) -> Parallelism {
        if self.parts() == 1 && self.work() >= CONV_PAR_WORK { Parallelism::Rayon(0) } else { Parallelism::None }
    }
}

/// Per-thread buffers of the CPU kernels: one padded input plane and one sample's columns.
#[derive(Default)]
struct Scratch<T> {
    padded: Vec<T>,
    cols: Vec<T>,
}

impl<T: Float> Scratch<T> {
    /// im2col of one sample (`x`: its C planes) into `self.cols` ([C*kh*kw, L]).
    fn columns(&mut self, s: &ConvShape, g: &ColGeometry, x: &[T]) {
        let (plane, kk, l) = (s.plane(), s.kk(), s.l());
        self.cols.resize(s.c * kk * l, T::zero());
        for (xc, runs) in x.chunks_exact(plane.max(1)).zip(self.cols.chunks_exact_mut(kk * l)) {
            g.pad_plane(xc, T::zero(), &mut self.padded);
            for (k, run) in runs.chunks_exact_mut(l).enumerate() {
                g.fill_run(run, &self.padded, k);
            }
        }
    }
    /// col2im of one sample: `dx` (its C planes) = the sum of `self.cols`' runs over their
    /// windows.
    fn fold_into(&mut self, s: &ConvShape, g: &ColGeometry, dx: &mut [T]) {
        let (plane, kk, l) = (s.plane(), s.kk(), s.l());
        for (dxc, runs) in dx.chunks_exact_mut(plane.max(1)).zip(self.cols.chunks_exact(kk * l)) {
            g.pad_plane(&[], T::zero(), &mut self.padded);
            for (k, run) in runs.chunks_exact(l).enumerate() {
                g.add_run(&mut self.padded, run, k);
            }
            g.crop_plane(&self.padded, dxc);
        }
    }
}

/// The sample ranges of `parts` near-equal parts of the batch.
fn part_ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let per = n.div_ceil(parts.max(1)).max(1);
    (0..n).step_by(per).map(|lo| lo..(lo + per).min(n)).collect()
}

fn forward_cpu(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, s: ConvShape) -> Result<Tensor> {
    let (l, og, gr) = (s.l(), s.out_per_group(), s.group_rows());
    let chw = s.c * s.plane();
    let out_shape = [s.n, s.out, s.out_size.0, s.out_size.1];
    crate::with_float!(
        x.dtype(),
        T,
        {
            let xd = x.contiguous_data::<T>();
            let wd = weight.contiguous_data::<T>();
            let bd = bias.map(|b| b.contiguous_data::<T>());
            let mut out = try_vec::<T>(s.n * s.out * l, T::zero())?;
            if l == 0 || s.out == 0 || s.n == 0 {
                return Tensor::from_vec(out, &out_shape);
            }
            let g = s.geometry();
            let inner = s.inner_parallelism();
            let sample = |b: usize, out_b: &mut [T], scratch: &mut Scratch<T>| {
                let xb = &xd[b * chw..(b + 1) * chw];
                let cols: &[T] = if s.pointwise() {
                    xb
                } else {
                    scratch.columns(&s, &g, xb);
                    &scratch.cols
                };
                if let Some(bd) = &bd {
                    for (row, &v) in out_b.chunks_exact_mut(l).zip(bd.iter()) {
                        row.fill(v);
                    }
                }
                for gi in 0..s.groups {
                    let w_g = Mat::row_major(&wd[gi * og * gr..], og, gr);
                    let cols_g = Mat::row_major(&cols[gi * gr * l..], gr, l);
                    gemm_into(&mut out_b[gi * og * l..(gi + 1) * og * l], w_g, cols_g, bd.is_some(), inner);
                }
            };
            let ranges = part_ranges(s.n, s.parts());
            let per = ranges[0].len();
            team::chunks_mut(&mut out, per * s.out * l, |t, out_part| {
                let mut scratch = Scratch::default();
                for (b, out_b) in ranges[t].clone().zip(out_part.chunks_exact_mut(s.out * l)) {
                    sample(b, out_b, &mut scratch);
                }
            });
            Tensor::from_vec(out, &out_shape)
        },
        Err(Error::DType(format!("\"conv2d\" not implemented for '{}'", crate::ops::copy::titled(x.dtype()))))
    )
}

/// Gradients of the input, weight and bias (each only when asked for) with the fused kernels:
/// every part of the batch accumulates its own weight and bias gradients, then they are summed.
fn backward_cpu(x: Option<&Tensor>, weight: Option<&Tensor>, g: &Tensor, s: ConvShape, need_bias: bool) -> Result<[Option<Tensor>; 3]> {
    let (l, og, gr) = (s.l(), s.out_per_group(), s.group_rows());
    let chw = s.c * s.plane();
    crate::with_float!(
        g.dtype(),
        T,
        {
            let gd = g.contiguous_data::<T>();
            let xd = x.map(|x| x.contiguous_data::<T>());
            let wd = weight.map(|w| w.contiguous_data::<T>());
            let geo = s.geometry();
            // Empty outputs leave every gradient zero (and would give zero-length chunks below).
            let ranges = if s.l() == 0 { vec![] } else { part_ranges(s.n, s.parts()) };
            let per = ranges.first().map_or(1, |r| r.len());
            let mut dx = try_vec::<T>(if wd.is_some() { s.n * chw } else { 0 }, T::zero())?;
            let mut dx_parts: Vec<&mut [T]> = dx.chunks_mut((per * chw).max(1)).collect();
            dx_parts.resize_with(ranges.len(), || &mut []);
            let partials: Vec<(Vec<T>, Vec<T>)> = team::map(dx_parts.into_iter().zip(ranges).collect(), |(dx_part, range)| {
                let mut dw = vec![T::zero(); if xd.is_some() { s.out * gr } else { 0 }];
                let mut db = vec![T::zero(); if need_bias { s.out } else { 0 }];
                let (mut scratch, mut dscratch) = (Scratch::default(), Scratch::default());
                dscratch.cols.resize(if wd.is_some() && !s.pointwise() { s.c * s.kk() * l } else { 0 }, T::zero());
                let lo = range.start;
                for b in range {
                    let gb = &gd[b * s.out * l..(b + 1) * s.out * l];
                    for (acc, row) in db.iter_mut().zip(gb.chunks_exact(l)) {
                        *acc = *acc + row.iter().copied().sum::<T>();
                    }
                    if let Some(xd) = &xd {
                        let xb = &xd[b * chw..(b + 1) * chw];
                        let cols: &[T] = if s.pointwise() {
                            xb
                        } else {
                            scratch.columns(&s, &geo, xb);
                            &scratch.cols
                        };
                        for gi in 0..s.groups {
                            let g_g = Mat::row_major(&gb[gi * og * l..], og, l);
                            let cols_g = Mat::row_major(&cols[gi * gr * l..], gr, l).t();
                            gemm_into(&mut dw[gi * og * gr..(gi + 1) * og * gr], g_g, cols_g, true, Parallelism::None);
                        }
                    }
                    if let Some(wd) = &wd {
                        let dxb = &mut dx_part[(b - lo) * chw..(b - lo + 1) * chw];
                        let target: &mut [T] = if s.pointwise() { dxb } else { &mut dscratch.cols };
                        for gi in 0..s.groups {
                            let w_g = Mat::row_major(&wd[gi * og * gr..], og, gr).t();
                            let g_g = Mat::row_major(&gb[gi * og * l..], og, l);
                            gemm_into(&mut target[gi * gr * l..(gi + 1) * gr * l], w_g, g_g, false, Parallelism::None);
                        }
                        if !s.pointwise() {
                            dscratch.fold_into(&s, &geo, dxb);
                        }
                    }
                }
                (dw, db)
            });
            // The parts' weight and bias gradients, added in part order.
            let mut gw_sum = vec![T::zero(); if xd.is_some() { s.out * gr } else { 0 }];
            let mut gb_sum = vec![T::zero(); if need_bias { s.out } else { 0 }];
            for (dw, db) in &partials {
                for (acc, part) in [(&mut gw_sum, dw), (&mut gb_sum, db)] {
                    for (a, &v) in acc.iter_mut().zip(part) {
                        *a = *a + v;
                    }
                }
            }
            let gx = match wd {
                Some(_) => Some(Tensor::from_vec(dx, &[s.n, s.c, s.size.0, s.size.1])?),
                None => None,
            };
            let gw = match xd {
                Some(_) => Some(Tensor::from_vec(gw_sum, &s.weight_shape())?),
                None => None,
            };
            let gb = if need_bias { Some(Tensor::from_vec(gb_sum, &[s.out])?) } else { None };
            Ok([gx, gw, gb])
        },
        Err(Error::DType(format!("\"conv2d\" not implemented for '{}'", crate::ops::copy::titled(g.dtype()))))
    )
}

/// The forward from differentiable ops: batch-major columns [C*kh*kw, N*L], one batched
/// matmul over the groups, then back to NCHW.
fn forward_composed(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, s: ConvShape) -> Result<Tensor> {
    let nl = s.n * s.l();
    let cols = x.im2col(s.window, 0.0, true)?.reshape_usize(&[s.groups, s.group_rows(), nl])?;
    let out = weight.reshape_usize(&[s.groups, s.out_per_group(), s.group_rows()])?.matmul(&cols)?;
    let out = out.reshape_usize(&[s.out, s.n, s.out_size.0, s.out_size.1])?.transpose(0, 1)?;
    match bias {
        Some(b) => out.add(&b.reshape_usize(&[1, s.out, 1, 1])?),
        None => out.contiguous(),
    }
}

/// The backward from differentiable ops (so it can itself be differentiated).
fn backward_composed(x: Option<&Tensor>, weight: Option<&Tensor>, g: &Tensor, s: ConvShape, need_bias: bool) -> Result<[Option<Tensor>; 3]> {
    let nl = s.n * s.l();
    let gm = g.transpose(0, 1)?.contiguous()?.reshape_usize(&[s.groups, s.out_per_group(), nl])?;
    let gx = match weight {
        Some(w) => {
            let wt = w.reshape_usize(&[s.groups, s.out_per_group(), s.group_rows()])?.transpose(1, 2)?;
            let dcols = wt.matmul(&gm)?.reshape_usize(&[s.c * s.kk(), nl])?;
            Some(dcols.col2im(s.size, s.window, true, s.n)?)
        }
        None => None,
    };
    let gw = match x {
        Some(x) => {
            let cols = x.im2col(s.window, 0.0, true)?.reshape_usize(&[s.groups, s.group_rows(), nl])?;
            Some(gm.matmul(&cols.transpose(1, 2)?)?.reshape_usize(&s.weight_shape())?)
        }
        None => None,
    };
    let gb = if need_bias { Some(g.sum(Some(&[0, 2, 3]), false)?) } else { None };
    Ok([gx, gw, gb])
}

impl Tensor {
    /// F.conv2d of a batched [N, C, H, W] input with a [O, C/groups, kh, kw] weight.
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, stride: (usize, usize), padding: (usize, usize), dilation: (usize, usize), groups: usize) -> Result<Tensor> {
        if self.ndim() != 4 || weight.ndim() != 4 {
            return Err(Error::Shape(format!(
                "conv2d: expected a 4-D input and a 4-D weight, got input of size {:?} and weight of size {:?}",
                self.shape(),
                weight.shape()
            )));
        }
        let (n, c, h, wd) = (self.shape()[0], self.shape()[1], self.shape()[2], self.shape()[3]);
        let (o, cg, kh, kw) = (weight.shape()[0], weight.shape()[1], weight.shape()[2], weight.shape()[3]);
        if groups == 0 {
            return Err(Error::Shape("non-positive groups is not supported".into()));
        }
        if c != cg * groups {
            return Err(Error::Shape(format!(
                "Given groups={groups}, weight of size {:?}, expected input{:?} to have {} channels, but got {c} channels instead",
                weight.shape(),
                self.shape(),
                cg * groups
            )));
        }
        if o % groups != 0 {
            return Err(Error::Shape(format!("out_channels ({o}) must be divisible by groups ({groups})")));
        }
        if self.dtype() != weight.dtype() || bias.is_some_and(|b| b.dtype() != self.dtype()) {
            return Err(Error::Runtime(format!(
                "Input type (torch.{}), weight type (torch.{}) and bias type ({}) should be the same",
                self.dtype(),
                weight.dtype(),
                bias.map_or("None".to_string(), |b| format!("torch.{}", b.dtype()))
            )));
        }
        if let Some(b) = bias {
            if b.shape() != [o] {
                return Err(Error::Shape(format!("conv2d: bias of size {:?} does not match {o} output channels", b.shape())));
            }
        }
        let window = Window { kernel: (kh, kw), dilation, padding, stride };
        let out_size = window.output_size(h, wd)?;
        let s = ConvShape { n, c, size: (h, wd), out: o, groups, window, out_size };
        let mut operands = vec![self, weight];
        operands.extend(bias);
        let on_gpu = crate::op::op_device(&operands)?.is_gpu();
        let (x0, w0, b0) = (self.detach(), weight.detach(), bias.map(Tensor::detach));
        let out = if on_gpu { forward_composed(&x0, &w0, b0.as_ref(), s)? } else { forward_cpu(&x0, &w0, b0.as_ref(), s)? };
        let Some(mut rec) = Recorder::new("ConvolutionBackward0", &operands) else { return Ok(out) };
        let has_bias = bias.is_some();
        let need_bias = has_bias && rec.needs(2);
        // The input's gradient needs the weight, the weight's needs the input.
        let saved_w = rec.needs(0).then(|| rec.save(weight));
        let saved_x = rec.needs(1).then(|| rec.save(self));
        Ok(rec.finish(out, false, move |ctx, g| {
            let x = saved_x.map(|i| ctx.saved(i)).transpose()?;
            let w = saved_w.map(|i| ctx.saved(i)).transpose()?;
            // Grad mode is on inside backward only when the gradient's own graph is wanted.
            let [gx, gw, gb] = if g.device().is_gpu() || is_grad_enabled() {
                backward_composed(x.as_ref(), w.as_ref(), g, s, need_bias)?
            } else {
                backward_cpu(x.as_ref(), w.as_ref(), g, s, need_bias)?
            };
            let mut grads = vec![gx, gw];
            if has_bias {
                grads.push(gb);
            }
            Ok(grads)
        }))
    }
}
