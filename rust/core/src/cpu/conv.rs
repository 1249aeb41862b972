//! CPU kernels of the sliding-window ops: conv2d and its two gradients, im2col and its adjoint
//! col2im (unfold/fold and the pools are built on them), max pooling with indices, and the
//! in-plane scatter/gather pair of its backward.
//!
//! conv2d is fused, one sample at a time: the sample's im2col columns go to a per-thread
//! scratch buffer and one gemm per group writes the NCHW output directly, bias included; the
//! weight's gradient recomputes each sample's columns rather than keeping them.
use crate::dtype::{Element, Float};
use crate::error::Result;
use crate::op::{no_kernel, ConvPart, ConvShape, Op, Outputs, Window};
use crate::storage::try_vec;
use crate::tensor::Tensor;
use super::matmul::{gemm_into, Mat, Parallelism};
use super::team;

/// Multiply-adds in a whole convolution above which it is spread over threads.
const CONV_PAR_WORK: usize = 1 << 18;

/// A 1x1 kernel with stride 1 and no padding: the input planes are the columns.
fn pointwise(s: &ConvShape) -> bool {
    s.kk() == 1 && s.window.stride == (1, 1) && s.window.padding == (0, 0)
}

fn geometry(s: &ConvShape) -> ColGeometry {
    ColGeometry::new(s.window, 1, s.c, s.size, s.out_size, false)
}

fn work(s: &ConvShape) -> usize {
    s.n * s.out * s.l() * s.group_rows()
}

/// How many sample ranges to run in parallel (1: one thread, or gemm's own threads when there
/// is a single large sample).
fn parts(s: &ConvShape) -> usize {
    if work(s) < CONV_PAR_WORK { 1 } else { team::threads().min(s.n).max(1) }
}

/// A single large sample uses the gemm crate's own (rayon) threads, which split the long L side
/// with shared packing: 1.70 ms for a 64->64 3x3 conv on 56x56, against 2.39 ms with its output
/// rows split over the team.
fn inner_parallelism(s: &ConvShape) -> Parallelism {
    if parts(s) == 1 && work(s) >= CONV_PAR_WORK { Parallelism::Rayon(0) } else { Parallelism::None }
}

/// Per-thread buffers: one padded input plane and one sample's columns.
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
    /// The sample's columns: its planes themselves for a pointwise conv, else its im2col.
    fn sample_columns<'a>(&'a mut self, s: &ConvShape, g: &ColGeometry, x: &'a [T]) -> &'a [T] {
        if pointwise(s) {
            return x;
        }
        self.columns(s, g, x);
        &self.cols
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

/// One part of a conv2d (see `Op::Conv2d`).
pub fn conv2d(s: &ConvShape, part: ConvPart, inputs: &[&Tensor]) -> Result<Outputs> {
    crate::with_float!(
        inputs[0].dtype(),
        T,
        {
            let data: Vec<_> = inputs.iter().map(|t| t.contiguous_data::<T>()).collect();
            let (gx, gw) = match part {
                ConvPart::Forward => return Ok(Outputs::One(forward::<T>(s, &data[0], &data[1], data.get(2).map(|b| &b[..]))?)),
                ConvPart::InputGrad => backward::<T>(s, &data[0], None, Some(&data[1]))?,
                ConvPart::WeightGrad => backward::<T>(s, &data[0], Some(&data[1]), None)?,
                ConvPart::Grads => backward::<T>(s, &data[0], Some(&data[1]), Some(&data[2]))?,
            };
            Ok(match (gx, gw) {
                (Some(gx), Some(gw)) => Outputs::Two(gx, gw),
                (Some(t), None) | (None, Some(t)) => Outputs::One(t),
                (None, None) => Outputs::Nothing,
            })
        },
        Err(no_kernel(&Op::Conv2d { shape: *s, part }, inputs[0].dtype(), inputs[0].device()))
    )
}

fn forward<T: Float>(s: &ConvShape, xd: &[T], wd: &[T], bd: Option<&[T]>) -> Result<Tensor> {
    let (l, og, gr) = (s.l(), s.out_per_group(), s.group_rows());
    let chw = s.c * s.plane();
    let mut out = try_vec::<T>(s.n * s.out * l, T::zero())?;
    if l == 0 || s.out == 0 || s.n == 0 {
        return Tensor::from_vec(out, &s.output_shape());
    }
    let (g, inner) = (geometry(s), inner_parallelism(s));
    let ranges = part_ranges(s.n, parts(s));
    team::chunks_mut(&mut out, ranges[0].len() * s.out * l, |t, out_part| {
        let mut scratch = Scratch::default();
        for (b, out_b) in ranges[t].clone().zip(out_part.chunks_exact_mut(s.out * l)) {
            let cols = scratch.sample_columns(s, &g, &xd[b * chw..(b + 1) * chw]);
            if let Some(bd) = bd {
                for (row, &v) in out_b.chunks_exact_mut(l).zip(bd) {
                    row.fill(v);
                }
            }
            for gi in 0..s.groups {
                let w_g = Mat::row_major(&wd[gi * og * gr..], og, gr);
                let cols_g = Mat::row_major(&cols[gi * gr * l..], gr, l);
                gemm_into(&mut out_b[gi * og * l..(gi + 1) * og * l], w_g, cols_g, bd.is_some(), inner);
            }
        }
    });
    Tensor::from_vec(out, &s.output_shape())
}

/// The input's gradient (given the weight `wd`) and the weight's (given the input `xd`), in one
/// pass over the samples: each part of the batch accumulates its own weight gradient, then the
/// parts are added in order.
fn backward<T: Float>(s: &ConvShape, gd: &[T], xd: Option<&[T]>, wd: Option<&[T]>) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (l, og, gr) = (s.l(), s.out_per_group(), s.group_rows());
    let chw = s.c * s.plane();
    let geo = geometry(s);
    // Empty outputs leave every gradient zero (and would give zero-length chunks below).
    let ranges = if l == 0 { vec![] } else { part_ranges(s.n, parts(s)) };
    let per = ranges.first().map_or(1, |r| r.len());
    let mut dx = try_vec::<T>(if wd.is_some() { s.n * chw } else { 0 }, T::zero())?;
    let mut dx_parts: Vec<&mut [T]> = dx.chunks_mut((per * chw).max(1)).collect();
    dx_parts.resize_with(ranges.len(), || &mut []);
    let partials: Vec<Vec<T>> = team::map(dx_parts.into_iter().zip(ranges).collect(), |(dx_part, range)| {
        let mut dw = vec![T::zero(); if xd.is_some() { s.out * gr } else { 0 }];
        let (mut scratch, mut dscratch) = (Scratch::default(), Scratch::default());
        dscratch.cols.resize(if wd.is_some() && !pointwise(s) { s.c * s.kk() * l } else { 0 }, T::zero());
        let lo = range.start;
        for b in range {
            let gb = &gd[b * s.out * l..(b + 1) * s.out * l];
            if let Some(xd) = xd {
                let cols = scratch.sample_columns(s, &geo, &xd[b * chw..(b + 1) * chw]);
                for gi in 0..s.groups {
                    let g_g = Mat::row_major(&gb[gi * og * l..], og, l);
                    let cols_g = Mat::row_major(&cols[gi * gr * l..], gr, l).transposed();
                    gemm_into(&mut dw[gi * og * gr..(gi + 1) * og * gr], g_g, cols_g, true, Parallelism::None);
                }
            }
            if let Some(wd) = wd {
                let dxb = &mut dx_part[(b - lo) * chw..(b - lo + 1) * chw];
                let target: &mut [T] = if pointwise(s) { dxb } else { &mut dscratch.cols };
                for gi in 0..s.groups {
                    let w_g = Mat::row_major(&wd[gi * og * gr..], og, gr).transposed();
                    let g_g = Mat::row_major(&gb[gi * og * l..], og, l);
                    gemm_into(&mut target[gi * gr * l..(gi + 1) * gr * l], w_g, g_g, false, Parallelism::None);
                }
                if !pointwise(s) {
                    dscratch.fold_into(s, &geo, dxb);
                }
            }
        }
        dw
    });
    let gx = match wd {
        Some(_) => Some(Tensor::from_vec(dx, &s.input_shape())?),
        None => None,
    };
    let gw = match xd {
        Some(_) => {
            let mut sum = try_vec::<T>(s.out * gr, T::zero())?;
            for part in &partials {
                for (a, &v) in sum.iter_mut().zip(part) {
                    *a = *a + v;
                }
            }
            Some(Tensor::from_vec(sum, &s.weight_shape())?)
        }
        None => None,
    };
    Ok((gx, gw))
}

/// im2col of a float [N, C, H, W] input (see `Op::Im2Col`).
pub fn im2col(x: &Tensor, w: Window, pad_value: f64, batch_major: bool) -> Result<Tensor> {
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (oh, ow) = w.output_size(h, wd)?;
    let g = ColGeometry::new(w, n, c, (h, wd), (oh, ow), false);
    crate::with_float!(
        x.dtype(),
        T,
        {
            let data = x.contiguous_data::<T>();
            let pad = T::from_f64(pad_value);
            let kk = w.kernel.0 * w.kernel.1;
            // Sample-major [N, C*kh*kw, L]: each input plane owns kh*kw consecutive runs.
            let mut out = try_vec::<T>(n * g.rows * g.l, pad)?;
            if g.l > 0 {
                team::chunks_mut(&mut out, kk * g.l, |plane_id, runs| {
                    let mut padded = Vec::new();
                    g.pad_plane(&data[plane_id * h * wd..(plane_id + 1) * h * wd], pad, &mut padded);
                    for (k, run) in runs.chunks_exact_mut(g.l).enumerate() {
                        g.fill_run(run, &padded, k);
                    }
                });
            }
            if !batch_major {
                return Tensor::from_vec(out, &[n, g.rows, g.l]);
            }
            // Batch-major [C*kh*kw, N*L]: row r holds sample b's run r at b*L.
            let mut rows = try_vec::<T>(out.len(), pad)?;
            if n * g.l > 0 {
                team::chunks_mut(&mut rows, n * g.l, |r, dst| {
                    for (b, run) in dst.chunks_exact_mut(g.l).enumerate() {
                        run.copy_from_slice(&out[(b * g.rows + r) * g.l..][..g.l]);
                    }
                });
            }
            Tensor::from_vec(rows, &[g.rows, n * g.l])
        },
        Err(no_kernel(&Op::Im2Col { window: w, pad_value, batch_major }, x.dtype(), x.device()))
    )
}

/// col2im of float columns (see `Op::Col2Im`).
pub fn col2im(cols: &Tensor, w: Window, (h, wd): (usize, usize), batch_major: bool, n: usize) -> Result<Tensor> {
    let (oh, ow) = w.output_size(h, wd)?;
    let kk = w.kernel.0 * w.kernel.1;
    let rows = if batch_major { cols.shape()[0] } else { cols.shape()[1] };
    let c = rows / kk;
    let g = ColGeometry::new(w, n, c, (h, wd), (oh, ow), batch_major);
    crate::with_float!(
        cols.dtype(),
        T,
        {
            let cols = cols.contiguous_data::<T>();
            let mut out = try_vec::<T>(n * c * h * wd, T::zero())?;
            if h * wd > 0 && g.l > 0 {
                team::chunks_mut(&mut out, h * wd, |plane_id, plane| {
                    let (b, ci) = (plane_id / c, plane_id % c);
                    let mut padded = Vec::new();
                    g.pad_plane(&[], T::zero(), &mut padded);
                    for k in 0..kk {
                        let base = g.offset(b, ci * kk + k);
                        g.add_run(&mut padded, &cols[base..base + g.l], k);
                    }
                    g.crop_plane(&padded, plane);
                });
            }
            Tensor::from_vec(out, &[n, c, h, wd])
        },
        Err(no_kernel(&Op::Col2Im { window: w, size: (h, wd), batch_major, n }, cols.dtype(), cols.device()))
    )
}

/// Max pooling of a float [N, C, H, W] input to [N, C, oh, ow] values and int64 in-plane
/// indices (see `Op::MaxPool2d`).
pub fn max_pool2d(x: &Tensor, w: Window, (oh, ow): (usize, usize)) -> Result<(Tensor, Tensor)> {
    let Window { kernel: (kh, kw), dilation: (dh, dw), padding: (ph, pw), stride: (sh, sw) } = w;
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (plane_in, plane_out) = (h * wd, oh * ow);
    let mut indices = try_vec::<i64>(n * c * plane_out, 0)?;
    let values = crate::with_float!(
        x.dtype(),
        T,
        {
            let data = x.contiguous_data::<T>();
            let mut out = try_vec::<T>(n * c * plane_out, T::neg_inf())?;
            // Valid kernel offsets per output row/column, so the inner loops have no
            // bounds tests.
            let valid = |o: usize, s: usize, d: usize, p: usize, k: usize, len: usize| -> Vec<usize> {
                (0..k).map(|t| (o * s + t * d) as isize - p as isize).filter(|&i| i >= 0 && (i as usize) < len).map(|i| i as usize).collect()
            };
            let rows: Vec<Vec<usize>> = (0..oh).map(|oy| valid(oy, sh, dh, ph, kh, h)).collect();
            let cols: Vec<Vec<usize>> = (0..ow).map(|ox| valid(ox, sw, dw, pw, kw, wd)).collect();
            // Windows that all lie inside the image (no padding, no ceil overhang) take a
            // loop of plain index arithmetic.
            let interior = ph == 0 && pw == 0 && (oh - 1) * sh + (kh - 1) * dh < h && (ow - 1) * sw + (kw - 1) * dw < wd;
            let work = |(plane, (vals, idx)): (usize, (&mut [T], &mut [i64]))| {
                let src = &data[plane * plane_in..(plane + 1) * plane_in];
                if interior && (kh, kw, sh, sw, dh, dw) == (2, 2, 2, 2, 1, 1) {
                    // The common 2x2 / stride 2 window: row pairs walked as slices (no
                    // bounds tests in the loop).
                    for (oy, (vrow, irow)) in vals.chunks_exact_mut(ow).zip(idx.chunks_exact_mut(ow)).enumerate() {
                        let (a, b) = (2 * oy * wd, (2 * oy + 1) * wd);
                        crate::cpu::wide(|| max_pool_2x2_row(&src[a..], &src[b..], (a as i64, wd as i64), vrow, irow));
                    }
                    return;
                }
                if interior {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let first = oy * sh * wd + ox * sw;
                            let mut m = (src[first], first);
                            for ki in 0..kh {
                                let row = (oy * sh + ki * dh) * wd + ox * sw;
                                for kj in 0..kw {
                                    let i = row + kj * dw;
                                    m = running_max(m, (src[i], i));
                                }
                            }
                            vals[oy * ow + ox] = m.0;
                            idx[oy * ow + ox] = m.1 as i64;
                        }
                    }
                    return;
                }
                for (oy, ys) in rows.iter().enumerate() {
                    for (ox, xs) in cols.iter().enumerate() {
                        let first = ys[0] * wd + xs[0];
                        let mut m = (src[first], first);
                        for &iy in ys {
                            for &ix in xs {
                                let i = iy * wd + ix;
                                m = running_max(m, (src[i], i));
                            }
                        }
                        vals[oy * ow + ox] = m.0;
                        idx[oy * ow + ox] = m.1 as i64;
                    }
                }
            };
            if plane_out > 0 {
                if n * c * plane_in >= crate::cpu::PAR_THRESHOLD {
                    team::zip_chunks_mut(&mut out, plane_out, &mut indices, plane_out, |p, v, i| work((p, (v, i))));
                } else {
                    out.chunks_mut(plane_out).zip(indices.chunks_mut(plane_out)).enumerate().for_each(work);
                }
            }
            Tensor::from_vec(out, &[n, c, oh, ow])?
        },
        return Err(no_kernel(&Op::MaxPool2d { window: w, out_size: (oh, ow) }, x.dtype(), x.device()))
    );
    Ok((values, Tensor::from_vec(indices, &[n, c, oh, ow])?))
}

/// [N, C, L] float values added into zero [N, C, H, W] planes at flat in-plane positions
/// (see `Op::PlaneScatterAdd`).
pub fn plane_scatter_add(g: &Tensor, index: &Tensor, size: (usize, usize)) -> Result<Tensor> {
    let (n, c) = (g.shape()[0], g.shape()[1]);
    let l = g.numel() / (n * c).max(1);
    let plane = size.0 * size.1;
    let idx = index.contiguous_data::<i64>();
    crate::with_float!(
        g.dtype(),
        T,
        {
            let src = g.contiguous_data::<T>();
            let mut out = try_vec::<T>(n * c * plane, T::zero())?;
            if plane > 0 && l > 0 {
                team::chunks_mut(&mut out, plane, |p, dst| {
                    for j in 0..l {
                        let k = idx[p * l + j] as usize;
                        dst[k] = dst[k] + src[p * l + j];
                    }
                });
            }
            Tensor::from_vec(out, &[n, c, size.0, size.1])
        },
        Err(no_kernel(&Op::PlaneScatterAdd { size }, g.dtype(), g.device()))
    )
}

/// out[n, c, j] = x[n, c, index[n, c, j]] over flattened planes (see `Op::PlaneGather`).
pub fn plane_gather(x: &Tensor, index: &Tensor) -> Result<Tensor> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let plane = x.numel() / (n * c).max(1);
    let l = index.numel() / (n * c).max(1);
    let idx = index.contiguous_data::<i64>();
    crate::with_float!(
        x.dtype(),
        T,
        {
            let src = x.contiguous_data::<T>();
            let mut out = try_vec::<T>(n * c * l, T::zero())?;
            if l > 0 {
                team::chunks_mut(&mut out, l, |p, dst| {
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = src[p * plane + idx[p * l + j] as usize];
                    }
                });
            }
            Tensor::from_vec(out, index.shape())
        },
        Err(no_kernel(&Op::PlaneGather, x.dtype(), x.device()))
    )
}

/// Where each (sample, kernel row) run of L = oh*ow column values lives, for both layouts.
pub(crate) struct ColGeometry {
    w: Window,
    n: usize,
    rows: usize,
    l: usize,
    height: usize,
    width: usize,
    out_width: usize,
    batch_major: bool,
}

impl ColGeometry {
    pub(crate) fn new(w: Window, n: usize, c: usize, (height, width): (usize, usize), (oh, ow): (usize, usize), batch_major: bool) -> Self {
        ColGeometry { w, n, rows: c * w.kernel.0 * w.kernel.1, l: oh * ow, height, width, out_width: ow, batch_major }
    }
    /// Start of the run for sample `b`, kernel row `r`.
    fn offset(&self, b: usize, r: usize) -> usize {
        if self.batch_major {
            (r * self.n + b) * self.l
        } else {
            (b * self.rows + r) * self.l
        }
    }
    /// Padded plane width and length.
    fn padded_size(&self) -> (usize, usize) {
        let (ph, pw) = self.w.padding;
        let wp = self.width + 2 * pw;
        (wp, (self.height + 2 * ph) * wp)
    }
    /// Copies an H x W `plane` into `buf` inside a border of `pad` as wide as the padding, so
    /// that every window row below is a plain copy (an empty `plane` leaves all of it `pad`).
    pub(crate) fn pad_plane<T: Copy>(&self, plane: &[T], pad: T, buf: &mut Vec<T>) {
        let (ph, pw) = self.w.padding;
        let (wp, len) = self.padded_size();
        buf.clear();
        buf.resize(len, pad);
        if self.width > 0 {
            for (y, row) in plane.chunks_exact(self.width).enumerate() {
                buf[(y + ph) * wp + pw..][..self.width].copy_from_slice(row);
            }
        }
    }
    /// The inverse of `pad_plane`: the inside of `buf` into `plane`.
    pub(crate) fn crop_plane<T: Copy>(&self, buf: &[T], plane: &mut [T]) {
        let (ph, pw) = self.w.padding;
        let (wp, _) = self.padded_size();
        if self.width > 0 {
            for (y, row) in plane.chunks_exact_mut(self.width).enumerate() {
                row.copy_from_slice(&buf[(y + ph) * wp + pw..][..self.width]);
            }
        }
    }
    /// Writes the run of L column values of kernel offset `k` (= ki*kw + kj) from a plane
    /// padded by `pad_plane`.
    pub(crate) fn fill_run<T: Copy>(&self, dst: &mut [T], padded: &[T], k: usize) {
        let (ki, kj) = (k / self.w.kernel.1, k % self.w.kernel.1);
        let ((sh, sw), (dh, dw)) = (self.w.stride, self.w.dilation);
        let (wp, _) = self.padded_size();
        for (oy, row) in dst.chunks_exact_mut(self.out_width).enumerate() {
            let src = &padded[(oy * sh + ki * dh) * wp + kj * dw..];
            if sw == 1 {
                row.copy_from_slice(&src[..row.len()]);
            } else {
                for (d, &v) in row.iter_mut().zip(src.iter().step_by(sw)) {
                    *d = v;
                }
            }
        }
    }
    /// col2im of one run: adds the L column values of kernel offset `k` into a padded plane.
    pub(crate) fn add_run<T: Float>(&self, padded: &mut [T], src: &[T], k: usize) {
        let (ki, kj) = (k / self.w.kernel.1, k % self.w.kernel.1);
        let ((sh, sw), (dh, dw)) = (self.w.stride, self.w.dilation);
        let (wp, _) = self.padded_size();
        for (oy, s) in src.chunks_exact(self.out_width).enumerate() {
            let dst = &mut padded[(oy * sh + ki * dh) * wp + kj * dw..];
            if sw == 1 {
                for (d, &v) in dst[..s.len()].iter_mut().zip(s) {
                    *d = *d + v;
                }
            } else {
                for (d, &v) in dst.iter_mut().step_by(sw).zip(s) {
                    *d = *d + v;
                }
            }
        }
    }
}

/// The running (max, index) of a pooling window after candidate `(v, i)`: NaN wins and then
/// stays (PyTorch propagates NaN), the first maximum wins ties. Bitwise bools and selects, so
/// that vectorised loops turn them into blends: pooling inputs are data, whose comparisons a
/// branch predictor cannot learn.
#[inline(always)]
fn running_max<T: Float, I: Copy>((best, best_i): (T, I), (v, i): (T, I)) -> (T, I) {
    let take = ((v > best) | v.is_nan()) & !best.is_nan();
    (if take { v } else { best }, if take { i } else { best_i })
}

/// One output row of the 2x2 / stride 2 max pool from input rows `r0` and `r1`, which start at
/// flat plane positions `a` and `a + width`: an indexed loop over exact-length slices, which
/// the compiler vectorises (selects become blends). The window's winner is tracked as a code
/// 0..3 in 32-bit lanes, as wide as float32's, and turned into a plane index at the end.
#[inline(always)]
fn max_pool_2x2_row<T: Float>(r0: &[T], r1: &[T], (a, width): (i64, i64), vals: &mut [T], idx: &mut [i64]) {
    let ow = vals.len();
    let (r0, r1, idx) = (&r0[..2 * ow], &r1[..2 * ow], &mut idx[..ow]);
    for ox in 0..ow {
        let mut m = (r0[2 * ox], 0i32);
        m = running_max(m, (r0[2 * ox + 1], 1));
        m = running_max(m, (r1[2 * ox], 2));
        m = running_max(m, (r1[2 * ox + 1], 3));
        vals[ox] = m.0;
        // Bit 1 of the code picks the second row: -(0 or 1) as a mask, not a multiply.
        idx[ox] = a + 2 * ox as i64 + (m.1 & 1) as i64 + (-((m.1 >> 1) as i64) & width);
    }
}

